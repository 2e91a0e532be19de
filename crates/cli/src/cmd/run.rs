use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use berth_engine::{
    ContainerNetworkOptions, ContainerOptions, EndpointSettings, EngineError, MountOption,
    StartOptions,
};
use berth_network::files::{DnsOptions, ExtraHost};
use berth_network::ports;

/// The flags `run` and `create` share. `-h` is the hostname, as in docker,
/// so help is `--help` only.
#[derive(clap::Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Keep STDIN open
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long)]
    pub env_file: Vec<std::path::PathBuf>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Add additional groups to join
    #[arg(long)]
    pub group_add: Vec<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Connect a container to a network (bridge, none, host, or a network's name)
    #[arg(long, alias = "net", default_value = "")]
    pub network: String,
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long)]
    pub ip6: Option<std::net::Ipv6Addr>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long)]
    pub mac_address: Option<String>,
    /// Publish a container's port(s) to the host
    #[arg(short, long)]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long)]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub expose: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<std::net::IpAddr>,
    /// Set custom DNS search domains
    #[arg(long)]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long, alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long)]
    pub add_host: Vec<String>,
    /// Container NIS domain name
    #[arg(long)]
    pub domainname: Option<String>,
    /// Set meta data on a container
    #[arg(short, long = "label")]
    pub label: Vec<String>,
    /// Memory limit
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long)]
    pub memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short, long)]
    pub cpu_shares: Option<u64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long)]
    pub pids_limit: Option<i64>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Add Linux capabilities
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub read_only: bool,
    /// Security Options (seccomp=unconfined|PROFILE.json, no-new-privileges)
    #[arg(long)]
    pub security_opt: Vec<String>,
    /// Bind mount a host directory (/host:/container[:ro])
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount (type=bind|tmpfs,source=...,target=...,readonly)
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory (/container[:options])
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Restart policy to apply when a container exits (no, on-failure[:N], always, unless-stopped)
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Signal to stop the container
    #[arg(long)]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long)]
    pub stop_timeout: Option<u64>,
    /// Log driver options (max-size=, max-file=)
    #[arg(long)]
    pub log_opt: Vec<String>,
    /// Ulimit options (name=soft[:hard]); never above this machine's hard limits
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Runtime to use for this container (a runc-compatible binary)
    #[arg(long, default_value = "runc")]
    pub runtime: String,
    #[command(flatten)]
    pub health: super::health_args::HealthArgs,
    pub image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

impl CreateArgs {
    /// `-p`, `-P`, `--expose`, `--dns*`, `--add-host`, `--domainname`,
    /// parsed once here with docker's messages.
    fn network_options(&self) -> Result<ContainerNetworkOptions> {
        let mut publish = Vec::new();
        for p in &self.publish {
            publish.extend(ports::parse_publish(p)?);
        }
        let mut expose = Vec::new();
        for e in &self.expose {
            expose.extend(ports::parse_expose(e)?);
        }
        Ok(ContainerNetworkOptions {
            publish,
            publish_all: self.publish_all,
            expose,
            dns: DnsOptions {
                servers: self.dns.clone(),
                search: self.dns_search.clone(),
                options: self.dns_option.clone(),
            },
            extra_hosts: self
                .add_host
                .iter()
                .map(|h| h.parse::<ExtraHost>())
                .collect::<Result<_, _>>()?,
            domainname: self.domainname.clone().unwrap_or_default(),
        })
    }

