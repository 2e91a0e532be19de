//! Text that came from outside (archive entry names, Dockerfile lines,
//! registry responses) made safe to put in a message.
//!
//! A name in a hostile archive can hold escape sequences that a terminal
//! would act on (move the cursor, rewrite what is shown, set the title) or
//! bidirectional controls that reorder what the reader sees. Every message
//! that quotes input prints it through [`escape`] or [`quote`], which
//! leave printable text as it is and show everything else as an escape:
//! `\n`, `\r`, `\t`, `\xNN` for other ASCII controls and bytes that are not
//! UTF-8, `\u{NNNN}` for Unicode controls and format characters.

#![forbid(unsafe_code)]

use std::fmt::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Input with its non-printable characters escaped, for `{}`.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a> {
    bytes: &'a [u8],
    quoted: bool,
}

/// `text` as it may be printed: printable characters (backslashes and
/// quotes included) unchanged, the rest escaped.
pub fn escape<T: AsRef<[u8]> + ?Sized>(text: &T) -> Escaped<'_> {
    Escaped {
        bytes: text.as_ref(),
        quoted: false,
    }
}

/// `text` in double quotes, escaped as by [`escape`] and with `"` and `\`
/// escaped too, as Go's `%q` prints it.
pub fn quote<T: AsRef<[u8]> + ?Sized>(text: &T) -> Escaped<'_> {
    Escaped {
        bytes: text.as_ref(),
        quoted: true,
    }
}

/// A path as [`escape`] prints it (its bytes, which need not be UTF-8).
pub fn escape_path(path: &Path) -> Escaped<'_> {
    escape(path.as_os_str().as_bytes())
}

/// A path as [`quote`] prints it.
pub fn quote_path(path: &Path) -> Escaped<'_> {
    quote(path.as_os_str().as_bytes())
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.quoted {
            f.write_char('"')?;
        }
        for chunk in self.bytes.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '"' | '\\' if self.quoted => write!(f, "\\{c}")?,
                    '\n' => f.write_str("\\n")?,
                    '\r' => f.write_str("\\r")?,
                    '\t' => f.write_str("\\t")?,
                    c if c.is_ascii_control() => write!(f, "\\x{:02x}", c as u32)?,
                    c if needs_escape(c) => write!(f, "\\u{{{:04x}}}", c as u32)?,
                    c => f.write_char(c)?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        if self.quoted {
            f.write_char('"')?;
        }
        Ok(())
    }
}

/// Controls (C0, DEL, C1), and the format characters that change how text
/// around them is shown: bidirectional controls, zero-width characters,
/// line and paragraph separators, the byte-order mark, and the
/// interlinear annotation marks.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_is_left_alone() {
        for text in [
            "etc/passwd",
            "ünïcödé/名前",
            r"back\slash and 'quotes' and \x1b",
            "",
        ] {
            assert_eq!(escape(text).to_string(), text);
        }
    }

    #[test]
    fn terminal_controls_are_escaped() {
        assert_eq!(
            escape("a\x1b[2J\x07b\nc\rd\te\x7f").to_string(),
            r"a\x1b[2J\x07b\nc\rd\te\x7f"
        );
        assert_eq!(escape("\u{9b}31m").to_string(), r"\u{009b}31m", "C1 CSI");
        assert_eq!(
            escape("evil\u{202e}txt.exe\u{200b}").to_string(),
            r"evil\u{202e}txt.exe\u{200b}"
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_escaped() {
        assert_eq!(escape(b"a\xffb\xc3").to_string(), r"a\xffb\xc3");
        assert_eq!(
            escape_path(Path::new(std::ffi::OsStr::from_bytes(b"/x/\xfe"))).to_string(),
            r"/x/\xfe"
        );
    }

    #[test]
    fn quoting_escapes_quotes_and_backslashes() {
        assert_eq!(quote(r#"say "hi"\"#).to_string(), r#""say \"hi\"\\""#);
        assert_eq!(quote("\x1b").to_string(), r#""\x1b""#);
        assert_eq!(quote_path(Path::new("../x")).to_string(), r#""../x""#);
    }
}
