//! Finding heredoc markers (`<<EOF`, `<<-"EOF"`, `3<<EOF`) the way BuildKit
//! does: by lexing the instruction line into words and matching each word
//! against `^(\d*)<<(-?)([^<]*)$`.

use crate::shell::{process, Mode};

/// A heredoc marker found on an instruction line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marker {
    pub name: String,
    pub expand: bool,
    pub chomp: bool,
    pub fd: u32,
}

fn no_variables(_: &str) -> Option<String> {
    None
}

/// Reads one word as a heredoc marker; `None` when it is not one.
pub(crate) fn parse_marker(word: &str) -> Option<Marker> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let rest = word[digits..].strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let plain = Mode {
        skip_unset: true,
        ..Mode::default()
    };
    let raw = Mode {
        raw_quotes: true,
        ..plain
    };
    let (_, words) = process(rest, '\\', plain, &no_variables).ok()?;
    let (_, raw_words) = process(rest, '\\', raw, &no_variables).ok()?;
    let ([name], [raw_word]) = (words.as_slice(), raw_words.as_slice()) else {
        return None;
    };
    // Any quote removed by lexing means part of the delimiter was quoted,
    // which turns expansion of the body off.
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    Some(Marker {
        name: name.clone(),
        expand: quotes(name) == quotes(raw_word),
        chomp,
        fd: word[..digits].parse().unwrap_or(0),
    })
}

/// All heredoc markers on an instruction line, in order. A line the lexer
/// rejects (an unbalanced quote) has none, as in BuildKit.
pub(crate) fn find_markers(line: &str) -> Vec<Marker> {
    let mode = Mode {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: true,
        ..Mode::default()
    };
    process(line, '\\', mode, &no_variables)
        .map(|(_, words)| words.iter().filter_map(|w| parse_marker(w)).collect())
        .unwrap_or_default()
}

/// `<<-` removes leading tabs from every body line.
pub(crate) fn strip_tabs(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|line| line.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(word: &str) -> Option<(String, bool, bool, u32)> {
        parse_marker(word).map(|m| (m.name, m.expand, m.chomp, m.fd))
    }

    #[test]
    fn markers() {
        assert_eq!(marker("<<EOF"), Some(("EOF".into(), true, false, 0)));
        assert_eq!(marker("<<-EOF"), Some(("EOF".into(), true, true, 0)));
        assert_eq!(marker("<<'EOF'"), Some(("EOF".into(), false, false, 0)));
        assert_eq!(marker("<<\"EOF\""), Some(("EOF".into(), false, false, 0)));
        assert_eq!(marker("<<-\"EOF\""), Some(("EOF".into(), false, true, 0)));
        assert_eq!(marker("<<E\"O\"F"), Some(("EOF".into(), false, false, 0)));
        assert_eq!(marker("3<<EOF"), Some(("EOF".into(), true, false, 3)));
        for not in [
            "", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<'EOF", "<<EOF\"", "x<<EOF",
        ] {
            assert_eq!(marker(not), None, "{not}");
        }
    }

    #[test]
    fn markers_on_a_line() {
        let names = |line: &str| -> Vec<String> {
            find_markers(line).into_iter().map(|m| m.name).collect()
        };
        assert_eq!(names("RUN <<EOF"), ["EOF"]);
        assert_eq!(names("RUN 4<<EOF"), ["EOF"]);
        assert_eq!(names("RUN <<EOF <<EOF2"), ["EOF", "EOF2"]);
        assert_eq!(
            names("RUN <<FILE1 cat > file1 && <<FILE2 cat > file2"),
            ["FILE1", "FILE2"]
        );
        assert_eq!(names("RUN --mount=type=cache,target=/x <<MOUNT"), ["MOUNT"]);
        assert!(names("RUN '<<EOF'").is_empty());
        assert!(names("RUN \"<<EOF\"").is_empty());
        assert!(names("RUN echo 'unbalanced <<EOF").is_empty());
    }

    #[test]
    fn tabs() {
        assert_eq!(
            strip_tabs("\thello\n\t\tworld\n  x\n"),
            "hello\nworld\n  x\n"
        );
    }
}
