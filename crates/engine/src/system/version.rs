//! `version`: berth's version, the Engine API versions it serves, and the
//! versions of the tools it runs containers with, in the shape of the
//! Engine API's `/version`.

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::host;
use crate::Engine;

/// berth's own version.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The newest Engine API version berth serves (docker 26's).
pub const API_VERSION: &str = "1.45";
/// The oldest it accepts (what docker 26 still accepts).
pub const MIN_API_VERSION: &str = "1.24";

/// One part of the server, with docker's free-form details.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Component {
    pub name: String,
    pub version: String,
    pub details: Map<String, Value>,
}

/// docker's `types.Version`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionInfo {
    pub platform: Value,
    pub components: Vec<Component>,
    pub version: String,
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub experimental: bool,
}

/// `runc version 1.1.5+ds1\ncommit: X` → ("1.1.5+ds1", "X").
fn runc_version(text: &str) -> (String, String) {
    let version = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("runc version "))
        .unwrap_or("")
        .trim()
        .to_string();
    let commit = text
        .lines()
        .find_map(|l| l.strip_prefix("commit: "))
        .unwrap_or("")
        .trim()
        .to_string();
    (version, commit)
}

/// `tini version 0.19.0 - git.de40ad0` → ("0.19.0", "de40ad0").
fn tini_version(text: &str) -> (String, String) {
    let rest = text
        .lines()
        .next()
        .and_then(|l| l.split_once("version ").map(|(_, v)| v))
        .unwrap_or("");
    let (version, commit) = rest.split_once(" - ").unwrap_or((rest, ""));
    (
        version.trim().to_string(),
        commit.trim().trim_start_matches("git.").to_string(),
    )
}

impl Engine {
    /// `version`'s server side: berth, and the runtime and init it runs
    /// containers with when they are installed. It needs no state.
    pub fn version() -> VersionInfo {
        let kernel = host::kernel_version();
        let mut components = vec![Component {
            name: "Engine".into(),
            version: VERSION.into(),
            details: json!({
                "ApiVersion": API_VERSION,
                "Arch": host::go_arch(),
                "Experimental": "false",
                "KernelVersion": kernel,
                "MinAPIVersion": MIN_API_VERSION,
                "Os": "linux",
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        }];
        if let Some(text) = host::tool_version("runc") {
            let (version, commit) = runc_version(&text);
            components.push(Component {
                name: "runc".into(),
                version,
                details: Map::from_iter([("GitCommit".to_string(), json!(commit))]),
            });
        }
        if let Ok(init) = crate::monitor::init_binary() {
            if let Some(text) = host::tool_version(&init.to_string_lossy()) {
                let (version, commit) = tini_version(&text);
                components.push(Component {
                    name: "docker-init".into(),
                    version,
                    details: Map::from_iter([("GitCommit".to_string(), json!(commit))]),
                });
            }
        }
        VersionInfo {
            platform: json!({"Name": "berth"}),
            components,
            version: VERSION.into(),
            api_version: API_VERSION.into(),
            min_api_version: MIN_API_VERSION.into(),
            os: "linux".into(),
            arch: host::go_arch().into(),
            kernel_version: kernel,
            experimental: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_versions_are_read_from_their_banners() {
        assert_eq!(
            runc_version("runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\n"),
            ("1.1.5+ds1".into(), "1.1.5+ds1-1+deb12u1".into())
        );
        assert_eq!(
            tini_version("tini version 0.19.0 - git.de40ad0"),
            ("0.19.0".into(), "de40ad0".into())
        );
        assert_eq!(
            tini_version("tini version 0.19.0"),
            ("0.19.0".into(), String::new())
        );
    }
}
