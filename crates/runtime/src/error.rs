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
