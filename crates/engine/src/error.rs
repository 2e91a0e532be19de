//! The engine's errors, and the kind of each: what went wrong in terms a
//! front end maps once to its own codes (the CLI to exit codes, the API
//! server to HTTP statuses), as containerd's `errdefs` does.

use berth_escape::escape;
use berth_registry::RegistryError;
use berth_runtime::{RuntimeError, StartFailure};
use berth_store::StoreError;

/// What kind of failure an [`EngineError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is malformed: a bad option, name, value or archive.
    InvalidArgument,
    /// What was named does not exist.
    NotFound,
    /// The state of things does not allow it: a name in use, a running
    /// container, an image a container uses.
    Conflict,
    /// A registry refused the credentials, or asked for some.
    Unauthorized,
    /// berth does not do this (yet).
    NotImplemented,
    /// Something berth depends on (a registry) could not be reached.
    Unavailable,
    /// The container's command does not exist in it (docker's 127).
    CommandNotFound,
    /// The container's command exists but cannot be run (docker's 126).
    CannotExecute,
    /// berth itself, the runtime or the system failed.
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Docker's own wording, which scripts match on.
    #[error("No such image: {}", escape(.0))]
    NoSuchImage(String),
    #[error("{0}")]
    Reference(#[from] berth_reference::ReferenceError),
    /// Its text quotes the archive (entry names, digests): printed escaped.
    #[error("invalid archive: {}", escape(.0))]
    InvalidArchive(String),
    #[error("invalid image config {what}: {}", escape(detail))]
    InvalidConfig { what: String, detail: String },
    #[error("{}: {error}", escape(what))]
    Io { what: String, error: std::io::Error },
    #[error("conflict: unable to delete {id} (must be forced) - image is referenced in multiple repositories")]
    ReferencedInMultipleRepositories { id: String },
    #[error("{0}")]
    InvalidChange(String),
    #[error("refusing to create a tag with a digest reference")]
    TagWithDigest,
    #[error("ambiguous image id prefix {0}: matches more than one image")]
    AmbiguousId(String),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("invalid platform {0:?}: expected os/arch[/variant]")]
    InvalidPlatform(String),
    #[error("{0}")]
    InvalidPull(String),
    #[error("{0}")]
    InvalidPush(String),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Network(#[from] berth_network::NetworkError),
    /// Docker's own wording.
    #[error("No such container: {}", escape(.0))]
    NoSuchContainer(String),
    /// Bad input: an option, a name, a value, said in docker's words where
    /// docker has them.
    #[error("{0}")]
    Invalid(String),
    /// The container (or other object) is in a state that does not allow
    /// this.
    #[error("{0}")]
    Conflict(String),
    #[error("container {0} is not running")]
    NotRunning(String),
    /// The container's process did not start; `failure` tells why for its
    /// exit code.
    #[error("failed to start container: {message}")]
    StartFailed {
        message: String,
        failure: StartFailure,
    },
    /// An exec's process did not start; `failure` tells why for its exit
    /// code. The message is the runtime's.
    #[error("{message}")]
    ExecFailed {
        message: String,
        failure: StartFailure,
    },
    #[error("conflict: unable to remove repository reference \"{reference}\" (must force) - container {container} is using its referenced image {image}")]
    ImageInUse {
        reference: String,
        container: String,
        image: String,
    },
    #[error(transparent)]
    Dockerfile(#[from] berth_dockerfile::ParseError),
    #[error(transparent)]
    BuildPlan(#[from] berth_build::BuildError),
    /// A build step that could not be done, with its `file:line`.
    #[error("{0}")]
    BuildStep(String),
    /// What was named does not exist, in docker's words.
    #[error("{0}")]
    NotFound(String),
    /// Something berth does not do.
    #[error("{0}")]
    NotImplemented(String),
    /// berth's own state is not what it should be.
    #[error("{0}")]
    Internal(String),
}

impl EngineError {
    pub(crate) fn io(what: impl Into<String>, error: std::io::Error) -> EngineError {
        EngineError::Io {
            what: what.into(),
            error,
        }
    }

    pub(crate) fn archive(msg: impl Into<String>) -> EngineError {
        EngineError::InvalidArchive(msg.into())
    }

    /// How a container's process failed to start, when this says it did.
    pub fn start_failure(&self) -> StartFailure {
        match self {
            EngineError::Runtime(e) => e.start_failure(),
            EngineError::StartFailed { failure, .. } | EngineError::ExecFailed { failure, .. } => {
                *failure
            }
            _ => StartFailure::Other,
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        use ErrorKind::*;
        match self {
            EngineError::Store(e) => store_kind(e),
            EngineError::Registry(e) => registry_kind(e),
            EngineError::Runtime(e) => runtime_kind(e),
            EngineError::Network(e) => match e.kind() {
                berth_network::ErrorKind::Invalid => InvalidArgument,
                berth_network::ErrorKind::Conflict => Conflict,
                berth_network::ErrorKind::NotFound => NotFound,
                berth_network::ErrorKind::Internal => Internal,
            },
            EngineError::NoSuchImage(_)
            | EngineError::NoSuchContainer(_)
            | EngineError::NotFound(_) => NotFound,
            EngineError::Reference(_)
            | EngineError::InvalidArchive(_)
            | EngineError::InvalidConfig { .. }
            | EngineError::InvalidChange(_)
            | EngineError::TagWithDigest
            | EngineError::AmbiguousId(_)
            | EngineError::InvalidPlatform(_)
            | EngineError::InvalidPull(_)
            | EngineError::InvalidPush(_)
            | EngineError::Invalid(_)
            | EngineError::Dockerfile(_)
            | EngineError::BuildPlan(_)
            | EngineError::BuildStep(_) => InvalidArgument,
            EngineError::ReferencedInMultipleRepositories { .. }
            | EngineError::ImageInUse { .. }
            | EngineError::Conflict(_)
            | EngineError::NotRunning(_) => Conflict,
            EngineError::StartFailed { failure, .. } | EngineError::ExecFailed { failure, .. } => {
                match failure {
                    StartFailure::CommandNotFound => CommandNotFound,
                    StartFailure::CannotExecute => CannotExecute,
                    StartFailure::Other => Internal,
                }
            }
            EngineError::NotImplemented(_) => NotImplemented,
            EngineError::Io { .. } | EngineError::Internal(_) => Internal,
        }
    }
}

fn store_kind(e: &StoreError) -> ErrorKind {
    match e {
        StoreError::NameInUse(_)
        | StoreError::VolumeInUse { .. }
        | StoreError::NetworkExists(_)
        | StoreError::NetworkInUse { .. }
        | StoreError::PortAllocated { .. } => ErrorKind::Conflict,
        StoreError::ImageNotFound(_)
        | StoreError::BlobNotFound(_)
        | StoreError::NoSuchVolume(_) => ErrorKind::NotFound,
        StoreError::InvalidDigest(_)
        | StoreError::DigestMismatch { .. }
        | StoreError::UnsafeEntry { .. }
        | StoreError::BadLayer { .. }
        | StoreError::MissingLayer { .. } => ErrorKind::InvalidArgument,
        _ => ErrorKind::Internal,
    }
}

fn registry_kind(e: &RegistryError) -> ErrorKind {
    match e {
        RegistryError::Status { status, .. } => match *status {
            401 | 403 => ErrorKind::Unauthorized,
            404 => ErrorKind::NotFound,
            400..=499 => ErrorKind::InvalidArgument,
            _ => ErrorKind::Unavailable,
        },
        RegistryError::NoChallenge { .. } | RegistryError::NoBasicCredentials { .. } => {
            ErrorKind::Unauthorized
        }
        RegistryError::Transport { .. } => ErrorKind::Unavailable,
        RegistryError::InvalidName { .. } | RegistryError::InvalidAuthConfig { .. } => {
            ErrorKind::InvalidArgument
        }
        _ => ErrorKind::Internal,
    }
}

fn runtime_kind(e: &RuntimeError) -> ErrorKind {
    match e {
        RuntimeError::Invalid { .. }
        | RuntimeError::InvalidSignal(_)
        | RuntimeError::UnknownCapability(_)
        | RuntimeError::UlimitAboveHardLimit { .. }
        | RuntimeError::UserNotFound(_)
        | RuntimeError::GroupNotFound(_)
        | RuntimeError::Seccomp(_)
        | RuntimeError::RestartPolicy(_)
        | RuntimeError::Log(_)
        | RuntimeError::RuntimeNotFound(_) => ErrorKind::InvalidArgument,
        RuntimeError::RuntimeCommand { .. } => match e.start_failure() {
            StartFailure::CommandNotFound => ErrorKind::CommandNotFound,
            StartFailure::CannotExecute => ErrorKind::CannotExecute,
            StartFailure::Other => ErrorKind::Internal,
        },
        _ => ErrorKind::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_what_went_wrong() {
        assert_eq!(
            EngineError::NoSuchContainer("x".into()).kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            EngineError::Store(StoreError::NameInUse("web".into())).kind(),
            ErrorKind::Conflict
        );
        assert_eq!(
            EngineError::Invalid("bad".into()).kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            EngineError::Runtime(RuntimeError::InvalidSignal("FOO".into())).kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            EngineError::StartFailed {
                message: "exec: \"x\": executable file not found in $PATH".into(),
                failure: StartFailure::CommandNotFound,
            }
            .kind(),
            ErrorKind::CommandNotFound
        );
        assert_eq!(
            EngineError::NotRunning("abc".into()).kind(),
            ErrorKind::Conflict
        );
    }
}
