//! Docker's capability set and its `--cap-add`/`--cap-drop`/`--privileged`
//! arithmetic, in the kernel's own names so the result feeds both the OCI
//! spec and the seccomp profile's capability conditions.

use oci_spec::runtime::Capability;

use crate::RuntimeError;

/// Every capability the kernel defines, at its bit number (the index).
/// `--privileged` and `--cap-add ALL` grant those of them in berth's own
/// bounding set (`grantable_capabilities`).
pub const ALL_CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's default set, in docker's order (`CapEff` 00000000a80425fb).
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Upper-cases and `CAP_`-prefixes user input, keeping the magic `ALL`,
/// and refuses names the kernel does not have.
fn normalize(names: &[String]) -> Result<Vec<String>, RuntimeError> {
    names
        .iter()
        .map(|name| {
            let upper = name.to_ascii_uppercase();
            if upper == "ALL" {
                return Ok(upper);
            }
            let full = if upper.starts_with("CAP_") {
                upper
            } else {
                format!("CAP_{upper}")
            };
            if ALL_CAPABILITIES.contains(&full.as_str()) {
                Ok(full)
            } else {
                Err(RuntimeError::UnknownCapability(full))
            }
        })
        .collect()
}

/// Every capability this process may hand on: those in its bounding set
/// (`CapBnd` in /proc/self/status), in the kernel's order. A VM or an outer
/// container can lack some (here `CAP_SYS_RESOURCE`), and asking runc for
/// one outside the set fails the start with EPERM.
pub(crate) fn grantable_capabilities() -> Vec<String> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        });
    within_bounding_set(bounding)
}

fn within_bounding_set(bounding: Option<u64>) -> Vec<String> {
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(bit, _)| bounding.is_none_or(|set| set & (1 << bit) != 0))
        .map(|(_, c)| c.to_string())
        .collect()
}

/// The container's capability list: every grantable one for `--privileged`
/// and `--cap-add ALL` (as docker, bounded by what berth itself may give),
/// otherwise docker's defaults minus drops plus adds, where `ALL` on either
/// side means "start from everything" or "start from nothing".
pub fn resolve_capabilities(
    cap_add: &[String],
    cap_drop: &[String],
    privileged: bool,
) -> Result<Vec<String>, RuntimeError> {
    let owned = |list: &[&str]| list.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    if privileged {
        return Ok(grantable_capabilities());
    }
    let drops = normalize(cap_drop)?;
    let adds = normalize(cap_add)?;
    let all = "ALL".to_string();
    let mut caps: Vec<String> = if adds.contains(&all) {
        grantable_capabilities()
            .into_iter()
            .filter(|c| !drops.contains(c))
            .collect()
    } else if drops.contains(&all) {
        adds
    } else {
        let mut kept: Vec<String> = owned(&DEFAULT_CAPABILITIES)
            .into_iter()
            .filter(|c| !drops.contains(c))
            .collect();
        kept.extend(adds);
        kept
    };
    let mut seen = std::collections::HashSet::new();
    caps.retain(|c| seen.insert(c.clone()));
    Ok(caps)
}

/// The bitmask `/proc/<pid>/status` would show for these capabilities.
pub fn capability_mask(caps: &[String]) -> u64 {
    caps.iter()
        .filter_map(|c| ALL_CAPABILITIES.iter().position(|known| known == c))
        .fold(0, |mask, bit| mask | (1u64 << bit))
}

/// Converts kernel names to oci-spec's enum.
pub(crate) fn to_oci(caps: &[String]) -> Result<Vec<Capability>, RuntimeError> {
    caps.iter()
        .map(|c| {
            c.trim_start_matches("CAP_")
                .parse::<Capability>()
                .map_err(|_| RuntimeError::UnknownCapability(c.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(list: &[&str]) -> Vec<String> {
        list.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn default_set_matches_docker_capeff() {
        let caps = resolve_capabilities(&[], &[], false).unwrap();
        assert_eq!(caps, s(&DEFAULT_CAPABILITIES));
        assert_eq!(
            format!("{:016x}", capability_mask(&caps)),
            "00000000a80425fb"
        );
    }

    #[test]
    fn privileged_gets_everything_grantable() {
        let caps = resolve_capabilities(&s(&["foo"]), &[], true).unwrap();
        assert_eq!(caps, grantable_capabilities());
        assert_eq!(within_bounding_set(None).len(), 41);
        assert_eq!(
            format!(
                "{:016x}",
                capability_mask(&within_bounding_set(Some(0x1ff_ffff_ffff)))
            ),
            "000001ffffffffff"
        );
        // This VM's set: everything but CAP_SYS_RESOURCE (bit 24).
        let bounded = within_bounding_set(Some(0x1ff_feff_ffff));
        assert_eq!(bounded.len(), 40);
        assert!(!bounded.contains(&"CAP_SYS_RESOURCE".to_string()));
    }

    #[test]
    fn add_and_drop_accept_docker_spellings() {
        let caps = resolve_capabilities(
            &s(&["sys_admin", "CAP_NET_ADMIN"]),
            &s(&["net_raw", "Cap_Mknod"]),
            false,
        )
        .unwrap();
        assert!(caps.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_NET_RAW".to_string()));
        assert!(!caps.contains(&"CAP_MKNOD".to_string()));
        assert_eq!(caps.len(), 14);
    }

    #[test]
    fn drop_all_keeps_only_adds() {
        let caps = resolve_capabilities(&s(&["chown"]), &s(&["ALL"]), false).unwrap();
        assert_eq!(caps, s(&["CAP_CHOWN"]));
        let none = resolve_capabilities(&[], &s(&["all"]), false).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn add_all_minus_drops() {
        let caps = resolve_capabilities(&s(&["all"]), &s(&["sys_admin"]), false).unwrap();
        assert_eq!(caps.len(), grantable_capabilities().len() - 1);
        assert!(!caps.contains(&"CAP_SYS_ADMIN".to_string()));
    }

    #[test]
    fn duplicates_collapse() {
        let caps = resolve_capabilities(&s(&["chown", "CAP_CHOWN"]), &[], false).unwrap();
        assert_eq!(caps.iter().filter(|c| *c == "CAP_CHOWN").count(), 1);
    }

    #[test]
    fn unknown_names_use_docker_wording() {
        let err = resolve_capabilities(&s(&["foo"]), &[], false).unwrap_err();
        assert_eq!(err.to_string(), "unknown capability: \"CAP_FOO\"");
        assert!(resolve_capabilities(&[], &s(&["CAP_BAR"]), false).is_err());
    }

    #[test]
    fn every_kernel_name_converts_to_oci() {
        let all = s(&ALL_CAPABILITIES);
        let oci = to_oci(&all).unwrap();
        assert_eq!(oci.len(), 41);
        assert_eq!(oci[21], Capability::SysAdmin);
        assert_eq!(oci[40], Capability::CheckpointRestore);
    }
}
