//! `jsreplay archive` and `jsreplay compact`, to a local folder and to a real S3-protocol server
//! (moto) on loopback: incremental runs, event-time partitions, exactly once under SIGKILL while
//! publishing continues, retention loss between runs, one writer at a time, compaction keeping
//! the row set, and query/hunt straight from object storage. Archives are read back with pyarrow
//! (an independent reader) and the parquet crate.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;

use crate::both_servers;
use crate::proxy::{Proxy, Shape};
use crate::util::*;

pub(crate) const STREAM: &str = "SYSDIG_EVENTS";

/// Runs `archive` of the test stream from `url` into `dest` (a folder or object-store URL) with
/// `extra` flags and `env`, printing the JSON summary.
pub(crate) fn run_archive(
    url: &str,
    dest: &str,
    extra: &[&str],
    env: &[(String, String)],
) -> Output {
    run_archive_of(STREAM, url, dest, extra, env)
}

/// [`run_archive`] of another stream.
pub(crate) fn run_archive_of(
    stream: &str,
    url: &str,
    dest: &str,
    extra: &[&str],
    env: &[(String, String)],
) -> Output {
    let mut args = vec![
        "archive",
        "-s",
        url,
        "--stream",
        stream,
        "--to",
        dest,
        "-q",
        "--json",
        // The events carry fixed 2025 times, published now: partition by them anyway.
        "--event-time-window",
        "any",
    ];
    args.extend_from_slice(extra);
    jsreplay_env(&args, env)
}

/// Where an archive goes in a test.
pub(crate) enum Target<'a> {
    Local(PathBuf),
    S3(&'a S3, &'static str),
}

