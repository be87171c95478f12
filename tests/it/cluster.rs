//! Hunts on a Ballista cluster: a scheduler and two executors started as `jsreplay scheduler` and
//! `jsreplay executor` processes on loopback, the sample incident archived in a real S3-protocol
//! server, and every command that takes `--cluster` compared with the same command run locally.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};

use crate::archive::Target;
use crate::util::*;

/// A cluster process, killed when the test ends.
struct Daemon(Child);

impl Daemon {
    fn spawn(args: &[&str], env: &[(String, String)], log: &Path) -> Daemon {
        let log = std::fs::File::create(log).unwrap();
        let child = Run::new(args).envs(env).spawn(Stdio::null(), log);
        Daemon(child)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Each hunt's name and its result rows as sorted JSON texts (the order of rows a hunt does not
/// sort is the engine's to choose), with the run's error if any.
fn hunt_rows(o: &std::process::Output) -> BTreeMap<String, (serde_json::Value, Vec<String>)> {
    assert_ok(o);
    let doc: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("hunt JSON: {}", text(o)));
    doc["hunts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let mut rows: Vec<String> = h["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.to_string())
                .collect();
            rows.sort();
            (
                h["name"].as_str().unwrap().to_string(),
                (h["error"].clone(), rows),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pack_on_a_cluster_equals_the_local_run() {
    let server = Server::start(Kind::V2_14);
    let tmp = tempfile::tempdir().unwrap();
    let sample = repo_root().join("sample-data/incident.ndjson.zst");
    publish_file(&server.url, &sample);
    let s3 = S3::start();
    let target = Target::S3(&s3, "incident");
    assert_ok(&target.run(&server.url, &[]));
    let env = s3.env();
    let dest = target.dest();

    let scheduler_port = free_port();
    let cluster = format!("df://127.0.0.1:{scheduler_port}");
    let _scheduler = Daemon::spawn(
        &[
            "scheduler",
            "--bind",
            &format!("127.0.0.1:{scheduler_port}"),
        ],
        &env,
        &tmp.path().join("scheduler.log"),
    );
    wait_for_port(scheduler_port, "jsreplay scheduler");
    let mut executors = Vec::new();
    let mut work_dirs = Vec::new();
    for i in 0..2 {
        let (flight, grpc) = (free_port(), free_port());
        let work = tmp.path().join(format!("executor-{i}"));
        std::fs::create_dir_all(&work).unwrap();
        executors.push(Daemon::spawn(
            &[
                "executor",
                "--scheduler",
                &cluster,
                "--port",
                &flight.to_string(),
                "--grpc-port",
                &grpc.to_string(),
                "--concurrent-tasks",
                "2",
                "--work-dir",
                work.to_str().unwrap(),
            ],
            &env,
            &tmp.path().join(format!("executor-{i}.log")),
        ));
        wait_for_port(flight, "jsreplay executor");
        work_dirs.push(work);
    }
    let on_cluster = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--cluster", cluster.as_str()]);
        jsreplay_env(&all, &env)
    };

    // The whole pack: every hunt runs on the executors and finds exactly what it finds locally.
    let local = hunt_rows(&jsreplay_env(&["hunt", &dest, "--format", "json"], &env));
    let remote = hunt_rows(&on_cluster(&["hunt", &dest, "--format", "json"]));
    assert!(local.values().all(|(e, _)| e.is_null()), "{local:?}");
    assert!(
        local.values().filter(|(_, rows)| !rows.is_empty()).count() >= 10,
        "the sample incident has hits: {local:?}"
    );
    assert_eq!(local.len(), remote.len());
    for (name, found) in &local {
        assert_eq!(Some(found), remote.get(name), "{name}");
    }

    // Ad-hoc SQL with jsreplay's functions, a join and a sort, byte for byte.
    let sql = "SELECT e.hostname, e.evt_type, is_private_ip(e.fd_sip) AS private, \
               count(evt_arg(e.evt_args, 'fd')) AS with_fd, count(*) AS n, max(h.events) AS events \
               FROM events e JOIN (SELECT hostname, count(*) AS events FROM events GROUP BY 1) h \
               ON e.hostname = h.hostname WHERE e.fd_sip IS NOT NULL \
               GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
    let local = jsreplay_env(&["query", &dest, sql, "--format", "csv"], &env);
    assert_ok(&local);
    assert!(local.stdout.len() > 100, "{}", text(&local));
    let remote = on_cluster(&["query", &dest, sql, "--format", "csv"]);
    assert_ok(&remote);
    assert_eq!(
        String::from_utf8_lossy(&local.stdout),
        String::from_utf8_lossy(&remote.stdout)
    );

    // The same statement through the SQL shell, fed from a pipe.
    let script = format!(".format csv\n{sql};\n");
    let shell = jsreplay_stdin(&["sql", &dest, "--cluster", &cluster], &env, &script);
    assert_ok(&shell);
    assert_eq!(local.stdout, shell.stdout);

    // A host's timeline and a process tree.
    for args in [
        ["timeline", &dest, "--host", "web-01", "--format", "csv"],
        ["tree", &dest, "--host", "web-01", "--pid", "23030"],
    ] {
        let local = jsreplay_env(&args, &env);
        assert_ok(&local);
        let remote = on_cluster(&args);
        assert_ok(&remote);
        assert_eq!(local.stdout, remote.stdout, "{args:?}");
    }

    // Both executors ran tasks: each wrote shuffle files for the jobs.
    for work in &work_dirs {
        let jobs = std::fs::read_dir(work).unwrap().count();
        assert!(jobs > 0, "{} holds no job's files", work.display());
    }

    // No scheduler there: a connection error naming the cluster (exit 3), at once.
    let nobody = format!("df://127.0.0.1:{}", free_port());
    let o = jsreplay_env(&["hunt", &dest, "--cluster", &nobody], &env);
    assert_code(&o, 3, &nobody);
    // --cluster where it means nothing, or malformed: a usage error.
    let o = jsreplay(&["plan", "--stream", "X", "--cluster", &cluster]);
    assert_code(
        &o,
        2,
        "--cluster applies to query, sql, hunt, timeline and tree",
    );
    let o = jsreplay(&["query", &dest, "SELECT 1", "--cluster", "http://x:1"]);
    assert_code(&o, 2, "df://HOST:PORT");
    drop(executors);
}

/// Starts a scheduler and one executor on loopback, both confined to `roots`; returns them
/// with the cluster's address.
fn confined_cluster(roots: &[&Path], logs: &Path) -> (Vec<Daemon>, String) {
    let scheduler_port = free_port();
    let cluster = format!("df://127.0.0.1:{scheduler_port}");
    let read_roots: Vec<String> = roots
        .iter()
        .flat_map(|r| ["--read-root".to_string(), r.display().to_string()])
        .collect();
    let bind = format!("127.0.0.1:{scheduler_port}");
    let mut args = vec!["scheduler", "--bind", &bind];
    args.extend(read_roots.iter().map(String::as_str));
    let scheduler = Daemon::spawn(&args, &[], &logs.join("scheduler.log"));
    wait_for_port(scheduler_port, "jsreplay scheduler");
    let (flight, grpc) = (free_port(), free_port());
    let (flight_s, grpc_s) = (flight.to_string(), grpc.to_string());
    let work = logs.join("executor-work");
    std::fs::create_dir_all(&work).unwrap();
    let mut args = vec![
        "executor",
        "--scheduler",
        &cluster,
        "--port",
        &flight_s,
        "--grpc-port",
        &grpc_s,
        "--work-dir",
        work.to_str().unwrap(),
    ];
    args.extend(read_roots.iter().map(String::as_str));
    let executor = Daemon::spawn(&args, &[], &logs.join("executor.log"));
    wait_for_port(flight, "jsreplay executor");
    (vec![scheduler, executor], cluster)
}

/// Anybody who reaches the cluster's ports can send it plans, and it may run as a user that
/// reads more than the sender (the audit read a root-only file and wrote into a root-only
/// folder through it). A dataset under `--read-root` reads as it does locally; a table over a
/// file outside the roots (directly or through a link planted inside one) returns an error and
/// never the file's text; `COPY … TO` into the root or elsewhere is refused and creates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_reads_only_its_roots_and_writes_nothing() {
    let server = Server::start(Kind::V2_14);
    let tmp = tempfile::tempdir().unwrap();
    let allowed = tmp.path().join("allowed");
    std::fs::create_dir_all(&allowed).unwrap();
    let ds = publish_and_export(
        &server.url,
        &repo_root().join("sample-data/incident.ndjson.zst"),
        &allowed,
    );
    let ds = ds.to_str().unwrap();
    let secret = tmp.path().join("secret.csv");
    std::fs::write(&secret, "a\nTOP-SECRET-7731\n").unwrap();
    let planted = allowed.join("planted.csv");
    std::os::unix::fs::symlink(&secret, &planted).unwrap();
    let (daemons, cluster) = confined_cluster(&[&allowed], tmp.path());

    let sql = "SELECT hostname, count(*) AS n FROM events GROUP BY 1 ORDER BY 1";
    let local = jsreplay(&["query", ds, sql, "--format", "csv"]);
    assert_ok(&local);
    let remote = jsreplay(&["query", ds, sql, "--format", "csv", "--cluster", &cluster]);
    assert_ok(&remote);
    assert_eq!(local.stdout, remote.stdout);

    for file in [&secret, &planted] {
        let script = format!(
            "CREATE EXTERNAL TABLE s (a VARCHAR) STORED AS CSV LOCATION '{}';\nSELECT * FROM s;\n",
            file.display()
        );
        let o = jsreplay_stdin(&["sql", ds, "--cluster", &cluster], &[], &script);
        assert!(!o.status.success(), "{}", text(&o));
        assert!(!text(&o).contains("TOP-SECRET"), "{}", text(&o));
        assert!(!text(&o).contains("panicked"), "{}", text(&o));
    }
    let outside = tmp.path().join("cron.d");
    std::fs::create_dir_all(&outside).unwrap();
    for target in [allowed.join("out.csv"), outside.join("x.csv")] {
        let script = format!(
            "COPY (SELECT 'x' AS line) TO '{}' STORED AS CSV;\n",
            target.display()
        );
        let o = jsreplay_stdin(&["sql", ds, "--cluster", &cluster], &[], &script);
        assert_eq!(o.status.code(), Some(5), "{}", text(&o));
        assert!(
            text(&o).contains("not statements that write"),
            "{}",
            text(&o)
        );
        assert!(!target.exists(), "{}", target.display());
    }
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    drop(daemons);
}
