//! The files in a container's directory that several parts of berth share.

/// Where a container's output is logged, inside its directory.
pub(crate) const LOG_FILE: &str = "container.log";
/// Written by `stop` and `rm` before they signal: the restart policy does
/// not bring back a container a user stopped.
pub(crate) const STOPPED_BY_USER: &str = "stopped-by-user";
/// Written by `restart` before it stops a `--rm` container: that exit does
/// not remove it (docker's restart of an auto-removed container).
pub(crate) const RESTARTING: &str = "restarting";

impl crate::Engine {
    /// The bytes of a container's writable layer (docker's `SizeRw`).
    pub fn container_layer_size(&self, id: &str) -> u64 {
        crate::volume::data_size(&self.container_dir(id).join("upper"))
    }
}
