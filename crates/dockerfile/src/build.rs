//! Turning one split instruction line into a typed [`Instruction`], with the
//! argument rules and messages of BuildKit's `instructions` package.

use crate::ast::{
    AddInstruction, ArgDecl, ArgInstruction, Command, CopyInstruction, FromInstruction,
    HealthConfig, Healthcheck, Heredoc, Instruction, KeyValue, KeyValues, NetworkMode,
    OnbuildInstruction, RunInstruction, SecurityMode, Source,
};
use crate::duration::parse_interval;
use crate::flags::{Flags, Kind};
use crate::heredoc::parse_marker;
use crate::mount::Mount;
use crate::syntax::{
    is_split_space, json_or_words, parse_json, parse_words, split_command, split_whitespace, Json,
    NOT_STRINGS,
};

const AT_LEAST_ONE: &str = "requires at least one argument";
const EXACTLY_ONE: &str = "requires exactly one argument";

/// A heredoc as read from the source: the parsed form plus the body before
/// tab stripping, which `ONBUILD` stores verbatim.
#[derive(Debug)]
pub(crate) struct ReadHeredoc {
    pub heredoc: Heredoc,
    pub raw: String,
}

/// Why an instruction line did not build.
#[derive(Debug)]
pub(crate) enum BuildError {
    /// The keyword (upper-cased) is not an instruction.
    Unknown(String),
    Invalid {
        instruction: String,
        message: String,
    },
}

/// The pieces of a split instruction line.
pub(crate) struct Line<'a> {
    /// Keyword as written.
    pub keyword: &'a str,
    pub flags: &'a [String],
    pub args: &'a str,
    /// The whole logical line, trimmed.
    pub original: &'a str,
    pub escape: char,
}

/// Builds the instruction for `line`; `heredocs` are the bodies read after it.
pub(crate) fn build(line: &Line, heredocs: Vec<ReadHeredoc>) -> Result<Instruction, BuildError> {
    let Line {
        flags,
        args,
        escape,
        ..
    } = *line;
    let keyword = line.keyword.to_uppercase();
    let result = match line.keyword.to_lowercase().as_str() {
        "add" => add(flags, args, heredocs).map(Instruction::Add),
        "arg" => no_flags(flags)
            .and_then(|()| arg(args, escape))
            .map(Instruction::Arg),
        "cmd" => no_flags(flags)
            .and_then(|()| command(args))
            .map(Instruction::Cmd),
        "copy" => copy(flags, args, heredocs).map(Instruction::Copy),
        "entrypoint" => no_flags(flags)
            .and_then(|()| command(args))
            .map(Instruction::Entrypoint),
        "env" => no_flags(flags)
            .and_then(|()| key_values(args, escape))
            .map(Instruction::Env),
        "expose" => no_flags(flags)
            .and_then(|()| expose(args))
            .map(Instruction::Expose),
        "from" => from(flags, args).map(Instruction::From),
        "healthcheck" => healthcheck(flags, args).map(Instruction::Healthcheck),
        "label" => no_flags(flags)
            .and_then(|()| key_values(args, escape))
            .map(Instruction::Label),
        "maintainer" => single(flags, args).map(Instruction::Maintainer),
        "onbuild" => onbuild(line, heredocs).map(Instruction::Onbuild),
        "run" => run(flags, args, heredocs).map(Instruction::Run),
        "shell" => no_flags(flags)
            .and_then(|()| shell(args))
            .map(Instruction::Shell),
        "stopsignal" => single(flags, args).map(Instruction::StopSignal),
        "user" => single(flags, args).map(Instruction::User),
        "volume" => no_flags(flags)
            .and_then(|()| volume(args))
            .map(Instruction::Volume),
        "workdir" => single(flags, args).map(Instruction::Workdir),
        _ => return Err(BuildError::Unknown(keyword)),
    };
    result.map_err(|message| BuildError::Invalid {
        instruction: keyword,
        message,
    })
}

