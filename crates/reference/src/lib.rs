#![forbid(unsafe_code)]
//! Image reference parsing and normalization, bit-for-bit compatible with
//! docker's `github.com/distribution/reference` (and the `go-digest`
//! validation it performs), so that names, error messages and
//! `--filter reference=` matching behave exactly like the docker CLI.
//!
//! Everything here is pure string handling: no I/O, no registry lookups.
//! The grammar is implemented by hand instead of with a regex engine; see
//! the `grammar` section below for the productions it mirrors.

use std::fmt;
use std::str::FromStr;

/// Registry that bare names ("busybox", "user/app") resolve to.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Historic Docker Hub host, folded into [`DEFAULT_DOMAIN`] on parse.
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// Namespace of Docker Hub "official" images, hidden in familiar forms.
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// Tag added by [`Reference::parse_with_default_tag`].
pub const DEFAULT_TAG: &str = "latest";
/// Longest accepted repository path (the domain is not counted, as in
/// distribution/reference v0.6).
pub const REPOSITORY_NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Errors use docker's exact wording so CLI output matches byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The string does not follow the reference grammar.
    #[error("invalid reference format")]
    InvalidFormat,
    /// The repository part (everything after the domain, before the tag)
    /// contains upper-case characters.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    NameNotLowercase(String),
    /// The grammar only fails because of upper-case characters somewhere
    /// the normalizer's pre-check does not look (e.g. an invalid domain).
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    /// Only reachable through the low-level [`parse`] with an empty input.
    #[error("repository name must have at least one component")]
    NameEmpty,
    #[error("repository name must not be more than {REPOSITORY_NAME_TOTAL_LENGTH_MAX} characters")]
    NameTooLong,
    /// A bare image ID was given where a name is required; docker refuses
    /// it so that IDs and names can never be confused.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexadecimalName(String),
    #[error("invalid tag format")]
    InvalidTag,
    /// Returned by [`Reference::with_digest`] when the digest does not
    /// follow the reference grammar.
    #[error("invalid digest format")]
    InvalidDigest,
    #[error("invalid checksum digest format")]
    DigestInvalidFormat,
    #[error("unsupported digest algorithm")]
    DigestUnsupported,
    #[error("invalid checksum digest length")]
    DigestInvalidLength,
    /// Go's `path.ErrBadPattern`, surfaced by [`familiar_match`].
    #[error("syntax error in pattern")]
    BadPattern,
}

/// A named image reference: `[domain/]path[:tag][@digest]`.
///
/// Values are only built by the parsers in this crate, so every field is
/// known to be valid; a reference may carry both a tag and a digest, just
/// like docker's (`name:tag@sha256:...`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// docker's `ParseNormalizedNamed`: "busybox" -> "docker.io/library/busybox".
    /// No tag is added; use [`Reference::parse_with_default_tag`] for that.
    pub fn parse_normalized(s: &str) -> Result<Reference, ReferenceError> {
        if grammar::is_identifier(s) {
            return Err(ReferenceError::HexadecimalName(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = match remainder.find(':') {
            Some(i) => &remainder[..i],
            None => remainder.as_str(),
        };
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::NameNotLowercase(remote.to_string()));
        }
        parse(&format!("{domain}/{remainder}"))
    }

    /// `ParseNormalizedNamed` followed by `TagNameOnly`: what `docker pull`,
    /// `docker run` and `docker tag` do with user input.
    pub fn parse_with_default_tag(s: &str) -> Result<Reference, ReferenceError> {
        Ok(Self::parse_normalized(s)?.tag_name_only())
    }

    /// docker's `ParseDockerRef`: like [`Reference::parse_with_default_tag`],
    /// but a reference with both tag and digest keeps only the digest,
    /// because the digest is what actually gets pulled.
    pub fn parse_docker_ref(s: &str) -> Result<Reference, ReferenceError> {
        let mut r = Self::parse_normalized(s)?;
        if r.tag.is_some() && r.digest.is_some() {
            r.tag = None;
            return Ok(r);
        }
        Ok(r.tag_name_only())
    }

    /// `TagNameOnly`: adds ":latest" when neither tag nor digest is present.
    pub fn tag_name_only(mut self) -> Reference {
        if self.is_name_only() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// True when the reference has neither tag nor digest.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// Registry part, e.g. "docker.io" or "localhost:5000". Empty only for
    /// the rare names whose first component looks like, but is not, a valid
    /// domain (docker keeps those domain-less too).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Repository path inside the registry, e.g. "library/busybox".
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Fully qualified repository name, without tag or digest.
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// Digest as "algorithm:hex", e.g. "sha256:<64 hex>".
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// Short name shown by the docker UI: the default domain and the
    /// "library/" namespace (single level only) are dropped.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.path.clone(),
        }
    }

    /// Familiar name plus tag and digest, as printed by `docker images` etc.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    /// docker's `WithTag`: replaces the tag (keeping any digest) after
    /// checking it against the tag grammar.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !grammar::is_tag(tag) {
            return Err(ReferenceError::InvalidTag);
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            ..self.clone()
        })
    }

    /// docker's `WithDigest`: replaces the digest (keeping any tag). As in
    /// docker, only the reference grammar is checked here.
    pub fn with_digest(&self, digest: &str) -> Result<Reference, ReferenceError> {
        if !grammar::is_digest(digest) {
            return Err(ReferenceError::InvalidDigest);
        }
        Ok(Reference {
            digest: Some(digest.to_string()),
            ..self.clone()
        })
    }

    /// docker's `TrimNamed`: the bare repository.
    pub fn without_tag_or_digest(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(digest);
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse_normalized(s)
    }
}

