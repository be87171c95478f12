//! `make bench`: measures the export against the raw-drain limit, side by side, in one run.
//!
//! Starts its own nats-server 2.14 (JetStream, temporary storage), loads N SysArmor-shaped events
//! (~500 B each, from the sample generator's noise), then measures:
//! (a) the raw-drain limit: one plain no-ack pull consumer (5,000-message / 8 MiB pulls) that
//!     discards payloads; (b) `jsreplay export` with 1 worker; (c) with 2 and 4 workers; with the
//! peak RSS of each export process; (d) the default and 1-worker exports (and the direct path) through the latency
//! proxy at 0, 10 and 50 ms RTT; (e) the default export's peak RSS once the stream holds 4 × N;
//! (f) the seek (a time window resolved to sequences) at N and 10 × N messages. Writes `bench/results/<timestamp>.{md,json}` and prints the
//! table with ratios to the raw drain.
//!
//! Then the hunt pack over an export of the N events, `jsreplay hunt` against DuckDB on the same
//! files (`--hunts-only` runs just that part).
//!
//! (h) `jsreplay archive` of the whole stream, Hive and Delta, to a folder and to moto's S3 server,
//! against the default export's msg/s (`--archive-only` runs exports and archives alone).
//!
//! (g) the default export's and archive's peak RSS over incompressible 1 MB payloads (`--big-payloads N`, 2,000;
//! `--big-only` runs that case alone).
//! `--scale 1,10,50` runs only the hunt pack at those millions of events against DuckDB (see
//! `scale.rs`; `make bench-scale`).
//! Usage: `cargo bench --bench export -- [--messages N] [--hunts-only] [--big-only] [--scale LIST] [--jsreplay PATH] [--nats-server PATH]`.

mod scale;

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
    /// The median of the repeats.
    seconds: f64,
    /// msg/s of the slowest and the fastest repeat.
    spread: (f64, f64),
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

/// moto's S3-protocol server on loopback (from the test venv) with a bucket `bench`.
struct Moto(std::process::Child, u16);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Moto {
    fn start(root: &Path) -> Moto {
        let port = free_port();
        let venv = root.join(".tools/venv/bin");
        let child = Command::new(venv.join("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (scripts/install-deps.sh --python)");
        let moto = Moto(child, port);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let ok = Command::new(venv.join("python"))
            .args([
                "-c",
                &format!(
                    "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:{port}', \
                     aws_access_key_id='b', aws_secret_access_key='b', region_name='us-east-1')\
                     .create_bucket(Bucket='bench')"
                ),
            ])
            .status()
            .expect("python");
        assert!(ok.success(), "creating the bench bucket failed");
        moto
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "b".into()),
            ("AWS_SECRET_ACCESS_KEY", "b".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", self.1)),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }
}

/// The archive cases (h) against the default export of the same run.
fn archive_md(rows: &[Row], published: u64, avg: f64) -> String {
    let export = rows
        .iter()
        .find(|r| r.case.starts_with("(c) export, default"))
        .map_or(f64::NAN, |r| r.msgs_per_sec);
    let mut md = format!(
        "\n## Archive (h): the whole stream ({published} messages, avg {avg:.0} B) into a fresh destination\n\n\
         | case | msg/s | slowest - fastest | vs default export | >= 80 % | peak RSS MB |\n|---|---|---|---|---|---|\n"
    );
    for r in rows.iter().filter(|r| r.case.starts_with("(h)")) {
        md += &format!(
            "| {} | {:.0} | {:.0} - {:.0} | {:.0} % | {} | {} |\n",
            r.case,
            r.msgs_per_sec,
            r.spread.0,
            r.spread.1,
            r.msgs_per_sec / export * 100.0,
            yes(r.msgs_per_sec >= 0.8 * export),
            r.peak_rss_mb.map_or("-".into(), |v| format!("{v:.0}"))
        );
    }
    md
}

/// Runs of each case; the median is reported, with the slowest and fastest beside it (this
/// machine's run-to-run noise is about ±10 %).
fn repeats() -> usize {
    arg("--repeats").map_or(3, |v| v.parse().expect("--repeats N"))
}

/// Seconds of `repeats()` runs of `f` (each returning seconds and peak RSS): the median, the
/// slowest, the fastest, and the largest peak RSS.
fn measure(mut f: impl FnMut() -> (f64, f64)) -> (f64, f64, f64, f64) {
    let mut runs: Vec<(f64, f64)> = (0..repeats().max(1)).map(|_| f()).collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let rss = runs.iter().map(|r| r.1).fold(0.0, f64::max);
    (
        runs[runs.len() / 2].0,
        runs[runs.len() - 1].0,
        runs[0].0,
        rss,
    )
}

/// Runs a command and returns (wall seconds, peak RSS in MB (10^6 bytes) of the child). The peak is the
/// child's `VmHWM`, polled every 20 ms: `ru_maxrss` would report the bench's own size, which the
/// child inherits at fork, before exec.
fn timed(cmd: &mut Command) -> (f64, f64) {
    let (secs, rss, _) = timed_output(cmd);
    (secs, rss)
}

/// [`timed`], also returning what the command wrote on stdout.
pub fn timed_output(cmd: &mut Command) -> (f64, f64, Vec<u8>) {
    use std::io::Read;
    let started = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("spawn");
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout.as_mut() {
            s.read_to_end(&mut out).expect("child stdout");
        }
        out
    });
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
    let out = reader.join().unwrap();
    assert!(status.success(), "{cmd:?} failed");
    (secs, peak_kib as f64 * 1024.0 / 1e6, out)
}

