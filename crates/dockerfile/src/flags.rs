//! Instruction flags (`--chown=…`, `--link`), checked against the set each
//! instruction accepts with BuildKit's rules and (lower-cased) wording.

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--link`, `--link=true`, `--link=false`.
    Bool,
    /// `--chown=value`, at most once.
    Str,
    /// `--mount=value`, repeatable.
    List,
}

#[derive(Debug)]
enum Value {
    Bool(bool),
    Str(String),
    List(Vec<String>),
}

/// The flags given on one instruction, by name.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: Vec<(&'static str, Value)>,
}

impl Flags {
    /// Validates `raw` (`--name[=value]` words) against `allowed`.
    pub(crate) fn parse(raw: &[String], allowed: &[(&'static str, Kind)]) -> Result<Self, String> {
        let mut flags = Flags::default();
        for arg in raw {
            let arg = arg.strip_prefix("--").unwrap_or(arg);
            let (name, value) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (arg, None),
            };
            let Some(&(name, kind)) = allowed.iter().find(|(n, _)| *n == name) else {
                return Err(format!("unknown flag: {name}"));
            };
            let missing = || format!("missing a value on flag: {name}");
            let existing = flags.values.iter_mut().find(|(n, _)| *n == name);
            match (kind, existing) {
                (Kind::List, Some((_, Value::List(items)))) => {
                    items.push(value.ok_or_else(missing)?.to_string());
                    continue;
                }
                (_, Some(_)) => return Err(format!("duplicate flag specified: {name}")),
                (_, None) => {}
            }
            let value = match kind {
                Kind::Bool => Value::Bool(match value.map(str::to_ascii_lowercase).as_deref() {
                    None => true,
                    Some("") => return Err(missing()),
                    Some("true") => true,
                    Some("false") => false,
                    Some(_) => {
                        return Err(format!(
                            "expecting boolean value for flag {name}, not: {}",
                            value.unwrap_or_default()
                        ))
                    }
                }),
                Kind::Str => Value::Str(value.ok_or_else(missing)?.to_string()),
                Kind::List => Value::List(vec![value.ok_or_else(missing)?.to_string()]),
            };
            flags.values.push((name, value));
        }
        Ok(flags)
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// A boolean flag's value; `None` when the flag was not given.
    pub(crate) fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// A string flag's value as written (possibly empty).
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Some(Value::Str(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// A string flag's value, treating `--flag=` like an absent flag as
    /// BuildKit does.
    pub(crate) fn non_empty(&self, name: &str) -> Option<String> {
        self.string(name).filter(|s| !s.is_empty())
    }

    /// Every value of a repeatable flag, in order.
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        match self.get(name) {
            Some(Value::List(items)) => items.clone(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &[(&str, Kind)] = &[
        ("link", Kind::Bool),
        ("chown", Kind::Str),
        ("exclude", Kind::List),
    ];

    fn parse(raw: &[&str]) -> Result<Flags, String> {
        let raw: Vec<String> = raw.iter().map(|s| s.to_string()).collect();
        Flags::parse(&raw, SPEC)
    }

    #[test]
    fn values() {
        let flags = parse(&["--link", "--chown=1:2", "--exclude=a", "--exclude=b"]).unwrap();
        assert_eq!(flags.bool("link"), Some(true));
        assert_eq!(flags.string("chown").as_deref(), Some("1:2"));
        assert_eq!(flags.list("exclude"), ["a", "b"]);
        assert_eq!(parse(&["--link=FALSE"]).unwrap().bool("link"), Some(false));
        assert_eq!(parse(&[]).unwrap().bool("link"), None);
        assert_eq!(parse(&["--chown="]).unwrap().non_empty("chown"), None);
    }

    #[test]
    fn errors() {
        assert_eq!(parse(&["--foo"]).unwrap_err(), "unknown flag: foo");
        assert_eq!(
            parse(&["--chown"]).unwrap_err(),
            "missing a value on flag: chown"
        );
        assert_eq!(
            parse(&["--link="]).unwrap_err(),
            "missing a value on flag: link"
        );
        assert_eq!(
            parse(&["--link=yes"]).unwrap_err(),
            "expecting boolean value for flag link, not: yes"
        );
        assert_eq!(
            parse(&["--chown=a", "--chown=b"]).unwrap_err(),
            "duplicate flag specified: chown"
        );
        assert_eq!(
            parse(&["--exclude"]).unwrap_err(),
            "missing a value on flag: exclude"
        );
    }
}
