//! `-u user[:group]` and `--group-add` resolved against the image's own
//! `/etc/passwd` and `/etc/group`, with docker's (runc's) rules and errors.

use std::path::Path;

use crate::rootfs::read_in_rootfs;
use crate::RuntimeError;

/// The largest id runc accepts; anything above is refused rather than
/// silently wrapped.
const MAX_ID: i64 = (1 << 31) - 1;

/// The credentials the container process runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Primary group first, then memberships from `/etc/group`, then
    /// `--group-add`: the order docker hands to the runtime.
    pub additional_gids: Vec<u32>,
    /// From the passwd entry; `/` when there is none, as runc does.
    pub home: String,
}

impl Default for ResolvedUser {
    fn default() -> Self {
        ResolvedUser {
            uid: 0,
            gid: 0,
            additional_gids: Vec::new(),
            home: "/".to_string(),
        }
    }
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: i64,
    gid: i64,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: i64,
    members: Vec<&'a str>,
}

/// Resolves `user_spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`...)
/// inside `rootfs`. An empty spec means root, picking up root's home and
/// supplementary groups from the image like docker does.
pub fn resolve_user(
    rootfs: &Path,
    user_spec: &str,
    group_add: &[String],
) -> Result<ResolvedUser, RuntimeError> {
    let passwd = read_in_rootfs(rootfs, "/etc/passwd")?;
    let group = read_in_rootfs(rootfs, "/etc/group")?;
    let users: Vec<PasswdEntry> = passwd.as_deref().map(parse_passwd).unwrap_or_default();
    let groups: Vec<GroupEntry> = group.as_deref().map(parse_group).unwrap_or_default();

    let mut parts = user_spec.splitn(3, ':');
    let user_arg = parts.next().unwrap_or("");
    let group_arg = parts.next().unwrap_or("");
    let uid_arg = parse_id(user_arg)?;
    let gid_arg = parse_id(group_arg)?;

    let matched = users.iter().find(|u| match (user_arg, uid_arg) {
        ("", _) => u.uid == 0,
        (_, Some(uid)) => u.uid == uid,
        (name, None) => u.name == name,
    });
    let mut resolved = ResolvedUser::default();
    let mut user_name = None;
    match matched {
        Some(entry) => {
            resolved.uid = to_id(entry.uid)?;
            resolved.gid = to_id(entry.gid)?;
            resolved.home = entry.home.to_string();
            user_name = Some(entry.name);
        }
        None if user_arg.is_empty() => {}
        None => match uid_arg {
            Some(uid) => resolved.uid = to_id(uid)?,
            None => return Err(RuntimeError::UserNotFound(user_arg.to_string())),
        },
    }

    let mut supplementary = Vec::new();
    if !group_arg.is_empty() {
        let found = groups.iter().find(|g| match gid_arg {
            Some(gid) => g.gid == gid,
            None => g.name == group_arg,
        });
        resolved.gid = match (found, gid_arg) {
            (Some(entry), _) => to_id(entry.gid)?,
            (None, Some(gid)) => to_id(gid)?,
            (None, None) => return Err(RuntimeError::GroupNotFound(group_arg.to_string())),
        };
    } else if let Some(name) = user_name {
        // Memberships only count when the group was not given explicitly.
        for entry in groups.iter().filter(|g| g.members.contains(&name)) {
            supplementary.push(to_id(entry.gid)?);
        }
    }

    let mut gids = vec![resolved.gid];
    gids.extend(supplementary);
    for wanted in group_add {
        gids.push(resolve_group_add(&groups, wanted)?);
    }
    let mut seen = std::collections::HashSet::new();
    gids.retain(|g| seen.insert(*g));
    resolved.additional_gids = gids;
    tracing::debug!(
        user = user_spec,
        uid = resolved.uid,
        gid = resolved.gid,
        "resolved container user"
    );
    Ok(resolved)
}

/// Adds `HOME` from the passwd entry unless the image or `-e` set one, as
/// runc does when it starts the process.
pub fn ensure_home(env: &mut Vec<String>, home: &str) {
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
}

fn resolve_group_add(groups: &[GroupEntry], wanted: &str) -> Result<u32, RuntimeError> {
    if let Some(entry) = groups
        .iter()
        .find(|g| g.name == wanted || g.gid.to_string() == wanted)
    {
        return to_id(entry.gid);
    }
    match parse_id(wanted)? {
        Some(gid) => to_id(gid),
        None => Err(RuntimeError::GroupNotFound(wanted.to_string())),
    }
}

/// `Some` for anything that looks numeric (including negatives, which are
/// then refused as out of range), `None` for names.
fn parse_id(value: &str) -> Result<Option<i64>, RuntimeError> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    value.parse::<i64>().map(Some).map_err(|_| out_of_range())
}

fn to_id(id: i64) -> Result<u32, RuntimeError> {
    if (0..=MAX_ID).contains(&id) {
        Ok(id as u32)
    } else {
        Err(out_of_range())
    }
}

fn out_of_range() -> RuntimeError {
    RuntimeError::invalid("user", format!("uids and gids must be in range 0-{MAX_ID}"))
}

fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').collect())
}

