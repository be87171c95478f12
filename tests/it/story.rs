//! The attack story over both sample nights in one stream: the first incident is the one chain
//! web-01 → app-01 → db-01 with db-01's clock found 2.4 s fast from the hops, the second fleet's
//! intrusion is a second story (cache-01 → k8s-node-01, that node's clock 1.2 s slow), every step
//! of the first is an attack event of the answer key, steps are in corrected time order, and the
//! HTML report draws each story's graph in headless Chromium without a console message.

use std::collections::BTreeSet;

use crate::util::*;

fn offset(story: &serde_json::Value, host: &str) -> f64 {
    story["clock_offsets"][host]
        .as_f64()
        .unwrap_or_else(|| panic!("no offset for {host}: {story}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nights_two_stories() {
    let server = Server::start(Kind::V2_14);
    let tmp = tempfile::tempdir().unwrap();
    let fleet = repo_root().join("sample-data/fleet-night.ndjson.zst");
    publish_file(&server.url, &fleet);
    let incident = repo_root().join("sample-data/incident.ndjson.zst");
    let ds = publish_and_export(&server.url, &incident, tmp.path());

    let o = jsreplay(&["hunt", ds.to_str().unwrap(), "--story", "--format", "json"]);
    assert_ok(&o);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let stories = doc["stories"].as_array().unwrap();
    let chains: Vec<&str> = stories
        .iter()
        .map(|s| s["chain"].as_str().unwrap())
        .collect();
    assert_eq!(
        chains,
        ["web-01 → app-01 → db-01", "cache-01 → k8s-node-01"],
        "{}",
        serde_json::to_string_pretty(&doc).unwrap()
    );
    let (first, second) = (&stories[0], &stories[1]);
    assert!(offset(first, "web-01").abs() < 1e-9);
    assert!(
        offset(first, "app-01").abs() < 0.1,
        "{}",
        first["clock_offsets"]
    );
    assert!(
        (offset(first, "db-01") - 2.4).abs() < 0.1,
        "{}",
        first["clock_offsets"]
    );
    assert!(
        (offset(second, "k8s-node-01") + 1.2).abs() < 0.1,
        "{}",
        second["clock_offsets"]
    );

    // The first story: its hops, its tactics in order of the intrusion, and only attack events.
    let steps = first["steps"].as_array().unwrap();
    let hops: Vec<(&str, &str)> = steps
        .iter()
        .filter(|s| s["kind"] == "hop")
        .map(|s| (s["host"].as_str().unwrap(), s["to"].as_str().unwrap()))
        .collect();
    assert_eq!(hops, [("web-01", "app-01"), ("app-01", "db-01")]);
    let times: Vec<&str> = steps.iter().map(|s| s["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let tactics: BTreeSet<&str> = steps
        .iter()
        .map(|s| s["tactic"].as_str().unwrap())
        .collect();
    for t in [
        "initial_access",
        "execution",
        "credential_access",
        "lateral_movement",
        "privilege_escalation",
        "persistence",
        "exfiltration",
    ] {
        assert!(tactics.contains(t), "{t} missing from {tactics:?}");
    }
    let attack = attack_seqs(&ds);
    for s in steps {
        for seq in s["seqs"].as_array().unwrap() {
            assert!(
                attack.contains(&seq.as_i64().unwrap()),
                "step {} names seq {seq}, not an attack event",
                s["hunt"]
            );
        }
    }
    // On the corrected clock db-01's exfiltration comes after the hop into db-01.
    let hop_in = steps
        .iter()
        .find(|s| s["kind"] == "hop" && s["to"] == "db-01")
        .unwrap();
    let exfil = steps
        .iter()
        .find(|s| s["tactic"] == "exfiltration" && s["host"] == "db-01")
        .unwrap();
    assert!(exfil["time"].as_str() > hop_in["time"].as_str());

    // The text names both, and the report draws both graphs.
    let o = jsreplay(&["hunt", ds.to_str().unwrap(), "--story"]);
    assert_ok(&o);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("Story 1: web-01 → app-01 → db-01"), "{text}");
    assert!(text.contains("db-01 +2.4"), "{text}");
    assert!(text.contains("Story 2: cache-01 → k8s-node-01"), "{text}");
    let html = tmp.path().join("report.html");
    assert_ok(&jsreplay(&[
        "hunt",
        ds.to_str().unwrap(),
        "--report",
        html.to_str().unwrap(),
    ]));
    let (dom, console) = render_in_chromium(&html, tmp.path());
    assert!(console.is_empty(), "console: {console:?}");
    assert_eq!(dom.matches("class=\"story-graph\"").count(), 2);
    assert!(dom.contains("data-hosts=\"3\""));
    assert_eq!(
        dom.matches("class=\"hop\"").count(),
        3,
        "three host pairs hop"
    );
}

/// Sequences of the first incident's attack events (the generator's answer key).
fn attack_seqs(ds: &std::path::Path) -> BTreeSet<i64> {
    let key = jsreplay::jobs::sample::attack_steps(&jsreplay::jobs::sample::Config {
        noise: 60_000,
        seed: 20250710,
        scenario: jsreplay::jobs::sample::Scenario::Incident,
    });
    let rows = query_json(
        ds,
        "SELECT seq, collector_id, evt_num, proc_name, fd_name FROM events WHERE evt_num IS NOT NULL",
    );
    let mut out = BTreeSet::new();
    for k in &key {
        for r in &rows {
            if r["collector_id"] == k.collector_id
                && r["evt_num"].as_u64() == Some(k.evt_num)
                && r["proc_name"].as_str().unwrap_or_default() == k.proc_name
                && r["fd_name"].as_str().unwrap_or_default() == k.fd_name
            {
                out.insert(r["seq"].as_i64().unwrap());
            }
        }
    }
    assert!(out.len() >= 30, "{} attack events located", out.len());
    out
}

/// An intruder's socket text reaches the story's own SQL (the hop lookup) as a quoted value, not
/// as SQL: the hop is still found between the two hosts and the story still told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_socket_text_is_data() {
    let (server, js) = server_with_stream(Kind::V2_14, "SYSDIG_EVENTS").await;
    let fd = "10.9.9.1'); DROP TABLE events; --:5000->10.9.9.2:22";
    let event = |host: &str, typ: &str, fd: &str, pid: u32, name: &str, s: u32| {
        let e = serde_json::json!({"event": {
            "evt.num": "1", "evt.time": format!("2025-07-10T02:00:0{s}.000000000+0000"),
            "evt.type": typ, "evt.args": "", "fd.name": fd, "proc.pid": pid.to_string(),
            "proc.name": name, "proc.cmdline": name, "proc.ppid": "100", "proc.pname": "bash",
            "proc.pcmdline": "bash"}});
        (format!("events.sysdig.{host}"), e.to_string().into_bytes())
    };
    publish(
        &js,
        &[
            event("h1", "connect", fd, 500, "ssh", 1),
            event("h2", "accept", fd, 600, "sshd", 1),
            event("h2", "openat", "/etc/shadow", 601, "cat", 5),
        ],
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("ds");
    assert_ok(&jsreplay(&[
        "export",
        "-s",
        &server.url,
        "-q",
        "-o",
        ds.to_str().unwrap(),
    ]));
    let o = jsreplay(&["hunt", ds.to_str().unwrap(), "--story", "--format", "json"]);
    assert_ok(&o);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["stories"][0]["chain"], "h1 → h2", "{doc}");
    assert_eq!(
        doc["stories"][0]["steps"][0]["seqs"],
        serde_json::json!([1, 2])
    );
}