/// docker's low-level `Parse`: validates the grammar without any
/// normalization, so "busybox" stays domain-less ("" / "busybox").
/// Mostly useful for already-canonical strings such as stored repo tags.
pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
    if s.is_empty() {
        return Err(ReferenceError::NameEmpty);
    }
    let Some(parts) = grammar::split_reference(s) else {
        let lower = s.to_lowercase();
        if lower != s && grammar::split_reference(&lower).is_some() {
            return Err(ReferenceError::NameContainsUppercase);
        }
        return Err(ReferenceError::InvalidFormat);
    };
    let (domain, path) = grammar::split_name(parts.name);
    if path.len() > REPOSITORY_NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::NameTooLong);
    }
    if let Some(d) = parts.digest {
        validate_digest(d)?;
    }
    Ok(Reference {
        domain: domain.to_string(),
        path: path.to_string(),
        tag: parts.tag.map(str::to_string),
        digest: parts.digest.map(str::to_string),
    })
}

/// go-digest's `Digest.Validate` with sha256/sha384/sha512 available, as
/// in the docker binaries. Exposed because image IDs and manifest digests
/// given on the command line go through the same check.
pub fn validate_digest(d: &str) -> Result<(), ReferenceError> {
    let Some(i) = d.find(':').filter(|&i| i > 0 && i + 1 < d.len()) else {
        return Err(ReferenceError::DigestInvalidFormat);
    };
    let (algorithm, encoded) = (&d[..i], &d[i + 1..]);
    let hex_len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => {
            return Err(if grammar::is_go_digest(d) {
                ReferenceError::DigestUnsupported
            } else {
                ReferenceError::DigestInvalidFormat
            });
        }
    };
    if encoded.len() != hex_len {
        return Err(ReferenceError::DigestInvalidLength);
    }
    if !grammar::is_lower_hex(encoded) {
        return Err(ReferenceError::DigestInvalidFormat);
    }
    Ok(())
}

/// True when `s` is a full image ID: 64 lowercase hex characters, either
/// bare or prefixed with "sha256:". Short ID prefixes are not full IDs.
pub fn is_full_image_id(s: &str) -> bool {
    grammar::is_identifier(s.strip_prefix("sha256:").unwrap_or(s))
}

/// docker's `FamiliarMatch`, used by `docker images --filter reference=`:
/// the pattern is tried against the familiar string ("busybox:latest"),
/// then against the familiar name ("busybox"). Only an error in the first
/// match is reported, as in docker.
pub fn familiar_match(pattern: &str, reference: &Reference) -> Result<bool, ReferenceError> {
    let first = path_match(pattern, &reference.familiar_string());
    match first {
        Ok(true) => Ok(true),
        Ok(false) => Ok(path_match(pattern, &reference.familiar_name()).unwrap_or(false)),
        // Go still tries the name and returns (matched, err); docker's
        // callers bail out on the error, so the error wins here.
        Err(e) => Err(e),
    }
}

