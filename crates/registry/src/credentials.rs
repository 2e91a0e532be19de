//! Registry credentials in docker's `config.json`, so that `docker login`
//! and `berth login` share them: plain `auths` entries, a global
//! `credsStore` helper, or per-host `credHelpers`. Podman's `auth.json`
//! (same format, containers-auth.json(5)) is read, never written, for a
//! registry config.json has nothing for.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{Map, Value};

use crate::endpoint::{credential_key, normalize_key};
use crate::{AuthConfig, RegistryError};
use serde::Deserialize;

const CONFIG_FILE: &str = "config.json";

/// Credential helpers answer "not found" on stdout with a failing exit;
/// that means "no credentials", not an error.
const HELPER_NOT_FOUND: &str = "credentials not found";

/// Docker's convention for an identity (refresh) token instead of a
/// password: helpers return it as the username, config.json as
/// `identitytoken`.
pub const IDENTITY_TOKEN_USERNAME: &str = "<token>";

/// Reads and writes credentials in a docker config directory.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    dir: PathBuf,
    helper_dir: Option<PathBuf>,
    auth_files: Vec<PathBuf>,
}

/// Where podman keeps what `podman login` stored, as containers/image
/// looks for it: `$REGISTRY_AUTH_FILE` alone when set, else
/// `$XDG_RUNTIME_DIR/containers/auth.json` (root without one:
/// `/run/containers/0/auth.json`), then
/// `$XDG_CONFIG_HOME/containers/auth.json` (`~/.config/...`).
pub fn podman_auth_files() -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
    auth_files_from(|name| std::env::var_os(name), uid)
}

fn auth_files_from(env: impl Fn(&str) -> Option<std::ffi::OsString>, uid: u32) -> Vec<PathBuf> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(file) = var("REGISTRY_AUTH_FILE") {
        return vec![file];
    }
    let runtime = var("XDG_RUNTIME_DIR").map_or_else(
        || PathBuf::from(format!("/run/containers/{uid}/auth.json")),
        |dir| dir.join("containers/auth.json"),
    );
    let mut files = vec![runtime];
    if let Some(config) = var("XDG_CONFIG_HOME").or_else(|| var("HOME").map(|h| h.join(".config")))
    {
        files.push(config.join("containers/auth.json"));
    }
    files
}

impl CredentialStore {
    pub fn new(docker_config_dir: &Path) -> Self {
        CredentialStore {
            dir: docker_config_dir.to_path_buf(),
            helper_dir: None,
            auth_files: Vec::new(),
        }
    }

    /// Also reads credentials from these podman `auth.json` files, in
    /// order, for a registry config.json has none for.
    pub fn with_auth_files(mut self, files: Vec<PathBuf>) -> Self {
        self.auth_files = files;
        self
    }

