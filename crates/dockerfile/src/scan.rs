//! Reading source text into logical instructions: parser directives, comment
//! and continuation handling, and heredoc bodies, following BuildKit's
//! `parser.Parse` line loop.

use crate::ast::{Directives, Heredoc, Instruction, Located};
use crate::build::{build, takes_heredocs, BuildError, Line, ReadHeredoc};
use crate::error::ParseError;
use crate::heredoc::{find_markers, strip_tabs};
use crate::syntax::split_command;

/// Everything read from a source text.
pub(crate) struct Scanned {
    pub directives: Directives,
    pub instructions: Vec<Located<Instruction>>,
    /// Number of physical lines, for errors about the file as a whole.
    pub lines: usize,
}

/// Physical lines with their endings, numbered from 1.
struct Lines<'a> {
    rest: std::str::SplitInclusive<'a, char>,
    number: usize,
}

impl<'a> Lines<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let line = self.rest.next()?;
        self.number += 1;
        Some(line)
    }
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Tracks the directive block at the top of the file: it ends at the first
/// line that is not a known `# key=value` directive.
struct DirectiveParser {
    done: bool,
    directives: Directives,
    seen: Vec<String>,
}

impl DirectiveParser {
    fn line(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        match directive(line) {
            Some((key, value)) if ["syntax", "escape", "check"].contains(&key.as_str()) => {
                if self.seen.contains(&key) {
                    return Err(format!("only one {key} parser directive can be used"));
                }
                match key.as_str() {
                    "escape" => {
                        self.directives.escape = match value {
                            "\\" => '\\',
                            "`" => '`',
                            _ => {
                                return Err(format!(
                                    "invalid escape token '{value}' does not match ` or \\"
                                ))
                            }
                        }
                    }
                    "syntax" => self.directives.syntax = Some(value.to_string()),
                    _ => self.directives.check = Some(value.to_string()),
                }
                self.seen.push(key);
            }
            _ => self.done = true,
        }
        Ok(())
    }
}

/// `# key = value` with a lower-cased key, per BuildKit's
/// `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`.
fn directive(line: &str) -> Option<(String, &str)> {
    let is_space = |c: char| matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ');
    let rest = line.strip_prefix('#')?.trim_start();
    let key_len = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let key = &rest[..key_len];
    if !key.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = rest[key_len..]
        .trim_start_matches(is_space)
        .strip_prefix('=')?
        .trim_matches(is_space);
    (!value.is_empty()).then(|| (key.to_ascii_lowercase(), value))
}

/// Removes a trailing escape character (and the blanks after it) that
/// continues the line. An escaped escape (`\\`) does not continue it.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    match body.strip_suffix(escape) {
        Some(before) if !before.ends_with(escape) => (before.to_string(), false),
        _ => (line.to_string(), true),
    }
}

pub(crate) fn scan(file: &str, src: &str) -> Result<Scanned, ParseError> {
    let mut lines = Lines {
        rest: src.split_inclusive('\n'),
        number: 0,
    };
    let mut parser = DirectiveParser {
        done: false,
        directives: Directives::default(),
        seen: Vec::new(),
    };
    let mut instructions = Vec::new();
    while let Some(raw) = lines.next() {
        let mut physical = trim_newline(raw);
        if lines.number == 1 {
            physical = physical.strip_prefix('\u{feff}').unwrap_or(physical);
        }
        let physical = physical.trim_start();
        parser
            .line(physical)
            .map_err(|message| ParseError::Syntax {
                file: file.to_string(),
                line: lines.number,
                message,
            })?;
        let escape = parser.directives.escape;
        let start = lines.number;
        let first = if physical.starts_with('#') {
            ""
        } else {
            physical
        };
        let (mut text, mut done) = trim_continuation(first, escape);
        if done && text.is_empty() {
            continue;
        }
        while !done {
            let Some(raw) = lines.next() else { break };
            let physical = trim_newline(raw);
            // Comment lines and blank lines inside a continuation are
            // skipped, the continuation carries on past them.
            if is_comment(physical) || physical.trim_start().is_empty() {
                continue;
            }
            let (more, end) = trim_continuation(physical, escape);
            text.push_str(&more);
            done = end;
        }
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let (keyword, flags, args) = split_command(text);
        let mut heredocs = Vec::new();
        if takes_heredocs(&keyword, &args) {
            for marker in find_markers(text) {
                let body_line = lines.number + 1;
                let mut raw_body = String::new();
                let mut terminated = false;
                while let Some(raw) = lines.next() {
                    let candidate = trim_newline(raw);
                    let candidate = if marker.chomp {
                        candidate.trim_start_matches('\t')
                    } else {
                        candidate
                    };
                    if candidate == marker.name {
                        terminated = true;
                        break;
                    }
                    raw_body.push_str(raw);
                }
                if !terminated {
                    return Err(ParseError::Instruction {
                        file: file.to_string(),
                        line: start,
                        instruction: keyword.to_uppercase(),
                        message: format!("unterminated heredoc {:?}", marker.name),
                    });
                }
                let content = if marker.chomp {
                    strip_tabs(&raw_body)
                } else {
                    raw_body.clone()
                };
                heredocs.push(ReadHeredoc {
                    heredoc: Heredoc {
                        name: marker.name,
                        content,
                        expand: marker.expand,
                        chomp: marker.chomp,
                        fd: marker.fd,
                        line: body_line,
                    },
                    raw: raw_body,
                });
            }
        }
        let line = Line {
            keyword: &keyword,
            flags: &flags,
            args: &args,
            original: text,
            escape,
        };
        let value = build(&line, heredocs).map_err(|err| match err {
            BuildError::Unknown(instruction) => ParseError::UnknownInstruction {
                file: file.to_string(),
                line: start,
                instruction,
            },
            BuildError::Invalid {
                instruction,
                message,
            } => ParseError::Instruction {
                file: file.to_string(),
                line: start,
                instruction,
                message,
            },
        })?;
        instructions.push(Located {
            line: start,
            end_line: lines.number,
            original: text.to_string(),
            value,
        });
    }
    Ok(Scanned {
        directives: parser.directives,
        instructions,
        lines: lines.number,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_syntax() {
        assert_eq!(directive("# escape=`"), Some(("escape".into(), "`")));
        assert_eq!(
            directive("#\t  dIrEcTiVe = value "),
            Some(("directive".into(), "value"))
        );
        assert_eq!(
            directive("#syntax=docker/dockerfile:1"),
            Some(("syntax".into(), "docker/dockerfile:1"))
        );
        assert_eq!(directive("# about my dockerfile"), None);
        assert_eq!(directive("# escape="), None);
        assert_eq!(directive("# 1x=y"), None);
        assert_eq!(directive("FROM x"), None);
    }

    #[test]
    fn continuation() {
        assert_eq!(trim_continuation("a \\", '\\'), ("a ".into(), false));
        assert_eq!(trim_continuation("a \\  \t", '\\'), ("a ".into(), false));
        assert_eq!(trim_continuation("\\", '\\'), ("".into(), false));
        assert_eq!(trim_continuation("a \\\\", '\\'), ("a \\\\".into(), true));
        assert_eq!(trim_continuation("c:\\", '`'), ("c:\\".into(), true));
        assert_eq!(trim_continuation("a `", '`'), ("a ".into(), false));
    }
}
