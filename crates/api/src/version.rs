//! API versions: which ones berth serves, and the `/vX.Y` prefix.

use std::fmt;

use crate::error::ApiError;

/// An Engine API version, `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

/// The oldest version berth answers (docker 1.12's).
pub const MIN_API_VERSION: ApiVersion = ApiVersion {
    major: 1,
    minor: 24,
};
/// The newest (docker 26's).
pub const MAX_API_VERSION: ApiVersion = ApiVersion {
    major: 1,
    minor: 45,
};

impl ApiVersion {
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (major, minor) = s.split_once('.')?;
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(major) || !digits(minor) {
            return None;
        }
        Some(ApiVersion {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }

    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= ApiVersion { major, minor }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Splits a request path into the version it asks for (the newest when
/// it has no `/vX.Y` prefix, as docker does) and the rest, refusing
/// versions berth does not serve with docker's words.
pub fn split_version(path: &str) -> Result<(ApiVersion, &str), ApiError> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok((MAX_API_VERSION, path));
    };
    let (text, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let Some(version) = ApiVersion::parse(text) else {
        // Not a version prefix (`/volumes` starts with `/v` too).
        return Ok((MAX_API_VERSION, path));
    };
    if version > MAX_API_VERSION {
        return Err(ApiError::VersionTooNew {
            requested: text.to_string(),
            max: MAX_API_VERSION.to_string(),
        });
    }
    if version < MIN_API_VERSION {
        return Err(ApiError::VersionTooOld {
            requested: text.to_string(),
            min: MIN_API_VERSION.to_string(),
        });
    }
    Ok((version, tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_split_and_checked() {
        let (v, p) = split_version("/v1.41/containers/json").unwrap();
        assert_eq!((v.to_string(), p), ("1.41".to_string(), "/containers/json"));
        let (v, p) = split_version("/containers/json").unwrap();
        assert_eq!((v, p), (MAX_API_VERSION, "/containers/json"));
        let (v, p) = split_version("/volumes/x").unwrap();
        assert_eq!((v, p), (MAX_API_VERSION, "/volumes/x"));
        assert_eq!(split_version("/v1.24/_ping").unwrap().1, "/_ping");
        assert_eq!(split_version("/v1.45/_ping").unwrap().1, "/_ping");
        assert!(matches!(
            split_version("/v1.46/_ping"),
            Err(ApiError::VersionTooNew { .. })
        ));
        assert!(matches!(
            split_version("/v1.23/_ping"),
            Err(ApiError::VersionTooOld { .. })
        ));
        assert!(ApiVersion::parse("1.x").is_none());
        // One list of versions: the engine's, which `berth version` prints.
        assert_eq!(MAX_API_VERSION.to_string(), berth_engine::API_VERSION);
        assert_eq!(MIN_API_VERSION.to_string(), berth_engine::MIN_API_VERSION);
        assert!(ApiVersion::parse("1.41").unwrap().at_least(1, 40));
    }
}