/// `n` SysArmor-shaped (subject, payload) pairs from the sample generator's noise.
fn sample_payloads(n: u64) -> Vec<(String, bytes::Bytes)> {
    seeded_payloads(n, 1)
}

/// [`sample_payloads`] of the generator's night with another seed.
pub fn seeded_payloads(n: u64, seed: u64) -> Vec<(String, bytes::Bytes)> {
    let mut lines = Vec::new();
    jsreplay::jobs::sample::write_ndjson(
        &jsreplay::jobs::sample::Config {
            // A little more than asked: the sample drops a 90 s collector gap.
            noise: n + n / 20,
            seed,
            scenario: jsreplay::jobs::sample::Scenario::Incident,
        },
        &mut lines,
    )
    .unwrap();
    lines
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .take(n as usize)
        .map(|line| {
            let l: jsreplay::nats::publish::Line = serde_json::from_slice(line).unwrap();
            (l.subject, l.payload.unwrap().into_bytes().into())
        })
        .collect()
}

/// Publishes messages `from..to` (payloads cycled) with 4,096 acknowledgements in flight;
/// returns the payload bytes published.
async fn load(
    js: &jetstream::Context,
    payloads: &[(String, bytes::Bytes)],
    from: u64,
    to: u64,
) -> u64 {
    let mut bytes = 0u64;
    let mut acks = futures::stream::FuturesUnordered::new();
    for i in from..to {
        let (subject, payload) = &payloads[i as usize % payloads.len()];
        bytes += payload.len() as u64;
        acks.push(std::future::IntoFuture::into_future(
            js.publish(subject.clone(), payload.clone()).await.unwrap(),
        ));
        while acks.len() >= 4096 {
            acks.next().await.unwrap().unwrap();
        }
    }
    while let Some(a) = acks.next().await {
        a.unwrap();
    }
    bytes
}

/// What resolving a time window to sequences cost on a stream of `size` messages.
#[derive(Debug, Serialize)]
struct Seek {
    stream_messages: u64,
    /// Requests the tool counts (`seek_requests` of `plan --json`).
    requests: u64,
    /// Round trips measured through the 50 ms proxy: the extra time of a `--since/--until`
    /// plan over the same plan given by sequences, divided by the RTT, plus the stream info.
    measured_round_trips: f64,
    /// Wall time of the time-window plan on loopback (best of 3), milliseconds.
    loopback_ms: f64,
    /// The range found starts and ends where it should.
    range_ok: bool,
}

/// The JetStream time of `seq`, from a direct get.
async fn stored_time(client: &async_nats::Client, stream: &str, seq: u64) -> String {
    let reply = client
        .request(
            format!("$JS.API.DIRECT.GET.{stream}"),
            format!("{{\"seq\":{seq}}}").into(),
        )
        .await
        .unwrap();
    let h = reply.headers.expect("direct get headers");
    h.get("Nats-Time-Stamp").unwrap().as_str().to_string()
}

