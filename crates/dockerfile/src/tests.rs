//! Whole-file tests: directives, line handling, every instruction in each of
//! its forms, heredocs, stages and error locations.

use std::time::Duration;

use crate::*;

fn parse_ok(src: &str) -> Dockerfile {
    parse("Dockerfile", src).unwrap_or_else(|err| panic!("{err}\n---\n{src}"))
}

fn parse_err(src: &str) -> String {
    parse("Dockerfile", src).unwrap_err().to_string()
}

/// The instructions of the only stage.
fn body(src: &str) -> Vec<Instruction> {
    let file = parse_ok(src);
    assert_eq!(file.stages.len(), 1);
    file.stages
        .into_iter()
        .next()
        .unwrap()
        .instructions
        .into_iter()
        .map(|located| located.value)
        .collect()
}

/// The single instruction after a `FROM scratch` line.
fn one(line: &str) -> Instruction {
    let mut instructions = body(&format!("FROM scratch\n{line}\n"));
    assert_eq!(instructions.len(), 1, "{line}");
    instructions.remove(0)
}

fn one_err(line: &str) -> String {
    parse_err(&format!("FROM scratch\n{line}\n"))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn shell(text: &str) -> Command {
    Command::Shell(text.to_string())
}

fn exec(items: &[&str]) -> Command {
    Command::Exec(strings(items))
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: value.to_string(),
    }
}

fn run(line: &str) -> RunInstruction {
    match one(line) {
        Instruction::Run(run) => run,
        other => panic!("not RUN: {other:?}"),
    }
}

fn copy(line: &str) -> CopyInstruction {
    match one(line) {
        Instruction::Copy(copy) => copy,
        other => panic!("not COPY: {other:?}"),
    }
}

// ---- parser directives ----

#[test]
fn escape_directive_backtick() {
    let file = parse_ok("# escape=`\n\nFROM windows\nCOPY testfile.txt c:\\\nRUN dir c:\\\n");
    assert_eq!(file.directives.escape, '`');
    let instructions = &file.stages[0].instructions;
    assert_eq!(instructions.len(), 2, "backslash must not continue lines");
    assert_eq!(instructions[1].original, "RUN dir c:\\");
}

#[test]
fn default_escape_and_windows_paths() {
    // Current BuildKit no longer treats an escaped escape (`c:\\`) as a
    // continuation, unlike the reference's historical example; a lone
    // trailing `\` still continues (here into the end of the file).
    let file = parse_ok("FROM windows\nCOPY testfile.txt c:\\\\\nRUN dir c:\\\n");
    let instructions = &file.stages[0].instructions;
    assert_eq!(instructions.len(), 2);
    assert_eq!(instructions[0].original, "COPY testfile.txt c:\\\\");
    assert_eq!(instructions[1].original, "RUN dir c:");
}

#[test]
fn escape_backtick_continues_lines() {
    let file = parse_ok("# escape=`\nFROM x\nRUN echo a `\n  b\n");
    assert_eq!(
        file.stages[0].instructions[0].value,
        Instruction::Run(RunInstruction {
            command: shell("echo a   b"),
            heredocs: vec![],
            mounts: vec![],
            network: NetworkMode::Default,
            security: SecurityMode::Sandbox,
        })
    );
}

#[test]
fn syntax_and_check_directives_are_recorded() {
    let file = parse_ok(
        "# syntax=docker/dockerfile:1\n#check=skip=JSONArgsRecommended;error=true\n# ESCAPE = \\\nFROM x\n",
    );
    assert_eq!(
        file.directives.syntax.as_deref(),
        Some("docker/dockerfile:1")
    );
    assert_eq!(
        file.directives.check.as_deref(),
        Some("skip=JSONArgsRecommended;error=true")
    );
    assert_eq!(file.directives.escape, '\\');
}

#[test]
fn directives_only_at_the_top() {
    for src in [
        "FROM x\n# escape=`\nRUN a \\\n b\n",
        "# about my dockerfile\n# escape=`\nFROM x\nRUN a \\\n b\n",
        "\n# escape=`\nFROM x\nRUN a \\\n b\n",
        "# unknowndirective=value\n# escape=`\nFROM x\nRUN a \\\n b\n",
    ] {
        let file = parse_ok(src);
        assert_eq!(file.directives.escape, '\\', "{src}");
        assert_eq!(file.stages[0].instructions.len(), 1, "{src}");
    }
}

#[test]
fn directive_errors() {
    assert_eq!(
        parse_err("# escape=`\n# escape=\\\nFROM x\n"),
        "Dockerfile:2: only one escape parser directive can be used"
    );
    assert_eq!(
        parse_err("# escape=x\nFROM x\n"),
        "Dockerfile:1: invalid escape token 'x' does not match ` or \\"
    );
    assert_eq!(
        parse_err("# syntax=a\n# syntax=b\nFROM x\n"),
        "Dockerfile:2: only one syntax parser directive can be used"
    );
}

#[test]
fn byte_order_mark_and_crlf() {
    let file = parse_ok("\u{feff}# escape=`\r\nFROM x\r\nRUN a `\r\n b\r\n");
    assert_eq!(file.directives.escape, '`');
    assert_eq!(file.stages[0].instructions[0].original, "RUN a  b");
}

// ---- lines, comments, continuations ----

#[test]
fn comments_and_blank_lines_inside_continuations_are_skipped() {
    let src =
        "FROM x\nRUN echo hello \\\n# comment\n    # indented comment\n\n   \nworld\nRUN next\n";
    let file = parse_ok(src);
    let instructions = &file.stages[0].instructions;
    assert_eq!(
        instructions[0].value,
        Instruction::Run(run("RUN echo hello world"))
    );
    assert_eq!((instructions[0].line, instructions[0].end_line), (2, 7));
    assert_eq!(instructions[1].line, 8);
}