/// Go's `path.Match`: `*` matches any run of non-'/' bytes, `?` one
/// non-'/' character, `[...]`/`[^...]` a character class (ranges allowed,
/// may match '/'), `\` escapes. The pattern must match all of `name`.
/// Malformed patterns give [`ReferenceError::BadPattern`], even when the
/// match fails before reaching the bad part (Go ≥ 1.16 behaviour).
pub fn path_match(pattern: &str, name: &str) -> Result<bool, ReferenceError> {
    glob::matches(pattern.as_bytes(), name.as_bytes())
}

/// docker's `splitDockerDomain`; returns the remainder with the
/// "library/" prefix already applied for single-component hub names.
fn split_docker_domain(s: &str) -> (&str, String) {
    let Some((maybe_domain, maybe_remote)) = s.split_once('/') else {
        // A lone component is always a hub name, even "localhost" or
        // "example.com": they would otherwise read as host:port.
        return (DEFAULT_DOMAIN, format!("{OFFICIAL_REPO_PREFIX}{s}"));
    };
    let (domain, remote) = if maybe_domain == LEGACY_DEFAULT_DOMAIN {
        (DEFAULT_DOMAIN, maybe_remote)
    } else if maybe_domain == "localhost"
        || maybe_domain.contains(['.', ':'])
        // Namespaces are lowercase, so an uppercase first component can
        // only be meant as a registry host.
        || maybe_domain.to_lowercase() != maybe_domain
    {
        (maybe_domain, maybe_remote)
    } else {
        (DEFAULT_DOMAIN, s)
    };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        (domain, format!("{OFFICIAL_REPO_PREFIX}{remote}"))
    } else {
        (domain, remote.to_string())
    }
}