    /// Runs `docker-credential-*` helpers from `dir` instead of `$PATH`
    /// (PATH is process-global; tests and sandboxed callers need this).
    pub fn with_helper_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.helper_dir = Some(dir.into());
        self
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }

    /// `(username, password)` for a registry, if any are stored. A username
    /// of [`IDENTITY_TOKEN_USERNAME`] means the password is an identity
    /// token to exchange at the registry's token endpoint.
    pub fn get(&self, registry: &str) -> Result<Option<(String, String)>, RegistryError> {
        let key = credential_key(registry);
        let config_json = self.config_path();
        if let Some(found) = self.lookup(&self.load()?, &config_json, &key, false)? {
            return Ok(Some(found));
        }
        for file in &self.auth_files {
            if let Some(config) = read_config(file)? {
                if let Some(found) = self.lookup(&config, file, &key, true)? {
                    tracing::debug!(registry, file = %file.display(), "credentials from podman's auth.json");
                    return Ok(Some(found));
                }
            }
        }
        Ok(None)
    }

    /// The credentials one config file holds for `key`. Podman's files
    /// may also hold entries for a namespace (`host/org`), which are not
    /// for the whole registry and are skipped.
    fn lookup(
        &self,
        config: &Value,
        path: &Path,
        key: &str,
        podman: bool,
    ) -> Result<Option<(String, String)>, RegistryError> {
        if let Some(helper) = helper_for(config, key) {
            if let Some(found) = self.helper_get(&helper, key)? {
                return Ok(Some(found));
            }
        }
        let Some(auths) = config.get("auths").and_then(Value::as_object) else {
            return Ok(None);
        };
        let host = normalize_key(key);
        let whole_registry = |k: &str| {
            !podman || {
                let k = k
                    .strip_prefix("https://")
                    .or_else(|| k.strip_prefix("http://"))
                    .unwrap_or(k);
                !k.trim_end_matches('/').contains('/')
            }
        };
        // The exact key first, so a stale "https://host" entry can't shadow
        // the one `store` writes.
        let entry = auths.get(key).or_else(|| {
            auths
                .iter()
                .find(|(k, _)| whole_registry(k) && normalize_key(k) == host)
                .map(|(_, v)| v)
        });
        entry
            .map(|e| decode_entry(path, e))
            .transpose()
            .map(Option::flatten)
    }

    /// `login`: stores through the helper if one is configured for the
    /// host, else as base64 in `auths`; every other key of config.json is
    /// kept as it was.
    pub fn store(
        &self,
        registry: &str,
        username: &str,
        password: &str,
    ) -> Result<(), RegistryError> {
        let mut config = self.load()?;
        let key = credential_key(registry);
        let entry = match helper_for(&config, &key) {
            Some(helper) => {
                let input = serde_json::json!({ "ServerURL": key, "Username": username, "Secret": password });
                self.run_helper(&helper, "store", &input.to_string())?;
                // Docker leaves an empty entry so tools can list logged-in
                // registries; it also clears any plain-text password.
                Value::Object(Map::new())
            }
            None => {
                let auth = BASE64.encode(format!("{username}:{password}"));
                serde_json::json!({ "auth": auth })
            }
        };
        auths_mut(&mut config).insert(key, entry);
        self.save(&config)
    }

    /// `logout`: erases the registry's credentials from the helper and from
    /// `auths`; `Ok(false)` if there was nothing stored.
    pub fn erase(&self, registry: &str) -> Result<bool, RegistryError> {
        let mut config = self.load()?;
        let key = credential_key(registry);
        let mut found = false;
        if let Some(helper) = helper_for(&config, &key) {
            found = self.helper_erase(&helper, &key)?;
        }
        let host = normalize_key(&key);
        let auths = auths_mut(&mut config);
        let before = auths.len();
        auths.retain(|k, _| normalize_key(k) != host);
        if auths.len() != before {
            found = true;
            self.save(&config)?;
        }
        Ok(found)
    }

    fn load(&self) -> Result<Value, RegistryError> {
        Ok(read_config(&self.config_path())?.unwrap_or_else(|| Value::Object(Map::new())))
    }

    /// Writes through a temporary file and a rename so a crash never
    /// leaves a truncated config.json; a symlinked config.json is updated
    /// where it points, as docker does.
    fn save(&self, config: &Value) -> Result<(), RegistryError> {
        let path = self.config_path();
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        let dir = path.parent().unwrap_or(&self.dir).to_path_buf();
        let io = |what: &str, e| RegistryError::io(format!("{what} {}", path.display()), e);
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(&dir)
            .map_err(|e| io("create directory for", e))?;
        let mut bytes = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut bytes, formatter);
        serde::Serialize::serialize(config, &mut ser).map_err(|e| io("serialize", e.into()))?;
        // NamedTempFile is created with mode 0600.
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)
            .map_err(|e| io("create temporary file for", e))?;
        tmp.write_all(&bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| io("write", e))?;
        tmp.persist(&path).map_err(|e| io("replace", e.error))?;
        Ok(())
    }

    fn helper_get(
        &self,
        helper: &str,
        key: &str,
    ) -> Result<Option<(String, String)>, RegistryError> {
        let Some(out) = self.run_helper(helper, "get", key)? else {
            return Ok(None);
        };
        #[derive(serde::Deserialize)]
        struct HelperCredentials {
            #[serde(rename = "Username", default)]
            username: String,
            #[serde(rename = "Secret", default)]
            secret: String,
        }
        let creds: HelperCredentials =
            serde_json::from_str(&out).map_err(|e| RegistryError::Helper {
                helper: helper.to_string(),
                action: "get",
                detail: format!("invalid output: {e}"),
            })?;
        if creds.username.is_empty() && creds.secret.is_empty() {
            return Ok(None);
        }
        Ok(Some((creds.username, creds.secret)))
    }

    fn helper_erase(&self, helper: &str, key: &str) -> Result<bool, RegistryError> {
        Ok(self.run_helper(helper, "erase", key)?.is_some())
    }

    /// Runs `docker-credential-<helper> <action>` with `input` on stdin;
    /// `Ok(None)` when the helper reports the credentials don't exist.
    fn run_helper(
        &self,
        helper: &str,
        action: &'static str,
        input: &str,
    ) -> Result<Option<String>, RegistryError> {
        let fail = |detail: String| RegistryError::Helper {
            helper: helper.to_string(),
            action,
            detail,
        };
        if helper.contains('/') || helper.contains('\0') {
            return Err(fail("helper names can't contain '/'".into()));
        }
        let program = format!("docker-credential-{helper}");
        let program = match &self.helper_dir {
            Some(dir) => dir.join(program),
            None => PathBuf::from(program),
        };
        tracing::debug!(helper, action, "running credential helper");
        let mut child = Command::new(&program)
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("start {}: {e}", program.display())))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading its input is judged by
            // its exit status below, so a broken pipe here is not an error.
            let _ = stdin.write_all(input.as_bytes());
        }
        let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() {
            return Ok(Some(stdout));
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if stdout.contains(HELPER_NOT_FOUND) || stderr.contains(HELPER_NOT_FOUND) {
            return Ok(None);
        }
        let message = if stdout.is_empty() { stderr } else { stdout };
        Err(fail(format!("{}: {message}", out.status)))
    }
}