#[test]
fn leading_whitespace_and_hash_in_arguments() {
    let instructions =
        body("   FROM x\n\t# comment\n    RUN echo 'we are running some # of cool things'\n");
    assert_eq!(
        instructions,
        [Instruction::Run(run(
            "RUN echo 'we are running some # of cool things'"
        ))]
    );
}

#[test]
fn continuation_keeps_whitespace_of_next_line() {
    assert_eq!(
        run("RUN echo \"\\\n     hello\\\n     world\"").command,
        shell("echo \"     hello     world\"")
    );
}

#[test]
fn escaped_escape_does_not_continue() {
    let instructions = body("FROM x\nRUN echo a\\\\\nRUN echo b\n");
    assert_eq!(instructions.len(), 2);
}

#[test]
fn keywords_are_case_insensitive() {
    let file = parse_ok("from alpine As Build\nrun echo hi\nCoPy a b\n");
    assert_eq!(file.stages[0].name.as_deref(), Some("build"));
    assert!(matches!(
        file.stages[0].instructions[0].value,
        Instruction::Run(_)
    ));
    assert!(matches!(
        file.stages[0].instructions[1].value,
        Instruction::Copy(_)
    ));
}

// ---- FROM and stages ----

#[test]
fn from_forms() {
    let file = parse_ok(
        "ARG BASE=alpine\nARG A B=c\nFROM --platform=$BUILDPLATFORM ${BASE}:3 AS builder\nRUN make\nFROM scratch\nCOPY --from=builder /out /\n",
    );
    assert_eq!(file.args_before_from.len(), 2);
    assert_eq!(
        file.meta_args()
            .map(|a| (a.name.as_str(), a.default.as_deref()))
            .collect::<Vec<_>>(),
        [("BASE", Some("alpine")), ("A", None), ("B", Some("c"))]
    );
    assert_eq!(file.stages.len(), 2);
    let first = &file.stages[0];
    assert_eq!(
        first.from.value,
        FromInstruction {
            image: "${BASE}:3".into(),
            name: Some("builder".into()),
            platform: Some("$BUILDPLATFORM".into()),
        }
    );
    assert_eq!(first.from.line, 3);
    assert_eq!(
        first.from.original,
        "FROM --platform=$BUILDPLATFORM ${BASE}:3 AS builder"
    );
    assert_eq!(first.instructions.len(), 1);
    assert_eq!(file.stages[1].name, None);
    assert_eq!(file.stages[1].from.value.image, "scratch");
    assert_eq!(
        parse_instruction("FROM busybox").unwrap(),
        Instruction::From(FromInstruction {
            image: "busybox".into(),
            name: None,
            platform: None
        })
    );
}

#[test]
fn arg_after_from_belongs_to_the_stage() {
    let file = parse_ok("ARG V=1\nFROM busybox:$V\nARG V\nRUN echo $V\n");
    assert_eq!(file.args_before_from[0].line, 1);
    assert_eq!(
        file.stages[0].instructions[0].value,
        Instruction::Arg(ArgInstruction {
            args: vec![ArgDecl {
                name: "V".into(),
                default: None
            }]
        })
    );
}

#[test]
fn from_errors() {
    assert_eq!(
        parse_err("FROM\n"),
        "Dockerfile:1: FROM: requires either one or three arguments"
    );
    assert_eq!(
        parse_err("FROM a AS\n"),
        "Dockerfile:1: FROM: requires either one or three arguments"
    );
    assert_eq!(
        parse_err("FROM a b c\n"),
        "Dockerfile:1: FROM: requires either one or three arguments"
    );
    assert_eq!(
        parse_err("FROM a AS 1st\n"),
        "Dockerfile:1: FROM: invalid name for build stage: \"1st\", name can't start with a number or contain symbols"
    );
    assert_eq!(
        parse_err("FROM a AS x\nFROM b AS X\n"),
        "Dockerfile:2: FROM: duplicate stage name \"x\""
    );
    assert_eq!(
        parse_err("FROM --foo=1 a\n"),
        "Dockerfile:1: FROM: unknown flag: foo"
    );
}

#[test]
fn stage_structure_errors() {
    assert_eq!(
        parse_err("# just a comment\n\n"),
        "Dockerfile:2: file with no instructions"
    );
    assert_eq!(parse_err(""), "Dockerfile:1: file with no instructions");
    assert_eq!(
        parse_err("ARG A\nRUN echo\nFROM x\n"),
        "Dockerfile:2: RUN: no build stage in current context"
    );
    assert_eq!(
        parse_err("ARG A\nARG B\n"),
        "Dockerfile:2: dockerfile contains no stages to build"
    );
}

// ---- RUN, CMD, ENTRYPOINT, SHELL ----

#[test]
fn run_forms() {
    assert_eq!(
        run("RUN echo hello  world").command,
        shell("echo hello  world")
    );
    assert_eq!(
        run("RUN [\"echo\", \"hello\"]").command,
        exec(&["echo", "hello"])
    );
    // Not valid JSON, so it is a shell command, as in Docker.
    assert_eq!(
        run("RUN [\"c:\\windows\\system32\\tasklist.exe\"]").command,
        shell("[\"c:\\windows\\system32\\tasklist.exe\"]")
    );
    assert_eq!(run("RUN ['single']").command, shell("['single']"));
    assert_eq!(
        run("RUN [ \"sh\", \"-c\", \"echo $HOME\" ]").command,
        exec(&["sh", "-c", "echo $HOME"])
    );
    assert_eq!(
        one_err("RUN [\"echo\", 1]"),
        "Dockerfile:2: RUN: when using json array syntax, arrays must be comprised of strings only"
    );
    assert_eq!(
        one_err("RUN"),
        "Dockerfile:2: RUN: requires at least one argument"
    );
}

