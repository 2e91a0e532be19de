//! Overlay mounts of deep layer stacks under long paths, through the new
//! mount API and through mount(8), as the kernel sees them. Needs root;
//! without it each test says so on stderr and passes.

use std::fs;
use std::path::{Path, PathBuf};

use berth_runtime::overlay::OverlayMount;
use rustix::mount::{MountAttrFlags, MountFlags};

const LAYERS: usize = 125;

fn is_root() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    eprintln!("skipping: overlay mounts need root");
    false
}

/// A tmpfs (overlay's upper layer needs a filesystem that supports it)
/// holding `LAYERS` layer directories under a long path, linked from
/// `layers/l/` as the store links them, unmounted on drop.
struct Stack {
    dir: tempfile::TempDir,
    base: PathBuf,
}

impl Stack {
    fn new() -> Stack {
        let dir = tempfile::tempdir().unwrap();
        rustix::mount::mount("tmpfs", dir.path(), "tmpfs", MountFlags::empty(), None).unwrap();
        let mut base = dir.path().to_path_buf();
        for _ in 0..10 {
            base.push("p".repeat(200));
        }
        let links = base.join("layers/l");
        fs::create_dir_all(&links).unwrap();
        for i in 0..LAYERS {
            let diff = base.join(format!("layers/{i:064x}/diff"));
            fs::create_dir_all(&diff).unwrap();
            fs::write(diff.join(format!("f{i}")), "").unwrap();
            fs::write(diff.join("order"), i.to_string()).unwrap();
            std::os::unix::fs::symlink(
                format!("../{i:064x}/diff"),
                links.join(format!("{i:020x}")),
            )
            .unwrap();
        }
        for d in ["upper", "work", "merged"] {
            fs::create_dir_all(base.join("c").join(d)).unwrap();
        }
        Stack { dir, base }
    }

    fn overlay(&self) -> OverlayMount {
        let c = self.base.join("c");
        OverlayMount {
            // Topmost first.
            lower: (0..LAYERS)
                .rev()
                .map(|i| self.base.join(format!("layers/l/{i:020x}")))
                .collect(),
            upper: c.join("upper"),
            work: c.join("work"),
            target: c.join("merged"),
            volatile: true,
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = OverlayMount::unmount(&self.base.join("c/merged"));
        let _ = rustix::mount::unmount(self.dir.path(), rustix::mount::UnmountFlags::DETACH);
    }
}

fn check_merged(merged: &Path) {
    assert_eq!(
        fs::read_to_string(merged.join("order")).unwrap(),
        (LAYERS - 1).to_string(),
        "the top layer wins"
    );
    assert!(merged.join("f0").exists() && merged.join(format!("f{}", LAYERS - 1)).exists());
}

#[test]
fn deep_stacks_mount_under_long_paths_both_ways() {
    if !is_root() {
        return;
    }
    let stack = Stack::new();
    let mut overlay = stack.overlay();
    assert!(overlay.upper.as_os_str().len() > 2000);

    // A volatile mount marks its work directory against being mounted
    // again, so the first one is not.
    overlay.volatile = false;
    overlay.mount().unwrap();
    check_merged(&overlay.target);
    fs::write(overlay.target.join("new"), "x").unwrap();
    assert!(overlay.upper.join("new").exists(), "writes go up");
    OverlayMount::unmount(&overlay.target).unwrap();
    assert!(!overlay.target.join("order").exists(), "unmounted");

    overlay.volatile = true;
    overlay.mount_legacy().unwrap();
    check_merged(&overlay.target);
    assert!(overlay.target.join("new").exists(), "same upper layer");
    OverlayMount::unmount(&overlay.target).unwrap();
}

#[test]
fn a_detached_mount_is_reached_only_through_its_handle() {
    if !is_root() {
        return;
    }
    let stack = Stack::new();
    let overlay = stack.overlay();
    let mount = overlay
        .mount_detached(MountAttrFlags::MOUNT_ATTR_NODEV)
        .unwrap();
    let order = rustix::fs::openat(
        &mount,
        "order",
        rustix::fs::OFlags::RDONLY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    assert_eq!(
        fs::read_to_string(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&order)
        ))
        .unwrap(),
        (LAYERS - 1).to_string()
    );
    assert!(!overlay.target.join("order").exists(), "not attached");

    let mut missing = stack.overlay();
    missing.lower.push(stack.base.join("layers/l/missing"));
    let err = missing.mount().unwrap_err().to_string();
    assert!(err.starts_with("mount overlay on "), "{err}");
    assert!(
        err.contains("lowerdir+ ") && err.contains("layers/l/missing"),
        "{err}"
    );
    assert!(err.contains("No such file or directory"), "{err}");
}
