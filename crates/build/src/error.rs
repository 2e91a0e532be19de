//! The crate's error type. Messages about a Dockerfile start with
//! `file:line` so a failing step is easy to find; where docker's classic
//! builder has a well-known wording (`COPY failed: file not found in build
//! context ...`), it is kept.

use std::fmt;
use std::io;
use std::path::PathBuf;

use berth_dockerfile::ExpandError;
use thiserror::Error;

/// Where in a Dockerfile something happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The Dockerfile's name as the user gave it (`Dockerfile`, `-`).
    pub file: String,
    /// 1-based line where the instruction starts.
    pub line: usize,
}

impl Location {
    pub fn new(file: impl Into<String>, line: usize) -> Location {
        Location {
            file: file.into(),
            line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Debug, Error)]
pub enum BuildError {
    /// A `.dockerignore` line docker would refuse.
    #[error("{file}:{line}: {message}")]
    IgnoreFile {
        file: String,
        line: usize,
        message: String,
    },

    #[error("{action} {}: {error}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        error: io::Error,
    },

    /// `COPY ../x`, or a source reached through a symlink leading out.
    #[error("{at}: {instruction} failed: forbidden path outside the build context: {path}")]
    OutsideContext {
        at: Location,
        instruction: &'static str,
        path: String,
    },

    /// The classic builder's wording, which names `.dockerignore` as the
    /// other usual cause.
    #[error("{at}: {instruction} failed: file not found in build context or excluded by .dockerignore: stat {path}: file does not exist")]
    SourceNotFound {
        at: Location,
        instruction: &'static str,
        path: String,
    },

    /// Every source was a wildcard and none matched.
    #[error("{at}: {instruction} failed: no source files were specified")]
    NoSourceFiles {
        at: Location,
        instruction: &'static str,
    },

    #[error("{at}: When using {instruction} with more than one source file, the destination must be a directory and end with a /")]
    DestinationNotDirectory {
        at: Location,
        instruction: &'static str,
    },

    #[error("{at}: {instruction} failed: syntax error in pattern: {pattern}")]
    BadSourcePattern {
        at: Location,
        instruction: &'static str,
        pattern: String,
    },

    #[error("{at}: {instruction} failed: too many levels of symbolic links: {path}")]
    SymlinkLoop {
        at: Location,
        instruction: &'static str,
        path: String,
    },

    /// `--target` names no stage (BuildKit's wording).
    #[error("target stage {0:?} could not be found")]
    TargetNotFound(String),

    /// `--from=N` with no stage N.
    #[error("{at}: {instruction}: invalid stage index {index}")]
    StageIndex {
        at: Location,
        instruction: &'static str,
        index: String,
    },

    /// `--from=word` where `word` is no stage, and no image of that name
    /// is here or could be pulled.
    #[error(
        "{at}: {instruction} --from={name}: no stage or image named {name:?} exists: {reason}"
    )]
    UnknownStage {
        at: Location,
        instruction: &'static str,
        name: String,
        reason: String,
    },

    /// A `COPY --from` source the stage or image does not have.
    #[error("{at}: {instruction} failed: file not found in --from={from}: stat {path}: file does not exist")]
    SourceNotInImage {
        at: Location,
        instruction: &'static str,
        from: String,
        path: String,
    },

    /// `--chown` that does not resolve (the classic builder's wording).
    #[error("{at}: {instruction} failed: unable to convert uid/gid chown string to host mapping: {detail}")]
    Chown {
        at: Location,
        instruction: &'static str,
        detail: String,
    },

    /// Stages copying from each other in a loop (BuildKit's wording).
    #[error("{at}: circular dependency detected on stage: {stage}")]
    CircularDependency { at: Location, stage: String },

    /// `FROM ${UNSET}` (BuildKit's wording).
    #[error("{at}: FROM: base name ({written}) should not be blank")]
    BlankBaseName { at: Location, written: String },

    /// A `$` expression that does not expand.
    #[error("{at}: {instruction}: {error}")]
    Expand {
        at: Location,
        instruction: &'static str,
        #[source]
        error: ExpandError,
    },
}

impl BuildError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, error: io::Error) -> Self {
        BuildError::Io {
            action,
            path: path.into(),
            error,
        }
    }
}
