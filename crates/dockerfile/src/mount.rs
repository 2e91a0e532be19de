//! `RUN --mount=…` values, validated with BuildKit's rules. Values that may
//! hold build-arg references (`target=$HOME/.cache`, `uid=$UID`) are kept as
//! written so the executor can expand them; literal numbers are checked now.

/// What a `RUN --mount` provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    /// Read-only view of the context, a stage or an image (the default).
    Bind,
    /// Persistent cache directory shared between builds.
    Cache,
    /// Fresh in-memory filesystem.
    Tmpfs,
    /// A build secret as a file or environment variable.
    Secret,
    /// An SSH agent socket.
    Ssh,
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheSharing {
    Shared,
    Private,
    Locked,
}

/// One parsed `--mount` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountType,
    /// Stage, context or image the source comes from.
    pub from: Option<String>,
    pub source: Option<String>,
    pub target: Option<String>,
    /// Explicit `ro`/`rw`, or the type's default (caches and tmpfs are
    /// writable, everything else read-only).
    pub read_only: bool,
    /// Cache id, or secret/ssh id.
    pub id: Option<String>,
    pub sharing: Option<CacheSharing>,
    /// File mode in octal, as written.
    pub mode: Option<String>,
    pub uid: Option<String>,
    pub gid: Option<String>,
    /// tmpfs size limit, as written (`64m`).
    pub size: Option<String>,
    /// Secret exposed as this environment variable.
    pub env: Option<String>,
    /// Fail when the secret or ssh key is missing.
    pub required: bool,
}

impl Mount {
    fn new() -> Self {
        Mount {
            kind: MountType::Bind,
            from: None,
            source: None,
            target: None,
            read_only: true,
            id: None,
            sharing: None,
            mode: None,
            uid: None,
            gid: None,
            size: None,
            env: None,
            required: false,
        }
    }

    /// Parses a `--mount` value: comma-separated fields, CSV quoting allowed.
    pub(crate) fn parse(spec: &str) -> Result<Mount, String> {
        let mut mount = Mount::new();
        let mut explicit_access = false;
        for field in csv_fields(spec)? {
            let (key, value) = match field.split_once('=') {
                Some((key, value)) => (key.to_lowercase(), Some(value.to_string())),
                None => (field.to_lowercase(), None),
            };
            let secret_like = matches!(mount.kind, MountType::Secret | MountType::Ssh);
            let unexpected = || {
                format!(
                    "unexpected key '{key}' for mount type '{}'",
                    mount.kind.name()
                )
            };
            let Some(value) = value else {
                match key.as_str() {
                    "readonly" | "ro" => mount.read_only = true,
                    "readwrite" | "rw" => mount.read_only = false,
                    "required" if secret_like => mount.required = true,
                    "required" => return Err(unexpected()),
                    _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
                }
                explicit_access |= key != "required";
                continue;
            };
            let literal = !value.contains('$');
            match key.as_str() {
                "type" => {
                    mount.kind = MountType::from_name(&value.to_lowercase())
                        .ok_or_else(|| format!("unsupported mount type {value:?}"))?;
                }
                "from" => {
                    let mut chars = value.chars();
                    if chars.any(|c| c == '$') && chars.next().is_some() {
                        return Err(
                            "'from' doesn't support variable expansion, define alias stage instead"
                                .to_string(),
                        );
                    }
                    mount.from = Some(value);
                }
                "source" | "src" => mount.source = Some(value),
                "target" | "dst" | "destination" => mount.target = Some(value),
                "readonly" | "ro" => {
                    mount.read_only = parse_bool(&key, &value)?;
                    explicit_access = true;
                }
                "readwrite" | "rw" => {
                    mount.read_only = !parse_bool(&key, &value)?;
                    explicit_access = true;
                }
                "required" if secret_like => mount.required = parse_bool(&key, &value)?,
                "required" => return Err(unexpected()),
                "size" if mount.kind == MountType::Tmpfs => {
                    if literal && !is_byte_size(&value) {
                        return Err(format!("invalid value for {key}: {value}"));
                    }
                    mount.size = Some(value);
                }
                "size" => return Err(unexpected()),
                "id" => mount.id = Some(value),
                "sharing" => {
                    mount.sharing = Some(
                        CacheSharing::from_name(&value.to_lowercase())
                            .ok_or_else(|| format!("unsupported sharing value {value:?}"))?,
                    );
                }
                "mode" => {
                    let octal =
                        !value.is_empty() && value.bytes().all(|b| (b'0'..=b'7').contains(&b));
                    if literal && !(octal && u32::from_str_radix(&value, 8).is_ok()) {
                        return Err(format!("invalid value {value} for mode"));
                    }
                    mount.mode = Some(value);
                }
                "uid" | "gid" => {
                    let numeric =
                        value.bytes().all(|b| b.is_ascii_digit()) && value.parse::<u32>().is_ok();
                    if literal && !numeric {
                        return Err(format!("invalid value {value} for {key}"));
                    }
                    if key == "uid" {
                        mount.uid = Some(value);
                    } else {
                        mount.gid = Some(value);
                    }
                }
                "env" if mount.kind == MountType::Secret => mount.env = Some(value),
                "env" => return Err(unexpected()),
                _ => return Err(format!("unexpected key '{key}' in '{field}'")),
            }
        }
        if !explicit_access {
            mount.read_only = !matches!(mount.kind, MountType::Cache | MountType::Tmpfs);
        }
        mount.validate()?;
        Ok(mount)
    }

