//! The reverse of extraction: a layer directory in overlayfs form becomes an
//! OCI layer tar (overlay whiteouts turned back into `.wh.` entries).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::extract::{OPAQUE_WHITEOUT, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};
use crate::StoreError;

/// Writes the directory tree `dir` as a layer tar to `out`, in sorted name
/// order so the same tree always gives the same bytes.
pub fn write_layer_tar<W: Write>(dir: &Path, out: W) -> Result<W, StoreError> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    walk(&mut b, dir, "", &mut links)?;
    b.into_inner()
        .map_err(|e| StoreError::io("finish layer tar", e))
}

fn walk<W: Write>(
    b: &mut tar::Builder<W>,
    dir: &Path,
    prefix: &str,
    links: &mut HashMap<(u64, u64), String>,
) -> Result<(), StoreError> {
    let read = fs::read_dir(dir)
        .map_err(|e| StoreError::io(format!("read directory {}", dir.display()), e))?;
    let mut names: Vec<_> = read
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::io(format!("read directory {}", dir.display()), e))?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let name = name.to_string_lossy();
        let rel = format!("{prefix}{name}");
        let md = fs::symlink_metadata(&path)
            .map_err(|e| StoreError::io(format!("stat {}", path.display()), e))?;
        let ft = md.file_type();
        if ft.is_char_device() && md.rdev() == 0 {
            let wh = format!("{prefix}{WHITEOUT_PREFIX}{name}");
            append_empty(b, &wh, &md)?;
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&md, tar::HeaderMode::Complete);
        append_xattrs(b, &path)?;
        if ft.is_dir() {
            let dir_name = format!("{rel}/");
            h.set_size(0);
            b.append_data(&mut h, &dir_name, io::empty())
                .map_err(|e| StoreError::io(format!("write {dir_name} to layer tar"), e))?;
            if is_opaque(&path) {
                append_empty(b, &format!("{rel}/{OPAQUE_WHITEOUT}"), &md)?;
            }
            walk(b, &path, &dir_name, links)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&path)
                .map_err(|e| StoreError::io(format!("read link {}", path.display()), e))?;
            h.set_size(0);
            b.append_link(&mut h, &rel, &target)
                .map_err(|e| StoreError::io(format!("write {rel} to layer tar"), e))?;
        } else if ft.is_file() {
            if md.nlink() > 1 {
                if let Some(first) = links.get(&(md.dev(), md.ino())) {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    b.append_link(&mut h, &rel, first)
                        .map_err(|e| StoreError::io(format!("write {rel} to layer tar"), e))?;
                    continue;
                }
                links.insert((md.dev(), md.ino()), rel.clone());
            }
            let f = File::open(&path)
                .map_err(|e| StoreError::io(format!("open {}", path.display()), e))?;
            b.append_data(&mut h, &rel, f)
                .map_err(|e| StoreError::io(format!("write {rel} to layer tar"), e))?;
        } else {
            // Device nodes and fifos: the header carries everything, but
            // the tar crate's metadata helper leaves the device numbers 0.
            h.set_size(0);
            if ft.is_char_device() || ft.is_block_device() {
                let rdev = md.rdev();
                h.set_device_major(rustix::fs::major(rdev))
                    .map_err(|e| StoreError::io(format!("write {rel} to layer tar"), e))?;
                h.set_device_minor(rustix::fs::minor(rdev))
                    .map_err(|e| StoreError::io(format!("write {rel} to layer tar"), e))?;
            }
            b.append_data(&mut h, &rel, io::empty())
                .map_err(|e| StoreError::io(format!("write {rel} to layer tar"), e))?;
        }
    }
    Ok(())
}

fn append_empty<W: Write>(
    b: &mut tar::Builder<W>,
    name: &str,
    md: &fs::Metadata,
) -> Result<(), StoreError> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    h.set_mode(0o644);
    h.set_mtime(md.mtime().max(0) as u64);
    b.append_data(&mut h, name, io::empty())
        .map_err(|e| StoreError::io(format!("write {name} to layer tar"), e))
}