impl Target<'_> {
    pub(crate) fn dest(&self) -> String {
        match self {
            Target::Local(p) => p.display().to_string(),
            Target::S3(s3, prefix) => s3.url(prefix),
        }
    }

    pub(crate) fn env(&self) -> Vec<(String, String)> {
        match self {
            Target::Local(_) => Vec::new(),
            Target::S3(s3, _) => s3.env(),
        }
    }

    pub(crate) fn run(&self, url: &str, extra: &[&str]) -> Output {
        run_archive(url, &self.dest(), extra, &self.env())
    }

    pub(crate) fn command(&self, url: &str, extra: &[&str]) -> Command {
        let mut cmd = Run::new([
            "archive",
            "-s",
            url,
            "--stream",
            STREAM,
            "--to",
            &self.dest(),
            "-q",
            "--event-time-window",
            "any",
        ])
        .args(extra)
        .envs(&self.env())
        .command();
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        cmd
    }

    /// An object of the archive (path relative to its root).
    pub(crate) fn object(&self, rel: &str) -> Option<Vec<u8>> {
        match self {
            Target::Local(p) => std::fs::read(p.join(rel)).ok(),
            Target::S3(s3, prefix) => s3.get(&format!("{prefix}/{rel}")),
        }
    }

    /// Whether a run holds the lease: `lease.json` exists (a local run removes it when done)
    /// and is not marked released (what a run on an object store leaves).
    fn lease_held(&self) -> bool {
        self.object("_jsreplay/lease.json").is_some_and(|b| {
            serde_json::from_slice::<serde_json::Value>(&b)
                .map_or(true, |v| v["released_at"].is_null())
        })
    }

    fn checkpoint(&self) -> serde_json::Value {
        let bytes = self
            .object("_jsreplay/checkpoint.json")
            .expect("checkpoint");
        serde_json::from_slice(&bytes).unwrap()
    }

    /// Data files of the archive, relative to its root.
    pub(crate) fn parts(&self) -> Vec<String> {
        match self {
            Target::Local(p) => parquet_files(p)
                .iter()
                .map(|f| f.strip_prefix(p).unwrap().display().to_string())
                .collect(),
            Target::S3(s3, prefix) => s3
                .keys(&format!("{prefix}/"))
                .into_iter()
                .filter(|k| k.ends_with(".parquet"))
                .map(|k| k[prefix.len() + 1..].to_string())
                .collect(),
        }
    }

    /// Python with `uri` and `opts` (deltalake storage options) naming this archive. The
    /// snippet ends with `os._exit(0)` once its output is flushed: deltalake 1.6.6 with pyarrow 22
    /// can abort at interpreter exit after reading a table whose schema grew ("terminate called
    /// without an active exception", reproduced with deltalake alone); an exception in the body
    /// still fails the run before that line.
    pub(crate) fn delta_python(&self, body: &str) -> String {
        let body = format!("{body}\nimport os; sys.stdout.flush(); os._exit(0)\n");
        match self {
            Target::Local(p) => run_python(
                &format!("import json, sys\nuri = sys.argv[1]\nopts = None\n{body}"),
                &[p.to_str().unwrap()],
            ),
            Target::S3(s3, prefix) => s3.python(&format!(
                "uri = 's3://{}/{prefix}'\n\
                 opts = {{'AWS_ENDPOINT_URL': 'http://127.0.0.1:{}', 'AWS_ACCESS_KEY_ID': 'testing', \
                 'AWS_SECRET_ACCESS_KEY': 'testing', 'AWS_REGION': 'us-east-1', 'AWS_ALLOW_HTTP': 'true'}}\n{body}",
                s3.bucket, s3.port
            )),
        }
    }

    /// The Delta table as delta-rs's Python binding reads it (latest version, or `version`).
    pub(crate) fn delta_table_at(&self, version: Option<i64>) -> DeltaSeen {
        let out = self.delta_python(&format!(
            "import hashlib\n\
             from deltalake import DeltaTable\n\
             dt = DeltaTable(uri, storage_options=opts, version={})\n\
             t = dt.to_pyarrow_table(columns=['seq', 'payload'])\n\
             rows = sorted([r['seq'], hashlib.sha256(r['payload']).hexdigest()] for r in t.to_pylist())\n\
             try:\n    txn = dt.transaction_version('jsreplay:{STREAM}')\n\
             except Exception:\n    txn = None\n\
             chunks = None\n\
             for c in dt.history():\n\
             \x20   r = c.get('jsreplay')\n\
             \x20   if isinstance(r, dict) and 'checkpoint' in r:\n\
             \x20       chunks = r['checkpoint']['chunks']; break\n\
             files = [u.split(uri.rstrip('/') + '/', 1)[-1] for u in dt.file_uris()]\n\
             print(json.dumps({{'rows': rows, 'txn': txn, 'files': files, 'version': dt.version(), 'chunks': chunks}}))",
            version.map_or("None".to_string(), |v| v.to_string())
        ));
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        DeltaSeen {
            rows: serde_json::from_value(v["rows"].clone()).unwrap(),
            txn: v["txn"].as_i64(),
            files: serde_json::from_value(v["files"].clone()).unwrap(),
            version: v["version"].as_i64().unwrap(),
            chunks: v["chunks"].as_u64(),
        }
    }

    pub(crate) fn delta_table(&self) -> DeltaSeen {
        self.delta_table_at(None)
    }

    /// Read with pyarrow: for every row, (seq, sha256 of the payload); and checks that every
    /// row sits in the partition of its event hour (JetStream hour when it has no event time).
    pub(crate) fn rows(&self) -> Vec<(i64, String)> {
        let body = "import pyarrow.dataset as ds, pyarrow.compute as pc, hashlib\n\
            t = d.to_table(columns=['seq', 'payload', 'event_time', 'nats_time', 'dt', 'hour'])\n\
            bad = 0\n\
            for r in t.to_pylist():\n\
            \x20   when = r['event_time'] or r['nats_time']\n\
            \x20   if (when.strftime('%Y-%m-%d'), when.hour) != (str(r['dt']), int(r['hour'])): bad += 1\n\
            assert bad == 0, f'{bad} rows outside their event-hour partition'\n\
            print(json.dumps([[r['seq'], hashlib.sha256(r['payload']).hexdigest()] for r in t.select(['seq', 'payload']).to_pylist()]))\n";
        let out = match self {
            Target::Local(p) => run_python(
                &format!(
                    "import json, sys, pyarrow.dataset as ds\n\
                     d = ds.dataset(sys.argv[1], format='parquet', partitioning='hive')\n{body}"
                ),
                &[p.to_str().unwrap()],
            ),
            Target::S3(s3, prefix) => s3.python(&format!(
                "import pyarrow.dataset as ds\n\
                 d = ds.dataset('{}/{prefix}', filesystem=fs, format='parquet', partitioning='hive')\n{body}",
                s3.bucket
            )),
        };
        let mut rows: Vec<(i64, String)> = serde_json::from_str(out.trim()).unwrap();
        rows.sort();
        rows
    }
}

/// A Delta table as an independent reader saw it.
#[derive(Debug)]
pub(crate) struct DeltaSeen {
    /// (seq, sha256 of the payload), sorted.
    pub rows: Vec<(i64, String)>,
    /// The stream's `txn` version.
    pub txn: Option<i64>,
    pub files: Vec<String>,
    pub version: i64,
    /// The chunks jsreplay's newest record counts.
    pub chunks: Option<u64>,
}

fn parent_of(rel: &str) -> &str {
    rel.rsplit_once('/').unwrap().0
}

pub(crate) fn summary(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("no JSON summary: {}", text(o)))
}

