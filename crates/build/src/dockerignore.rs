//! `.dockerignore` with docker's semantics: moby/patternmatcher's
//! `ignorefile.ReadAll` for reading the file, its `PatternMatcher` for
//! matching, and BuildKit's context walker (fsutil) for which excluded
//! directories are still entered.
//!
//! Docker always gives its builder the Dockerfile and `.dockerignore`, even
//! when they are listed here, but then leaves them out of what `COPY` and
//! `ADD` can see (the classic builder deletes them from the received
//! context; BuildKit never sends them). berth reads both files directly, so
//! the rules below apply to them like to any other file.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::BuildError;
use crate::glob::Glob;
use crate::path_clean::clean;

/// The parsed patterns of one ignore file.
#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    rules: Vec<Rule>,
    has_exceptions: bool,
    /// fsutil's `onlyPrefixExcludeExceptions`: no exception has a wildcard
    /// (once a trailing `/**` or `/*` is set aside), so an excluded
    /// directory needs entering only when an exception lies under it.
    literal_exceptions: bool,
}

#[derive(Debug, Clone)]
struct Rule {
    /// The cleaned pattern without its `!`.
    text: String,
    glob: Glob,
    exception: bool,
}

/// Which rules matched a directory, so its entries need not re-match its
/// path (patternmatcher's `MatchInfo`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ParentMatches(Vec<bool>);

/// Characters that make an exception a wildcard for fsutil.
const WILDCARD_CHARS: &[char] = &['*', '[', ']', '?', '^', '\\'];

