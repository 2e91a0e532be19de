use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use berth_engine::RegistryOptions;

#[derive(clap::Args)]
pub struct Args {
    /// Username
    #[arg(short, long)]
    username: Option<String>,
    /// Password
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    password_stdin: bool,
    /// Require HTTPS and verify certificates (false: plain HTTP or unverified TLS, as podman)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    tls_verify: bool,
    /// Registry host; Docker Hub when omitted
    server: Option<String>,
}

/// Reads a line from the terminal without echoing it.
fn read_hidden(prompt: &str) -> Result<String> {
    print!("{prompt}");
    std::io::stdout().flush()?;
    let stdin = std::io::stdin();
    let saved = rustix::termios::tcgetattr(&stdin).context("read terminal settings")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
    rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet)
        .context("turn off echo")?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &saved);
    println!();
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn run(_root: &Path, a: Args) -> Result<u8> {
    let server = a.server.clone().unwrap_or_else(|| "docker.io".to_string());
    let interactive = std::io::stdin().is_terminal();
    let username = match a.username {
        Some(u) => u,
        None if interactive && !a.password_stdin => {
            print!("Username: ");
            std::io::stdout().flush()?;
            let mut u = String::new();
            std::io::stdin().lock().read_line(&mut u)?;
            u.trim().to_string()
        }
        None => bail!("username is required: use -u"),
    };
    let password = if a.password_stdin {
        if a.password.is_some() {
            bail!("--password and --password-stdin are mutually exclusive");
        }
        let mut p = String::new();
        std::io::stdin()
            .read_to_string(&mut p)
            .context("read password from stdin")?;
        p.trim_end_matches(['\r', '\n']).to_string()
    } else if let Some(p) = a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else if interactive {
        read_hidden("Password: ")?
    } else {
        bail!("password is required: use --password-stdin");
    };
    if username.is_empty() || password.is_empty() {
        bail!("username and password are required");
    }
    berth_engine::login(
        &server,
        &username,
        &password,
        &RegistryOptions {
            tls_verify: a.tls_verify,
            ..RegistryOptions::default()
        },
    )
    .with_context(|| format!("login to {server}"))?;
    println!("Login Succeeded");
    Ok(0)
}
