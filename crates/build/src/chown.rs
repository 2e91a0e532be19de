//! `COPY --chown` / `ADD --chown`: `user`, `user:group`, each a number or
//! a name looked up in the stage's own `/etc/passwd` and `/etc/group`.
//!
//! A user given without a group takes the same number when it is numeric
//! (`--chown=1000` is 1000:1000, as both of docker's builders do) and the
//! user's primary group when it is a name (BuildKit's rule; the classic
//! builder looked the user's name up as a group, which fails on images
//! where they differ, such as Debian's `nobody`/`nogroup`). Failures use
//! the classic builder's wording.

use crate::error::{BuildError, Location};
use crate::image_fs::ImageFs;
use crate::sources::read_image_file;

/// Larger account files than this are not read.
const ACCOUNT_FILE_LIMIT: u64 = 16 << 20;

/// The uid and gid a `--chown` value names in the image `fs`.
pub fn resolve_chown(
    fs: &ImageFs,
    spec: &str,
    at: &Location,
    instruction: &'static str,
) -> Result<(u32, u32), BuildError> {
    let read = |path: &str| -> Result<Option<String>, BuildError> {
        Ok(read_image_file(fs, path, ACCOUNT_FILE_LIMIT)?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    };
    let needs_names = spec.split(':').any(|part| part.parse::<u32>().is_err());
    let (passwd, group) = if needs_names {
        (read("/etc/passwd")?, read("/etc/group")?)
    } else {
        (None, None)
    };
    chown_ids(spec, passwd.as_deref(), group.as_deref()).map_err(|detail| BuildError::Chown {
        at: at.clone(),
        instruction,
        detail,
    })
}

/// One `name:password:id:...` record of an account file: its name, its id
/// and, for `/etc/passwd`, the primary group.
fn find_record<'a>(text: &'a str, name: &str) -> Option<Vec<&'a str>> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split(':').collect::<Vec<&str>>())
        .find(|fields| fields.len() >= 3 && fields[0] == name)
}

fn chown_ids(spec: &str, passwd: Option<&str>, group: Option<&str>) -> Result<(u32, u32), String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (user, group_name) = match parts.as_slice() {
        [user] => (*user, None),
        [user, group] => (*user, Some(*group)),
        _ => return Err(format!("invalid chown string format: {spec}")),
    };
    let no_user = || format!("can't find uid for user {user}: no such user: {user}");
    let (uid, primary_gid) = match user.parse::<u32>() {
        Ok(uid) => (uid, uid),
        Err(_) => {
            let record = passwd
                .and_then(|text| find_record(text, user))
                .filter(|fields| fields.len() >= 4)
                .ok_or_else(no_user)?;
            let uid = record[2].parse::<u32>().map_err(|_| no_user())?;
            let gid = record[3].parse::<u32>().map_err(|_| no_user())?;
            (uid, gid)
        }
    };
    let gid = match group_name {
        None => primary_gid,
        Some(name) => match name.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let no_group = || format!("can't find gid for group {name}: no such group: {name}");
                let record = group
                    .and_then(|text| find_record(text, name))
                    .ok_or_else(no_group)?;
                record[2].parse::<u32>().map_err(|_| no_group())?
            }
        },
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
# a comment
app:x:1000:1001:App:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
";
    const GROUP: &str = "root:x:0:\nstaff:x:50:app\napp:x:1001:\nnogroup:x:65534:\n";

    fn ids(spec: &str) -> Result<(u32, u32), String> {
        chown_ids(spec, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn numbers_and_names_resolve() {
        assert_eq!(ids("1000"), Ok((1000, 1000)));
        assert_eq!(ids("10:11"), Ok((10, 11)));
        assert_eq!(ids("app"), Ok((1000, 1001)));
        assert_eq!(ids("app:staff"), Ok((1000, 50)));
        assert_eq!(ids("nobody:nogroup"), Ok((65534, 65534)));
        assert_eq!(ids("0:staff"), Ok((0, 50)));
        assert_eq!(ids("app:7"), Ok((1000, 7)));
        // Numbers need no account files at all.
        assert_eq!(chown_ids("5:6", None, None), Ok((5, 6)));
    }

    #[test]
    fn unknown_names_fail_as_docker_says() {
        assert_eq!(
            ids("bob"),
            Err("can't find uid for user bob: no such user: bob".into())
        );
        assert_eq!(
            ids("root:bob"),
            Err("can't find gid for group bob: no such group: bob".into())
        );
        assert_eq!(
            ids("bob:1:555"),
            Err("invalid chown string format: bob:1:555".into())
        );
        assert_eq!(
            chown_ids("app", None, None),
            Err("can't find uid for user app: no such user: app".into())
        );
        // A comment line is not an account.
        assert!(ids("# a comment").is_err());
    }
}