#[test]
fn run_flags() {
    let r = run("RUN --mount=type=cache,target=/var/cache/apt,sharing=locked --mount=type=secret,id=aws,target=/root/.aws/credentials --network=none --security=insecure apt-get update");
    assert_eq!(r.command, shell("apt-get update"));
    assert_eq!(r.network, NetworkMode::None);
    assert_eq!(r.security, SecurityMode::Insecure);
    assert_eq!(r.mounts.len(), 2);
    assert_eq!(r.mounts[0].kind, MountType::Cache);
    assert_eq!(r.mounts[0].target.as_deref(), Some("/var/cache/apt"));
    assert_eq!(r.mounts[0].sharing, Some(CacheSharing::Locked));
    assert_eq!(r.mounts[1].kind, MountType::Secret);
    assert_eq!(r.mounts[1].id.as_deref(), Some("aws"));
    let r = run("RUN --mount=target=. --network=host --security=sandbox [\"make\"]");
    assert_eq!(r.mounts[0].kind, MountType::Bind);
    assert!(r.mounts[0].read_only);
    assert_eq!(r.network, NetworkMode::Host);
    assert_eq!(r.security, SecurityMode::Sandbox);
    assert_eq!(r.command, exec(&["make"]));
    assert_eq!(run("RUN --network=default x").network, NetworkMode::Default);
}

#[test]
fn run_flag_errors() {
    assert_eq!(
        one_err("RUN --foo=bar ls"),
        "Dockerfile:2: RUN: unknown flag: foo"
    );
    assert_eq!(
        one_err("RUN --network=bridge ls"),
        "Dockerfile:2: RUN: invalid network mode \"bridge\""
    );
    assert_eq!(
        one_err("RUN --security=root ls"),
        "Dockerfile:2: RUN: security \"root\" is not valid"
    );
    assert_eq!(
        one_err("RUN --mount=type=nfs ls"),
        "Dockerfile:2: RUN: unsupported mount type \"nfs\""
    );
    assert_eq!(
        one_err("RUN --network ls"),
        "Dockerfile:2: RUN: missing a value on flag: network"
    );
}

#[test]
fn cmd_and_entrypoint() {
    assert_eq!(
        one("CMD [\"executable\",\"param1\"]"),
        Instruction::Cmd(exec(&["executable", "param1"]))
    );
    assert_eq!(one("CMD echo $HOME"), Instruction::Cmd(shell("echo $HOME")));
    assert_eq!(one("CMD []"), Instruction::Cmd(exec(&[])));
    assert_eq!(
        one("ENTRYPOINT [\"top\", \"-b\"]"),
        Instruction::Entrypoint(exec(&["top", "-b"]))
    );
    assert_eq!(
        one("ENTRYPOINT exec top -b"),
        Instruction::Entrypoint(shell("exec top -b"))
    );
    assert_eq!(one_err("CMD --x=1 a"), "Dockerfile:2: CMD: unknown flag: x");
}

#[test]
fn shell_instruction() {
    assert_eq!(
        one("SHELL [\"powershell\", \"-command\"]"),
        Instruction::Shell(strings(&["powershell", "-command"]))
    );
    assert_eq!(
        one_err("SHELL powershell -command"),
        "Dockerfile:2: SHELL: requires the arguments to be in json form"
    );
    assert_eq!(
        one_err("SHELL []"),
        "Dockerfile:2: SHELL: requires at least one argument"
    );
    assert_eq!(
        one_err("SHELL"),
        "Dockerfile:2: SHELL: requires at least one argument"
    );
}

// ---- ENV, LABEL, ARG ----

#[test]
fn env_forms() {
    assert_eq!(
        one("ENV MY_NAME=\"John Doe\" MY_DOG=Rex\\ The\\ Dog \\\n    MY_CAT=fluffy"),
        Instruction::Env(KeyValues {
            pairs: vec![
                kv("MY_NAME", "\"John Doe\""),
                kv("MY_DOG", "Rex\\ The\\ Dog"),
                kv("MY_CAT", "fluffy"),
            ],
            legacy: false,
        })
    );
    assert_eq!(
        one("ENV MY_VAR my value  here"),
        Instruction::Env(KeyValues {
            pairs: vec![kv("MY_VAR", "my value  here")],
            legacy: true,
        })
    );
    assert_eq!(
        one("ENV ONE TWO= THREE=world"),
        Instruction::Env(KeyValues {
            pairs: vec![kv("ONE", "TWO= THREE=world")],
            legacy: true,
        })
    );
    assert_eq!(
        one("ENV EMPTY="),
        Instruction::Env(KeyValues {
            pairs: vec![kv("EMPTY", "")],
            legacy: false,
        })
    );
}

#[test]
fn env_errors() {
    assert_eq!(
        parse_err("FROM x\nRUN true\n\n\n\n\nENV FOO\n"),
        "Dockerfile:7: ENV: missing value for \"FOO\""
    );
    assert_eq!(
        one_err("ENV"),
        "Dockerfile:2: ENV: requires at least one argument"
    );
    assert_eq!(
        one_err("ENV a=b c"),
        "Dockerfile:2: ENV: can't find = in \"c\". must be of the form: name=value"
    );
    assert_eq!(
        one_err("ENV =b"),
        "Dockerfile:2: ENV: names can not be blank"
    );
}

