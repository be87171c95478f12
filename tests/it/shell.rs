//! `jsreplay sql` as an analyst uses it: on a terminal (a pseudo-terminal: statements over
//! several lines, tab completion, history kept across sessions, Ctrl-C cancelling a running
//! query, long results paged, payloads shown as text, saved hunts), fed from a pipe (a script
//! that stops at its first failing statement), and `--stream` answering over a window of a
//! stream exactly as over an export of the same window, leaving no files behind.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::both_servers;
use crate::pty::Pty;
use crate::util::*;

/// The sample incident published to a 2.14 server and exported; (tempdir, server, dataset).
fn sample() -> (tempfile::TempDir, Server, PathBuf) {
    let server = Server::start(Kind::V2_14);
    let tmp = tempfile::tempdir().unwrap();
    let sample = repo_root().join("sample-data/incident.ndjson.zst");
    let ds = publish_and_export(&server.url, &sample, tmp.path());
    (tmp, server, ds)
}

/// `jsreplay sql DS` on a terminal of `rows` lines; the pager marks every line it shows.
fn shell_on_terminal(ds: &Path, history: &Path, rows: u16) -> Pty {
    let cmd = Run::new(["sql", ds.to_str().unwrap(), "--history"])
        .args([history])
        .env("JSREPLAY_PAGER", "sed 's/^/PAGED: /'")
        .env("TERM", "xterm")
        .command();
    Pty::spawn(cmd, rows)
}

fn one_number(ds: &Path, sql: &str) -> i64 {
    query_json(ds, sql)[0]["n"].as_i64().unwrap()
}

#[test]
fn the_shell_on_a_terminal() {
    let (tmp, _server, ds) = sample();
    let history = tmp.path().join("state/history");
    let events = one_number(&ds, "SELECT count(*) AS n FROM events");
    let names = one_number(&ds, "SELECT count(DISTINCT proc_name) AS n FROM events");
    let dumps = hunt_named(
        &hunt_json(&ds, &["--select", "collection/database_dump"]),
        "collection/database_dump",
    )["rows"]
        .as_u64()
        .unwrap();
    assert!(dumps > 0, "the sample has database dumps");

    let mut t = shell_on_terminal(&ds, &history, 24);
    t.expect("sql> ", 60);
    // A statement over two lines runs at its `;`.
    t.send("SELECT count(*) AS n\r");
    t.send("FROM events;\r");
    t.expect(&format!("| {events} |"), 60);
    t.expect("1 row", 10);
    // Tab completes a column (the only name starting so).
    t.send("SELECT count(DISTINCT proc_na\t) AS n FROM events;\r");
    t.expect("proc_name", 10);
    t.expect(&format!("| {names} "), 60);
    // Payloads show as the text they are, not as hexadecimal.
    t.send("SELECT payload FROM events ORDER BY seq LIMIT 1;\r");
    t.expect("{\"event\"", 60);
    // A long result goes through the pager.
    t.send("SELECT seq FROM events ORDER BY seq LIMIT 60;\r");
    t.expect("PAGED: | 60 ", 60);
    // Ctrl-C cancels a query that would run for days; the shell stays.
    t.send("SELECT count(*) AS n FROM events a, events b, events c WHERE a.seq + b.seq > c.seq;\r");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    t.send("\x03");
    t.expect("query cancelled", 30);
    t.send("SELECT 40 + 2 AS answer;\r");
    t.expect("| 42 ", 30);
    // Saved hunts, completed by name, with parameters checked.
    t.send(".hunt collection/database_d\t\r");
    t.expect(&format!("{dumps} row"), 60);
    t.send(".hunt collection/database_dump nosuch=1\r");
    t.expect("no selected hunt has this parameter", 10);
    t.send(".hunt collection/database_dump dump_tools=^nothing$\r");
    t.expect("0 rows", 60);
    // Bad SQL is an error message, not the end of the session.
    t.send("SELECT nosuch FROM events;\r");
    t.expect("nosuch", 30);
    t.send("SELECT 'from history' AS h;\r");
    t.expect("| from history |", 30);
    t.send("\x04");
    assert_eq!(t.wait(30), Some(0), "{}", t.screen());

    // The next session finds the last statement one Up-arrow away; the history is private.
    let mode = std::fs::metadata(&history).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "history mode {mode:o}");
    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(saved.contains("SELECT count(*) AS n"), "{saved}");
    let mut t = shell_on_terminal(&ds, &history, 24);
    t.expect("sql> ", 60);
    t.send("\x1b[A\r");
    t.expect("| from history |", 30);
    t.send(".quit\r");
    assert_eq!(t.wait(30), Some(0), "{}", t.screen());
}

