//! The two glob dialects docker uses. `COPY` sources follow Go's
//! `filepath.Match`; `.dockerignore` follows moby's patternmatcher, which
//! is `filepath.Match` plus `**` and a few literal shortcuts whose results
//! differ slightly from the glob reading (`**foo` matches `barfoo`), kept
//! here because docker behaves that way.

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `*`: any run of characters other than `/`.
    AnyRun,
    /// `?`: one character other than `/`.
    AnyChar,
    Class(Class),
    /// `**` (with its `/`) inside a pattern: zero or more whole directories.
    AnyDirs,
    /// `**` ending a pattern: anything at all.
    AnyTail,
}

/// `[...]`: ranges, possibly negated with `^` (`!` is an ordinary member,
/// as in Go).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl Class {
    fn matches(&self, ch: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= ch && ch <= hi) != self.negated
    }
}

/// A malformed pattern; Go's `filepath.ErrBadPattern` says no more either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadPattern;

/// patternmatcher compares patterns without wildcards as plain strings.
#[derive(Debug, Clone)]
enum Shortcut {
    None,
    Exact(String),
    /// `dir/**`: the text before the `**`.
    Prefix(String),
    /// `**/name` or `**name`: the text after the `**`.
    Suffix(String),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    tokens: Vec<Token>,
    shortcut: Shortcut,
}

/// Characters that make patternmatcher compile a pattern instead of
/// comparing it as text.
const SPECIAL: &[char] = &['*', '?', '[', ']', '\\'];

impl Glob {
    /// Go's `filepath.Match` syntax (`**` is just two stars).
    pub(crate) fn file_pattern(pattern: &str) -> Result<Glob, BadPattern> {
        Ok(Glob {
            tokens: parse(pattern, false, false)?,
            shortcut: Shortcut::None,
        })
    }

    /// A cleaned `.dockerignore` pattern. It must first be valid for
    /// `filepath.Match` (patternmatcher checks that), and a backwards class
    /// range is refused too (patternmatcher's regexp would not compile).
    pub(crate) fn ignore_pattern(pattern: &str) -> Result<Glob, BadPattern> {
        parse(pattern, false, true)?;
        let plain = |s: &str| !s.contains(SPECIAL);
        let shortcut = if plain(pattern) {
            Shortcut::Exact(pattern.to_string())
        } else if let Some(rest) = pattern.strip_prefix("**").filter(|rest| plain(rest)) {
            Shortcut::Suffix(rest.to_string())
        } else if let Some(head) = pattern.strip_suffix("**").filter(|head| plain(head)) {
            Shortcut::Prefix(head.to_string())
        } else {
            Shortcut::None
        };
        Ok(Glob {
            tokens: parse(pattern, true, true)?,
            shortcut,
        })
    }

    /// Whether the whole of `text` matches.
    pub(crate) fn matches(&self, text: &str) -> bool {
        match &self.shortcut {
            Shortcut::Exact(exact) => text == exact,
            Shortcut::Prefix(prefix) => text.starts_with(prefix.as_str()),
            Shortcut::Suffix(suffix) => {
                text.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|bare| text == bare)
            }
            Shortcut::None => {
                let chars: Vec<char> = text.chars().collect();
                match_tokens(&self.tokens, &chars)
            }
        }
    }
}

/// BuildKit's test for a `COPY` source being a wildcard: `*`, `?` or `[`
/// not preceded by the escape `\`.
pub(crate) fn has_wildcards(source: &str) -> bool {
    let mut chars = source.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

fn parse(
    pattern: &str,
    double_star: bool,
    reject_reversed: bool,
) -> Result<Vec<Token>, BadPattern> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        let token = match ch {
            '*' if double_star && chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    Token::AnyTail
                } else {
                    Token::AnyDirs
                }
            }
            '*' => Token::AnyRun,
            '?' => Token::AnyChar,
            '\\' => {
                let escaped = *chars.get(i).ok_or(BadPattern)?;
                i += 1;
                Token::Char(escaped)
            }
            '[' => {
                let (class, used) = parse_class(&chars[i..], reject_reversed)?;
                i += used;
                Token::Class(class)
            }
            other => Token::Char(other),
        };
        tokens.push(token);
    }
    Ok(tokens)
}