    pub fn options(&self) -> Result<ContainerOptions> {
        let mut env = Vec::new();
        for f in &self.env_file {
            let text = std::fs::read_to_string(f)
                .map_err(|e| anyhow::anyhow!("open {}: {e}", f.display()))?;
            env.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string),
            );
        }
        env.extend(self.env.iter().cloned());
        let labels: BTreeMap<String, String> = self
            .label
            .iter()
            .map(|l| match l.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (l.clone(), String::new()),
            })
            .collect();
        let size = |flag: &str, v: &Option<String>| -> Result<Option<i64>> {
            Ok(match v.as_deref() {
                None => None,
                Some("-1") => Some(-1),
                Some(s) => Some(berth_engine::parse_size(flag, s)?),
            })
        };
        Ok(ContainerOptions {
            image: self.image.clone(),
            cmd: self.command.clone(),
            entrypoint: self.entrypoint.clone(),
            env,
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            group_add: self.group_add.clone(),
            hostname: self.hostname.clone(),
            network: self.network.clone(),
            endpoint: EndpointSettings {
                aliases: self.network_alias.clone(),
                ipv4: self.ip,
                ipv6: self.ip6,
                mac: self.mac_address.clone(),
            },
            net: self.network_options()?,
            auto_remove: self.rm,
            interactive: self.interactive,
            tty: self.tty,
            labels,
            memory: size("--memory", &self.memory)?,
            memory_swap: size("--memory-swap", &self.memory_swap)?,
            nano_cpus: self
                .cpus
                .as_deref()
                .map(berth_engine::parse_cpus)
                .transpose()?,
            cpu_shares: self.cpu_shares,
            pids_limit: self.pids_limit,
            privileged: self.privileged,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            read_only: self.read_only,
            security_opt: self.security_opt.clone(),
            runtime: self.runtime.clone(),
            init: self.init,
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            log_opts: self
                .log_opt
                .iter()
                .map(|o| match o.split_once('=') {
                    Some((k, v)) => Ok((k.to_string(), v.to_string())),
                    None => Err(anyhow::anyhow!(
                        "invalid --log-opt {o:?}: expected key=value"
                    )),
                })
                .collect::<Result<_>>()?,
            ulimits: self.ulimit.clone(),
            restart: self.restart.clone(),
            healthcheck: self.health.config()?,
            mounts: self
                .volume
                .iter()
                .map(|v| MountOption::parse_volume(v))
                .chain(self.mount.iter().map(|m| MountOption::parse_mount(m)))
                .chain(self.tmpfs.iter().map(|t| MountOption::parse_tmpfs(t)))
                .collect::<Result<_, _>>()?,
        })
    }
}

#[derive(clap::Args)]
#[command(disable_help_flag = true)]
pub struct Args {
    /// Run container in background and print container ID
    #[arg(short, long)]
    detach: bool,
    /// Proxy received signals to the process
    #[arg(long, default_value = "true", action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    detach_keys: String,
    #[command(flatten)]
    create: CreateArgs,
}

/// docker refuses `-it` when its input is not a terminal, with this
/// message and exit code 1.
pub fn tty_input_refused(tty: bool, stdin: bool) -> bool {
    use std::io::IsTerminal;
    let refused = tty && stdin && !std::io::stdin().is_terminal();
    if refused {
        eprintln!("the input device is not a TTY");
    }
    refused
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let opts = a.create.options()?;
    if !a.detach && tty_input_refused(opts.tty, opts.interactive) {
        return Ok(1);
    }
    let detach_keys = crate::attach::parse_detach_keys(&a.detach_keys)?;
    let mut engine = super::open(root)?;
    let (tty, interactive) = (opts.tty, opts.interactive);
    let id = match engine.create_container(a.create.name.as_deref(), opts) {
        Ok(id) => id,
        Err(e @ EngineError::NoSuchImage(_)) => {
            eprintln!("Unable to find image '{}' locally", a.create.image);
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    let start = StartOptions {
        attach: !a.detach,
        stdin: interactive,
        tty_size: if tty {
            crate::attach::terminal_size()
        } else {
            None
        },
    };
    let session = engine.start_container(&id, root, start)?;
    drop(engine);
    let Some(session) = session else {
        println!("{id}");
        return Ok(0);
    };
    let attached = crate::attach::attach(
        session,
        crate::attach::AttachOptions {
            stdin: interactive,
            tty,
            sig_proxy: a.sig_proxy,
            detach_keys,
        },
    )?;
    Ok(attached.unwrap_or(0).clamp(0, 255) as u8)
}
