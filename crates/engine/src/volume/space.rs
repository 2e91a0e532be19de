//! How many bytes a volume holds: its files' sizes, hardlinks once, read
//! through directory handles that never follow a symlink (a container can
//! change a volume while it is measured).

use std::collections::HashSet;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use super::{parse_options, LocalVolume, Volume};
use crate::{Engine, EngineError};

/// `system df` for volumes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeSpace {
    /// Each volume with its size in bytes, by name. A volume whose data is
    /// another file system (tmpfs, nfs, a bind) is not measured: 0.
    pub volumes: Vec<(Volume, u64)>,
}

impl VolumeSpace {
    /// Volumes some container uses.
    pub fn active(&self) -> usize {
        self.volumes
            .iter()
            .filter(|(v, _)| !v.containers.is_empty())
            .count()
    }

    pub fn size(&self) -> u64 {
        self.volumes.iter().map(|(_, s)| s).sum()
    }

    /// What removing every unused volume would free.
    pub fn reclaimable(&self) -> u64 {
        self.volumes
            .iter()
            .filter(|(v, _)| v.containers.is_empty())
            .map(|(_, s)| s)
            .sum()
    }
}

impl Engine {
    /// `system df`: the volumes and what their data holds.
    pub fn volume_space(&self) -> Result<VolumeSpace, EngineError> {
        let mut volumes = Vec::new();
        for r in self.store.list_volumes()? {
            let size = match parse_options(&r.options) {
                Ok(LocalVolume::Directory) => data_size(&self.store.volume_data_dir(&r.name)),
                _ => 0,
            };
            volumes.push((self.to_volume(r), size));
        }
        Ok(VolumeSpace { volumes })
    }
}

/// The bytes under `dir` (docker's size: apparent sizes of everything but
/// directories); 0 when it cannot be read.
pub(crate) fn data_size(dir: &Path) -> u64 {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::open(dir, flags, Mode::empty()) {
        Ok(fd) => {
            let mut seen = HashSet::new();
            tree_size(fd, &mut seen)
        }
        Err(_) => 0,
    }
}

fn tree_size(dir: OwnedFd, seen: &mut HashSet<(u64, u64)>) -> u64 {
    let Ok(entries) = rustix::fs::Dir::read_from(&dir) else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        let Ok(st) = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            if let Ok(sub) = rustix::fs::openat(&dir, name, flags, Mode::empty()) {
                total += tree_size(sub, seen);
            }
        } else if st.st_nlink <= 1 || seen.insert((st.st_dev, st.st_ino)) {
            total += st.st_size.max(0) as u64;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_count_hardlinks_once_and_follow_no_symlink() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("big"), vec![0u8; 10_000]).unwrap();
        let d = t.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("a"), b"12345").unwrap();
        std::fs::write(d.join("sub/b"), b"123").unwrap();
        std::fs::hard_link(d.join("a"), d.join("sub/a2")).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.join("out")).unwrap();
        let link = outside.path().as_os_str().len() as u64;
        assert_eq!(data_size(d), 5 + 3 + link);
        assert_eq!(data_size(&d.join("missing")), 0);
    }
}