/// Parses what follows `[`, returning the class and how many characters it
/// took (the closing `]` included). The rules are Go's: at least one range,
/// `-` and `]` must be escaped to start a range, and the class must close.
fn parse_class(chars: &[char], reject_reversed: bool) -> Result<(Class, usize), BadPattern> {
    let negated = chars.first() == Some(&'^');
    let mut i = usize::from(negated);
    let mut ranges = Vec::new();
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Ok((Class { negated, ranges }, i + 1));
        }
        let (lo, used) = class_char(&chars[i..])?;
        i += used;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            let (end, used) = class_char(&chars[i + 1..])?;
            hi = end;
            i += 1 + used;
        }
        if reject_reversed && hi < lo {
            return Err(BadPattern);
        }
        ranges.push((lo, hi));
    }
}

/// One possibly escaped class member; like Go, the class must go on after it.
fn class_char(chars: &[char]) -> Result<(char, usize), BadPattern> {
    let (ch, used) = match chars.first() {
        None | Some('-') | Some(']') => return Err(BadPattern),
        Some('\\') => (*chars.get(1).ok_or(BadPattern)?, 2),
        Some(&ch) => (ch, 1),
    };
    if used >= chars.len() {
        return Err(BadPattern);
    }
    Ok((ch, used))
}

/// Runs the pattern as an automaton over the text: `positions[p]` says
/// whether the tokens so far can end at character `p`. Linear in the
/// pattern times the text, whatever the pattern.
fn match_tokens(tokens: &[Token], text: &[char]) -> bool {
    let len = text.len();
    let mut positions = vec![false; len + 1];
    positions[0] = true;
    for token in tokens {
        let mut next = vec![false; len + 1];
        match token {
            Token::Char(want) => step(&positions, &mut next, |ch| ch == *want, text),
            Token::AnyChar => step(&positions, &mut next, |ch| ch != '/', text),
            Token::Class(class) => step(&positions, &mut next, |ch| class.matches(ch), text),
            Token::AnyRun => {
                let mut running = false;
                for p in 0..=len {
                    running |= positions[p];
                    next[p] = running;
                    if p < len && text[p] == '/' {
                        running = false;
                    }
                }
            }
            Token::AnyDirs => {
                let mut started = false;
                for p in 0..=len {
                    if positions[p] {
                        started = true;
                        next[p] = true;
                    }
                    if started && p < len && text[p] == '/' {
                        next[p + 1] = true;
                    }
                }
            }
            Token::AnyTail => {
                let mut started = false;
                for p in 0..=len {
                    started |= positions[p];
                    next[p] = started;
                }
            }
        }
        if !next.contains(&true) {
            return false;
        }
        positions = next;
    }
    positions[len]
}