fn decode_entry(path: &Path, entry: &Value) -> Result<Option<(String, String)>, RegistryError> {
    let invalid = |detail: String| RegistryError::Config {
        path: path.to_path_buf(),
        detail,
    };
    AuthConfig::deserialize(entry)
        .map_err(|e| invalid(e.to_string()))?
        .credentials()
        .map_err(invalid)
}

/// A config file's JSON object; `None` when there is no file (or only
/// whitespace in it).
fn read_config(path: &Path) -> Result<Option<Value>, RegistryError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(RegistryError::io(format!("read {}", path.display()), e)),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice(&bytes) {
        Ok(v @ Value::Object(_)) => Ok(Some(v)),
        Ok(_) => Err(RegistryError::Config {
            path: path.to_path_buf(),
            detail: "not a json object".into(),
        }),
        Err(e) => Err(RegistryError::Config {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }),
    }
}

/// The helper responsible for `key`: a per-host `credHelpers` entry, else
/// the global `credsStore`.
fn helper_for(config: &Value, key: &str) -> Option<String> {
    let host = normalize_key(key);
    let per_host = config
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|m| {
            m.iter()
                .find(|(k, _)| normalize_key(k) == host)
                .map(|(_, v)| v)
        });
    per_host
        .or_else(|| config.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn auths_mut(config: &mut Value) -> &mut Map<String, Value> {
    let root = config
        .as_object_mut()
        .expect("load only returns json objects");
    let auths = root
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    auths
        .as_object_mut()
        .expect("auths was just made an object")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_auth_files_follow_containers_image() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        assert_eq!(
            auth_files_from(env(&[("REGISTRY_AUTH_FILE", "/a.json"), ("HOME", "/h")]), 0),
            [PathBuf::from("/a.json")]
        );
        assert_eq!(
            auth_files_from(
                env(&[("XDG_RUNTIME_DIR", "/run/user/7"), ("HOME", "/h")]),
                7
            ),
            [
                PathBuf::from("/run/user/7/containers/auth.json"),
                PathBuf::from("/h/.config/containers/auth.json")
            ]
        );
        assert_eq!(
            auth_files_from(
                env(&[("REGISTRY_AUTH_FILE", ""), ("XDG_CONFIG_HOME", "/c")]),
                0
            ),
            [
                PathBuf::from("/run/containers/0/auth.json"),
                PathBuf::from("/c/containers/auth.json")
            ]
        );
    }
}
