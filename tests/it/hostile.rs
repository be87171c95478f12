//! Tried as an intruder with a monitored host's collector credentials would: publish forged
//! `Nats-*` headers and hostile text against real servers, then check what the evidence is
//! afterwards, row by row, and what a responder's terminal, Markdown and HTML would show.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::both_servers;
use crate::util::*;

const STREAM: &str = "SYSDIG_EVENTS";

fn batch(host: &str, from: u64, n: u64) -> Vec<(String, Vec<u8>)> {
    (from..from + n)
        .map(|i| (format!("events.sysdig.{host}"), template(host, i)))
        .collect()
}

/// Asserts that the dataset or archive in `dir` holds sequences 1..=`last`, each once.
#[track_caller]
fn assert_seqs(dir: &Path, last: i64, why: &str) {
    let mut seqs: Vec<i64> = read_rows(dir).iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=last).collect::<Vec<i64>>(), "{why}");
}

/// Runs `export` of the test stream from `url` into `out` with `extra` flags.
fn export(url: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "export",
        "-s",
        url,
        "--stream",
        STREAM,
        "-o",
        out.to_str().unwrap(),
        "-q",
    ];
    args.extend_from_slice(extra);
    jsreplay(&args)
}

/// Runs `archive` of the test stream from `url` into `dest` with `extra` flags.
fn archive(url: &str, dest: &Path, extra: &[&str]) -> std::process::Output {
    let dest = dest.to_str().unwrap();
    let mut args = vec!["archive", "-s", url, "--stream", STREAM, "--to", dest, "-q"];
    args.extend_from_slice(extra);
    jsreplay(&args)
}

/// One message whose publisher wrote the server's header names with lies in them.
async fn publish_forged(js: &async_nats::jetstream::Context, n: u64) -> u64 {
    let mut h = async_nats::HeaderMap::new();
    h.insert("Nats-Sequence", "1");
    h.insert("Nats-Time-Stamp", "2001-01-01T00:00:00Z");
    h.insert("Nats-Subject", "events.sysdig.db-01");
    h.insert("Nats-Stream", "ELSEWHERE");
    h.insert("Nats-Num-Pending", "0");
    h.insert("X-Collector", "web-01");
    js.publish_with_headers("events.sysdig.web-01", h, template("web-01", n).into())
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence
}

/// The forged row as the dataset holds it: (subject, headers JSON).
fn forged_row(dataset: &Path, seq: u64) -> (String, serde_json::Value) {
    let rows = query_json(
        dataset,
        &format!("SELECT subject, headers FROM events WHERE seq = {seq}"),
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    let headers: serde_json::Value =
        serde_json::from_str(rows[0]["headers"].as_str().expect("headers kept")).unwrap();
    (rows[0]["subject"].as_str().unwrap().to_string(), headers)
}

/// The server's word wins: a time seek lands on the right sequence, both read paths keep the
/// forged message as its own row with the server's subject and sequence, and the forged
/// header values stay as data; an archive run keeps every sequence once.
async fn forged_server_headers(kind: Kind) {
    let (server, js) = server_with_stream(kind, STREAM).await;
    publish(&js, &batch("web-01", 0, 200)).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let forged = publish_forged(&js, 200).await;
    assert_eq!(forged, 201);
    publish(&js, &batch("app-01", 201, 20)).await;
    let since = rfc3339_ns(stored_time_ns(&js, STREAM, forged).await);

    let o = jsreplay(&[
        "plan",
        "-s",
        &server.url,
        "--stream",
        STREAM,
        "--since",
        &since,
        "--json",
    ]);
    assert_ok(&o);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plan["range"][0], forged, "{plan}");

    let tmp = tempfile::tempdir().unwrap();
    let mut paths = vec!["consumer"];
    if kind == Kind::V2_14 {
        paths.push("direct");
    }
    for path in paths {
        let out = tmp.path().join(path);
        let o = export(&server.url, &out, &["--since", &since, "--read-path", path]);
        assert_ok(&o);
        let m = check_manifest(&out);
        assert_eq!(m["gap_messages"], 0, "{path}: {m}");
        let got: Vec<i64> = read_rows(&out).iter().map(|r| r.seq).collect();
        assert_eq!(got, (201..=221).collect::<Vec<i64>>(), "{path}");
        let (subject, headers) = forged_row(&out, forged);
        assert_eq!(subject, "events.sysdig.web-01", "{path}");
        assert_eq!(headers["Nats-Sequence"], serde_json::json!(["1"]), "{path}");
        assert_eq!(
            headers["Nats-Stream"],
            serde_json::json!(["ELSEWHERE"]),
            "{path}"
        );
        assert_eq!(
            headers["X-Collector"],
            serde_json::json!(["web-01"]),
            "{path}"
        );
        // The server's own reply headers are provenance, not the message's headers.
        assert_eq!(
            headers["Nats-Num-Pending"],
            serde_json::json!(["0"]),
            "{path}"
        );
        let time = query_json(
            &out,
            &format!("SELECT CAST(nats_time AS BIGINT) AS t FROM events WHERE seq = {forged}"),
        );
        assert!(
            time[0]["t"].as_i64().unwrap() > 1_700_000_000_000_000,
            "{path}: {time:?}"
        );
    }

    let dest = tmp.path().join("archive");
    let o = archive(&server.url, &dest, &[]);
    assert_ok(&o);
    assert_seqs(&dest, 221, "every sequence once");
    let (subject, _) = forged_row(&dest, forged);
    assert_eq!(subject, "events.sysdig.web-01");
}
both_servers!(forged_server_headers);

