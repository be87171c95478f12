//! The saved hunt pack over the committed sample incident: every hunt runs, together they find
//! every attack step of the answer key, and the benign look-alikes are never hits.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::util::*;

/// Publishes `sample-data/incident.ndjson.zst` and exports it; returns (tempdir, dataset).
async fn sample_dataset() -> (tempfile::TempDir, PathBuf) {
    let server = Server::start(Kind::V2_14);
    let tmp = tempfile::tempdir().unwrap();
    let sample = repo_root().join("sample-data/incident.ndjson.zst");
    let ds = publish_and_export(&server.url, &sample, tmp.path());
    (tmp, ds)
}

fn seq_set(rows: &[serde_json::Value]) -> BTreeSet<i64> {
    rows.iter().map(|r| r["seq"].as_i64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pack_finds_the_sample_incident() {
    let (_tmp, ds) = sample_dataset().await;
    let o = jsreplay(&["hunt", ds.to_str().unwrap(), "--format", "json"]);
    assert_ok(&o);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    same_both_ways(&ds, &[], &doc);
    let hunts = doc["hunts"].as_array().unwrap();
    let pack: Vec<_> = std::fs::read_dir(repo_root().join("queries/hunts"))
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .collect();
    assert_eq!(hunts.len(), pack.len(), "every hunt file runs");
    let mut hit_seqs = BTreeSet::new();
    for h in hunts {
        assert!(h["error"].is_null(), "{}: {}", h["name"], h["error"]);
        // Every reported row carries its sequence, and the summary agrees with the rows.
        let results = h["results"].as_array().unwrap();
        assert_eq!(h["rows"].as_u64().unwrap() as usize, results.len());
        for row in results {
            assert!(
                row["seq"].is_i64(),
                "{}: a row without seq: {row}",
                h["name"]
            );
        }
        if h["severity"] != "info" {
            for s in h["seqs"].as_array().unwrap() {
                hit_seqs.insert(s.as_i64().unwrap());
            }
        }
    }

    // Context: db-01's 90 s collector gap and app-01's collector restart, and nothing else.
    let gaps = hunts
        .iter()
        .find(|h| h["name"] == "triage/collector_gaps")
        .unwrap();
    let kinds: Vec<(String, String)> = gaps["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["collector_id"].as_str().unwrap().into(),
                r["kind"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("db-01".into(), "silence".into()),
            ("app-01".into(), "restart".into())
        ]
    );

    // The answer key: each attack event, located by host, event number, process and file.
    let key = jsreplay::jobs::sample::attack_steps(&jsreplay::jobs::sample::Config {
        noise: 60_000,
        seed: 20250710,
        scenario: jsreplay::jobs::sample::Scenario::Incident,
    });
    assert!(key.len() >= 35);
    let mut missed = Vec::new();
    for step in &key {
        let rows = query_json(
            &ds,
            &format!(
                "SELECT seq FROM events WHERE collector_id = '{}' AND evt_num = {} \
                 AND proc_name = '{}' AND fd_name = '{}'",
                step.collector_id, step.evt_num, step.proc_name, step.fd_name
            ),
        );
        assert!(
            !rows.is_empty(),
            "attack event not in the dataset: {step:?}"
        );
        if seq_set(&rows).is_disjoint(&hit_seqs) {
            missed.push(format!(
                "{} {} {} {}",
                step.step, step.collector_id, step.proc_name, step.fd_name
            ));
        }
    }
    assert!(
        missed.is_empty(),
        "attack events no hunt found:\n{}",
        missed.join("\n")
    );

    // Benign look-alikes: PAM reading shadow, Ansible writing cron, the nightly backup, cron's
    // health checks.
    let benign = query_json(
        &ds,
        "SELECT seq FROM events WHERE proc_name = 'unix_chkpwd' \
         OR proc_cmdline LIKE '%AnsiballZ%' OR proc_pname = 'backup.sh' \
         OR proc_name = 'backup.sh' OR proc_pname = 'cron'",
    );
    let benign = seq_set(&benign);
    assert!(benign.len() > 10, "the sample lost its look-alikes");
    let flagged: Vec<_> = benign.intersection(&hit_seqs).collect();
    assert!(
        flagged.is_empty(),
        "benign events reported as hits: {flagged:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selection_params_and_errors() {
    let (tmp, ds) = sample_dataset().await;
    let d = ds.to_str().unwrap();

    // A selection by folder and by tag; the table names the hunts that ran.
    let o = jsreplay(&[
        "hunt",
        d,
        "--select",
        "persistence",
        "--select",
        "ssh",
        "--rows",
    ]);
    assert_ok(&o);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(out.contains("persistence/persistence_writes"), "{out}");
    assert!(out.contains("lateral_movement/ssh_hop"), "{out}");
    assert!(!out.contains("execution/reverse_shell"), "{out}");
    assert!(
        out.contains("/etc/cron.d/sysupdate"),
        "rows are printed: {out}"
    );

    // db-01's clock is 2.4 s fast: a 1 s tolerance loses the app-01 -> db-01 hop.
    let hops = |skew: &str| {
        let o = jsreplay(&[
            "hunt",
            d,
            "-n",
            "lateral_movement/ssh_hop",
            "-p",
            &format!("skew_seconds={skew}"),
            "--format",
            "json",
        ]);
        assert_ok(&o);
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        doc["hunts"][0]["rows"].as_u64().unwrap()
    };
    assert_eq!(hops("30"), 2);
    assert_eq!(hops("1"), 1);

    // Mistakes are usage errors (2), with the reason.
    assert_code(
        &jsreplay(&["hunt", d, "--select", "nope"]),
        2,
        "no hunt is named",
    );
    assert_code(
        &jsreplay(&["hunt", d, "--param", "nope=1"]),
        2,
        "no selected hunt has this parameter",
    );
    assert_code(
        &jsreplay(&["hunt", d, "--param", "novalue"]),
        2,
        "expected name=value",
    );

    // A team's own folder: a broken hunt is reported by name with the SQL error's code (5),
    // after the others ran.
    let own = tmp.path().join("own");
    std::fs::create_dir_all(own.join("x")).unwrap();
    std::fs::write(own.join("x/good.sql"), "-- title: Curl\n-- severity: low\nSELECT seq, collector_id, event_time FROM events WHERE proc_name = 'curl'\n").unwrap();
    std::fs::write(
        own.join("x/bad.sql"),
        "-- title: Broken\nSELECT nope FROM events\n",
    )
    .unwrap();
    let o = jsreplay(&["hunt", d, "--queries", own.to_str().unwrap()]);
    assert_code(&o, 5, "x/bad");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let bad_line = out
        .lines()
        .find(|l| l.starts_with("x/bad"))
        .unwrap_or_default();
    assert!(
        out.contains("x/good") && bad_line.contains(" error "),
        "{out}"
    );

    // --list needs no dataset.
    let o = jsreplay(&["hunt", "--list"]);
    assert_ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("T1021.004"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeline_and_tree() {
    let (tmp, ds) = sample_dataset().await;
    let d = ds.to_str().unwrap();

    // The minute around the reverse shell on web-01, as Timesketch JSON lines.
    let (since, until) = ("2025-07-10T02:12:00Z", "2025-07-10T02:13:00Z");
    let o = jsreplay(&[
        "timeline",
        d,
        "--host",
        "web-01",
        "--since",
        since,
        "--until",
        until,
        "--format",
        "timesketch-jsonl",
    ]);
    assert_ok(&o);
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected = query_json(
        &ds,
        "SELECT seq FROM events WHERE collector_id = 'web-01' AND coalesce(event_time, nats_time) \
         >= TIMESTAMP '2025-07-10T02:12:00Z' AND coalesce(event_time, nats_time) < TIMESTAMP '2025-07-10T02:13:00Z'",
    );
    assert_eq!(lines.len(), expected.len());
    assert!(lines.len() > 50);
    let lo = chrono::DateTime::parse_from_rfc3339(since)
        .unwrap()
        .timestamp_micros();
    let hi = chrono::DateTime::parse_from_rfc3339(until)
        .unwrap()
        .timestamp_micros();
    let mut previous = i64::MIN;
    for l in &lines {
        assert_eq!(l["host"], "web-01");
        let ts = l["timestamp"].as_i64().unwrap();
        assert!(ts >= lo && ts < hi && ts >= previous, "{l}");
        previous = ts;
        let dt = chrono::DateTime::parse_from_rfc3339(l["datetime"].as_str().unwrap()).unwrap();
        assert_eq!(dt.timestamp_micros(), ts);
        assert!(l["message"].as_str().unwrap().starts_with("web-01 "));
        assert!(l["timestamp_desc"].is_string());
    }
    assert!(lines.iter().any(|l| l["message"]
        .as_str()
        .unwrap()
        .contains("/dev/tcp/203.0.113.66")));

    // CSV to a file, with a header row.
    let csv = tmp.path().join("t.csv");
    let o = jsreplay(&[
        "timeline",
        d,
        "--host",
        "db-01",
        "--format",
        "csv",
        "-o",
        csv.to_str().unwrap(),
    ]);
    assert_ok(&o);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("time,host,"));

    // The reverse shell's tree: php-fpm above it, the key theft and the SSH hop below.
    let o = jsreplay(&["tree", d, "--host", "web-01", "--pid", "23030"]);
    assert_ok(&o);
    let tree = String::from_utf8_lossy(&o.stdout).to_string();
    for needle in [
        "php-fpm8.1[1403]",
        "=> bash[23030]",
        "cat[23042]",
        "ssh[23045]",
    ] {
        assert!(tree.contains(needle), "{needle} missing:\n{tree}");
    }
    assert!(!tree.contains("logrotate"), "{tree}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("2 different processes"));

    // The same pid an hour earlier is another process (PID reuse).
    let o = jsreplay(&[
        "tree",
        d,
        "--host",
        "web-01",
        "--pid",
        "23030",
        "--at",
        "2025-07-10T01:40:00Z",
        "--format",
        "json",
    ]);
    assert_ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["process"]["name"], "logrotate");
    assert!(j["process"]["children"].as_array().unwrap().is_empty());

    // Root's shell on app-01 descends from the SSH session through sudo and find.
    let o = jsreplay(&[
        "tree", d, "--host", "app-01", "--pid", "31260", "--format", "json",
    ]);
    assert_ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = j["ancestors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["sshd", "bash", "sudo", "find"]);
    let kids: Vec<&str> = j["process"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(kids, vec!["cat", "tee", "ssh"]);

    assert_code(
        &jsreplay(&["tree", d, "--host", "web-01", "--pid", "999999"]),
        2,
        "no process with pid",
    );
    assert_code(
        &jsreplay(&["tree", d, "--host", "nohost", "--pid", "1"]),
        2,
        "no process events",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_renders_in_chromium() {
    let (tmp, ds) = sample_dataset().await;
    let html = tmp.path().join("report.html");
    let md = tmp.path().join("report.md");
    for f in [&html, &md] {
        let o = jsreplay(&[
            "hunt",
            ds.to_str().unwrap(),
            "--report",
            f.to_str().unwrap(),
        ]);
        assert_ok(&o);
    }
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(
        !text.contains("http://") || !text.contains("src=\"http"),
        "no external resources"
    );
    assert!(
        text.contains("=&gt; bash[23030]"),
        "the reverse shell's process tree is in the report"
    );
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert!(markdown.contains("| execution/reverse_shell | critical |"));
    assert!(
        markdown.contains("\n    web-01\n"),
        "trees as indented code"
    );

    let (dom, console) = render_in_chromium(&html, tmp.path());
    assert!(
        console.is_empty(),
        "the page logged to the console: {console:?}"
    );
    assert!(
        dom.contains("data-chart=\"drawn\""),
        "the chart was not drawn"
    );
    let hits: usize = dom
        .split("data-hits=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse().ok())
        .expect("hit marks counted");
    assert!(hits >= 35, "{hits} hit marks on the chart");
    assert!(dom.contains("<circle"), "SVG marks in the DOM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigma_rules_compile_and_find() {
    let (tmp, ds) = sample_dataset().await;
    let rules = repo_root().join("tests/fixtures/sigma");

    // Compilation: five rules compile, two are reported with their reasons, none dropped silently.
    let o = jsreplay(&["sigma", rules.to_str().unwrap(), "--json"]);
    assert_ok(&o);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["compiled"].as_array().unwrap().len(), 5, "{doc:#}");
    let unsupported = doc["unsupported"].as_array().unwrap();
    let reasons = |file: &str| -> String {
        unsupported
            .iter()
            .find(|u| u["file"].as_str().unwrap().ends_with(file))
            .map(|u| u["reasons"].to_string())
            .unwrap_or_else(|| panic!("{file} not reported: {doc:#}"))
    };
    assert!(reasons("proc_creation_lnx_base64_payload.yml").contains("base64offset"));
    assert!(reasons("proc_creation_lnx_base64_payload.yml").contains("keyword"));
    assert!(reasons("win_proc_creation_whoami.yml").contains("windows"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("5 rules compiled, 2 unsupported"),
        "{stderr}"
    );

    // Written as hunt files, they run as a team's own folder.
    let out = tmp.path().join("sigma-sql");
    assert_ok(&jsreplay(&[
        "sigma",
        rules.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]));
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 5);

    // Run with the pack: each rule finds its attack step, and only it.
    let o = jsreplay(&[
        "hunt",
        ds.to_str().unwrap(),
        "--sigma",
        rules.to_str().unwrap(),
        "--select",
        "sigma",
        "--format",
        "json",
    ]);
    assert_ok(&o);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let expect = [
        (
            "sigma/proc_creation_lnx_devtcp_reverse_shell",
            "proc_cmdline LIKE '%/dev/tcp/%'",
        ),
        (
            "sigma/proc_creation_lnx_find_shell_escape",
            "proc_name = 'find'",
        ),
        (
            "sigma/file_event_lnx_cron_files",
            "fd_name = '/etc/cron.d/sysupdate'",
        ),
        (
            "sigma/net_connection_lnx_download_tool_public",
            "proc_name = 'curl' AND evt_type = 'connect'",
        ),
        (
            "sigma/proc_creation_lnx_shadow_reader",
            "proc_cmdline = 'cat /etc/shadow'",
        ),
    ];
    for (name, truth) in expect {
        let hunt = hunt_named(&doc, name);
        let got: BTreeSet<i64> = hunt["seqs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_i64().unwrap())
            .collect();
        let want = seq_set(&query_json(
            &ds,
            &format!("SELECT seq FROM events WHERE {truth}"),
        ));
        assert!(!want.is_empty());
        assert_eq!(got, want, "{name}");
    }
    assert_code(
        &jsreplay(&["sigma", tmp.path().to_str().unwrap()]),
        2,
        "no Sigma rules",
    );
}

/// Under a small operator memory limit a large sort spills to disk and gives the same rows as
/// without one; a hash join whose build side does not fit fails with exit code 5 and says which
/// flag to raise; a limit that is not a size is a usage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_spills_or_says_so() {
    let (_tmp, ds) = sample_dataset().await;
    let ds = ds.to_str().unwrap();
    // Eight copies of every payload (~170 MB to sort) under a 128 MiB limit (under 64 MiB DataFusion's
    // fair pool leaves the final merge too little: it fails cleanly rather than spilling).
    let sorted = "SELECT seq, value FROM events CROSS JOIN generate_series(1, 8) \
                  ORDER BY payload DESC, seq, value";
    let o = jsreplay(&[
        "--memory-limit",
        "128M",
        "query",
        ds,
        &format!("EXPLAIN ANALYZE {sorted}"),
    ]);
    assert_ok(&o);
    let plan = String::from_utf8_lossy(&o.stdout);
    let spills: u64 = plan
        .match_indices("spill_count=")
        .map(|(i, k)| {
            plan[i + k.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert!(spills > 0, "the sort did not spill under 128M:\n{plan}");
    let csv_under = |limit: &str| {
        jsreplay(&[
            "--memory-limit",
            limit,
            "query",
            ds,
            sorted,
            "--format",
            "csv",
            "-q",
        ])
    };
    let (small, large) = (csv_under("128M"), csv_under("8G"));
    assert_ok(&small);
    assert_ok(&large);
    assert_eq!(small.stdout.len(), large.stdout.len());
    assert!(small.stdout == large.stdout, "spilled sort differs");
    assert_eq!(
        small.stdout.iter().filter(|&&b| b == b'\n').count(),
        8 * 59_832 + 1
    );

    // Four copies of every payload on both sides: the build side alone is ~90 MB.
    let copies = "(SELECT payload FROM events CROSS JOIN generate_series(1, 4))";
    let join = format!("SELECT count(*) FROM {copies} a JOIN {copies} b ON a.payload = b.payload");
    let o = jsreplay_env(
        &["query", ds, &join],
        &[("JSREPLAY_MEMORY_LIMIT".into(), "32M".into())],
    );
    assert_code(&o, 5, "Resources exhausted");
    assert_code(&o, 5, "--memory-limit");
    let o = jsreplay(&["--memory-limit", "lots", "query", ds, "SELECT 1"]);
    assert_code(&o, 2, "not a size");
}

/// One connect or open as the SysArmor template carries it, at `at`, from `(pid, name)`.
fn sysarmor_event(
    n: u32,
    at: chrono::DateTime<chrono::Utc>,
    evt_type: &str,
    fd: &str,
    (pid, name): (&str, &str),
) -> String {
    serde_json::json!({"event": {
        "evt.num": n.to_string(),
        "evt.time": at.format("%Y-%m-%dT%H:%M:%S%.9f+0000").to_string(),
        "evt.type": evt_type, "evt.args": format!("res=0 tuple={fd}"), "fd.name": fd,
        "proc.pid": pid, "proc.name": name, "proc.cmdline": format!("{name} --run"),
        "proc.ppid": "1", "proc.pname": "systemd", "proc.pcmdline": "/sbin/init",
    }})
    .to_string()
}

/// A dataset written straight from (JetStream time, payload) pairs with the archive's sink,
/// partitioned by event hour as `jsreplay archive` writes (what archiving those messages gives).
fn sink_dataset(
    dir: &std::path::Path,
    events: impl Iterator<Item = (chrono::DateTime<chrono::Utc>, String)>,
) -> PathBuf {
    use jsreplay::lake::sink::{Layout, Sink};
    let ds = dir.join("sunk");
    std::fs::create_dir_all(&ds).unwrap();
    let layout = Layout::archive("SYSDIG_EVENTS", Some(24 * 3_600_000_000_000));
    let mut sink = Sink::new("SYSDIG_EVENTS", &ds, 0, layout).unwrap();
    for (i, (at, payload)) in events.enumerate() {
        sink.push(&jsreplay::message::RawMessage {
            stream_seq: i as u64 + 1,
            subject: "events.sysdig.lab-01".into(),
            time_ns: at.timestamp_nanos_opt().unwrap(),
            headers: None,
            payload: payload.into_bytes().into(),
        })
        .unwrap();
    }
    sink.finish().unwrap();
    sink.commit().unwrap();
    ds
}

fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// A port sweep the way real scanners do it: one process reaching `targets` distinct
/// address:port pairs within four minutes, and a service's steady connects to one address.
fn sweep_dataset(dir: &std::path::Path, targets: u32) -> PathBuf {
    let start = at("2025-08-01T10:00:00Z");
    let events = (0..targets + targets / 4).map(move |i| {
        let when = start + chrono::Duration::microseconds(i as i64 * 240_000_000 / targets as i64);
        let (who, tuple) = if i % 5 == 4 {
            (
                ("2100", "orders"),
                format!("10.0.1.10:{}->10.0.2.30:3306", 30000 + i % 30000),
            )
        } else {
            let t = i - i / 5;
            let ip = format!("10.{}.{}.{}", t >> 16, (t >> 8) & 255, t & 255);
            (
                ("4242", "scanner"),
                format!("10.0.1.10:{}->{ip}:{}", 40000 + t % 20000, 22 + t % 7),
            )
        };
        let when_nats = when + chrono::Duration::milliseconds(150);
        (
            when_nats,
            sysarmor_event(i + 1, when, "connect", &tuple, who),
        )
    });
    sink_dataset(dir, events)
}

/// `connection_sweep` over 400,000 distinct targets in four minutes (100,000 per process-minute)
/// under `--memory-limit 64M`: it finds every connect of the sweep and none of the service's,
/// and the process's peak RSS stays under the limit plus the fixed overhead README.md states
/// (its aggregations spill; a `count(DISTINCT …)` held every target in memory, unaccounted).
#[test]
fn connection_sweep_holds_to_a_tight_memory_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = sweep_dataset(tmp.path(), 400_000);
    let (o, peak_mb) = Run::new([
        "hunt",
        ds.to_str().unwrap(),
        "--select",
        "discovery/connection_sweep",
        "--format",
        "json",
        "--memory-limit",
        "64M",
    ])
    .env("TMPDIR", tmp.path())
    .output_with_peak_rss();
    assert_ok(&o);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sweep = hunt_named(&doc, "discovery/connection_sweep");
    let rows = sweep["results"].as_array().unwrap();
    assert_eq!(rows.len(), 400_000, "every connect of the sweep");
    assert!(rows.iter().all(|r| r["proc_name"] == "scanner"));
    println!(
        "connection_sweep over 400,000 targets under --memory-limit 64M: peak RSS {peak_mb:.0} MB"
    );
    assert!(
        peak_mb < 64.0 * 1.048_576 + 250.0,
        "peak RSS {peak_mb:.0} MB, over the 64 MiB limit and the 250 MB fixed overhead"
    );
}

/// `--since/--until` over an archive partitioned by event hour: `query` and `hunt` see exactly
/// the events of the window by either clock (a late clock finds its event in its own window and
/// in the one the server received it in; an event without a time is placed by the server's), the
/// files wholly outside it are skipped and said so, and the hunt pack gives the same rows with
/// and without its shared pass.
#[test]
fn a_time_window_reads_only_its_files() {
    let tmp = tempfile::tempdir().unwrap();
    let start = at("2025-08-01T00:00:00Z");
    // Six hours, one event a second; in the last hour every 1000th event's clock is a day and an
    // hour late (filed under the JetStream hour, as the archive's window rule says).
    let events = (0..6 * 3600u32).map(move |i| {
        let nats = start + chrono::Duration::seconds(i as i64);
        let clock = if i >= 5 * 3600 && i % 1000 == 999 {
            nats + chrono::Duration::hours(25)
        } else {
            nats
        };
        let tuple = format!("10.0.1.10:{}->203.0.113.{}:443", 30000 + i % 30000, i % 200);
        if i == 7300 {
            // No readable time: in the window by its JetStream time, as a timeline places it.
            return (nats, "{\"event\": {\"evt.type\": \"connect\"".to_string());
        }
        (
            nats,
            sysarmor_event(i + 1, clock, "connect", &tuple, ("2200", "curl")),
        )
    });
    let ds = sink_dataset(tmp.path(), events);
    let d = ds.to_str().unwrap();
    let (since, until) = ("2025-08-01T02:00:00Z", "2025-08-01T03:00:00Z");
    let count = "SELECT count(*) AS n FROM events";
    let o = jsreplay(&[
        "query", d, "--since", since, "--until", until, "--format", "json", count,
    ]);
    assert_ok(&o);
    let narrowed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let full = query_json(
        &ds,
        &format!(
            "{count} WHERE (event_time >= '{since}' AND event_time < '{until}') \
             OR (nats_time >= '{since}' AND nats_time < '{until}')"
        ),
    );
    assert_eq!(narrowed[0]["n"], full[0]["n"]);
    assert_eq!(full[0]["n"], 3600, "the hour");
    let files = walk_parquet(&ds);
    assert!(files >= 6, "{files} files");
    assert!(
        text(&o).contains(&format!("skips {} of {files} files", files - 1)),
        "{}",
        text(&o)
    );
    let count_in = |since: &str, until: &str| {
        let o = jsreplay(&[
            "query", d, "--since", since, "--until", until, "--format", "json", count,
        ]);
        assert_ok(&o);
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()[0]["n"].clone()
    };
    // A day later: only the late clocks, read from the files of the hours they were filed under.
    assert_eq!(
        count_in("2025-08-02T00:00:00Z", "2025-08-03T00:00:00Z"),
        3,
        "the late clocks"
    );
    // And a late clock does not hide its event from the hour the server received it in.
    assert_eq!(
        count_in("2025-08-01T05:00:00Z", "2025-08-01T06:00:00Z"),
        3600,
        "the last hour, late clocks included"
    );
    // The pack in the window: every row inside it, the same both ways.
    let doc = hunt_json(&ds, &["--since", since, "--until", until]);
    same_both_ways(&ds, &["--since", since, "--until", until], &doc);
    let lo = at(since);
    let hi = at(until);
    for h in doc["hunts"].as_array().unwrap() {
        for r in h["results"].as_array().unwrap() {
            if let Some(t) = r["event_time"].as_str() {
                let t = chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc();
                assert!(t >= lo && t < hi, "{}: {r}", h["name"]);
            }
        }
    }
    let o = jsreplay(&["query", d, "--since", until, "--until", since, count]);
    assert_code(&o, 2, "--since must come before --until");
}

fn walk_parquet(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_parquet(&p)
            } else {
                usize::from(p.extension().is_some_and(|x| x == "parquet"))
            }
        })
        .sum()
}