#[test]
fn the_shell_from_a_pipe() {
    let (tmp, _server, ds) = sample();
    let by_host = query_json(
        &ds,
        "SELECT collector_id, count(*) AS n FROM events GROUP BY 1 ORDER BY 1",
    );
    let dumps = hunt_named(
        &hunt_json(&ds, &["--select", "collection/database_dump"]),
        "collection/database_dump",
    )["rows"]
        .as_u64()
        .unwrap();
    let extra = tmp.path().join("extra.sql");
    std::fs::write(&extra, "-- read from a file\nSELECT 7 AS seven;\n").unwrap();
    let script = format!(
        "-- a script
.format csv
SELECT collector_id, count(*) AS n
  FROM events
 GROUP BY 1 ORDER BY 1;
.format ndjson
.hunt collection/database_dump
.read {}
SELECT (SELECT count(*) FROM events) - (SELECT count(*) FROM prior) AS d;
SELECT nosuch FROM events;
SELECT 'never' AS x;
",
        extra.display()
    );
    let d = ds.to_str().unwrap();
    let o = run_with_stdin(&["sql", d, d, "--as", "events", "--as", "prior"], &script);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("collector_id,n"));
    for row in &by_host {
        let want = format!("{},{}", row["collector_id"].as_str().unwrap(), row["n"]);
        assert_eq!(lines.next(), Some(want.as_str()), "{}", text(&o));
    }
    let rest: Vec<serde_json::Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    let hunt_rows = rest.iter().filter(|r| r.get("seq").is_some()).count() as u64;
    assert_eq!(hunt_rows, dumps, "{}", text(&o));
    assert!(rest.iter().any(|r| r["seven"] == 7), "{}", text(&o));
    assert!(rest.iter().any(|r| r["d"] == 0), "{}", text(&o));
    assert!(
        !out.contains("never"),
        "the run stops at the failing statement"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("nosuch"));

    // Misuse is exit 2 with a message.
    let o = run_with_stdin(&["sql", d, "--as", "a", "--as", "b"], "");
    assert_code(&o, 2, "--as");
    let o = run_with_stdin(&["sql", d, "--as", "x;drop"], "");
    assert_code(&o, 2, "table name");
    let o = run_with_stdin(&["sql", d], ".frobnicate\n");
    assert_code(&o, 2, "unknown or malformed command");
}

fn run_with_stdin(args: &[&str], input: &str) -> std::process::Output {
    jsreplay_stdin(args, &[], input)
}

