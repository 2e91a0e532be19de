//! How the engine reaches registries: client options from the environment
//! and berth's configuration.

use std::path::PathBuf;

use berth_registry::{AuthConfig, Client, ClientOptions, CredentialStore};
use serde::Deserialize;

use crate::EngineError;

/// Where berth reads registry settings; `BERTH_CONFIG` moves it.
const DEFAULT_CONFIG: &str = "/etc/berth/config.json";

#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// False is podman's `--tls-verify=false`: plain HTTP or unverified TLS
    /// for every registry.
    pub tls_verify: bool,
    /// Credentials the caller passes in (the API's `X-Registry-Auth` for
    /// a pull or push, `X-Registry-Config` for a build), used before
    /// docker's config.json: the one naming the registry, else one that
    /// names none.
    pub credentials: Vec<AuthConfig>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            tls_verify: true,
            credentials: Vec::new(),
        }
    }
}

/// The part of berth's config file about registries; the key is docker's
/// daemon.json one.
#[derive(Deserialize, Default)]
struct BerthConfig {
    #[serde(rename = "insecure-registries", default)]
    insecure_registries: Vec<String>,
}

fn config_path() -> PathBuf {
    std::env::var_os("BERTH_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
}

pub(crate) fn registry_client(opts: &RegistryOptions) -> Result<Client, EngineError> {
    let path = config_path();
    let config: BerthConfig = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| EngineError::InvalidConfig {
            what: path.display().to_string(),
            detail: e.to_string(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BerthConfig::default(),
        Err(e) => return Err(EngineError::io(format!("read {}", path.display()), e)),
    };
    let mut client_opts = ClientOptions::from_env();
    client_opts.insecure_registries = config.insecure_registries;
    client_opts.tls_verify = opts.tls_verify;
    client_opts.given_credentials = opts.credentials.clone();
    client_opts.user_agent = format!("berth/{}", env!("CARGO_PKG_VERSION"));
    Ok(Client::new(client_opts)?)
}

/// The registry host a user typed for `login`/`logout`, as berth keys it:
/// Docker Hub's many spellings become `docker.io`.
fn registry_host(server: &str) -> String {
    let host = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" | "" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

/// Checks credentials against a registry without keeping them (the
/// Engine API's `/auth`: its client keeps them).
pub fn check_login(
    server: &str,
    username: &str,
    password: &str,
    opts: &RegistryOptions,
) -> Result<(), EngineError> {
    registry_client(opts)?.check_login(&registry_host(server), username, password)?;
    Ok(())
}

/// `login`: checks the credentials against the registry, then stores them
/// in docker's config.json (or its credential helper), shared with docker.
pub fn login(
    server: &str,
    username: &str,
    password: &str,
    opts: &RegistryOptions,
) -> Result<(), EngineError> {
    check_login(server, username, password, opts)?;
    let host = registry_host(server);
    CredentialStore::new(&ClientOptions::from_env().docker_config_dir)
        .store(&host, username, password)?;
    Ok(())
}

/// `logout`: forgets stored credentials; false if there were none.
pub fn logout(server: &str) -> Result<bool, EngineError> {
    let host = registry_host(server);
    Ok(CredentialStore::new(&ClientOptions::from_env().docker_config_dir).erase(&host)?)
}
