//! Dockerfile parsing for berth, following Docker's BuildKit frontend so that
//! a Dockerfile means the same thing here as under `docker build`.
//!
//! Everything is a pure function over text: no files, no environment. The
//! executor reads the file, calls [`parse`], and later expands arguments with
//! [`expand`] using each stage's variables.

#![forbid(unsafe_code)]

mod ast;
mod build;
mod duration;
mod error;
mod flags;
mod heredoc;
mod mount;
mod scan;
mod shell;
mod syntax;

#[cfg(test)]
mod tests;

use std::collections::HashSet;

pub use ast::{
    AddInstruction, ArgDecl, ArgInstruction, Command, CopyInstruction, Directives, Dockerfile,
    FromInstruction, HealthConfig, Healthcheck, Heredoc, Instruction, KeyValue, KeyValues, Located,
    NetworkMode, OnbuildInstruction, RunInstruction, SecurityMode, Source, Stage,
};
pub use duration::parse_go_duration;
pub use error::{ExpandError, ParseError};
pub use mount::{CacheSharing, Mount, MountType};
pub use shell::{expand, expand_heredoc, expand_words, Lookup};

/// Parses a whole Dockerfile. `file_name` only appears in error messages.
///
/// Instructions before the first `FROM` may only be `ARG`s; each `FROM`
/// starts a stage, and stage names must be unique.
pub fn parse(file_name: &str, src: &str) -> Result<Dockerfile, ParseError> {
    let scanned = scan::scan(file_name, src)?;
    let syntax_error = |line: usize, message: &str| ParseError::Syntax {
        file: file_name.to_string(),
        line,
        message: message.to_string(),
    };
    if scanned.instructions.is_empty() {
        return Err(syntax_error(
            scanned.lines.max(1),
            "file with no instructions",
        ));
    }
    let mut args_before_from = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    let mut names = HashSet::new();
    for located in scanned.instructions {
        let Located {
            line,
            end_line,
            original,
            value,
        } = located;
        match value {
            Instruction::From(from) => {
                if let Some(name) = &from.name {
                    if !names.insert(name.clone()) {
                        return Err(ParseError::Instruction {
                            file: file_name.to_string(),
                            line,
                            instruction: "FROM".to_string(),
                            message: format!("duplicate stage name {name:?}"),
                        });
                    }
                }
                stages.push(Stage {
                    name: from.name.clone(),
                    from: Located {
                        line,
                        end_line,
                        original,
                        value: from,
                    },
                    instructions: Vec::new(),
                });
            }
            Instruction::Arg(arg) if stages.is_empty() => args_before_from.push(Located {
                line,
                end_line,
                original,
                value: arg,
            }),
            other => match stages.last_mut() {
                Some(stage) => stage.instructions.push(Located {
                    line,
                    end_line,
                    original,
                    value: other,
                }),
                None => {
                    return Err(ParseError::Instruction {
                        file: file_name.to_string(),
                        line,
                        instruction: other.name().to_string(),
                        message: "no build stage in current context".to_string(),
                    })
                }
            },
        }
    }
    if stages.is_empty() {
        return Err(syntax_error(
            scanned.lines,
            "dockerfile contains no stages to build",
        ));
    }
    Ok(Dockerfile {
        directives: scanned.directives,
        args_before_from,
        stages,
    })
}

/// Parses exactly one instruction, as given to `docker commit --change` or
/// `docker import --change` (for example `CMD ["sh"]`). Errors name the line
/// within `text` but no file. Which instructions a caller accepts is up to it.
pub fn parse_instruction(text: &str) -> Result<Instruction, ParseError> {
    let scanned = scan::scan("", text)?;
    let mut instructions = scanned.instructions.into_iter();
    match (instructions.next(), instructions.next()) {
        (Some(only), None) => Ok(only.value),
        (None, _) => Err(ParseError::Syntax {
            file: String::new(),
            line: scanned.lines.max(1),
            message: "no instruction found".to_string(),
        }),
        (Some(_), Some(second)) => Err(ParseError::Syntax {
            file: String::new(),
            line: second.line,
            message: "expected a single instruction".to_string(),
        }),
    }
}
