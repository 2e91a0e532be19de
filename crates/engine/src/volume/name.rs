//! Volume names: docker's rule for the local driver, and the random names
//! of anonymous volumes.

use rand::Rng;

use crate::EngineError;

/// The characters docker allows, as its messages print them.
pub(crate) const NAME_CHARS: &str = "[a-zA-Z0-9][a-zA-Z0-9_.-]";

/// docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, in docker's words when it is not
/// (the local driver's rule, which keeps a name one path component). The
/// hint about host directories is docker's too: `-v ./data:/data` lands
/// here.
pub fn validate_name(name: &str) -> Result<(), EngineError> {
    if name.len() < 2 {
        return Err(EngineError::Invalid(format!(
            "create {name}: volume name is too short, names should be at least two alphanumeric characters"
        )));
    }
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid {
        return Err(EngineError::Invalid(format!(
            "create {name}: {name:?} includes invalid characters for a local volume name, only \"{NAME_CHARS}\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(())
}

/// A fresh name for an anonymous volume: 64 hex digits, as docker's.
pub fn random_name() -> String {
    let mut r = rand::thread_rng();
    (0..32).map(|_| format!("{:02x}", r.gen::<u8>())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_docker() {
        for ok in ["db", "my-vol_1.2", "0a", "A.b"] {
            validate_name(ok).unwrap();
        }
        assert_eq!(
            validate_name("a").unwrap_err().to_string(),
            "create a: volume name is too short, names should be at least two alphanumeric characters"
        );
        assert_eq!(
            validate_name("./data").unwrap_err().to_string(),
            "create ./data: \"./data\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
        for bad in ["a b", "_x", ".x", "-x", "x/y", "..", "émoji"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        let n = random_name();
        assert_eq!(n.len(), 64);
        assert!(n.chars().all(|c| c.is_ascii_hexdigit()));
        validate_name(&n).unwrap();
        assert_ne!(n, random_name());
    }
}