/// Measures the seek: a plan of the middle half of the stream by time, against the same plan
/// by sequence, on loopback and through a 50 ms RTT proxy.
async fn seek_cost(jsreplay: &Path, client: &async_nats::Client, port: u16, size: u64) -> Seek {
    let (lo, hi) = (size / 4, size * 3 / 4);
    let (since, until) = (
        stored_time(client, "SYSDIG_EVENTS", lo).await,
        stored_time(client, "SYSDIG_EVENTS", hi).await,
    );
    let plan = |url: &str, by_time: bool| -> (f64, serde_json::Value) {
        let mut cmd = Command::new(jsreplay);
        cmd.args(["plan", "--json", "-s", url, "--stream", "SYSDIG_EVENTS"]);
        if by_time {
            cmd.args(["--since", &since, "--until", &until]);
        } else {
            cmd.args([
                "--start-seq",
                &lo.to_string(),
                "--end-seq",
                &(hi - 1).to_string(),
            ]);
        }
        let mut best = f64::MAX;
        let mut json = serde_json::Value::Null;
        for _ in 0..3 {
            let started = Instant::now();
            let out = cmd.output().expect("plan");
            best = best.min(started.elapsed().as_secs_f64());
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            json = serde_json::from_slice(&out.stdout).unwrap();
        }
        (best, json)
    };
    let loopback = format!("nats://127.0.0.1:{port}");
    let (loopback_s, json) = plan(&loopback, true);
    let range = &json["range"];
    // Timestamps can repeat: the first message at `since` is at or before `lo`.
    let range_ok = range[0].as_u64().is_some_and(|f| f <= lo && lo - f < 1000)
        && range[1].as_u64().is_some_and(|l| l < hi && hi - l < 1000);
    let proxy = proxy::Proxy::start(
        port,
        proxy::Shape {
            one_way: Duration::from_millis(25),
            down_rate: None,
        },
    )
    .await;
    let (by_time, _) = plan(&proxy.url(), true);
    let (by_seq, _) = plan(&proxy.url(), false);
    Seek {
        stream_messages: size,
        requests: json["seek_requests"].as_u64().unwrap_or(0),
        measured_round_trips: (by_time - by_seq) / 0.050 + 1.0,
        loopback_ms: loopback_s * 1e3,
        range_ok,
    }
}

/// DuckDB over the same files: each hunt timed (execute and fetch every row), with the pack's
/// SQL functions as macros (`regexp_like` is `regexp_matches` there, the ordered aggregate
/// `first_value(x ORDER BY y)` is `first(x ORDER BY y)`).
const DUCK_HUNTS: &str = r#"
import duckdb, json, sys, time
ds, hunts = sys.argv[1], json.loads(sys.argv[2])
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")  # it writes to stdout on long queries
con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{ds}/**/*.parquet', hive_partitioning = true)")
con.execute(r"""CREATE MACRO is_private_ip(ip) AS
  regexp_matches(ip, '^(10\.|127\.|192\.168\.|169\.254\.|172\.(1[6-9]|2[0-9]|3[01])\.|100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.|0\.0\.0\.0$)')
  OR regexp_matches(lower(ip), '^(::1$|f[cd]|fe[89ab])')""")
out = []
for name, sql in hunts:
    sql = sql.replace("regexp_like(", "regexp_matches(").replace("first_value(", "first(")
    started = time.perf_counter()
    rows = con.execute(sql).fetch_arrow_table().num_rows  # Arrow, as jsreplay's engine produces
    out.append({"name": name, "rows": rows, "seconds": time.perf_counter() - started})
print(json.dumps(out))
"#;

/// One engine's run of the hunt pack: wall seconds (process start to exit), peak RSS in MB, and
/// per hunt its name, rows and seconds.
pub struct PackRun {
    pub wall: f64,
    pub rss_mb: f64,
    pub hunts: Vec<(String, u64, f64)>,
}

impl PackRun {
    pub fn total_ms(&self) -> f64 {
        self.hunts.iter().map(|h| h.2).sum::<f64>() * 1e3
    }
}

/// The pack (built in, or the hunt files under `dir`) rendered with default parameters: (name, SQL).
pub fn rendered_pack(dir: Option<&Path>) -> Vec<(String, String)> {
    jsreplay::rules::pack::load(dir)
        .unwrap()
        .iter()
        .map(|h| (h.name.clone(), h.render(&Default::default()).unwrap()))
        .collect()
}

