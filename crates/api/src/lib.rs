//! `berth serve`: the Docker Engine API over hyper, so the docker CLI,
//! the Docker SDK for Python and docker-compose drive berth.
//!
//! This crate is a front end, as the CLI is: it routes requests, turns
//! docker's JSON into the engine's types and back, runs the hijacked and
//! streamed connections, and maps the engine's error kinds to HTTP
//! statuses in one table (`error.rs`). What a request does is the
//! engine's: the same calls the CLI makes.
//!
//! - `listen/`: `-H` addresses, the unix socket (0660, root and the
//!   `berth` group), TCP with TLS and client certificates.
//! - `server.rs`: accept loops, the dispatcher, docker's common headers.
//! - `router.rs`: method and path to an endpoint.
//! - `version.rs`: API versions 1.24–1.45 and the `/vX.Y` prefix.
//! - `http/`: bodies, query parameters, docker's JSON and errors.
//! - `engines.rs`: engine handles on blocking threads.
//! - `system.rs`: ping, version, info, auth.
//! - `images.rs`: image endpoints.
//! - `containers.rs`: container endpoints.
//! - `stream/`: docker's multiplexed frames.
//! - `events.rs`: `/events`, streamed from the engine's journal.

#![forbid(unsafe_code)]

mod containers;
mod engines;
mod error;
mod events;
mod http;
mod images;
mod listen;
mod router;
mod server;
mod stream;
mod system;
mod version;

use std::path::PathBuf;
use std::sync::Arc;

pub use error::ApiError;
pub use listen::{Host, TlsSettings, DEFAULT_SOCKET};
pub use version::{ApiVersion, MAX_API_VERSION, MIN_API_VERSION};

use engines::Engines;
use http::Query;
use listen::{acceptor, bind_unix, check_exposure};
use server::Listener;

/// What a request handler gets besides its body.
pub(crate) struct Ctx {
    pub engines: Arc<Engines>,
    pub query: Query,
}

/// How `berth serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The state directory, shared with the CLI.
    pub root: PathBuf,
    /// Where to listen (`-H`); the default socket when empty.
    pub hosts: Vec<Host>,
    pub tls: TlsSettings,
}

/// Listens on every host and serves the API until SIGINT or SIGTERM.
/// Everything that can be wrong with the setup (an address, a TLS file, a
/// socket in use) fails here, before anything is served.
pub fn serve(opts: ServeOptions) -> Result<(), ApiError> {
    let hosts = if opts.hosts.is_empty() {
        vec![Host::Unix(PathBuf::from(DEFAULT_SOCKET))]
    } else {
        opts.hosts
    };
    let tls_files = opts.tls.files()?;
    for host in &hosts {
        if let Host::Tcp(_) = host {
            check_exposure(host, tls_files.as_ref())?;
        }
    }
    let tls = tls_files.as_ref().map(acceptor).transpose()?;
    let engines = Engines::open(&opts.root)?;
    // Bound before the runtime starts any thread (the socket's mode is
    // set through the process's umask).
    let mut sockets = Vec::new();
    let mut tcp = Vec::new();
    for host in &hosts {
        match host {
            Host::Unix(path) => sockets.push(bind_unix(path)?),
            Host::Tcp(addr) => {
                let l = std::net::TcpListener::bind(addr)
                    .map_err(|e| ApiError::io(format!("listen on {host}"), e))?;
                tcp.push(l);
            }
        }
        tracing::info!("API listen on {host}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_keep_alive(std::time::Duration::from_secs(10))
        .enable_all()
        .build()
        .map_err(|e| ApiError::io("start the server's runtime", e))?;
    let result = runtime.block_on(async {
        let mut listeners = Vec::new();
        for s in &sockets {
            let l = s
                .listener
                .try_clone()
                .and_then(|l| {
                    l.set_nonblocking(true)?;
                    tokio::net::UnixListener::from_std(l)
                })
                .map_err(|e| ApiError::io("listen", e))?;
            listeners.push(Listener::Unix(l));
        }
        for l in tcp {
            l.set_nonblocking(true)
                .map_err(|e| ApiError::io("listen", e))?;
            let l = tokio::net::TcpListener::from_std(l).map_err(|e| ApiError::io("listen", e))?;
            listeners.push(Listener::Tcp(l, tls.clone()));
        }
        server::run(listeners, engines).await
    });
    // Engine calls still running on blocking threads are left to end
    // with the process, as a killed CLI's would.
    runtime.shutdown_background();
    drop(sockets);
    result
}
