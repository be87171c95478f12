//! Exports against real servers, asserted by reading the Parquet back.

use std::time::Duration;

use crate::both_servers;
use crate::util::*;

const STREAM: &str = "SYSDIG_EVENTS";

fn s(v: &str) -> String {
    v.to_string()
}

async fn export_args(
    server: &Server,
    out: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        s("export"),
        s("-s"),
        server.url.clone(),
        s("--stream"),
        s(STREAM),
        s("-o"),
    ];
    args.push(out.display().to_string());
    args.extend(extra.iter().map(|a| a.to_string()));
    jsreplay_async(args).await
}

/// Messages on three collectors, with some invalid JSON among them.
fn mixed(n: u64) -> Vec<(String, Vec<u8>)> {
    (1..=n)
        .map(|i| {
            let host = ["web-01", "app-01", "db-01"][(i % 3) as usize];
            let payload = if i % 50 == 0 {
                b"{\"event\":{\"evt.num\":\"truncated".to_vec()
            } else {
                template(host, i)
            };
            (format!("events.sysdig.{host}"), payload)
        })
        .collect()
}

async fn seq_window(kind: Kind) {
    let server = Server::start(kind);
    let js = server.js().await;
    create_stream(&js, STREAM).await;
    let msgs = mixed(500);
    let published = publish(&js, &msgs).await;
    assert_eq!(published, (1..=500).collect::<Vec<u64>>());
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let o = export_args(
        &server,
        &out,
        &["--start-seq", "101", "--end-seq", "400", "--json", "-q"],
    )
    .await;
    assert_ok(&o);
    let m = check_manifest(&out);
    let rows = read_rows(&out);
    assert_eq!(
        rows.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (101..=400).collect::<Vec<i64>>()
    );
    for r in &rows {
        let (subject, payload) = &msgs[(r.seq - 1) as usize];
        assert_eq!(&r.subject, subject);
        assert_eq!(&r.payload, payload, "payload of seq {} changed", r.seq);
        let expect = if r.seq % 50 == 0 { "invalid" } else { "ok" };
        assert_eq!(r.parse_status, expect, "seq {}", r.seq);
    }
    assert_eq!(m["rows"], 300);
    assert_eq!(m["invalid"], 6); // 150, 200, …, 400
    assert_eq!(m["first_seq"], 101);
    assert_eq!(m["last_seq"], 400);
    assert!(m["server_version"]
        .as_str()
        .unwrap()
        .starts_with(kind.version_prefix()));
    assert_eq!(m["gaps"].as_array().unwrap().len(), 0);
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json prints JSON");
    assert_eq!(summary["rows"], 300);
    // Nothing left on the server.
    assert_eq!(consumer_count(&server.client().await, STREAM).await, 0);
}
both_servers!(seq_window);

