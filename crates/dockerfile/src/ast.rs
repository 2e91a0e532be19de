//! The typed syntax tree. Argument values are kept exactly as written
//! (quotes, escapes and `$VAR` references included) because expansion needs
//! the build environment of the stage being executed, which only the
//! executor knows; see [`crate::expand`] and [`Instruction::expands_variables`].

use std::time::Duration;

use crate::mount::Mount;

/// A whole parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Directives,
    /// `ARG`s before the first `FROM`: the only variables `FROM` lines see.
    pub args_before_from: Vec<Located<ArgInstruction>>,
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// Every variable declared before the first `FROM`, in order.
    pub fn meta_args(&self) -> impl Iterator<Item = &ArgDecl> {
        self.args_before_from
            .iter()
            .flat_map(|arg| arg.value.args.iter())
    }
}

/// Parser directives from the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `\` unless `# escape=` chose the backtick; pass it to [`crate::expand`].
    pub escape: char,
    /// `# syntax=`: recorded only, berth always uses its own frontend.
    pub syntax: Option<String>,
    /// `# check=`: recorded only, berth runs no build checks.
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            syntax: None,
            check: None,
        }
    }
}

/// One build stage: a `FROM` and the instructions up to the next `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The `AS` name, lower-cased as Docker does.
    pub name: Option<String>,
    pub from: Located<FromInstruction>,
    pub instructions: Vec<Located<Instruction>>,
}

/// Something parsed from the source, with where it came from, for error
/// messages and for image history (`created_by`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    /// First line (1-based).
    pub line: usize,
    /// Last line, including continuation lines and heredoc bodies.
    pub end_line: usize,
    /// The instruction text with continuations joined and comments removed,
    /// heredoc bodies excluded.
    pub original: String,
    pub value: T,
}

/// One Dockerfile instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Add(AddInstruction),
    Arg(ArgInstruction),
    Cmd(Command),
    Copy(CopyInstruction),
    Entrypoint(Command),
    Env(KeyValues),
    /// Ports as written; expand each with [`crate::expand_words`].
    Expose(Vec<String>),
    From(FromInstruction),
    Healthcheck(Healthcheck),
    Label(KeyValues),
    Maintainer(String),
    Onbuild(OnbuildInstruction),
    Run(RunInstruction),
    /// Always the JSON form.
    Shell(Vec<String>),
    StopSignal(String),
    User(String),
    Volume(Vec<String>),
    Workdir(String),
}

impl Instruction {
    /// The keyword, upper-case.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Add(_) => "ADD",
            Self::Arg(_) => "ARG",
            Self::Cmd(_) => "CMD",
            Self::Copy(_) => "COPY",
            Self::Entrypoint(_) => "ENTRYPOINT",
            Self::Env(_) => "ENV",
            Self::Expose(_) => "EXPOSE",
            Self::From(_) => "FROM",
            Self::Healthcheck(_) => "HEALTHCHECK",
            Self::Label(_) => "LABEL",
            Self::Maintainer(_) => "MAINTAINER",
            Self::Onbuild(_) => "ONBUILD",
            Self::Run(_) => "RUN",
            Self::Shell(_) => "SHELL",
            Self::StopSignal(_) => "STOPSIGNAL",
            Self::User(_) => "USER",
            Self::Volume(_) => "VOLUME",
            Self::Workdir(_) => "WORKDIR",
        }
    }

    /// Whether the builder substitutes `$VAR` in this instruction's arguments
    /// (the reference's "Environment replacement" list). `RUN`, `CMD` and
    /// `ENTRYPOINT` leave it to the shell. `ARG` is not in the reference's
    /// list, but BuildKit does expand `ARG` defaults (`ARG B=$A-x`), so it is
    /// included. `ONBUILD` expands when its trigger runs, if the trigger does.
    pub fn expands_variables(&self) -> bool {
        match self {
            Self::Add(_)
            | Self::Arg(_)
            | Self::Copy(_)
            | Self::Env(_)
            | Self::Expose(_)
            | Self::From(_)
            | Self::Label(_)
            | Self::StopSignal(_)
            | Self::User(_)
            | Self::Volume(_)
            | Self::Workdir(_) => true,
            Self::Onbuild(onbuild) => onbuild.trigger.expands_variables(),
            Self::Cmd(_)
            | Self::Entrypoint(_)
            | Self::Healthcheck(_)
            | Self::Maintainer(_)
            | Self::Run(_)
            | Self::Shell(_) => false,
        }
    }
}

/// `FROM [--platform=p] image [AS name]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromInstruction {
    pub image: String,
    /// Lower-cased stage name.
    pub name: Option<String>,
    pub platform: Option<String>,
}

/// The two ways to write a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// JSON array: run directly, no shell, no variable expansion.
    Exec(Vec<String>),
    /// Plain text handed to the `SHELL` (default `/bin/sh -c`).
    Shell(String),
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInstruction {
    /// For heredocs this is the line as written (`<<EOF bash`); the bodies
    /// are in `heredocs`.
    pub command: Command,
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<Mount>,
    pub network: NetworkMode,
    pub security: SecurityMode,
}

/// `RUN --network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    #[default]
    Default,
    None,
    Host,
}

/// `RUN --security`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityMode {
    #[default]
    Sandbox,
    Insecure,
}

/// A here-document body attached to `RUN`, `COPY` or `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word, quotes removed.
    pub name: String,
    /// The body, each line with its line ending, leading tabs already
    /// removed for `<<-`.
    pub content: String,
    /// False when any part of the delimiter was quoted (`<<"EOF"`): then
    /// `$VAR` in the body must stay literal.
    pub expand: bool,
    /// Written as `<<-`.
    pub chomp: bool,
    /// File descriptor prefix (`3<<EOF`), 0 when absent.
    pub fd: u32,
    /// Line of the first body line.
    pub line: usize,
}

/// An `ADD`/`COPY` source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Path(String),
    /// `COPY <<EOF /dest`: a file whose content is the heredoc.
    Heredoc(Heredoc),
}

/// `COPY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyInstruction {
    pub sources: Vec<Source>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
}

/// `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddInstruction {
    pub sources: Vec<Source>,
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub keep_git_dir: bool,
    pub checksum: Option<String>,
    /// `None`: unpack local archives, not remote ones.
    pub unpack: Option<bool>,
    pub exclude: Vec<String>,
}

/// `ENV` and `LABEL` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValues {
    pub pairs: Vec<KeyValue>,
    /// Written in the deprecated `KEY value` form.
    pub legacy: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// `ARG a b=c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgInstruction {
    pub args: Vec<ArgDecl>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

/// `ONBUILD <trigger>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnbuildInstruction {
    /// The trigger text stored in the image config, heredoc bodies appended.
    pub expression: String,
    pub trigger: Box<Instruction>,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: turn off an inherited check.
    Disable,
    Check(HealthConfig),
}

/// `HEALTHCHECK [options] CMD …`; `None` means Docker's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    pub command: Command,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<u32>,
}
