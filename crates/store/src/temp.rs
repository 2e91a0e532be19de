//! Temporary files and directories under the store's `tmp/`.
//!
//! Each name starts with the pid of the process that made it, so a later
//! process can tell an abandoned one (its owner is gone, e.g. killed by
//! SIGKILL mid-load) from one still in use, and sweep it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rand::Rng;

use crate::StoreError;

/// A path under `tmp/` that is removed (file or whole tree) when dropped,
/// unless `keep` is called after it was renamed into place.
#[derive(Debug)]
pub struct TempPath {
    path: PathBuf,
}

impl TempPath {
    /// Reserves a fresh name; nothing is created yet.
    pub fn new_in(tmp: &Path, label: &str) -> Result<TempPath, StoreError> {
        let suffix: u64 = rand::thread_rng().gen();
        Ok(TempPath {
            path: tmp.join(format!("{}-{suffix:016x}-{label}", std::process::id())),
        })
    }

    /// Reserves a fresh name and creates a directory there.
    pub fn new_dir_in(tmp: &Path, label: &str) -> Result<TempPath, StoreError> {
        let t = TempPath::new_in(tmp, label)?;
        fs::create_dir(&t.path)
            .map_err(|e| StoreError::io(format!("create {}", t.path.display()), e))?;
        Ok(t)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Forgets the path: it has been moved into the store.
    pub fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        remove_any(&self.path);
    }
}

fn remove_any(path: &Path) {
    let result = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "could not remove temporary path");
    }
}

/// Removes entries of `tmp` whose owning process no longer exists.
pub fn sweep_abandoned(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if pid as u32 == std::process::id() || process_alive(pid) {
            continue;
        }
        tracing::debug!(path = %e.path().display(), "removing abandoned temporary path");
        remove_any(&e.path());
    }
}

/// Marks `dir` as the top of unrelated directory trees (ext2/3/4's
/// `chattr +T`), so the inode allocator spreads the directories made in it
/// over the disk instead of packing them next to `dir`. Layers are staged,
/// and containers' writable layers made, as subdirectories of such
/// directories; each is a tree of its own. Without the mark, on ext4
/// without a journal, a tree created soon after a big one nearby was
/// deleted allocates every inode by scanning past the freed ones (ext4
/// avoids reusing inodes freed in the last minutes): a build copying
/// 5,000 files into a store made where another such store had just been
/// deleted took 4-5 s instead of 1 s.
/// Other file systems lack the flag; nothing depends on it.
pub fn spread_children(dir: &Path) {
    use rustix::fs::IFlags;
    let marked = fs::File::open(dir).and_then(|d| {
        let flags = rustix::fs::ioctl_getflags(&d)?;
        if !flags.contains(IFlags::TOPDIR) {
            rustix::fs::ioctl_setflags(&d, flags | IFlags::TOPDIR)?;
        }
        Ok(())
    });
    if let Err(error) = marked {
        tracing::debug!(dir = %dir.display(), %error, "directory not marked as top of trees");
    }
}

/// Whether process `pid` exists and has not exited. A zombie (exited, not
/// yet reaped by its parent, which for an orphan is whatever init the
/// machine runs) is gone: its work is over. A pid recycled by another
/// process counts as alive, which only delays a cleanup.
pub fn process_alive(pid: i32) -> bool {
    let Some(p) = rustix::process::Pid::from_raw(pid) else {
        return false;
    };
    if matches!(
        rustix::process::test_kill_process(p),
        Err(rustix::io::Errno::SRCH)
    ) {
        return false;
    }
    // `/proc/<pid>/stat` is `pid (comm) state ...`; comm may hold spaces
    // and parentheses, the state follows the last `)`.
    let state = fs::read(format!("/proc/{pid}/stat")).ok().and_then(|stat| {
        let end = stat.iter().rposition(|&b| b == b')')?;
        stat.get(end + 2).copied()
    });
    !matches!(state, Some(b'Z' | b'X'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_removes_only_dead_owners() {
        let t = tempfile::tempdir().unwrap();
        let mine = TempPath::new_dir_in(t.path(), "layer").unwrap();
        // pid 0x7fffffff cannot exist (above pid_max).
        fs::create_dir(t.path().join("2147483646-00-layer")).unwrap();
        fs::write(t.path().join("2147483646-01-blob"), b"x").unwrap();
        sweep_abandoned(t.path());
        let left: Vec<_> = fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(left, vec![mine.path().to_path_buf()]);
    }

    #[test]
    fn zombies_are_not_alive() {
        assert!(process_alive(std::process::id() as i32));
        assert!(!process_alive(0x7fff_fffe));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        // Exited but not reaped: a zombie until `wait`.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while process_alive(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!process_alive(pid));
        child.wait().unwrap();
    }

    #[test]
    fn children_are_spread_where_the_file_system_can() {
        const EXT4_SUPER_MAGIC: i64 = 0xEF53;
        let t = tempfile::tempdir().unwrap();
        spread_children(t.path());
        // Marking twice keeps the other flags and fails nowhere.
        spread_children(t.path());
        let is_ext = rustix::fs::statfs(t.path()).unwrap().f_type as i64 == EXT4_SUPER_MAGIC;
        let flags = rustix::fs::ioctl_getflags(fs::File::open(t.path()).unwrap());
        if is_ext {
            assert!(flags.unwrap().contains(rustix::fs::IFlags::TOPDIR));
        }
        // Elsewhere (tmpfs, overlayfs) nothing is marked and nothing fails.
        spread_children(&t.path().join("missing"));
    }
}