/// Whether the line can carry heredocs: non-JSON `RUN`, `COPY`, `ADD`,
/// directly or as an `ONBUILD` trigger. Only then are bodies read.
pub(crate) fn takes_heredocs(keyword: &str, args: &str) -> bool {
    match keyword.to_lowercase().as_str() {
        "run" | "copy" | "add" => !matches!(parse_json(args), Json::Array(_)),
        "onbuild" => {
            let (inner, _, inner_args) = split_command(args);
            inner.to_lowercase() != "onbuild" && takes_heredocs(&inner, &inner_args)
        }
        _ => false,
    }
}

fn no_flags(flags: &[String]) -> Result<(), String> {
    Flags::parse(flags, &[]).map(drop)
}

/// `MAINTAINER`, `USER`, `WORKDIR`, `STOPSIGNAL`: the whole rest of the line
/// is the one argument, spaces included.
fn single(flags: &[String], args: &str) -> Result<String, String> {
    no_flags(flags)?;
    if args.is_empty() {
        return Err(EXACTLY_ONE.to_string());
    }
    Ok(args.to_string())
}

fn command(args: &str) -> Result<Command, String> {
    match parse_json(args) {
        Json::Array(items) => Ok(Command::Exec(items)),
        Json::NotStrings => Err(NOT_STRINGS.to_string()),
        Json::Shell => Ok(Command::Shell(args.to_string())),
    }
}

fn from(flags: &[String], args: &str) -> Result<FromInstruction, String> {
    let words = split_whitespace(args);
    let name = match words.as_slice() {
        [_] => None,
        [_, as_word, name] if as_word.eq_ignore_ascii_case("as") => Some(stage_name(name)?),
        _ => return Err("requires either one or three arguments".to_string()),
    };
    let flags = Flags::parse(flags, &[("platform", Kind::Str)])?;
    Ok(FromInstruction {
        image: words[0].clone(),
        name,
        platform: flags.non_empty("platform"),
    })
}

fn stage_name(word: &str) -> Result<String, String> {
    let name = word.to_lowercase();
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(name)
    } else {
        Err(format!(
            "invalid name for build stage: {word:?}, name can't start with a number or contain symbols"
        ))
    }
}

fn run(flags: &[String], args: &str, heredocs: Vec<ReadHeredoc>) -> Result<RunInstruction, String> {
    let flags = Flags::parse(
        flags,
        &[
            ("mount", Kind::List),
            ("network", Kind::Str),
            ("security", Kind::Str),
        ],
    )?;
    let command = command(args)?;
    if command == Command::Shell(String::new()) {
        return Err(AT_LEAST_ONE.to_string());
    }
    let network = match flags.string("network").as_deref() {
        None | Some("default") => NetworkMode::Default,
        Some("none") => NetworkMode::None,
        Some("host") => NetworkMode::Host,
        Some(other) => return Err(format!("invalid network mode {other:?}")),
    };
    let security = match flags.string("security").as_deref() {
        None | Some("sandbox") => SecurityMode::Sandbox,
        Some("insecure") => SecurityMode::Insecure,
        Some(other) => return Err(format!("security {other:?} is not valid")),
    };
    let mounts = flags
        .list("mount")
        .iter()
        .map(|spec| Mount::parse(spec))
        .collect::<Result<_, _>>()?;
    Ok(RunInstruction {
        command,
        heredocs: heredocs.into_iter().map(|h| h.heredoc).collect(),
        mounts,
        network,
        security,
    })
}

fn shell(args: &str) -> Result<Vec<String>, String> {
    match parse_json(args) {
        Json::Array(items) if !items.is_empty() => Ok(items),
        Json::NotStrings => Err(NOT_STRINGS.to_string()),
        Json::Shell if !args.is_empty() => {
            Err("requires the arguments to be in json form".to_string())
        }
        _ => Err(AT_LEAST_ONE.to_string()),
    }
}

