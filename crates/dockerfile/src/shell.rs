//! Variable expansion and quote removal, following BuildKit's shell lexer
//! (`frontend/dockerfile/shell`) so words expand exactly as `docker build`
//! expands them. This is not a shell: there is no command substitution, no
//! globbing of file names and no arithmetic.

use crate::error::ExpandError;

/// Resolves a variable name to its value; `None` means "unset", which is
/// different from "set to the empty string" for `${x-word}` and friends.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Expands one word the way BuildKit's `ProcessWord` does: `$x`, `${x}`, the
/// `${x:-word}` family and patterns are substituted, quotes are removed and the
/// escape character is dropped from escaped characters. Whitespace is kept.
pub fn expand(word: &str, escape: char, lookup: Lookup) -> Result<String, ExpandError> {
    process(word, escape, Mode::default(), lookup).map(|(word, _)| word)
}

/// Expands like [`expand`] and then splits on whitespace outside quotes, as
/// BuildKit's `ProcessWords` does for `EXPOSE`. Whitespace coming from a
/// variable's value splits too; an empty quoted string yields no word.
pub fn expand_words(word: &str, escape: char, lookup: Lookup) -> Result<Vec<String>, ExpandError> {
    process(word, escape, Mode::default(), lookup).map(|(_, words)| words)
}

/// Expands variables in the body of an expanding `COPY <<EOF` heredoc. Quotes
/// are content there, not syntax, so they are kept; BuildKit always uses the
/// backslash as escape character for heredoc bodies.
pub fn expand_heredoc(content: &str, lookup: Lookup) -> Result<String, ExpandError> {
    let mode = Mode {
        skip_quotes: true,
        ..Mode::default()
    };
    process(content, '\\', mode, lookup).map(|(word, _)| word)
}

/// The lexer switches BuildKit uses internally; the parser needs the raw
/// variants to find heredoc markers without disturbing the line.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Mode {
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters.
    pub skip_quotes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset: bool,
}

/// Runs the lexer once, returning both the single-word result and the
/// whitespace-split words.
pub(crate) fn process(
    word: &str,
    escape: char,
    mode: Mode,
    lookup: Lookup,
) -> Result<(String, Vec<String>), ExpandError> {
    let chars: Vec<char> = word.chars().collect();
    let mut lexer = Lexer {
        limit: word.len() + MAX_GROWTH,
        chars,
        pos: 0,
        escape,
        mode,
        raw_escapes: mode.raw_escapes,
        lookup,
        depth: 0,
    };
    lexer.stop_on(None, mode.raw_escapes)
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    mode: Mode,
    /// Current escape handling; `${x#pattern}` turns it on temporarily so
    /// pattern escapes survive until the pattern is compiled.
    raw_escapes: bool,
    lookup: Lookup<'a>,
    /// Open `${` groups, bounded so hostile input cannot exhaust the stack.
    depth: usize,
    /// The longest result (and nested word) allowed, in bytes.
    limit: usize,
}

/// Deeper `${…${…}}` nesting than any real Dockerfile uses.
const MAX_DEPTH: usize = 64;

/// How much longer than its input an expansion may get. Each nested
/// `${x//pattern/replacement}` multiplies lengths (an empty pattern matches
/// between every character), so a few hundred bytes could otherwise ask for
/// gigabytes; no real value comes near it, as the kernel refuses a single
/// environment string over 128 KiB.
const MAX_GROWTH: usize = 1 << 20;

