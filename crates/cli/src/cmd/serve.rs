use std::path::{Path, PathBuf};

use anyhow::Result;
use berth_api::{Host, ServeOptions, TlsSettings};

#[derive(clap::Args)]
pub struct Args {
    /// Where to listen: unix:///PATH or tcp://ADDR:PORT (repeatable; default unix:///run/berth/berth.sock)
    #[arg(short = 'H', long = "host", value_name = "ADDR", value_parser = parse_host)]
    hosts: Vec<Host>,
    /// Serve TCP over TLS (implied by --tlsverify)
    #[arg(long)]
    tls: bool,
    /// Serve TCP over TLS and require client certificates signed by --tlscacert
    #[arg(long)]
    tlsverify: bool,
    /// The CA that client certificates must be signed by
    #[arg(long, value_name = "FILE")]
    tlscacert: Option<PathBuf>,
    /// The server's TLS certificate
    #[arg(long, value_name = "FILE")]
    tlscert: Option<PathBuf>,
    /// The server's TLS key
    #[arg(long, value_name = "FILE")]
    tlskey: Option<PathBuf>,
}

fn parse_host(s: &str) -> Result<Host, String> {
    s.parse().map_err(|e: berth_api::ApiError| e.to_string())
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    berth_api::serve(ServeOptions {
        root: root.to_path_buf(),
        hosts: a.hosts,
        tls: TlsSettings {
            tls: a.tls,
            verify: a.tlsverify,
            ca: a.tlscacert,
            cert: a.tlscert,
            key: a.tlskey,
        },
    })?;
    Ok(0)
}