/// `ENV`/`LABEL`: `k=v k2="v 2"`, or the legacy `k value with spaces` when
/// the first word has no `=`.
fn key_values(args: &str, escape: char) -> Result<KeyValues, String> {
    let words = parse_words(args, escape);
    let Some(first) = words.first() else {
        return Err(AT_LEAST_ONE.to_string());
    };
    let (pairs, legacy) = if first.contains('=') {
        let pairs = words
            .iter()
            .map(|word| {
                word.split_once('=')
                    .map(|(key, value)| KeyValue {
                        key: key.to_string(),
                        value: value.to_string(),
                    })
                    .ok_or_else(|| {
                        format!("can't find = in {word:?}. must be of the form: name=value")
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        (pairs, false)
    } else {
        let Some((key, value)) = args.split_once(is_split_space) else {
            return Err(format!("missing value for {args:?}"));
        };
        let pair = KeyValue {
            key: key.to_string(),
            value: value.trim_start_matches(is_split_space).to_string(),
        };
        (vec![pair], true)
    };
    if pairs.iter().any(|pair| pair.key.is_empty()) {
        return Err("names can not be blank".to_string());
    }
    Ok(KeyValues { pairs, legacy })
}

fn arg(args: &str, escape: char) -> Result<ArgInstruction, String> {
    let words = parse_words(args, escape);
    if words.is_empty() {
        return Err(AT_LEAST_ONE.to_string());
    }
    let args = words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => Err("names can not be blank".to_string()),
            Some((name, default)) => Ok(ArgDecl {
                name: name.to_string(),
                default: Some(default.to_string()),
            }),
            None => Ok(ArgDecl {
                name: word,
                default: None,
            }),
        })
        .collect::<Result<_, _>>()?;
    Ok(ArgInstruction { args })
}

fn expose(args: &str) -> Result<Vec<String>, String> {
    let ports = split_whitespace(args);
    if ports.is_empty() {
        return Err(AT_LEAST_ONE.to_string());
    }
    Ok(ports)
}

fn volume(args: &str) -> Result<Vec<String>, String> {
    let paths = json_or_words(args)?;
    if paths.is_empty() {
        return Err(AT_LEAST_ONE.to_string());
    }
    paths
        .into_iter()
        .map(|path| {
            let path = path.trim();
            if path.is_empty() {
                Err("volume path can not be an empty string".to_string())
            } else {
                Ok(path.to_string())
            }
        })
        .collect()
}

/// Sources and destination of `ADD`/`COPY`; a `<<NAME` source becomes the
/// heredoc body of that name read after the line.
fn sources_and_dest(
    args: &str,
    heredocs: Vec<ReadHeredoc>,
) -> Result<(Vec<Source>, String), String> {
    let mut words = json_or_words(args)?;
    let Some(dest) = words.pop().filter(|_| !words.is_empty()) else {
        return Err("requires at least two arguments, but only one was provided. destination could not be determined".to_string());
    };
    if parse_marker(&dest).is_some() {
        return Err("cannot accept a heredoc as a destination".to_string());
    }
    let mut bodies: Vec<Option<Heredoc>> = heredocs.into_iter().map(|h| Some(h.heredoc)).collect();
    let sources = words
        .into_iter()
        .map(|word| {
            let body = parse_marker(&word).and_then(|marker| {
                bodies
                    .iter_mut()
                    .find(|body| body.as_ref().is_some_and(|h| h.name == marker.name))
                    .and_then(Option::take)
            });
            body.map_or(Source::Path(word), Source::Heredoc)
        })
        .collect();
    Ok((sources, dest))
}

fn copy(
    flags: &[String],
    args: &str,
    heredocs: Vec<ReadHeredoc>,
) -> Result<CopyInstruction, String> {
    let flags = Flags::parse(
        flags,
        &[
            ("from", Kind::Str),
            ("chown", Kind::Str),
            ("chmod", Kind::Str),
            ("link", Kind::Bool),
            ("parents", Kind::Bool),
            ("exclude", Kind::List),
        ],
    )?;
    let (sources, dest) = sources_and_dest(args, heredocs)?;
    Ok(CopyInstruction {
        sources,
        dest,
        from: flags.non_empty("from"),
        chown: flags.non_empty("chown"),
        chmod: flags.non_empty("chmod"),
        link: flags.bool("link").unwrap_or(false),
        parents: flags.bool("parents").unwrap_or(false),
        exclude: flags.list("exclude"),
    })
}

fn add(flags: &[String], args: &str, heredocs: Vec<ReadHeredoc>) -> Result<AddInstruction, String> {
    let flags = Flags::parse(
        flags,
        &[
            ("chown", Kind::Str),
            ("chmod", Kind::Str),
            ("link", Kind::Bool),
            ("keep-git-dir", Kind::Bool),
            ("checksum", Kind::Str),
            ("unpack", Kind::Bool),
            ("exclude", Kind::List),
        ],
    )?;
    let (sources, dest) = sources_and_dest(args, heredocs)?;
    Ok(AddInstruction {
        sources,
        dest,
        chown: flags.non_empty("chown"),
        chmod: flags.non_empty("chmod"),
        link: flags.bool("link").unwrap_or(false),
        keep_git_dir: flags.bool("keep-git-dir").unwrap_or(false),
        checksum: flags.non_empty("checksum"),
        unpack: flags.bool("unpack"),
        exclude: flags.list("exclude"),
    })
}

fn onbuild(line: &Line, heredocs: Vec<ReadHeredoc>) -> Result<OnbuildInstruction, String> {
    no_flags(line.flags)?;
    if line.args.is_empty() {
        return Err(AT_LEAST_ONE.to_string());
    }
    let (keyword, flags, args) = split_command(line.args);
    match keyword.to_uppercase().as_str() {
        "ONBUILD" => return Err("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".to_string()),
        trigger @ ("FROM" | "MAINTAINER") => {
            return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
        }
        _ => {}
    }
    // The stored trigger is the line minus the ONBUILD keyword, followed by
    // each heredoc body and its terminator.
    let rest = line.original.trim_start();
    let mut expression = rest[rest.find(char::is_whitespace).unwrap_or(rest.len())..]
        .trim_start()
        .to_string();
    for heredoc in &heredocs {
        expression.push('\n');
        expression.push_str(&heredoc.raw);
        expression.push_str(&heredoc.heredoc.name);
    }
    let inner = Line {
        keyword: &keyword,
        flags: &flags,
        args: &args,
        original: line.args,
        escape: line.escape,
    };
    let trigger = build(&inner, heredocs).map_err(|err| match err {
        BuildError::Unknown(keyword) => format!("unknown instruction: {keyword}"),
        BuildError::Invalid {
            instruction,
            message,
        } => format!("{instruction}: {message}"),
    })?;
    Ok(OnbuildInstruction {
        expression,
        trigger: Box::new(trigger),
    })
}

fn healthcheck(flags: &[String], args: &str) -> Result<Healthcheck, String> {
    if args.is_empty() {
        return Err(AT_LEAST_ONE.to_string());
    }
    let (kind, rest) = match args.find(char::is_whitespace) {
        Some(at) => (&args[..at], args[at..].trim_start()),
        None => (args, ""),
    };
    let flags = Flags::parse(
        flags,
        &[
            ("interval", Kind::Str),
            ("timeout", Kind::Str),
            ("start-period", Kind::Str),
            ("start-interval", Kind::Str),
            ("retries", Kind::Str),
        ],
    )?;
    match kind.to_uppercase().as_str() {
        "NONE" if rest.is_empty() => Ok(Healthcheck::Disable),
        "NONE" => Err("NONE takes no arguments".to_string()),
        "CMD" => {
            let command = match parse_json(rest) {
                Json::Array(items) if !items.is_empty() => Command::Exec(items),
                Json::NotStrings => return Err(NOT_STRINGS.to_string()),
                Json::Shell if !rest.is_empty() => Command::Shell(rest.to_string()),
                _ => return Err("missing command after CMD".to_string()),
            };
            Ok(Healthcheck::Check(HealthConfig {
                command,
                interval: parse_interval("interval", flags.string("interval"))?,
                timeout: parse_interval("timeout", flags.string("timeout"))?,
                start_period: parse_interval("start-period", flags.string("start-period"))?,
                start_interval: parse_interval("start-interval", flags.string("start-interval"))?,
                retries: retries(flags.non_empty("retries"))?,
            }))
        }
        other => Err(format!("unknown type {other:?} in healthcheck (try CMD)")),
    }
}

/// `--retries=N`: 0 means Docker's default, negative is refused.
fn retries(value: Option<String>) -> Result<Option<u32>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    let count: i32 = value
        .parse()
        .map_err(|_| format!("invalid value for --retries: {value:?}"))?;
    match u32::try_from(count) {
        Ok(0) => Ok(None),
        Ok(count) => Ok(Some(count)),
        Err(_) => Err(format!("--retries cannot be negative ({count})")),
    }
}