#[test]
fn label_forms() {
    assert_eq!(
        one("LABEL \"com.example.vendor\"=\"ACME Incorporated\" version=1.0 multi.label1='a b'"),
        Instruction::Label(KeyValues {
            pairs: vec![
                kv("\"com.example.vendor\"", "\"ACME Incorporated\""),
                kv("version", "1.0"),
                kv("multi.label1", "'a b'"),
            ],
            legacy: false,
        })
    );
    assert_eq!(
        one("LABEL description=\"This text illustrates \\\nthat label-values can span multiple lines.\""),
        Instruction::Label(KeyValues {
            pairs: vec![kv(
                "description",
                "\"This text illustrates that label-values can span multiple lines.\""
            )],
            legacy: false,
        })
    );
    assert_eq!(
        one("LABEL maintainer Jane Doe"),
        Instruction::Label(KeyValues {
            pairs: vec![kv("maintainer", "Jane Doe")],
            legacy: true,
        })
    );
    assert_eq!(
        one_err("LABEL k"),
        "Dockerfile:2: LABEL: missing value for \"k\""
    );
}

#[test]
fn arg_forms() {
    let decl = |name: &str, default: Option<&str>| ArgDecl {
        name: name.into(),
        default: default.map(str::to_string),
    };
    assert_eq!(
        one("ARG user1"),
        Instruction::Arg(ArgInstruction {
            args: vec![decl("user1", None)]
        })
    );
    assert_eq!(
        one("ARG buildno=1 user=\"some user\" empty= plain"),
        Instruction::Arg(ArgInstruction {
            args: vec![
                decl("buildno", Some("1")),
                decl("user", Some("\"some user\"")),
                decl("empty", Some("")),
                decl("plain", None),
            ]
        })
    );
    assert_eq!(
        one_err("ARG"),
        "Dockerfile:2: ARG: requires at least one argument"
    );
    assert_eq!(
        one_err("ARG =x"),
        "Dockerfile:2: ARG: names can not be blank"
    );
}

// ---- single-value instructions ----

#[test]
fn single_value_instructions() {
    assert_eq!(
        one("USER patrick:staff"),
        Instruction::User("patrick:staff".into())
    );
    assert_eq!(one("USER a b"), Instruction::User("a b".into()));
    assert_eq!(
        one("WORKDIR ${FOO}/bar"),
        Instruction::Workdir("${FOO}/bar".into())
    );
    assert_eq!(
        one("STOPSIGNAL SIGKILL"),
        Instruction::StopSignal("SIGKILL".into())
    );
    assert_eq!(
        one("MAINTAINER Jane <jane@example.com>"),
        Instruction::Maintainer("Jane <jane@example.com>".into())
    );
    assert_eq!(
        one_err("USER"),
        "Dockerfile:2: USER: requires exactly one argument"
    );
    assert_eq!(
        one_err("WORKDIR"),
        "Dockerfile:2: WORKDIR: requires exactly one argument"
    );
    assert_eq!(
        one_err("WORKDIR --x=1 /a"),
        "Dockerfile:2: WORKDIR: unknown flag: x"
    );
}

#[test]
fn expose_and_volume() {
    assert_eq!(
        one("EXPOSE 80/tcp 80/udp  $PORT"),
        Instruction::Expose(strings(&["80/tcp", "80/udp", "$PORT"]))
    );
    assert_eq!(
        one_err("EXPOSE"),
        "Dockerfile:2: EXPOSE: requires at least one argument"
    );
    assert_eq!(
        one("VOLUME [\"/var/www\", \"/var/log/apache2\"]"),
        Instruction::Volume(strings(&["/var/www", "/var/log/apache2"]))
    );
    assert_eq!(
        one("VOLUME /data /logs"),
        Instruction::Volume(strings(&["/data", "/logs"]))
    );
    assert_eq!(
        one_err("VOLUME [\"/a\", \" \"]"),
        "Dockerfile:2: VOLUME: volume path can not be an empty string"
    );
    assert_eq!(
        one_err("VOLUME []"),
        "Dockerfile:2: VOLUME: requires at least one argument"
    );
}

// ---- ADD and COPY ----

#[test]
fn copy_forms_and_flags() {
    let c = copy("COPY --from=build --chown=55:mygroup --chmod=644 --link --parents --exclude=*.txt --exclude=*.md files* /somedir/");
    assert_eq!(
        c,
        CopyInstruction {
            sources: vec![Source::Path("files*".into())],
            dest: "/somedir/".into(),
            from: Some("build".into()),
            chown: Some("55:mygroup".into()),
            chmod: Some("644".into()),
            link: true,
            parents: true,
            exclude: strings(&["*.txt", "*.md"]),
        }
    );
    let c = copy("COPY [\"my file.txt\", \"other\", \"/dest dir/\"]");
    assert_eq!(
        c.sources,
        [
            Source::Path("my file.txt".into()),
            Source::Path("other".into())
        ]
    );
    assert_eq!(c.dest, "/dest dir/");
    assert!(!c.link && c.from.is_none());
    assert!(!copy("COPY --link=false a b").link);
    assert_eq!(copy("COPY --from= a b").from, None);
}

#[test]
fn copy_errors() {
    assert_eq!(
        one_err("COPY onlyone"),
        "Dockerfile:2: COPY: requires at least two arguments, but only one was provided. destination could not be determined"
    );
    assert_eq!(
        one_err("COPY --keep-git-dir a b"),
        "Dockerfile:2: COPY: unknown flag: keep-git-dir"
    );
    assert_eq!(
        one_err("COPY --chown a b"),
        "Dockerfile:2: COPY: missing a value on flag: chown"
    );
    assert_eq!(
        one_err("COPY --link=maybe a b"),
        "Dockerfile:2: COPY: expecting boolean value for flag link, not: maybe"
    );
    assert_eq!(
        one_err("COPY --from=a --from=b x y"),
        "Dockerfile:2: COPY: duplicate flag specified: from"
    );
}

