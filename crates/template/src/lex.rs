//! Lexer for the Go `text/template` language.
//!
//! Mirrors the token stream of Go's `text/template/parse` lexer closely
//! enough that the parser can reproduce Go's grammar decisions (spaces are
//! significant tokens, fields are lexed one `.Name` at a time, trim markers
//! are resolved here, lexing stops at the first error).

use crate::gofmt::{go_quote, go_unicode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    LeftDelim,
    RightDelim,
    Space,
    /// `.Name` (the value keeps the leading dot).
    Field,
    /// A lone `.`.
    Dot,
    /// `$` or `$name`.
    Variable,
    Ident,
    Bool,
    Nil,
    Number,
    CharConst,
    Str,
    RawStr,
    LeftParen,
    RightParen,
    Pipe,
    Declare,
    Assign,
    /// Any other printable ASCII character (`,` is the one the grammar uses).
    Char,
    Eof,
    /// Lexing failed; the value is the message. Always the last token.
    Error,
    If,
    Else,
    End,
    Range,
    With,
    Break,
    Continue,
    Define,
    Template,
    Block,
}

impl Kind {
    /// Keywords print as `<word>` in parse errors, like Go.
    pub(crate) fn is_keyword(self) -> bool {
        matches!(
            self,
            Kind::Dot
                | Kind::Nil
                | Kind::If
                | Kind::Else
                | Kind::End
                | Kind::Range
                | Kind::With
                | Kind::Break
                | Kind::Continue
                | Kind::Define
                | Kind::Template
                | Kind::Block
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub kind: Kind,
    pub val: String,
    /// Byte offset in the template source.
    pub pos: usize,
    /// 1-based line of `pos`.
    pub line: usize,
}

/// Space characters inside actions and for trim markers (Go's `isSpace`
/// plus end-of-line characters).
pub(crate) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Tokenizes `src`. The result always ends with an `Eof` or `Error` token.
pub(crate) fn lex(src: &str) -> Vec<Token> {
    let mut l = Lexer {
        src,
        pos: 0,
        start: 0,
        paren_depth: 0,
        toks: Vec::new(),
        newlines: src.match_indices('\n').map(|(i, _)| i).collect(),
    };
    l.run();
    l.toks
}

struct Lexer<'s> {
    src: &'s str,
    pos: usize,
    start: usize,
    paren_depth: i32,
    toks: Vec<Token>,
    newlines: Vec<usize>,
}

impl Lexer<'_> {
    fn line_at(&self, pos: usize) -> usize {
        1 + self.newlines.partition_point(|&p| p < pos)
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn push(&mut self, kind: Kind, val: String, pos: usize) {
        let line = self.line_at(pos);
        self.toks.push(Token {
            kind,
            val,
            pos,
            line,
        });
    }

    /// Emits `src[start..pos]` as a token of `kind`.
    fn emit(&mut self, kind: Kind) {
        let val = self.src[self.start..self.pos].to_string();
        self.push(kind, val, self.start);
        self.start = self.pos;
    }

    /// Emits an error token; lexing stops after it.
    fn error(&mut self, msg: String) -> bool {
        self.push(Kind::Error, msg, self.start);
        false
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn skip_spaces(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start_matches(is_space).len();
    }

    /// Reports whether the input is at a closing delimiter, and whether
    /// that delimiter carries a trim marker (` -}}`).
    fn at_right_delim(&self) -> (bool, bool) {
        let rest = self.rest().as_bytes();
        if rest.len() >= 4 && is_space(rest[0] as char) && rest[1..].starts_with(b"-}}") {
            return (true, true);
        }
        (rest.starts_with(b"}}"), false)
    }

    /// Go's `atTerminator`: can a field/identifier end here?
    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.rest().starts_with("}}"),
        }
    }

    fn run(&mut self) {
        loop {
            let Some(x) = self.rest().find("{{") else {
                if self.pos < self.src.len() {
                    self.start = self.pos;
                    self.pos = self.src.len();
                    self.emit(Kind::Text);
                }
                self.start = self.pos;
                self.emit(Kind::Eof);
                return;
            };
            let delim = self.pos + x;
            let after = delim + 2;
            let trim = has_left_trim(&self.src[after..]);
            if x > 0 {
                let text = &self.src[self.pos..delim];
                let end = if trim {
                    self.pos + text.trim_end_matches(is_space).len()
                } else {
                    delim
                };
                if end > self.pos {
                    let val = self.src[self.pos..end].to_string();
                    self.push(Kind::Text, val, self.pos);
                }
            }
            self.pos = after + if trim { 2 } else { 0 };
            self.start = delim;
            if self.rest().starts_with("/*") {
                if !self.lex_comment() {
                    return;
                }
                continue;
            }
            self.push(Kind::LeftDelim, "{{".to_string(), delim);
            self.start = self.pos;
            if !self.lex_inside_action() {
                return;
            }
        }
    }

