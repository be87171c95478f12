//! Exports that lose their server underneath them: a single server restarted mid-export, a
//! connection cut mid-export, and a 3-node cluster (R3 stream) with a leader step-down or the
//! leader's node restarted mid-export. Each ends with the exact window exported (checked row by
//! row) or a clear error and no output directory; never a complete-looking partial dataset.
//!
//! Exports run through the test proxy with a capped bandwidth so that they last a few seconds
//! and the failure lands in the middle of the read, not after it.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;

use crate::both_servers;
use crate::proxy::{Proxy, Shape};
use crate::run::Run;
use crate::util::{
    check_manifest, publish, seqs, template, text, Cluster, Kind, Server, CPU_HEAVY,
};

/// Messages per test: ~16 MB of payload, ~4 s through the capped proxy.
const N: u64 = 40_000;
const RATE: u64 = 4 << 20;

fn capped() -> Shape {
    Shape {
        one_way: Duration::ZERO,
        down_rate: Some(RATE),
    }
}

async fn fill(js: &jetstream::Context, replicas: usize) {
    let cfg = jetstream::stream::Config {
        name: "EV".into(),
        subjects: vec!["events.sysdig.*".into()],
        num_replicas: replicas,
        allow_direct: true,
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match js.create_stream(cfg.clone()).await {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => panic!("create stream: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
    let msgs: Vec<_> = (0..N)
        .map(|i| (format!("events.sysdig.c{}", i % 3), template("h", i)))
        .collect();
    publish(js, &msgs).await;
}

/// Starts `jsreplay export` of the whole stream in the background.
fn start_export(urls: &str, out: &Path, read_path: &str) -> Child {
    Run::new([
        "export",
        "--server",
        urls,
        "--stream",
        "EV",
        "--parallel",
        "2",
    ])
    .args(["--read-path", read_path, "--json", "-q", "--output"])
    .args([out])
    .spawn(Stdio::piped(), Stdio::piped())
}

/// Waits until the export has created its staging folders (the read is under way), then a
/// little more.
async fn wait_reading(child: &mut Child, out: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                std::io::Read::read_to_string(&mut e, &mut err).unwrap();
            }
            panic!("the export ended before anything happened to it ({status}): {err}");
        }
        let staged = std::fs::read_dir(out)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with('.'))
            })
            .unwrap_or(false);
        if staged {
            tokio::time::sleep(Duration::from_millis(700)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the export never started reading");
}

/// Waits for the export; checks it exported exactly sequences 1..=N, or failed clearly leaving
/// nothing. Returns the summary's recoveries.
async fn outcome(child: Child, out: &Path) -> Vec<String> {
    let o = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{}", text(&o));
        assert!(err.contains("error"), "{}", text(&o));
        assert!(!out.exists(), "a failed export left {}", out.display());
        panic!(
            "the export failed (cleanly) instead of recovering: {}",
            text(&o)
        );
    }
    let m = check_manifest(out);
    assert_eq!(m["rows"], N, "{m:#}");
    assert_eq!(m["gap_messages"], 0, "{m:#}");
    let got = seqs(out);
    assert!(got.iter().copied().eq(1..=N as i64), "rows are not 1..={N}");
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON summary");
    summary["recoveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

/// The read paths each server version offers.
fn paths(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::V2_9 => &["consumer"],
        Kind::V2_14 => &["consumer", "direct"],
    }
}

/// Exports through `url` once per read path, calling `disrupt` while each export reads; checks
/// each outcome and that the disruption was noticed (a recovery was recorded).
async fn each_path_disrupted(kind: Kind, url: &str, what: &str, mut disrupt: impl FnMut()) {
    for path in paths(kind) {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let mut child = start_export(url, &out, path);
        wait_reading(&mut child, &out).await;
        disrupt();
        let recoveries = outcome(child, &out).await;
        assert!(
            !recoveries.is_empty(),
            "{path}: the {what} went unnoticed (did it happen after the read?)"
        );
    }
}

async fn server_restart_mid_export(kind: Kind) {
    let mut server = Server::start(kind);
    fill(&server.js().await, 1).await;
    let proxy = Proxy::start(server.port, capped()).await;
    each_path_disrupted(kind, &proxy.url(), "restart", || server.restart()).await;
}
both_servers!(server_restart_mid_export);

async fn connection_cut_mid_export(kind: Kind) {
    let server = Server::start(kind);
    fill(&server.js().await, 1).await;
    let proxy = Proxy::start(server.port, capped()).await;
    each_path_disrupted(kind, &proxy.url(), "cut", || proxy.cut_all()).await;
}
both_servers!(connection_cut_mid_export);

/// What happens to the cluster while the export runs.
#[derive(Clone, Copy, Debug)]
enum Disruption {
    LeaderStepDown,
    LeaderRestart,
    /// The node most of the export's connections went to.
    ClientNodeRestart,
}

async fn cluster_case(kind: Kind, disruption: Disruption) {
    let _shared = CPU_HEAVY.read().await;
    let mut cluster = Cluster::start(kind);
    fill(&cluster.js().await, 3).await;
    cluster.wait_healthy("EV").await;
    // One capped proxy per node; the tool is given the proxies, as it would be given the nodes.
    let mut proxies = Vec::new();
    for node in &cluster.nodes {
        proxies.push(Proxy::start(node.port, capped()).await);
    }
    let urls = proxies.iter().map(Proxy::url).collect::<Vec<_>>().join(",");
    for path in paths(kind) {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let before: Vec<u64> = proxies.iter().map(Proxy::accepted).collect();
        let mut child = start_export(&urls, &out, path);
        wait_reading(&mut child, &out).await;
        let busiest = (0..proxies.len())
            .max_by_key(|&i| proxies[i].accepted() - before[i])
            .unwrap();
        let js = cluster.js().await;
        let leader = cluster.leader_of(&js, "EV").await;
        match disruption {
            Disruption::LeaderStepDown => {
                let reply = js
                    .client()
                    .request("$JS.API.STREAM.LEADER.STEPDOWN.EV", "".into())
                    .await
                    .expect("step-down answered");
                let answer = String::from_utf8_lossy(&reply.payload).to_string();
                assert!(answer.contains("\"success\":true"), "{answer}");
            }
            Disruption::LeaderRestart | Disruption::ClientNodeRestart => {
                drop(js);
                let node = match disruption {
                    Disruption::LeaderRestart => leader,
                    _ => busiest,
                };
                cluster.nodes[node].kill();
                tokio::time::sleep(Duration::from_secs(1)).await;
                cluster.nodes[node].restart();
            }
        }
        let recoveries = outcome(child, &out).await;
        eprintln!("{kind:?} {disruption:?} {path}: recoveries {recoveries:?}");
        cluster.wait_healthy("EV").await;
    }
}

async fn cluster_leader_step_down(kind: Kind) {
    cluster_case(kind, Disruption::LeaderStepDown).await
}
both_servers!(cluster_leader_step_down);

async fn cluster_leader_restart(kind: Kind) {
    cluster_case(kind, Disruption::LeaderRestart).await
}
both_servers!(cluster_leader_restart);

async fn cluster_client_node_restart(kind: Kind) {
    cluster_case(kind, Disruption::ClientNodeRestart).await
}
both_servers!(cluster_client_node_restart);
