use berth_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Docker's own wording, which scripts match on.
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("{0}")]
    Reference(#[from] berth_reference::ReferenceError),
    #[error("invalid archive: {0}")]
    InvalidArchive(String),
    #[error("invalid image config {what}: {detail}")]
    InvalidConfig { what: String, detail: String },
    #[error("{what}: {error}")]
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
    Registry(#[from] berth_registry::RegistryError),
    #[error("invalid platform {0:?}: expected os/arch[/variant]")]
    InvalidPlatform(String),
    #[error("{0}")]
    InvalidPull(String),
    #[error("{0}")]
    InvalidPush(String),
    #[error(transparent)]
    Runtime(#[from] berth_runtime::RuntimeError),
    /// Docker's own wording.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("{0}")]
    InvalidContainer(String),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("failed to start container: {0}")]
    StartFailed(String),
    #[error("conflict: unable to remove repository reference \"{reference}\" (must force) - container {container} is using its referenced image {image}")]
    ImageInUse {
        reference: String,
        container: String,
        image: String,
    },
    #[error("invalid filter {0:?}")]
    InvalidFilter(String),
    #[error(transparent)]
    Dockerfile(#[from] berth_dockerfile::ParseError),
    #[error(transparent)]
    BuildPlan(#[from] berth_build::BuildError),
    /// A build step that could not be done, with its `file:line`.
    #[error("{0}")]
    BuildStep(String),
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
}