/// A SysArmor template whose fields carry terminal escapes, markup and a spreadsheet formula.
fn hostile_event(n: u64, host: &str, pid: u64, ppid: u64, name: &str, cmdline: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"event": {
        "evt.num": n.to_string(),
        "evt.time": format!("2025-07-10T02:16:{:02}.000000000+0000", n % 60),
        "evt.type": "execve", "evt.dir": "<",
        "proc.pid": pid.to_string(), "proc.ppid": ppid.to_string(),
        "proc.name": name, "proc.cmdline": cmdline,
        "proc.pname": "bash", "proc.pcmdline": "bash",
        "user.name": "root", "user.uid": "0",
        "fd.name": "/etc/shadow",
    }, "hostname": host}))
    .unwrap()
}

const ESC_CMDLINE: &str =
    "curl http://x/\u{1b}[2J\u{1b}]0;owned\u{7}\nFAKE ROW | =cmd|' /C calc'!A0";
/// A collector id (the subject token) an intruder picked.
const MARKUP_HOST: &str = "w<!--<script>alert(1)</script>";

fn has_raw_controls(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| b == 0x1b || b == 0x07)
}

/// Human-facing outputs escape what an intruder wrote; programs' outputs keep it raw; nothing
/// panics on a single-file dataset or a closed pipe.
async fn hostile_text(kind: Kind) {
    let (server, js) = server_with_stream(kind, STREAM).await;
    let subject = format!("events.sysdig.{MARKUP_HOST}");
    publish(
        &js,
        &[
            (
                subject.clone(),
                hostile_event(1, MARKUP_HOST, 100, 1, "bash", "bash"),
            ),
            (
                subject.clone(),
                hostile_event(2, MARKUP_HOST, 200, 100, "cu\u{1b}[31mrl", ESC_CMDLINE),
            ),
            (
                subject.clone(),
                hostile_event(3, MARKUP_HOST, 200, 100, "curl", ESC_CMDLINE),
            ),
        ],
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let o = export(&server.url, &out, &[]);
    assert_ok(&o);
    let ds = out.to_str().unwrap();
    // Private by default: the dataset holds command lines.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), 0o700);
    assert_eq!(mode(&out.join("manifest.json")), 0o600);
    assert!(parquet_files(&out).iter().all(|p| mode(p) == 0o600));

    // Terminal tables: the escape bytes are shown, not sent.
    let o = jsreplay(&[
        "query",
        ds,
        "SELECT seq, proc_name, proc_cmdline FROM events ORDER BY seq",
    ]);
    assert_ok(&o);
    assert!(!has_raw_controls(&o.stdout), "{}", text(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("\\x1b[2J"), "{table}");
    assert!(!table.lines().any(|l| l.starts_with("FAKE ROW")), "{table}");

    // JSON keeps the raw value for programs.
    let rows = query_json(&out, "SELECT proc_cmdline FROM events WHERE seq = 2");
    assert_eq!(rows[0]["proc_cmdline"], ESC_CMDLINE);

    // CSV for spreadsheets: no formula, raw text otherwise.
    let csv = tmp.path().join("rows.csv");
    let o = jsreplay(&[
        "query",
        ds,
        "SELECT '=1+1' AS f, proc_cmdline FROM events WHERE seq = 2",
        "-o",
        csv.to_str().unwrap(),
    ]);
    assert_ok(&o);
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    assert!(csv_text.contains("'=1+1"), "{csv_text}");

    // Tree and timeline in the terminal.
    let o = jsreplay(&["tree", ds, "--host", MARKUP_HOST, "--pid", "200"]);
    assert_ok(&o);
    assert!(!has_raw_controls(&o.stdout), "{}", text(&o));
    let tree = String::from_utf8_lossy(&o.stdout);
    assert!(
        tree.contains(r"\x1b[2J\x1b]0;owned\x07\x0aFAKE ROW"),
        "{tree}"
    );
    let o = jsreplay(&["timeline", ds]);
    assert_ok(&o);
    assert!(!has_raw_controls(&o.stdout), "{}", text(&o));

    // Tree over one Parquet file (an inferred schema) does not panic.
    let file = parquet_files(&out).remove(0);
    let o = jsreplay(&[
        "tree",
        file.to_str().unwrap(),
        "--host",
        MARKUP_HOST,
        "--pid",
        "200",
    ]);
    assert_ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("[200]"),
        "{}",
        text(&o)
    );

    // Reports: Markdown escapes markup, HTML's embedded JSON cannot end its script element.
    for ext in ["md", "html"] {
        let report = tmp.path().join(format!("report.{ext}"));
        let o = jsreplay(&["hunt", ds, "--report", report.to_str().unwrap()]);
        assert!(o.status.code().is_some_and(|c| c == 0), "{}", text(&o));
        let body = std::fs::read_to_string(&report).unwrap();
        assert!(!has_raw_controls(body.as_bytes()), "{ext}");
        assert!(
            !body.contains("<!--<script>"),
            "{ext}: markup reached the report raw"
        );
        assert!(
            !body.contains("<script>alert"),
            "{ext}: markup reached the report raw"
        );
    }
    // And in a browser: the page's own script runs (chart drawn, nothing logged), the host name
    // is text, no element of an intruder's runs.
    let (dom, console) = render_in_chromium(&tmp.path().join("report.html"), tmp.path());
    assert!(console.is_empty(), "the page logged: {console:?}");
    assert!(
        dom.contains("data-chart=\"drawn\""),
        "the chart was not drawn"
    );
    assert!(
        !dom.contains("<script>alert"),
        "an intruder's script element is in the DOM"
    );
    assert!(
        dom.contains("w&lt;!--&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the host is shown as text"
    );

    // A Falco rule's output carries the intruder's fields into each hit's `message`: escaped in
    // the table and the report, raw in JSON.
    let rules = tmp.path().join("falco.yaml");
    std::fs::write(
        &rules,
        "- rule: Shadow read\n  desc: d\n  condition: fd.name = /etc/shadow and proc.pid = 200\n  \
         output: \"read by %proc.name (cmd=%proc.cmdline host=%evt.arg.host)\"\n  priority: ERROR\n",
    )
    .unwrap();
    let falco = ["--falco", rules.to_str().unwrap(), "--select", "falco"];
    let o = jsreplay(&[&["hunt", ds, "--rows"][..], &falco[..]].concat());
    assert_ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("read by"),
        "{}",
        text(&o)
    );
    assert!(!has_raw_controls(&o.stdout), "{}", text(&o));
    let report = tmp.path().join("falco.html");
    let o = jsreplay(
        &[
            &["hunt", ds, "--report", report.to_str().unwrap()][..],
            &falco[..],
        ]
        .concat(),
    );
    assert_ok(&o);
    assert!(!has_raw_controls(&std::fs::read(&report).unwrap()));
    let doc = hunt_json(Path::new(ds), &falco);
    let messages = hunt_named(&doc, "falco/shadow_read")["results"].to_string();
    assert!(messages.contains("\\u001b[2J"), "{messages}");

    // A hunt file from elsewhere can read the dataset and nothing more: no COPY … TO, no DDL.
    let hunts = tmp.path().join("hunts");
    std::fs::create_dir(&hunts).unwrap();
    let planted = tmp.path().join("planted.csv");
    std::fs::write(
        hunts.join("evil.sql"),
        format!(
            "-- title: evil\n-- severity: high\nCOPY (SELECT proc_cmdline FROM events) TO '{}' STORED AS CSV",
            planted.display()
        ),
    )
    .unwrap();
    std::fs::write(
        hunts.join("ddl.sql"),
        "-- title: ddl\n-- severity: high\nCREATE TABLE stolen AS SELECT * FROM events",
    )
    .unwrap();
    let o = jsreplay(&["hunt", ds, "--queries", hunts.to_str().unwrap()]);
    assert_code(&o, 5, "hunt(s) failed");
    assert!(!planted.exists(), "a hunt wrote a file");

    // `--json` into a closed pipe: no panic, the usual broken-pipe exit.
    for args in [
        vec!["hunt", ds, "--format", "json"],
        vec![
            "tree",
            ds,
            "--host",
            MARKUP_HOST,
            "--pid",
            "200",
            "--format",
            "json",
        ],
    ] {
        let mut child = Run::new(&args).spawn(Stdio::piped(), Stdio::piped());
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains("panicked"),
            "{args:?}: {}",
            text(&o)
        );
        assert_ne!(o.status.code(), Some(101), "{args:?}: {}", text(&o));
    }
}
both_servers!(hostile_text);