/// Accumulates whitespace-separated words alongside the single result.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }

    fn add_str(&mut self, s: &str) {
        s.chars().for_each(|ch| self.add_char(ch));
    }

    fn add_raw_str(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let ch = self.peek()?;
        self.pos += 1;
        Some(ch)
    }

    fn stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let result = self.stop_on_inner(stop);
        self.raw_escapes = saved;
        result
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), ExpandError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            let quote = !self.mode.skip_quotes && (ch == '\'' || ch == '"');
            if ch == '$' {
                let value = self.dollar()?;
                self.check_length(result.len() + value.len())?;
                words.add_str(&value);
                result.push_str(&value);
            } else if quote {
                let value = if ch == '\'' {
                    self.single_quote()?
                } else {
                    self.double_quote()?
                };
                words.add_raw_str(&value);
                result.push_str(&value);
            } else {
                self.pos += 1;
                let mut ch = ch;
                if ch == self.escape {
                    if self.raw_escapes {
                        words.add_raw_char(ch);
                        result.push(ch);
                    }
                    match self.bump() {
                        Some(next) => ch = next,
                        None => break,
                    }
                    words.add_raw_char(ch);
                } else {
                    words.add_char(ch);
                }
                result.push(ch);
            }
        }
        match stop {
            Some('}') => Err(ExpandError::Unterminated("}")),
            Some(_) => Err(ExpandError::Unterminated("/")),
            None => Ok((result, words.finish())),
        }
    }

    fn single_quote(&mut self) -> Result<String, ExpandError> {
        let mut result = String::new();
        self.pos += 1;
        if self.mode.raw_quotes {
            result.push('\'');
        }
        loop {
            match self.bump() {
                None => return Err(ExpandError::Unterminated("single-quote")),
                Some('\'') => {
                    if self.mode.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(ch) => result.push(ch),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, ExpandError> {
        let mut result = String::new();
        self.pos += 1;
        if self.mode.raw_quotes {
            result.push('"');
        }
        loop {
            match self.peek() {
                None => return Err(ExpandError::Unterminated("double-quote")),
                Some('"') => {
                    self.pos += 1;
                    if self.mode.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.dollar()?;
                    self.check_length(result.len() + value.len())?;
                    result.push_str(&value);
                }
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            // A trailing escape is dropped; the missing
                            // closing quote is reported next time round.
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == self.escape => {
                                self.pos += 1;
                                ch = next;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    fn check_length(&self, len: usize) -> Result<(), ExpandError> {
        if len > self.limit {
            return Err(ExpandError::TooLong);
        }
        Ok(())
    }

    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.mode.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(ExpandError::MissingBrace),
            Some('{' | '}' | ':') => return Err(ExpandError::BadSubstitution),
            Some(_) => {}
        }
        if self.depth == MAX_DEPTH {
            return Err(ExpandError::TooDeep);
        }
        self.depth += 1;
        let result = self.braced();
        self.depth -= 1;
        result
    }

    /// The rest of `${name…}` after the opening brace.
    fn braced(&mut self) -> Result<String, ExpandError> {
        let name = self.name();
        match self.bump() {
            None => Err(ExpandError::MissingBrace),
            Some('}') => Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.mode.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':') => {
                let op = self.bump();
                self.modifier(name, true, op)
            }
            Some(op @ ('+' | '-' | '?' | '#' | '%')) => self.modifier(name, false, Some(op)),
            Some('/') => self.replace(name),
            Some(other) => Err(ExpandError::UnsupportedModifier(other.to_string())),
        }
    }

    /// `${name:op word}` / `${name op word}` after the operator was read.
    fn modifier(
        &mut self,
        name: String,
        colon: bool,
        op: Option<char>,
    ) -> Result<String, ExpandError> {
        let mut modifier = String::from(if colon { ":" } else { "" });
        modifier.extend(op);
        let raw = matches!(op, Some('#' | '%'));
        let word = self.group(Some('}'), raw, ExpandError::MissingBrace)?;
        let value = self.lookup(&name);
        if value.is_none() && self.mode.skip_unset {
            return Ok(format!("${{{name}{modifier}{word}}}"));
        }
        // With a colon, an empty value counts as unset.
        let set = match &value {
            Some(v) => !(colon && v.is_empty()),
            None => false,
        };
        match op {
            Some('-') => Ok(if set { value.unwrap_or_default() } else { word }),
            Some('+') => Ok(if set { word } else { String::new() }),
            Some('?') => match value {
                Some(v) if set => Ok(v),
                _ => {
                    let message = if !word.is_empty() {
                        word
                    } else if value.is_none() {
                        "is not allowed to be unset".to_string()
                    } else {
                        "is not allowed to be empty".to_string()
                    };
                    Err(ExpandError::Required { name, message })
                }
            },
            Some(op @ ('#' | '%')) => {
                let (greedy, pattern) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                let tokens = compile_pattern(pattern)?;
                let value = value.unwrap_or_default();
                Ok(if op == '#' {
                    trim_prefix(&value, &tokens, greedy)
                } else {
                    trim_suffix(&value, &tokens, greedy)
                })
            }
            _ => Err(ExpandError::UnsupportedModifier(modifier)),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn replace(&mut self, name: String) -> Result<String, ExpandError> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pattern = self.group(Some('/'), true, ExpandError::MissingSlash)?;
        let replacement = self.group(Some('}'), true, ExpandError::MissingBrace)?;
        let value = self.lookup(&name);
        if value.is_none() && self.mode.skip_unset {
            let slash = if all { "//" } else { "/" };
            return Ok(format!("${{{name}{slash}{pattern}/{replacement}}}"));
        }
        let tokens = compile_pattern(&pattern)?;
        replace_matches(
            &value.unwrap_or_default(),
            &tokens,
            &replacement,
            all,
            self.limit,
        )
    }

    /// Reads a nested word up to `stop`; running out of input is reported as
    /// the missing delimiter, as BuildKit does.
    fn group(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
        at_end: ExpandError,
    ) -> Result<String, ExpandError> {
        match self.stop_on(stop, raw_escapes) {
            Ok((word, _)) => Ok(word),
            Err(_) if self.peek().is_none() => Err(at_end),
            Err(err) => Err(err),
        }
    }

    /// A variable name: digits for positional parameters, one special
    /// character, or letters, digits and underscores.
    fn name(&mut self) -> String {
        let mut name = String::new();
        if let Some(first) = self.peek() {
            if first.is_ascii_digit() {
                while let Some(ch) = self.peek().filter(char::is_ascii_digit) {
                    name.push(ch);
                    self.pos += 1;
                }
                return name;
            }
            if matches!(first, '@' | '*' | '#' | '?' | '-' | '$' | '!') {
                self.pos += 1;
                return first.to_string();
            }
        }
        while let Some(ch) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            name.push(ch);
            self.pos += 1;
        }
        name
    }
}

/// One element of a `${x#pattern}` glob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// `*`: any run of characters.
    Star,
    /// `?`: any single character.
    Any,
    Literal(char),
}

/// Compiles a shell pattern: `*`, `?`, and backslash escapes for `*`, `?`,
/// `\`, plus `\}` and `\/` which only protect the `${}` syntax.
fn compile_pattern(pattern: &str) -> Result<Vec<Token>, ExpandError> {
    let invalid = |reason: String| ExpandError::InvalidPattern {
        pattern: pattern.to_string(),
        reason,
    };
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(ch) = chars.next() {
        let token = match ch {
            '*' => Token::Star,
            '?' => Token::Any,
            '\\' => match chars.peek() {
                Some('}' | '/') => continue,
                Some(&next @ ('*' | '?' | '\\')) => {
                    chars.next();
                    Token::Literal(next)
                }
                Some(&next) => return Err(invalid(format!("invalid escape '\\{next}'"))),
                None => return Err(invalid("trailing escape".to_string())),
            },
            other => Token::Literal(other),
        };
        tokens.push(token);
    }
    Ok(tokens)
}

/// `ends[j]` tells whether the pattern matches `text[..j]` exactly; a
/// position-set simulation keeps this linear in the text length.
fn match_ends(tokens: &[Token], text: &[char]) -> Vec<bool> {
    let close = |states: &mut Vec<bool>| {
        for k in 0..tokens.len() {
            if states[k] && tokens[k] == Token::Star {
                states[k + 1] = true;
            }
        }
    };
    let mut states = vec![false; tokens.len() + 1];
    states[0] = true;
    close(&mut states);
    let mut ends = vec![false; text.len() + 1];
    ends[0] = states[tokens.len()];
    for (j, &ch) in text.iter().enumerate() {
        let mut next = vec![false; tokens.len() + 1];
        for (k, token) in tokens.iter().enumerate() {
            if !states[k] {
                continue;
            }
            match *token {
                Token::Star => next[k] = true,
                Token::Any => next[k + 1] = true,
                Token::Literal(c) if c == ch => next[k + 1] = true,
                Token::Literal(_) => {}
            }
        }
        close(&mut next);
        if !next.contains(&true) {
            break;
        }
        ends[j + 1] = next[tokens.len()];
        states = next;
    }
    ends
}

/// Index of the shortest (or, greedy, longest) prefix the pattern matches.
fn prefix_match(tokens: &[Token], text: &[char], greedy: bool) -> Option<usize> {
    let ends = match_ends(tokens, text);
    if greedy {
        ends.iter().rposition(|&m| m)
    } else {
        ends.iter().position(|&m| m)
    }
}

fn trim_prefix(value: &str, tokens: &[Token], greedy: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    match prefix_match(tokens, &chars, greedy) {
        Some(end) => chars[end..].iter().collect(),
        None => value.to_string(),
    }
}

/// Suffix matching is prefix matching on the reversed value and pattern.
fn trim_suffix(value: &str, tokens: &[Token], greedy: bool) -> String {
    let reversed: Vec<char> = value.chars().rev().collect();
    let reversed_tokens: Vec<Token> = tokens.iter().rev().copied().collect();
    match prefix_match(&reversed_tokens, &reversed, greedy) {
        Some(len) => reversed[len..].iter().rev().collect(),
        None => value.to_string(),
    }
}

/// Replaces the leftmost-longest match (or every non-overlapping one),
/// skipping an empty match right after a previous match like Go's regexp.
/// A result over `limit` bytes is an error.
fn replace_matches(
    value: &str,
    tokens: &[Token],
    replacement: &str,
    all: bool,
    limit: usize,
) -> Result<String, ExpandError> {
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::new();
    let mut last_end = 0;
    let mut search = 0;
    while search <= chars.len() {
        let found = (search..=chars.len()).find_map(|start| {
            prefix_match(tokens, &chars[start..], true).map(|len| (start, start + len))
        });
        let Some((start, end)) = found else { break };
        out.extend(&chars[last_end..start]);
        if end > last_end || start == 0 {
            if out.len() + replacement.len() > limit {
                return Err(ExpandError::TooLong);
            }
            out.push_str(replacement);
        }
        last_end = end;
        if !all {
            break;
        }
        search = if end > search { end } else { search + 1 };
    }
    out.extend(&chars[last_end.min(chars.len())..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn ex(word: &str, vars: &[(&str, &str)]) -> String {
        expand(word, '\\', &env(vars)).unwrap()
    }

    fn ex_err(word: &str, vars: &[(&str, &str)]) -> String {
        expand(word, '\\', &env(vars)).unwrap_err().to_string()
    }

    #[test]
    fn plain_and_braced_variables() {
        let vars = [("foo", "/bar"), ("n", "1")];
        assert_eq!(ex("$foo", &vars), "/bar");
        assert_eq!(ex("${foo}", &vars), "/bar");
        assert_eq!(ex("${foo}_x", &vars), "/bar_x");
        assert_eq!(ex("$foo_x", &vars), "");
        assert_eq!(ex("a$n.b", &vars), "a1.b");
        assert_eq!(ex("$unset-x", &vars), "-x");
        assert_eq!(ex("cost $", &vars), "cost $");
        assert_eq!(ex("$$", &vars), "");
        assert_eq!(ex("$1abc", &vars), "abc");
    }

    #[test]
    fn default_and_alternative_values() {
        let vars = [("set", "v"), ("empty", "")];
        assert_eq!(ex("${set:-w}", &vars), "v");
        assert_eq!(ex("${empty:-w}", &vars), "w");
        assert_eq!(ex("${unset:-w}", &vars), "w");
        assert_eq!(ex("${set-w}", &vars), "v");
        assert_eq!(ex("${empty-w}", &vars), "");
        assert_eq!(ex("${unset-w}", &vars), "w");
        assert_eq!(ex("${set:+w}", &vars), "w");
        assert_eq!(ex("${empty:+w}", &vars), "");
        assert_eq!(ex("${unset:+w}", &vars), "");
        assert_eq!(ex("${set+w}", &vars), "w");
        assert_eq!(ex("${empty+w}", &vars), "w");
        assert_eq!(ex("${unset+w}", &vars), "");
        assert_eq!(ex("${unset:-$set/x}", &vars), "v/x");
        assert_eq!(ex("${unset:-${empty:-deep}}", &vars), "deep");
        assert_eq!(ex("${unset:-'a b'}", &vars), "a b");
    }

    #[test]
    fn required_values() {
        let vars = [("set", "v"), ("empty", "")];
        assert_eq!(ex("${set:?oops}", &vars), "v");
        assert_eq!(ex("${empty?oops}", &vars), "");
        assert_eq!(ex_err("${unset:?oops}", &vars), "unset: oops");
        assert_eq!(
            ex_err("${unset:?}", &vars),
            "unset: is not allowed to be unset"
        );
        assert_eq!(
            ex_err("${empty:?}", &vars),
            "empty: is not allowed to be empty"
        );
        assert_eq!(
            ex_err("${unset?}", &vars),
            "unset: is not allowed to be unset"
        );
    }

    #[test]
    fn patterns() {
        let vars = [("s", "foobarbaz"), ("p", "/usr/local/bin")];
        assert_eq!(ex("${s#f*b}", &vars), "arbaz");
        assert_eq!(ex("${s##f*b}", &vars), "az");
        assert_eq!(ex("${s%b*}", &vars), "foobar");
        assert_eq!(ex("${s%%b*}", &vars), "foo");
        assert_eq!(ex("${s/ba/fo}", &vars), "fooforbaz");
        assert_eq!(ex("${s//ba/fo}", &vars), "fooforfoz");
        assert_eq!(ex("${s#x}", &vars), "foobarbaz");
        assert_eq!(ex("${s#???}", &vars), "barbaz");
        assert_eq!(ex("${p##*/}", &vars), "bin");
        assert_eq!(ex("${p%/*}", &vars), "/usr/local");
        assert_eq!(ex("${s//*/X}", &vars), "X");
        assert_eq!(ex("${s/o/\\/}", &vars), "f\\/obarbaz");
        assert_eq!(ex("${unset#x}", &vars), "");
        assert!(ex_err("${s#\\a}", &vars).starts_with("invalid pattern (\\a)"));
    }

    #[test]
    fn quotes_and_escapes() {
        let vars = [("v", "x y")];
        assert_eq!(ex("'$v'", &vars), "$v");
        assert_eq!(ex("\"$v\"", &vars), "x y");
        assert_eq!(ex("\\$v", &vars), "$v");
        assert_eq!(ex("\\${v}", &vars), "${v}");
        assert_eq!(ex("a\\ b", &vars), "a b");
        assert_eq!(ex("\"a\\\"b\"", &vars), "a\"b");
        assert_eq!(ex("\"a\\nb\"", &vars), "a\\nb");
        assert_eq!(ex("'a\\nb'", &vars), "a\\nb");
        assert_eq!(ex("it\"'\"s", &vars), "it's");
        assert_eq!(ex("trailing\\", &vars), "trailing");
        assert_eq!(expand("`$v", '`', &env(&vars)).unwrap(), "$v");
        assert_eq!(expand("\\$v", '`', &env(&vars)).unwrap(), "\\x y");
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(ex_err("${}", &[]), "syntax error: bad substitution");
        assert_eq!(ex_err("${:a}", &[]), "syntax error: bad substitution");
        assert_eq!(ex_err("${a", &[]), "syntax error: missing '}'");
        assert_eq!(ex_err("${", &[]), "syntax error: missing '}'");
        assert_eq!(ex_err("${a:-b", &[]), "syntax error: missing '}'");
        assert_eq!(ex_err("${a/b", &[]), "syntax error: missing '/' in ${}");
        assert_eq!(
            ex_err("${a!b}", &[]),
            "unsupported modifier (!) in substitution"
        );
        assert_eq!(
            ex_err("${a:x}", &[]),
            "unsupported modifier (:x) in substitution"
        );
        assert_eq!(
            ex_err("'abc", &[]),
            "unexpected end of statement while looking for matching single-quote"
        );
        assert_eq!(
            ex_err("\"abc", &[]),
            "unexpected end of statement while looking for matching double-quote"
        );
        let deep = format!("{}x{}", "${a:-".repeat(100), "}".repeat(100));
        assert_eq!(
            ex_err(&deep, &[]),
            "variable substitution nested too deeply"
        );
        let fine = format!("{}x{}", "${a:-".repeat(20), "}".repeat(20));
        assert_eq!(ex(&fine, &[]), "x");
    }

    #[test]
    fn nested_replacements_cannot_exhaust_memory() {
        // Found by the fuzzer: an empty pattern matches at the 3 places
        // around "ab", so each level triples the replacement; 40 levels
        // would ask for 3^40 characters.
        let vars = [("x", "ab")];
        let mut word = "r".to_string();
        for _ in 0..40 {
            word = format!("${{x///{word}}}");
        }
        assert_eq!(
            ex_err(&word, &vars),
            "variable substitution result too long (over 1 MiB more than its input)"
        );
        let mut word = "r".to_string();
        for _ in 0..3 {
            word = format!("${{x///{word}}}");
        }
        // 3 × 1 + 2, 3 × 5 + 2, 3 × 17 + 2.
        assert_eq!(ex(&word, &vars).len(), 53);
    }

    #[test]
    fn words() {
        let vars = [("v", "x  y"), ("e", "")];
        let words = |w: &str| expand_words(w, '\\', &env(&vars)).unwrap();
        assert_eq!(words("80 443/tcp"), ["80", "443/tcp"]);
        assert_eq!(words("  a   b  "), ["a", "b"]);
        assert_eq!(words("$v z"), ["x", "y", "z"]);
        assert_eq!(words("\"$v\" z"), ["x  y", "z"]);
        assert_eq!(words("'a b'c"), ["a bc"]);
        assert_eq!(words("a\\ b"), ["a b"]);
        assert_eq!(words("a \"\" b"), ["a", "b"]);
        assert_eq!(words("$e"), Vec::<String>::new());
    }

    #[test]
    fn heredoc_bodies_keep_quotes() {
        let vars = [("FOO", "bar")];
        assert_eq!(
            expand_heredoc("echo \"hello ${FOO}\" '$FOO'\n", &env(&vars)).unwrap(),
            "echo \"hello bar\" 'bar'\n"
        );
    }

    #[test]
    fn skip_unset_keeps_references() {
        let mode = Mode {
            skip_unset: true,
            ..Mode::default()
        };
        let none = |_: &str| None;
        let (word, _) = process("$a ${b} ${c:-d} ${e/f/g}", '\\', mode, &none).unwrap();
        assert_eq!(word, "$a ${b} ${c:-d} ${e/f/g}");
    }
}
