//! The `berth` command: docker's image and container commands, daemonless.

#![forbid(unsafe_code)]

mod attach;
mod cmd;
mod exit;
mod format;
mod output;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "A daemonless, Docker-compatible container engine"
)]
struct Cli {
    /// Where berth keeps its state.
    #[arg(
        long,
        global = true,
        env = "BERTH_ROOT",
        default_value = "/var/lib/berth"
    )]
    root: PathBuf,
    /// Log level (error, warn, info, debug, trace).
    #[arg(long, global = true, env = "BERTH_LOG", default_value = "warn")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load images from a tar archive or an OCI layout (default: standard input)
    Load(cmd::load::Args),
    /// Save images to a tar archive (default: standard output)
    Save(cmd::save::Args),
    /// Import a filesystem tarball as a one-layer image
    Import(cmd::import::Args),
    /// List images
    Images(cmd::images::Args),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(cmd::tag::Args),
    /// Remove one or more images
    Rmi(cmd::rmi::Args),
    /// Show the history of an image
    History(cmd::history::Args),
    /// Return low-level information on images
    Inspect(cmd::inspect::Args),
    /// Download an image from a registry
    Pull(cmd::pull::Args),
    /// Upload an image to a registry
    Push(cmd::push::Args),
    /// Log in to a registry
    Login(cmd::login::Args),
    /// Log out from a registry
    Logout(cmd::logout::Args),
    /// Create and run a new container from an image
    Run(cmd::run::Args),
    /// Create a new container
    Create(cmd::run::CreateArgs),
    /// Start one or more stopped containers
    Start(cmd::start::Args),
    /// List containers
    Ps(cmd::ps::Args),
    /// Fetch the logs of a container
    Logs(cmd::logs::Args),
    /// Stop one or more running containers
    Stop(cmd::stop::Args),
    /// Restart one or more containers
    Restart(cmd::restart::Args),
    /// Display a live stream of container(s) resource usage statistics
    Stats(cmd::stats::Args),
    /// List port mappings or a specific mapping for the container
    Port(cmd::port::Args),
    /// Kill one or more running containers
    Kill(cmd::kill::Args),
    /// Execute a command in a running container
    Exec(cmd::exec::Args),
    /// Attach local standard input, output, and error streams to a running container
    Attach(cmd::attach::Args),
    /// Rename a container
    Rename(cmd::rename::Args),
    /// Pause all processes within one or more containers
    Pause(cmd::pause::Args),
    /// Unpause all processes within one or more containers
    Unpause(cmd::pause::Args),
    /// Display the running processes of a container
    Top(cmd::top::Args),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(cmd::diff::Args),
    /// Create a new image from a container's changes
    Commit(cmd::commit::Args),
    /// Build an image from a Dockerfile
    Build(cmd::build::Args),
    /// Export a container's filesystem as a tar archive
    Export(cmd::export::Args),
    /// Copy files/folders between a container and the local filesystem
    Cp(cmd::cp::Args),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Remove one or more containers
    Rm(cmd::rm::Args),
    /// Block until one or more containers stop, then print their exit codes
    Wait(cmd::wait::Args),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Get real time events from berth
    Events(cmd::events::Args),
    /// Display system-wide information
    Info(cmd::info::Args),
    /// Show the berth version information
    Version(cmd::version::Args),
    /// Manage networks
    #[command(subcommand)]
    Network(cmd::network::NetworkCommand),
    /// Manage berth
    #[command(subcommand)]
    System(SystemCommand),
    /// Manage builds
    #[command(subcommand)]
    Builder(BuilderCommand),
    /// Serve the Docker Engine API (for the docker CLI, docker-compose, SDKs)
    Serve(cmd::serve::Args),
    /// Manage volumes
    #[command(subcommand)]
    Volume(cmd::volume::Command),
    /// Generate the autocompletion script for the specified shell
    Completion(cmd::completion::Args),
}

#[derive(Subcommand)]
enum BuilderCommand {
    /// Remove build cache
    Prune(cmd::builder_prune::Args),
}

