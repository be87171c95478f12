//! Detection quality against real servers: technique families with near misses
//! (tests/fixtures/families), Falco rule files compiled and run over the same events
//! (tests/fixtures/falco), and the second fleet's night (`sample-data/fleet-night.ndjson.zst`):
//! an incident the pack was not written from, amid administration that looks like attack, with
//! recall and false positives printed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::util::*;

/// One fixture event: what must find it (or `~why` for a near miss) and its `evt.num`.
struct Row {
    expect: String,
    evt_num: i64,
    line: String,
}

fn sysdig_args(evt_type: &str, fd: &str, flags: &str) -> String {
    match evt_type {
        "connect" | "accept" => format!("res=0 tuple={fd}"),
        "openat" => {
            let flags = if flags == "O_RDONLY" || flags == "-" {
                "1(O_RDONLY)"
            } else {
                flags
            };
            format!("fd=3({fd}) dirfd=-100(AT_FDCWD) name={fd} flags={flags} mode=0")
        }
        "write" => "res=512 data=...".into(),
        "unlinkat" => format!("res=0 dirfd=-100(AT_FDCWD) name={fd}"),
        _ => "res=0".into(),
    }
}

/// One SysArmor-template event as a publish line.
#[allow(clippy::too_many_arguments)]
fn publish_line(
    evt_num: i64,
    at: chrono::DateTime<chrono::Utc>,
    evt_type: &str,
    fd: &str,
    (pid, name, cmdline): (&str, &str, &str),
    (ppid, pname, pcmdline): (&str, &str, &str),
    flags: &str,
) -> String {
    let event = serde_json::json!({"event": {
        "evt.num": evt_num.to_string(),
        "evt.time": at.format("%Y-%m-%dT%H:%M:%S%.9f+0000").to_string(),
        "evt.type": evt_type, "evt.args": sysdig_args(evt_type, fd, flags), "fd.name": fd,
        "proc.pid": pid, "proc.name": name, "proc.cmdline": cmdline,
        "proc.ppid": ppid, "proc.pname": pname, "proc.pcmdline": pcmdline,
    }});
    serde_json::json!({"subject": "events.sysdig.lab-01", "payload": event.to_string()}).to_string()
}

/// The fixture events as an NDJSON publish file, plus two connection sweeps generated here: a
/// scanner's (must be found) and a monitoring probe's (a near miss).
fn family_events(dir: &Path) -> (PathBuf, Vec<Row>) {
    let text =
        std::fs::read_to_string(repo_root().join("tests/fixtures/families/events.tsv")).unwrap();
    let base = chrono::DateTime::parse_from_rfc3339("2025-08-01T10:00:00Z")
        .unwrap()
        .to_utc();
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for (i, line) in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .enumerate()
    {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 10, "fixture line: {line}");
        let evt_num = 1000 + i as i64;
        let at = base + chrono::Duration::seconds(3 * i as i64);
        lines.push(publish_line(
            evt_num,
            at,
            f[1],
            f[2],
            (f[3], f[4], f[5]),
            (f[6], f[7], f[8]),
            f[9],
        ));
        rows.push(Row {
            expect: f[0].into(),
            evt_num,
            line: line.into(),
        });
    }
    // Sweeps: 25 connects in one minute, after the fixture lines.
    let minute = base + chrono::Duration::minutes(30);
    for (n, (expect, who, port)) in [
        (
            "discovery/connection_sweep",
            ("6950", "python3", "python3 scan.py"),
            22,
        ),
        (
            "~monitoring probes",
            (
                "6960",
                "blackbox_export",
                "/usr/local/bin/blackbox_exporter",
            ),
            443,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        for i in 0..25 {
            let evt_num = 5000 + 100 * n as i64 + i;
            let at =
                minute + chrono::Duration::minutes(n as i64) + chrono::Duration::seconds(i * 2);
            let fd = format!("10.1.0.5:{}->10.1.{}.{}:{port}", 41000 + i, n, 10 + i);
            lines.push(publish_line(
                evt_num,
                at,
                "connect",
                &fd,
                who,
                ("1", "systemd", "/sbin/init"),
                "-",
            ));
            rows.push(Row {
                expect: expect.into(),
                evt_num,
                line: format!("{expect} {fd}"),
            });
        }
    }
    let path = dir.join("families.ndjson");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    (path, rows)
}