/// The JetStream timestamp of a stored message, in nanoseconds.
async fn time_window(kind: Kind) {
    let server = Server::start(kind);
    let js = server.js().await;
    create_stream(&js, STREAM).await;
    // Three bursts, apart in time.
    for burst in 0..3u64 {
        let msgs: Vec<_> = (0..100)
            .map(|i| {
                (
                    s("events.sysdig.web-01"),
                    template("web-01", burst * 100 + i),
                )
            })
            .collect();
        publish(&js, &msgs).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // since = the exact stored time of seq 120; until = the exact stored time of seq 251 (exclusive).
    let since = stored_time_ns(&js, STREAM, 120).await;
    let until = stored_time_ns(&js, STREAM, 251).await;
    let before_until = stored_time_ns(&js, STREAM, 250).await;
    assert!(before_until < until, "timestamps must rise for this test");
    let first_at_since = {
        // The first sequence whose time is >= since (several messages may share a nanosecond).
        let mut seq = 120;
        while seq > 1 && stored_time_ns(&js, STREAM, seq - 1).await >= since {
            seq -= 1;
        }
        seq
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let o = export_args(
        &server,
        &out,
        &[
            "--since",
            &rfc3339_ns(since),
            "--until",
            &rfc3339_ns(until),
            "-q",
        ],
    )
    .await;
    assert_ok(&o);
    check_manifest(&out);
    let rows = read_rows(&out);
    let got: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    assert_eq!(got, (first_at_since as i64..=250).collect::<Vec<_>>());
    assert!(rows
        .iter()
        .all(|r| (r.nats_time_us as i128) * 1000 >= since - 999));

    // A window after the last message is empty, and says so.
    let out2 = tmp.path().join("empty");
    let o = export_args(&server, &out2, &["--since", "0s", "-q"]).await;
    assert_ok(&o);
    let m = check_manifest(&out2);
    assert_eq!(m["rows"], 0);
    assert!(m["range"].is_null());
    assert!(parquet_files(&out2).is_empty());
    // And querying the empty dataset works.
    let o = jsreplay(&[
        "query",
        out2.to_str().unwrap(),
        "SELECT count(*) AS n FROM events",
        "--format",
        "csv",
        "-q",
    ]);
    assert_ok(&o);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "n\n0");

    // Sequences past the end: empty too.
    let out3 = tmp.path().join("past");
    let o = export_args(&server, &out3, &["--start-seq", "1000", "-q"]).await;
    assert_ok(&o);
    assert_eq!(check_manifest(&out3)["rows"], 0);
}
both_servers!(time_window);

async fn subject_filters(kind: Kind) {
    let server = Server::start(kind);
    let js = server.js().await;
    create_stream(&js, STREAM).await;
    let msgs = mixed(300);
    publish(&js, &msgs).await;
    let tmp = tempfile::tempdir().unwrap();
    let expect = |hosts: &[&str]| -> Vec<i64> {
        msgs.iter()
            .enumerate()
            .filter(|(_, (s, _))| hosts.iter().any(|h| s.ends_with(h)))
            .map(|(i, _)| i as i64 + 1)
            .collect()
    };
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["events.sysdig.web-01"], vec!["web-01"]),
        (
            vec!["events.sysdig.web-01", "events.sysdig.db-01"],
            vec!["web-01", "db-01"],
        ),
        (
            vec!["events.sysdig.*", "events.sysdig.db-01"],
            vec!["web-01", "db-01", "app-01"],
        ),
        (vec!["events.>"], vec!["web-01", "db-01", "app-01"]),
        (vec!["events.sysdig.nobody"], vec![]),
    ];
    for (i, (filters, hosts)) in cases.iter().enumerate() {
        let out = tmp.path().join(format!("f{i}"));
        let mut extra = vec!["-q", "--start-seq", "2"];
        for f in filters {
            extra.push("--subject");
            extra.push(f);
        }
        let o = export_args(&server, &out, &extra).await;
        assert_ok(&o);
        let m = check_manifest(&out);
        let want: Vec<i64> = expect(hosts).into_iter().filter(|s| *s >= 2).collect();
        assert_eq!(seqs(&out), want, "filters {filters:?}");
        assert_eq!(
            m["gaps"].as_array().unwrap().len(),
            0,
            "filters {filters:?}: {m:#}"
        );
        assert_eq!(m["filtered_out"].as_u64().unwrap(), 299 - want.len() as u64);
    }
    assert_eq!(consumer_count(&server.client().await, STREAM).await, 0);
}
both_servers!(subject_filters);

/// A server whose stream holds `mixed(n)` with the sequences in `deleted` deleted.
async fn stream_with_deletions(kind: Kind, n: u64, deleted: &[u64]) -> Server {
    let server = Server::start(kind);
    let js = server.js().await;
    let stream = create_stream(&js, STREAM).await;
    publish(&js, &mixed(n)).await;
    for &seq in deleted {
        assert!(stream.delete_message(seq).await.unwrap());
    }
    server
}

