//! diff, commit's layer and export over overlay-form layer directories.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use std::ffi::OsStr;

use rustix::fs::Mode;

use super::tree::Dir;
use super::writer::TarWriter;
use super::*;
fn root() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    eprintln!("skipping: needs root (whiteouts are device nodes, opaque marks trusted xattrs)");
    false
}

enum E<'a> {
    File(&'a str, &'a str),
    Dir(&'a str),
    Link(&'a str, &'a str),
}

/// An image layer directory in overlay form, unpacked from an OCI tar
/// by the store, so whiteouts are what the store makes of them.
fn layer(base: &Path, name: &str, entries: &[E<'_>]) -> PathBuf {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            E::File(n, data) => {
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, n, data.as_bytes()).unwrap();
            }
            E::Dir(n) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, n, io::empty()).unwrap();
            }
            E::Link(n, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, n, target).unwrap();
            }
        }
    }
    let dir = base.join(name);
    fs::create_dir(&dir).unwrap();
    berth_store::extract_layer(&b.into_inner().unwrap()[..], &dir).unwrap();
    dir
}

fn lines(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .map(|c| format!("{} {}", c.kind.letter(), c.path))
        .collect()
}

fn names(tar: &[u8]) -> Vec<String> {
    tar::Archive::new(tar)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn contents(tar: &[u8], name: &str) -> Option<String> {
    let mut a = tar::Archive::new(tar);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy() == name {
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            return Some(s);
        }
    }
    None
}

/// Two image layers (the upper one whiting out and replacing parts of
/// the lower) and a writable layer with every kind of change.
fn fixture(t: &Path) -> (PathBuf, Vec<PathBuf>) {
    let l0 = layer(
        t,
        "l0",
        &[
            E::Dir("a/"),
            E::File("a/x", "x0"),
            E::File("a/y", "y0"),
            E::Dir("b/"),
            E::File("b/z", "z0"),
            E::Dir("d/"),
            E::File("d/q", "q0"),
            E::File("d/keep", "k0"),
            E::Dir("etc/"),
            E::File("etc/passwd", "root\n"),
            E::Link("lnk", "/etc"),
        ],
    );
    let l1 = layer(
        t,
        "l1",
        &[
            E::Dir("a/"),
            E::File("a/.wh.y", ""),
            E::File("a/w", "w1"),
            E::Dir("d/"),
            E::File("d/.wh..wh..opq", ""),
            E::File("d/r", "r1"),
        ],
    );
    // The writable layer, as overlayfs leaves it.
    let upper = t.join("upper");
    fs::create_dir(&upper).unwrap();
    let up = |p: &str| upper.join(p);
    for d in ["a", "b", "d", "etc", "new", "proc", "sys", "dev"] {
        fs::create_dir(up(d)).unwrap();
    }
    fs::write(up("a/x"), "x2").unwrap();
    // Re-creates a/y, whited out by l1: added again.
    fs::write(up("a/y"), "y2").unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        up("b/z"),
        rustix::fs::FileType::CharacterDevice,
        Mode::empty(),
        0,
    )
    .unwrap();
    // d: removed and made again (opaque), r re-created.
    rustix::fs::setxattr(up("d"), OPAQUE_XATTR, b"y", rustix::fs::XattrFlags::empty()).unwrap();
    fs::write(up("d/r"), "r2").unwrap();
    fs::write(up("d/s"), "s2").unwrap();
    fs::write(up("new/f"), "f2").unwrap();
    // Runtime mount points: empty, not in the image.
    for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
        fs::write(up(f), "").unwrap();
    }
    // A symlink in the layer pointing outside must never be followed.
    std::os::unix::fs::symlink("/etc", up("lnk")).unwrap();
    (upper, vec![l1, l0])
}

#[test]
fn diff_reports_docker_letters_sorted_and_skips_runtime_mount_points() {
    if !root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (upper, layers) = fixture(t.path());
    let got = lines(&changes(&upper, &layers).unwrap());
    assert_eq!(
        got,
        [
            "C /a", "C /a/x", "A /a/y", "C /b", "D /b/z", "C /d", "C /d/r", "A /d/s", "C /lnk",
            "A /new", "A /new/f",
        ],
        "/d/q is hidden by l1's opaque d already; /etc only held mount points"
    );
}

