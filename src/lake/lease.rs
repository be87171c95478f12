//! One writer at a time per archive destination.
//!
//! On a local folder the lease is an exclusive `flock` on `_jsreplay/lock`: the kernel drops it
//! when its process dies, SIGKILL included, so a killed run never blocks the next one. On an
//! object store it is `_jsreplay/lease.json`, created only if absent, renewed every third of its
//! time to live with a replace-if-unchanged write, and taken over by a replace-if-unchanged write
//! once it has expired (or at once when it names a process of this host that is gone). It is
//! released by a replace-if-unchanged write too, of a record marked released, never by a delete:
//! object stores have no delete-if-unchanged, and a holder that lost its lease unnoticed must not
//! remove its successor's. Whoever
//! loses a race for it is told who holds it and until when. The archive's checkpoint is itself
//! written replace-if-unchanged, so a run that lost its lease cannot commit.
//!
//! A holder that stalls (SIGSTOP, a frozen VM, a long GC of the host) may wake up after another
//! run took its expired lease over. It fences itself: [`Lease::check`], called before every
//! upload and commit, fails once the last successful write of the lease is older than its time
//! to live minus a margin, measured on the monotonic clock (wall-clock jumps do not count). The
//! store's conditional writes are what all of this rests on, so they are probed once at start and
//! a store that ignores them is refused. A `lease.json` nobody can read is taken over once it is
//! older than the time to live.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::error::{Error, Result};
use crate::lake::store::{Dest, Version, WriteMode, Written};

pub const LEASE: &str = "_jsreplay/lease.json";
const LOCK: &str = "_jsreplay/lock";

/// Who holds a destination, as written in `lease.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    /// The process's start time (clock ticks since boot), so a reused PID is not mistaken for it.
    pub pid_start: Option<u64>,
    pub command: String,
    pub acquired_at: String,
    pub expires_at: String,
    /// Set when the holder gave the lease back: anyone may take it at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<String>,
}

impl Holder {
    fn me(command: &str, ttl: Duration) -> Self {
        let pid = std::process::id();
        let now = Utc::now();
        Self {
            host: hostname(),
            pid,
            pid_start: process_start(pid),
            command: command.to_string(),
            acquired_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
            expires_at: expiry(now, ttl),
            released_at: None,
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} (pid {} on {}, since {}, lease until {})",
            self.command, self.pid, self.host, self.acquired_at, self.expires_at
        )
    }

    /// True when the holder is certainly gone: it released the lease, the lease expired, or it
    /// ran on this host and its process no longer exists.
    fn is_stale(&self, now: DateTime<Utc>) -> bool {
        if self.released_at.is_some() {
            return true;
        }
        let expired = DateTime::parse_from_rfc3339(&self.expires_at)
            .map_or(true, |t| t.with_timezone(&Utc) <= now);
        let dead_here = self.host == hostname()
            && process_start(self.pid).is_none_or(|s| Some(s) != self.pid_start);
        expired || dead_here
    }
}

fn expiry(now: DateTime<Utc>, ttl: Duration) -> String {
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    (now + ttl).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into())
}

/// A live process's start time from `/proc/<pid>/stat`; `None` when there is no such process.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// A held lease; [`Lease::release`] gives it back.
pub struct Lease {
    dest: Dest,
    holder: Holder,
    /// Object stores: the monotonic time after which this run may no longer write (the last
    /// successful lease write + TTL - margin). Local folders: `None` (the flock cannot expire).
    valid_until: Arc<std::sync::Mutex<Option<Instant>>>,
    /// What the run found: a stale lease it took over, if any.
    pub recovered: Option<String>,
    lock: Option<File>,
    version: Arc<Mutex<Option<Version>>>,
    lost: Arc<AtomicBool>,
    renew: Option<tokio::task::JoinHandle<()>>,
}

fn busy(dest: &Dest, holder: Option<Holder>) -> Error {
    let who = holder.map_or("another run".to_string(), |h| h.describe());
    Error::Busy(format!(
        "{} is being written by {who}; only one archive or compact run at a time (a killed run's \
         lease is recovered once it expires, or at once on the same host)",
        dest.display
    ))
}