fn is_opaque(path: &Path) -> bool {
    let mut buf = [0u8; 4];
    matches!(rustix::fs::lgetxattr(path, OVERLAY_OPAQUE_XATTR, &mut buf), Ok(1) if buf[0] == b'y')
}

/// Carries a file's xattrs (capabilities, ACLs, user attributes) as PAX
/// `SCHILY.xattr.` records, leaving out overlay's own.
fn append_xattrs<W: Write>(b: &mut tar::Builder<W>, path: &Path) -> Result<(), StoreError> {
    let mut names = vec![0u8; 4096];
    let n = match rustix::fs::llistxattr(path, &mut names) {
        Ok(n) => n,
        Err(_) => return Ok(()),
    };
    let mut records = Vec::new();
    for name in names[..n].split(|&c| c == 0).filter(|s| !s.is_empty()) {
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        if name.starts_with("trusted.overlay.") {
            continue;
        }
        let mut value = vec![0u8; 65536];
        if let Ok(len) = rustix::fs::lgetxattr(path, name, &mut value) {
            value.truncate(len);
            records.push((format!("SCHILY.xattr.{name}"), value));
        }
    }
    if !records.is_empty() {
        b.append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .map_err(|e| StoreError::io(format!("write xattrs of {}", path.display()), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::extract_layer;

    fn entry(
        b: &mut tar::Builder<Vec<u8>>,
        name: &str,
        kind: tar::EntryType,
        data: &[u8],
        link: Option<&str>,
    ) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        match link {
            Some(target) => b.append_link(&mut h, name, target).unwrap(),
            None => b.append_data(&mut h, name, data).unwrap(),
        }
    }

    fn names(tar: &[u8]) -> Vec<(String, tar::EntryType)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().entry_type(),
                )
            })
            .collect()
    }

    /// Whiteouts, opaque directories and hardlinks come back out as the OCI
    /// entries they went in as. Needs root (device nodes, trusted xattrs).
    #[test]
    fn extract_then_export_round_trips_whiteouts_and_links() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipping: needs root");
            return;
        }
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, "d/", tar::EntryType::Directory, b"", None);
        entry(&mut b, "d/.wh..wh..opq", tar::EntryType::Regular, b"", None);
        entry(&mut b, "d/f", tar::EntryType::Regular, b"data", None);
        entry(&mut b, "d/g", tar::EntryType::Link, b"", Some("d/f"));
        entry(&mut b, "d/s", tar::EntryType::Symlink, b"", Some("f"));
        entry(&mut b, ".wh.gone", tar::EntryType::Regular, b"", None);
        let mut null = tar::Header::new_gnu();
        null.set_entry_type(tar::EntryType::Char);
        null.set_mode(0o666);
        null.set_uid(0);
        null.set_gid(0);
        null.set_mtime(0);
        null.set_size(0);
        null.set_device_major(1).unwrap();
        null.set_device_minor(3).unwrap();
        b.append_data(&mut null, "d/null", std::io::empty())
            .unwrap();
        let input = b.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        extract_layer(&input[..], dir.path()).unwrap();
        let out = write_layer_tar(dir.path(), Vec::new()).unwrap();
        assert_eq!(
            names(&out),
            vec![
                ("d/".to_string(), tar::EntryType::Directory),
                ("d/.wh..wh..opq".to_string(), tar::EntryType::Regular),
                ("d/f".to_string(), tar::EntryType::Regular),
                ("d/g".to_string(), tar::EntryType::Link),
                ("d/null".to_string(), tar::EntryType::Char),
                ("d/s".to_string(), tar::EntryType::Symlink),
                (".wh.gone".to_string(), tar::EntryType::Regular),
            ]
        );
        let mut a = tar::Archive::new(&out[..]);
        let null = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap().ends_with("null"))
            .unwrap();
        assert_eq!(
            (
                null.header().device_major().unwrap(),
                null.header().device_minor().unwrap()
            ),
            (Some(1), Some(3))
        );
        // The same tree always gives the same bytes.
        assert_eq!(out, write_layer_tar(dir.path(), Vec::new()).unwrap());
    }
}
