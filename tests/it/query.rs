//! The sample incident through the whole tool (generate, publish, export, query), with DuckDB and
//! pyarrow as independent readers of the same files.

use crate::both_servers;
use crate::util::*;

/// (DataFusion SQL, DuckDB SQL) pairs that must give the same rows.
const PAIRS: &[(&str, &str)] = &[
    (
        "SELECT collector_id, count(*) AS n FROM events GROUP BY collector_id ORDER BY collector_id",
        "SELECT collector_id, count(*) AS n FROM events GROUP BY collector_id ORDER BY collector_id",
    ),
    (
        "SELECT shape, parse_status, count(*) AS n FROM events GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT shape, parse_status, count(*) AS n FROM events GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    (
        "SELECT seq, proc_name, proc_pid, proc_ppid, fd_cip, fd_sip, fd_sport FROM events WHERE fd_sport = 4444 OR fd_sip = '198.51.100.23' ORDER BY seq",
        "SELECT seq, proc_name, proc_pid, proc_ppid, fd_cip, fd_sip, fd_sport FROM events WHERE fd_sport = 4444 OR fd_sip = '198.51.100.23' ORDER BY seq",
    ),
    (
        "SELECT count(*) AS n, sum(proc_pid) AS pids, min(seq) AS lo, max(seq) AS hi, count(event_time) AS timed, count(DISTINCT subject) AS subjects FROM events",
        "SELECT count(*) AS n, sum(proc_pid) AS pids, min(seq) AS lo, max(seq) AS hi, count(event_time) AS timed, count(DISTINCT subject) AS subjects FROM events",
    ),
    (
        "SELECT proc_name, count(DISTINCT proc_pid) AS pids FROM events GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
        "SELECT proc_name, count(DISTINCT proc_pid) AS pids FROM events GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
    ),
    (
        "SELECT seq, CAST(event_time AS BIGINT) AS t, event_time_ns, CAST(nats_time AS BIGINT) AS nt FROM events WHERE fd_name LIKE '/etc/shadow%' ORDER BY seq",
        "SELECT seq, epoch_us(event_time) AS t, event_time_ns, epoch_us(nats_time) AS nt FROM events WHERE fd_name LIKE '/etc/shadow%' ORDER BY seq",
    ),
    (
        "SELECT dt, CAST(hour AS INT) AS h, count(*) AS n FROM events GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT CAST(dt AS VARCHAR) AS dt, CAST(hour AS INT) AS h, count(*) AS n FROM events GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    (
        "SELECT seq, length(payload) AS len FROM events WHERE parse_status <> 'ok' ORDER BY seq",
        "SELECT seq, octet_length(payload) AS len FROM events WHERE parse_status <> 'ok' ORDER BY seq",
    ),
];

const DUCK: &str = r#"
import duckdb, json, sys
ds, queries = sys.argv[1], json.loads(sys.argv[2])
con = duckdb.connect()
con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{ds}/**/*.parquet', hive_partitioning = true)")
out = []
for q in queries:
    cur = con.execute(q)
    cols = [d[0] for d in cur.description]
    out.append([dict(zip(cols, [v if isinstance(v, (int, float, str, type(None))) else str(v) for v in row])) for row in cur.fetchall()])
print(json.dumps(out))
"#;

const PYARROW: &str = r#"
import pyarrow.dataset as ds, json, sys
# manifest.json sits at the root: readers that open a folder skip it as a non-Parquet file.
t = ds.dataset(sys.argv[1], format="parquet", partitioning="hive", exclude_invalid_files=True).to_table()
print(json.dumps({"rows": t.num_rows, "types": {f.name: str(f.type) for f in t.schema}}))
"#;