impl Lease {
    /// Takes the destination's lease for `command`, or fails with [`Error::Busy`].
    pub async fn acquire(dest: &Dest, command: &str, ttl: Duration) -> Result<Self> {
        let holder = Holder::me(command, ttl);
        let mut lease = Self {
            dest: dest.clone(),
            holder,
            recovered: None,
            lock: None,
            valid_until: Arc::new(std::sync::Mutex::new(None)),
            version: Arc::new(Mutex::new(None)),
            lost: Arc::new(AtomicBool::new(false)),
            renew: None,
        };
        match &dest.local {
            Some(dir) => lease.lock_local(dir).await?,
            None => {
                probe_conditional_writes(dest).await?;
                lease.take_remote(ttl).await?;
                lease.renew = Some(lease.spawn_renewal(ttl));
            }
        }
        Ok(lease)
    }

    async fn previous(&self) -> Result<Option<(Holder, Version)>> {
        Ok(self
            .dest
            .read(LEASE)
            .await?
            .and_then(|(b, v)| serde_json::from_slice::<Holder>(&b).ok().map(|h| (h, v))))
    }

    fn record(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.holder).expect("lease serializes")
    }

    async fn lock_local(&mut self, dir: &std::path::Path) -> Result<()> {
        use std::os::fd::AsRawFd;
        let path = dir.join(LOCK);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        // SAFETY: flock on a file descriptor this function owns; no memory is shared.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(busy(&self.dest, self.previous().await?.map(|(h, _)| h)));
            }
            return Err(Error::io(&path, err));
        }
        self.lock = Some(file);
        // The lock is what excludes; lease.json only says who holds it. One left behind names
        // a run that died without releasing.
        if let Some((old, _)) = self.previous().await? {
            self.recovered = Some(old.describe());
        }
        self.dest
            .write(LEASE, self.record(), WriteMode::Overwrite)
            .await?;
        Ok(())
    }

    async fn take_remote(&mut self, ttl: Duration) -> Result<()> {
        for _ in 0..5 {
            let sent = Instant::now();
            if let Written::Done(v) = self
                .dest
                .write(LEASE, self.record(), WriteMode::Create)
                .await?
            {
                *self.version.lock().await = Some(v);
                self.fence_from(sent, ttl);
                return Ok(());
            }
            let Some((bytes, version)) = self.dest.read(LEASE).await? else {
                continue; // released meanwhile: try to create it again
            };
            let taken_over = match serde_json::from_slice::<Holder>(&bytes) {
                Ok(old) if !old.is_stale(Utc::now()) => return Err(busy(&self.dest, Some(old))),
                Ok(old) if old.released_at.is_some() => None,
                Ok(old) => Some(old.describe()),
                // Nobody can say who holds it: stale once older than a lease lives.
                Err(_) => {
                    let modified = self.dest.modified(LEASE).await?;
                    let ttl_c = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
                    if modified.is_some_and(|m| Utc::now() - m < ttl_c) {
                        return Err(busy(&self.dest, None));
                    }
                    Some("an unreadable lease.json older than the lease's time to live".to_string())
                }
            };
            let sent = Instant::now();
            if let Written::Done(v) = self
                .dest
                .write(LEASE, self.record(), WriteMode::Replace(version))
                .await?
            {
                self.recovered = taken_over;
                *self.version.lock().await = Some(v);
                self.fence_from(sent, ttl);
                return Ok(());
            }
        }
        Err(busy(&self.dest, self.previous().await?.map(|(h, _)| h)))
    }

    /// A lease written at `sent` lets this run write until `sent + ttl - margin`.
    fn fence_from(&self, sent: Instant, ttl: Duration) {
        set_fence(&self.valid_until, sent, ttl);
    }

    fn spawn_renewal(&self, ttl: Duration) -> tokio::task::JoinHandle<()> {
        let dest = self.dest.clone();
        let mut holder = self.holder.clone();
        let version = self.version.clone();
        let lost = self.lost.clone();
        let valid_until = self.valid_until.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                let mut v = version.lock().await;
                let Some(current) = v.clone() else { return };
                holder.expires_at = expiry(Utc::now(), ttl);
                let body = serde_json::to_vec_pretty(&holder).expect("lease serializes");
                let sent = Instant::now();
                match dest.write(LEASE, body, WriteMode::Replace(current)).await {
                    Ok(Written::Done(next)) => {
                        *v = Some(next);
                        set_fence(&valid_until, sent, ttl);
                    }
                    Ok(Written::Conflict) => {
                        lost.store(true, Ordering::SeqCst);
                        return;
                    }
                    // A failed renewal is retried at the next tick; expiry is a third away.
                    Err(_) => {}
                }
            }
        })
    }

    /// Fails when the lease was taken over (a renewal found somebody else's lease) or may have
    /// been (no renewal succeeded for the lease's time to live, on the monotonic clock).
    pub fn check(&self) -> Result<()> {
        let until = *self.valid_until.lock().expect("fence lock");
        if until.is_some_and(|u| Instant::now() >= u) {
            return Err(Error::Busy(format!(
                "the lease on {} has not been renewed for longer than its time to live (this run \
                 stalled, or the store was unreachable): another run may hold it now; stopping \
                 without uploading or committing anything more",
                self.dest.display
            )));
        }
        if self.lost.load(Ordering::SeqCst) {
            return Err(Error::Busy(format!(
                "the lease on {} was taken over by another run; stopping without committing",
                self.dest.display
            )));
        }
        Ok(())
    }

    /// Gives the lease back. Local folders: `lease.json` is removed and the flock dropped. Object
    /// stores: `lease.json` is replaced, only if it is still the version this run last wrote, by
    /// this run's record marked released (a lease taken over meanwhile is left alone).
    pub async fn release(mut self) {
        if let Some(task) = self.renew.take() {
            task.abort();
        }
        let mine = self.version.lock().await.clone();
        match (&self.lock, mine) {
            (Some(_), _) => {
                let _ = self.dest.delete(LEASE).await;
            }
            (None, Some(version)) => {
                let now = Utc::now();
                self.holder.released_at = Some(now.to_rfc3339_opts(SecondsFormat::Millis, true));
                self.holder.expires_at = expiry(now, Duration::ZERO);
                let _ = self
                    .dest
                    .write(LEASE, self.record(), WriteMode::Replace(version))
                    .await;
            }
            _ => {}
        }
        // Dropping the file releases the flock.
        self.lock.take();
    }
}