    /// Skips a `{{/* ... */}}` comment. The comment must fill the action.
    fn lex_comment(&mut self) -> bool {
        let body = self.pos + 2;
        let Some(y) = self.src[body..].find("*/") else {
            return self.error("unclosed comment".to_string());
        };
        self.pos = body + y + 2;
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.error("comment ends before closing delimiter".to_string());
        }
        self.pos += if trim { 4 } else { 2 };
        if trim {
            self.skip_spaces();
        }
        true
    }

    /// Lexes the inside of an action up to and including its closing
    /// delimiter. Returns false if lexing stopped (error or end of input).
    fn lex_inside_action(&mut self) -> bool {
        loop {
            let (delim, trim) = self.at_right_delim();
            if delim {
                if self.paren_depth != 0 {
                    self.start = self.pos;
                    return self.error("unclosed left paren".to_string());
                }
                if trim {
                    self.pos += 2;
                }
                self.start = self.pos;
                self.pos += 2;
                self.emit(Kind::RightDelim);
                if trim {
                    self.skip_spaces();
                }
                self.start = self.pos;
                return true;
            }
            self.start = self.pos;
            let Some(c) = self.next() else {
                return self.error("unclosed action".to_string());
            };
            let ok = match c {
                c if is_space(c) => {
                    self.pos = self.start;
                    self.lex_space();
                    true
                }
                '=' => {
                    self.emit(Kind::Assign);
                    true
                }
                ':' => {
                    if self.next() != Some('=') {
                        return self.error("expected :=".to_string());
                    }
                    self.emit(Kind::Declare);
                    true
                }
                '|' => {
                    self.emit(Kind::Pipe);
                    true
                }
                '"' => self.lex_quoted('"', Kind::Str, "unterminated quoted string"),
                '\'' => self.lex_quoted('\'', Kind::CharConst, "unterminated character constant"),
                '`' => self.lex_raw_quote(),
                '$' => self.lex_field_or_variable(Kind::Variable),
                '.' if self.peek().is_some_and(|n| !n.is_ascii_digit()) => {
                    self.lex_field_or_variable(Kind::Field)
                }
                '.' | '+' | '-' | '0'..='9' => {
                    self.pos = self.start;
                    self.lex_number()
                }
                c if is_alnum(c) => {
                    self.pos = self.start;
                    self.lex_identifier()
                }
                '(' => {
                    self.emit(Kind::LeftParen);
                    self.paren_depth += 1;
                    true
                }
                ')' => {
                    self.emit(Kind::RightParen);
                    self.paren_depth -= 1;
                    if self.paren_depth < 0 {
                        return self.error("unexpected right paren".to_string());
                    }
                    true
                }
                c if c.is_ascii() && !c.is_ascii_control() => {
                    self.emit(Kind::Char);
                    true
                }
                c => {
                    return self.error(format!(
                        "unrecognized character in action: {}",
                        go_unicode(c)
                    ))
                }
            };
            if !ok {
                return false;
            }
        }
    }

    /// A run of spaces. The last space of ` -}}` belongs to the delimiter.
    fn lex_space(&mut self) {
        let mut n = 0;
        while self.peek().is_some_and(is_space) {
            self.next();
            n += 1;
        }
        if self.rest().starts_with("-}}") {
            self.pos -= 1;
            if n == 1 {
                return;
            }
        }
        self.emit(Kind::Space);
    }

    fn lex_quoted(&mut self, quote: char, kind: Kind, unterminated: &str) -> bool {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some(c) if c != '\n' => {}
                    _ => return self.error(unterminated.to_string()),
                },
                None | Some('\n') => return self.error(unterminated.to_string()),
                Some(c) if c == quote => break,
                Some(_) => {}
            }
        }
        self.emit(kind);
        true
    }

    fn lex_raw_quote(&mut self) -> bool {
        loop {
            match self.next() {
                None => return self.error("unterminated raw quoted string".to_string()),
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::RawStr);
        true
    }

    /// After `.` or `$`: a field/variable name, or a lone dot / `$`.
    fn lex_field_or_variable(&mut self, kind: Kind) -> bool {
        if self.at_terminator() {
            self.emit(if kind == Kind::Variable {
                Kind::Variable
            } else {
                Kind::Dot
            });
            return true;
        }
        while self.peek().is_some_and(is_alnum) {
            self.next();
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or('\0');
            return self.error(format!("bad character {}", go_unicode(c)));
        }
        self.emit(kind);
        true
    }

    fn lex_identifier(&mut self) -> bool {
        while self.peek().is_some_and(is_alnum) {
            self.next();
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or('\0');
            return self.error(format!("bad character {}", go_unicode(c)));
        }
        let kind = match &self.src[self.start..self.pos] {
            "block" => Kind::Block,
            "break" => Kind::Break,
            "continue" => Kind::Continue,
            "define" => Kind::Define,
            "else" => Kind::Else,
            "end" => Kind::End,
            "if" => Kind::If,
            "range" => Kind::Range,
            "nil" => Kind::Nil,
            "template" => Kind::Template,
            "with" => Kind::With,
            "true" | "false" => Kind::Bool,
            _ => Kind::Ident,
        };
        self.emit(kind);
        true
    }

    fn lex_number(&mut self) -> bool {
        if !self.scan_number() {
            let bad = go_quote(&self.src[self.start..self.pos]);
            return self.error(format!("bad number syntax: {bad}"));
        }
        if matches!(self.peek(), Some('+' | '-')) {
            // Go's complex literals (1+2i); lexed so that the parser can
            // reject them as unsupported numbers.
            if !self.scan_number() || !self.src[..self.pos].ends_with('i') {
                let bad = go_quote(&self.src[self.start..self.pos]);
                return self.error(format!("bad number syntax: {bad}"));
            }
        }
        self.emit(Kind::Number);
        true
    }

    /// Go's `scanNumber`: accepts a superset of valid numbers; the parser
    /// validates the text.
    fn scan_number(&mut self) -> bool {
        const DEC: &str = "0123456789_";
        const HEX: &str = "0123456789abcdefABCDEF_";
        self.accept("+-");
        let mut digits = DEC;
        if self.accept("0") {
            if self.accept("xX") {
                digits = HEX;
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits == DEC && self.accept("eE") {
            self.accept("+-");
            self.accept_run(DEC);
        }
        if digits == HEX && self.accept("pP") {
            self.accept("+-");
            self.accept_run(DEC);
        }
        self.accept("i");
        if self.peek().is_some_and(is_alnum) {
            self.next();
            return false;
        }
        true
    }
}

/// `{{- ` : a minus followed by a space character.
fn has_left_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Kind> {
        lex(src).into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn text_and_fields() {
        use Kind::*;
        assert_eq!(
            kinds("a {{.A.B}} b"),
            vec![Text, LeftDelim, Field, Field, RightDelim, Text, Eof]
        );
        let toks = lex("{{.A.B}}");
        assert_eq!(toks[1].val, ".A");
        assert_eq!(toks[2].val, ".B");
        assert_eq!(toks[2].pos, 4);
    }

    #[test]
    fn trim_markers() {
        let toks = lex("a  \n{{- .X -}}  \n b");
        assert_eq!(toks[0].val, "a");
        assert_eq!(toks.last().unwrap().kind, Kind::Eof);
        let text: Vec<_> = toks
            .iter()
            .filter(|t| t.kind == Kind::Text)
            .map(|t| t.val.as_str())
            .collect();
        assert_eq!(text, vec!["a", "b"]);
        // No space token before a trimmed right delimiter.
        assert_eq!(
            kinds("{{.X -}}"),
            vec![Kind::LeftDelim, Kind::Field, Kind::RightDelim, Kind::Eof]
        );
    }

    #[test]
    fn numbers_and_strings() {
        use Kind::*;
        assert_eq!(
            kinds(r#"{{-3 "a\"b" `r` 'c' 0x1F 1.5e3}}"#),
            vec![
                LeftDelim, Number, Space, Str, Space, RawStr, Space, CharConst, Space, Number,
                Space, Number, RightDelim, Eof
            ]
        );
    }

    #[test]
    fn errors() {
        let last = |s: &str| lex(s).pop().unwrap();
        assert_eq!(last("{{.A").val, "unclosed action");
        assert_eq!(last("{{\"abc}}").val, "unterminated quoted string");
        assert_eq!(last("{{(.A}}").val, "unclosed left paren");
        assert_eq!(last("{{.A)}}").val, "unexpected right paren");
        assert_eq!(last("{{3x}}").val, "bad number syntax: \"3x\"");
        assert_eq!(last("{{/* x }}").val, "unclosed comment");
    }

    #[test]
    fn comments_are_skipped() {
        use Kind::*;
        assert_eq!(kinds("a{{/* c */}}b"), vec![Text, Text, Eof]);
        let toks = lex("a {{- /* c */ -}} b");
        assert_eq!(toks[0].val, "a");
        assert_eq!(toks[1].val, "b");
    }
}
