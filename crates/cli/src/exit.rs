//! berth's exit codes, from the engine's error kinds: the CLI's one table.
//!
//! docker's rules: a command exits 1 when it fails; `run` and `create`
//! exit 125 for their own failures, 126 when the container's command
//! cannot be run and 127 when it is not found; `exec` exits 126 and 127 the
//! same way; a bad flag or usage is 125 everywhere (clap's errors, before
//! any of this).

use berth_engine::{EngineError, ErrorKind};

/// Which of docker's exit-code conventions a command follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convention {
    /// Most commands: 1 for any failure.
    Plain,
    /// `run` and `create`: 125 for berth's failures, 126/127 for the
    /// container's command.
    Run,
    /// `exec`: 126/127 for the command, 1 for the rest.
    Exec,
}

/// The exit code for a failed command.
pub fn exit_code(error: &anyhow::Error, convention: Convention) -> u8 {
    let kind = error
        .chain()
        .find_map(|e| e.downcast_ref::<EngineError>())
        .map(EngineError::kind);
    code(kind, convention)
}

fn code(kind: Option<ErrorKind>, convention: Convention) -> u8 {
    use Convention::*;
    match (convention, kind) {
        (Run | Exec, Some(ErrorKind::CommandNotFound)) => 127,
        (Run | Exec, Some(ErrorKind::CannotExecute)) => 126,
        // The runtime failed to start the process for some other reason.
        (Exec, Some(ErrorKind::Internal)) => 126,
        (Run, _) => 125,
        (Plain | Exec, _) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_dockers() {
        use Convention::*;
        use ErrorKind::*;
        assert_eq!(code(Some(NotFound), Plain), 1);
        assert_eq!(code(Some(CommandNotFound), Plain), 1);
        assert_eq!(code(None, Plain), 1);
        assert_eq!(code(Some(InvalidArgument), Run), 125);
        assert_eq!(code(Some(NotFound), Run), 125);
        assert_eq!(code(Some(CommandNotFound), Run), 127);
        assert_eq!(code(Some(CannotExecute), Run), 126);
        assert_eq!(code(None, Run), 125);
        assert_eq!(code(Some(CommandNotFound), Exec), 127);
        assert_eq!(code(Some(CannotExecute), Exec), 126);
        assert_eq!(code(Some(Internal), Exec), 126);
        assert_eq!(code(Some(Conflict), Exec), 1);
        assert_eq!(code(Some(NotFound), Exec), 1);
    }

    #[test]
    fn the_engine_error_is_found_in_the_chain() {
        let e = anyhow::Error::from(EngineError::NoSuchContainer("x".into())).context("stop x");
        assert_eq!(exit_code(&e, Convention::Run), 125);
        let e = anyhow::Error::from(EngineError::StartFailed {
            message: "exec: \"x\": executable file not found in $PATH".into(),
            failure: berth_engine::StartFailure::CommandNotFound,
        });
        assert_eq!(exit_code(&e, Convention::Run), 127);
    }
}
