//! The `--format` machinery of the docker CLI, without any I/O.
//!
//! * [`Template`]: a subset of Go's `text/template`, evaluated over a
//!   [`serde_json::Value`], with docker's extra template functions.
//! * [`align_tabs`]: Go's `text/tabwriter` as docker's table output uses it.
//! * [`unescape_format`] and [`table_body`]: the CLI-side preprocessing of
//!   `--format` strings.
//!
//! # Template language
//!
//! Supported: text; actions `{{pipeline}}` with `{{-`/`-}}` trim markers
//! and `{{/* comments */}}`; `.`, field chains `.A.B`, `$`, variables
//! (`{{$v := ...}}`, `{{$v = ...}}`), `(...)` sub-pipelines and
//! `(...).Field` chains; string (`"..."`, `` `...` ``), number, character,
//! bool and `nil` literals; pipelines `a | b`; `{{if}}`, `{{else if}}`,
//! `{{else}}`, `{{with}}`, `{{else with}}`, `{{range}}` (arrays, objects in
//! sorted key order, integers, with `$i, $e :=`), `{{break}}`,
//! `{{continue}}`. Not supported: `define`, `template`, `block`.
//!
//! Functions: Go's `and or not len index slice eq ne lt le gt ge print
//! printf println html js urlquery`, and docker's `json join split lower
//! upper title truncate pad`.
//!
//! # Data model decisions
//!
//! The data is JSON, not Go structs, so a few behaviours had to be chosen:
//!
//! * A missing object key yields Go's "no value" (like a Go map lookup):
//!   it prints `<no value>`, is false in `if`, and fields of it are missing
//!   too. Docker's structs would make it an error instead.
//! * A field of JSON `null` is an error (`nil pointer evaluating ...`), like
//!   a field of a nil pointer in docker.
//! * `null` prints as `<nil>` (what docker prints for nil pointers), as do
//!   null elements of arrays and objects.
//! * Numbers: integers, and floats that are whole and below 1e21, behave as
//!   Go ints (`%d` works, they print without decimals); other numbers are
//!   float64s printed like Go's `%v` (`1.5`, `1.2345675e+06`). All numbers
//!   compare numerically with each other.
//! * Arrays print as `[a b c]`, objects as `map[k1:v1 k2:v2]` with sorted
//!   keys. `json` keeps the stored key order (docker prints struct fields
//!   in declaration order).
//! * `null` and missing values count as `""` for string parameters
//!   (`lower`, `split`...), as empty lists for `join`, have length 0 for
//!   `len`, and index to no value in `index`, mirroring docker's nil slices
//!   and maps.
//!
//! Errors use Go's wording: `template: :1: function "foo" not defined` for
//! parse errors, `template: :1:2: executing "" at <.Foo>: ...` for
//! execution errors (line, 0-based byte column, and the failing node).

#![forbid(unsafe_code)]

mod exec;
mod funcs;
mod gofmt;
mod lex;
mod parse;
mod tabwriter;
mod value;

pub use tabwriter::align_tabs;

/// A template parsing or execution failure, worded like Go's
/// `text/template` errors (docker prints them after
/// `template parsing error: `).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template source is malformed.
    #[error("template: :{line}: {message}")]
    Parse {
        /// 1-based line of the offending token.
        line: usize,
        /// What went wrong, e.g. `function "foo" not defined`.
        message: String,
    },
    /// Evaluating the template against the data failed.
    #[error("template: :{line}:{column}: executing \"\" at <{context}>: {message}")]
    Exec {
        /// 1-based line of the failing node.
        line: usize,
        /// 0-based byte column of the failing node (Go's convention).
        column: usize,
        /// The failing node's source form, cut to 20 characters plus `...`.
        context: String,
        /// What went wrong, e.g. `can't evaluate field X in type string`.
        message: String,
    },
}

/// A parsed `--format` template.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    nodes: Vec<parse::Node>,
}

impl Template {
    /// Parses a template. Escape sequences such as a literal `\t` are not
    /// interpreted here; see [`unescape_format`].
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        Ok(Template {
            source: src.to_string(),
            nodes: parse::parse(src)?,
        })
    }

    /// Evaluates the template with `data` as `.` (and `$`).
    pub fn render(&self, data: &serde_json::Value) -> Result<String, TemplateError> {
        exec::execute(&self.source, &self.nodes, data)
    }

    /// The template source as given to [`Template::parse`].
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Replaces the two-character sequences `\t` and `\n` with a tab and a
/// newline, left to right, as the docker CLI does to `--format` strings
/// before parsing them.
pub fn unescape_format(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('t') => {
                    chars.next();
                    out.push('\t');
                    continue;
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

/// If the format starts with "table" (docker's `table {{.A}}\t{{.B}}`),
/// returns the part after it with leading spaces removed (`Some("")` for a
/// bare `table`, meaning "the default table"); otherwise `None`.
pub fn table_body(format: &str) -> Option<&str> {
    format
        .strip_prefix("table")
        .map(|rest| rest.trim_start_matches(' '))
}

#[cfg(test)]
mod tests;