/// A payload whose event time is `2025-07-10T<hour>:<minute>…`: rows of one chunk spread over
/// several event hours, interleaved, as skewed collector clocks make them.
fn event(n: u64) -> Vec<u8> {
    let hour = 1 + n % 3;
    format!(
        "{{\"evt.num\":{n},\"evt.time\":\"2025-07-10T{hour:02}:{:02}:00.000000000+0000\",\"evt.type\":\"execve\",\
         \"proc.name\":\"sh\",\"proc.pid\":{},\"host\":\"h{}\"}}",
        n % 60,
        100 + n,
        n % 4
    )
    .into_bytes()
}

/// Publishes events `from..to` (numbers), returns (seq, sha256 of payload) pairs.
pub(crate) async fn publish_events(
    js: &jetstream::Context,
    from: u64,
    to: u64,
) -> Vec<(i64, String)> {
    use sha2::{Digest, Sha256};
    let msgs: Vec<(String, Vec<u8>)> = (from..to)
        .map(|n| (format!("events.sysdig.c{}", n % 4), event(n)))
        .collect();
    let seqs = publish(js, &msgs).await;
    seqs.iter()
        .zip(&msgs)
        .map(|(s, (_, p))| {
            let h: String = Sha256::digest(p)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            (*s as i64, h)
        })
        .collect()
}

async fn archive_incremental(kind: Kind) {
    let server = Server::start(kind);
    let js = server.js().await;
    create_stream(&js, STREAM).await;
    let tmp = tempfile::tempdir().unwrap();
    let target = Target::Local(tmp.path().join("archive"));

    let mut published = publish_events(&js, 0, 2500).await;
    let o = target.run(&server.url, &["--chunk", "1000"]);
    assert_ok(&o);
    let s = summary(&o);
    assert_eq!(s["rows"], 2500, "{s:#}");
    assert_eq!(s["chunks"], 3);
    assert_eq!(s["checkpoint"], 2500);
    assert_eq!(target.rows(), published);

    // What a run killed mid-commit leaves: a pending note of an uncommitted chunk naming an
    // object it uploaded (here a copy of a real part: duplicate rows if it stayed), and one of a
    // chunk the checkpoint already covers (its objects must stay).
    let dir = tmp.path().join("archive");
    let first_part = target.parts()[0].clone();
    let orphan = format!(
        "{}/part-{STREAM}-00000000000000002501-00000000000000002600.parquet",
        parent_of(&first_part)
    );
    std::fs::copy(dir.join(&first_part), dir.join(&orphan)).unwrap();
    let pending = |a: u64, b: u64, objects: &[&str]| {
        let body = serde_json::json!({"range": [a, b], "objects": objects, "written_at": "2026-11-27T00:00:00Z"});
        std::fs::write(dir.join("_jsreplay/pending.json"), body.to_string()).unwrap();
    };
    pending(1001, 2000, &[&first_part]);
    let o = target.run(&server.url, &[]);
    assert_ok(&o);
    assert!(
        summary(&o)["recovered"]
            .to_string()
            .contains("was committed"),
        "{}",
        text(&o)
    );
    assert!(
        dir.join(&first_part).is_file(),
        "a committed part was deleted"
    );
    pending(2501, 3000, &[&orphan]);

    published.extend(publish_events(&js, 2500, 4000).await);
    let o = target.run(&server.url, &["--chunk", "1000", "--parallel", "2"]);
    assert_ok(&o);
    let s = summary(&o);
    assert!(
        s["recovered"]
            .to_string()
            .contains("uncommitted chunk seq 2501..=3000"),
        "{s:#}"
    );
    assert!(!dir.join(&orphan).exists());
    assert_eq!(s["range"]["first"], 2501, "{s:#}");
    assert_eq!(s["range"]["last"], 4000);
    let cp = target.checkpoint();
    assert_eq!(cp["last_seq"], 4000);
    assert_eq!(cp["rows"], 4000);
    assert_eq!(cp["gap_messages"], 0);
    assert_eq!(target.rows(), published);
    // Same rows through the tool's own SQL, partition columns included.
    let per_hour = query_json(
        &dir,
        "SELECT hour, count(*) AS n FROM events GROUP BY hour ORDER BY hour",
    );
    let counts: Vec<u64> = per_hour.iter().map(|r| r["n"].as_u64().unwrap()).collect();
    assert_eq!(counts.iter().sum::<u64>(), 4000);
    assert_eq!(per_hour.len(), 3, "{per_hour:?}");

    // Nothing new: exit 0, nothing written.
    let before = target.parts();
    let o = target.run(&server.url, &[]);
    assert_ok(&o);
    assert!(summary(&o)["range"].is_null());
    assert_eq!(target.parts(), before);
    assert!(target.object("_jsreplay/pending.json").is_none());
    assert!(!target.lease_held());

    // Compaction: fewer files, the same rows, the checkpoint untouched; archiving goes on.
    let o = jsreplay(&["compact", dir.to_str().unwrap(), "--json"]);
    assert_ok(&o);
    let c = summary(&o);
    assert!(
        c["inputs"].as_u64().unwrap() > c["outputs"].as_u64().unwrap(),
        "{c:#}"
    );
    let after = target.parts();
    assert_eq!(after.len(), 3, "one part per event hour: {after:?}");
    assert_eq!(target.rows(), published);
    assert_eq!(target.checkpoint()["last_seq"], 4000);
    published.extend(publish_events(&js, 4000, 4100).await);
    assert_ok(&target.run(&server.url, &[]));
    assert_eq!(target.rows(), published);
}
both_servers!(archive_incremental);

