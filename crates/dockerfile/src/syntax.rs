//! Splitting one logical instruction line into keyword, flags and argument
//! words, mirroring BuildKit's line parsers so odd inputs split the same way.

/// The whitespace BuildKit's line regexes split on (`[\t\v\f\r ]`); notably
/// not Unicode spaces, which stay inside words.
pub(crate) fn is_split_space(ch: char) -> bool {
    matches!(ch, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Splits `line` into the keyword (as written), the leading `--flags`, and
/// the trimmed argument text.
pub(crate) fn split_command(line: &str) -> (String, Vec<String>, String) {
    let line = line.trim();
    match line.find(is_split_space) {
        None => (line.to_string(), Vec::new(), String::new()),
        Some(at) => {
            let rest = line[at..].trim_start_matches(is_split_space);
            let (args, flags) = extract_flags(rest);
            (line[..at].to_string(), flags, args.trim().to_string())
        }
    }
}

/// Peels `--name[=value]` words off the front of `line`. Quotes are removed
/// and backslashes escape the next character (always the backslash, whatever
/// the escape directive says, as BuildKit does). A bare `--` ends the flags.
fn extract_flags(line: &str) -> (&str, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut flags = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut phase = Phase::Spaces;
    let mut i = 0;
    while i < chars.len() {
        let (at, ch) = chars[i];
        if phase == Phase::Spaces {
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            if ch != '-' || chars.get(i + 1).map(|&(_, c)| c) != Some('-') {
                return (&line[at..], flags);
            }
            phase = Phase::Word;
        }
        match phase {
            Phase::Word if ch.is_whitespace() => {
                if word == "--" {
                    return (&line[at..], flags);
                }
                if blank_ok || !word.is_empty() {
                    flags.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                phase = Phase::Spaces;
            }
            Phase::Word if ch == '\'' || ch == '"' => {
                blank_ok = true;
                phase = Phase::Quote(ch);
            }
            Phase::Quote(quote) if ch == quote => phase = Phase::Word,
            _ => {
                if ch == '\\' {
                    match chars.get(i + 1) {
                        Some(&(_, next)) => {
                            i += 1;
                            word.push(next);
                        }
                        None => phase = Phase::Word,
                    }
                } else {
                    word.push(ch);
                }
            }
        }
        i += 1;
    }
    if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
        flags.push(word);
    }
    ("", flags)
}

/// Splits on whitespace while keeping quotes and escapes in the words, so the
/// later expansion step still sees them (`ENV`, `LABEL`, `ARG`).
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut blank_ok = false;
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        let last = i + 1 == chars.len();
        match quote {
            None if !in_word && ch.is_whitespace() => {}
            None if ch.is_whitespace() => {
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                in_word = false;
                blank_ok = false;
            }
            None => {
                in_word = true;
                if ch == '\'' || ch == '"' {
                    quote = Some(ch);
                    blank_ok = true;
                }
                if ch == escape {
                    if last {
                        break;
                    }
                    word.push(ch);
                    i += 1;
                    word.push(chars[i]);
                } else {
                    word.push(ch);
                }
            }
            Some(q) => {
                if ch == q {
                    quote = None;
                }
                if ch == escape && q != '\'' {
                    if last {
                        break;
                    }
                    word.push(ch);
                    i += 1;
                    word.push(chars[i]);
                } else {
                    word.push(ch);
                }
            }
        }
        i += 1;
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// Splits on runs of [`is_split_space`] without any quote handling; that is
/// how `FROM`, `EXPOSE` and the non-JSON `ADD`/`COPY`/`VOLUME` split.
pub(crate) fn split_whitespace(rest: &str) -> Vec<String> {
    rest.split(is_split_space)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// How the argument text of an instruction reads as a JSON array.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Json {
    /// A valid array of strings: the exec form.
    Array(Vec<String>),
    /// A valid array with a non-string element: an error, not shell form.
    NotStrings,
    /// Anything else; the caller falls back to the shell form.
    Shell,
}

/// Reads `rest` as a JSON string array the way BuildKit does: it must start
/// with `[` and be entirely valid JSON, otherwise it is shell form.
pub(crate) fn parse_json(rest: &str) -> Json {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Json::Shell;
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(rest) {
        Err(_) => Json::Shell,
        Ok(items) => items
            .into_iter()
            .map(|item| match item {
                serde_json::Value::String(s) => Some(s),
                _ => None,
            })
            .collect::<Option<Vec<String>>>()
            .map_or(Json::NotStrings, Json::Array),
    }
}

/// The error BuildKit gives for `["a", 1]`.
pub(crate) const NOT_STRINGS: &str =
    "when using json array syntax, arrays must be comprised of strings only";

/// JSON array, or else whitespace-split words (`ADD`, `COPY`, `VOLUME`).
pub(crate) fn json_or_words(rest: &str) -> Result<Vec<String>, String> {
    match parse_json(rest) {
        Json::Array(items) => Ok(items),
        Json::NotStrings => Err(NOT_STRINGS.to_string()),
        Json::Shell => Ok(split_whitespace(rest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> (String, Vec<String>, String) {
        split_command(line)
    }

    #[test]
    fn command_flags_and_args() {
        assert_eq!(
            split("  RUN --mount=type=cache,target=/x --network=none  echo hi  "),
            (
                "RUN".to_string(),
                vec![
                    "--mount=type=cache,target=/x".to_string(),
                    "--network=none".to_string()
                ],
                "echo hi".to_string()
            )
        );
        assert_eq!(split("COPY"), ("COPY".to_string(), vec![], String::new()));
        assert_eq!(
            split("COPY --link"),
            (
                "COPY".to_string(),
                vec!["--link".to_string()],
                String::new()
            )
        );
        assert_eq!(
            split("RUN -- --not-a-flag"),
            ("RUN".to_string(), vec![], "--not-a-flag".to_string())
        );
        assert_eq!(split("RUN -x").2, "-x");
    }

    #[test]
    fn flags_drop_quotes_and_escapes() {
        let (_, flags, args) = split(r#"COPY --chown="a b" --from=x\ y '--chmod=7' src dst"#);
        assert_eq!(flags, ["--chown=a b", "--from=x y"]);
        assert_eq!(args, "'--chmod=7' src dst");
        let (_, flags, _) = split(r#"RUN --mount=type=bind,target="/a b" ls"#);
        assert_eq!(flags, ["--mount=type=bind,target=/a b"]);
    }

    #[test]
    fn words_keep_quotes() {
        assert_eq!(
            parse_words(r#"a=1 b="x y" c='p q' d=e\ f"#, '\\'),
            ["a=1", "b=\"x y\"", "c='p q'", "d=e\\ f"]
        );
        assert_eq!(parse_words("  x  ", '\\'), ["x"]);
        assert_eq!(parse_words("a=\"\"", '\\'), ["a=\"\""]);
        assert_eq!(parse_words("a=`\"b", '`'), ["a=`\"b"]);
        assert_eq!(parse_words("a\\", '\\'), ["a"]);
        assert!(parse_words("", '\\').is_empty());
    }

    #[test]
    fn json_detection() {
        assert_eq!(
            parse_json(r#"["a", "b c"]"#),
            Json::Array(vec!["a".into(), "b c".into()])
        );
        assert_eq!(parse_json("  []"), Json::Array(vec![]));
        assert_eq!(parse_json(r#"["a", 1]"#), Json::NotStrings);
        assert_eq!(parse_json(r#"["a"] x"#), Json::Shell);
        assert_eq!(parse_json(r#"['a']"#), Json::Shell);
        assert_eq!(parse_json(r#"["c:\windows"]"#), Json::Shell);
        assert_eq!(parse_json("echo [1]"), Json::Shell);
    }
}