/// `--stream` answers equal the answers over an export of the same window, and nothing stays
/// behind in the temporary directory (or stays in --keep DIR).
async fn stream_answers_equal_the_export(kind: Kind) {
    let server = Server::start(kind);
    let tmp = tempfile::tempdir().unwrap();
    let sample = repo_root().join("sample-data/incident.ndjson.zst");
    publish_file(&server.url, &sample);
    let window = tmp.path().join("window");
    let (lo, hi) = ("5000", "40000");
    assert_ok(&jsreplay(&[
        "export",
        "-s",
        &server.url,
        "-q",
        "--start-seq",
        lo,
        "--end-seq",
        hi,
        "-o",
        window.to_str().unwrap(),
    ]));
    let scratch = tmp.path().join("tmp");
    std::fs::create_dir(&scratch).unwrap();
    let env = vec![("TMPDIR".to_string(), scratch.display().to_string())];
    let from_stream = |cmd: &str, extra: &[&str]| -> std::process::Output {
        let mut args = vec![
            cmd,
            "--stream",
            "SYSDIG_EVENTS",
            "-s",
            &server.url,
            "--start-seq",
            lo,
            "--end-seq",
            hi,
        ];
        args.extend_from_slice(extra);
        jsreplay_env(&args, &env)
    };

    // The hunt pack: every hunt's rows.
    let o = from_stream("hunt", &["--format", "json"]);
    assert_ok(&o);
    let streamed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let exported = hunt_json(&window, &[]);
    let rows = |doc: &serde_json::Value| -> Vec<(String, serde_json::Value)> {
        doc["hunts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["name"].as_str().unwrap().to_string(),
                    h["results"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(rows(&streamed), rows(&exported));
    assert!(rows(&exported)
        .iter()
        .any(|(_, r)| !r.as_array().unwrap().is_empty()));

    // A timeline and a process tree.
    let o = from_stream("timeline", &["--host", "web-01", "--format", "csv"]);
    assert_ok(&o);
    let t = jsreplay(&[
        "timeline",
        window.to_str().unwrap(),
        "--host",
        "web-01",
        "--format",
        "csv",
    ]);
    assert_ok(&t);
    assert_eq!(o.stdout, t.stdout);
    assert!(t.stdout.len() > 1000);
    let pid = query_json(
        &window,
        "SELECT proc_pid AS n FROM events WHERE collector_id = 'web-01' AND proc_name = 'bash' ORDER BY seq LIMIT 1",
    )[0]["n"]
        .to_string();
    let o = from_stream(
        "tree",
        &["--host", "web-01", "--pid", &pid, "--format", "json"],
    );
    assert_ok(&o);
    let t = jsreplay(&[
        "tree",
        window.to_str().unwrap(),
        "--host",
        "web-01",
        "--pid",
        &pid,
        "--format",
        "json",
    ]);
    assert_ok(&t);
    assert_eq!(o.stdout, t.stdout);

    // SQL from a pipe over the window.
    let sql = "SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi FROM events;\n";
    let o = jsreplay_stdin(
        &[
            "sql",
            "--stream",
            "SYSDIG_EVENTS",
            "-s",
            &server.url,
            "--start-seq",
            lo,
            "--end-seq",
            hi,
            "--format",
            "ndjson",
        ],
        &env,
        sql,
    );
    assert_ok(&o);
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(got["n"], 35001);
    assert_eq!(
        (got["lo"].as_i64(), got["hi"].as_i64()),
        (Some(5000), Some(40000))
    );

    // Nothing left behind; --keep keeps a whole dataset.
    let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let kept = tmp.path().join("kept");
    let o = from_stream("hunt", &["--keep", kept.to_str().unwrap()]);
    assert_ok(&o);
    check_manifest(&kept);
    assert_eq!(seqs(&kept), seqs(&window));
    // A stream that does not exist is exit 4, still leaving nothing.
    let o = jsreplay_env(&["hunt", "--stream", "NOPE", "-s", &server.url], &env);
    assert_code(&o, 4, "NOPE");
    assert!(std::fs::read_dir(&scratch).unwrap().next().is_none());
}
both_servers!(stream_answers_equal_the_export);

/// After the window is read, SIGTERM and (outside the interactive shell) SIGINT still end a
/// `--stream` command, with exit 143 / 130 and its temporary dataset removed: `sql --stream`
/// waiting on an open pipe survived both once (the export's handlers stayed installed and
/// nothing listened). A dead process's leftover window folder is swept by the next run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_end_a_stream_command_after_the_export() {
    use std::io::Read;
    let server = Server::start(Kind::V2_14);
    publish_file(
        &server.url,
        &repo_root().join("sample-data/incident.ndjson.zst"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().join("tmp");
    std::fs::create_dir(&scratch).unwrap();
    let stale = scratch.join("jsreplay-window-999999999-00000000000000ab");
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("left"), b"x").unwrap();
    for (signal, code) in [(libc::SIGTERM, 143), (libc::SIGINT, 130)] {
        let mut cmd = Run::new([
            "sql",
            "--stream",
            "SYSDIG_EVENTS",
            "-s",
            &server.url,
            "--end-seq",
            "2000",
        ])
        .env("TMPDIR", &scratch)
        .command();
        // stdin stays an open pipe: the shell waits on it.
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The window is read when its dataset's manifest is there; the shell then waits on
        // the open pipe.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let window = loop {
            let found = std::fs::read_dir(&scratch)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|p| p != &stale && p.join("window/manifest.json").exists());
            if let Some(w) = found {
                break w;
            }
            assert!(std::time::Instant::now() < deadline, "no window read");
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert!(!stale.exists(), "the dead run's folder was not swept");
        std::thread::sleep(std::time::Duration::from_millis(500));
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(child.id() as i32, signal) };
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if started.elapsed() > std::time::Duration::from_secs(10) {
                let _ = child.kill();
                panic!("signal {signal} did not end `sql --stream`");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(status.code(), Some(code), "{err}");
        assert!(!window.exists(), "{} left behind: {err}", window.display());
        drop(child.stdin.take());
    }
}