async fn gaps_from_deleted(kind: Kind) {
    let server = stream_with_deletions(kind, 200, &[1, 2, 10, 11, 12, 77, 150, 200]).await;
    let tmp = tempfile::tempdir().unwrap();
    // Whole stream from seq 1: 1-2 are below the first sequence now, 200 is the last one deleted.
    let out = tmp.path().join("all");
    let o = export_args(
        &server,
        &out,
        &["-q", "--start-seq", "1", "--end-seq", "200"],
    )
    .await;
    assert_ok(&o);
    let m = check_manifest(&out);
    let gaps = gap_list(&m);
    // Asked for 1..=200: 1-2 (below the stream's first sequence now) and 200 (deleted last
    // message; last_seq stays 200) are gaps like the interior deletions.
    assert_eq!(m["range"], serde_json::json!({"first": 1, "last": 200}));
    assert_eq!(
        gaps,
        vec![(1, 2), (10, 12), (77, 77), (150, 150), (200, 200)]
    );
    let want: Vec<i64> = (3..=199)
        .filter(|s| ![10, 11, 12, 77, 150].contains(s))
        .collect();
    assert_eq!(seqs(&out), want);

    // With a subject filter, deleted messages are gaps and other subjects are filtered out.
    let out = tmp.path().join("web");
    let o = export_args(
        &server,
        &out,
        &[
            "-q",
            "--subject",
            "events.sysdig.web-01",
            "--start-seq",
            "5",
            "--end-seq",
            "160",
        ],
    )
    .await;
    assert_ok(&o);
    let m = check_manifest(&out);
    let gaps = gap_list(&m);
    // Every deleted sequence inside the range is a gap, whatever its subject.
    assert_eq!(gaps, vec![(10, 12), (77, 77), (150, 150)], "{m:#}");
    let want: Vec<i64> = (5..=160)
        .filter(|s| s % 3 == 0 && ![10, 11, 12, 77, 150].contains(s))
        .collect();
    assert_eq!(seqs(&out), want);
}
both_servers!(gaps_from_deleted);

async fn errors_are_clear(kind: Kind) {
    let server = Server::start(kind);
    let js = server.js().await;
    create_stream(&js, STREAM).await;
    publish(&js, &mixed(10)).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x");
    let out_s = out.display().to_string();

    let o = jsreplay(&[
        "export",
        "-s",
        &server.url,
        "--stream",
        "NOPE",
        "-o",
        &out_s,
    ]);
    assert_code(&o, 4, "stream \"NOPE\" not found");
    assert!(!out.exists(), "no output directory for a failed export");

    let dead = format!("nats://127.0.0.1:{}", free_port());
    let o = jsreplay(&["export", "-s", &dead, "--stream", STREAM, "-o", &out_s]);
    assert_code(&o, 3, "cannot connect");

    let o = jsreplay(&[
        "export",
        "-s",
        &server.url,
        "--since",
        "yesterday",
        "-o",
        &out_s,
    ]);
    assert_code(&o, 2, "cannot read time");
    let o = jsreplay(&[
        "export",
        "-s",
        &server.url,
        "--start-seq",
        "9",
        "--end-seq",
        "3",
        "-o",
        &out_s,
    ]);
    assert_code(&o, 2, "before --start-seq");
    let o = jsreplay(&["export", "-s", &server.url, "--bogus", "-o", &out_s]);
    assert_code(&o, 2, "--bogus");

    // A non-empty output directory is refused, and left alone.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let o = jsreplay(&["export", "-s", &server.url, "-o", &out_s]);
    assert_code(&o, 2, "not empty");
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).unwrap(),
        "mine"
    );

    // plan reads nothing and says what an export would read.
    let o = jsreplay(&[
        "plan",
        "-s",
        &server.url,
        "--stream",
        STREAM,
        "--start-seq",
        "3",
        "--json",
    ]);
    assert_ok(&o);
    let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(p["range"], serde_json::json!([3, 10]));
    assert_eq!(p["estimated_messages"], 8);
    assert_eq!(consumer_count(&server.client().await, STREAM).await, 0);
}
both_servers!(errors_are_clear);

