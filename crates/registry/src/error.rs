use std::fmt;
use std::path::PathBuf;

use berth_escape::{escape, quote};

/// One entry of a registry's `{"errors": [...]}` body, kept so callers can
/// react to codes such as `MANIFEST_UNKNOWN` or `DENIED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetail {
    /// Distribution error code; empty when the body was plain text.
    pub code: String,
    pub message: String,
}

/// Everything that can go wrong talking to a registry or handling
/// credentials. Each message names the operation and what it acted on;
/// what a registry or helper sent is escaped (`berth_escape`), since a
/// hostile server could otherwise put terminal controls in front of the user.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered with a status the operation does not accept.
    #[error("{what}: {}", StatusText { status: *status, errors })]
    Status {
        what: String,
        status: u16,
        errors: Vec<ErrorDetail>,
    },
    /// The request could not be sent or its response could not be read.
    #[error("{what}: {}", escape(detail))]
    Transport { what: String, detail: String },
    #[error("{what}: 401 unauthorized without a usable www-authenticate challenge")]
    NoChallenge { what: String },
    #[error("{what}: no basic auth credentials for {registry}")]
    NoBasicCredentials { what: String, registry: String },
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what}: oversized manifest: larger than {limit} bytes")]
    ManifestTooLarge { what: String, limit: u64 },
    #[error("{what}: invalid response: {}", escape(detail))]
    InvalidResponse { what: String, detail: String },
    /// A registry, repository, reference or digest that can't be used in a
    /// request (it would change the URL's meaning or can't be verified).
    #[error("invalid {kind} {}: {detail}", quote(value))]
    InvalidName {
        kind: &'static str,
        value: String,
        detail: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Credentials passed in (an API header) could not be read; the
    /// message never includes them.
    #[error("invalid {what}: {detail}")]
    InvalidAuthConfig { what: String, detail: String },
    #[error("parse {}: {}", path.display(), escape(detail))]
    Config { path: PathBuf, detail: String },
    #[error(
        "credential helper docker-credential-{} {action}: {}",
        escape(helper),
        escape(detail)
    )]
    Helper {
        helper: String,
        action: &'static str,
        detail: String,
    },
    #[error("load tls material {}: {detail}", path.display())]
    Tls { path: PathBuf, detail: String },
    #[error("set up http client for {registry}: {detail}")]
    HttpClient { registry: String, detail: String },
}

impl RegistryError {
    /// The HTTP status when the registry refused the request.
    pub fn status(&self) -> Option<u16> {
        match self {
            RegistryError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        RegistryError::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn invalid_response(what: &str, detail: impl Into<String>) -> Self {
        RegistryError::InvalidResponse {
            what: what.to_string(),
            detail: detail.into(),
        }
    }

    /// reqwest hides the cause (e.g. "connection refused") behind a generic
    /// top-level message, so the whole chain goes into the text. URLs are
    /// dropped: storage redirects carry signatures in their query.
    pub(crate) fn transport(what: &str, error: reqwest::Error) -> Self {
        let error = error.without_url();
        let mut detail = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !detail.contains(&text) {
                detail.push_str(": ");
                detail.push_str(&text);
            }
            source = cause.source();
        }
        RegistryError::Transport {
            what: what.to_string(),
            detail,
        }
    }
}

struct StatusText<'a> {
    status: u16,
    errors: &'a [ErrorDetail],
}

impl fmt::Display for StatusText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("unexpected status")
            .to_lowercase();
        write!(f, "{} {reason}", self.status)?;
        if !self.errors.is_empty() {
            f.write_str(" (")?;
            for (i, e) in self.errors.iter().enumerate() {
                if i > 0 {
                    f.write_str("; ")?;
                }
                if e.code.is_empty() {
                    write!(f, "{}", escape(&e.message))?;
                } else {
                    write!(f, "{}: {}", escape(&e.code), escape(&e.message))?;
                }
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_message_names_operation_and_registry_codes() {
        let e = RegistryError::Status {
            what: "fetch manifest localhost:5000/a/b:1".into(),
            status: 404,
            errors: vec![ErrorDetail {
                code: "MANIFEST_UNKNOWN".into(),
                message: "manifest unknown".into(),
            }],
        };
        assert_eq!(e.to_string(), "fetch manifest localhost:5000/a/b:1: 404 not found (MANIFEST_UNKNOWN: manifest unknown)");
        assert_eq!(e.status(), Some(404));
        let plain = RegistryError::Status {
            what: "x".into(),
            status: 599,
            errors: vec![],
        };
        assert_eq!(plain.to_string(), "x: 599 unexpected status");
        let hostile = RegistryError::Status {
            what: "x".into(),
            status: 400,
            errors: vec![ErrorDetail {
                code: "DENIED\x1b[2J".into(),
                message: "go away\x1b]0;title\x07".into(),
            }],
        };
        assert_eq!(
            hostile.to_string(),
            r"x: 400 bad request (DENIED\x1b[2J: go away\x1b]0;title\x07)"
        );
    }
}
