//! Resolving paths inside an image's root filesystem as if it were `/`.
//!
//! Image content is untrusted: `/etc/passwd` may be a symlink to
//! `/../../host/etc/shadow`. Every symlink is therefore re-rooted at the
//! rootfs and `..` stops at it, so a lookup can never leave the rootfs.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::RuntimeError;

/// Linux gives up after 40 links in one lookup; so do we, to stop loops.
const MAX_SYMLINKS: usize = 40;

/// Returns the host path of `path` inside `root`, following symlinks with
/// `root` as `/`. Missing components are kept as-is, so the result may name
/// a file that does not exist yet.
pub fn resolve_in_rootfs(root: &Path, path: &str) -> Result<PathBuf, RuntimeError> {
    let mut pending: VecDeque<OsString> = split(path.as_bytes());
    let mut resolved = PathBuf::new();
    let mut links = 0;
    while let Some(component) = pending.pop_front() {
        if component == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&component);
        let host = root.join(&candidate);
        match std::fs::symlink_metadata(&host) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(RuntimeError::io(
                        "resolve",
                        host,
                        io::Error::other("too many levels of symbolic links"),
                    ));
                }
                let target = std::fs::read_link(&host)
                    .map_err(|e| RuntimeError::io("read link", &host, e))?;
                let target = target.as_os_str().as_bytes();
                if target.starts_with(b"/") {
                    resolved = PathBuf::new();
                }
                let mut expanded = split(target);
                expanded.extend(pending);
                pending = expanded;
            }
            Ok(_) => resolved = candidate,
            Err(e) if e.kind() == io::ErrorKind::NotFound => resolved = candidate,
            Err(e) => return Err(RuntimeError::io("stat", host, e)),
        }
    }
    Ok(root.join(resolved))
}

/// Reads a file inside the rootfs; `None` when it does not exist, which
/// callers treat like docker does (an image without `/etc/group`).
pub(crate) fn read_in_rootfs(root: &Path, path: &str) -> Result<Option<String>, RuntimeError> {
    let host = resolve_in_rootfs(root, path)?;
    match std::fs::read(&host) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RuntimeError::io("read", host, e)),
    }
}

fn split(path: &[u8]) -> VecDeque<OsString> {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsString::from_vec(c.to_vec()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn plain_paths_join_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        assert_eq!(
            resolve_in_rootfs(root, "/etc/passwd").unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            resolve_in_rootfs(root, "etc//./passwd").unwrap(),
            root.join("etc/passwd")
        );
    }

    #[test]
    fn dotdot_stops_at_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(
            resolve_in_rootfs(root, "/../../../etc/passwd").unwrap(),
            root.join("etc/passwd")
        );
    }

    #[test]
    fn absolute_symlinks_are_rerooted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        symlink("/../../../../etc/shadow", root.join("etc/passwd")).unwrap();
        assert_eq!(
            resolve_in_rootfs(root, "/etc/passwd").unwrap(),
            root.join("etc/shadow")
        );
    }

    #[test]
    fn relative_symlinks_cannot_climb_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        symlink("../../../../../outside", root.join("etc/group")).unwrap();
        symlink("../usr/lib", root.join("etc/lib")).unwrap();
        assert_eq!(
            resolve_in_rootfs(root, "/etc/group").unwrap(),
            root.join("outside")
        );
        assert_eq!(
            resolve_in_rootfs(root, "/etc/lib/x").unwrap(),
            root.join("usr/lib/x")
        );
    }

    #[test]
    fn directory_symlinks_in_the_middle_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("real/etc")).unwrap();
        symlink("/real/etc", root.join("etc")).unwrap();
        std::fs::write(root.join("real/etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        let text = read_in_rootfs(root, "/etc/passwd").unwrap().unwrap();
        assert!(text.starts_with("root:"));
    }

    #[test]
    fn symlink_loops_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        symlink("/b", root.join("a")).unwrap();
        symlink("/a", root.join("b")).unwrap();
        let err = resolve_in_rootfs(root, "/a").unwrap_err().to_string();
        assert!(err.contains("too many levels of symbolic links"), "{err}");
    }

    #[test]
    fn missing_files_read_as_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_in_rootfs(dir.path(), "/etc/group").unwrap().is_none());
    }
}
