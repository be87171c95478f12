//! Private working folders. Archive chunks and compaction merges are staged on local disk before
//! they are uploaded; another local user must be able neither to read them (they hold command
//! lines with secrets) nor to swap them (a planted symlink or a prepared folder). A working folder
//! is therefore created fresh under a name nobody can predict, mode 0700, with `mkdir` that fails
//! on anything already there (a symlink included, so it is never followed), and checked to be a
//! real folder of ours afterwards. Folders of earlier runs whose process is gone are swept.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A private working folder, removed with everything in it when dropped.
#[derive(Debug)]
pub struct WorkDir(PathBuf);

impl WorkDir {
    /// Creates `<parent>/jsreplay-<what>-<pid>-<random>` (0700, exclusive), after sweeping
    /// `jsreplay-<what>-*` folders of this user whose process has exited.
    pub fn create(parent: &Path, what: &str) -> Result<Self> {
        sweep(parent, what);
        let mut last = None;
        for _ in 0..8 {
            let dir = parent.join(format!(
                "jsreplay-{what}-{}-{:016x}",
                std::process::id(),
                random()
            ));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    check_ours(&dir)?;
                    return Ok(Self(dir));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(Error::io(&dir, e)),
            }
        }
        Err(Error::io(
            parent,
            last.unwrap_or_else(|| std::io::Error::other("no free name")),
        ))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// 64 unpredictable bits from the kernel (`/dev/urandom`), or from the standard library's
/// randomly seeded hasher where that cannot be read.
pub fn random() -> u64 {
    use std::io::Read;
    let mut buf = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok()
    {
        return u64::from_ne_bytes(buf);
    }
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

/// The effective user id of this process.
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The folder just made must be a real folder (not a link), owned by this user, private.
fn check_ours(dir: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| Error::io(dir, e))?;
    let me = euid();
    if !meta.is_dir() || meta.uid() != me || meta.mode() & 0o077 != 0 {
        return Err(Error::Input(format!(
            "{}: the working folder is not a private folder of this user",
            dir.display()
        )));
    }
    Ok(())
}

/// Who made an output folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Made {
    /// This run, just now.
    ByThisRun,
    /// It was there before.
    Before,
}

/// An output folder (`-o DIR`, `--keep DIR`) that exists already must be a real folder (not a
/// symbolic link to one), of this user, that no other user can write to: otherwise somebody
/// else chose where the evidence goes, or can plant links in it before the parts are moved in.
/// A folder this run just made has the mode the umask gave it.
pub fn check_output_folder(dir: &Path, made: Made) -> Result<()> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| Error::io(dir, e))?;
    let me = euid();
    let why = if meta.file_type().is_symlink() {
        "is a symbolic link; give the folder itself"
    } else if !meta.is_dir() {
        "is not a folder"
    } else if meta.uid() != me {
        "belongs to another user"
    } else if made == Made::Before && meta.mode() & 0o022 != 0 {
        "can be written by other users (chmod go-w, or choose a new folder)"
    } else {
        return Ok(());
    };
    Err(Error::Usage(format!(
        "output directory {} {why}",
        dir.display()
    )))
}

/// Creates `dir` (its parent must exist) as a new private folder: 0700, and failing on anything
/// already there, a symbolic link included, so it is never followed.
pub fn create_private(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(dir, e))?;
    check_ours(dir)
}

/// Removes `jsreplay-<what>-<pid>-*` folders of this user whose process no longer runs (left by
/// a killed run). Links and other users' folders are left alone.
fn sweep(parent: &Path, what: &str) {
    let prefix = format!("jsreplay-{what}-");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let me = euid();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let gone = pid > 0
            && unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if meta.is_dir() && meta.uid() == me && gone {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_unique_and_never_through_a_link() {
        let parent = tempfile_dir();
        let a = WorkDir::create(&parent, "t").unwrap();
        let b = WorkDir::create(&parent, "t").unwrap();
        assert_ne!(a.path(), b.path());
        let mode = std::fs::metadata(a.path()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // A dead process's folder is swept; a planted link is not followed or removed.
        let dead = parent.join("jsreplay-t-999999999-0000000000000000");
        std::fs::create_dir(&dead).unwrap();
        let target = parent.join("victim");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), b"x").unwrap();
        std::os::unix::fs::symlink(&target, parent.join("jsreplay-t-999999998-link")).unwrap();
        let c = WorkDir::create(&parent, "t").unwrap();
        assert!(!dead.exists());
        assert!(target.join("keep").exists());
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists());
        drop((b, c));
        let _ = std::fs::remove_dir_all(&parent);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("jsreplay-staging-test-{:x}", random()));
        std::fs::create_dir(&dir).unwrap();
        dir
    }
}