#[test]
fn opaque_directories_delete_what_they_hide() {
    if !root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let l0 = layer(
        t.path(),
        "l0",
        &[
            E::Dir("etc/"),
            E::File("etc/passwd", "root\n"),
            E::Dir("etc/sub/"),
            E::File("etc/sub/f", "f"),
        ],
    );
    let upper = t.path().join("upper");
    fs::create_dir_all(upper.join("etc/sub")).unwrap();
    rustix::fs::setxattr(
        upper.join("etc"),
        OPAQUE_XATTR,
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    fs::write(upper.join("etc/new"), "n").unwrap();
    let got = lines(&changes(&upper, std::slice::from_ref(&l0)).unwrap());
    assert_eq!(
        got,
        [
            "C /etc",
            "A /etc/new",
            "D /etc/passwd",
            "C /etc/sub",
            "D /etc/sub/f"
        ]
    );
    let tar = export(&upper, &[l0], Vec::new()).unwrap();
    assert_eq!(names(&tar), ["etc/", "etc/new", "etc/sub/"]);
}

#[test]
fn committed_layer_round_trips_through_the_store() {
    if !root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (upper, layers) = fixture(t.path());
    let scan = scan_layer(&upper, &layers).unwrap();
    let tar = write_layer(&upper, &scan, Vec::new()).unwrap();
    assert_eq!(
        names(&tar),
        [
            "a/",
            "a/x",
            "a/y",
            "b/",
            "b/.wh.z",
            "d/",
            "d/.wh..wh..opq",
            "d/r",
            "d/s",
            "lnk",
            "new/",
            "new/f",
        ]
    );
    // Unpacked again it is the writable layer minus the mount points.
    let again = t.path().join("again");
    fs::create_dir(&again).unwrap();
    berth_store::extract_layer(&tar[..], &again).unwrap();
    assert_eq!(
        lines(&changes(&again, &layers).unwrap()),
        lines(&changes(&upper, &layers).unwrap())
    );
}

#[test]
fn export_flattens_layers_without_whiteouts() {
    if !root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (upper, layers) = fixture(t.path());
    let tar = export(&upper, &layers, Vec::new()).unwrap();
    assert_eq!(
        names(&tar),
        [
            "a/",
            "a/w",
            "a/x",
            "a/y",
            "b/",
            "d/",
            "d/r",
            "d/s",
            "dev/",
            "etc/",
            "etc/hostname",
            "etc/hosts",
            "etc/passwd",
            "etc/resolv.conf",
            "lnk",
            "new/",
            "new/f",
            "proc/",
            "sys/",
        ]
    );
    assert_eq!(contents(&tar, "a/x").as_deref(), Some("x2"));
    assert_eq!(contents(&tar, "a/w").as_deref(), Some("w1"));
    assert_eq!(contents(&tar, "etc/passwd").as_deref(), Some("root\n"));
    let mut a = tar::Archive::new(&tar[..]);
    let lnk = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path().unwrap().to_string_lossy() == "lnk")
        .unwrap();
    assert_eq!(lnk.header().entry_type(), tar::EntryType::Symlink);
    assert_eq!(lnk.link_name().unwrap().unwrap(), Path::new("/etc"));
    // The same tree always gives the same bytes.
    assert_eq!(tar, export(&upper, &layers, Vec::new()).unwrap());
}

#[test]
fn device_nodes_keep_their_numbers() {
    if !root() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("d");
    fs::create_dir(&dir).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        dir.join("null"),
        rustix::fs::FileType::CharacterDevice,
        Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .unwrap();
    let mut w = TarWriter::new(Vec::new());
    let d = Dir::open_live(&dir).unwrap();
    w.leaf(&d, OsStr::new("null"), Path::new("null")).unwrap();
    let tar = w.finish().unwrap();
    let mut a = tar::Archive::new(&tar[..]);
    let e = a.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(e.header().entry_type(), tar::EntryType::Char);
    assert_eq!(e.header().device_major().unwrap(), Some(1));
    assert_eq!(e.header().device_minor().unwrap(), Some(3));
}
