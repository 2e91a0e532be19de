//! `diff`, `commit` and `export`: a container's writable layer read back as
//! docker's list of changes, as a new image layer on top of its image, and
//! merged with the image's layers into one flat tarball.
//!
//! All three read the overlay directories themselves rather than the
//! mounted rootfs, which only exists while the container runs. The upper
//! directory belongs to the container and may change under a running one
//! while it is read, so every step in it goes through a directory fd opened
//! with `O_NOFOLLOW`, and files are opened `O_PATH` first and reopened only
//! once they are known to be regular files: a directory swapped for a
//! symlink, or a file swapped for a device node, is never followed or
//! opened. Image layers cannot change once installed; they are read by
//! path, descending only through entries already seen to be directories.
//!
//! The runtime creates mount points in the upper directory (`/proc`,
//! `/dev`, `/sys`, `/etc/hosts` ...) where docker has them in a separate
//! init layer; `diff` and `commit` leave those out when they are empty and
//! not in the image, so neither shows nor keeps them, as with docker.

mod scan;
#[cfg(test)]
mod tests;
mod tree;
mod writer;

pub(crate) use scan::{changes, scan_layer};
pub use scan::{Change, ChangeKind};
pub(crate) use writer::{export, write_layer};

use std::fs::Metadata;
use std::io::{self};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

pub(crate) const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
pub(crate) const WHITEOUT_PREFIX: &str = ".wh.";
pub(crate) const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";

/// Paths the runtime may create as mount points in the writable layer,
/// which docker keeps in the container's init layer instead: `diff` and
/// `commit` skip them when empty and absent from the image.
pub(crate) const RUNTIME_PATHS: [&str; 10] = [
    "/.dockerenv",
    "/dev",
    "/dev/console",
    "/dev/pts",
    "/dev/shm",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/proc",
    "/sys",
];

/// Adds the path to an I/O error, which otherwise names nothing.
pub(crate) fn at(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

pub(crate) fn is_whiteout(md: &Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}