/// Hand-written recognizers for the productions of
/// distribution/reference's regexp.go:
///
/// ```text
/// reference        := name [ ":" tag ] [ "@" digest ]
/// name             := [domain '/'] path-component ['/' path-component]*
/// domain           := host [':' port-number]
/// host             := domain-name | '[' [a-fA-F0-9:]+ ']'
/// domain-name      := domain-component ['.' domain-component]*
/// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
/// port-number      := [0-9]+
/// path-component   := [a-z0-9]+ ( ( [._] | "__" | "-"+ ) [a-z0-9]+ )*
/// tag              := [\w][\w.-]{0,127}
/// digest           := algorithm ":" [0-9a-fA-F]{32,}
/// algorithm        := [A-Za-z][A-Za-z0-9]* ( [-_+.] [A-Za-z][A-Za-z0-9]* )*
/// identifier       := [a-f0-9]{64}
/// ```
mod grammar {
    pub(crate) struct Parts<'a> {
        pub name: &'a str,
        pub tag: Option<&'a str>,
        pub digest: Option<&'a str>,
    }

    /// Splits a whole reference, or `None` when it is not in the language.
    /// The split is unambiguous: '@' only appears before the digest, and a
    /// ':' after the last '/' can only introduce the tag (a port is always
    /// followed by '/').
    pub(crate) fn split_reference(s: &str) -> Option<Parts<'_>> {
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (s, None),
        };
        let last_start = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_start..].find(':') {
            Some(i) => (&rest[..last_start + i], Some(&rest[last_start + i + 1..])),
            None => (rest, None),
        };
        if !is_name(name) || !tag.is_none_or(is_tag) || !digest.is_none_or(is_digest) {
            return None;
        }
        Some(Parts { name, tag, digest })
    }

    /// Domain/path split of a valid name. Like Go's greedy optional group,
    /// the first component is a domain whenever it can be one.
    pub(crate) fn split_name(name: &str) -> (&str, &str) {
        match name.split_once('/') {
            Some((d, p)) if is_domain_and_port(d) && is_remote_name(p) => (d, p),
            _ => ("", name),
        }
    }

    fn is_name(s: &str) -> bool {
        is_remote_name(s)
            || s.split_once('/')
                .is_some_and(|(d, p)| is_domain_and_port(d) && is_remote_name(p))
    }

    fn is_remote_name(s: &str) -> bool {
        s.split('/').all(is_path_component)
    }

    fn is_path_component(s: &str) -> bool {
        let b = s.as_bytes();
        let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        let mut i = 0;
        loop {
            // An alphanumeric run...
            let start = i;
            while i < b.len() && alnum(b[i]) {
                i += 1;
            }
            if i == start {
                return false;
            }
            if i == b.len() {
                return true;
            }
            // ...then a separator, which must be followed by another run.
            let sep_start = i;
            while i < b.len() && !alnum(b[i]) {
                i += 1;
            }
            match &b[sep_start..i] {
                b"." | b"_" | b"__" => {}
                sep if sep.iter().all(|&c| c == b'-') => {}
                _ => return false,
            }
        }
    }

    fn is_domain_and_port(s: &str) -> bool {
        let (host, port) = if s.starts_with('[') {
            match s.find(']') {
                Some(i) => (&s[..=i], &s[i + 1..]),
                None => return false,
            }
        } else {
            match s.find(':') {
                Some(i) => (&s[..i], &s[i..]),
                None => (s, ""),
            }
        };
        let port_ok = port.is_empty()
            || port
                .strip_prefix(':')
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
        port_ok && (is_ipv6_literal(host) || is_domain_name(host))
    }

    fn is_ipv6_literal(s: &str) -> bool {
        s.strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .is_some_and(|inner| {
                !inner.is_empty() && inner.bytes().all(|c| c.is_ascii_hexdigit() || c == b':')
            })
    }

    fn is_domain_name(s: &str) -> bool {
        s.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
    }

    pub(crate) fn is_tag(s: &str) -> bool {
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        let b = s.as_bytes();
        !b.is_empty()
            && b.len() <= 128
            && word(b[0])
            && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-')
    }

    pub(crate) fn is_digest(s: &str) -> bool {
        let Some((algorithm, hex)) = s.split_once(':') else {
            return false;
        };
        hex.len() >= 32
            && hex.bytes().all(|c| c.is_ascii_hexdigit())
            && separated(algorithm, b"-_+.", |comp| {
                let b = comp.as_bytes();
                !b.is_empty()
                    && b[0].is_ascii_alphabetic()
                    && b.iter().all(|c| c.is_ascii_alphanumeric())
            })
    }

    /// go-digest's own (looser) `DigestRegexpAnchored`, consulted only to
    /// tell "unsupported algorithm" from "bad format".
    pub(crate) fn is_go_digest(s: &str) -> bool {
        let Some((algorithm, encoded)) = s.split_once(':') else {
            return false;
        };
        !encoded.is_empty()
            && encoded
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'=' | b'_' | b'-'))
            && separated(algorithm, b".+_-", |comp| {
                !comp.is_empty()
                    && comp
                        .bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            })
    }

    /// `comp ( [seps] comp )*`
    fn separated(s: &str, seps: &[u8], comp: impl Fn(&str) -> bool) -> bool {
        s.split(|c: char| c.is_ascii() && seps.contains(&(c as u8)))
            .all(comp)
    }

    pub(crate) fn is_lower_hex(s: &str) -> bool {
        s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    }

    pub(crate) fn is_identifier(s: &str) -> bool {
        s.len() == 64 && is_lower_hex(s)
    }
}

/// A faithful port of Go's `path.Match`, byte-oriented like the original
/// so that odd inputs (multi-byte runes, stray escapes) behave the same.
mod glob {
    use super::ReferenceError;

    type Rune = u32;
    const RUNE_ERROR: Rune = 0xFFFD;

    pub(crate) fn matches(mut pattern: &[u8], mut name: &[u8]) -> Result<bool, ReferenceError> {
        'pattern: while !pattern.is_empty() {
            let (star, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            if star && chunk.is_empty() {
                // Trailing '*' swallows the rest unless it spans a '/'.
                return Ok(!name.contains(&b'/'));
            }
            // Try the chunk at the current position; the last chunk must
            // consume the whole name.
            if let Some(t) = match_chunk(chunk, name)? {
                if t.is_empty() || !pattern.is_empty() {
                    name = t;
                    continue;
                }
            }
            if star {
                // Let the star eat 1, 2, ... bytes, never a '/'.
                let mut i = 0;
                while i < name.len() && name[i] != b'/' {
                    if let Some(t) = match_chunk(chunk, &name[i + 1..])? {
                        if t.is_empty() || !pattern.is_empty() {
                            name = t;
                            continue 'pattern;
                        }
                    }
                    i += 1;
                }
            }
            // No match: still report a syntax error in the unread pattern.
            while !pattern.is_empty() {
                let (_, chunk, rest) = scan_chunk(pattern);
                pattern = rest;
                match_chunk(chunk, b"")?;
            }
            return Ok(false);
        }
        Ok(name.is_empty())
    }

