//! Real containers through runc: the spec, bundle, overlay and backend
//! together, checking the confinement docker users rely on. Needs root,
//! `runc` on PATH and a static `/bin/busybox` (Debian's busybox-static);
//! without them each test says why on stderr and passes.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use berth_runtime::backend::{ContainerStdio, Runc, RuntimeBackend};
use berth_runtime::bundle::write_bundle;
use berth_runtime::cgroups::parse_mountinfo;
use berth_runtime::overlay::OverlayMount;
use berth_runtime::seccomp::KernelVersion;
use berth_runtime::spec::{build_spec, NetworkMode, RunConfig, MASKED_PATHS, READONLY_PATHS};
use berth_runtime::user::ResolvedUser;
use berth_runtime::RuntimeError;
use rustix::io::Errno;
use rustix::mount::{MountFlags, UnmountFlags};
use rustix::process::{Pid, WaitOptions};

const BUSYBOX: &str = "/bin/busybox";
const APPLETS: [&str; 9] = [
    "sh", "echo", "cat", "id", "grep", "hostname", "head", "wc", "ls",
];
/// Generous: a container here runs a few shell builtins.
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why these tests cannot run here, if they cannot.
fn missing_prerequisite() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("not root".into());
    }
    if let Err(e) = Runc::new("runc", Path::new("/nonexistent")) {
        return Some(e.to_string());
    }
    match fs::read(BUSYBOX) {
        Ok(bytes) if is_static_elf(&bytes) => None,
        _ => Some(format!(
            "no static {BUSYBOX}: apt-get install busybox-static"
        )),
    }
}

/// True for an ELF executable without a program interpreter, which runs
/// in a rootfs holding nothing else.
fn is_static_elf(bytes: &[u8]) -> bool {
    let read = |at: usize, len: usize| -> Option<usize> {
        let field = bytes.get(at..at + len)?;
        Some(field.iter().rev().fold(0, |n, b| n << 8 | usize::from(*b)))
    };
    let wide = bytes.get(4) == Some(&2);
    let header = if wide {
        (read(0x20, 8), read(0x36, 2), read(0x38, 2))
    } else {
        (read(0x1c, 4), read(0x2a, 2), read(0x2c, 2))
    };
    const PT_INTERP: usize = 3;
    match header {
        (Some(offset), Some(size), Some(count)) if bytes.starts_with(b"\x7fELF") => {
            (0..count).all(|i| read(offset + i * size, 4).is_some_and(|t| t != PT_INTERP))
        }
        _ => false,
    }
}

macro_rules! require_prerequisites {
    () => {
        if let Some(reason) = missing_prerequisite() {
            eprintln!("skipping: {reason}");
            return;
        }
    };
}

/// Unique across the tests of this process and concurrent test processes.
fn unique_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "berth-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// What a container left behind.
#[derive(Debug)]
struct Exited {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// A busybox rootfs on an overlay, a runc state root and the containers
/// run from them, all torn down on drop, even when an assertion failed.
struct Sandbox {
    /// Holds a private tmpfs, so overlay's upper layer works whatever
    /// filesystem the temporary directory is on.
    dir: tempfile::TempDir,
    tmpfs_mounted: bool,
    overlay: OverlayMount,
    overlay_mounted: bool,
    runc: Runc,
    containers: Vec<String>,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().to_path_buf();
        let mut sandbox = Sandbox {
            overlay: OverlayMount {
                lower: vec![scratch.join("lower")],
                upper: scratch.join("upper"),
                work: scratch.join("work"),
                target: scratch.join("merged"),
                volatile: false,
            },
            runc: Runc::new("runc", &scratch.join("runc")).unwrap(),
            dir,
            tmpfs_mounted: false,
            overlay_mounted: false,
            containers: Vec::new(),
        };
        rustix::mount::mount("tmpfs", &scratch, "tmpfs", MountFlags::empty(), None).unwrap();
        sandbox.tmpfs_mounted = true;
        build_busybox_rootfs(&sandbox.overlay.lower[0]);
        for dir in [
            &sandbox.overlay.upper,
            &sandbox.overlay.work,
            &sandbox.overlay.target,
        ] {
            fs::create_dir(dir).unwrap();
        }
        sandbox.overlay.mount().unwrap();
        sandbox.overlay_mounted = true;
        // runc's init is reparented on `run --detach`: be the process it
        // is reparented to, so its exit can be waited for.
        rustix::process::set_child_subreaper(Some(rustix::process::getpid())).unwrap();
        sandbox
    }

    fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// A config for `sh -c script` with docker's defaults.
    fn config(&self, name: &str, script: &str) -> RunConfig {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let osrelease = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        RunConfig {
            args: vec!["sh".into(), "-c".into(), script.into()],
            hostname: name.into(),
            rootfs: self.overlay.target.clone(),
            network: NetworkMode::None,
            user: ResolvedUser {
                additional_gids: vec![0],
                home: "/root".into(),
                ..Default::default()
            },
            // A single level runc creates and removes, so nothing is left.
            cgroups_path: format!("/{name}"),
            cgroup_mode: parse_mountinfo(&mountinfo).expect("cgroups mounted").mode,
            kernel: KernelVersion::parse(&osrelease),
            ..Default::default()
        }
    }

    /// Starts the container, its stdout and stderr going to files, and
    /// returns its id and the pid of the runtime process that waits for it.
    fn start(&mut self, config: &RunConfig) -> Result<(String, u32), RuntimeError> {
        let id = config.hostname.clone();
        let bundle = self.scratch().join("bundles").join(&id);
        write_bundle(&bundle, &build_spec(config)?)?;
        let file = |name: &str| Stdio::from(fs::File::create(bundle.join(name)).unwrap());
        let stdio = ContainerStdio {
            stdin: Stdio::null(),
            stdout: file("stdout"),
            stderr: file("stderr"),
        };
        self.containers.push(id.clone());
        let running = self.runc.run(&id, &bundle, stdio)?;
        Ok((id, running.runtime_pid))
    }