/// Advances every live position over one character accepted by `accept`.
fn step(positions: &[bool], next: &mut [bool], accept: impl Fn(char) -> bool, text: &[char]) {
    for (p, &ch) in text.iter().enumerate() {
        if positions[p] && accept(ch) {
            next[p + 1] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's own `filepath.Match` table (as repeated in moby/patternmatcher).
    #[test]
    fn file_patterns_match_like_go() {
        let cases: &[(&str, &str, Result<bool, BadPattern>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*", "abc", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Ok(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^b-d]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)),
            ("a[^a]b", "a☺b", Ok(true)),
            ("a???b", "a☺b", Ok(false)),
            ("a[^a][^a][^a]b", "a☺b", Ok(false)),
            ("[a-ζ]*", "α", Ok(true)),
            ("*[a-ζ]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[x\\-]", "x", Ok(true)),
            ("[x\\-]", "-", Ok(true)),
            ("[x\\-]", "z", Ok(false)),
            ("[\\-x]", "x", Ok(true)),
            ("[\\-x]", "-", Ok(true)),
            ("[\\-x]", "a", Ok(false)),
            ("[]a]", "]", Err(BadPattern)),
            ("[-]", "-", Err(BadPattern)),
            ("[x-]", "x", Err(BadPattern)),
            ("[-x]", "x", Err(BadPattern)),
            ("\\", "a", Err(BadPattern)),
            ("[a-b-c]", "a", Err(BadPattern)),
            ("[", "a", Err(BadPattern)),
            ("[^", "a", Err(BadPattern)),
            ("[^bc", "a", Err(BadPattern)),
            ("a[", "a", Err(BadPattern)),
            ("a[", "ab", Err(BadPattern)),
            ("*x", "xxx", Ok(true)),
            ("[!a]", "!", Ok(true)),
        ];
        for (pattern, text, want) in cases {
            let got = Glob::file_pattern(pattern).map(|glob| glob.matches(text));
            assert_eq!(got, *want, "Match({pattern:?}, {text:?})");
        }
    }

    /// moby/patternmatcher's `MatchesExact` table.
    #[test]
    fn ignore_patterns_match_like_patternmatcher() {
        let cases: &[(&str, &str, bool)] = &[
            ("**", "file", true),
            ("**", "file/", true),
            ("**", "/", true),
            ("**", "dir/file", true),
            ("**/**", "dir/file", true),
            ("dir/**", "dir/file", true),
            ("dir/**", "dir/dir2/file", true),
            ("**/dir", "dir", true),
            ("**/dir", "dir/file", false),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**/dir2/*", "dir/dir2/file/", false),
            ("**/dir2/**", "dir/dir2/dir3/file", true),
            ("**file", "file", true),
            ("**file", "dir/file", true),
            ("**/file", "dir/file", true),
            ("**file", "dir/dir/file", true),
            ("**/file", "dir/dir/file", true),
            ("**/file*", "dir/dir/file", true),
            ("**/file*", "dir/dir/file.txt", true),
            ("**/file*txt", "dir/dir/file.txt", true),
            ("**/file*.txt", "dir/dir/file.txt", true),
            ("**/file*.txt*", "dir/dir/file.txt", true),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            ("**/*.txt", "file.txt", true),
            ("**/**/*.txt", "file.txt", true),
            ("a**/*.txt", "a/file.txt", true),
            ("a**/*.txt", "a/dir/file.txt", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("a/*.txt", "a/dir/file.txt", false),
            ("a/*.txt", "a/file.txt", true),
            ("a/*.txt**", "a/file.txt", true),
            ("a[b-d]e", "ae", false),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("abc.def", "abcZdef", false),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("**/foo/bar", "foo/bar", true),
            ("**/foo/bar", "dir/foo/bar", true),
            ("**/foo/bar", "dir/dir2/foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def", true),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            ("a(b)c/def", "a(b)c/def", true),
            ("a(b)c/def", "a(b)c/xyz", false),
            ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
            (
                "dist/*.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            ("a\\\\", "a\\", true),
            ("a\\*b", "a*b", true),
            // The suffix shortcut: docker's `**foo` is "ends with foo".
            ("**foo", "barfoo", true),
        ];
        for (pattern, text, want) in cases {
            let glob = Glob::ignore_pattern(pattern).unwrap();
            assert_eq!(
                glob.matches(text),
                *want,
                "pattern {pattern:?} text {text:?}"
            );
        }
    }

    #[test]
    fn ignore_patterns_refuse_what_docker_refuses() {
        for bad in ["[", "a[", "[^", "[]a]", "[x-]", "\\", "[z-a]"] {
            assert!(Glob::ignore_pattern(bad).is_err(), "{bad:?}");
        }
        assert!(Glob::file_pattern("[z-a]").is_ok());
    }

    #[test]
    fn wildcard_detection_honours_escapes() {
        assert!(has_wildcards("*.txt"));
        assert!(has_wildcards("a?c"));
        assert!(has_wildcards("[ab]"));
        assert!(!has_wildcards("plain/file"));
        assert!(!has_wildcards("a\\*b"));
        assert!(has_wildcards("a\\*b*"));
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let glob = Glob::file_pattern("*a*a*a*a*a*a*a*a*a*a*a*b").unwrap();
        assert!(!glob.matches(&"a".repeat(5000)));
    }
}