    fn validate(&self) -> Result<(), String> {
        let kind = self.kind.name();
        if !matches!(
            self.kind,
            MountType::Secret | MountType::Ssh | MountType::Cache
        ) {
            for (name, value) in [("mode", &self.mode), ("uid", &self.uid), ("gid", &self.gid)] {
                if value.is_some() {
                    return Err(format!("{name} not allowed for {kind:?} type mounts"));
                }
            }
        }
        if self.kind == MountType::Secret {
            if self.from.is_some() {
                return Err("secret mount should not have a from".to_string());
            }
            if self.sharing.is_some() {
                return Err("secret mount should not define sharing".to_string());
            }
            if self.source.is_none()
                && self.target.is_none()
                && self.id.is_none()
                && self.env.is_none()
            {
                return Err("invalid secret mount. one of source, target required".to_string());
            }
            if self.source.is_some() && self.id.is_some() {
                return Err("both source and id can't be set".to_string());
            }
        }
        if self.sharing.is_some() && self.kind != MountType::Cache {
            return Err(format!("invalid cache sharing set for {kind} mount"));
        }
        Ok(())
    }
}

impl MountType {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "bind" => Self::Bind,
            "cache" => Self::Cache,
            "tmpfs" => Self::Tmpfs,
            "secret" => Self::Secret,
            "ssh" => Self::Ssh,
            _ => return None,
        })
    }

    /// The name used in Dockerfiles (`type=cache`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Bind => "bind",
            Self::Cache => "cache",
            Self::Tmpfs => "tmpfs",
            Self::Secret => "secret",
            Self::Ssh => "ssh",
        }
    }
}

impl CacheSharing {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "shared" => Self::Shared,
            "private" => Self::Private,
            "locked" => Self::Locked,
            _ => return None,
        })
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("invalid value for {key}: {value}")),
    }
}

/// `docker/go-units` RAM sizes: `1024`, `64m`, `1.5GiB`.
fn is_byte_size(value: &str) -> bool {
    let digits_end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, suffix) = value.split_at(digits_end);
    let number_ok = !number.is_empty()
        && number
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    let suffix = suffix
        .strip_prefix(' ')
        .unwrap_or(suffix)
        .to_ascii_lowercase();
    let suffix = suffix.trim_start_matches(['k', 'm', 'g', 't', 'p']);
    number_ok && matches!(suffix, "" | "b" | "i" | "ib")
}