#[derive(Subcommand)]
enum ImageCommand {
    /// List images
    #[command(visible_alias = "list", name = "ls")]
    Ls(cmd::images::Args),
    /// Remove one or more images
    #[command(visible_alias = "remove", name = "rm")]
    Rm(cmd::rmi::Args),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(cmd::tag::Args),
    /// Display detailed information on one or more images
    Inspect(cmd::inspect::Args),
    /// Show the history of an image
    History(cmd::history::Args),
    /// Load images from a tar archive or an OCI layout (default: standard input)
    Load(cmd::load::Args),
    /// Save images to a tar archive (default: standard output)
    Save(cmd::save::Args),
    /// Import a filesystem tarball as a one-layer image
    Import(cmd::import::Args),
    /// Download an image from a registry
    Pull(cmd::pull::Args),
    /// Upload an image to a registry
    Push(cmd::push::Args),
    /// Remove unused images
    Prune(cmd::prune::Args),
}

#[derive(Subcommand)]
enum ContainerCommand {
    /// Remove all stopped containers
    Prune(cmd::container_prune::Args),
    /// Attach local standard input, output, and error streams to a running container
    Attach(cmd::attach::Args),
    /// List containers
    #[command(visible_alias = "list", name = "ls")]
    Ls(cmd::ps::Args),
    /// Return low-level information on containers
    Inspect(cmd::inspect::Args),
    /// Remove one or more containers
    Rm(cmd::rm::Args),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(cmd::diff::Args),
    /// Create a new image from a container's changes
    Commit(cmd::commit::Args),
    /// Export a container's filesystem as a tar archive
    Export(cmd::export::Args),
    /// Copy files/folders between a container and the local filesystem
    Cp(cmd::cp::Args),
    /// Restart one or more containers
    Restart(cmd::restart::Args),
    /// Display a live stream of container(s) resource usage statistics
    Stats(cmd::stats::Args),
    /// List port mappings or a specific mapping for the container
    Port(cmd::port::Args),
}

#[derive(Subcommand)]
enum SystemCommand {
    /// Show disk usage
    Df(cmd::df::Args),
    /// Remove stopped containers, unused images and build cache
    Prune(cmd::system_prune::Args),
    /// Get real time events from berth
    Events(cmd::events::Args),
    /// Display system-wide information
    Info(cmd::info::Args),
}

/// Logs to stderr at `level` (`warn` when it does not parse).
/// netlink-packet-route warns about every attribute a newer kernel sends
/// that it does not know (harmless: berth never reads them), so only its
/// errors are shown.
fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| "warn".into())
        .add_directive(
            "netlink_packet_route=error"
                .parse()
                .expect("valid directive"),
        );
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .init();
}

