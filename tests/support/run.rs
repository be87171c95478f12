//! The jsreplay binary as the tests run it: built by cargo for this test run, with no NATS
//! environment inherited from the machine (`NATS_URL`, `NATS_CONTEXT`) and stdin closed unless
//! a test says otherwise. Every test starts the binary through [`Run`].

use std::ffi::OsStr;
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
