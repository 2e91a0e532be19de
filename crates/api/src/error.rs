//! The API server's errors, and the one table from error kinds to HTTP
//! statuses.

use berth_engine::{EngineError, ErrorKind};
use hyper::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A malformed request: a bad query parameter, header or body, said
    /// with the name of what was wrong.
    #[error("{0}")]
    BadRequest(String),
    /// No endpoint has this path (docker's wording).
    #[error("page not found")]
    NoSuchEndpoint,
    /// An endpoint docker has that berth does not serve (yet).
    #[error("{0}")]
    NotImplemented(String),
    /// Docker's wording, which clients match on.
    #[error("client version {requested} is too new. Maximum supported API version is {max}")]
    VersionTooNew { requested: String, max: String },
    #[error("client version {requested} is too old. Minimum supported API version is {min}, please upgrade your client to a newer version")]
    VersionTooOld { requested: String, min: String },
    #[error("request body is too large: the limit for this endpoint is {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// `berth serve`'s own setup: an address, a TLS file, a socket.
    #[error("{0}")]
    Setup(String),
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub(crate) fn io(what: impl Into<String>, error: std::io::Error) -> ApiError {
        ApiError::Io {
            what: what.into(),
            error,
        }
    }

    pub(crate) fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::BadRequest(msg.into())
    }

    /// The HTTP status this error is answered with: the one table.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Engine(e) => kind_status(e.kind()),
            ApiError::BadRequest(_)
            | ApiError::VersionTooNew { .. }
            | ApiError::VersionTooOld { .. } => StatusCode::BAD_REQUEST,
            ApiError::NoSuchEndpoint => StatusCode::NOT_FOUND,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Setup(_) | ApiError::Io { .. } | ApiError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

/// The engine's error kinds as docker's statuses (moby's errdefs mapping).
fn kind_status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        // docker answers a start whose command cannot run with 400 and
        // the runtime's words ("executable file not found", "permission
        // denied"), from which the docker CLI picks 127 or 126.
        ErrorKind::CommandNotFound | ErrorKind::CannotExecute => StatusCode::BAD_REQUEST,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_dockers() {
        let engine = |e: EngineError| ApiError::Engine(e).status().as_u16();
        assert_eq!(engine(EngineError::NoSuchContainer("x".into())), 404);
        assert_eq!(engine(EngineError::NoSuchImage("x".into())), 404);
        assert_eq!(engine(EngineError::Invalid("bad".into())), 400);
        assert_eq!(engine(EngineError::Conflict("in use".into())), 409);
        assert_eq!(engine(EngineError::NotImplemented("no".into())), 501);
        assert_eq!(engine(EngineError::Internal("oops".into())), 500);
        assert_eq!(ApiError::NoSuchEndpoint.status().as_u16(), 404);
        assert_eq!(ApiError::bad_request("x").status().as_u16(), 400);
        assert_eq!(ApiError::BodyTooLarge { limit: 1 }.status().as_u16(), 413);
    }

    #[test]
    fn version_errors_say_what_docker_says() {
        let e = ApiError::VersionTooNew {
            requested: "1.99".into(),
            max: "1.45".into(),
        };
        assert_eq!(
            e.to_string(),
            "client version 1.99 is too new. Maximum supported API version is 1.45"
        );
        assert_eq!(e.status().as_u16(), 400);
    }
}