async fn interrupted_run_leaves_nothing(kind: Kind) {
    let server = Server::start(kind);
    let js = server.js().await;
    create_stream(&js, STREAM).await;
    let msgs: Vec<_> = (0..150_000u64)
        .map(|i| (s("events.sysdig.web-01"), template("web-01", i)))
        .collect();
    publish(&js, &msgs).await;
    let client = server.client().await;
    assert_eq!(consumer_count(&client, STREAM).await, 0);
    for signal in ["INT", "TERM"] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("ds");
        let child = Run::new(["export", "-s", &server.url, "--stream", STREAM, "-q", "-o"])
            .args([&out])
            .spawn(std::process::Stdio::inherit(), std::process::Stdio::piped());
        // Wait until the export is reading (its consumer exists), then signal it.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while consumer_count(&client, STREAM).await == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "export never started reading"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let pid = child.id().to_string();
        assert!(std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap()
            .success());
        let status = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        let code = if signal == "INT" { 130 } else { 143 };
        assert_eq!(
            status.status.code(),
            Some(code),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        assert!(!out.join("manifest.json").exists());
        assert!(!out.exists() || parquet_files(&out).is_empty());
        assert!(
            !out.exists(),
            "the output directory the run created is removed again"
        );
        assert_eq!(
            consumer_count(&client, STREAM).await,
            0,
            "consumer left after SIG{signal}"
        );
    }
}
both_servers!(interrupted_run_leaves_nothing);

async fn odd_payloads(kind: Kind) {
    // A server that accepts 4 MiB messages.
    let server = Server::start_with(kind, "max_payload: 4194304");
    let client = server.client().await;
    let js = async_nats::jetstream::new(client.clone());
    create_stream(&js, STREAM).await;
    let big: Vec<u8> = template("web-01", 1)
        .into_iter()
        .chain(std::iter::repeat_n(b' ', 3 << 20))
        .collect();
    let payloads: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0xff, 0xfe, 0x00, 0x80],
        b"\xEF\xBB\xBF"
            .iter()
            .copied()
            .chain(template("web-01", 2))
            .collect(),
        "{\"event\":{\"proc.name\":\"caf\u{e9}\",\"evt.num\":\"1\"}}"
            .as_bytes()
            .to_vec(),
        big.clone(),
        b"[1,2,3]".to_vec(),
        b"{\"something\":\"else\"}".to_vec(),
    ];
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "abc");
    headers.append("X-Trace", "1");
    headers.append("X-Trace", "2");
    for p in &payloads {
        js.publish("events.sysdig.web-01", p.clone().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    js.publish_with_headers(
        "events.sysdig.web-01",
        headers,
        template("web-01", 9).into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let o = export_args(&server, &out, &["-q"]).await;
    assert_ok(&o);
    let m = check_manifest(&out);
    let rows = read_rows(&out);
    assert_eq!(rows.len(), payloads.len() + 1);
    for (r, p) in rows.iter().zip(&payloads) {
        assert_eq!(&r.payload, p, "seq {} changed", r.seq);
    }
    let statuses: Vec<&str> = rows.iter().map(|r| r.parse_status.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "invalid",
            "invalid",
            "ok",
            "ok",
            "ok",
            "unknown_shape",
            "unknown_shape",
            "ok"
        ]
    );
    assert_eq!(m["invalid"], 2);
    // Headers are kept, repeated values included.
    let o = jsreplay(&[
        "query",
        out.to_str().unwrap(),
        "SELECT headers, proc_name FROM events WHERE headers IS NOT NULL OR proc_name = 'café'",
        "--format",
        "json",
        "-q",
    ]);
    assert_ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["proc_name"], "café");
    let h: serde_json::Value = serde_json::from_str(v[1]["headers"].as_str().unwrap()).unwrap();
    assert_eq!(h["X-Trace"], serde_json::json!(["1", "2"]));
    assert_eq!(h["Nats-Msg-Id"], serde_json::json!(["abc"]));
}
both_servers!(odd_payloads);