/// Splits one CSV record as Go's `encoding/csv` does: `"` quotes a whole
/// field, `""` inside quotes is a literal quote, bare quotes are errors.
fn csv_fields(spec: &str) -> Result<Vec<String>, String> {
    let fail = |why: &str| format!("failed to parse csv mounts: {why}");
    if spec.is_empty() {
        return Err(fail("empty value"));
    }
    let mut fields = Vec::new();
    let mut chars = spec.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(fail("extraneous or missing \" in quoted-field")),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(ch) => field.push(ch),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err(fail("extraneous or missing \" in quoted-field")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err(fail("bare \" in non-quoted-field")),
                    Some(ch) => field.push(ch),
                }
            }
            fields.push(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_mount() {
        let m =
            Mount::parse("type=cache,target=/root/.cache,sharing=locked,id=go,mode=0755,uid=1000")
                .unwrap();
        assert_eq!(m.kind, MountType::Cache);
        assert_eq!(m.target.as_deref(), Some("/root/.cache"));
        assert_eq!(m.sharing, Some(CacheSharing::Locked));
        assert_eq!(m.id.as_deref(), Some("go"));
        assert_eq!(m.mode.as_deref(), Some("0755"));
        assert_eq!(m.uid.as_deref(), Some("1000"));
        assert!(!m.read_only);
    }

    #[test]
    fn bind_defaults_read_only() {
        let m = Mount::parse("target=/src,from=build,source=/out").unwrap();
        assert_eq!(m.kind, MountType::Bind);
        assert!(m.read_only);
        assert_eq!(m.from.as_deref(), Some("build"));
        assert_eq!(m.source.as_deref(), Some("/out"));
        assert!(!Mount::parse("type=bind,dst=/x,rw").unwrap().read_only);
        assert!(
            !Mount::parse("type=bind,dst=/x,readwrite=true")
                .unwrap()
                .read_only
        );
        assert!(Mount::parse("type=tmpfs,dst=/x,ro").unwrap().read_only);
    }

    #[test]
    fn secret_and_ssh() {
        let m = Mount::parse("type=secret,id=aws,target=/root/.aws/credentials,required").unwrap();
        assert_eq!(m.kind, MountType::Secret);
        assert!(m.required && m.read_only);
        let m = Mount::parse("type=secret,id=API_KEY,env=API_KEY").unwrap();
        assert_eq!(m.env.as_deref(), Some("API_KEY"));
        let m = Mount::parse("type=ssh,required=false").unwrap();
        assert_eq!(m.kind, MountType::Ssh);
        assert!(!m.required);
        let m = Mount::parse("type=tmpfs,target=/t,size=64m").unwrap();
        assert_eq!(m.size.as_deref(), Some("64m"));
    }

    #[test]
    fn variables_are_kept() {
        let m = Mount::parse("type=cache,target=$HOME/.cache,uid=$UID,mode=${MODE}").unwrap();
        assert_eq!(m.target.as_deref(), Some("$HOME/.cache"));
        assert_eq!(m.uid.as_deref(), Some("$UID"));
        assert_eq!(m.mode.as_deref(), Some("${MODE}"));
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(
            csv_fields(r#"type=bind,"target=/a,b",x"#).unwrap(),
            ["type=bind", "target=/a,b", "x"]
        );
        assert_eq!(csv_fields(r#""a""b""#).unwrap(), ["a\"b"]);
        assert!(csv_fields(r#"a"b"#).is_err());
        assert!(csv_fields(r#""ab"c"#).is_err());
        assert!(csv_fields(r#""ab"#).is_err());
    }

    #[test]
    fn errors() {
        let err = |spec: &str| Mount::parse(spec).unwrap_err();
        assert_eq!(err("type=nfs"), "unsupported mount type \"nfs\"");
        assert_eq!(
            err("type=cache,sharing=maybe"),
            "unsupported sharing value \"maybe\""
        );
        assert_eq!(
            err("type=cache,foo=bar"),
            "unexpected key 'foo' in 'foo=bar'"
        );
        assert_eq!(
            err("type=cache,foo"),
            "invalid field 'foo' must be a key=value pair"
        );
        assert_eq!(
            err("required,type=secret"),
            "unexpected key 'required' for mount type 'bind'"
        );
        assert_eq!(
            err("type=bind,size=1g"),
            "unexpected key 'size' for mount type 'bind'"
        );
        assert_eq!(
            err("type=bind,mode=0755"),
            "mode not allowed for \"bind\" type mounts"
        );
        assert_eq!(err("type=cache,mode=999"), "invalid value 999 for mode");
        assert_eq!(err("type=cache,uid=-1"), "invalid value -1 for uid");
        assert_eq!(err("type=bind,ro=maybe"), "invalid value for ro: maybe");
        assert_eq!(err("type=tmpfs,size=lots"), "invalid value for size: lots");
        assert_eq!(
            err("type=secret"),
            "invalid secret mount. one of source, target required"
        );
        assert_eq!(
            err("type=secret,id=a,src=b"),
            "both source and id can't be set"
        );
        assert_eq!(
            err("type=secret,id=a,from=x"),
            "secret mount should not have a from"
        );
        assert_eq!(
            err("type=tmpfs,sharing=shared"),
            "invalid cache sharing set for tmpfs mount"
        );
        assert_eq!(
            err("from=$STAGE"),
            "'from' doesn't support variable expansion, define alias stage instead"
        );
        assert!(err("").starts_with("failed to parse csv mounts"));
    }
}
