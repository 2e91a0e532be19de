//! docker's `local` volume driver: its options (`type`, `device`, `o`,
//! `size`), validated when the volume is created and turned into the
//! mount(2) its `_data` gets while containers use it.
//!
//! Without options a volume is a directory under the root. With them it
//! is whatever `type`/`device`/`o` say, as `mount -t TYPE -o O DEVICE`
//! would: `type=tmpfs,device=tmpfs,o=size=64m`, a bind of a host path
//! (`type=none,o=bind,device=/srv/data`), nfs (`type=nfs,o=addr=10.0.0.2,
//! device=:/export`), a block device (`type=ext4,device=/dev/sdb1`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use berth_runtime::fsmount::FsMount;
use rustix::mount::{MountFlags, MountPropagationFlags};

use crate::EngineError;

/// The only driver berth has.
pub const LOCAL_DRIVER: &str = "local";

const KNOWN_OPTIONS: [&str; 4] = ["type", "o", "device", "size"];
/// docker's rule: naming one of these options needs the others listed.
const REQUIRED_WITH: [(&str, &[&str]); 3] = [
    ("device", &["type"]),
    ("type", &["device"]),
    ("o", &["device", "type"]),
];

/// What a local volume is, from its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LocalVolume {
    /// A directory under the root.
    Directory,
    /// A file system mounted on `_data` while containers use it.
    Mounted(MountOptions),
}

/// A volume's `type`, `device` and parsed `o`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountOptions {
    fstype: String,
    device: String,
    flags: MountFlags,
    recursive: bool,
    propagation: Option<MountPropagationFlags>,
    /// The options passed to the file system, in the order given.
    data: Vec<String>,
}

/// Parses and checks a local volume's options (`volume create -o`).
pub(crate) fn parse_options(opts: &BTreeMap<String, String>) -> Result<LocalVolume, EngineError> {
    if opts.is_empty() {
        return Ok(LocalVolume::Directory);
    }
    if let Some(k) = opts.keys().find(|k| !KNOWN_OPTIONS.contains(&k.as_str())) {
        return Err(EngineError::Invalid(format!("invalid option: {k:?}")));
    }
    if opts.contains_key("size") {
        // docker's local driver sets sizes with XFS project quotas, which
        // berth does not manage.
        return Err(EngineError::Invalid(
            "quota size requested but no quota support".into(),
        ));
    }
    for (key, needs) in REQUIRED_WITH {
        if opts.contains_key(key) {
            if let Some(missing) = needs.iter().find(|n| !opts.contains_key(**n)) {
                return Err(EngineError::Invalid(format!(
                    "missing required option: {missing:?}"
                )));
            }
        }
    }
    let fstype = opts["type"].clone();
    let device = opts["device"].clone();
    let mut m = MountOptions {
        fstype,
        device,
        flags: MountFlags::empty(),
        recursive: false,
        propagation: None,
        data: Vec::new(),
    };
    for o in opts
        .get("o")
        .map(String::as_str)
        .unwrap_or("")
        .split(',')
        .filter(|o| !o.is_empty())
    {
        m.apply(o)?;
    }
    m.check()?;
    Ok(LocalVolume::Mounted(m))
}

impl MountOptions {
    /// One comma-separated item of `o`: a mount flag (as mount(8) names
    /// them), a propagation, or an option of the file system itself.
    fn apply(&mut self, o: &str) -> Result<(), EngineError> {
        use MountFlags as F;
        let (set, clear) = match o {
            "defaults" => (F::empty(), F::empty()),
            "ro" => (F::RDONLY, F::empty()),
            "rw" => (F::empty(), F::RDONLY),
            "nosuid" => (F::NOSUID, F::empty()),
            "suid" => (F::empty(), F::NOSUID),
            "nodev" => (F::NODEV, F::empty()),
            "dev" => (F::empty(), F::NODEV),
            "noexec" => (F::NOEXEC, F::empty()),
            "exec" => (F::empty(), F::NOEXEC),
            "sync" => (F::SYNCHRONOUS, F::empty()),
            "async" => (F::empty(), F::SYNCHRONOUS),
            "dirsync" => (F::DIRSYNC, F::empty()),
            "mand" => (F::PERMIT_MANDATORY_FILE_LOCKING, F::empty()),
            "nomand" => (F::empty(), F::PERMIT_MANDATORY_FILE_LOCKING),
            "noatime" => (F::NOATIME, F::empty()),
            "atime" => (F::empty(), F::NOATIME),
            "nodiratime" => (F::NODIRATIME, F::empty()),
            "diratime" => (F::empty(), F::NODIRATIME),
            "relatime" => (F::RELATIME, F::empty()),
            "norelatime" => (F::empty(), F::RELATIME),
            "strictatime" => (F::STRICTATIME, F::empty()),
            "nostrictatime" => (F::empty(), F::STRICTATIME),
            "bind" => (F::BIND, F::empty()),
            "rbind" => {
                self.recursive = true;
                (F::BIND, F::empty())
            }
            "remount" => {
                return Err(EngineError::Invalid(
                    "invalid mount option \"remount\": a volume is mounted once".into(),
                ))
            }
            _ => {
                if let Some(p) = propagation(o) {
                    self.propagation = Some(p);
                } else {
                    self.data.push(o.to_string());
                }
                return Ok(());
            }
        };
        self.flags = (self.flags | set) - clear;
        Ok(())
    }