/// Retention removes messages between two runs: the next run reports them as a gap, exit 6,
/// archives the rest, and records the gap in the checkpoint; the run after is clean again.
async fn archive_retention_loss(kind: Kind) {
    let (server, js) = server_keeping_1000(kind).await;
    let tmp = tempfile::tempdir().unwrap();
    let target = Target::Local(tmp.path().join("archive"));
    publish_events(&js, 0, 800).await;
    assert_ok(&target.run(&server.url, &[]));
    assert_eq!(target.checkpoint()["last_seq"], 800);

    // 1,500 more: the stream keeps 1,301..=2,300; 801..=1,300 expired unarchived.
    let kept = publish_events(&js, 800, 2300).await;
    let o = target.run(&server.url, &[]);
    assert_code(&o, 6, "lost before they could be archived");
    let s = summary(&o);
    assert_eq!(s["gaps"], serde_json::json!([[801, 1300]]), "{s:#}");
    assert_eq!(s["gap_messages"], 500);
    assert_eq!(s["rows"], 1000);
    let cp = target.checkpoint();
    assert_eq!(cp["last_seq"], 2300);
    assert_eq!(cp["gaps"], serde_json::json!([[801, 1300]]));
    assert_eq!(
        cp["rows"].as_u64().unwrap() + cp["gap_messages"].as_u64().unwrap(),
        2300
    );
    let rows = target.rows();
    assert_eq!(rows.len(), 1800);
    assert_eq!(rows[800..], kept[500..]);
    let o = target.run(&server.url, &[]);
    assert_ok(&o);
    assert!(summary(&o)["range"].is_null());
}
both_servers!(archive_retention_loss);

/// A server whose test stream keeps its last 1,000 messages only.
pub(crate) async fn server_keeping_1000(kind: Kind) -> (Server, jetstream::Context) {
    let server = Server::start(kind);
    let js = server.js().await;
    js.create_stream(jetstream::stream::Config {
        name: STREAM.into(),
        subjects: vec!["events.sysdig.*".into()],
        max_messages: 1000,
        ..Default::default()
    })
    .await
    .unwrap();
    (server, js)
}