    /// Splits off leading stars and the literal chunk up to the next
    /// unbracketed '*'.
    fn scan_chunk(pattern: &[u8]) -> (bool, &[u8], &[u8]) {
        let mut p = pattern;
        let mut star = false;
        while let [b'*', rest @ ..] = p {
            p = rest;
            star = true;
        }
        let mut in_range = false;
        let mut i = 0;
        while i < p.len() {
            match p[i] {
                // An escape hides the next byte from the scan.
                b'\\' if i + 1 < p.len() => i += 1,
                b'[' => in_range = true,
                b']' => in_range = false,
                b'*' if !in_range => break,
                _ => {}
            }
            i += 1;
        }
        (star, &p[..i], &p[i..])
    }

    /// Matches a star-free chunk at the start of `s`, returning the rest.
    /// Keeps walking the chunk after a mismatch so syntax errors are found.
    fn match_chunk<'a>(
        mut chunk: &[u8],
        mut s: &'a [u8],
    ) -> Result<Option<&'a [u8]>, ReferenceError> {
        let mut failed = false;
        while !chunk.is_empty() {
            if !failed && s.is_empty() {
                failed = true;
            }
            match chunk[0] {
                b'[' => {
                    let mut r: Rune = 0;
                    if !failed {
                        let (rr, n) = decode_rune(s);
                        r = rr;
                        s = &s[n..];
                    }
                    chunk = &chunk[1..];
                    let mut negated = false;
                    if let [b'^', rest @ ..] = chunk {
                        negated = true;
                        chunk = rest;
                    }
                    let mut matched = false;
                    let mut nrange = 0;
                    loop {
                        if nrange > 0 {
                            if let [b']', rest @ ..] = chunk {
                                chunk = rest;
                                break;
                            }
                        }
                        let (lo, rest) = get_esc(chunk)?;
                        chunk = rest;
                        let mut hi = lo;
                        if chunk[0] == b'-' {
                            let (h, rest) = get_esc(&chunk[1..])?;
                            hi = h;
                            chunk = rest;
                        }
                        if lo <= r && r <= hi {
                            matched = true;
                        }
                        nrange += 1;
                    }
                    if matched == negated {
                        failed = true;
                    }
                }
                b'?' => {
                    if !failed {
                        if s[0] == b'/' {
                            failed = true;
                        }
                        let (_, n) = decode_rune(s);
                        s = &s[n..];
                    }
                    chunk = &chunk[1..];
                }
                c => {
                    let c = if c == b'\\' {
                        chunk = &chunk[1..];
                        match chunk.first() {
                            Some(&c) => c,
                            None => return Err(ReferenceError::BadPattern),
                        }
                    } else {
                        c
                    };
                    if !failed {
                        if c != s[0] {
                            failed = true;
                        }
                        s = &s[1..];
                    }
                    chunk = &chunk[1..];
                }
            }
        }
        Ok(if failed { None } else { Some(s) })
    }

    /// One (possibly escaped) character of a class range.
    fn get_esc(chunk: &[u8]) -> Result<(Rune, &[u8]), ReferenceError> {
        let mut chunk = match chunk.first() {
            None | Some(b'-') | Some(b']') => return Err(ReferenceError::BadPattern),
            Some(_) => chunk,
        };
        if chunk[0] == b'\\' {
            chunk = &chunk[1..];
            if chunk.is_empty() {
                return Err(ReferenceError::BadPattern);
            }
        }
        let (r, n) = decode_rune(chunk);
        let rest = &chunk[n..];
        if (r == RUNE_ERROR && n == 1) || rest.is_empty() {
            return Err(ReferenceError::BadPattern);
        }
        Ok((r, rest))
    }

    /// Go's `utf8.DecodeRuneInString`: invalid input decodes as
    /// (RuneError, 1). Callers never pass an empty slice.
    fn decode_rune(s: &[u8]) -> (Rune, usize) {
        let width = match s[0] {
            0x00..=0x7F => 1,
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 0,
        };
        if width == 0 || width > s.len() {
            return (RUNE_ERROR, 1);
        }
        match std::str::from_utf8(&s[..width]) {
            Ok(c) => (c.chars().next().map_or(RUNE_ERROR, |c| c as Rune), width),
            Err(_) => (RUNE_ERROR, 1),
        }
    }
}

#[cfg(test)]
mod tests;