    /// What docker's driver would only find out when the mount fails.
    fn check(&self) -> Result<(), EngineError> {
        let bind = self.flags.contains(MountFlags::BIND);
        if bind && !self.device.starts_with('/') {
            return Err(EngineError::Invalid(format!(
                "invalid device {:?} for a bind: give an absolute host path",
                self.device
            )));
        }
        if self.fstype == "none" && !bind {
            return Err(EngineError::Invalid(
                "type \"none\" needs o=bind (or rbind): without it there is nothing to mount"
                    .into(),
            ));
        }
        if is_nfs(&self.fstype) && !bind && !self.device.contains(':') {
            return Err(EngineError::Invalid(format!(
                "invalid nfs device {:?}: expected HOST:/PATH or :/PATH with o=addr=HOST",
                self.device
            )));
        }
        if self.fstype == "cifs" && url_has_port(&self.device) {
            return Err(EngineError::Invalid(
                "port not allowed in CIFS device URL, include 'port' in 'o='".into(),
            ));
        }
        Ok(())
    }

    /// The mount(2) to make. For nfs and cifs, a host name in `addr=`
    /// (or, for nfs, in the device when no `addr=` is given) is resolved
    /// with `resolve`, as the kernel takes addresses only.
    pub(crate) fn fs_mount(
        &self,
        resolve: &dyn Fn(&str) -> Result<IpAddr, EngineError>,
    ) -> Result<FsMount, EngineError> {
        let mut data = self.data.clone();
        if is_nfs(&self.fstype) || self.fstype == "cifs" {
            let mut has_addr = false;
            for o in data.iter_mut() {
                if let Some(host) = o.strip_prefix("addr=") {
                    has_addr = true;
                    if host.parse::<IpAddr>().is_err() {
                        *o = format!("addr={}", resolve(host)?);
                    }
                }
            }
            if !has_addr && is_nfs(&self.fstype) {
                if let Some(host) = nfs_host(&self.device) {
                    let ip = match host.parse::<IpAddr>() {
                        Ok(ip) => ip,
                        Err(_) => resolve(host)?,
                    };
                    data.push(format!("addr={ip}"));
                }
            }
        }
        Ok(FsMount {
            source: self.device.clone(),
            fstype: self.fstype.clone(),
            flags: self.flags,
            recursive: self.recursive,
            propagation: self.propagation,
            data: data.join(","),
        })
    }
}

/// The server of an nfs device `HOST:/PATH` (`[V6]:/PATH`); None for
/// `:/PATH`, whose server is in `addr=`.
fn nfs_host(device: &str) -> Option<&str> {
    let host = match device.strip_prefix('[') {
        Some(rest) => rest.split_once("]:")?.0,
        None => device.split_once(':')?.0,
    };
    (!host.is_empty()).then_some(host)
}

fn is_nfs(fstype: &str) -> bool {
    matches!(fstype, "nfs" | "nfs4")
}

fn propagation(o: &str) -> Option<MountPropagationFlags> {
    use MountPropagationFlags as P;
    Some(match o {
        "private" => P::PRIVATE,
        "rprivate" => P::PRIVATE | P::REC,
        "shared" => P::SHARED,
        "rshared" => P::SHARED | P::REC,
        "slave" => P::DOWNSTREAM,
        "rslave" => P::DOWNSTREAM | P::REC,
        "unbindable" => P::UNBINDABLE,
        "runbindable" => P::UNBINDABLE | P::REC,
        _ => return None,
    })
}

