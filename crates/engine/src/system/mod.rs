//! What berth and its host are: `info` and `version`, the data the CLI
//! prints and the API's `/info` and `/version` send.

mod host;
mod info;
mod version;

pub use info::{RuntimeInfo, SystemInfo};
pub use version::{Component, VersionInfo, API_VERSION, MIN_API_VERSION};