#[test]
fn add_forms_and_flags() {
    let a = match one("ADD --chown=1 --chmod=755 --link --keep-git-dir=true --checksum=sha256:abc --unpack=false --exclude=*.tmp https://example.com/a.tar.gz git@github.com:moby/buildkit.git#v0.14.1:docs /dest/") {
        Instruction::Add(add) => add,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        a,
        AddInstruction {
            sources: vec![
                Source::Path("https://example.com/a.tar.gz".into()),
                Source::Path("git@github.com:moby/buildkit.git#v0.14.1:docs".into()),
            ],
            dest: "/dest/".into(),
            chown: Some("1".into()),
            chmod: Some("755".into()),
            link: true,
            keep_git_dir: true,
            checksum: Some("sha256:abc".into()),
            unpack: Some(false),
            exclude: strings(&["*.tmp"]),
        }
    );
    match one("ADD [\"a b\", \"/c\"]") {
        Instruction::Add(add) => {
            assert_eq!(add.sources, [Source::Path("a b".into())]);
            assert_eq!(add.unpack, None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        one_err("ADD --from=x a b"),
        "Dockerfile:2: ADD: unknown flag: from"
    );
}

// ---- HEALTHCHECK ----

#[test]
fn healthcheck_forms() {
    assert_eq!(
        one("HEALTHCHECK NONE"),
        Instruction::Healthcheck(Healthcheck::Disable)
    );
    assert_eq!(
        one("HEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --start-interval=500ms --retries=4 \\\n  CMD curl -f http://localhost/ || exit 1"),
        Instruction::Healthcheck(Healthcheck::Check(HealthConfig {
            command: shell("curl -f http://localhost/ || exit 1"),
            interval: Some(Duration::from_secs(300)),
            timeout: Some(Duration::from_secs(3)),
            start_period: Some(Duration::from_secs(90)),
            start_interval: Some(Duration::from_millis(500)),
            retries: Some(4),
        }))
    );
    assert_eq!(
        one("healthcheck cmd [\"/bin/check\", \"-q\"]"),
        Instruction::Healthcheck(Healthcheck::Check(HealthConfig {
            command: exec(&["/bin/check", "-q"]),
            interval: None,
            timeout: None,
            start_period: None,
            start_interval: None,
            retries: None,
        }))
    );
}

#[test]
fn healthcheck_errors() {
    assert_eq!(
        one_err("HEALTHCHECK"),
        "Dockerfile:2: HEALTHCHECK: requires at least one argument"
    );
    assert_eq!(
        one_err("HEALTHCHECK NONE x"),
        "Dockerfile:2: HEALTHCHECK: NONE takes no arguments"
    );
    assert_eq!(
        one_err("HEALTHCHECK CMD"),
        "Dockerfile:2: HEALTHCHECK: missing command after CMD"
    );
    assert_eq!(
        one_err("HEALTHCHECK RUN x"),
        "Dockerfile:2: HEALTHCHECK: unknown type \"RUN\" in healthcheck (try CMD)"
    );
    assert_eq!(
        one_err("HEALTHCHECK --retries=-1 CMD x"),
        "Dockerfile:2: HEALTHCHECK: --retries cannot be negative (-1)"
    );
    assert_eq!(
        one_err("HEALTHCHECK --interval=1 CMD x"),
        "Dockerfile:2: HEALTHCHECK: time: missing unit in duration \"1\""
    );
    assert_eq!(
        one_err("HEALTHCHECK --timeout=1us CMD x"),
        "Dockerfile:2: HEALTHCHECK: interval \"timeout\" cannot be less than 1ms"
    );
    assert_eq!(
        one_err("HEALTHCHECK --period=1s CMD x"),
        "Dockerfile:2: HEALTHCHECK: unknown flag: period"
    );
}

// ---- ONBUILD ----

#[test]
fn onbuild_wraps_an_instruction() {
    assert_eq!(
        one("ONBUILD ADD . /app/src"),
        Instruction::Onbuild(OnbuildInstruction {
            expression: "ADD . /app/src".into(),
            trigger: Box::new(Instruction::Add(AddInstruction {
                sources: vec![Source::Path(".".into())],
                dest: "/app/src".into(),
                chown: None,
                chmod: None,
                link: false,
                keep_git_dir: false,
                checksum: None,
                unpack: None,
                exclude: vec![],
            })),
        })
    );
    match one("onbuild RUN --mount=from=config,target=/opt/appconfig ls") {
        Instruction::Onbuild(onbuild) => {
            assert_eq!(
                onbuild.expression,
                "RUN --mount=from=config,target=/opt/appconfig ls"
            );
            match *onbuild.trigger {
                Instruction::Run(run) => assert_eq!(run.mounts[0].from.as_deref(), Some("config")),
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn onbuild_errors() {
    assert_eq!(
        one_err("ONBUILD ONBUILD RUN x"),
        "Dockerfile:2: ONBUILD: chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    assert_eq!(
        one_err("ONBUILD FROM x"),
        "Dockerfile:2: ONBUILD: FROM isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        one_err("ONBUILD maintainer x"),
        "Dockerfile:2: ONBUILD: MAINTAINER isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        one_err("ONBUILD"),
        "Dockerfile:2: ONBUILD: requires at least one argument"
    );
    assert_eq!(
        one_err("ONBUILD FOO bar"),
        "Dockerfile:2: ONBUILD: unknown instruction: FOO"
    );
    assert_eq!(
        one_err("ONBUILD RUN --foo x"),
        "Dockerfile:2: ONBUILD: RUN: unknown flag: foo"
    );
}

// ---- heredocs ----

#[test]
fn run_heredoc() {
    let file =
        parse_ok("FROM debian\nRUN <<EOT bash\n  set -ex\n  apt-get update\nEOT\nRUN echo after\n");
    let instructions = &file.stages[0].instructions;
    assert_eq!((instructions[0].line, instructions[0].end_line), (2, 5));
    assert_eq!(instructions[0].original, "RUN <<EOT bash");
    match &instructions[0].value {
        Instruction::Run(run) => {
            assert_eq!(run.command, shell("<<EOT bash"));
            assert_eq!(
                run.heredocs,
                [Heredoc {
                    name: "EOT".into(),
                    content: "  set -ex\n  apt-get update\n".into(),
                    expand: true,
                    chomp: false,
                    fd: 0,
                    line: 3,
                }]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(instructions[1].line, 6);
}

#[test]
fn heredoc_bodies_are_verbatim() {
    let r =
        run("RUN <<COMMENT\n# internal comment\necho hello \\\n\necho foo bar # trailing\nCOMMENT");
    assert_eq!(
        r.heredocs[0].content,
        "# internal comment\necho hello \\\n\necho foo bar # trailing\n"
    );
    let r = run("RUN <<EMPTY\nEMPTY");
    assert_eq!(r.heredocs[0].content, "");
    let r = run("RUN <<INDENT\n\tfoo\n\tbar\nINDENT");
    assert_eq!(r.heredocs[0].content, "\tfoo\n\tbar\n");
}

#[test]
fn heredoc_tab_stripping_and_quoting() {
    let r = run("RUN <<-UNINDENT\n\tbaz\n\t\tquux\n\tUNINDENT");
    assert_eq!(r.heredocs[0].content, "baz\nquux\n");
    assert!(r.heredocs[0].chomp && r.heredocs[0].expand);
    let r = run("RUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND");
    assert_eq!(r.heredocs[0].content, "don't expand $NAME\n");
    assert!(!r.heredocs[0].expand);
    let r = run("RUN <<\"EOF\"\n$X\nEOF");
    assert!(!r.heredocs[0].expand);
    assert_eq!(run("RUN 3<<EOF\nx\nEOF").heredocs[0].fd, 3);
}

#[test]
fn several_heredocs_on_one_line() {
    let file = parse_ok("FROM alpine\nRUN <<FILE1 cat > file1 && <<FILE2 cat > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2\nCOPY <<X <<Y /dest\nY\nX\nX\nY\n");
    let instructions = &file.stages[0].instructions;
    match &instructions[0].value {
        Instruction::Run(run) => {
            let docs: Vec<_> = run
                .heredocs
                .iter()
                .map(|h| (h.name.as_str(), h.content.as_str(), h.line))
                .collect();
            assert_eq!(
                docs,
                [
                    ("FILE1", "I am\nfirst\n", 3),
                    ("FILE2", "I am\nsecond\n", 6)
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((instructions[0].line, instructions[0].end_line), (2, 8));
    match &instructions[1].value {
        Instruction::Copy(copy) => {
            let contents: Vec<_> = copy
                .sources
                .iter()
                .map(|s| match s {
                    Source::Heredoc(h) => (h.name.as_str(), h.content.as_str()),
                    Source::Path(p) => panic!("path {p}"),
                })
                .collect();
            assert_eq!(contents, [("X", "Y\n"), ("Y", "X\n")]);
            assert_eq!(copy.dest, "/dest");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(instructions[1].line, 9);
}

#[test]
fn copy_heredoc_with_paths_and_flags() {
    let c = copy("COPY --chmod=755 <<-EOT local.txt /script.sh\n\techo \"hello ${FOO}\"\nEOT");
    assert_eq!(c.chmod.as_deref(), Some("755"));
    assert_eq!(c.dest, "/script.sh");
    match &c.sources[..] {
        [Source::Heredoc(h), Source::Path(p)] => {
            assert_eq!(h.content, "echo \"hello ${FOO}\"\n");
            assert!(h.expand);
            assert_eq!(p, "local.txt");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn heredoc_markers_that_are_not_heredocs() {
    // Quoted markers, JSON form, and instructions without heredoc support.
    assert_eq!(run("RUN \"<<NOHEREDOC\"").heredocs, []);
    let instructions = body("FROM x\nRUN [\"<<EOF\"]\nUSER <<INVALID\nCMD <<EOF\n");
    assert_eq!(instructions.len(), 3);
    assert_eq!(instructions[1], Instruction::User("<<INVALID".into()));
    assert_eq!(
        copy("COPY [\"<<EOF\", \"/dest\"]").sources,
        [Source::Path("<<EOF".into())]
    );
}

#[test]
fn onbuild_heredoc() {
    match one("ONBUILD RUN <<EOF\necho hi\nEOF") {
        Instruction::Onbuild(onbuild) => {
            assert_eq!(onbuild.expression, "RUN <<EOF\necho hi\nEOF");
            match *onbuild.trigger {
                Instruction::Run(run) => assert_eq!(run.heredocs[0].content, "echo hi\n"),
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn heredoc_errors() {
    assert_eq!(
        parse_err("FROM x\nRUN <<EOF\necho\nEOF2\n"),
        "Dockerfile:2: RUN: unterminated heredoc \"EOF\""
    );
    assert_eq!(
        one_err("COPY a <<EOF\nx\nEOF"),
        "Dockerfile:2: COPY: cannot accept a heredoc as a destination"
    );
    // `<<-` allows an indented terminator, `<<` does not.
    assert_eq!(
        parse_err("FROM x\nRUN <<EOF\necho\n\tEOF\n"),
        "Dockerfile:2: RUN: unterminated heredoc \"EOF\""
    );
}

// ---- errors in general ----

#[test]
fn unknown_instruction() {
    let err = parse("Dockerfile", "FROM x\n\n\n\n\n\nFORM y\n").unwrap_err();
    assert_eq!(err.to_string(), "Dockerfile:7: unknown instruction: FORM");
    assert_eq!(err.file(), "Dockerfile");
    assert_eq!(err.line(), 7);
    assert_eq!(err.instruction(), Some("FORM"));
    assert_eq!(
        parse_err("FROM x\nruncmd y\n"),
        "Dockerfile:2: unknown instruction: RUNCMD"
    );
}

#[test]
fn errors_escape_terminal_controls_from_the_input() {
    assert_eq!(
        parse_err("FROM x\n\x1b[2Jrun y\n"),
        r"Dockerfile:2: unknown instruction: \x1b[2JRUN"
    );
    let err = parse("Docker\x07file", "FROM x AS a\u{202e}b\n").unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with(r"Docker\x07file:1: FROM: "), "{text}");
    assert!(
        text.contains(r"\u{202e}") && !text.contains('\u{202e}'),
        "{text}"
    );
}

#[test]
fn error_accessors() {
    let err = parse("build/Dockerfile.dev", "FROM x\nENV A\n").unwrap_err();
    assert_eq!(err.file(), "build/Dockerfile.dev");
    assert_eq!(err.line(), 2);
    assert_eq!(err.instruction(), Some("ENV"));
    let err = parse("f", "# escape=?\n").unwrap_err();
    assert_eq!(err.instruction(), None);
}

// ---- single instructions (`--change`) ----

#[test]
fn single_instruction() {
    assert_eq!(
        parse_instruction("CMD [\"sh\"]").unwrap(),
        Instruction::Cmd(exec(&["sh"]))
    );
    assert_eq!(
        parse_instruction("ENV A=1 \\\n  B=2").unwrap(),
        Instruction::Env(KeyValues {
            pairs: vec![kv("A", "1"), kv("B", "2")],
            legacy: false
        })
    );
    assert_eq!(
        parse_instruction("EXPOSE 8080").unwrap(),
        Instruction::Expose(strings(&["8080"]))
    );
    assert_eq!(
        parse_instruction("ENV FOO").unwrap_err().to_string(),
        "line 1: ENV: missing value for \"FOO\""
    );
    assert_eq!(
        parse_instruction("NOPE x").unwrap_err().to_string(),
        "line 1: unknown instruction: NOPE"
    );
    assert_eq!(
        parse_instruction("").unwrap_err().to_string(),
        "line 1: no instruction found"
    );
    assert_eq!(
        parse_instruction("CMD a\nCMD b").unwrap_err().to_string(),
        "line 2: expected a single instruction"
    );
}

// ---- variable expansion table ----

#[test]
fn expands_variables_table() {
    let expanding = [
        "ADD a b",
        "ARG a=$b",
        "COPY a b",
        "ENV a=b",
        "EXPOSE 80",
        "FROM x",
        "LABEL a=b",
        "STOPSIGNAL 9",
        "USER u",
        "VOLUME /v",
        "WORKDIR /w",
        "ONBUILD COPY a b",
    ];
    for text in expanding {
        assert!(
            parse_instruction(text).unwrap().expands_variables(),
            "{text}"
        );
    }
    let literal = [
        "RUN x",
        "CMD x",
        "ENTRYPOINT x",
        "SHELL [\"sh\"]",
        "HEALTHCHECK NONE",
        "MAINTAINER m",
        "ONBUILD RUN x",
    ];
    for text in literal {
        assert!(
            !parse_instruction(text).unwrap().expands_variables(),
            "{text}"
        );
    }
}

#[test]
fn expansion_of_parsed_values() {
    // The executor's job, sketched: parsed values are raw, expand removes
    // quotes and substitutes.
    let vars = |name: &str| match name {
        "FOO" => Some("/bar".to_string()),
        _ => None,
    };
    let file = parse_ok("FROM busybox\nENV FOO=/bar\nWORKDIR ${FOO}\nADD . $FOO\nCOPY \\$FOO /quux\nLABEL \"a b\"=\"c $FOO\"\n");
    let escape = file.directives.escape;
    let instructions: Vec<_> = file.stages[0]
        .instructions
        .iter()
        .map(|l| &l.value)
        .collect();
    match instructions[1] {
        Instruction::Workdir(dir) => assert_eq!(expand(dir, escape, &vars).unwrap(), "/bar"),
        other => panic!("{other:?}"),
    }
    match instructions[2] {
        Instruction::Add(add) => assert_eq!(expand(&add.dest, escape, &vars).unwrap(), "/bar"),
        other => panic!("{other:?}"),
    }
    match instructions[3] {
        Instruction::Copy(copy) => match &copy.sources[0] {
            Source::Path(path) => assert_eq!(expand(path, escape, &vars).unwrap(), "$FOO"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    match instructions[4] {
        Instruction::Label(labels) => {
            let pair = &labels.pairs[0];
            assert_eq!(expand(&pair.key, escape, &vars).unwrap(), "a b");
            assert_eq!(expand(&pair.value, escape, &vars).unwrap(), "c /bar");
        }
        other => panic!("{other:?}"),
    }
}

// ---- robustness ----

const SAMPLES: &[&str] = &[
    "# syntax=docker/dockerfile:1\n# escape=`\n\nARG BASE=alpine\nFROM --platform=$BUILDPLATFORM ${BASE} AS build\nRUN --mount=type=cache,target=/root/.cache `\n    --network=none go build ./...\nCOPY --from=build --chown=1:1 [\"/out\", \"/app\"]\n",
    "FROM debian\nRUN <<EOT bash\n  set -ex\nEOT\nCOPY <<-\"EOF\" /etc/x.conf\n\tkey=$VALUE\nEOF\nONBUILD RUN <<A cat\nbody\nA\n",
    "FROM x\nENV A=\"b c\" D=e\\ f\nLABEL k v w\nARG a b=c\nEXPOSE 80/tcp\nVOLUME [\"/v\"]\nUSER u:g\nWORKDIR /w\nSTOPSIGNAL SIGTERM\n",
    "FROM x\nHEALTHCHECK --interval=5m --timeout=3s --retries=3 CMD curl -f http://localhost/ || exit 1\nSHELL [\"powershell\", \"-command\"]\nENTRYPOINT [\"top\", \"-b\"]\nCMD [\"-c\"]\nMAINTAINER me\n",
    "FROM x\nRUN echo \\\n# comment\n\n  more \\\n  done\nADD --checksum=sha256:0 --keep-git-dir https://x/y.git#main /src\n",
];

/// A small deterministic generator so the test needs no dependencies.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 1) as usize
    }
}

fn check_no_panic(src: &str) {
    let _ = parse("Dockerfile", src);
    let _ = parse_instruction(src);
    let lookup = |name: &str| name.len().is_multiple_of(2).then(|| name.repeat(2));
    for escape in ['\\', '`'] {
        let _ = expand(src, escape, &lookup);
        let _ = expand_words(src, escape, &lookup);
    }
    let _ = expand_heredoc(src, &lookup);
}

#[test]
fn mutated_inputs_never_panic() {
    const PIECES: &[&str] = &[
        "\\",
        "`",
        "\"",
        "'",
        "$",
        "${",
        "}",
        "{",
        "[",
        "]",
        "<<",
        "<<-",
        "\n",
        "\r\n",
        "#",
        "=",
        "--",
        "\t",
        " ",
        ",",
        ":",
        "-",
        "+",
        "?",
        "%",
        "#",
        "/",
        "//",
        "*",
        "EOF",
        "\u{feff}",
        "é",
        "😀",
        "\u{a0}",
        "FROM x\n",
        "RUN ",
        "ONBUILD ",
        "--mount=",
        "type=cache,",
        "[\"a\"",
        "${a:-",
        "${a/",
        "${a#*",
        "\\\n",
        "`\n",
        "0",
    ];
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for sample in SAMPLES {
        let chars: Vec<char> = sample.chars().collect();
        // Every prefix and every single-character deletion.
        for cut in 0..=chars.len() {
            check_no_panic(&chars[..cut].iter().collect::<String>());
            let mut deleted = chars.clone();
            if cut < deleted.len() {
                deleted.remove(cut);
                check_no_panic(&deleted.iter().collect::<String>());
            }
        }
        // Random insertions, replacements and line shuffles.
        for _ in 0..1500 {
            let mut text: Vec<char> = chars.clone();
            for _ in 0..1 + rng.next() % 4 {
                let at = rng.next() % (text.len() + 1);
                let piece: Vec<char> = PIECES[rng.next() % PIECES.len()].chars().collect();
                match rng.next() % 3 {
                    0 => {
                        text.splice(at..at, piece);
                    }
                    1 if at < text.len() => {
                        let end = (at + 1 + rng.next() % 4).min(text.len());
                        text.splice(at..end, piece);
                    }
                    _ => {
                        let text_string: String = text.iter().collect();
                        let mut lines: Vec<&str> = text_string.split('\n').collect();
                        if lines.len() > 1 {
                            let a = rng.next() % lines.len();
                            let b = rng.next() % lines.len();
                            lines.swap(a, b);
                        }
                        text = lines.join("\n").chars().collect();
                    }
                }
            }
            check_no_panic(&text.iter().collect::<String>());
        }
    }
}

#[test]
fn pathological_inputs_never_panic() {
    check_no_panic(&"ONBUILD ".repeat(10_000));
    check_no_panic(&"[".repeat(10_000));
    check_no_panic(&format!("FROM x\nRUN {}", "<<A ".repeat(2_000)));
    check_no_panic(&"${a:-".repeat(2_000));
    check_no_panic(&"\\\n".repeat(10_000));
    check_no_panic(&format!("FROM x\nCMD {}", "[".repeat(5_000)));
}

#[test]
fn tab_separated_legacy_file() {
    let src = "# Build environment\n#\n# Usage: docker build -t dev .\n\nFROM\tdebian:12\nLABEL\tmaintainer\tJane Doe <jane@example.com>\n\n# packages\nRUN\tapt-get update && apt-get install -yq \\\n\tcurl \\\n\t# keep git for the version stamp\n\tgit \\\n\t--no-install-recommends\nENV\tPLATFORMS\t\\\n\tlinux/386 linux/arm \\\n\tdarwin/amd64\nENV\tGOARM\t5\nRUN\t/bin/echo -e '[default]\\naccess_key=$KEY' > /.cfg\nVOLUME\t/var/lib/data\nENTRYPOINT\t[\"hack/entry\"]\nCOPY\t.\t/src\n";
    let file = parse_ok(src);
    assert_eq!(file.directives.escape, '\\');
    let instructions = &file.stages[0].instructions;
    let values: Vec<&Instruction> = instructions.iter().map(|l| &l.value).collect();
    assert_eq!(
        *values[0],
        Instruction::Label(KeyValues {
            pairs: vec![kv("maintainer", "Jane Doe <jane@example.com>")],
            legacy: true
        })
    );
    assert_eq!(
        *values[1],
        Instruction::Run(run(
            "RUN apt-get update && apt-get install -yq \tcurl \tgit \t--no-install-recommends"
        ))
    );
    assert_eq!((instructions[1].line, instructions[1].end_line), (9, 13));
    assert_eq!(
        *values[2],
        Instruction::Env(KeyValues {
            pairs: vec![kv("PLATFORMS", "linux/386 linux/arm \tdarwin/amd64")],
            legacy: true
        })
    );
    assert_eq!(*values[5], Instruction::Volume(strings(&["/var/lib/data"])));
    assert_eq!(*values[6], Instruction::Entrypoint(exec(&["hack/entry"])));
    assert_eq!(
        *values[7],
        Instruction::Copy(CopyInstruction {
            sources: vec![Source::Path(".".into())],
            dest: "/src".into(),
            from: None,
            chown: None,
            chmod: None,
            link: false,
            parents: false,
            exclude: vec![],
        })
    );
}