/// `//host:445/share` names a port; `//host/share` does not.
fn url_has_port(device: &str) -> bool {
    let rest = device
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or_else(|| device.trim_start_matches("//"));
    let host = rest.split('/').next().unwrap_or("");
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    match host.rsplit_once(':') {
        // An IPv6 literal's colons are inside its brackets.
        Some((h, port)) => {
            !port.is_empty()
                && port.chars().all(|c| c.is_ascii_digit())
                && (!h.contains(':') || h.ends_with(']'))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn mounted(pairs: &[(&str, &str)]) -> MountOptions {
        match parse_options(&opts(pairs)).unwrap() {
            LocalVolume::Mounted(m) => m,
            LocalVolume::Directory => panic!("{pairs:?} is a directory"),
        }
    }

    fn no_lookups(host: &str) -> Result<IpAddr, EngineError> {
        panic!("no lookup expected, asked for {host}")
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        parse_options(&opts(pairs)).unwrap_err().to_string()
    }

    #[test]
    fn no_options_is_a_directory() {
        assert_eq!(parse_options(&opts(&[])).unwrap(), LocalVolume::Directory);
    }

    #[test]
    fn tmpfs_passes_its_options_to_the_file_system() {
        let m = mounted(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=64m,uid=1000,noexec,mode=1770"),
        ]);
        let fs = m.fs_mount(&no_lookups).unwrap();
        assert_eq!(fs.source, "tmpfs");
        assert_eq!(fs.fstype, "tmpfs");
        assert_eq!(fs.flags, MountFlags::NOEXEC);
        assert_eq!(fs.data, "size=64m,uid=1000,mode=1770");
        assert!(!fs.recursive && fs.propagation.is_none());
    }

    #[test]
    fn a_bind_of_a_host_path() {
        let fs = mounted(&[("type", "none"), ("o", "bind,ro"), ("device", "/srv/data")])
            .fs_mount(&no_lookups)
            .unwrap();
        assert_eq!(fs.source, "/srv/data");
        assert_eq!(fs.flags, MountFlags::BIND | MountFlags::RDONLY);
        assert!(!fs.recursive);
        let fs = mounted(&[
            ("type", "none"),
            ("o", "rbind,rprivate"),
            ("device", "/srv"),
        ])
        .fs_mount(&no_lookups)
        .unwrap();
        assert!(fs.recursive);
        assert_eq!(
            fs.propagation,
            Some(MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)
        );
        assert!(err(&[("type", "none"), ("o", "bind"), ("device", "data")])
            .contains("absolute host path"));
        assert!(err(&[("type", "none"), ("device", "/srv")]).contains("needs o=bind"));
    }

    #[test]
    fn nfs_gets_addresses_the_kernel_can_use() {
        let m = mounted(&[
            ("type", "nfs"),
            ("o", "addr=10.0.0.2,rw,nfsvers=4,soft"),
            ("device", ":/export/data"),
        ]);
        let fs = m.fs_mount(&no_lookups).unwrap();
        assert_eq!(fs.source, ":/export/data");
        assert_eq!(fs.fstype, "nfs");
        assert_eq!(fs.flags, MountFlags::empty());
        assert_eq!(fs.data, "addr=10.0.0.2,nfsvers=4,soft");

        // A host name is resolved at mount time, in addr= or in the device.
        let resolve = |h: &str| -> Result<IpAddr, EngineError> {
            assert_eq!(h, "files.example");
            Ok("192.0.2.7".parse().unwrap())
        };
        let named = mounted(&[
            ("type", "nfs"),
            ("o", "addr=files.example"),
            ("device", ":/x"),
        ]);
        assert_eq!(named.fs_mount(&resolve).unwrap().data, "addr=192.0.2.7");
        let in_device = mounted(&[("type", "nfs4"), ("device", "files.example:/x")]);
        assert_eq!(in_device.fs_mount(&resolve).unwrap().data, "addr=192.0.2.7");
        let literal = mounted(&[("type", "nfs"), ("device", "[2001:db8::1]:/x")]);
        assert_eq!(
            literal.fs_mount(&no_lookups).unwrap().data,
            "addr=2001:db8::1"
        );
        assert!(err(&[("type", "nfs"), ("device", "/x")]).contains("HOST:/PATH"));
    }

    #[test]
    fn block_devices_and_cifs() {
        let fs = mounted(&[("type", "ext4"), ("device", "/dev/sdb1"), ("o", "noatime")])
            .fs_mount(&no_lookups)
            .unwrap();
        assert_eq!(
            (fs.source.as_str(), fs.fstype.as_str(), fs.flags),
            ("/dev/sdb1", "ext4", MountFlags::NOATIME)
        );
        assert_eq!(
            err(&[("type", "cifs"), ("device", "//files:445/share")]),
            "port not allowed in CIFS device URL, include 'port' in 'o='"
        );
        mounted(&[
            ("type", "cifs"),
            ("device", "//files/share"),
            ("o", "port=445"),
        ]);
    }

    #[test]
    fn bad_options_are_refused_in_dockers_words() {
        assert_eq!(err(&[("foo", "bar")]), "invalid option: \"foo\"");
        assert_eq!(
            err(&[("type", "tmpfs")]),
            "missing required option: \"device\""
        );
        assert_eq!(
            err(&[("device", "tmpfs")]),
            "missing required option: \"type\""
        );
        assert_eq!(err(&[("o", "bind")]), "missing required option: \"device\"");
        assert_eq!(
            err(&[("size", "10g")]),
            "quota size requested but no quota support"
        );
        assert!(
            err(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "remount")]).contains("remount")
        );
    }
}