impl IgnoreRules {
    /// Parses the text of an ignore file; `file` names it in errors.
    ///
    /// Lines starting with `#` in the first column are comments; other lines
    /// are trimmed, blank ones skipped; `!` marks an exception; the rest is
    /// cleaned like a path, with a leading `/` dropped.
    pub fn parse(file: &str, text: &str) -> Result<IgnoreRules, BuildError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rules = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let bad = |message: String| BuildError::IgnoreFile {
                file: file.to_string(),
                line: index + 1,
                message,
            };
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            if pattern.is_empty() {
                return Err(bad("illegal exclusion pattern: \"!\"".to_string()));
            }
            let mut pattern = clean(pattern);
            if pattern.len() > 1 && pattern.starts_with('/') {
                pattern.remove(0);
            }
            let glob = Glob::ignore_pattern(&pattern)
                .map_err(|_| bad(format!("syntax error in pattern: {pattern}")))?;
            rules.push(Rule {
                text: pattern,
                glob,
                exception,
            });
        }
        Ok(IgnoreRules::from_rules(rules))
    }

    /// Reads the ignore file docker would use for a build: the Dockerfile's
    /// own `<Dockerfile>.dockerignore` when there is one (BuildKit's rule),
    /// else `.dockerignore` at the root of the context. Neither existing
    /// means no rules.
    pub fn load(context_dir: &Path, dockerfile: Option<&Path>) -> Result<IgnoreRules, BuildError> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(dockerfile) = dockerfile {
            let mut name = dockerfile.as_os_str().to_os_string();
            name.push(".dockerignore");
            candidates.push(PathBuf::from(name));
        }
        candidates.push(context_dir.join(".dockerignore"));
        for candidate in candidates {
            match fs::read(&candidate) {
                Ok(bytes) => {
                    let name = candidate
                        .file_name()
                        .map(|name| name.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    return IgnoreRules::parse(&name, &String::from_utf8_lossy(&bytes));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(BuildError::io("read", candidate, e)),
            }
        }
        Ok(IgnoreRules::default())
    }

    fn from_rules(rules: Vec<Rule>) -> IgnoreRules {
        let has_exceptions = rules.iter().any(|rule| rule.exception);
        let literal_exceptions = rules
            .iter()
            .filter(|rule| rule.exception)
            .all(|rule| !without_trailing_glob(&rule.text).contains(WILDCARD_CHARS));
        IgnoreRules {
            rules,
            has_exceptions,
            literal_exceptions,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether `path` (relative to the context root, `/`-separated) is left
    /// out of the context. A path is out when the last rule matching it or
    /// one of its parent directories is not an exception.
    pub fn excludes(&self, path: &str) -> bool {
        let path = clean(path);
        let path = path.trim_start_matches('/');
        if path.is_empty() || path == "." {
            return false;
        }
        let mut parent = None;
        let mut excluded = false;
        let mut end = 0;
        for component in path.split('/') {
            end += component.len();
            let (now, matches) = self.check(&path[..end], parent.as_ref());
            excluded = now;
            parent = Some(matches);
            end += 1;
        }
        excluded
    }

    /// Matches one path given its parent directory's results (`None` at the
    /// top level), as patternmatcher's `MatchesUsingParentResults`: a rule
    /// that matched the parent matches the child, and a rule is only tried
    /// when it could change the answer so far.
    pub(crate) fn check(
        &self,
        path: &str,
        parent: Option<&ParentMatches>,
    ) -> (bool, ParentMatches) {
        let mut excluded = false;
        let mut matches = vec![false; self.rules.len()];
        for (i, rule) in self.rules.iter().enumerate() {
            let mut matched = parent.is_some_and(|parent| parent.0[i]);
            if !matched {
                if rule.exception != excluded {
                    continue;
                }
                matched = rule.glob.matches(path);
            }
            matches[i] = matched;
            if matched {
                excluded = !rule.exception;
            }
        }
        (excluded, ParentMatches(matches))
    }

    /// Whether an excluded directory must still be walked because an
    /// exception could bring back something inside it. With wildcard
    /// exceptions fsutil cannot tell, so it always walks.
    pub(crate) fn enter_excluded_dir(&self, dir: &str) -> bool {
        if !self.has_exceptions {
            return false;
        }
        if !self.literal_exceptions {
            return true;
        }
        let dir_slash = format!("{dir}/");
        self.rules
            .iter()
            .filter(|rule| rule.exception)
            .any(|rule| format!("{}/", without_trailing_glob(&rule.text)).starts_with(&dir_slash))
    }
}

/// fsutil's `patternWithoutTrailingGlob`.
fn without_trailing_glob(pattern: &str) -> &str {
    let pattern = pattern.strip_suffix("/**").unwrap_or(pattern);
    pattern.strip_suffix("/*").unwrap_or(pattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> IgnoreRules {
        IgnoreRules::parse(".dockerignore", text).unwrap()
    }

    fn excluded(text: &str, path: &str) -> bool {
        rules(text).excludes(path)
    }

    #[test]
    fn reads_lines_like_ignorefile() {
        let parsed = rules(
            "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n",
        );
        let texts: Vec<(bool, &str)> = parsed
            .rules
            .iter()
            .map(|rule| (rule.exception, rule.text.as_str()))
            .collect();
        assert_eq!(
            texts,
            [
                (false, "test1"),
                (false, "test2"),
                (false, "a/file/here"),
                (false, "lastfile"),
                (true, "inverted/abs/path"),
            ]
        );
    }

    #[test]
    fn trims_cleans_and_strips() {
        let parsed = rules("\u{feff}  ./a/b/  \r\n\tdir//sub/../x\t\n/\n");
        let texts: Vec<&str> = parsed.rules.iter().map(|rule| rule.text.as_str()).collect();
        assert_eq!(texts, ["a/b", "dir/x", "/"]);
        // `#` is a comment only in the first column.
        assert!(excluded(" #notcomment", "#notcomment"));
        assert!(!excluded("#comment", "comment"));
    }

    #[test]
    fn refuses_bad_lines_with_their_line_number() {
        let err = IgnoreRules::parse(".dockerignore", "ok\n!\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            ".dockerignore:2: illegal exclusion pattern: \"!\""
        );
        let err = IgnoreRules::parse(".dockerignore", "a\n\nfoo[\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            ".dockerignore:3: syntax error in pattern: foo["
        );
        assert!(IgnoreRules::parse(".dockerignore", "! ").is_err());
    }

    /// The examples of docker's `.dockerignore` documentation.
    #[test]
    fn documentation_examples() {
        let example = "# comment\n*/temp*\n*/*/temp*\ntemp?\n";
        assert!(excluded(example, "somedir/temporary.txt"));
        assert!(excluded(example, "somedir/temp"));
        assert!(excluded(example, "somedir/temp/inside"));
        assert!(excluded(example, "somedir/subdir/temporary.txt"));
        assert!(excluded(example, "tempa"));
        assert!(excluded(example, "tempb"));
        assert!(!excluded(example, "temp"));
        assert!(!excluded(example, "tempab"));
        assert!(!excluded(example, "temporary.txt"));
        assert!(!excluded(example, "a/b/c/temp.txt"));
        assert!(!excluded(example, "comment"));

        // `/foo/bar` and `foo/bar` both exclude bar in foo, nothing else.
        for pattern in ["/foo/bar", "foo/bar"] {
            assert!(excluded(pattern, "foo/bar"));
            assert!(excluded(pattern, "foo/bar/inner"));
            assert!(!excluded(pattern, "bar"));
            assert!(!excluded(pattern, "x/foo/bar"));
            assert!(!excluded(pattern, "foo"));
        }

        let go_files = "**/*.go";
        assert!(excluded(go_files, "main.go"));
        assert!(excluded(go_files, "a/b/c/lib.go"));
        assert!(!excluded(go_files, "a/b/go.mod"));

        let readme = "*.md\n!README.md\n";
        assert!(excluded(readme, "CHANGELOG.md"));
        assert!(!excluded(readme, "README.md"));

        let secret_excluded = "*.md\n!README*.md\nREADME-secret.md\n";
        assert!(excluded(secret_excluded, "CHANGELOG.md"));
        assert!(!excluded(secret_excluded, "README.md"));
        assert!(!excluded(secret_excluded, "README-public.md"));
        assert!(excluded(secret_excluded, "README-secret.md"));

        let secret_included = "*.md\nREADME-secret.md\n!README*.md\n";
        assert!(!excluded(secret_included, "README-secret.md"));
        assert!(!excluded(secret_included, "README.md"));
        assert!(excluded(secret_included, "other.md"));

        // Everything but what is listed.
        let allow_list = "*\n!src\n!Cargo.toml\n";
        assert!(excluded(allow_list, "target"));
        assert!(excluded(allow_list, "target/debug/x"));
        assert!(!excluded(allow_list, "src/main.rs"));
        assert!(!excluded(allow_list, "Cargo.toml"));
    }

    #[test]
    fn a_directory_pattern_excludes_its_contents() {
        assert!(excluded("node_modules", "node_modules/a/b/index.js"));
        assert!(excluded("node_modules/", "node_modules/x"));
        assert!(excluded("docs/*", "docs/a/b"));
        assert!(!excluded("docs/*", "docs"));
        // Multi-pattern cases of patternmatcher's tests.
        assert!(!excluded("docs\n!docs/README.md", "docs/README.md"));
        assert!(!excluded("docs/\n!docs/README.md", "docs/README.md"));
        assert!(!excluded("docs/*\n!docs/README.md", "docs/README.md"));
        assert!(!excluded("**\n!util/docker/web", "util/docker/web/foo"));
        assert!(excluded(
            "**\n!util/docker/web\nutil/docker/web/foo",
            "util/docker/web/foo"
        ));
        assert!(!excluded(
            "**\n!dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"
        ));
        assert!(excluded("*.go\n!fileutils.go\n*.go", "fileutils.go"));
        assert!(excluded("!fileutils.go\n*.go", "fileutils.go"));
        assert!(!excluded("*.go\n!fileutils.go", "fileutils.go"));
    }

    #[test]
    fn the_context_root_is_never_excluded() {
        assert!(!excluded("*", "."));
        assert!(!excluded("**", ""));
        assert!(excluded("*", "anything"));
    }

    #[test]
    fn escapes_classes_and_double_stars() {
        assert!(excluded("a\\*b", "a*b"));
        assert!(!excluded("a\\*b", "axb"));
        assert!(excluded("file[0-9].txt", "file7.txt"));
        assert!(!excluded("file[0-9].txt", "filex.txt"));
        assert!(excluded("file[^0-9].txt", "filex.txt"));
        assert!(excluded("**/build/**", "a/b/build/out.o"));
        assert!(excluded("**/build/**", "build/out.o"));
        assert!(excluded("**/build", "x/build"));
        assert!(excluded("**/build", "x/build/inner"));
        assert!(excluded("a/**/z", "a/z"));
        assert!(excluded("a/**/z", "a/b/c/z"));
        assert!(!excluded("a/**/z", "b/a/z"));
    }

    #[test]
    fn which_excluded_directories_are_entered() {
        // No exceptions: never.
        assert!(!rules("a").enter_excluded_dir("a"));
        // A literal exception under the directory: yes; elsewhere: no.
        let literal = rules("a\n!a/b/keep\n!other");
        assert!(literal.enter_excluded_dir("a"));
        assert!(literal.enter_excluded_dir("a/b"));
        assert!(!literal.enter_excluded_dir("a/c"));
        assert!(!literal.enter_excluded_dir("x"));
        // A trailing `/**` or `/*` does not make an exception a wildcard.
        let trailing = rules("*\n!src/**");
        assert!(trailing.enter_excluded_dir("src"));
        assert!(!trailing.enter_excluded_dir("target"));
        // A wildcard exception could match anywhere.
        let wildcard = rules("*\n!**/*.py");
        assert!(wildcard.enter_excluded_dir("target"));
    }

    #[test]
    fn loads_the_dockerfile_specific_file_first() {
        let dir = tempfile::tempdir().unwrap();
        assert!(IgnoreRules::load(dir.path(), None).unwrap().is_empty());
        fs::write(dir.path().join(".dockerignore"), "a\n").unwrap();
        let dockerfile = dir.path().join("sub/app.Dockerfile");
        fs::create_dir(dir.path().join("sub")).unwrap();
        let general = IgnoreRules::load(dir.path(), Some(&dockerfile)).unwrap();
        assert!(general.excludes("a"));
        fs::write(dir.path().join("sub/app.Dockerfile.dockerignore"), "b\n").unwrap();
        let specific = IgnoreRules::load(dir.path(), Some(&dockerfile)).unwrap();
        assert!(specific.excludes("b"));
        assert!(!specific.excludes("a"));
    }
}