fn set_fence(valid_until: &std::sync::Mutex<Option<Instant>>, sent: Instant, ttl: Duration) {
    // The margin covers the other side's clock and the time a write takes to land.
    let margin = (ttl / 5).max(Duration::from_millis(200)).min(ttl / 2);
    *valid_until.lock().expect("fence lock") = Some(sent + ttl - margin);
}

/// Checks once that the store honours conditional writes (create-if-absent and
/// replace-if-unchanged): leases, checkpoints and exactly-once commits depend on them, and a
/// store or gateway that ignores the headers would let two archivers overwrite each other.
async fn probe_conditional_writes(dest: &Dest) -> Result<()> {
    let probe = format!(
        "_jsreplay/probe-{}-{:016x}",
        std::process::id(),
        crate::lake::staging::random()
    );
    let refuse = |what: &str| {
        Error::Store(format!(
            "{} ignores conditional writes ({what}): two archivers could overwrite each other's \
             commits there; refusing to archive to it",
            dest.display
        ))
    };
    let first = dest.write(&probe, b"1".to_vec(), WriteMode::Create).await?;
    let result = async {
        let Written::Done(version) = first else {
            return Err(refuse("a new object's name was reported taken"));
        };
        if let Written::Done(_) = dest.write(&probe, b"2".to_vec(), WriteMode::Create).await? {
            return Err(refuse("create-if-absent replaced an existing object"));
        }
        let stale = Version {
            e_tag: Some("\"jsreplay-probe-not-a-version\"".into()),
            version: None,
        };
        if let Written::Done(_) = dest
            .write(&probe, b"3".to_vec(), WriteMode::Replace(stale))
            .await?
        {
            return Err(refuse(
                "replace-if-unchanged replaced an object that had changed",
            ));
        }
        if let Written::Conflict = dest
            .write(&probe, b"4".to_vec(), WriteMode::Replace(version))
            .await?
        {
            return Err(refuse("replace-if-unchanged refused an unchanged object"));
        }
        Ok(())
    }
    .await;
    let _ = dest.delete(&probe).await;
    result
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(task) = self.renew.take() {
            task.abort();
        }
    }
}
