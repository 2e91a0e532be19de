//! The OCI bundle handed to the runtime: a directory holding `config.json`.
//!
//! The root filesystem is wherever the spec's `root.path` points (the
//! engine's overlay mount), so the bundle itself is just the config plus
//! whatever the backend keeps beside it (pid file, runtime log).

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use oci_spec::runtime::Spec;

use crate::RuntimeError;

/// The file name the OCI runtime spec requires.
pub const CONFIG_FILE: &str = "config.json";

/// Writes `spec` as `<dir>/config.json`, creating `dir` if needed.
///
/// The file is written to a temporary name, synced and renamed, so a crash
/// or a concurrent reader never sees a half-written config. It is private
/// (0600) because the environment may carry secrets.
pub fn write_bundle(dir: &Path, spec: &Spec) -> Result<(), RuntimeError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| RuntimeError::io("create bundle directory", dir, e))?;
    let path = dir.join(CONFIG_FILE);
    let json =
        serde_json::to_vec_pretty(spec).map_err(|e| RuntimeError::io("encode", &path, e.into()))?;
    let tmp = dir.join(format!(".{CONFIG_FILE}.tmp"));
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        // Not synced: the bundle is written again at every start, so a
        // crash cannot leave a stale one that is used.
        .and_then(|mut file| file.write_all(&json))
        .map_err(|e| RuntimeError::io("write", &tmp, e))
        .and_then(|()| fs::rename(&tmp, &path).map_err(|e| RuntimeError::io("rename", &tmp, e)));
    if written.is_err() {
        // Best effort: the error already names what failed.
        let _ = fs::remove_file(&tmp);
    }
    written?;
    tracing::debug!(bundle = %dir.display(), "wrote OCI bundle");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn spec_with_hostname(name: &str) -> Spec {
        let mut spec = Spec::default();
        spec.set_hostname(Some(name.to_string()));
        spec
    }

    #[test]
    fn writes_config_json_atomically() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("bundles/abc");
        write_bundle(&dir, &spec_with_hostname("first")).unwrap();
        write_bundle(&dir, &spec_with_hostname("second")).unwrap();

        let text = fs::read_to_string(dir.join(CONFIG_FILE)).unwrap();
        let back: Spec = serde_json::from_str(&text).unwrap();
        assert_eq!(back, spec_with_hostname("second"));
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [CONFIG_FILE], "no temporary file is left behind");
        let mode = fs::metadata(dir.join(CONFIG_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn failure_names_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        fs::write(&file, "").unwrap();
        let err = write_bundle(&file.join("bundle"), &Spec::default()).unwrap_err();
        assert!(
            err.to_string().starts_with("create bundle directory "),
            "{err}"
        );
        assert!(err.to_string().contains("file/bundle"), "{err}");
    }
}