/// Publishes continuously until stopped; returns every (seq, payload hash) published.
pub(crate) fn keep_publishing(
    js: jetstream::Context,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<(i64, String)>> {
    tokio::spawn(async move {
        let mut all = Vec::new();
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            all.extend(publish_events(&js, n, n + 200).await);
            n += 200;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        all
    })
}

/// Runs the archiver `kills` times while publishing goes on, SIGKILLing it at pseudo-random
/// moments, then once to the end; the archive must hold every sequence exactly once. The killed
/// runs read through a 1 MiB/s link, so that they are busy (reading, uploading, committing)
/// when the signal comes rather than done.
pub(crate) async fn exactly_once(kind: Kind, target: &Target<'_>, kills: usize, delta: bool) {
    let server = Server::start(kind);
    let js = server.js().await;
    create_stream(&js, STREAM).await;
    let slow = link_at(server.port, 1 << 20).await;
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = keep_publishing(js.clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let (mut killed, mut finished) = (0, 0);
    for _ in 0..kills {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_millis(40 + (rng >> 33) % 900);
        let format = if delta { "delta" } else { "hive" };
        let mut child = target
            .command(
                &slow.url(),
                &["--chunk", "500", "--lease-ttl", "1h", "--format", format],
            )
            .spawn()
            .unwrap();
        let started = Instant::now();
        let exited = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() >= delay {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        match exited {
            Some(status) => {
                let out = child.wait_with_output().unwrap();
                assert!(status.success(), "{}", text(&out));
                finished += 1;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                killed += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let published = publisher.await.unwrap();
    assert!(
        killed >= kills / 2,
        "only {killed} of {kills} runs were killed mid-way"
    );
    let committed = if delta {
        target.delta_table().chunks
    } else {
        target.object("_jsreplay/checkpoint.json").map(|b| {
            serde_json::from_slice::<serde_json::Value>(&b).unwrap()["chunks"]
                .as_u64()
                .unwrap()
        })
    };
    assert!(
        committed.unwrap_or(0) > 0,
        "no chunk was committed between the kills"
    );
    let o = target.run(&server.url, &["--chunk", "1500"]);
    assert_ok(&o);
    let s = summary(&o);
    let last = published.last().unwrap().0 as u64;
    assert_eq!(s["checkpoint"], last, "{s:#}");
    if delta {
        // Read through the table's log by delta-rs's Python binding: every sequence once,
        // whatever orphans the killed runs left beside the committed files.
        let table = target.delta_table();
        assert_eq!(
            table.rows.len(),
            published.len(),
            "{killed} killed, {finished} finished"
        );
        assert_eq!(table.rows, published);
        assert_eq!(table.txn, Some(last as i64));
        assert!(target.object("_jsreplay/lease.json").is_none());
        eprintln!(
            "exactly once (delta): {killed} runs killed, {finished} finished, {} chunks committed \
             under kills, {last} sequences, {} files in the table, {} Parquet objects in all",
            committed.unwrap_or(0),
            table.files.len(),
            target.parts().len()
        );
        return;
    }
    let rows = target.rows();
    assert_eq!(
        rows.len(),
        published.len(),
        "{killed} killed, {finished} finished"
    );
    assert_eq!(rows, published);
    let cp = target.checkpoint();
    assert_eq!(cp["last_seq"], last);
    assert_eq!(cp["rows"], last);
    assert_eq!(cp["gap_messages"], 0);
    assert!(target.object("_jsreplay/pending.json").is_none());
    assert!(!target.lease_held());
    eprintln!(
        "exactly once: {killed} runs killed, {finished} finished, {} chunks committed under kills, {last} sequences",
        committed.unwrap_or(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_exactly_once_under_sigkill_local() {
    let tmp = tempfile::tempdir().unwrap();
    exactly_once(Kind::V2_9, &Target::Local(tmp.path().join("a")), 22, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_exactly_once_under_sigkill_s3() {
    let s3 = S3::start();
    exactly_once(Kind::V2_14, &Target::S3(&s3, "sysdig"), 22, false).await;
    // Compaction over S3 keeps the row set.
    let target = Target::S3(&s3, "sysdig");
    let before = target.rows();
    let parts = target.parts().len();
    let o = jsreplay_env(&["compact", &target.dest(), "--json"], &s3.env());
    assert_ok(&o);
    assert!(target.parts().len() < parts, "{}", text(&o));
    assert_eq!(target.rows(), before);
}

/// A 256 KiB/s link to the server: keeps a run busy for seconds, so it can be caught mid-read.
async fn slow_link(port: u16) -> Proxy {
    link_at(port, 256 * 1024).await
}

/// A link to the server at `rate` bytes per second, no added latency.
pub(crate) async fn link_at(port: u16, rate: u64) -> Proxy {
    Proxy::start(
        port,
        Shape {
            one_way: Duration::ZERO,
            down_rate: Some(rate),
        },
    )
    .await
}

/// Starts an archive run and waits until it holds the destination's lease.
async fn holding_lease(target: &Target<'_>, url: &str, extra: &[&str]) -> std::process::Child {
    let child = target.command(url, extra).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !target.lease_held() {
        assert!(Instant::now() < deadline, "the run never took the lease");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child
}

/// One writer at a time: a second run is refused (exit 7) while the first holds the lease; a
/// SIGKILLed run's lease is recovered at once on the same host (local lock, S3 dead-pid check);
/// on S3 a live lease of another host is respected until it expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_one_writer_at_a_time() {
    let server = Server::start(Kind::V2_14);
    let js = server.js().await;
    create_stream(&js, STREAM).await;
    publish_events(&js, 0, 6000).await;
    // A slow link keeps the first run busy for seconds.
    let slow = slow_link(server.port).await;
    let s3 = S3::start();
    let tmp = tempfile::tempdir().unwrap();
    for target in [
        Target::Local(tmp.path().join("a")),
        Target::S3(&s3, "lease"),
    ] {
        let mut first = holding_lease(&target, &slow.url(), &["--chunk", "100000"]).await;
        let o = target.run(&server.url, &[]);
        assert_code(&o, 7, "is being written by jsreplay archive (pid");
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first run ended too early"
        );
        first.kill().unwrap();
        first.wait().unwrap();
        let o = target.run(&server.url, &[]);
        assert_ok(&o);
        let s = summary(&o);
        let recovered = s["recovered"].to_string();
        assert!(recovered.contains("stale lease"), "{s:#}");
        assert_eq!(s["checkpoint"], 6000);
        assert_eq!(target.rows().len(), 6000);
    }

    // SIGTERM mid-run: exit 143, the lease given back, and the next run completes exactly once.
    let target = Target::Local(tmp.path().join("term"));
    let mut run = holding_lease(&target, &slow.url(), &["--chunk", "1000"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // SAFETY: signalling a child process this test started and still owns.
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    assert!(!target.lease_held());
    let o = target.run(&server.url, &[]);
    assert_ok(&o);
    // Released on SIGTERM, not left to be taken over.
    assert!(
        !summary(&o)["recovered"].to_string().contains("stale lease"),
        "{}",
        text(&o)
    );
    assert_eq!(target.rows().len(), 6000);

    // S3: another host's lease, live, then expired.
    let target = Target::S3(&s3, "lease");
    let lease = |expires: &str| {
        format!(
            "s3.put_object(Bucket='{}', Key='lease/_jsreplay/lease.json', Body=json.dumps({{\
             'host': 'other-host', 'pid': 1, 'pid_start': 1, 'command': 'jsreplay archive', \
             'acquired_at': '2026-01-01T00:00:00Z', 'expires_at': '{expires}'}}))",
            s3.bucket
        )
    };
    s3.python(&lease("2999-01-01T00:00:00Z"));
    publish_events(&js, 6000, 6100).await;
    let o = target.run(&server.url, &[]);
    assert_code(&o, 7, "pid 1 on other-host");
    s3.python(&lease("2020-01-01T00:00:00Z"));
    let o = target.run(&server.url, &[]);
    assert_ok(&o);
    assert!(summary(&o)["recovered"].to_string().contains("other-host"));
    assert_eq!(target.checkpoint()["last_seq"], 6100);
    // Given back by a conditional replace, not a delete: the record stays, marked released, and
    // the next run takes it without calling it a recovery.
    let left: serde_json::Value =
        serde_json::from_slice(&target.object("_jsreplay/lease.json").unwrap()).unwrap();
    assert!(left["released_at"].is_string(), "{left}");
    let o = target.run(&server.url, &[]);
    assert_ok(&o);
    assert_eq!(
        summary(&o)["recovered"],
        serde_json::json!([]),
        "{}",
        text(&o)
    );
}

/// A holder SIGSTOPped past its lease's time to live wakes up after another run took the lease
/// over: it uploads and commits nothing more (exit 7), and the archive holds every sequence
/// once. A `lease.json` nobody can read blocks for a time to live, then is taken over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_lease_holder_is_fenced() {
    let (server, js) = server_with_stream(Kind::V2_14, STREAM).await;
    let published = publish_events(&js, 0, 6000).await;
    let slow = slow_link(server.port).await;
    let s3 = S3::start();
    let target = Target::S3(&s3, "stalled");
    let first = holding_lease(
        &target,
        &slow.url(),
        &["--chunk", "2000", "--lease-ttl", "3s"],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // SAFETY: signalling a child process this test started and still owns.
    unsafe { libc::kill(first.id() as i32, libc::SIGSTOP) };
    tokio::time::sleep(Duration::from_secs(4)).await;
    let o = target.run(&server.url, &["--lease-ttl", "3s"]);
    assert_ok(&o);
    assert!(
        summary(&o)["recovered"].to_string().contains("stale lease"),
        "{}",
        text(&o)
    );
    // SAFETY: as above.
    unsafe { libc::kill(first.id() as i32, libc::SIGCONT) };
    let woke = first.wait_with_output().unwrap();
    assert_eq!(woke.status.code(), Some(7), "{}", text(&woke));
    assert!(
        String::from_utf8_lossy(&woke.stderr).contains("lease"),
        "{}",
        text(&woke)
    );
    assert_eq!(target.rows(), published, "every sequence exactly once");
    assert_eq!(target.checkpoint()["last_seq"], 6000);
    assert!(target.object("_jsreplay/pending.json").is_none());

    // An unreadable lease.json: fresh, it blocks; older than the time to live, it is taken over.
    s3.python(&format!(
        "s3.put_object(Bucket='{}', Key='stalled/_jsreplay/lease.json', Body=b'\\x00garbage')",
        s3.bucket
    ));
    publish_events(&js, 6000, 6100).await;
    let o = target.run(&server.url, &["--lease-ttl", "3s"]);
    assert_code(&o, 7, "is being written by another run");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let o = target.run(&server.url, &["--lease-ttl", "3s"]);
    assert_ok(&o);
    assert!(
        summary(&o)["recovered"].to_string().contains("unreadable"),
        "{}",
        text(&o)
    );
    assert_eq!(target.checkpoint()["last_seq"], 6100);
}

/// A gateway in front of the store that strips conditional headers, the way some S3-compatible
/// fronts do (requests pass byte for byte, `if-match:` and `if-none-match:` renamed to headers
/// nobody reads). Returns the port it listens on.
async fn conditional_header_stripper(upstream: u16) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
                continue;
            };
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let mut chunk = buf[..n].to_vec();
                    for (from, to) in [
                        (&b"\r\nif-match:"[..], &b"\r\nx-ignore:"[..]),
                        (&b"\r\nif-none-match:"[..], &b"\r\nx-ignore-none:"[..]),
                    ] {
                        let mut at = 0;
                        while let Some(p) = chunk[at..]
                            .windows(from.len())
                            .position(|w| w.eq_ignore_ascii_case(from))
                        {
                            chunk[at + p..at + p + to.len()].copy_from_slice(to);
                            at += p + to.len();
                        }
                    }
                    if sw.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut sr, &mut cw).await;
            });
        }
    });
    port
}

/// A store that ignores conditional writes is refused before anything is written: leases,
/// checkpoints and exactly-once commits all rest on them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_ignoring_conditional_writes_is_refused() {
    let (server, js) = server_with_stream(Kind::V2_14, STREAM).await;
    publish_events(&js, 0, 100).await;
    let s3 = S3::start();
    let front = conditional_header_stripper(s3.port).await;
    let env = s3.env_via(front);
    let dest = s3.url("stripped");
    let args = [
        "archive",
        "-s",
        &server.url,
        "--stream",
        STREAM,
        "--to",
        &dest,
        "-q",
    ];
    // Run in place: the front's tasks go on on the runtime's other worker meanwhile.
    let o = tokio::task::block_in_place(|| jsreplay_env(&args, &env));
    assert_code(&o, 1, "ignores conditional writes");
    let keys = s3.keys("stripped/");
    assert!(
        keys.iter()
            .all(|k| !k.ends_with(".parquet") && !k.ends_with("checkpoint.json")),
        "something was archived through a store that cannot fence: {keys:?}"
    );
    // The same store, reached directly, is accepted.
    let o = tokio::task::block_in_place(|| jsreplay_env(&args, &s3.env()));
    assert_ok(&o);
}

/// Azure Blob Storage (Azurite): incremental runs, the lease refusing a live holder and taking
/// over an expired one, and `query` over `az://`; files read back with pyarrow after download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_to_azure_blob_storage() {
    let server = Server::start(Kind::V2_14);
    let js = server.js().await;
    create_stream(&js, STREAM).await;
    let az = Azurite::start();
    let dest = az.url("sysdig");
    let env = az.env();
    let run = |extra: &[&str]| run_archive(&server.url, &dest, extra, &env);
    let mut published = publish_events(&js, 0, 3000).await;
    assert_ok(&run(&["--chunk", "1000"]));
    published.extend(publish_events(&js, 3000, 3500).await);
    let o = run(&[]);
    assert_ok(&o);
    assert_eq!(summary(&o)["checkpoint"], 3500);

    let tmp = tempfile::tempdir().unwrap();
    let keys = az.download("sysdig", tmp.path());
    assert!(
        keys.iter().any(|k| k == "sysdig/_jsreplay/checkpoint.json"),
        "{keys:?}"
    );
    assert!(!keys.iter().any(|k| k.ends_with("pending.json")));
    let local = Target::Local(tmp.path().to_path_buf());
    assert!(!local.lease_held(), "the lease was not given back");
    assert_eq!(local.rows(), published);

    let o = jsreplay_env(
        &[
            "query",
            &dest,
            "SELECT count(DISTINCT seq) AS n FROM events",
            "--format",
            "csv",
            "-q",
        ],
        &env,
    );
    assert_ok(&o);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "n\n3500");

    let lease = |expires: &str| {
        format!(
            "cc.upload_blob('sysdig/_jsreplay/lease.json', json.dumps({{'host': 'other-host', 'pid': 1, \
             'pid_start': 1, 'command': 'jsreplay archive', 'acquired_at': '2026-01-01T00:00:00Z', \
             'expires_at': '{expires}'}}), overwrite=True)"
        )
    };
    az.python(&lease("2999-01-01T00:00:00Z"));
    assert_code(&run(&[]), 7, "pid 1 on other-host");
    az.python(&lease("2020-01-01T00:00:00Z"));
    let o = run(&[]);
    assert_ok(&o);
    assert!(
        summary(&o)["recovered"].to_string().contains("other-host"),
        "{}",
        text(&o)
    );
}

/// The sample incident archived to S3: `query` and `hunt` read it in place and find what they
/// find in an export of the same stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_and_hunt_an_archive_in_s3() {
    let server = Server::start(Kind::V2_14);
    let tmp = tempfile::tempdir().unwrap();
    let sample = repo_root().join("sample-data/incident.ndjson.zst");
    let export = publish_and_export(&server.url, &sample, tmp.path());
    let s3 = S3::start();
    let target = Target::S3(&s3, "incident");
    assert_ok(&target.run(&server.url, &[]));
    let env = s3.env();
    let dest = target.dest();

    let count = |ds: &str, env: &[(String, String)]| {
        let o = jsreplay_env(
            &[
                "query",
                ds,
                "SELECT count(*) AS n, count(DISTINCT seq) AS d FROM events",
                "--format",
                "json",
                "-q",
            ],
            env,
        );
        assert_ok(&o);
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let rows = manifest(&export)["rows"].as_u64().unwrap();
    assert_eq!(
        count(&dest, &env),
        serde_json::json!([{"n": rows, "d": rows}])
    );

    let hunt = |ds: &str, env: &[(String, String)]| {
        let o = jsreplay_env(&["hunt", ds, "--format", "json"], env);
        let v: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("hunt JSON: {}", text(&o)));
        let mut hits: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        for h in v["hunts"].as_array().unwrap() {
            assert!(h["error"].is_null(), "{h:#}");
            hits.insert(h["name"].as_str().unwrap().to_string(), h["seqs"].clone());
        }
        hits
    };
    let from_s3 = hunt(&dest, &env);
    let from_export = hunt(export.to_str().unwrap(), &[]);
    assert!(
        from_s3
            .values()
            .any(|s| s.as_array().is_some_and(|a| !a.is_empty())),
        "{from_s3:?}"
    );
    assert_eq!(from_s3, from_export);

    // A wrong bucket and missing credentials are clear errors, not panics.
    let o = jsreplay_env(&["query", "s3://no-such-bucket/x", "SELECT 1"], &env);
    assert!(!o.status.success());
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("panicked"),
        "{}",
        text(&o)
    );
}