/// (name, rows, seconds) of each hunt in a JSON array of hunt results.
fn hunts_of(list: &serde_json::Value) -> Vec<(String, u64, f64)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["name"].as_str().unwrap().to_string(),
                h["rows"].as_u64().unwrap(),
                h["seconds"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// DuckDB (default settings) runs the rendered pack over `ds`.
pub fn duck_pack(root: &Path, ds: &Path, rendered: &[(String, String)]) -> PackRun {
    let python = root.join(".tools/venv/bin/python");
    let (wall, rss_mb, out) = timed_output(
        Command::new(python)
            .arg("-c")
            .arg(DUCK_HUNTS)
            .arg(ds)
            .arg(serde_json::to_string(rendered).unwrap()),
    );
    PackRun {
        wall,
        rss_mb,
        hunts: hunts_of(&serde_json::from_slice(&out).unwrap()),
    }
}

/// `jsreplay hunt --format json` runs the pack over `ds` (the built-in one unless `extra` passes
/// `--queries`).
pub fn our_pack(jsreplay: &Path, ds: &Path, extra: &[&str]) -> PackRun {
    let (wall, rss_mb, out) = timed_output(
        Command::new(jsreplay)
            .args(["hunt", "--format", "json"])
            .args(extra)
            .arg(ds),
    );
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    PackRun {
        wall,
        rss_mb,
        hunts: hunts_of(&doc["hunts"]),
    }
}

/// The per-hunt table of both runs; returns it with the total of each side and whether every
/// hunt returned the same row count.
pub fn pack_table(ours: &PackRun, theirs: &PackRun) -> (String, f64, f64, bool) {
    let mut md = String::from(
        "| hunt | rows (jsreplay) | rows (DuckDB) | jsreplay ms | DuckDB ms |\n|---|---|---|---|---|\n",
    );
    let mut same = true;
    for (name, rows, secs) in &ours.hunts {
        let (_, drows, dsecs) = theirs
            .hunts
            .iter()
            .find(|t| &t.0 == name)
            .expect("DuckDB ran every hunt");
        same &= rows == drows;
        let differs = if rows == drows { "" } else { " (differs)" };
        md += &format!(
            "| {name} | {rows} | {drows}{differs} | {:.0} | {:.0} |\n",
            secs * 1e3,
            dsecs * 1e3
        );
    }
    let (df_total, duck_total) = (ours.total_ms(), theirs.total_ms());
    md += &format!("| **total** (sum of hunts) | | | {df_total:.0} | {duck_total:.0} |\n");
    (md, df_total, duck_total, same)
}

/// The hunt pack over an export of the bench's stream: DataFusion (`jsreplay hunt`) against
/// DuckDB on the same files, per hunt and in total; returns the markdown section and JSON.
fn hunt_bench(jsreplay: &Path, url: &str, root: &Path, dir: &Path) -> (String, serde_json::Value) {
    let ds = dir.join("hunt-dataset");
    let status = Command::new(jsreplay)
        .args(["export", "-q", "-s", url, "--stream", "SYSDIG_EVENTS", "-o"])
        .arg(&ds)
        .status()
        .expect("export");
    assert!(status.success());
    let rendered = rendered_pack(None);
    // One warm-up run each (page cache), then the measured runs.
    let _ = (
        duck_pack(root, &ds, &rendered),
        our_pack(jsreplay, &ds, &[]),
    );
    let theirs = duck_pack(root, &ds, &rendered);
    let ours = our_pack(jsreplay, &ds, &[]);
    let (table, df_total, duck_total, same) = pack_table(&ours, &theirs);
    let wall = ours.wall;
    let mut md = format!(
        "\n## Hunt pack over the same dataset: DataFusion (jsreplay hunt) against DuckDB\n\n{table}"
    );
    md += &format!(
        "\n`jsreplay hunt` wall time, process start to exit ({} hunts, dataset opened once): {wall:.2} s.\n\n\
         | target | measured | met |\n|---|---|---|\n\
         | hunt pack < 5 s on this machine | {wall:.2} s | {} |\n\
         | DataFusion total <= DuckDB total | {df_total:.0} ms vs {duck_total:.0} ms | {} |\n\
         | both engines return the same row counts | {} | {} |\n",
        rendered.len(),
        yes(wall < 5.0),
        yes(df_total <= duck_total),
        if same { "all equal" } else { "some differ" },
        yes(same),
    );
    let json = serde_json::json!({
        "jsreplay_wall_seconds": wall,
        "jsreplay_total_ms": df_total,
        "duckdb_total_ms": duck_total,
        "jsreplay": ours.hunts,
        "duckdb": theirs.hunts,
    });
    (md, json)
}

/// Prints the markdown and writes both files under bench/results/.
fn write_results(root: &Path, suffix: &str, md: &str, json: &serde_json::Value) {
    println!("{md}");
    let dir = root.join("bench/results");
    std::fs::create_dir_all(&dir).unwrap();
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    std::fs::write(dir.join(format!("{stamp}{suffix}.md")), md).unwrap();
    std::fs::write(
        dir.join(format!("{stamp}{suffix}.json")),
        serde_json::to_vec_pretty(json).unwrap(),
    )
    .unwrap();
    eprintln!("bench: wrote bench/results/{stamp}{suffix}.md and .json");
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

/// (g) What a hostile publisher's largest messages cost, exported and archived.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Big {
    messages: u64,
    export_seconds: f64,
    export_peak_rss_mb: f64,
    archive_seconds: f64,
    archive_peak_rss_mb: f64,
}

/// (g): `count` incompressible payloads of 1,000,000 bytes (under the server's 1 MiB
/// `max_payload`) in a stream of their own, exported and archived (to a local folder) with the
/// defaults.
async fn big_payloads(
    js: &jetstream::Context,
    jsreplay: &Path,
    url: &str,
    dir: &Path,
    count: u64,
) -> Big {
    js.create_stream(jetstream::stream::Config {
        name: "BIG_PAYLOADS".into(),
        subjects: vec!["big.*".into()],
        allow_direct: true,
        ..Default::default()
    })
    .await
    .unwrap();
    // xorshift: the bytes must not compress, or the case measures nothing.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut acks = futures::stream::FuturesUnordered::new();
    for i in 0..count {
        let mut payload = vec![0u8; 1_000_000];
        for chunk in payload.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        acks.push(std::future::IntoFuture::into_future(
            js.publish(format!("big.h{}", i % 4), payload.into())
                .await
                .unwrap(),
        ));
        while acks.len() >= 64 {
            acks.next().await.unwrap().unwrap();
        }
    }
    while let Some(a) = acks.next().await {
        a.unwrap();
    }
    let out = dir.join("big");
    let mut cmd = Command::new(jsreplay);
    cmd.args(["export", "-q", "-s", url, "--stream", "BIG_PAYLOADS", "-o"])
        .arg(&out);
    let (export_seconds, export_peak_rss_mb) = timed(&mut cmd);
    std::fs::remove_dir_all(&out).ok();
    let mut cmd = Command::new(jsreplay);
    cmd.args([
        "archive",
        "-q",
        "-s",
        url,
        "--stream",
        "BIG_PAYLOADS",
        "--to",
    ])
    .arg(&out)
    .arg("--staging")
    .arg(dir);
    let (archive_seconds, archive_peak_rss_mb) = timed(&mut cmd);
    std::fs::remove_dir_all(&out).ok();
    js.delete_stream("BIG_PAYLOADS").await.unwrap();
    Big {
        messages: count,
        export_seconds,
        export_peak_rss_mb,
        archive_seconds,
        archive_peak_rss_mb,
    }
}

fn big_payloads_md(big: Big) -> String {
    let count = big.messages;
    let row = |what: &str, secs: f64, rss: f64| {
        format!(
            "| (g) {what}, default, {count} incompressible 1 MB payloads | {:.0} | {:.0} | {secs:.1} | {rss:.0} | {} |\n",
            count as f64 / secs,
            count as f64 * 1e6 / secs / 1e6,
            yes(rss <= 500.0)
        )
    };
    format!(
        "\n## Large messages (g)\n\n| case | msg/s | MB/s | s | peak RSS MB | target <= 500 MB |\n|---|---|---|---|---|---|\n{}{}",
        row("export", big.export_seconds, big.export_peak_rss_mb),
        row("archive", big.archive_seconds, big.archive_peak_rss_mb),
    )
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
    if let Some(sizes) = arg("--scale") {
        let sizes: Vec<u64> = sizes
            .split(',')
            .map(|v| v.parse().expect("--scale 1,10,50 (millions of events)"))
            .collect();
        let (md, json) = scale::run(&root, &jsreplay, &sizes);
        write_results(&root, "-scale", &md, &json);
        return;
    }
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
    let payloads = sample_payloads(n);
    let started = Instant::now();
    let bytes = load(&js, &payloads, 0, n).await;
    let published = n;
    let avg = bytes as f64 / published as f64;
    eprintln!(
        "bench: published {published} messages (avg {avg:.0} B) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let tmp = tempfile::tempdir().unwrap();
    let big_count: u64 = arg("--big-payloads").map_or(2_000, |v| v.parse().unwrap());
    if std::env::args().any(|a| a == "--big-only") {
        let big = big_payloads(&js, &jsreplay, &url, tmp.path(), big_count).await;
        let md = format!("# jsreplay bench: large messages\n{}", big_payloads_md(big));
        write_results(
            &root,
            "-big",
            &md,
            &serde_json::json!({ "big_payloads": big }),
        );
        return;
    }
    if std::env::args().any(|a| a == "--hunts-only") {
        let (md, json) = hunt_bench(&jsreplay, &url, &root, tmp.path());
        let md = format!(
            "# jsreplay bench: hunts\n\n{published} SysArmor-shaped events (avg {avg:.0} B), exported once.\n{md}"
        );
        write_results(&root, "-hunts", &md, &json);
        return;
    }
    let mut rows = Vec::new();
    let mut drains = Vec::new();
    for _ in 0..repeats().max(1) {
        drains.push(raw_drain(&js, "SYSDIG_EVENTS", published).await);
    }
    drains.sort_by(f64::total_cmp);
    let raw = drains[drains.len() / 2];
    let raw_rate = published as f64 / raw;
    let row = |case: String, (secs, slowest, fastest, rss): (f64, f64, f64, f64)| Row {
        case,
        messages: published,
        seconds: secs,
        spread: (published as f64 / slowest, published as f64 / fastest),
        msgs_per_sec: published as f64 / secs,
        mb_per_sec: bytes as f64 / secs / 1e6,
        ratio_to_raw: (published as f64 / secs) / raw_rate,
        peak_rss_mb: (rss > 0.0).then_some(rss),
    };
    rows.push(row(
        "(a) raw drain: 1 no-ack pull consumer, payloads discarded".into(),
        (raw, drains[drains.len() - 1], drains[0], 0.0),
    ));
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
    let experiment = arg("--rtt").is_some();
    for path in ["consumer", "direct"].into_iter().filter(|_| !experiment) {
        for workers in [1, 2, 4] {
            let measured = measure(|| export(&url, Some(workers), path));
            let label = if workers == 1 { "(b)" } else { "(c)" };
            let case = format!("{label} export, {workers} worker(s), {path} path");
            rows.push(row(case, measured));
        }
    }
    if !experiment {
        let measured = measure(|| export(&url, None, "auto"));
        rows.push(row(
            "(c) export, default (auto workers, auto path)".into(),
            measured,
        ));
    }

    // (h) Archive runs of the whole stream, Hive and Delta, to a folder and to the S3-protocol
    // test server, each into a fresh destination, against the default export of this run.
    if !experiment {
        let moto = Moto::start(&root);
        let mut k = 0;
        for (to, store) in [("folder", None), ("S3 (moto)", Some(&moto))] {
            for format in ["hive", "delta"] {
                let measured = measure(|| {
                    k += 1;
                    let dest = match store {
                        None => tmp
                            .path()
                            .join(format!("archive-{k}"))
                            .display()
                            .to_string(),
                        Some(_) => format!("s3://bench/archive-{k}"),
                    };
                    let mut cmd = Command::new(&jsreplay);
                    cmd.args(["archive", "-q", "-s", &url, "--stream", "SYSDIG_EVENTS"])
                        .args(["--to", &dest, "--format", format]);
                    if let Some(m) = store {
                        cmd.envs(m.env());
                    }
                    let measured = timed(&mut cmd);
                    if store.is_none() {
                        std::fs::remove_dir_all(&dest).ok();
                    }
                    measured
                });
                rows.push(row(format!("(h) archive, {format}, to a {to}"), measured));
            }
        }
    }
    if std::env::args().any(|a| a == "--archive-only") {
        let md = archive_md(&rows, published, avg);
        write_results(&root, "-archive", &md, &serde_json::json!({ "rows": rows }));
        return;
    }

    // (d) Through the latency proxy: round trips are what a WAN costs.
    // `--rtt MS --parallel N` measures one proxy case alone (for experiments) and stops.
    if let Some(rtt_ms) = arg("--rtt").map(|v| v.parse::<u64>().expect("--rtt MS")) {
        let shape = proxy::Shape {
            one_way: Duration::from_millis(rtt_ms / 2),
            down_rate: None,
        };
        let proxy = proxy::Proxy::start(port, shape).await;
        let workers = arg("--parallel").map(|v| v.parse().expect("--parallel N"));
        if let Some(batch) = arg("--raw-batch").map(|v| v.parse::<usize>().expect("--raw-batch N"))
        {
            // The drain limit through the proxy: N plain consumers on N connections, each
            // reading a contiguous slice, payloads discarded.
            let n = workers.unwrap_or(1) as u64;
            let per = published / n;
            let started = Instant::now();
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let url = proxy.url();
                    tokio::spawn(async move {
                        let client = async_nats::connect(&url).await.unwrap();
                        let js = jetstream::new(client);
                        let s = js.get_stream("SYSDIG_EVENTS").await.unwrap();
                        let c = s
                            .create_consumer(consumer::pull::Config {
                                ack_policy: consumer::AckPolicy::None,
                                memory_storage: true,
                                num_replicas: 1,
                                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                                    start_sequence: 1 + i * per,
                                },
                                ..Default::default()
                            })
                            .await
                            .unwrap();
                        let mut msgs = c
                            .stream()
                            .max_messages_per_batch(batch)
                            .max_bytes_per_batch(64 << 20)
                            .messages()
                            .await
                            .unwrap();
                        for _ in 0..per {
                            std::hint::black_box(msgs.next().await.unwrap().unwrap());
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "bench: raw drain through the proxy at {rtt_ms} ms RTT, {n} consumers, batch {batch}: {:.0} msg/s",
                published as f64 / secs
            );
            return;
        }
        let path = arg("--read-path").unwrap_or_else(|| "auto".into());
        let (secs, slowest, fastest, rss) = measure(|| export(&proxy.url(), workers, &path));
        eprintln!(
            "bench: proxy at {rtt_ms} ms RTT, workers {workers:?}, {path} path: {:.0} msg/s ({:.0} - {:.0}), peak RSS {rss:.0} MB",
            published as f64 / secs,
            published as f64 / slowest,
            published as f64 / fastest,
        );
        return;
    }
    for rtt_ms in [0u64, 10, 50] {
        let shape = proxy::Shape {
            one_way: Duration::from_millis(rtt_ms / 2),
            down_rate: None,
        };
        let proxy = proxy::Proxy::start(port, shape).await;
        let via = proxy.url();
        for (workers, path) in [(Some(1), "auto"), (None, "auto"), (None, "direct")] {
            let measured = measure(|| export(&via, workers, path));
            let who = workers.map_or("default workers".to_string(), |w| format!("{w} worker(s)"));
            let how = if path == "direct" {
                ", direct path"
            } else {
                ""
            };
            let case = format!("(d) export, {who}{how}, proxy at {rtt_ms} ms RTT");
            rows.push(row(case, measured));
        }
    }

    let (hunt_md, hunt_json) = hunt_bench(&jsreplay, &url, &root, tmp.path());

    // (f) Seek at the first size, (e) peak RSS at 4 × the size, (f) seek again at 10 ×.
    let mut seeks = vec![seek_cost(&jsreplay, &client, port, published).await];
    eprintln!("bench: growing the stream to {} messages…", 4 * n);
    load(&js, &payloads, n, 4 * n).await;
    // One run: the 4x stream takes minutes to load, and this case is about memory.
    let (secs, rss) = export(&url, None, "auto");
    let big = Row {
        messages: 4 * n,
        spread: ((4 * n) as f64 / secs, (4 * n) as f64 / secs),
        msgs_per_sec: (4 * n) as f64 / secs,
        mb_per_sec: 4.0 * bytes as f64 / secs / 1e6,
        ratio_to_raw: (4 * n) as f64 / secs / raw_rate,
        ..row(
            format!("(e) export, default, {} messages", 4 * n),
            (secs, secs, secs, rss),
        )
    };
    rows.push(big);
    eprintln!("bench: growing the stream to {} messages…", 10 * n);
    load(&js, &payloads, 4 * n, 10 * n).await;
    seeks.push(seek_cost(&jsreplay, &client, port, 10 * n).await);

    let mut md = format!(
        "# jsreplay bench\n\n{published} SysArmor-shaped messages (avg {avg:.0} B), nats-server 2.14 on loopback, {} cores.\n\n\
         Each case runs {} times: the median is shown, with the slowest and fastest run's msg/s.\n\n\
         | case | msg/s | slowest - fastest | MB/s | s | vs raw drain | peak RSS MB |\n|---|---|---|---|---|---|---|\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        repeats()
    );
    for r in &rows {
        md += &format!(
            "| {} | {:.0} | {:.0} - {:.0} | {:.1} | {:.2} | {:.0} % | {} |\n",
            r.case,
            r.msgs_per_sec,
            r.spread.0,
            r.spread.1,
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
    let direct_proxied = |rtt: u64| {
        rate(&format!(
            "(d) export, default workers, direct path, proxy at {rtt} ms RTT"
        ))
    };
    let best_direct = rows
        .iter()
        .filter(|r| r.case.ends_with("direct path"))
        .max_by(|a, b| a.msgs_per_sec.total_cmp(&b.msgs_per_sec))
        .expect("direct rows");
    let default = rows
        .iter()
        .find(|r| r.case.starts_with("(c) export, default"))
        .expect("default export row");
    let peak = rows
        .iter()
        .filter_map(|r| r.peak_rss_mb)
        .fold(0.0, f64::max);
    md += "\n## Seek (f): a time window (middle half of the stream) resolved to sequences\n\n\
           | stream messages | requests (counted by the tool) | round trips (measured at 50 ms RTT) | ms on loopback | range right |\n\
           |---|---|---|---|---|\n";
    for sk in &seeks {
        md += &format!(
            "| {} | {} | {:.1} | {:.1} | {} |\n",
            sk.stream_messages,
            sk.requests,
            sk.measured_round_trips,
            sk.loopback_ms,
            yes(sk.range_ok)
        );
    }
    let rss_of = |prefix: &str| {
        rows.iter()
            .find(|r| r.case.starts_with(prefix))
            .and_then(|r| r.peak_rss_mb)
            .unwrap_or(f64::NAN)
    };
    let (rss_1, rss_4) = (rss_of("(c) export, default"), rss_of("(e) export, default"));
    let worst_seek = seeks
        .iter()
        .map(|sk| sk.measured_round_trips.max(sk.requests as f64))
        .fold(0.0, f64::max);
    md += &format!(
        "\n## Targets\n\n| target | measured | met |\n|---|---|---|\n\
         | loopback export >= 60 % of raw drain | {:.0} % ({}) | {} |\n\
         | default export >= 75 % of raw drain (median; slowest - fastest run) | {:.0} % ({:.0} - {:.0} %) | {} |\n\
         | direct path >= 60 % of raw drain | {:.0} % ({}) | {} |\n\
         | direct path at 50 ms RTT >= 80 % of its 0 ms rate | {:.0} % | {} |\n\
         | default export at 10 ms RTT >= 80 % of 0 ms | {:.0} % | {} |\n\
         | default export at 50 ms RTT >= 80 % of 0 ms | {:.0} % | {} |\n\
         | peak RSS <= 300 MB (every export above) | {peak:.0} MB | {} |\n\
         | peak RSS at {} messages within 10 % of {} | {rss_4:.0} MB vs {rss_1:.0} MB ({:+.0} %) | {} |\n\
         | seek <= 5 round trips at {} and {} messages | {worst_seek:.1} at worst | {} |\n",
        best.ratio_to_raw * 100.0,
        best.case,
        yes(best.ratio_to_raw >= 0.6),
        default.ratio_to_raw * 100.0,
        default.spread.0 / raw_rate * 100.0,
        default.spread.1 / raw_rate * 100.0,
        yes(default.ratio_to_raw >= 0.75),
        best_direct.ratio_to_raw * 100.0,
        best_direct.case,
        yes(best_direct.ratio_to_raw >= 0.6),
        direct_proxied(50) / direct_proxied(0) * 100.0,
        yes(direct_proxied(50) / direct_proxied(0) >= 0.8),
        proxied(10) / proxied(0) * 100.0,
        yes(proxied(10) / proxied(0) >= 0.8),
        proxied(50) / proxied(0) * 100.0,
        yes(proxied(50) / proxied(0) >= 0.8),
        yes(peak <= 300.0),
        4 * n,
        n,
        (rss_4 / rss_1 - 1.0) * 100.0,
        yes(rss_4 <= rss_1 * 1.1),
        n,
        10 * n,
        yes(worst_seek <= 5.0 && seeks.iter().all(|sk| sk.range_ok)),
    );
    md += &archive_md(&rows, published, avg);
    md += &hunt_md;
    let big = big_payloads(&js, &jsreplay, &url, tmp.path(), big_count).await;
    md += &big_payloads_md(big);
    let json = serde_json::json!({ "exports": rows, "seeks": seeks, "hunts": hunt_json, "big_payloads": big });
    write_results(&root, "", &md, &json);
}
