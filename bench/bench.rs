//! `make bench`: measures the export against the raw-drain limit, side by side, in one run.
//!
//! Starts its own nats-server 2.14 (JetStream, temporary storage), loads N SysArmor-shaped events
//! (~500 B each, from the sample generator's noise), then measures:
//! (a) the raw-drain limit: one plain no-ack pull consumer (5,000-message / 8 MiB pulls) that
//!     discards payloads; (b) `jsreplay export` with 1 worker; (c) with 2 and 4 workers; with the
//! peak RSS of each export process. Writes `bench/results/<timestamp>.{md,json}` and prints the
//! table with ratios to the raw drain.
//!
//! Usage: `cargo bench --bench export -- [--messages N] [--jsreplay PATH] [--nats-server PATH]`.

#[path = "../tests/support/proxy.rs"]
#[allow(dead_code)] // the bench uses the latency only, not the cuts
mod proxy;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use serde::Serialize;

#[derive(Debug, Serialize)]
struct Row {
    case: String,
    messages: u64,
    seconds: f64,
    msgs_per_sec: f64,
    mb_per_sec: f64,
    ratio_to_raw: f64,
    peak_rss_mb: Option<f64>,
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn yes(met: bool) -> &'static str {
    if met {
        "yes"
    } else {
        "NO"
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server process and its storage, both removed on drop.
struct Server(std::process::Child, tempfile::TempDir);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(binary: &Path, port: u16) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    // Held by `Server` from here on, so that Drop kills and waits for it on every path.
    let server = Server(
        Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.path().join("js"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server"),
        dir,
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if std::fs::read_to_string(server.1.path().join("server.log"))
            .unwrap_or_default()
            .contains("Server is ready")
        {
            return server;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nats-server did not start");
}

/// Runs a command and returns (wall seconds, peak RSS in MiB of the child). The peak is the
/// child's `VmHWM`, polled every 20 ms: `ru_maxrss` would report the bench's own size, which the
/// child inherits at fork, before exec.
fn timed(cmd: &mut Command) -> (f64, f64) {
    let started = Instant::now();
    let mut child = cmd.stdout(Stdio::null()).spawn().expect("spawn");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        let hwm = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
            })
            .unwrap_or(0);
        peak_kib = peak_kib.max(hwm);
        std::thread::sleep(Duration::from_millis(20));
    };
    let secs = started.elapsed().as_secs_f64();
    assert!(status.success(), "{cmd:?} failed");
    (secs, peak_kib as f64 / 1024.0)
}

async fn raw_drain(js: &jetstream::Context, stream: &str, n: u64) -> f64 {
    let s = js.get_stream(stream).await.unwrap();
    let c = s
        .create_consumer(consumer::pull::Config {
            ack_policy: consumer::AckPolicy::None,
            memory_storage: true,
            num_replicas: 1,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .unwrap();
    let started = Instant::now();
    let mut msgs = c
        .stream()
        .max_messages_per_batch(5000)
        .max_bytes_per_batch(8 << 20)
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await
        .unwrap();
    let mut seen = 0;
    while seen < n {
        let m = msgs.next().await.unwrap().unwrap();
        std::hint::black_box(&m.payload);
        seen += 1;
    }
    started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let n: u64 = arg("--messages").map_or(1_000_000, |v| v.parse().unwrap());
    // The bench binary lives in <target>/release/deps; the tool in <target>/release.
    let jsreplay = arg("--jsreplay").map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().join("jsreplay")
    });
    assert!(
        jsreplay.is_file(),
        "{} missing: cargo build --release --bins",
        jsreplay.display()
    );
    let server_bin = arg("--nats-server")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".tools/nats-server-2.14.0/nats-server"));
    let port = free_port();
    let _server = start_server(&server_bin, port);
    let url = format!("nats://127.0.0.1:{port}");
    let client = async_nats::ConnectOptions::new()
        .subscription_capacity(1 << 20)
        .connect(&url)
        .await
        .unwrap();
    let js = jetstream::new(client.clone());
    js.create_stream(jetstream::stream::Config {
        name: "SYSDIG_EVENTS".into(),
        subjects: vec!["events.sysdig.*".into()],
        allow_direct: true,
        ..Default::default()
    })
    .await
    .unwrap();

    eprintln!("bench: generating and publishing {n} SysArmor-shaped events…");
    let mut lines = Vec::new();
    jsreplay::sample::write_ndjson(
        &jsreplay::sample::Config {
            // A little more than asked: the sample drops a 90 s collector gap.
            noise: n + n / 20,
            seed: 1,
        },
        &mut lines,
    )
    .unwrap();
    let mut published = 0u64;
    let mut bytes = 0u64;
    let started = Instant::now();
    let mut acks = futures::stream::FuturesUnordered::new();
    for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        if published >= n {
            break;
        }
        let l: jsreplay::publish::Line = serde_json::from_slice(line).unwrap();
        let payload = l.payload.unwrap().into_bytes();
        bytes += payload.len() as u64;
        acks.push(std::future::IntoFuture::into_future(
            js.publish(l.subject, payload.into()).await.unwrap(),
        ));
        while acks.len() >= 4096 {
            acks.next().await.unwrap().unwrap();
        }
        published += 1;
    }
    while let Some(a) = acks.next().await {
        a.unwrap();
    }
    drop(lines);
    let avg = bytes as f64 / published as f64;
    eprintln!(
        "bench: published {published} messages (avg {avg:.0} B) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut rows = Vec::new();
    let raw = raw_drain(&js, "SYSDIG_EVENTS", published).await;
    let raw_rate = published as f64 / raw;
    let row = |case: String, secs: f64, rss: Option<f64>| Row {
        case,
        messages: published,
        seconds: secs,
        msgs_per_sec: published as f64 / secs,
        mb_per_sec: bytes as f64 / secs / 1e6,
        ratio_to_raw: (published as f64 / secs) / raw_rate,
        peak_rss_mb: rss,
    };
    rows.push(row(
        "(a) raw drain: 1 no-ack pull consumer, payloads discarded".into(),
        raw,
        None,
    ));
    let tmp = tempfile::tempdir().unwrap();
    let export = |server: &str, workers: Option<usize>, path: &str| -> (f64, f64) {
        let out = tmp.path().join("out");
        let mut cmd = Command::new(&jsreplay);
        cmd.args([
            "export",
            "-q",
            "-s",
            server,
            "--stream",
            "SYSDIG_EVENTS",
            "--read-path",
            path,
        ])
        .arg("-o")
        .arg(&out);
        if let Some(w) = workers {
            cmd.args(["--parallel", &w.to_string()]);
        }
        let measured = timed(&mut cmd);
        std::fs::remove_dir_all(&out).ok();
        measured
    };
    for path in ["consumer", "direct"] {
        for workers in [1, 2, 4] {
            let (secs, rss) = export(&url, Some(workers), path);
            let label = if workers == 1 { "(b)" } else { "(c)" };
            let case = format!("{label} export, {workers} worker(s), {path} path");
            rows.push(row(case, secs, Some(rss)));
        }
    }
    let (secs, rss) = export(&url, None, "auto");
    rows.push(row(
        "(c) export, default (auto workers, auto path)".into(),
        secs,
        Some(rss),
    ));

    // (d) Through the latency proxy: round trips are what a WAN costs.
    for rtt_ms in [0u64, 10, 50] {
        let shape = proxy::Shape {
            one_way: Duration::from_millis(rtt_ms / 2),
            down_rate: None,
        };
        let proxy = proxy::Proxy::start(port, shape).await;
        let via = proxy.url();
        for workers in [Some(1), None] {
            let (secs, rss) = export(&via, workers, "auto");
            let who = workers.map_or("default workers".to_string(), |w| format!("{w} worker(s)"));
            let case = format!("(d) export, {who}, proxy at {rtt_ms} ms RTT");
            rows.push(row(case, secs, Some(rss)));
        }
    }

    let mut md = format!(
        "# jsreplay bench\n\n{published} SysArmor-shaped messages (avg {avg:.0} B), nats-server 2.14 on loopback, {} cores.\n\n\
         | case | msg/s | MB/s | s | vs raw drain | peak RSS MiB |\n|---|---|---|---|---|---|\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for r in &rows {
        md += &format!(
            "| {} | {:.0} | {:.1} | {:.2} | {:.0} % | {} |\n",
            r.case,
            r.msgs_per_sec,
            r.mb_per_sec,
            r.seconds,
            r.ratio_to_raw * 100.0,
            r.peak_rss_mb.map_or("-".into(), |v| format!("{v:.0}"))
        );
    }
    let rate = |case: &str| {
        rows.iter()
            .find(|r| r.case == case)
            .map_or(0.0, |r| r.msgs_per_sec)
    };
    let best = rows
        .iter()
        .filter(|r| r.case.starts_with("(b)") || r.case.starts_with("(c)"))
        .max_by(|a, b| a.msgs_per_sec.total_cmp(&b.msgs_per_sec))
        .expect("export rows");
    let proxied = |rtt: u64| {
        rate(&format!(
            "(d) export, default workers, proxy at {rtt} ms RTT"
        ))
    };
    let peak = rows
        .iter()
        .filter_map(|r| r.peak_rss_mb)
        .fold(0.0, f64::max);
    md += &format!(
        "\n## Targets\n\n| target | measured | met |\n|---|---|---|\n\
         | loopback export >= 60 % of raw drain | {:.0} % ({}) | {} |\n\
         | default export at 10 ms RTT >= 80 % of 0 ms | {:.0} % | {} |\n\
         | default export at 50 ms RTT >= 80 % of 0 ms | {:.0} % | {} |\n\
         | peak RSS <= 300 MB | {peak:.0} MiB | {} |\n",
        best.ratio_to_raw * 100.0,
        best.case,
        yes(best.ratio_to_raw >= 0.6),
        proxied(10) / proxied(0) * 100.0,
        yes(proxied(10) / proxied(0) >= 0.8),
        proxied(50) / proxied(0) * 100.0,
        yes(proxied(50) / proxied(0) >= 0.8),
        yes(peak <= 300.0),
    );
    println!("{md}");
    let dir = root.join("bench/results");
    std::fs::create_dir_all(&dir).unwrap();
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    std::fs::write(dir.join(format!("{stamp}.md")), &md).unwrap();
    std::fs::write(
        dir.join(format!("{stamp}.json")),
        serde_json::to_vec_pretty(&rows).unwrap(),
    )
    .unwrap();
    eprintln!("bench: wrote bench/results/{stamp}.md and .json");
}