/// Rewrites a Parquet file with every payload replaced and the row count kept (pyarrow): what
/// an intruder who can write to the archive does to evidence.
pub(crate) fn forge_payloads(file: &std::path::Path) {
    run_python(
        "import sys, pyarrow as pa, pyarrow.parquet as pq\n\
         t = pq.read_table(sys.argv[1])\n\
         i = t.schema.get_field_index('payload')\n\
         t = t.set_column(i, t.schema.field(i), pa.array([b'forged'] * t.num_rows, t.schema.field(i).type))\n\
         pq.write_table(t, sys.argv[1])",
        &[file.to_str().unwrap()],
    );
}

/// `verify` after an intruder altered a part's rows and added one small JSON file: a
/// compaction record naming the part as its own output (which once replaced the part's hash
/// with none, so only its row count was checked). A compaction that did run records its
/// output's hash, so an altered output is found as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_is_not_fooled_by_a_forged_compaction_record() {
    let (server, js) = server_with_stream(Kind::V2_14, STREAM).await;
    publish_events(&js, 0, 1500).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("archive");
    let target = Target::Local(dir.clone());
    assert_ok(&target.run(&server.url, &["--chunk", "500"]));
    let ds = dir.to_str().unwrap();
    assert_ok(&jsreplay(&["verify", ds]));
    let part = target.parts()[0].clone();
    let rows: u64 = run_python(
        "import sys, pyarrow.parquet as pq\nprint(pq.ParquetFile(sys.argv[1]).metadata.num_rows)",
        &[dir.join(&part).to_str().unwrap()],
    )
    .trim()
    .parse()
    .unwrap();
    forge_payloads(&dir.join(&part));
    std::fs::create_dir_all(dir.join("_jsreplay/compactions")).unwrap();
    std::fs::write(
        dir.join("_jsreplay/compactions/forged.json"),
        serde_json::json!({"inputs": [part], "output": part, "rows": rows}).to_string(),
    )
    .unwrap();
    let o = jsreplay(&["verify", ds]);
    assert_code(&o, 8, "its own output");
    assert!(
        text(&o).contains("no account records its SHA-256"),
        "{}",
        text(&o)
    );

    // A real compaction's output carries its hash: altering it is a finding too.
    let (server, js) = server_with_stream(Kind::V2_14, STREAM).await;
    publish_events(&js, 0, 1500).await;
    let dir = tmp.path().join("compacted");
    let target = Target::Local(dir.clone());
    assert_ok(&target.run(&server.url, &["--chunk", "500"]));
    let ds = dir.to_str().unwrap();
    let o = jsreplay(&["compact", ds, "--json"]);
    assert_ok(&o);
    assert_ok(&jsreplay(&["verify", ds]));
    // Each hour's three parts (one per chunk) became one.
    let merged = target.parts();
    assert_eq!(summary(&o)["outputs"], merged.len(), "{}", text(&o));
    assert_eq!(summary(&o)["inputs"], 3 * merged.len(), "{}", text(&o));
    forge_payloads(&dir.join(&merged[0]));
    assert_code(&jsreplay(&["verify", ds]), 8, "SHA-256");
}