/// Publishes with the raw protocol: a header block that is only a status line, as a client
/// library would never send it. Returns after the server's PONG (the message is stored).
fn publish_status_line(port_url: &str, subject: &str, payload: &[u8]) {
    use std::io::{BufRead, BufReader, Write};
    let addr = port_url.trim_start_matches("nats://");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut info = String::new();
    reader.read_line(&mut info).unwrap();
    assert!(info.starts_with("INFO"), "{info}");
    let header = b"NATS/1.0 100 Idle Heartbeat\r\n\r\n";
    let mut frame = format!(
        "CONNECT {{\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true}}\r\nHPUB {subject} {} {}\r\n",
        header.len(),
        header.len() + payload.len()
    )
    .into_bytes();
    frame.extend_from_slice(header);
    frame.extend_from_slice(payload);
    frame.extend_from_slice(b"\r\nPING\r\n");
    conn.write_all(&frame).unwrap();
    let mut line = String::new();
    // A server that refuses the frame answers -ERR and may close: the test then checks that
    // nothing was lost rather than how the message reads.
    loop {
        line.clear();
        let n = reader.read_line(&mut line).unwrap_or(0);
        if n == 0 || line.starts_with("PONG") || line.starts_with("-ERR") {
            break;
        }
    }
}

/// A stored message whose header block is a status line: async-nats takes it for a heartbeat
/// (2.9.10 stores it verbatim), which used to make every export of a window holding it fail
/// after its retries. Now it is a row, its status line kept as data; on a server that does not
/// store it so, nothing is lost either.
async fn status_line_message(kind: Kind) {
    let (server, js) = server_with_stream(kind, STREAM).await;
    publish(&js, &batch("web-01", 0, 50)).await;
    publish_status_line(&server.url, "events.sysdig.web-01", &template("web-01", 50));
    publish(&js, &batch("web-01", 51, 49)).await;
    let last = js
        .get_stream(STREAM)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .last_sequence;
    let tmp = tempfile::tempdir().unwrap();
    let mut paths = vec!["consumer"];
    if kind == Kind::V2_14 {
        paths.push("direct");
    }
    for path in paths {
        for tail in [false, true] {
            // The whole stream, and a window that ends at the status-line message.
            let out = tmp.path().join(format!("{path}-{tail}"));
            let end = if tail {
                "51".to_string()
            } else {
                last.to_string()
            };
            let o = export(&server.url, &out, &["--end-seq", &end, "--read-path", path]);
            assert_ok(&o);
            let m = check_manifest(&out);
            assert_eq!(m["gap_messages"], 0, "{path}: {m}");
            let got: Vec<i64> = read_rows(&out).iter().map(|r| r.seq).collect();
            let end: i64 = end.parse().unwrap();
            assert_eq!(got, (1..=end).collect::<Vec<i64>>(), "{path}");
            if kind == Kind::V2_9 {
                let rows = query_json(&out, "SELECT headers FROM events WHERE seq = 51");
                let h = rows[0]["headers"].as_str().unwrap_or_default();
                assert!(h.contains("100 Idle Heartbeat"), "{path}: {rows:?}");
            }
        }
    }
}
both_servers!(status_line_message);

