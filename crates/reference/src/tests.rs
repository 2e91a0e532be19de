use super::*;

/// input, domain, path, tag, digest, familiar string
type Row<'a> = (
    String,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    String,
);

const HEX: &str = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

fn dgst() -> String {
    format!("sha256:{HEX}")
}

fn p(s: &str) -> Reference {
    Reference::parse_normalized(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn err(s: &str) -> ReferenceError {
    match Reference::parse_normalized(s) {
        Ok(r) => panic!("{s:?} should fail, got {r}"),
        Err(e) => e,
    }
}

#[test]
fn normalization_table() {
    let d = dgst();
    let cases: Vec<Row> = vec![
        (
            "busybox".into(),
            "docker.io",
            "library/busybox",
            None,
            None,
            "busybox".into(),
        ),
        (
            "library/busybox".into(),
            "docker.io",
            "library/busybox",
            None,
            None,
            "busybox".into(),
        ),
        (
            "docker.io/busybox".into(),
            "docker.io",
            "library/busybox",
            None,
            None,
            "busybox".into(),
        ),
        (
            "docker.io/library/busybox".into(),
            "docker.io",
            "library/busybox",
            None,
            None,
            "busybox".into(),
        ),
        (
            "index.docker.io/busybox".into(),
            "docker.io",
            "library/busybox",
            None,
            None,
            "busybox".into(),
        ),
        (
            "index.docker.io/library/busybox:1".into(),
            "docker.io",
            "library/busybox",
            Some("1"),
            None,
            "busybox:1".into(),
        ),
        (
            "index.docker.io/user/app".into(),
            "docker.io",
            "user/app",
            None,
            None,
            "user/app".into(),
        ),
        (
            "busybox:latest".into(),
            "docker.io",
            "library/busybox",
            Some("latest"),
            None,
            "busybox:latest".into(),
        ),
        (
            "user/app:1".into(),
            "docker.io",
            "user/app",
            Some("1"),
            None,
            "user/app:1".into(),
        ),
        (
            "docker.io/user/app:1".into(),
            "docker.io",
            "user/app",
            Some("1"),
            None,
            "user/app:1".into(),
        ),
        (
            "docker.io/library/a/b".into(),
            "docker.io",
            "library/a/b",
            None,
            None,
            "library/a/b".into(),
        ),
        (
            "user/a/b/c".into(),
            "docker.io",
            "user/a/b/c",
            None,
            None,
            "user/a/b/c".into(),
        ),
        (
            "localhost/a".into(),
            "localhost",
            "a",
            None,
            None,
            "localhost/a".into(),
        ),
        (
            "localhost:5000/a/b:t".into(),
            "localhost:5000",
            "a/b",
            Some("t"),
            None,
            "localhost:5000/a/b:t".into(),
        ),
        (
            format!("example.com/x@{d}"),
            "example.com",
            "x",
            None,
            Some(&d),
            format!("example.com/x@{d}"),
        ),
        (
            format!("busybox:1.36@{d}"),
            "docker.io",
            "library/busybox",
            Some("1.36"),
            Some(&d),
            format!("busybox:1.36@{d}"),
        ),
        (
            format!("busybox@{d}"),
            "docker.io",
            "library/busybox",
            None,
            Some(&d),
            format!("busybox@{d}"),
        ),
        (
            "[::1]:5000/x".into(),
            "[::1]:5000",
            "x",
            None,
            None,
            "[::1]:5000/x".into(),
        ),
        (
            "[2001:db8::1]/x:tag".into(),
            "[2001:db8::1]",
            "x",
            Some("tag"),
            None,
            "[2001:db8::1]/x:tag".into(),
        ),
        (
            "127.0.0.1:5000/foo/bar".into(),
            "127.0.0.1:5000",
            "foo/bar",
            None,
            None,
            "127.0.0.1:5000/foo/bar".into(),
        ),
        (
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag".into(),
            "sub-dom1.foo.com",
            "bar/baz/quux",
            Some("some-long-tag"),
            None,
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag".into(),
        ),
        (
            "xn--n3h.com/myimage:xn--n3h".into(),
            "xn--n3h.com",
            "myimage",
            Some("xn--n3h"),
            None,
            "xn--n3h.com/myimage:xn--n3h".into(),
        ),
        (
            "myhost:5000/library/busybox".into(),
            "myhost:5000",
            "library/busybox",
            None,
            None,
            "myhost:5000/library/busybox".into(),
        ),
        // A lone component is a hub image even when it looks like a host.
        (
            "localhost".into(),
            "docker.io",
            "library/localhost",
            None,
            None,
            "localhost".into(),
        ),
        (
            "localhost:5000".into(),
            "docker.io",
            "library/localhost",
            Some("5000"),
            None,
            "localhost:5000".into(),
        ),
        (
            "example.com".into(),
            "docker.io",
            "library/example.com",
            None,
            None,
            "example.com".into(),
        ),
        // An uppercase first component can only be a registry host.
        ("Foo/bar".into(), "Foo", "bar", None, None, "Foo/bar".into()),
        (
            "EXAMPLE.com/bar".into(),
            "EXAMPLE.com",
            "bar",
            None,
            None,
            "EXAMPLE.com/bar".into(),
        ),
        // Separators in path components.
        (
            "a--b/c__d.e_f-g".into(),
            "docker.io",
            "a--b/c__d.e_f-g",
            None,
            None,
            "a--b/c__d.e_f-g".into(),
        ),
        (
            "busybox:_Tag.x-1".into(),
            "docker.io",
            "library/busybox",
            Some("_Tag.x-1"),
            None,
            "busybox:_Tag.x-1".into(),
        ),
        // "sha256:<hex>" as a name is just image "sha256" with a long tag.
        (
            format!("sha256:{HEX}"),
            "docker.io",
            "library/sha256",
            Some(HEX),
            None,
            format!("sha256:{HEX}"),
        ),
        // Looks like a domain but is not one: docker keeps it domain-less.
        (
            "a_b.c/d".into(),
            "",
            "a_b.c/d",
            None,
            None,
            "a_b.c/d".into(),
        ),
    ];
    for (input, domain, path, tag, digest, familiar) in cases {
        let r = p(&input);
        assert_eq!(r.domain(), domain, "domain of {input}");
        assert_eq!(r.path(), path, "path of {input}");
        assert_eq!(r.tag(), tag, "tag of {input}");
        assert_eq!(r.digest(), digest, "digest of {input}");
        assert_eq!(r.familiar_string(), familiar, "familiar string of {input}");
        let name = if domain.is_empty() {
            path.to_string()
        } else {
            format!("{domain}/{path}")
        };
        assert_eq!(r.name(), name, "name of {input}");
        // Both printed forms parse back to the same reference.
        assert_eq!(p(&r.familiar_string()), r, "familiar round trip of {input}");
        assert_eq!(p(&r.to_string()), r, "full round trip of {input}");
    }
}

#[test]
fn display_and_familiar_forms() {
    let d = dgst();
    let r = p("busybox");
    assert_eq!(r.to_string(), "docker.io/library/busybox");
    assert_eq!(r.familiar_name(), "busybox");
    assert_eq!(r.familiar_string(), "busybox");

    let r = p(&format!("busybox:1@{d}"));
    assert_eq!(r.to_string(), format!("docker.io/library/busybox:1@{d}"));
    assert_eq!(r.familiar_name(), "busybox");
    assert_eq!(r.familiar_string(), format!("busybox:1@{d}"));

    let r = p("user/app:v2");
    assert_eq!(r.to_string(), "docker.io/user/app:v2");
    assert_eq!(r.familiar_name(), "user/app");

    let r = p("localhost:5000/a/b");
    assert_eq!(r.to_string(), "localhost:5000/a/b");
    assert_eq!(r.familiar_name(), "localhost:5000/a/b");
}

#[test]
fn default_tag() {
    let d = dgst();
    assert_eq!(
        Reference::parse_with_default_tag("busybox")
            .unwrap()
            .to_string(),
        "docker.io/library/busybox:latest"
    );
    assert_eq!(
        Reference::parse_with_default_tag("busybox")
            .unwrap()
            .familiar_string(),
        "busybox:latest"
    );
    assert_eq!(
        Reference::parse_with_default_tag("busybox:1")
            .unwrap()
            .tag(),
        Some("1")
    );
    // A digest alone is enough; no tag is invented.
    let r = Reference::parse_with_default_tag(&format!("busybox@{d}")).unwrap();
    assert_eq!(r.tag(), None);
    assert_eq!(r.digest(), Some(d.as_str()));
    assert!(p("busybox").is_name_only());
    assert!(!p("busybox:1").is_name_only());
}

#[test]
fn docker_ref_prefers_digest() {
    let d = dgst();
    let r = Reference::parse_docker_ref(&format!("busybox:latest@{d}")).unwrap();
    assert_eq!(r.to_string(), format!("docker.io/library/busybox@{d}"));
    let r = Reference::parse_docker_ref("busybox").unwrap();
    assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
}

#[test]
fn with_tag_digest_and_trim() {
    let d = dgst();
    let r = p("busybox");
    let t = r.with_tag("1.2").unwrap();
    assert_eq!(t.to_string(), "docker.io/library/busybox:1.2");
    // The digest is kept when retagging, as docker's WithTag does.
    let c = p(&format!("busybox@{d}")).with_tag("x").unwrap();
    assert_eq!(c.familiar_string(), format!("busybox:x@{d}"));
    assert_eq!(r.with_tag(".bad"), Err(ReferenceError::InvalidTag));
    assert_eq!(r.with_tag(""), Err(ReferenceError::InvalidTag));
    assert_eq!(r.with_tag("a b"), Err(ReferenceError::InvalidTag));
    assert_eq!(
        r.with_tag(&"a".repeat(129)),
        Err(ReferenceError::InvalidTag)
    );
    assert!(r.with_tag(&"a".repeat(128)).is_ok());
    assert_eq!(
        r.with_tag("-x").unwrap_err().to_string(),
        "invalid tag format"
    );

    let w = t.with_digest(&d).unwrap();
    assert_eq!(w.familiar_string(), format!("busybox:1.2@{d}"));
    assert_eq!(
        t.with_digest("sha256:abc").unwrap_err().to_string(),
        "invalid digest format"
    );

    let trimmed = w.without_tag_or_digest();
    assert_eq!(trimmed, r);
    assert_eq!(trimmed.to_string(), "docker.io/library/busybox");
}

#[test]
fn from_str_is_parse_normalized() {
    let r: Reference = "user/app:1".parse().unwrap();
    assert_eq!(r, p("user/app:1"));
    assert!("UPPER".parse::<Reference>().is_err());
}

#[test]
fn error_messages() {
    let d = dgst();
    let cases: Vec<(String, &str)> = vec![
        ("".into(), "invalid reference format"),
        (":tag".into(), "invalid reference format"),
        ("busybox:".into(), "invalid reference format"),
        ("busybox:-tag".into(), "invalid reference format"),
        ("busybox:.tag".into(), "invalid reference format"),
        (format!("busybox:{}", "a".repeat(129)), "invalid reference format"),
        ("busybox@".into(), "invalid reference format"),
        ("busybox@sha256:abc".into(), "invalid reference format"),
        ("busybox@@sha256:abc".into(), "invalid reference format"),
        (format!("busybox@{d}@{d}"), "invalid reference format"),
        ("-foo".into(), "invalid reference format"),
        ("foo-".into(), "invalid reference format"),
        ("foo..bar".into(), "invalid reference format"),
        ("foo___bar".into(), "invalid reference format"),
        ("foo_-bar".into(), "invalid reference format"),
        ("a//b".into(), "invalid reference format"),
        ("a/".into(), "invalid reference format"),
        ("/a".into(), "invalid reference format"),
        ("a/b:c/d".into(), "invalid reference format"),
        ("http://example.com/x".into(), "invalid reference format"),
        ("example.com:port/x".into(), "invalid reference format"),
        ("-example.com/x".into(), "invalid reference format"),
        ("example-.com/x".into(), "invalid reference format"),
        ("example..com/x".into(), "invalid reference format"),
        ("foo_bar.com:8080/x".into(), "invalid reference format"),
        ("[::1/x".into(), "invalid reference format"),
        ("[]:5000/x".into(), "invalid reference format"),
        ("[::g]/x".into(), "invalid reference format"),
        ("busy box".into(), "invalid reference format"),
        ("büsybox".into(), "invalid reference format"),
        (
            "Busybox".into(),
            "invalid reference format: repository name (library/Busybox) must be lowercase",
        ),
        (
            "user/App:1".into(),
            "invalid reference format: repository name (user/App) must be lowercase",
        ),
        (
            "example.com/Foo/bar:tag".into(),
            "invalid reference format: repository name (Foo/bar) must be lowercase",
        ),
        (
            "localhost:5000/Foo".into(),
            "invalid reference format: repository name (Foo) must be lowercase",
        ),
        // Only the invalid domain keeps this from parsing; docker's inner
        // parser reports it without the prefix.
        ("Foo_x/bar".into(), "repository name must be lowercase"),
        (
            HEX.into(),
            "invalid repository name (7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa), cannot specify 64-byte hexadecimal strings",
        ),
        (
            "a".repeat(248),
            "repository name must not be more than 255 characters",
        ),
        (
            format!("example.com/{}", "a".repeat(256)),
            "repository name must not be more than 255 characters",
        ),
        (
            format!("busybox@sha256:{HEX}0"),
            "invalid checksum digest length",
        ),
        (
            format!("busybox@sha512:{HEX}"),
            "invalid checksum digest length",
        ),
        (
            format!("busybox@sha256:{}", HEX.to_uppercase()),
            "invalid checksum digest format",
        ),
        (
            format!("busybox:1@MD5:{}", &HEX[..32]),
            "invalid checksum digest format",
        ),
        // docker's lowercase pre-check looks at everything before the first
        // ':', which here includes the digest algorithm.
        (
            format!("busybox@MD5:{}", &HEX[..32]),
            "invalid reference format: repository name (library/busybox@MD5) must be lowercase",
        ),
        (
            format!("busybox@md5:{}", &HEX[..32]),
            "unsupported digest algorithm",
        ),
        (
            format!("busybox@sha256+b64:{HEX}"),
            "unsupported digest algorithm",
        ),
    ];
    for (input, msg) in cases {
        assert_eq!(err(&input).to_string(), msg, "error for {input:?}");
    }
}

#[test]
fn error_variants() {
    assert_eq!(err("busybox:"), ReferenceError::InvalidFormat);
    assert_eq!(
        err("Busybox"),
        ReferenceError::NameNotLowercase("library/Busybox".into())
    );
    assert_eq!(err("Foo_x/bar"), ReferenceError::NameContainsUppercase);
    assert_eq!(err(HEX), ReferenceError::HexadecimalName(HEX.into()));
    assert_eq!(err(&"a".repeat(300)), ReferenceError::NameTooLong);
}

#[test]
fn name_length_limit_counts_path_only() {
    // "library/" + 247 = 255 characters: the longest accepted hub path.
    assert_eq!(p(&"a".repeat(247)).path().len(), 255);
    assert_eq!(err(&"a".repeat(248)), ReferenceError::NameTooLong);
    let long = format!("example.com/{}", "a".repeat(255));
    assert_eq!(p(&long).path().len(), 255);
    // 128-character tags are fine and do not count towards the limit.
    assert!(
        Reference::parse_normalized(&format!("{}:{}", "a".repeat(247), "t".repeat(128))).is_ok()
    );
}

#[test]
fn valid_digests() {
    let sha384 = format!("busybox@sha384:{}", &format!("{HEX}{HEX}")[..96]);
    assert_eq!(p(&sha384).digest().unwrap().len(), "sha384:".len() + 96);
    let sha512 = format!("busybox@sha512:{HEX}{HEX}");
    assert_eq!(
        p(&sha512).familiar_string(),
        format!("busybox@sha512:{HEX}{HEX}")
    );

    assert_eq!(validate_digest(&dgst()), Ok(()));
    assert_eq!(
        validate_digest("sha256"),
        Err(ReferenceError::DigestInvalidFormat)
    );
    assert_eq!(
        validate_digest(":abc"),
        Err(ReferenceError::DigestInvalidFormat)
    );
    assert_eq!(
        validate_digest("sha256:"),
        Err(ReferenceError::DigestInvalidFormat)
    );
    assert_eq!(
        validate_digest("sha256:abc"),
        Err(ReferenceError::DigestInvalidLength)
    );
    assert_eq!(
        validate_digest("foo:abc"),
        Err(ReferenceError::DigestUnsupported)
    );
    assert_eq!(
        validate_digest("Foo:abc"),
        Err(ReferenceError::DigestInvalidFormat)
    );
}

#[test]
fn low_level_parse_does_not_normalize() {
    let r = parse("busybox").unwrap();
    assert_eq!((r.domain(), r.path()), ("", "busybox"));
    assert_eq!(r.familiar_name(), "busybox");
    assert_eq!(r.to_string(), "busybox");

    let r = parse("localhost:5000").unwrap();
    assert_eq!((r.path(), r.tag()), ("localhost", Some("5000")));

    // Go's greedy optional domain group: a valid first component is a domain.
    let r = parse("user/app").unwrap();
    assert_eq!((r.domain(), r.path()), ("user", "app"));

    let r = parse("docker.io/library/busybox:latest").unwrap();
    assert_eq!(r, p("busybox:latest"));

    assert_eq!(parse(""), Err(ReferenceError::NameEmpty));
    assert_eq!(
        parse("").unwrap_err().to_string(),
        "repository name must have at least one component"
    );
    assert_eq!(parse("Busybox"), Err(ReferenceError::NameContainsUppercase));
    assert_eq!(parse("busybox:"), Err(ReferenceError::InvalidFormat));
}

#[test]
fn full_image_ids() {
    assert!(is_full_image_id(HEX));
    assert!(is_full_image_id(&dgst()));
    assert!(!is_full_image_id(&HEX[..63]));
    assert!(!is_full_image_id(&format!("{HEX}a")));
    assert!(!is_full_image_id(&HEX[..12]));
    assert!(!is_full_image_id(&format!("sha256:{}", &HEX[..12])));
    assert!(!is_full_image_id(&HEX.to_uppercase()));
    assert!(!is_full_image_id(&format!("sha512:{HEX}")));
    assert!(!is_full_image_id(&format!("sha256:{}", "g".repeat(64))));
    assert!(!is_full_image_id(""));
}

#[test]
fn familiar_match_cases() {
    let d = dgst();
    let busybox = Reference::parse_with_default_tag("busybox").unwrap();
    let user_app = p("user/app:1");
    let nested = Reference::parse_with_default_tag("docker.io/library/a/b").unwrap();
    let local = p("localhost:5000/a:t");
    let local_nested = p("localhost:5000/a/b:t");
    let digested = p(&format!("busybox@{d}"));

    let cases: Vec<(&str, &Reference, bool)> = vec![
        ("busy*", &busybox, true),
        ("busybox", &busybox, true),
        ("busybox:latest", &busybox, true),
        ("busybox:lat*", &busybox, true),
        ("busybox:1", &busybox, false),
        ("*:latest", &busybox, true),
        ("*", &busybox, true),
        ("b?sybox", &busybox, true),
        ("b[a-z]sybox", &busybox, true),
        ("b[^u]sybox", &busybox, false),
        ("bus", &busybox, false),
        ("library/*", &busybox, false),
        ("docker.io/library/busybox", &busybox, false),
        ("*/*", &busybox, false),
        ("*/*", &user_app, true),
        ("user/*", &user_app, true),
        ("user/*:1", &user_app, true),
        ("user/*:2", &user_app, false),
        ("user/app", &user_app, true), // falls back to the familiar name
        ("*", &user_app, false),
        ("*/*", &nested, false),
        ("*/*/*", &nested, true),
        ("library/a/*", &nested, true),
        ("localhost:5000/*", &local, true),
        ("localhost:5000/*", &local_nested, false),
        ("localhost:5000/*/*", &local_nested, true),
        ("localhost:*/a", &local, true),
        ("busybox@sha256:*", &digested, true),
        ("busybox", &digested, true),
    ];
    for (pattern, r, want) in cases {
        assert_eq!(
            familiar_match(pattern, r),
            Ok(want),
            "{pattern:?} vs {}",
            r.familiar_string()
        );
    }
    assert_eq!(
        familiar_match("[", &busybox),
        Err(ReferenceError::BadPattern)
    );
    assert_eq!(
        familiar_match("x[", &busybox).unwrap_err().to_string(),
        "syntax error in pattern"
    );
}

#[test]
fn go_path_match_semantics() {
    use ReferenceError::BadPattern;
    let cases: &[(&str, &str, Result<bool, ReferenceError>)] = &[
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
        ("a[/]b", "a/b", Ok(true)),
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
        ("[x-]", "-", Err(BadPattern)),
        ("[x-]", "z", Err(BadPattern)),
        ("[-x]", "x", Err(BadPattern)),
        ("[-x]", "-", Err(BadPattern)),
        ("[-x]", "a", Err(BadPattern)),
        ("\\", "a", Err(BadPattern)),
        ("[a-b-c]", "a", Err(BadPattern)),
        ("[", "a", Err(BadPattern)),
        ("[^", "a", Err(BadPattern)),
        ("[^bc", "a", Err(BadPattern)),
        ("a[", "a", Err(BadPattern)),
        ("a[", "ab", Err(BadPattern)),
        ("a[", "x", Err(BadPattern)),
        ("a/b[", "x", Err(BadPattern)),
        ("*x", "xxx", Ok(true)),
        ("", "", Ok(true)),
        ("", "a", Ok(false)),
        ("*", "", Ok(true)),
    ];
    for (pattern, name, want) in cases {
        assert_eq!(
            &path_match(pattern, name),
            want,
            "path_match({pattern:?}, {name:?})"
        );
    }
}
