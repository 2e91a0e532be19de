use std::path::PathBuf;

/// Everything that can go wrong while preparing or supervising a container.
///
/// Messages are lower-case and name the option or file at fault, so the CLI
/// can print them after "berth: " unchanged; where docker has a well-known
/// wording that scripts match on, it is kept.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A user-supplied option is malformed or out of range.
    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: String },
    /// A signal name or number docker's table does not have.
    #[error("invalid signal: {0}")]
    InvalidSignal(String),
    /// Docker's wording for `--cap-add`/`--cap-drop` typos.
    #[error("unknown capability: {0:?}")]
    UnknownCapability(String),
    /// A `--ulimit` asks for more than the engine itself may grant.
    #[error("ulimit {name}: {requested} exceeds the current hard limit {limit}")]
    UlimitAboveHardLimit {
        name: String,
        requested: u64,
        limit: u64,
    },
    /// Docker's (runc's) wording for a `-u` that the image does not know.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UserNotFound(String),
    /// Docker's (runc's) wording for a group that the image does not know.
    #[error("unable to find group {0}: no matching entries in group file")]
    GroupNotFound(String),
    /// A seccomp profile could not be read or understood.
    #[error("seccomp profile: {0}")]
    Seccomp(String),
    /// A restart policy is malformed; the text is docker's.
    #[error("{0}")]
    RestartPolicy(String),
    /// A log option or log record is malformed.
    #[error("{0}")]
    Log(String),
    /// A cgroup path or interface file holds something unexpected.
    #[error("cgroup {path}: {reason}")]
    Cgroup { path: PathBuf, reason: String },
    /// The OCI runtime binary is neither at the given path nor on `PATH`.
    #[error("runtime {0} not found: install {0} or pass --runtime PATH")]
    RuntimeNotFound(String),
    /// The OCI runtime ran but failed; `detail` is its own error message
    /// (or its exit status when it printed none).
    #[error("{command} failed: {detail}")]
    RuntimeCommand { command: String, detail: String },
    /// The overlay options do not fit in the single page the kernel copies
    /// from `mount(2)`; the engine must use shorter paths or fewer layers.
    #[error("overlay on {target}: mount options for {layers} layers are {len} bytes, over the kernel's limit of {max}")]
    OverlayOptionsTooLong {
        target: PathBuf,
        layers: usize,
        len: usize,
        max: usize,
    },
    /// The kernel refused an overlay mount; `detail` says at which step
    /// and what it logged.
    #[error("mount overlay on {target}: {detail}")]
    Overlay { target: PathBuf, detail: String },
    /// A volume's file system could not be mounted or unmounted.
    #[error("failed to mount local volume: {action} on {target}: {error}")]
    VolumeMount {
        action: String,
        target: PathBuf,
        error: std::io::Error,
    },
    /// A file operation failed; `action` says which ("read", "write", ...).
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl RuntimeError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        RuntimeError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        RuntimeError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Why a container's process did not start, as docker tells it apart: by
/// the exit code `run`, `start -a` and `exec` give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFailure {
    /// The command does not exist in the container (127).
    CommandNotFound,
    /// The command exists but cannot be run: not executable, a directory
    /// (126).
    CannotExecute,
    /// Anything else: berth or the runtime failed (125).
    Other,
}

impl StartFailure {
    /// docker's exit code for it.
    pub fn exit_code(self) -> i32 {
        match self {
            StartFailure::CommandNotFound => 127,
            StartFailure::CannotExecute => 126,
            StartFailure::Other => 125,
        }
    }

    /// The failure a runtime's error message describes. runc reports an
    /// exec that failed inside the new container only as text (from the
    /// Go error it got), so the text is where it is told apart, here once.
    pub fn of_message(message: &str) -> StartFailure {
        let message = message.to_ascii_lowercase();
        if message.contains("no such file or directory")
            || message.contains("executable file not found")
        {
            StartFailure::CommandNotFound
        } else if message.contains("permission denied") || message.contains("is a directory") {
            StartFailure::CannotExecute
        } else {
            StartFailure::Other
        }
    }
}

impl RuntimeError {
    /// How a failed `run` or `exec` failed, for its exit code.
    pub fn start_failure(&self) -> StartFailure {
        match self {
            RuntimeError::RuntimeCommand { detail, .. } => StartFailure::of_message(detail),
            _ => StartFailure::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_are_told_apart_as_docker_does() {
        let failed = |detail: &str| RuntimeError::RuntimeCommand {
            command: "runc run".into(),
            detail: detail.into(),
        };
        assert_eq!(
            failed("exec: \"nope\": executable file not found in $PATH").start_failure(),
            StartFailure::CommandNotFound
        );
        assert_eq!(
            failed("exec /x: no such file or directory").start_failure(),
            StartFailure::CommandNotFound
        );
        assert_eq!(
            failed("exec /etc: permission denied").start_failure(),
            StartFailure::CannotExecute
        );
        assert_eq!(failed("cgroup: oops").start_failure(), StartFailure::Other);
        assert_eq!(
            RuntimeError::UserNotFound("x".into()).start_failure(),
            StartFailure::Other
        );
        assert_eq!(StartFailure::CommandNotFound.exit_code(), 127);
        assert_eq!(StartFailure::CannotExecute.exit_code(), 126);
        assert_eq!(StartFailure::Other.exit_code(), 125);
    }
}