/// `verify` holds a dataset and an archive to their accounts: untouched they pass; one flipped
/// byte, a planted file, a manifest pointing outside, or a missing part is a finding and exit 8.
async fn verify_catches_tampering(kind: Kind) {
    let (server, js) = server_with_stream(kind, STREAM).await;
    publish(&js, &batch("web-01", 0, 300)).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let ds = out.to_str().unwrap();
    let o = export(&server.url, &out, &[]);
    assert_ok(&o);
    let o = jsreplay(&["verify", ds, "--json"]);
    assert_ok(&o);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["rows"], 300, "{report}");
    assert_eq!(report["problems"], serde_json::json!([]));

    // One flipped byte in the middle of a part.
    let part = parquet_files(&out).remove(0);
    let original = std::fs::read(&part).unwrap();
    let mut flipped = original.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    std::fs::write(&part, &flipped).unwrap();
    let o = jsreplay(&["verify", ds]);
    assert_code(&o, 8, "SHA-256");
    std::fs::write(&part, &original).unwrap();
    assert_ok(&jsreplay(&["verify", ds]));

    // A planted part, then a manifest that points outside the dataset.
    let planted = part.with_file_name("part-planted.parquet");
    std::fs::copy(&part, &planted).unwrap();
    assert_code(&jsreplay(&["verify", ds]), 8, "no manifest lists it");
    std::fs::remove_file(&planted).unwrap();
    let manifest_path = out.join("manifest.json");
    let original_manifest = std::fs::read_to_string(&manifest_path).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&original_manifest).unwrap();
    m["files"][0]["path"] = serde_json::json!("../../etc/passwd");
    std::fs::write(&manifest_path, serde_json::to_vec(&m).unwrap()).unwrap();
    let o = jsreplay(&["verify", ds]);
    assert_code(&o, 8, "outside the destination");
    std::fs::write(&manifest_path, original_manifest).unwrap();

    // An archive: untouched it passes; a deleted part is missing.
    let dest = tmp.path().join("archive");
    let dest_s = dest.to_str().unwrap();
    let o = archive(&server.url, &dest, &["--chunk", "100"]);
    assert_ok(&o);
    let o = jsreplay(&["verify", dest_s, "--json"]);
    assert_ok(&o);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["kind"], "archive");
    assert_eq!(report["rows"], 300, "{report}");
    std::fs::remove_file(parquet_files(&dest).remove(0)).unwrap();
    assert_code(&jsreplay(&["verify", dest_s]), 8, "is missing");
    // Loose Parquet with no manifest: readable, with a warning that nothing accounts for it.
    let loose = tmp.path().join("loose");
    std::fs::create_dir(&loose).unwrap();
    std::fs::copy(&part, loose.join("part.parquet")).unwrap();
    let o = jsreplay(&[
        "query",
        loose.to_str().unwrap(),
        "SELECT count(*) FROM events",
    ]);
    assert_ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("nothing accounts for its files"),
        "{}",
        text(&o)
    );

    // A folder that is neither.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_code(
        &jsreplay(&["verify", empty.to_str().unwrap()]),
        2,
        "nothing to verify",
    );
}
both_servers!(verify_catches_tampering);