/// Lines whose ids do not parse are skipped: guessing 0 (root) for a
/// mangled entry, as a lenient parser would, is the wrong failure mode.
fn parse_passwd(text: &str) -> Vec<PasswdEntry<'_>> {
    records(text)
        .filter_map(|f| {
            Some(PasswdEntry {
                name: f.first().copied()?,
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).copied().unwrap_or(""),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry<'_>> {
    records(text)
        .filter_map(|f| {
            Some(GroupEntry {
                name: f.first().copied()?,
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| m.split(',').filter(|s| !s.is_empty()).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/ash
bin:x:1:1:bin:/bin:/sbin/nologin
daemon:x:2:2:daemon:/sbin:/sbin/nologin
# a comment
postgres:x:70:70::/var/lib/postgresql:/bin/sh
broken:x:notanumber:0::/:/bin/sh
app:x:1000:1000:App:/home/app:/bin/sh
";
    const GROUP: &str = "\
root:x:0:root
bin:x:1:root,bin,daemon
daemon:x:2:root,bin,daemon
wheel:x:10:root,app
video:x:27:
postgres:x:70:
app:x:1000:
docker:x:999:app
";

    fn image(passwd: Option<&str>, group: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        if let Some(p) = passwd {
            std::fs::write(dir.path().join("etc/passwd"), p).unwrap();
        }
        if let Some(g) = group {
            std::fs::write(dir.path().join("etc/group"), g).unwrap();
        }
        dir
    }

    #[test]
    fn default_user_is_root_with_its_memberships() {
        let img = image(Some(PASSWD), Some(GROUP));
        let u = resolve_user(img.path(), "", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (0, 0));
        assert_eq!(u.home, "/root");
        assert_eq!(u.additional_gids, vec![0, 1, 2, 10]);
    }

    #[test]
    fn names_resolve_with_primary_and_supplementary_groups() {
        let img = image(Some(PASSWD), Some(GROUP));
        let u = resolve_user(img.path(), "app", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.home, "/home/app");
        assert_eq!(u.additional_gids, vec![1000, 10, 999]);
    }

    #[test]
    fn numeric_uid_uses_the_matching_entry() {
        let img = image(Some(PASSWD), Some(GROUP));
        let u = resolve_user(img.path(), "70", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (70, 70));
        assert_eq!(u.home, "/var/lib/postgresql");
    }

    #[test]
    fn unknown_numeric_uid_is_fine_with_gid_0_and_home_root() {
        let img = image(Some(PASSWD), Some(GROUP));
        let u = resolve_user(img.path(), "4242", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (4242, 0));
        assert_eq!(u.home, "/");
        assert_eq!(u.additional_gids, vec![0]);
    }

    #[test]
    fn unknown_name_is_docker_error() {
        let img = image(Some(PASSWD), Some(GROUP));
        let err = resolve_user(img.path(), "nobody", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find user nobody: no matching entries in passwd file"
        );
    }

    #[test]
    fn missing_passwd_allows_numbers_only() {
        let img = image(None, None);
        let u = resolve_user(img.path(), "1000:1000", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.additional_gids, vec![1000]);
        let root = resolve_user(img.path(), "", &[]).unwrap();
        assert_eq!(
            root,
            ResolvedUser {
                additional_gids: vec![0],
                ..Default::default()
            }
        );
        assert!(matches!(
            resolve_user(img.path(), "nobody", &[]),
            Err(RuntimeError::UserNotFound(_))
        ));
    }

    #[test]
    fn explicit_group_overrides_and_drops_memberships() {
        let img = image(Some(PASSWD), Some(GROUP));
        let u = resolve_user(img.path(), "app:video", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 27));
        assert_eq!(u.additional_gids, vec![27]);
        let u = resolve_user(img.path(), "app:5555", &[]).unwrap();
        assert_eq!(u.gid, 5555);
        let err = resolve_user(img.path(), "app:nogroup", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
    }

    #[test]
    fn group_add_accepts_names_and_numbers() {
        let img = image(Some(PASSWD), Some(GROUP));
        let adds = ["video".to_string(), "4000".to_string(), "wheel".to_string()];
        let u = resolve_user(img.path(), "1000:1000", &adds).unwrap();
        assert_eq!(u.additional_gids, vec![1000, 27, 4000, 10]);
        let err = resolve_user(img.path(), "", &["nope".to_string()]).unwrap_err();
        assert!(matches!(err, RuntimeError::GroupNotFound(g) if g == "nope"));
    }

    #[test]
    fn mangled_entries_are_skipped_not_treated_as_root() {
        let img = image(Some(PASSWD), Some(GROUP));
        assert!(matches!(
            resolve_user(img.path(), "broken", &[]),
            Err(RuntimeError::UserNotFound(_))
        ));
    }

    #[test]
    fn out_of_range_ids_are_refused() {
        let img = image(Some(PASSWD), Some(GROUP));
        for spec in ["-1", "4294967296", "1:-5", "99999999999999999999"] {
            let err = resolve_user(img.path(), spec, &[]).unwrap_err().to_string();
            assert!(err.contains("must be in range"), "{spec}: {err}");
        }
    }

    #[test]
    fn passwd_symlink_cannot_escape_the_rootfs() {
        let outside = image(Some("evil:x:0:0::/:/bin/sh\n"), None);
        let img = image(None, None);
        let target = outside.path().join("etc/passwd");
        std::os::unix::fs::symlink(&target, img.path().join("etc/passwd")).unwrap();
        // The absolute link is re-rooted inside the image, where it names nothing.
        assert!(matches!(
            resolve_user(img.path(), "evil", &[]),
            Err(RuntimeError::UserNotFound(_))
        ));
    }

    #[test]
    fn home_is_added_only_when_missing() {
        let mut env = vec!["PATH=/bin".to_string()];
        ensure_home(&mut env, "/root");
        assert_eq!(env, ["PATH=/bin", "HOME=/root"]);
        let mut env = vec!["HOME=/custom".to_string()];
        ensure_home(&mut env, "/root");
        assert_eq!(env, ["HOME=/custom"]);
    }
}