/// The parallel export of a window equals the 1-worker export row for row, with gaps at slice
/// edges and a subject filter.
async fn parallel_equals_single(kind: Kind) {
    // Slices of 1..=20000 in 4 are 1-5000, 5001-10000, …: delete around every edge and at both ends.
    let edges = [
        1, 4999, 5000, 5001, 10000, 10001, 10002, 15001, 19999, 20000,
    ];
    let server = stream_with_deletions(kind, 20_000, &edges).await;
    let tmp = tempfile::tempdir().unwrap();
    // Direct gets (2.14) too: pipelined 1,000-sequence requests whose edges meet the deletions,
    // and (db-01 is every third message) the fall-back to one request at a time.
    let mut runs = vec![("consumer", "1"), ("consumer", "4"), ("consumer", "7")];
    if kind == Kind::V2_14 {
        runs.extend([("direct", "1"), ("direct", "4")]);
    }
    for filter in [None, Some("events.sysdig.db-01")] {
        let mut datasets = Vec::new();
        for &(path, workers) in &runs {
            let out = tmp
                .path()
                .join(format!("{path}-w{workers}-{}", filter.is_some()));
            let mut extra = vec![
                "-q",
                "--start-seq",
                "1",
                "--end-seq",
                "20000",
                "--parallel",
                workers,
                "--read-path",
                path,
                "--json",
            ];
            if let Some(f) = filter {
                extra.extend(["--subject", f]);
            }
            let o = export_args(&server, &out, &extra).await;
            assert_ok(&o);
            let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(
                summary["workers"].as_u64().unwrap(),
                workers.parse::<u64>().unwrap()
            );
            let m = check_manifest(&out);
            let rows: Vec<(i64, Vec<u8>)> = read_rows(&out)
                .into_iter()
                .map(|r| (r.seq, r.payload))
                .collect();
            datasets.push((gap_list(&m), m["filtered_out"].clone(), rows));
        }
        let (gaps, _, rows) = &datasets[0];
        assert_eq!(
            gaps,
            &vec![
                (1, 1),
                (4999, 5001),
                (10000, 10002),
                (15001, 15001),
                (19999, 20000)
            ]
        );
        assert!(
            rows.windows(2).all(|w| w[0].0 < w[1].0),
            "rows in sequence order"
        );
        for (other, run) in datasets[1..].iter().zip(&runs[1..]) {
            assert!(
                other == &datasets[0],
                "{run:?} differs from the 1-worker consumer export (filter {filter:?})"
            );
        }
    }
    assert_eq!(consumer_count(&server.client().await, STREAM).await, 0);
}
both_servers!(parallel_equals_single);

/// Direct gets of messages too large for a whole batch: each 1,000-sequence request is cut by the
/// 1 MiB reply limit and the rest of its range asked again, across deletions at request edges,
/// for the whole stream and for a sparse subject; the rows equal the consumer path's.
async fn direct_batches_cut_by_bytes(kind: Kind) {
    if kind == Kind::V2_9 {
        return; // no batched direct gets before 2.11
    }
    let server = Server::start(kind);
    let js = server.js().await;
    let stream = create_stream(&js, STREAM).await;
    let msgs: Vec<(String, Vec<u8>)> = (1..=3500u64)
        .map(|i| {
            let host = if i % 97 == 0 { "rare-01" } else { "web-01" };
            let mut payload = template(host, i);
            // ~3 KB per message: about 330 fit in a 1 MiB batch.
            payload.extend(std::iter::repeat_n(b' ', 3000));
            (format!("events.sysdig.{host}"), payload)
        })
        .collect();
    publish(&js, &msgs).await;
    let deleted = [999, 1000, 1001, 2000, 2001, 2002, 2003, 3500];
    for seq in deleted {
        assert!(stream.delete_message(seq).await.unwrap());
    }
    let tmp = tempfile::tempdir().unwrap();
    for filter in [None, Some("events.sysdig.rare-01")] {
        let mut got = Vec::new();
        for path in ["consumer", "direct"] {
            let out = tmp.path().join(format!("{path}-{}", filter.is_some()));
            let mut extra = vec!["-q", "--start-seq", "1", "--read-path", path];
            if let Some(f) = filter {
                extra.extend(["--subject", f]);
            }
            let o = export_args(&server, &out, &extra).await;
            assert_ok(&o);
            let m = check_manifest(&out);
            got.push((gap_list(&m), read_rows(&out)));
        }
        let expected: Vec<i64> = (1..=3500i64)
            .filter(|s| !deleted.contains(&(*s as u64)))
            .filter(|s| filter.is_none() || s % 97 == 0)
            .collect();
        for (gaps, rows) in &got {
            let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
            assert_eq!(seqs, expected, "filter {filter:?}");
            if filter.is_none() {
                assert_eq!(gaps, &vec![(999, 1001), (2000, 2003), (3500, 3500)]);
            }
        }
        let payloads = |i: usize| got[i].1.iter().map(|r| &r.payload).collect::<Vec<_>>();
        assert!(
            payloads(0) == payloads(1),
            "payloads differ (filter {filter:?})"
        );
    }
}
both_servers!(direct_batches_cut_by_bytes);