/// Whoever can write the destination's metadata must not turn the archiver against other data:
/// a pending note or a compaction record naming something else is refused, not acted on; a
/// checkpoint moved back or on is refused; a folder that is not an archive is not archived
/// into; a stream deleted and made again under the same name is not appended to the old one's
/// archive.
async fn archive_metadata_tampering(kind: Kind) {
    let (server, js) = server_with_stream(kind, STREAM).await;
    publish(&js, &batch("web-01", 0, 300)).await;
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("archive");
    let dest_s = dest.to_str().unwrap();
    assert_ok(&archive(&server.url, &dest, &["--chunk", "100"]));
    let keep = dest.join("notes/keep.txt");
    std::fs::create_dir_all(keep.parent().unwrap()).unwrap();
    std::fs::write(&keep, b"not evidence, not ours").unwrap();

    // A pending note of an "uncommitted" chunk that names another object.
    let pending = dest.join("_jsreplay/pending.json");
    let note = serde_json::json!({"range": [301, 400], "objects": ["notes/keep.txt"], "written_at": "2026-11-30T00:00:00Z"});
    std::fs::write(&pending, note.to_string()).unwrap();
    let o = archive(&server.url, &dest, &[]);
    assert_code(&o, 1, "refusing to delete");
    assert!(
        keep.is_file(),
        "a tampered pending note deleted another object"
    );
    std::fs::remove_file(&pending).unwrap();

    // A compaction record that would delete it as a merged input.
    let part = parquet_files(&dest).remove(0);
    let part_rel = part
        .strip_prefix(&dest)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let record = serde_json::json!({"inputs": ["notes/keep.txt"], "output": part_rel, "rows": 1,
        "bytes_before": 1, "bytes_after": 1, "written_at": "2026-11-30T00:00:00Z"});
    let compacting = dest.join("_jsreplay/compacting.json");
    std::fs::write(&compacting, record.to_string()).unwrap();
    let o = jsreplay(&["compact", dest_s]);
    assert_code(&o, 1, "not an archive part");
    assert!(
        keep.is_file(),
        "a tampered compaction record deleted another object"
    );
    std::fs::remove_file(&compacting).unwrap();

    // A checkpoint moved back (would archive 201..=300 twice) or on (would hide 301..=400),
    // with its counts made to add up; and one that is not JSON. Archiving stops, verify tells.
    let checkpoint = dest.join("_jsreplay/checkpoint.json");
    let original = std::fs::read(&checkpoint).unwrap();
    publish(&js, &batch("web-01", 300, 100)).await;
    for (last, rows, gaps) in [(200, 200, 0), (400, 300, 100)] {
        let mut cp: serde_json::Value = serde_json::from_slice(&original).unwrap();
        cp["last_seq"] = last.into();
        cp["rows"] = rows.into();
        cp["gap_messages"] = gaps.into();
        std::fs::write(&checkpoint, cp.to_string()).unwrap();
        let o = archive(&server.url, &dest, &[]);
        assert_code(&o, 1, "does not match the archive's chunk manifests");
        let o = jsreplay(&["verify", dest_s]);
        assert_code(&o, 8, "the chunk manifests");
    }
    std::fs::write(&checkpoint, b"{\"last_seq\": ").unwrap();
    assert_code(
        &archive(&server.url, &dest, &[]),
        1,
        "is not a jsreplay checkpoint",
    );
    std::fs::write(&checkpoint, &original).unwrap();
    assert_seqs(&dest, 300, "nothing was archived meanwhile");

    // A folder that holds other data and no checkpoint.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("report.pdf"), b"%PDF").unwrap();
    let o = archive(&server.url, &foreign, &[]);
    assert_code(&o, 2, "holds no archive checkpoint");

    // The stream deleted and made again, with more messages than before.
    js.delete_stream(STREAM).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    create_stream(&js, STREAM).await;
    publish(&js, &batch("web-01", 0, 500)).await;
    let o = archive(&server.url, &dest, &[]);
    assert_code(&o, 1, "deleted and made again");
    assert_seqs(&dest, 300, "the old archive is unchanged");
}
both_servers!(archive_metadata_tampering);

