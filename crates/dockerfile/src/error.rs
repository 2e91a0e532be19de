//! Error types. Parse errors always say where they happened, because a build
//! log that only says "invalid flag" is useless in a 300-line Dockerfile.

use berth_escape::escape;
use thiserror::Error;

/// Why a Dockerfile (or a single `--change` instruction) was rejected.
///
/// Every variant carries the file name given by the caller and the 1-based
/// line where the offending instruction starts. What came from the input
/// is printed escaped (`berth_escape`): a Dockerfile line can hold
/// terminal controls.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// A known instruction with bad arguments or flags.
    #[error("{}: {}: {}", location(.file, .line), escape(instruction), escape(message))]
    Instruction {
        file: String,
        line: usize,
        instruction: String,
        message: String,
    },
    /// A word in instruction position that is not a Dockerfile instruction.
    #[error("{}: unknown instruction: {}", location(.file, .line), escape(instruction))]
    UnknownInstruction {
        file: String,
        line: usize,
        instruction: String,
    },
    /// A problem not tied to one instruction: parser directives, an empty
    /// file, a file without `FROM`.
    #[error("{}: {}", location(.file, .line), escape(message))]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
}

impl ParseError {
    /// The file name the caller passed in (empty for `parse_instruction`).
    pub fn file(&self) -> &str {
        match self {
            Self::Instruction { file, .. }
            | Self::UnknownInstruction { file, .. }
            | Self::Syntax { file, .. } => file,
        }
    }

    /// The 1-based line the error points at.
    pub fn line(&self) -> usize {
        match self {
            Self::Instruction { line, .. }
            | Self::UnknownInstruction { line, .. }
            | Self::Syntax { line, .. } => *line,
        }
    }

    /// The instruction keyword involved, upper-cased, when there is one.
    pub fn instruction(&self) -> Option<&str> {
        match self {
            Self::Instruction { instruction, .. }
            | Self::UnknownInstruction { instruction, .. } => Some(instruction),
            Self::Syntax { .. } => None,
        }
    }
}

/// `Dockerfile:7`, or `line 7` when there is no file name (single
/// instructions given on a command line).
fn location(file: &str, line: &usize) -> String {
    if file.is_empty() {
        format!("line {line}")
    } else {
        format!("{}:{line}", escape(file))
    }
}

/// Why a word could not be expanded; the wording follows BuildKit's lexer so
/// users can search for it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExpandError {
    /// `${}`, `${:x}`, `${{x}`.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// `${x` or `${x:-word` without the closing brace.
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    /// `${x/pattern` without the second slash.
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    /// `${x!y}` and other operators the lexer does not know.
    #[error("unsupported modifier ({}) in substitution", escape(.0))]
    UnsupportedModifier(String),
    /// A quote or a `${` group that never closes.
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(&'static str),
    /// `${x?message}` / `${x:?message}` when `x` is unset (or empty).
    #[error("{}: {}", escape(name), escape(message))]
    Required { name: String, message: String },
    /// More nested `${…}` groups than the lexer accepts.
    #[error("variable substitution nested too deeply")]
    TooDeep,
    /// A result longer than its input plus 1 MiB (pattern substitutions
    /// can multiply lengths).
    #[error("variable substitution result too long (over 1 MiB more than its input)")]
    TooLong,
    /// A `#`, `%` or `/` pattern with a bad escape.
    #[error(
        "invalid pattern ({}) in substitution: {}",
        escape(pattern),
        escape(reason)
    )]
    InvalidPattern { pattern: String, reason: String },
}
