//! `archive --format delta`, `convert`, `compact` and `vacuum` on Delta tables, to a local folder
//! and to a real S3-protocol server (moto): exactly once under SIGKILL, two archivers racing on
//! one table, time travel, and read-back by independent engines: delta-rs's Python binding,
//! DuckDB's delta extension, and Spark in local-cluster mode (a master and two executor JVMs).

use std::process::Stdio;

use crate::archive::{
    exactly_once, link_at, publish_events, run_archive, run_archive_of, server_keeping_1000,
    summary, DeltaSeen, Target, STREAM,
};
use crate::util::*;

/// Rows of a local Delta table as DuckDB's delta extension reads it (the wheel's extension for
/// the pinned DuckDB, loaded from disk: nothing is downloaded).
fn duckdb_rows(dir: &std::path::Path) -> Vec<(i64, String)> {
    let out = run_python(
        "import duckdb, duckdb_extension_delta, json, os, sys\n\
         ext = os.path.join(os.path.dirname(duckdb_extension_delta.__file__), 'extensions', 'v' + duckdb.__version__, 'delta.duckdb_extension')\n\
         con = duckdb.connect(config={'autoinstall_known_extensions': False, 'autoload_known_extensions': False, 'allow_unsigned_extensions': True})\n\
         con.execute(f\"LOAD '{ext}'\")\n\
         rows = con.execute(\"SELECT seq, sha256(payload::BLOB) FROM delta_scan(?) ORDER BY seq\", [sys.argv[1]]).fetchall()\n\
         print(json.dumps([[int(s), h] for s, h in rows]))",
        &[dir.to_str().unwrap()],
    );
    serde_json::from_str(out.trim()).unwrap()
}