/// Hunt name → (severity, seqs) from `hunt --format json`.
fn hits(doc: &serde_json::Value) -> BTreeMap<String, (String, BTreeSet<i64>)> {
    doc["hunts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            assert!(h["error"].is_null(), "{}: {}", h["name"], h["error"]);
            let seqs = h["seqs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_i64().unwrap())
                .collect();
            (
                h["name"].as_str().unwrap().to_string(),
                (h["severity"].as_str().unwrap().to_string(), seqs),
            )
        })
        .collect()
}

fn seqs_of(ds: &Path, sql: &str) -> BTreeSet<i64> {
    query_json(ds, sql)
        .iter()
        .map(|r| r["seq"].as_i64().unwrap())
        .collect()
}

const SERIOUS: [&str; 2] = ["high", "critical"];

/// The vendored upstream Falco rule files, in the order Falco loads them.
fn upstream_falco() -> Vec<PathBuf> {
    let dir = repo_root().join("tests/fixtures/falco/upstream");
    [
        "falco_rules.yaml",
        "falco-incubating_rules.yaml",
        "falco-sandbox_rules.yaml",
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technique_families_and_falco_rules() {
    let server = Server::start(Kind::V2_14);
    let tmp = tempfile::tempdir().unwrap();
    let (input, rows) = family_events(tmp.path());
    let ds = publish_and_export(&server.url, &input, tmp.path());
    let seq_of: BTreeMap<i64, i64> = query_json(&ds, "SELECT seq, evt_num FROM events")
        .iter()
        .map(|r| (r["evt_num"].as_i64().unwrap(), r["seq"].as_i64().unwrap()))
        .collect();
    assert_eq!(seq_of.len(), rows.len(), "every fixture event is a row");

    let falco = repo_root().join("tests/fixtures/falco");
    let (rules, overrides) = (falco.join("rules.yaml"), falco.join("overrides.yaml"));
    let args = [
        "--falco",
        rules.to_str().unwrap(),
        "--falco",
        overrides.to_str().unwrap(),
    ];
    let doc = hunt_json(&ds, &args);
    same_both_ways(&ds, &args, &doc);
    let found = hits(&doc);

    // Per family: each positive found by one of its hunts, each near miss by no high or
    // critical hunt of the pack.
    let mut missed = Vec::new();
    let mut noisy = Vec::new();
    let mut per_family: BTreeMap<String, (usize, usize, usize, usize)> = BTreeMap::new();
    for row in &rows {
        let seq = seq_of[&row.evt_num];
        if let Some(why) = row.expect.strip_prefix('~') {
            let serious: Vec<&String> = found
                .iter()
                .filter(|(name, (sev, seqs))| {
                    !name.starts_with("falco/")
                        && SERIOUS.contains(&sev.as_str())
                        && seqs.contains(&seq)
                })
                .map(|(name, _)| name)
                .collect();
            let family = per_family.entry("near misses".into()).or_default();
            family.2 += 1;
            if serious.is_empty() {
                family.3 += 1;
            } else {
                noisy.push(format!("{why}: {serious:?} on {}", row.line));
            }
            continue;
        }
        let family = row.expect.split('/').next().unwrap().to_string();
        let entry = per_family.entry(family).or_default();
        entry.0 += 1;
        if row.expect.split('|').any(|h| {
            found
                .get(h)
                .unwrap_or_else(|| panic!("no hunt {h}"))
                .1
                .contains(&seq)
        }) {
            entry.1 += 1;
        } else {
            missed.push(row.line.clone());
        }
    }
    println!("family                 found / positives   quiet / near misses");
    for (family, (pos, hit, near, quiet)) in &per_family {
        println!("{family:<22} {hit:>5} / {pos:<9}   {quiet:>5} / {near}");
    }
    assert!(
        missed.is_empty(),
        "positives no hunt of their family found:\n{}",
        missed.join("\n")
    );
    assert!(
        noisy.is_empty(),
        "near misses raised high or critical hits:\n{}",
        noisy.join("\n")
    );

    // Falco: the files compile as Falco loads them (lists appended, an exception appended, a
    // macro appended, a rule enabled), and each rule finds exactly its events.
    let o = jsreplay(&[
        "falco",
        rules.to_str().unwrap(),
        overrides.to_str().unwrap(),
        "--json",
    ]);
    assert_ok(&o);
    let compiled: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let files = compiled["files"].as_array().unwrap();
    assert_eq!(
        (
            files[0]["rules"].as_u64(),
            files[0]["compiled"].as_u64(),
            files[0]["unsupported"].as_u64(),
            files[0]["disabled"].as_u64()
        ),
        (Some(11), Some(9), Some(2), Some(0)),
        "{compiled:#}"
    );
    assert_eq!(files[1]["rules"], 0);
    let unsupported = compiled["unsupported"].as_array().unwrap();
    let reason = |title: &str| -> String {
        unsupported
            .iter()
            .find(|u| u["title"] == title)
            .map(|u| u["reasons"].to_string())
            .unwrap_or_else(|| panic!("{title} not reported: {compiled:#}"))
    };
    // container.id and user.name are columns of the field catalogue: the container rule is
    // unsupported only for its tty, the user rule compiles (no hits: these events carry no
    // user name, and a comparison with a missing value is false, as in Falco).
    assert!(!reason("Terminal shell in container").contains("container.id"));
    assert!(reason("Terminal shell in container").contains("proc.tty"));
    assert!(!unsupported
        .iter()
        .any(|u| u["title"] == "Package management by a user"));
    assert!(reason("Pod created").contains("k8s_audit"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("9 rules compiled, 2 unsupported"),
        "{stderr}"
    );

    let expect: [(&str, String); 8] = [
        (
            "falco/read_sensitive_file_untrusted",
            "evt_type IN ('open', 'openat', 'openat2') AND regexp_like(evt_args, 'O_RDONLY|O_RDWR') \
             AND (fd_name IN ('/etc/shadow', '/etc/sudoers', '/etc/pam.conf') OR fd_name LIKE '/etc/sudoers.d/%' \
             OR fd_name LIKE '/etc/pam.d/%' OR fd_name LIKE '/home/dev/.ssh/%') \
             AND proc_name NOT IN ('sshd', 'unix_chkpwd', 'sudo', 'osqueryd') \
             AND NOT (proc_name IN ('restic', 'tar') AND proc_pname LIKE 'backup%')"
                .into(),
        ),
        (
            "falco/shell_spawned_by_a_web_server",
            "proc_pname IN ('nginx', 'httpd', 'apache2', 'php-fpm8.2') AND proc_name IN ('ash', 'bash', 'csh', 'ksh', 'sh', 'tcsh', 'zsh', 'dash')".into(),
        ),
        (
            "falco/outbound_connection_by_a_shell",
            "evt_type = 'connect' AND fd_sip IS NOT NULL AND NOT is_private_ip(fd_sip) AND proc_name IN ('ash', 'bash', 'csh', 'ksh', 'sh', 'tcsh', 'zsh', 'dash')".into(),
        ),
        (
            "falco/write_in_cron_folders",
            "evt_type LIKE 'open%' AND regexp_like(evt_args, 'O_WRONLY|O_RDWR') \
             AND (fd_name LIKE '/etc/cron.d/%' OR fd_name LIKE '/var/spool/cron/%') AND proc_cmdline NOT LIKE '%AnsiballZ_%'"
                .into(),
        ),
        ("falco/program_run_from_shared_memory", "proc_cmdline LIKE '/dev/shm/%'".into()),
        ("falco/downloader_two_levels_below_a_web_server", "proc_pid = 5202".into()),
        ("falco/anything_below_socat", "proc_ppid = 5011".into()),
        ("falco/mount_launched", "proc_name = 'mount'".into()),
    ];
    for (name, truth) in expect {
        let want = seqs_of(&ds, &format!("SELECT seq FROM events WHERE {truth}"));
        assert!(!want.is_empty(), "{name}: the fixture has no event for it");
        assert_eq!(found[name].1, want, "{name}");
    }
    // The rule's output is the hit's message, fields filled in, unknown ones `<NA>`.
    let hunt = hunt_named(&doc, "falco/read_sensitive_file_untrusted");
    let messages: Vec<&str> = hunt["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.iter().any(|m| m.starts_with(
            "Sensitive file opened for reading by non-trusted program (file=/etc/shadow command=python3 -c"
        ) && m.ends_with("parent=sh gparent=<NA> user=<NA>)")),
        "{messages:#?}"
    );
    let below = hunt_named(&doc, "falco/downloader_two_levels_below_a_web_server");
    assert_eq!(
        below["results"][0]["message"],
        "Downloader below a web server (cmd=wget http://198.51.100.8/x gparent=php-fpm8.2 gparent_pid=5200)"
    );

    // With --process-events exec, spawned_process means execve, which this template lacks.
    let exec = hits(&hunt_json(
        &ds,
        &[
            "--falco",
            rules.to_str().unwrap(),
            "--select",
            "falco",
            "--process-events",
            "exec",
        ],
    ));
    assert!(exec["falco/shell_spawned_by_a_web_server"].1.is_empty());
    assert!(!exec["falco/read_sensitive_file_untrusted"].1.is_empty());

    // Sigma's Initiated (connect or accept) and DestinationHostname (the URL's host).
    let sigma = repo_root().join("tests/fixtures/families/sigma");
    let doc = hunt_json(
        &ds,
        &["--sigma", sigma.to_str().unwrap(), "--select", "sigma"],
    );
    let sigma_hits = hits(&doc);
    for (name, truth) in [
        (
            "sigma/net_connection_lnx_initiated_socat",
            "proc_pid = 5007",
        ),
        (
            "sigma/net_connection_lnx_accepted_on_31337",
            "proc_pid = 5100",
        ),
        ("sigma/net_connection_lnx_ngrok_host", "proc_pid = 7005"),
    ] {
        let want = seqs_of(&ds, &format!("SELECT seq FROM events WHERE {truth}"));
        assert_eq!(want.len(), 1);
        assert_eq!(sigma_hits[name].1, want, "{name}");
    }

    // Upstream rule files: the counts the README states, and every compiled rule runs.
    let files = upstream_falco();
    for (assume, want) in [
        (vec![], [(25, 13, 0), (31, 16, 0), (37, 16, 12)]),
        (
            vec![
                "--assume",
                "container.id=host",
                "--assume",
                "container.image.repository=",
            ],
            [(25, 15, 0), (31, 18, 0), (37, 18, 12)],
        ),
    ] {
        let mut args: Vec<&str> = vec!["falco", "--json"];
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        args.extend(assume.iter().copied());
        let o = jsreplay(&args);
        assert_ok(&o);
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let counts: Vec<(u64, u64, u64)> = doc["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["rules"].as_u64().unwrap(),
                    f["compiled"].as_u64().unwrap(),
                    f["disabled"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(counts, want.to_vec(), "{assume:?}");
        for u in doc["unsupported"].as_array().unwrap() {
            assert!(!u["reasons"].as_array().unwrap().is_empty(), "{u}");
        }
        let mut run: Vec<&str> = vec!["--select", "falco"];
        for f in &files {
            run.extend(["--falco", f.to_str().unwrap()]);
        }
        run.extend(assume.iter().copied());
        // `hits` asserts that no hunt failed.
        let ran = hits(&hunt_json(&ds, &run));
        assert_eq!(ran.len() as u64, counts.iter().map(|c| c.1).sum::<u64>());
    }

    // The coverage table names every hunt (the Falco ones with their tags' techniques) and the
    // techniques these fields cannot show.
    let o = jsreplay(&[
        "hunt",
        "--coverage",
        "--falco",
        rules.to_str().unwrap(),
        "--falco",
        overrides.to_str().unwrap(),
    ]);
    assert_ok(&o);
    let table = String::from_utf8(o.stdout).unwrap();
    for name in found.keys() {
        assert!(table.contains(name.as_str()), "{name} missing:\n{table}");
    }
    assert!(table.contains("T1071.004  DNS"), "{table}");
    assert!(table.contains("cannot be shown: no DNS names"), "{table}");
}

/// A labelled event's key: host, event number, process, file.
type Key = (String, i64, String, String);

/// How a set of hunts fares on the labelled events of a night.
#[derive(Default)]
struct Score {
    /// Per attack step: (events, found by any non-info hit).
    steps: BTreeMap<&'static str, (usize, usize)>,
    /// Per kind of administration: (events, in high/critical hits, in low/medium hits only).
    admin: BTreeMap<&'static str, (usize, usize, usize)>,
    missed: Vec<String>,
    flagged: Vec<String>,
    /// High/critical hit events that are no attack event.
    outside: usize,
}

fn score(
    found: &BTreeMap<String, (String, BTreeSet<i64>)>,
    labels: &[jsreplay::jobs::sample::AttackStep],
    located: &BTreeMap<Key, Vec<i64>>,
) -> Score {
    let by_severity = |levels: &[&str]| -> BTreeSet<i64> {
        found
            .values()
            .filter(|(sev, _)| levels.contains(&sev.as_str()))
            .flat_map(|(_, s)| s.iter().copied())
            .collect()
    };
    let serious = by_severity(&SERIOUS);
    let any = by_severity(&["low", "medium", "high", "critical"]);
    let mut sc = Score::default();
    let mut attack_seqs = BTreeSet::new();
    for l in labels {
        let key = (
            l.collector_id.to_string(),
            l.evt_num as i64,
            l.proc_name.clone(),
            l.fd_name.clone(),
        );
        let seqs = located
            .get(&key)
            .unwrap_or_else(|| panic!("labelled event not in the dataset: {l:?}"));
        if l.benign {
            let e = sc.admin.entry(l.step).or_default();
            e.0 += 1;
            if seqs.iter().any(|s| serious.contains(s)) {
                e.1 += 1;
                sc.flagged.push(format!("{l:?}"));
            } else if seqs.iter().any(|s| any.contains(s)) {
                e.2 += 1;
            }
        } else {
            attack_seqs.extend(seqs.iter().copied());
            let e = sc.steps.entry(l.step).or_default();
            e.0 += 1;
            if seqs.iter().any(|s| any.contains(s)) {
                e.1 += 1;
            } else {
                sc.missed.push(format!("{l:?}"));
            }
        }
    }
    sc.outside = serious.difference(&attack_seqs).count();
    sc
}

impl Score {
    fn summary(&self, who: &str) -> String {
        let (events, found) = self
            .steps
            .values()
            .fold((0, 0), |a, s| (a.0 + s.0, a.1 + s.1));
        let steps = self.steps.values().filter(|s| s.1 > 0).count();
        let (benign, high, lower) = self
            .admin
            .values()
            .fold((0, 0, 0), |a, s| (a.0 + s.0, a.1 + s.1, a.2 + s.2));
        format!(
            "{who}: {found} of {events} attack events found ({steps} of {} steps); \
             {high} of {benign} administration events in high/critical hits, {lower} in low/medium only; \
             {} high/critical hit events outside the attack",
            self.steps.len(),
            self.outside
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_incident_amid_a_night_of_administration() {
    let server = Server::start(Kind::V2_14);
    let tmp = tempfile::tempdir().unwrap();
    let ds = publish_and_export(
        &server.url,
        &repo_root().join("sample-data/fleet-night.ndjson.zst"),
        tmp.path(),
    );
    // Locate every labelled event by host, event number, process and file.
    let rows = query_json(
        &ds,
        "SELECT seq, collector_id, evt_num, proc_name, fd_name FROM events WHERE evt_num IS NOT NULL",
    );
    let mut located: BTreeMap<Key, Vec<i64>> = BTreeMap::new();
    for r in &rows {
        let key = (
            r["collector_id"].as_str().unwrap().to_string(),
            r["evt_num"].as_i64().unwrap(),
            r["proc_name"].as_str().unwrap_or_default().to_string(),
            r["fd_name"].as_str().unwrap_or_default().to_string(),
        );
        located
            .entry(key)
            .or_default()
            .push(r["seq"].as_i64().unwrap());
    }
    let labels = jsreplay::jobs::sample::labelled(&jsreplay::jobs::sample::Config {
        noise: 60_000,
        seed: 20250710,
        scenario: jsreplay::jobs::sample::Scenario::FleetNight,
    });

    let doc = hunt_json(&ds, &[]);
    same_both_ways(&ds, &[], &doc);
    let pack = score(&hits(&doc), &labels, &located);
    println!("{}", pack.summary("the pack"));
    for (step, (n, f)) in &pack.steps {
        println!("  {step:<24} {f:>3} / {n}");
    }
    for (what, (n, h, l)) in &pack.admin {
        println!("  {what:<24} {n:>3} events, {h} high/critical, {l} low/medium");
    }

    // For comparison, upstream Falco rules on the same night (containers assumed absent, as on
    // these hosts): printed, not asserted.
    let files: Vec<String> = upstream_falco()
        .iter()
        .map(|f| f.to_str().unwrap().to_string())
        .collect();
    let mut args = vec!["--select", "falco"];
    for f in &files {
        args.extend(["--falco", f.as_str()]);
    }
    args.extend([
        "--assume",
        "container.id=host",
        "--assume",
        "container.image.repository=",
    ]);
    let falco = score(&hits(&hunt_json(&ds, &args)), &labels, &located);
    println!("{}", falco.summary("upstream Falco rules"));

    assert!(
        pack.missed.is_empty(),
        "attack events no hunt found:\n{}",
        pack.missed.join("\n")
    );
    assert!(
        pack.flagged.is_empty(),
        "administration raised high or critical hits:\n{}",
        pack.flagged.join("\n")
    );
    assert_eq!(pack.outside, 0, "high/critical hits outside the attack");
}
