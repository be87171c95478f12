//! The jsreplay binary as the tests run it: built by cargo for this test run, with no NATS
//! environment inherited from the machine (`NATS_URL`, `NATS_CONTEXT`) and stdin closed unless
//! a test says otherwise. Every test starts the binary through [`Run`]; the helpers below run
//! it to the end and check what it said.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub struct Run {
    cmd: Command,
}

impl Run {
    /// `jsreplay ARGS…`.
    pub fn new<I, S>(args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_jsreplay"));
        cmd.args(args)
            .env_remove("NATS_URL")
            .env_remove("NATS_CONTEXT")
            .stdin(Stdio::null());
        Run { cmd }
    }

    /// More arguments.
    pub fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// One more environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Run {
        self.cmd.env(key, value);
        self
    }

    /// More environment variables (an object store's credentials).
    pub fn envs(mut self, env: &[(String, String)]) -> Run {
        self.cmd
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        self
    }

    /// The command itself, for what the builder does not cover (a pseudo-terminal, a file as
    /// stdout).
    pub fn command(self) -> Command {
        self.cmd
    }

    /// Runs to the end; stdout and stderr captured.
    pub fn output(mut self) -> Output {
        self.cmd.output().expect("run jsreplay")
    }

    /// Runs to the end with `input` on stdin (a pipe); stdout and stderr captured.
    pub fn input(mut self, input: &str) -> Output {
        let mut child = self
            .cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run jsreplay");
        use std::io::Write;
        // A run that stops early (a failing statement) may close its end first: not our failure.
        let _ = child
            .stdin
            .take()
            .expect("piped")
            .write_all(input.as_bytes());
        child.wait_with_output().expect("wait for jsreplay")
    }

    /// Starts it with stdout and stderr as given (`Stdio::piped()`, `Stdio::null()`, a file).
    pub fn spawn(mut self, stdout: impl Into<Stdio>, stderr: impl Into<Stdio>) -> Child {
        self.cmd
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start jsreplay")
    }
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

/// Runs the binary with extra environment variables (credentials of an object store).
pub fn jsreplay_env(args: &[&str], env: &[(String, String)]) -> Output {
    Run::new(args).envs(env).output()
}

/// Runs the binary with extra environment variables and `input` on its stdin (a pipe).
pub fn jsreplay_stdin(args: &[&str], env: &[(String, String)], input: &str) -> Output {
    Run::new(args).envs(env).input(input)
}

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

/// The hunts run as `hunt_json` ran them (`doc`, one shared pass) and again with `--per-hunt`
/// (each hunt scanning the dataset itself) give the same rows in the same order and the same
/// seqs, hunt by hunt; and the shared pass did share (most hunts read its sets).
pub fn same_both_ways(ds: &Path, extra: &[&str], doc: &serde_json::Value) {
    let pass = &doc["shared_pass"];
    let shared = pass["hunts_shared"]
        .as_u64()
        .unwrap_or_else(|| panic!("no shared pass: {pass}"));
    let hunts = doc["hunts"].as_array().unwrap();
    assert!(
        shared * 2 > hunts.len() as u64,
        "few hunts shared the pass: {pass}"
    );
    let mut args = extra.to_vec();
    args.push("--per-hunt");
    let alone = hunt_json(ds, &args);
    assert!(alone["shared_pass"].is_null());
    let alone = alone["hunts"].as_array().unwrap();
    assert_eq!(hunts.len(), alone.len());
    for (a, b) in hunts.iter().zip(alone) {
        assert_eq!(a["name"], b["name"]);
        assert_eq!(a["results"], b["results"], "{}: rows differ", a["name"]);
        assert_eq!(a["seqs"], b["seqs"], "{}: seqs differ", a["name"]);
        assert_eq!(a["error"], b["error"], "{}", a["name"]);
    }
}

impl Run {
    /// Runs to the end like [`Run::output`], also returning the child's peak resident memory in
    /// MB (10^6 bytes): its `VmHWM`, polled every 10 ms.
    pub fn output_with_peak_rss(self) -> (Output, f64) {
        use std::io::Read;
        let mut child = self.spawn(Stdio::piped(), Stdio::piped());
        let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            out.read_to_end(&mut v).unwrap();
            v
        });
        let err_reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            err.read_to_end(&mut v).unwrap();
            v
        });
        let status_file = format!("/proc/{}/status", child.id());
        let mut peak_kib = 0u64;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            let hwm = std::fs::read_to_string(&status_file).ok().and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            });
            peak_kib = peak_kib.max(hwm.unwrap_or(0));
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let output = Output {
            status,
            stdout: reader.join().unwrap(),
            stderr: err_reader.join().unwrap(),
        };
        (output, peak_kib as f64 * 1024.0 / 1e6)
    }
}