    /// Runs a container to completion and returns its output; the runtime
    /// has removed the container by then.
    fn run(&mut self, config: &RunConfig) -> Exited {
        let (id, runtime_pid) = self.start(config).unwrap();
        let code = wait_for_exit(runtime_pid);
        assert_eq!(self.runc.state(&id).unwrap(), None);
        let bundle = self.scratch().join("bundles").join(&id);
        let read = |name: &str| fs::read_to_string(bundle.join(name)).unwrap();
        Exited {
            code,
            stdout: read("stdout"),
            stderr: read("stderr"),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for id in &self.containers {
            if !matches!(self.runc.state(id), Ok(None)) {
                if let Err(e) = self.runc.delete(id, true) {
                    eprintln!("cleanup: {e}");
                }
            }
        }
        if self.overlay_mounted {
            if let Err(e) = OverlayMount::unmount(&self.overlay.target) {
                eprintln!("cleanup: {e}");
            }
        }
        if self.tmpfs_mounted {
            if let Err(e) = rustix::mount::unmount(self.dir.path(), UnmountFlags::DETACH) {
                eprintln!("cleanup: unmount {}: {e}", self.dir.path().display());
            }
        }
        // `dir` removes the now empty directory.
    }
}

fn build_busybox_rootfs(root: &Path) {
    for dir in ["bin", "etc", "root", "tmp", "proc", "sys", "dev"] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    fs::copy(BUSYBOX, root.join("bin/busybox")).unwrap();
    for applet in APPLETS {
        symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n",
    )
    .unwrap();
    fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

/// Waits for our child `pid` (the runtime) to exit; its exit code, or
/// `None` if a signal ended it. Polls so a hung container fails the test instead
/// of hanging it.
fn wait_for_exit(pid: u32) -> Option<i32> {
    let pid = Pid::from_raw(pid as i32).expect("a valid pid");
    let deadline = Instant::now() + EXIT_TIMEOUT;
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::NOHANG) {
            Ok(Some((_, status))) => return status.exit_status(),
            Ok(None) => {}
            Err(Errno::INTR) => {}
            Err(e) => panic!("wait for container init {pid:?}: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "container init {pid:?} still running after {EXIT_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The kernel interfaces of `paths` this host has: the kernel config
/// decides which exist (some kernels have no `/proc/kcore`), and a
/// container can only mask or protect what is there.
fn present_on_host(paths: &[&'static str]) -> Vec<&'static str> {
    let present: Vec<_> = paths
        .iter()
        .copied()
        .filter(|p| Path::new(p).exists())
        .collect();
    for path in paths.iter().filter(|p| !present.contains(p)) {
        eprintln!("note: this kernel has no {path}, so it is not checked");
    }
    present
}

#[test]
fn default_container_is_confined() {
    require_prerequisites!();
    let mut sandbox = Sandbox::new();
    let name = unique_name();
    let masked = present_on_host(&MASKED_PATHS);
    let readonly = present_on_host(&READONLY_PATHS);
    let mut script = String::from(
        "echo hello
grep CapEff /proc/self/status
grep Seccomp: /proc/self/status
echo hostname=$(hostname)
",
    );
    let mut expected = vec![
        "hello".to_string(),
        "CapEff:\t00000000a80425fb".into(),
        "Seccomp:\t2".into(),
        format!("hostname={name}"),
    ];
    // Masked files are /dev/null, masked directories an empty tmpfs.
    for path in &masked {
        script.push_str(&format!(
            "if [ -c {path} ] || [ -z \"$(ls -A {path})\" ]; then echo masked {path}; \
             else echo visible {path}; fi\n"
        ));
        expected.push(format!("masked {path}"));
    }
    if masked.contains(&"/proc/kcore") {
        script.push_str("echo kcore bytes $(head -c 1 /proc/kcore | wc -c)\n");
        expected.push("kcore bytes 0".into());
    }
    if readonly.contains(&"/proc/sysrq-trigger") {
        script.push_str(
            "if echo h > /proc/sysrq-trigger; then echo sysrq writable; else echo sysrq denied; fi\n",
        );
        expected.push("sysrq denied".into());
    }
    script.push_str("echo mountinfo:; cat /proc/self/mountinfo");

    let exited = sandbox.run(&sandbox.config(&name, &script));
    assert_eq!(exited.code, Some(0), "{exited:?}");
    let (checks, mountinfo) = exited
        .stdout
        .split_once("mountinfo:\n")
        .unwrap_or_else(|| panic!("{exited:?}"));
    let lines: Vec<&str> = checks.lines().collect();
    assert_eq!(lines, expected, "{exited:?}");
    if readonly.contains(&"/proc/sysrq-trigger") {
        assert!(
            exited.stderr.contains("Read-only file system"),
            "{exited:?}"
        );
    }
    // Read-only paths are mounted read-only over themselves.
    for path in &readonly {
        let options = mountinfo
            .lines()
            .rev() // the last mount at a point is the visible one
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .find(|fields| fields.get(4) == Some(path))
            .and_then(|fields| fields.get(5).map(|o| o.to_string()))
            .unwrap_or_else(|| panic!("{path} is not a mount point:\n{mountinfo}"));
        assert!(
            options.split(',').any(|o| o == "ro"),
            "{path} is mounted {options}"
        );
    }
}

#[test]
fn user_runs_with_its_ids_and_no_capabilities() {
    require_prerequisites!();
    let mut sandbox = Sandbox::new();
    let mut config = sandbox.config(
        &unique_name(),
        "id -u; id -g; grep CapEff /proc/self/status",
    );
    config.user = ResolvedUser {
        uid: 65534,
        gid: 65534,
        additional_gids: vec![65534],
        home: "/nonexistent".into(),
    };
    let exited = sandbox.run(&config);
    assert_eq!(exited.code, Some(0), "{exited:?}");
    assert_eq!(
        exited.stdout, "65534\n65534\nCapEff:\t0000000000000000\n",
        "{exited:?}"
    );
}

#[test]
fn runc_failures_carry_its_message() {
    require_prerequisites!();
    let mut sandbox = Sandbox::new();
    let mut config = sandbox.config(&unique_name(), "");
    config.args = vec!["/no/such/binary".into()];
    let err = sandbox.start(&config).unwrap_err().to_string();
    let prefix = format!("runc run {} failed: ", config.hostname);
    assert!(err.starts_with(&prefix), "{err}");
    assert!(err.contains("/no/such/binary"), "{err}");
    assert!(!err.contains("runc run failed"), "said once: {err}");
}

#[test]
fn overlay_writes_go_to_the_upper_layer() {
    require_prerequisites!();
    let sandbox = Sandbox::new();
    let overlay = &sandbox.overlay;
    fs::write(overlay.target.join("etc/new"), "x").unwrap();
    fs::remove_file(overlay.target.join("bin/cat")).unwrap();
    assert_eq!(
        fs::read_to_string(overlay.upper.join("etc/new")).unwrap(),
        "x"
    );
    assert!(!overlay.lower[0].join("etc/new").exists());
    assert!(fs::symlink_metadata(overlay.lower[0].join("bin/cat")).is_ok());

    OverlayMount::unmount(&overlay.target).unwrap();
    assert!(!overlay.target.join("bin").exists(), "unmounted");
    // Already unmounted, or never there: nothing to do.
    OverlayMount::unmount(&overlay.target).unwrap();
    OverlayMount::unmount(&sandbox.scratch().join("missing")).unwrap();
}