/// An intruder's clock cannot steer the archive: event times years away are partitioned by the
/// JetStream time (and flagged), event times cycling over many hours cannot multiply the parts.
async fn hostile_event_times(kind: Kind) {
    let (server, js) = server_with_stream(kind, STREAM).await;
    let now = chrono::Utc::now();
    let msgs: Vec<(String, Vec<u8>)> = (0..900u64)
        .map(|i| {
            let t = match i % 3 {
                0 => chrono::DateTime::parse_from_rfc3339("2001-09-09T01:46:40Z")
                    .unwrap()
                    .to_utc(),
                1 => now - chrono::Duration::hours((i % 20) as i64),
                _ => now + chrono::Duration::days(5 * 365),
            };
            let body = serde_json::json!({"event": {
                "evt.num": i.to_string(),
                "evt.time": t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                "evt.type": "openat", "proc.pid": "42", "proc.name": "cat",
            }});
            (s_subject(i), serde_json::to_vec(&body).unwrap())
        })
        .collect();
    publish(&js, &msgs).await;
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("archive");
    let o = archive(&server.url, &dest, &["--parallel", "1"]);
    assert_ok(&o);
    assert_seqs(&dest, 900, "every sequence once");
    let parts = parquet_files(&dest).len();
    assert!(
        parts <= 66,
        "{parts} parts from one chunk: the cap did not hold"
    );
    // Far times: flagged, and in the partition of the day the server received them.
    let today = now.format("%Y-%m-%d").to_string();
    let rows = query_json(
        &dest,
        "SELECT dt, event_time_suspect AS s, count(*) AS n FROM events \
         WHERE event_time < TIMESTAMP '2002-01-01T00:00:00Z' OR event_time > now() + INTERVAL '1000 days' \
         GROUP BY 1, 2",
    );
    let total: i64 = rows.iter().map(|r| r["n"].as_i64().unwrap()).sum();
    assert_eq!(total, 600, "{rows:?}");
    assert!(
        rows.iter().all(|r| r["s"] == true
            && (r["dt"] == today.as_str() || r["dt"].as_str() > Some(today.as_str()))),
        "far event times must be flagged and partitioned near the JetStream time: {rows:?}"
    );
}
both_servers!(hostile_event_times);

fn s_subject(i: u64) -> String {
    format!("events.sysdig.h{}", i % 3)
}