fn exit_code(result: anyhow::Result<u8>, convention: exit::Convention) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(exit::exit_code(&e, convention))
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(monitor) = cmd::monitor::Invocation::from_args(&args) {
        init_tracing(&std::env::var("BERTH_LOG").unwrap_or_default());
        return exit_code(monitor.and_then(cmd::monitor::run), exit::Convention::Plain);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 125 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_tracing(&cli.log_level);
    // The runtime and the monitor work from other directories: a relative
    // --root must mean the same place to them.
    let root = std::path::absolute(&cli.root).unwrap_or(cli.root);
    let convention = match &cli.command {
        Command::Run(_) | Command::Create(_) => exit::Convention::Run,
        Command::Exec(_) => exit::Convention::Exec,
        _ => exit::Convention::Plain,
    };
    let result = match cli.command {
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => cmd::load::run(&root, a),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => cmd::save::run(&root, a),
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => cmd::import::run(&root, a),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => cmd::images::run(&root, a),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => cmd::tag::run(&root, a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => cmd::rmi::run(&root, a),
        Command::History(a) | Command::Image(ImageCommand::History(a)) => {
            cmd::history::run(&root, a)
        }
        Command::Inspect(a) | Command::Image(ImageCommand::Inspect(a)) => {
            cmd::inspect::run(&root, a)
        }
        Command::Image(ImageCommand::Prune(a)) => cmd::prune::run(&root, a),
        Command::Network(c) => cmd::network::run(&root, c),
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => cmd::pull::run(&root, a),
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => cmd::push::run(&root, a),
        Command::Login(a) => cmd::login::run(&root, a),
        Command::Run(a) => cmd::run::run(&root, a),
        Command::Create(a) => cmd::create::run(&root, a),
        Command::Start(a) => cmd::start::run(&root, a),
        Command::Ps(a) => cmd::ps::run(&root, a),
        Command::Logs(a) => cmd::logs::run(&root, a),
        Command::Stop(a) => cmd::stop::run(&root, a),
        Command::Restart(a) | Command::Container(ContainerCommand::Restart(a)) => {
            cmd::restart::run(&root, a)
        }
        Command::Stats(a) | Command::Container(ContainerCommand::Stats(a)) => {
            cmd::stats::run(&root, a)
        }
        Command::Port(a) | Command::Container(ContainerCommand::Port(a)) => {
            cmd::port::run(&root, a)
        }
        Command::Kill(a) => cmd::kill::run(&root, a),
        Command::Exec(a) => cmd::exec::run(&root, a),
        Command::Attach(a) | Command::Container(ContainerCommand::Attach(a)) => {
            cmd::attach::run(&root, a)
        }
        Command::Rename(a) => cmd::rename::run(&root, a),
        Command::Pause(a) => cmd::pause::run(&root, a, false),
        Command::Unpause(a) => cmd::pause::run(&root, a, true),
        Command::Top(a) => cmd::top::run(&root, a),
        Command::Diff(a) => cmd::diff::run(&root, a),
        Command::Commit(a) => cmd::commit::run(&root, a),
        Command::Build(a) => cmd::build::run(&root, a),
        Command::Export(a) => cmd::export::run(&root, a),
        Command::Cp(a) | Command::Container(ContainerCommand::Cp(a)) => cmd::cp::run(&root, a),
        Command::Container(ContainerCommand::Prune(a)) => cmd::container_prune::run(&root, a),
        Command::Container(ContainerCommand::Ls(a)) => cmd::ps::run(&root, a),
        Command::Container(ContainerCommand::Inspect(a)) => cmd::inspect::run(&root, a),
        Command::Container(ContainerCommand::Rm(a)) => cmd::rm::run(&root, a),
        Command::Container(ContainerCommand::Diff(a)) => cmd::diff::run(&root, a),
        Command::Container(ContainerCommand::Commit(a)) => cmd::commit::run(&root, a),
        Command::Container(ContainerCommand::Export(a)) => cmd::export::run(&root, a),
        Command::Rm(a) => cmd::rm::run(&root, a),
        Command::Wait(a) => cmd::wait::run(&root, a),
        Command::Logout(a) => cmd::logout::run(&root, a),
        Command::System(SystemCommand::Df(a)) => cmd::df::run(&root, a),
        Command::Events(a) | Command::System(SystemCommand::Events(a)) => {
            cmd::events::run(&root, a)
        }
        Command::Info(a) | Command::System(SystemCommand::Info(a)) => cmd::info::run(&root, a),
        Command::Version(a) => cmd::version::run(a),
        Command::System(SystemCommand::Prune(a)) => cmd::system_prune::run(&root, a),
        Command::Builder(BuilderCommand::Prune(a)) => cmd::builder_prune::run(&root, a),
        Command::Serve(a) => cmd::serve::run(&root, a),
        Command::Volume(c) => cmd::volume::run(&root, c),
        Command::Completion(a) => cmd::completion::run(a, <Cli as clap::CommandFactory>::command()),
    };
    exit_code(result, convention)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap checks flag definitions (duplicate short flags ...) only when
    /// a command is built; this builds them all.
    #[test]
    fn command_line_definition_is_valid() {
        super::Cli::command().debug_assert();
    }

    /// `berth image --help` and every other group list each subcommand
    /// with its one-line description, as docker's do.
    #[test]
    fn every_command_says_what_it_does() {
        fn check(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                let path = format!("{path} {}", sub.get_name());
                if sub
                    .get_about()
                    .is_none_or(|a| a.to_string().trim().is_empty())
                {
                    missing.push(path.clone());
                }
                check(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        check(&super::Cli::command(), "berth", &mut missing);
        assert!(missing.is_empty(), "no description: {missing:?}");
    }
}