/// Rows equal when every column DuckDB names has the same value (a missing key is NULL).
fn same_rows(ours: &[serde_json::Value], theirs: &[serde_json::Value]) -> bool {
    ours.len() == theirs.len()
        && ours.iter().zip(theirs).all(|(a, b)| {
            b.as_object().unwrap().iter().all(|(k, v)| {
                let mine = a.get(k).cloned().unwrap_or(serde_json::Value::Null);
                mine == *v || (mine.as_f64().is_some() && mine.as_f64() == v.as_f64())
            })
        })
}

async fn sample_incident(kind: Kind) {
    let server = Server::start(kind);
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("sample.ndjson");
    let o = jsreplay(&["generate", "--noise", "4000", "-o", input.to_str().unwrap()]);
    assert_ok(&o);
    let lines = std::fs::read_to_string(&input).unwrap().lines().count() as u64;
    let ds = publish_and_export(&server.url, &input, tmp.path());
    let m = check_manifest(&ds);
    assert_eq!(m["rows"].as_u64().unwrap(), lines);
    assert!(m["invalid"].as_u64().unwrap() < lines / 100);

    // The reverse shell is found with its lineage, typed.
    let rows = query_json(
        &ds,
        "SELECT proc_pid, proc_ppid, proc_pname, fd_sport FROM events WHERE fd_sport = 4444",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["proc_pid"], 23030);
    assert_eq!(rows[0]["proc_ppid"], 1403);
    assert_eq!(rows[0]["proc_pname"], "php-fpm8.1");

    // DuckDB reads the same files and agrees on every query.
    let duck_queries: Vec<&str> = PAIRS.iter().map(|p| p.1).collect();
    let duck: Vec<Vec<serde_json::Value>> = serde_json::from_str(&run_python(
        DUCK,
        &[
            ds.to_str().unwrap(),
            &serde_json::to_string(&duck_queries).unwrap(),
        ],
    ))
    .unwrap();
    for ((ours_sql, _), theirs) in PAIRS.iter().zip(&duck) {
        let ours = query_json(&ds, ours_sql);
        assert!(!ours.is_empty(), "{ours_sql}");
        assert!(
            same_rows(&ours, theirs),
            "{ours_sql}\n jsreplay: {ours:?}\n duckdb:   {theirs:?}"
        );
    }

    // pyarrow sees the documented types.
    let pa: serde_json::Value =
        serde_json::from_str(&run_python(PYARROW, &[ds.to_str().unwrap()])).unwrap();
    assert_eq!(pa["rows"].as_u64().unwrap(), lines);
    let types = &pa["types"];
    assert_eq!(types["seq"], "int64");
    assert_eq!(types["proc_pid"], "int64");
    assert_eq!(types["proc_ppid"], "int64");
    assert_eq!(types["nats_time"], "timestamp[us, tz=UTC]");
    assert_eq!(types["event_time"], "timestamp[us, tz=UTC]");
    assert_eq!(types["payload"], "binary");
    assert_eq!(types["fd_sport"], "int32");

    // Results to files, by extension.
    for ext in ["csv", "parquet", "ndjson"] {
        let f = tmp.path().join(format!("out.{ext}"));
        let o = jsreplay(&[
            "query",
            ds.to_str().unwrap(),
            "SELECT seq, proc_name FROM events WHERE proc_name = 'curl'",
            "-o",
            f.to_str().unwrap(),
        ]);
        assert_ok(&o);
        assert!(std::fs::metadata(&f).unwrap().len() > 0);
    }

    // Bad SQL is a clear error with its own exit code, and writes nothing.
    let bad = tmp.path().join("bad.csv");
    for sql in [
        "SELEC * FROM events",
        "SELECT nope FROM events",
        "SELECT * FROM missing_table",
    ] {
        let o = jsreplay(&[
            "query",
            ds.to_str().unwrap(),
            sql,
            "-o",
            bad.to_str().unwrap(),
        ]);
        assert_code(&o, 5, "error");
        assert!(!bad.exists());
    }
    let o = jsreplay(&[
        "query",
        tmp.path().join("nowhere").to_str().unwrap(),
        "SELECT 1",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}
both_servers!(sample_incident);