/// A hunt that matches everything (an intruder's flood, or a broad hunt) still makes a report of
/// bounded size and time: the first 5,000 hit events are marked, and the report says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_of_a_hunt_matching_everything() {
    let (server, js) = server_with_stream(Kind::V2_14, STREAM).await;
    publish(&js, &batch("web-01", 0, 12_000)).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    assert_ok(&export(&server.url, &out, &[]));
    let hunts = tmp.path().join("hunts");
    std::fs::create_dir(&hunts).unwrap();
    std::fs::write(
        hunts.join("all.sql"),
        "-- title: everything\n-- severity: high\nSELECT seq, collector_id, proc_pid, event_time FROM events",
    )
    .unwrap();
    let report = tmp.path().join("r.html");
    let o = jsreplay(&[
        "hunt",
        out.to_str().unwrap(),
        "--queries",
        hunts.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_ok(&o);
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        html.contains("first 5000 of 12000 hit events"),
        "no cap note"
    );
    assert!(html.len() < 8 << 20, "{} bytes", html.len());

    // 1.2 million rows out of one hunt: `--format json` streams them (every row is there, the
    // document parses) while the process stays small; the table keeps the first rows only.
    std::fs::write(
        hunts.join("all.sql"),
        "-- title: everything, a hundred times\n-- severity: high\n\
         SELECT seq, collector_id, k FROM events CROSS JOIN (SELECT unnest(range(100)) AS k)",
    )
    .unwrap();
    let json = tmp.path().join("hits.json");
    let args = [
        "hunt",
        out.to_str().unwrap(),
        "--queries",
        hunts.to_str().unwrap(),
    ];
    let (status, peak_kib) = run_measured(
        Run::new(args)
            .args(["--format", "json"])
            .command()
            .stdout(std::fs::File::create(&json).unwrap()),
    );
    assert!(status.success());
    let doc: serde_json::Value =
        serde_json::from_reader(std::io::BufReader::new(std::fs::File::open(&json).unwrap()))
            .unwrap();
    let hunt = &doc["hunts"][0];
    assert_eq!(hunt["rows"], 1_200_000);
    assert_eq!(hunt["results"].as_array().unwrap().len(), 1_200_000);
    assert_eq!(hunt["results"][1_199_999]["k"], 99);
    assert_eq!(hunt["seqs"].as_array().unwrap().len(), 12_000);
    assert_eq!(doc["total_hits"], 1_200_000);
    let json_bytes = std::fs::metadata(&json).unwrap().len();
    eprintln!(
        "1.2 M rows as JSON ({} MiB): peak RSS {} MiB",
        json_bytes >> 20,
        peak_kib >> 10
    );
    // About 90 MiB on an idle machine; up to 257 MiB measured while a release build and the
    // Spark test ran beside it (DataFusion's partitions run ahead of a starved writer). Holding
    // the rows takes about 2 GB.
    assert!(
        peak_kib < 400 << 10,
        "peak RSS {} MiB for {} MiB of JSON: rows are held in memory",
        peak_kib >> 10,
        json_bytes >> 20
    );
    let o = jsreplay(&[&args[..], &["--rows"]].concat());
    assert_ok(&o);
    assert!(
        text(&o).contains("1190000 more rows not shown"),
        "{}",
        &text(&o)[..2000.min(text(&o).len())]
    );
}

/// Runs `cmd` to its end; returns its exit status and its peak resident set (KiB), from the
/// kernel's accounting of that one child (`wait4`).
fn run_measured(cmd: &mut Command) -> (std::process::ExitStatus, i64) {
    use std::os::unix::process::ExitStatusExt;
    // wait4 reaps the child: no zombie is left (clippy cannot see that).
    #[allow(clippy::zombie_processes)]
    let child = cmd.stdin(Stdio::null()).spawn().unwrap();
    let mut status = 0;
    // SAFETY: plain out-parameters for wait4 on a child this test spawned and has not waited for.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    (std::process::ExitStatus::from_raw(status), usage.ru_maxrss)
}

/// `n` messages of `size` bytes no compressor can shrink (xorshift noise).
fn incompressible(n: usize, size: usize) -> Vec<(String, Vec<u8>)> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            let payload: Vec<u8> = (0..size)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            ("events.sysdig.big".to_string(), payload)
        })
        .collect()
}

/// Large incompressible messages: an archive's chunks shrink so that a killed run redoes about
/// `--chunk-mib`, and every message still lands once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_chunks_are_bounded_by_bytes() {
    let (server, js) = server_with_stream(Kind::V2_14, STREAM).await;
    let msgs = incompressible(120, 256 * 1024);
    publish(&js, &msgs).await;
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("archive");
    let staging = tmp.path().join("staging");
    std::fs::create_dir(&staging).unwrap();
    let o = archive(
        &server.url,
        &dest,
        &[
            "--chunk-mib",
            "4",
            "--staging",
            staging.to_str().unwrap(),
            "--json",
        ],
    );
    assert_ok(&o);
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // 120 messages of 256 KiB (30 MiB) in chunks of at most 4 MiB: 8 chunks, not one.
    assert!(summary["chunks"].as_u64().unwrap() >= 8, "{summary}");
    assert_eq!(summary["rows"], 120);
    assert_eq!(
        std::fs::read_dir(&staging).unwrap().count(),
        0,
        "the private staging folder is removed"
    );
    let o = jsreplay(&["verify", dest.to_str().unwrap()]);
    assert_ok(&o);
}