/// Work-queue streams are read with direct gets, which leave the stream as it was; servers
/// without batched direct gets refuse clearly.
async fn work_queue_stream(kind: Kind) {
    let server = Server::start(kind);
    let js = server.js().await;
    js.create_stream(async_nats::jetstream::stream::Config {
        name: STREAM.to_string(),
        subjects: vec!["events.sysdig.*".to_string()],
        retention: async_nats::jetstream::stream::RetentionPolicy::WorkQueue,
        allow_direct: true,
        ..Default::default()
    })
    .await
    .unwrap();
    publish(&js, &mixed(300)).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("wq");
    let o = export_args(&server, &out, &["-q", "--parallel", "3"]).await;
    let client = server.client().await;
    let (state, _) =
        jsreplay::nats::api::stream_state(&client, STREAM, jsreplay::nats::api::Deleted::Omit)
            .await
            .unwrap();
    assert_eq!(
        state.messages, 300,
        "the export must not consume a work queue"
    );
    match kind {
        Kind::V2_9 => assert_code(&o, 2, "workqueue retention"),
        Kind::V2_14 => {
            assert_ok(&o);
            let m = check_manifest(&out);
            assert_eq!(m["read_path"], "direct");
            assert_eq!(seqs(&out), (1..=300).collect::<Vec<i64>>());
            let o = export_args(
                &server,
                &tmp.path().join("c"),
                &["-q", "--read-path", "consumer"],
            )
            .await;
            assert_code(&o, 2, "retention");
        }
    }
    let o = jsreplay(&["plan", "-s", &server.url, "--read-path", "direct"]);
    match kind {
        Kind::V2_9 => assert_code(&o, 2, "no batched direct get"),
        Kind::V2_14 => assert_ok(&o),
    }
}
both_servers!(work_queue_stream);

/// A `%` in the stream name: released servers cannot answer pull requests on such a stream
/// (2.10+ subscribe the next-message subject with the `%` doubled, 2.9 breaks its ack reply
/// subjects), which once cost a failed consumer and a back-off per message (309 s for 3,000).
/// The default path reads it with direct gets where the server has them; `--read-path
/// consumer` and 2.9 read it with one `STREAM.MSG.GET` each: every row, no retry, with a
/// warning that says why it is slower.
async fn percent_in_the_stream_name(kind: Kind) {
    let server = Server::start(kind);
    let js = server.js().await;
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "EV%41".to_string(),
        subjects: vec!["events.sysdig.*".to_string()],
        allow_direct: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let msgs: Vec<(String, Vec<u8>)> = (0..3000)
        .map(|i| ("events.sysdig.web-01".to_string(), template("web-01", i)))
        .collect();
    publish(&js, &msgs).await;
    let tmp = tempfile::tempdir().unwrap();
    for (i, path) in ["auto", "consumer"].iter().enumerate() {
        let out = tmp.path().join(format!("o{i}"));
        let o = jsreplay(&[
            "export",
            "-s",
            &server.url,
            "--stream",
            "EV%41",
            "--read-path",
            path,
            "-q",
            "--json",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_ok(&o);
        let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(s["rows"], 3000, "{s:#}");
        assert_eq!(s["recoveries"], serde_json::json!([]), "{path}: {s:#}");
        assert_eq!(seqs(&out), (1..=3000).collect::<Vec<i64>>());
        let consumer = *path == "consumer" || kind == Kind::V2_9;
        assert_eq!(
            text(&o).contains("cannot serve pull consumers"),
            consumer,
            "{}",
            text(&o)
        );
    }
}
both_servers!(percent_in_the_stream_name);