/// Every `add` action in a local table's log, in commit order.
fn log_adds(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let mut commits: Vec<_> = std::fs::read_dir(dir.join("_delta_log"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    commits.sort();
    commits
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter_map(|v| v.get("add").cloned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The statistics engines skip files with agree with what the file holds: `numRecords`, the
/// `seq` bounds equal to the file's tagged sequence range (the Parquet footer's and the
/// writer's own count), no nulls in `seq`, times as UTC milliseconds, partition values as in
/// the path.
fn check_stats(add: &serde_json::Value) {
    let path = add["path"].as_str().unwrap();
    let stats: serde_json::Value = serde_json::from_str(add["stats"].as_str().unwrap()).unwrap();
    assert!(stats["numRecords"].as_u64().unwrap() > 0, "{add:#}");
    let tag = |k: &str| add["tags"][k].as_str().unwrap().parse::<i64>().unwrap();
    assert_eq!(
        stats["minValues"]["seq"],
        tag("jsreplay.firstSeq"),
        "{add:#}"
    );
    assert_eq!(
        stats["maxValues"]["seq"],
        tag("jsreplay.lastSeq"),
        "{add:#}"
    );
    assert_eq!(stats["nullCount"]["seq"], 0);
    assert_eq!(stats["nullCount"]["stream"], 0);
    let t = stats["minValues"]["nats_time"].as_str().unwrap();
    assert!(t.ends_with('Z') && t.len() == 24, "{t}");
    assert!(stats["minValues"]["nats_time"].as_str() <= stats["maxValues"]["nats_time"].as_str());
    // Payloads are binary: no bounds.
    assert!(stats["minValues"].get("payload").is_none());
    let pv = &add["partitionValues"];
    assert!(
        path.starts_with(&format!(
            "dt={}/hour={}/",
            pv["dt"].as_str().unwrap(),
            pv["hour"].as_str().unwrap()
        )),
        "{add:#}"
    );
}

/// `(count, distinct seqs)` through jsreplay's own reader.
fn jsreplay_counts(dataset: &str, env: &[(String, String)], extra: &[&str]) -> (u64, u64) {
    let mut args = vec![
        "query",
        dataset,
        "SELECT count(*) AS n, count(DISTINCT seq) AS d FROM events",
        "--format",
        "json",
        "-q",
    ];
    args.extend_from_slice(extra);
    let o = jsreplay_env(&args, env);
    assert_ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    (v[0]["n"].as_u64().unwrap(), v[0]["d"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_exactly_once_under_sigkill_s3() {
    let s3 = S3::start();
    let target = Target::S3(&s3, "delta");
    exactly_once(Kind::V2_14, &target, 16, true).await;
    let env = s3.env();
    let dest = target.dest();
    let seen = target.delta_table();
    let n = seen.rows.len() as u64;
    assert_eq!(jsreplay_counts(&dest, &env, &[]), (n, n));
    let o = jsreplay_env(&["verify", &dest, "--json"], &env);
    assert_ok(&o);

    // Compaction: one commit, same rows; the version before still reads the same rows too.
    let before = seen.version;
    let o = jsreplay_env(&["compact", &dest, "--json"], &env);
    assert_ok(&o);
    let after = target.delta_table();
    assert_eq!(after.version, before + 1, "{}", text(&o));
    assert!(after.files.len() < seen.files.len(), "{}", text(&o));
    assert_eq!(after.rows, seen.rows);
    assert_eq!(target.delta_table_at(Some(before)).rows, seen.rows);
    assert_eq!(
        jsreplay_counts(&dest, &env, &["--version", &before.to_string()]),
        (n, n)
    );
    assert_ok(&jsreplay_env(&["verify", &dest], &env));

    // Vacuum: a dry run deletes nothing; with no retention, only the table's files stay.
    let objects = target.parts().len();
    let o = jsreplay_env(
        &["vacuum", &dest, "--retention", "0s", "--dry-run", "--json"],
        &env,
    );
    assert_ok(&o);
    let listed = summary(&o)["files"].as_array().unwrap().len();
    assert_eq!(listed, objects - after.files.len(), "{}", text(&o));
    assert_eq!(target.parts().len(), objects);
    assert_ok(&jsreplay_env(&["vacuum", &dest, "--retention", "0s"], &env));
    let mut left = target.parts();
    left.sort();
    let mut files = after.files.clone();
    files.sort();
    assert_eq!(left, files);
    assert_eq!(target.delta_table().rows, seen.rows);
}

/// Two archivers started together on one Delta table in S3, no lease between them: each
/// chunk is committed by one of them; the other stops with exit 7 and its files are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_two_archivers_race_on_one_table() {
    let s3 = S3::start();
    let target = Target::S3(&s3, "race");
    let (server, js) = server_with_stream(Kind::V2_14, STREAM).await;
    let published = publish_events(&js, 0, 4000).await;
    let slow = link_at(server.port, 1 << 20).await;
    let start = || {
        target
            .command(&slow.url(), &["--format", "delta", "--chunk", "1000"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [a.status.code(), b.status.code()];
    for o in [&a, &b] {
        assert!(matches!(o.status.code(), Some(0) | Some(7)), "{}", text(o));
        assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
    }
    assert!(
        codes.contains(&Some(7)),
        "neither archiver lost a chunk: {}\n{}",
        text(&a),
        text(&b)
    );
    let loser = if a.status.code() == Some(7) { &a } else { &b };
    assert!(
        String::from_utf8_lossy(&loser.stderr).contains("got there first"),
        "{}",
        text(loser)
    );
    // Whatever is left, one more run finishes; every sequence is in the table once.
    assert_ok(&target.run(&server.url, &[]));
    let seen = target.delta_table();
    assert_eq!(seen.rows, published);
    assert_eq!(seen.txn, Some(published.len() as i64));
    let n = published.len() as u64;
    assert_eq!(jsreplay_counts(&target.dest(), &s3.env(), &[]), (n, n));
    // The losers' files were withdrawn: nothing beside the table's files.
    assert_eq!(target.parts().len(), seen.files.len());
}

/// A Hive archive (with a compacted partition) converted in place: the same rows before and
/// after, the checkpoint carried into the table's `txn`, then archived on in Delta; DuckDB's
/// delta extension and delta-rs read it; the conversion's version still reads as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convert_a_hive_archive_and_go_on_in_delta() {
    let (server, js) = server_with_stream(Kind::V2_9, STREAM).await;
    let mut published = publish_events(&js, 0, 3000).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let target = Target::Local(dir.clone());
    assert_ok(&target.run(&server.url, &["--chunk", "700"]));
    assert_ok(&target.run(&server.url, &[]));
    assert_ok(&jsreplay(&["compact", dir.to_str().unwrap()]));
    let hive_rows = target.rows();
    assert_eq!(hive_rows, published);
    let ds = dir.to_str().unwrap();
    let sql = "SELECT seq, subject, evt_type, hostname, dt, hour FROM events ORDER BY seq";
    let before = query_json(&dir, sql);

    let o = jsreplay(&["convert", ds, "--json"]);
    assert_ok(&o);
    let s = summary(&o);
    assert_eq!(s["checkpoint"], 3000, "{s:#}");
    assert_eq!(s["rows"], 3000);
    assert!(!dir.join("_jsreplay/checkpoint.json").exists());
    assert!(dir.join("_jsreplay/converted-checkpoint.json").exists());
    let converted = s["version"].as_i64().unwrap();
    assert_eq!(query_json(&dir, sql), before);
    assert_ok(&jsreplay(&["verify", ds]));
    assert_code(&jsreplay(&["convert", ds]), 2, "Delta table already");

    // Archived on: the format is the destination's; asking for Hive now is refused.
    published.extend(publish_events(&js, 3000, 4000).await);
    assert_code(
        &target.run(&server.url, &["--format", "hive"]),
        2,
        "is a Delta archive",
    );
    let o = target.run(&server.url, &[]);
    assert_ok(&o);
    assert_eq!(summary(&o)["checkpoint"], 4000);
    let seen: DeltaSeen = target.delta_table();
    assert_eq!(seen.rows, published);
    assert_eq!(seen.txn, Some(4000));
    assert_eq!(duckdb_rows(&dir), published);
    assert_ok(&jsreplay(&["verify", ds]));
    let adds = log_adds(&dir);
    assert!(adds.len() > 3, "{adds:#?}");
    adds.iter().for_each(check_stats);
    // Every file carries its hash: archived parts and the Hive compaction's output (its
    // record holds the hash, which the conversion carried over).
    let hashed = adds
        .iter()
        .filter(|a| a["tags"]["jsreplay.sha256"].is_string())
        .count();
    assert_eq!(hashed, adds.len(), "{adds:#?}");
    // An orphan (what a killed or losing writer leaves: a Parquet file the log never listed,
    // here a copy of a committed one) is read by nothing that reads the table; `verify` notes
    // it, `vacuum` keeps it while young and deletes it past the retention.
    let committed = adds.last().unwrap()["path"].as_str().unwrap().to_string();
    let orphan = format!("{}.orphan.parquet", committed.trim_end_matches(".parquet"));
    std::fs::copy(dir.join(&committed), dir.join(&orphan)).unwrap();
    assert_eq!(target.delta_table().rows, published);
    assert_eq!(duckdb_rows(&dir), published);
    assert_eq!(jsreplay_counts(ds, &[], &[]), (4000, 4000));
    let o = jsreplay(&["verify", ds]);
    assert_ok(&o);
    assert!(text(&o).contains("not in this snapshot"), "{}", text(&o));
    assert_ok(&jsreplay(&["vacuum", ds]));
    assert!(dir.join(&orphan).exists());
    let o = jsreplay(&["vacuum", ds, "--retention", "0s", "--json"]);
    assert_ok(&o);
    assert_eq!(summary(&o)["files"], serde_json::json!([orphan]));
    assert!(!dir.join(&orphan).exists());
    // What the archive held at the conversion.
    assert_eq!(
        target.delta_table_at(Some(converted)).rows,
        published[..3000]
    );
    assert_eq!(
        jsreplay_counts(ds, &[], &["--version", &converted.to_string()]),
        (3000, 3000)
    );
    // `timeline` (and `hunt`, `tree`: one opening path) read the same version.
    let lines = |extra: &[&str]| {
        let o = jsreplay(&[&["timeline", ds, "--format", "csv"], extra].concat());
        assert_ok(&o);
        o.stdout.iter().filter(|&&b| b == b'\n').count()
    };
    assert_eq!(lines(&[]), 4001);
    assert_eq!(lines(&["--version", &converted.to_string()]), 3001);
    assert_ok(&jsreplay(&[
        "hunt",
        ds,
        "--version",
        &converted.to_string(),
    ]));
    // A version the log does not have: a usage error.
    assert_code(
        &jsreplay(&["query", ds, "SELECT 1", "--version", "999"]),
        2,
        "no version 999",
    );
}

/// An archive begun by an older jsreplay whose files lack a column (`proc_name`), written here
/// with delta-rs's Python binding: the first commit of this version adds the column to the
/// table's schema; the older rows read as NULL there in jsreplay, delta-rs and DuckDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_added_later_joins_the_table_schema() {
    let (server, js) = server_with_stream(Kind::V2_14, STREAM).await;
    let mut published = publish_events(&js, 0, 600).await;
    let tmp = tempfile::tempdir().unwrap();
    let hive = tmp.path().join("hive");
    assert_ok(&Target::Local(hive.clone()).run(&server.url, &[]));
    let dir = tmp.path().join("delta");
    run_python(
        &format!(
            "import json, sys, pyarrow as pa, pyarrow.dataset as ds\n\
             from deltalake import write_deltalake, CommitProperties, Transaction\n\
             part = ds.partitioning(pa.schema([('dt', pa.string()), ('hour', pa.string())]), flavor='hive')\n\
             t = ds.dataset(sys.argv[1], format='parquet', partitioning=part).to_table().drop_columns(['proc_name'])\n\
             cp = {{'format': 'jsreplay-archive/1', 'stream': '{STREAM}', 'last_seq': 600, 'first_seq': 1, 'rows': 600,\n\
                   'gap_messages': 0, 'gaps': [], 'chunks': 1, 'updated_at': '2026-01-01T00:00:00.000Z', 'tool_version': '0.0.9'}}\n\
             props = CommitProperties(app_transactions=[Transaction(app_id='jsreplay:{STREAM}', version=600)],\n\
                                      custom_metadata={{'jsreplay': json.dumps({{'kind': 'archive-chunk', 'checkpoint': cp}})}})\n\
             write_deltalake(sys.argv[2], t, partition_by=['dt', 'hour'], commit_properties=props)\n"
        ),
        &[hive.to_str().unwrap(), dir.to_str().unwrap()],
    );
    let target = Target::Local(dir.clone());
    published.extend(publish_events(&js, 600, 900).await);
    let o = target.run(&server.url, &[]);
    assert_ok(&o);
    assert_eq!(summary(&o)["checkpoint"], 900, "{}", text(&o));
    let ds = dir.to_str().unwrap();
    let nulls = query_json(
        &dir,
        "SELECT seq <= 600 AS old, count(*) AS n, count(proc_name) AS with_name FROM events GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(
        serde_json::Value::Array(nulls),
        serde_json::json!([
            {"old": false, "n": 300, "with_name": 300},
            {"old": true, "n": 600, "with_name": 0}
        ])
    );
    let out = target.delta_python(
        "from deltalake import DeltaTable\n\
         dt = DeltaTable(uri)\n\
         t = dt.to_pyarrow_table(columns=['seq', 'proc_name'])\n\
         print(json.dumps([sum(1 for r in t.to_pylist() if r['seq'] <= 600 and r['proc_name'] is None), t.num_rows]))",
    );
    assert_eq!(out.trim(), "[600, 900]");
    assert_eq!(target.delta_table().rows, published);
    assert_eq!(duckdb_rows(&dir), published);
    // The files delta-rs wrote carry no hash tag: nothing vouches for their rows, and `verify`
    // says so of each (jsreplay's own files check out).
    let o = jsreplay(&["verify", ds]);
    assert_code(&o, 8, "no account records its SHA-256");
    let err = String::from_utf8_lossy(&o.stderr);
    let findings: Vec<&str> = err.lines().filter(|l| l.contains("MISMATCH")).collect();
    let foreign = adds_without_hash(&dir);
    assert!(!foreign.is_empty());
    assert_eq!(findings.len(), foreign.len(), "{err}");
    assert!(foreign.iter().all(|p| err.contains(p.as_str())), "{err}");
}

/// The paths of the `add` actions without jsreplay's hash tag.
fn adds_without_hash(dir: &std::path::Path) -> Vec<String> {
    log_adds(dir)
        .iter()
        .filter(|a| !a["tags"]["jsreplay.sha256"].is_string())
        .map(|a| a["path"].as_str().unwrap().to_string())
        .collect()
}

/// Spark in local-cluster mode (a master and two executor JVMs, one session for both checks)
/// reads the Hive archive and the files the Delta snapshot lists (its Delta connector is a
/// Maven jar these machines cannot fetch): both hold exactly what was published, `seq` is a
/// signed `bigint`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_reads_the_hive_archive_and_the_delta_snapshot() {
    let _alone = CPU_HEAVY.write().await;
    let (server, js) = server_with_stream(Kind::V2_14, STREAM).await;
    let published = publish_events(&js, 0, 2000).await;
    let tmp = tempfile::tempdir().unwrap();
    let hive = tmp.path().join("hive");
    let delta = tmp.path().join("delta");
    assert_ok(&Target::Local(hive.clone()).run(&server.url, &["--chunk", "800"]));
    assert_ok(
        &Target::Local(delta.clone()).run(&server.url, &["--format", "delta", "--chunk", "800"]),
    );
    let out = run_python(
        "import json, os, sys\n\
         os.environ['PYSPARK_PYTHON'] = sys.executable\n\
         from pyspark.sql import SparkSession, functions as F\n\
         from deltalake import DeltaTable\n\
         hive, delta = sys.argv[1], sys.argv[2]\n\
         spark = (SparkSession.builder.master('local-cluster[2,1,1024]').appName('jsreplay-check')\n\
                  .config('spark.ui.enabled', 'false').config('spark.sql.session.timeZone', 'UTC')\n\
                  .config('spark.executor.memory', '512m').getOrCreate())\n\
         def seen(df):\n\
         \x20   rows = df.select('seq', F.sha2(F.col('payload'), 256).alias('h')).collect()\n\
         \x20   return sorted([r['seq'], r['h']] for r in rows)\n\
         h = spark.read.parquet(hive)\n\
         d = spark.read.option('basePath', delta).parquet(*DeltaTable(delta).file_uris())\n\
         executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1\n\
         out = {'hive': seen(h), 'delta': seen(d), 'executors': executors,\n\
                'seq': dict(h.dtypes)['seq'], 'partitions': sorted({r['hour'] for r in d.select('hour').distinct().collect()})}\n\
         spark.stop()\n\
         print(json.dumps(out))",
        &[hive.to_str().unwrap(), delta.to_str().unwrap()],
    );
    let line = out.lines().last().unwrap_or_default();
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|_| panic!("Spark said: {out}"));
    let rows = |k: &str| -> Vec<(i64, String)> { serde_json::from_value(v[k].clone()).unwrap() };
    assert_eq!(rows("hive"), published);
    assert_eq!(rows("delta"), published);
    assert_eq!(v["executors"], 2, "{v:#}");
    assert_eq!(v["seq"], "bigint");
    assert_eq!(v["partitions"], serde_json::json!([1, 2, 3]));
}

/// Messages that retention removed before they were archived are gaps in the Delta archive as
/// in the Hive one: exit 6, and the commit's record (checkpoint and chunk manifest) holds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_retention_loss_is_recorded_in_the_commit() {
    let (server, js) = server_keeping_1000(Kind::V2_9).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("archive");
    let target = Target::Local(dir.clone());
    let mut published = publish_events(&js, 0, 800).await;
    assert_ok(&target.run(&server.url, &["--format", "delta"]));
    published.extend(publish_events(&js, 800, 2300).await[500..].iter().cloned());
    let o = target.run(&server.url, &[]);
    assert_code(&o, 6, "lost before they could be archived");
    assert_eq!(summary(&o)["gaps"], serde_json::json!([[801, 1300]]));
    let record = target.delta_python(
        "from deltalake import DeltaTable\n\
         r = DeltaTable(uri).history(1)[0]['jsreplay']\n\
         print(json.dumps([r['checkpoint'], r['chunk']['gaps'], r['chunk']['gap_messages']]))",
    );
    let v: serde_json::Value = serde_json::from_str(record.trim()).unwrap();
    assert_eq!(v[0]["gaps"], serde_json::json!([[801, 1300]]), "{v:#}");
    assert_eq!(v[0]["last_seq"], 2300);
    assert_eq!(v[0]["rows"], 1800);
    assert_eq!(v[0]["gap_messages"], 500);
    assert_eq!(v[1], serde_json::json!([[801, 1300]]));
    assert_eq!(v[2], 500);
    let seen = target.delta_table();
    assert_eq!(seen.rows, published);
    assert_eq!(seen.txn, Some(2300));
    assert_ok(&jsreplay(&["verify", dir.to_str().unwrap()]));
}

/// Stream names NATS allows with characters that object stores percent-encode (`%`, `?`):
/// the part names carry a label of safe characters, so the log's paths are the files' names.
/// delta-rs and pyarrow read every row, `verify` passes, and `vacuum --retention 0s` keeps
/// every committed file (it deleted them all when the names disagreed). A snapshot that names
/// a file the store does not hold makes `vacuum` refuse with exit 8 and delete nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_names_object_stores_encode_keep_their_files() {
    let server = Server::start(Kind::V2_14);
    let js = server.js().await;
    let tmp = tempfile::tempdir().unwrap();
    for name in ["EV%41", "EVQ?X"] {
        let _ = js.delete_stream(STREAM).await;
        js.create_stream(async_nats::jetstream::stream::Config {
            name: name.to_string(),
            subjects: vec!["events.sysdig.*".to_string()],
            allow_direct: true,
            ..Default::default()
        })
        .await
        .unwrap();
        let published = publish_events(&js, 0, 1500).await;
        for format in ["delta", "hive"] {
            let dir = tmp
                .path()
                .join(format!("{format}-{}", name.replace(['%', '?'], "_")));
            let ds = dir.to_str().unwrap().to_string();
            let o = run_archive_of(
                name,
                &server.url,
                &ds,
                &["--format", format, "--chunk", "500"],
                &[],
            );
            assert_ok(&o);
            assert_eq!(summary(&o)["rows"], 1500, "{}", text(&o));
            for part in parquet_files(&dir) {
                let file = part.file_name().unwrap().to_str().unwrap().to_string();
                assert!(
                    file.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
                    "{file}"
                );
            }
            assert_ok(&jsreplay(&["verify", &ds]));
            assert_eq!(jsreplay_counts(&ds, &[], &[]), (1500, 1500));
            let target = Target::Local(dir.clone());
            if format == "hive" {
                assert_eq!(target.rows(), published);
                continue;
            }
            assert_eq!(target.delta_table().rows, published);
            let o = jsreplay(&["vacuum", &ds, "--retention", "0s", "--json"]);
            assert_ok(&o);
            assert_eq!(summary(&o)["files"], serde_json::json!([]), "{}", text(&o));
            assert_eq!(target.delta_table().rows, published);
            assert_ok(&jsreplay(&["verify", &ds]));
            // A committed file gone (here: renamed): nothing is vacuumed, not even the copy.
            let parts = parquet_files(&dir);
            let moved = parts[0].with_extension("moved");
            std::fs::rename(&parts[0], &moved).unwrap();
            let o = jsreplay(&["vacuum", &ds, "--retention", "0s"]);
            assert_code(&o, 8, "nothing vacuumed");
            assert!(moved.exists());
            assert_eq!(parquet_files(&dir).len(), parts.len() - 1);
        }
        js.delete_stream(name).await.unwrap();
    }
}

/// A snapshot whose log names files outside the table (`../`, an absolute path) is refused by
/// every reader (exit 8) instead of read in part; `verify` lists each as a finding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_reaching_outside_the_table_is_refused() {
    let (server, js) = server_with_stream(Kind::V2_14, STREAM).await;
    publish_events(&js, 0, 1200).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let target = Target::Local(dir.clone());
    assert_ok(&target.run(&server.url, &["--format", "delta", "--chunk", "400"]));
    let ds = dir.to_str().unwrap();
    assert_eq!(jsreplay_counts(ds, &[], &[]), (1200, 1200));
    // A hand-made commit moves one committed file out of the table: `remove` it and `add` it
    // back under a path that climbs out (where a copy now sits).
    let adds = log_adds(&dir);
    let add = adds[0].clone();
    let path = add["path"].as_str().unwrap();
    let outside = tmp.path().join("outside.parquet");
    std::fs::copy(dir.join(path), &outside).unwrap();
    let versions = std::fs::read_dir(dir.join("_delta_log"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    for (i, bad) in ["../outside.parquet", outside.to_str().unwrap()]
        .iter()
        .enumerate()
    {
        let mut moved = add.clone();
        moved["path"] = serde_json::json!(bad);
        let mut removed = serde_json::json!({"path": if i == 0 { path.to_string() } else { "../outside.parquet".to_string() },
            "deletionTimestamp": 1, "dataChange": true});
        removed["partitionValues"] = add["partitionValues"].clone();
        let body = format!(
            "{}\n{}\n{}\n",
            serde_json::json!({"commitInfo": {"operation": "WRITE", "timestamp": 1}}),
            serde_json::json!({ "remove": removed }),
            serde_json::json!({ "add": moved })
        );
        std::fs::write(
            dir.join(format!("_delta_log/{:020}.json", versions + i)),
            body,
        )
        .unwrap();
        for args in [
            vec!["query", ds, "SELECT count(*) FROM events"],
            vec!["hunt", ds],
            vec!["timeline", ds],
            vec!["vacuum", ds, "--dry-run"],
        ] {
            assert_code(&jsreplay(&args), 8, "outside the table");
        }
        let o = jsreplay(&["verify", ds]);
        assert_code(&o, 8, "a path outside the table");
    }
}

/// `tests/support/failing_front.py` before moto: answers 500 after forwarding the first PUT
/// whose path holds `needle` (noting it in `fired`); stopped on drop.
struct FailingFront {
    child: std::process::Child,
    port: u16,
}

impl FailingFront {
    fn start(s3: &S3, needle: &str, fired: &std::path::Path) -> FailingFront {
        let port = free_port();
        let child = std::process::Command::new(python())
            .arg(repo_root().join("tests/support/failing_front.py"))
            .args([
                &port.to_string(),
                &s3.port.to_string(),
                needle,
                fired.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the front");
        wait_for_port(port, "the failing front");
        FailingFront { child, port }
    }
}

impl Drop for FailingFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A commit whose answer was lost: a front before moto answers 500 after forwarding the PUT of
/// `_delta_log/…02.json` (the second chunk's commit), so the client's retry finds the version
/// taken by its own commit and delta-rs reports a conflict. The archiver reads the table
/// before deleting anything, finds its files committed and goes on: every row is in the table
/// and its files are there (they were deleted as a lost race's, the `txn` already saying
/// those sequences were archived).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_answer_was_lost_keeps_its_files() {
    let s3 = S3::start();
    let (server, js) = server_with_stream(Kind::V2_14, STREAM).await;
    let published = publish_events(&js, 0, 3000).await;
    let tmp = tempfile::tempdir().unwrap();
    let fired = tmp.path().join("fired");
    let front = FailingFront::start(&s3, "_delta_log/00000000000000000002.json", &fired);
    let env = s3.env_via(front.port);
    let dest = s3.url("lost");
    let o = run_archive(
        &server.url,
        &dest,
        &["--format", "delta", "--chunk", "1000"],
        &env,
    );
    drop(front);
    assert!(
        std::fs::read_to_string(&fired).is_ok_and(|p| p.contains("_delta_log")),
        "the front never lost an answer: {}",
        text(&o)
    );
    assert_ok(&o);
    assert_eq!(summary(&o)["checkpoint"], 3000, "{}", text(&o));
    assert!(
        summary(&o)["warnings"]
            .to_string()
            .contains("the commit had landed"),
        "{}",
        text(&o)
    );
    let target = Target::S3(&s3, "lost");
    let seen = target.delta_table();
    assert_eq!(seen.rows, published);
    assert_eq!(seen.txn, Some(3000));
    assert_eq!(target.parts().len(), seen.files.len());
    assert_ok(&jsreplay_env(&["verify", &dest], &s3.env()));
}

/// The same for a compaction's commit: its answer lost, the merged files it committed stay,
/// every row reads, `verify` passes and `vacuum` keeps what the table needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_whose_answer_was_lost_keeps_its_files() {
    let s3 = S3::start();
    let (server, js) = server_with_stream(Kind::V2_14, STREAM).await;
    let published = publish_events(&js, 0, 3000).await;
    let target = Target::S3(&s3, "lostc");
    assert_ok(&target.run(&server.url, &["--format", "delta", "--chunk", "1000"]));
    let before = target.delta_table();
    let tmp = tempfile::tempdir().unwrap();
    let fired = tmp.path().join("fired");
    let next = format!("_delta_log/{:020}.json", before.version + 1);
    let front = FailingFront::start(&s3, &next, &fired);
    let dest = target.dest();
    let o = jsreplay_env(&["compact", &dest, "--json"], &s3.env_via(front.port));
    drop(front);
    assert!(
        std::fs::read_to_string(&fired).is_ok_and(|p| p.contains(&next)),
        "the front never lost an answer: {}",
        text(&o)
    );
    // delta-rs may retry this one itself (no `txn` conflicts with it): either way the table
    // must hold every row, in files that are there.
    assert_ok(&o);
    let after = target.delta_table();
    assert!(after.version > before.version, "{}", text(&o));
    assert_eq!(after.rows, published);
    assert!(after.files.len() < before.files.len(), "{}", text(&o));
    let env = s3.env();
    assert_ok(&jsreplay_env(&["verify", &dest], &env));
    assert_ok(&jsreplay_env(&["vacuum", &dest, "--retention", "0s"], &env));
    assert_eq!(target.delta_table().rows, published);
}