/// Runs `archive` with `--staging` on a tmpfs of `mib` MiB mounted over `staging` in a private
/// mount namespace (the tests run as root on the CI machine).
fn archive_on_small_tmpfs(
    url: &str,
    dest: &Path,
    staging: &Path,
    mib: u32,
    part_mib: &str,
) -> std::process::Output {
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs -o "size=$1m,mode=0700" tmpfs "$2" && shift 2 && exec "$@""#)
        .arg("sh")
        .arg(mib.to_string())
        .arg(staging)
        .arg(env!("CARGO_BIN_EXE_jsreplay"))
        .args(["archive", "-s", url, "--stream", STREAM, "-q", "--json"])
        .args([
            "--to",
            dest.to_str().unwrap(),
            "--staging",
            staging.to_str().unwrap(),
        ])
        .args(["--part-mib", part_mib, "--parallel", "1"])
        .stdin(Stdio::null())
        .output()
        .expect("run unshare")
}

/// Parts go up as they close: 63 MiB of incompressible (almost) 1 MiB payloads in one chunk
/// archive through a staging filesystem of 20 MiB, and every message lands once. Staged whole,
/// the chunk does not fit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_stages_only_open_parts() {
    let (server, js) = server_with_stream(Kind::V2_14, STREAM).await;
    publish(&js, &incompressible(64, (1 << 20) - 1024)).await;
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("archive");
    let staging = tmp.path().join("staging");
    std::fs::create_dir(&staging).unwrap();
    let o = archive_on_small_tmpfs(&server.url, &dest, &staging, 20, "4");
    assert_ok(&o);
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["chunks"], 1, "{summary}");
    assert_eq!(summary["rows"], 64, "{summary}");
    // Parts of about 4 MiB (the message that crosses the bound still goes in).
    assert!(summary["files"].as_u64().unwrap() >= 12, "{summary}");
    assert_seqs(&dest, 64, "every sequence once");
    assert_ok(&jsreplay(&["verify", dest.to_str().unwrap()]));

    let whole = tmp.path().join("archive2");
    let o = archive_on_small_tmpfs(&server.url, &whole, &staging, 20, "4096");
    assert_code(&o, 1, "No space left on device");
}

/// CSV, JSON and NDJSON are formats for programs: raw into a pipe or a file. Written to a
/// terminal (`query --format csv` with nothing after it) a person reads them, so an event's
/// OSC/CSI sequences and bidirectional overrides are escaped there, as in a table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn program_formats_on_a_terminal_are_escaped() {
    let (server, js) = server_with_stream(Kind::V2_14, STREAM).await;
    publish(
        &js,
        &[(
            "events.sysdig.web-01".to_string(),
            hostile_event(1, "web-01", 100, 1, "cu\u{202e}lr", ESC_CMDLINE),
        )],
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("ds");
    assert_ok(&export(&server.url, &ds, &[]));
    let ds = ds.to_str().unwrap();
    for format in ["csv", "json", "ndjson"] {
        let args = [
            "query",
            ds,
            "SELECT proc_name, proc_cmdline FROM events",
            "--format",
            format,
        ];
        let piped = jsreplay(&args);
        assert_ok(&piped);
        let raw = String::from_utf8_lossy(&piped.stdout);
        assert!(raw.contains('\u{202e}'), "{format}: {raw}");
        if format == "csv" {
            assert!(has_raw_controls(&piped.stdout), "{format}: {raw}");
        }
        let mut t = crate::pty::Pty::spawn(Run::new(args).command(), 40);
        t.expect("\\u{202e}", 60);
        assert_eq!(t.wait(60), Some(0), "{}", t.screen());
        let screen = t.screen();
        assert!(!has_raw_controls(screen.as_bytes()), "{format}: {screen}");
        assert!(!screen.contains('\u{202e}'), "{format}: {screen}");
        assert!(screen.contains("\\x1b]0;owned"), "{format}: {screen}");
    }
}

/// `-o DIR` and `--keep DIR` refuse an existing folder somebody else controls: a link to an
/// empty folder, one other users can write to (they could plant links before the parts are
/// moved in), another user's (as root: one made for `nobody`). Nothing is written into any.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_folders_others_control_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let (server, js) = server_with_stream(Kind::V2_14, STREAM).await;
    publish(&js, &batch("web-01", 0, 50)).await;
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let open = tmp.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut cases = vec![
        (link.clone(), "symbolic link"),
        (open.clone(), "other users"),
    ];
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let theirs = tmp.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        cases.push((theirs, "another user"));
    }
    for (dir, why) in &cases {
        assert_code(&export(&server.url, dir, &[]), 2, why);
        let o = jsreplay(&[
            "hunt",
            "--stream",
            STREAM,
            "-s",
            &server.url,
            "--keep",
            dir.to_str().unwrap(),
        ]);
        assert_code(&o, 2, why);
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), 0, "{why}");
    }
    assert_eq!(std::fs::read_dir(&real).unwrap().count(), 0);
    // A folder of ours, as a newcomer makes it: fine.
    let mine = tmp.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_ok(&export(&server.url, &mine, &[]));
    assert_seqs(&mine, 50, "an export into a folder of ours");
}
