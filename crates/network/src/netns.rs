//! Network namespaces held by file descriptors.
//!
//! A container's namespace is made by the monitor (the process that lives
//! as long as the container) on a thread of its own, and kept by an open
//! descriptor; runc joins it through `/proc/<monitor pid>/fd/<n>`. Nothing
//! is bind-mounted, so nothing is left behind when the monitor is killed:
//! the kernel frees the namespace, and the veth end in it (which takes its
//! host end along), once its last process and descriptor are gone.
//!
//! The one `unsafe` call of the crate is here: rustix marks `unshare`
//! unsafe because unsharing the file table breaks descriptor ownership;
//! only `CLONE_NEWNET` is ever passed.

#![allow(unsafe_code)]

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

use crate::NetworkError;

/// A network namespace, alive at least as long as this handle.
#[derive(Debug)]
pub struct NetNs {
    fd: OwnedFd,
}

impl NetNs {
    /// Makes a new, empty namespace (only a `lo`, down).
    pub fn new() -> Result<NetNs, NetworkError> {
        run_on_thread(|| {
            // SAFETY: CLONE_NEWNET only moves this thread (one spawned for
            // it, which ends right after) into a new network namespace; it
            // shares no file table, memory or fs state differently, so no
            // Rust invariant depends on it.
            unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) }
                .map_err(|e| NetworkError::os("unshare network namespace", e.into()))?;
            open_ns("/proc/thread-self/ns/net")
        })?
        .map(|fd| NetNs { fd })
    }

    /// The namespace at a path (`/proc/<pid>/ns/net`, a bind mount).
    pub fn open(path: &Path) -> Result<NetNs, NetworkError> {
        Ok(NetNs { fd: open_ns(path)? })
    }

    /// The namespace of the calling thread.
    pub fn current() -> Result<NetNs, NetworkError> {
        NetNs::open(Path::new("/proc/thread-self/ns/net"))
    }

    /// A path to this namespace that works while this process runs, for
    /// runc's `linux.namespaces[].path`.
    pub fn proc_path(&self) -> PathBuf {
        use std::os::fd::AsRawFd;
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.fd.as_raw_fd()
        ))
    }

    /// The namespace's inode number: two handles with the same one are the
    /// same namespace.
    pub fn inode(&self) -> Result<u64, NetworkError> {
        rustix::fs::fstat(&self.fd)
            .map(|st| st.st_ino)
            .map_err(|e| NetworkError::os("stat network namespace", e.into()))
    }

    /// Runs `f` on a new thread inside the namespace: sockets it makes
    /// (netlink included) belong to the namespace, as does a process it
    /// spawns.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, NetworkError> {
        let fd = self.fd.as_fd();
        run_on_thread(move || {
            rustix::thread::move_into_link_name_space(fd, Some(LinkNameSpaceType::Network))
                .map_err(|e| NetworkError::os("enter network namespace", e.into()))?;
            Ok(f())
        })?
    }
}

impl AsFd for NetNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn open_ns(path: impl AsRef<Path>) -> Result<OwnedFd, NetworkError> {
    let path = path.as_ref();
    rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).map_err(|e| {
        NetworkError::Io {
            action: "open",
            path: path.to_path_buf(),
            source: e.into(),
        }
    })
}

/// Runs `f` on a thread of its own, which ends with it: a thread that
/// changed namespace is never reused for anything else.
fn run_on_thread<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, NetworkError> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("berth-netns".into())
            .spawn_scoped(s, f)
            .map_err(|e| NetworkError::os("spawn a thread", e))?
            .join()
            .map_err(|_| {
                NetworkError::os(
                    "network namespace thread",
                    std::io::Error::other("panicked"),
                )
            })
    })
}
