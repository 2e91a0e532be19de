//! The unix socket: made `0660`, owned by root and the `berth` group when
//! there is one, never world-writable at any moment; its directory made
//! when missing; a stale socket left by a killed server replaced, a live
//! one refused.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use rustix::fs::{Gid, Mode, Uid};

use crate::error::ApiError;

/// A bound socket, removed from the file system when dropped.
pub(crate) struct UnixSocket {
    pub listener: UnixListener,
    path: PathBuf,
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// The gid of the `berth` group in /etc/group, if it exists.
fn berth_group() -> Option<u32> {
    let groups = fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == "berth")
            .then(|| fields.nth(1)?.parse().ok())
            .flatten()
    })
}

pub(crate) fn bind_unix(path: &Path) -> Result<UnixSocket, ApiError> {
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            fs::create_dir_all(dir)
                .map_err(|e| ApiError::io(format!("create {}", dir.display()), e))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
                .map_err(|e| ApiError::io(format!("chmod {}", dir.display()), e))?;
        }
    }
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(ApiError::Setup(format!(
                    "another server is listening on {}",
                    path.display()
                )));
            }
            fs::remove_file(path)
                .map_err(|e| ApiError::io(format!("remove stale {}", path.display()), e))?;
        }
        Ok(_) => {
            return Err(ApiError::Setup(format!(
                "{} exists and is not a socket",
                path.display()
            )))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(ApiError::io(format!("stat {}", path.display()), e)),
    }
    // The socket is born 0600 (the umask is the process's, and berth binds
    // before it starts any thread), then opened to the group.
    let old = rustix::process::umask(Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    rustix::process::umask(old);
    let listener = bound.map_err(|e| ApiError::io(format!("listen on {}", path.display()), e))?;
    let socket = UnixSocket {
        listener,
        path: path.to_path_buf(),
    };
    if let Some(gid) = berth_group() {
        rustix::fs::chown(
            path,
            Some(Uid::from_raw(rustix::process::geteuid().as_raw())),
            Some(Gid::from_raw(gid)),
        )
        .map_err(|e| ApiError::io(format!("chown {}", path.display()), e.into()))?;
    }
    fs::set_permissions(path, fs::Permissions::from_mode(0o660))
        .map_err(|e| ApiError::io(format!("chmod {}", path.display()), e))?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_is_0660_and_replaces_a_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/api.sock");
        let s = bind_unix(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        // A live server is not replaced.
        let e = bind_unix(&path).err().unwrap().to_string();
        assert!(e.contains("another server"), "{e}");
        // A socket nobody listens on is (a killed server's).
        let stale = std::os::unix::net::UnixListener::bind(dir.path().join("stale")).unwrap();
        drop(stale);
        bind_unix(&dir.path().join("stale")).unwrap();
        drop(s);
        assert!(!path.exists());
        fs::write(dir.path().join("file"), b"").unwrap();
        assert!(bind_unix(&dir.path().join("file")).is_err());
    }
}
