//! Exec instances on disk: one JSON file each in the container's `execs/`
//! directory, written whole (temp file and rename). The creating process
//! writes it; from the start on only the container's monitor does. Being
//! in the container's directory, they go when the container does.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use super::ExecConfig;
use crate::EngineError;

/// The directory of a container's exec instances.
pub(crate) const EXECS_DIR: &str = "execs";

/// Where an exec instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ExecStatus {
    /// Created, not started yet.
    Created,
    /// Its monitor started it; it runs until its monitor records the exit.
    Running,
    /// Its exit code is recorded (126/127 when it could not run).
    Exited,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExecRecord {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub created_at: String,
    pub status: ExecStatus,
    /// The process on the host, while it runs.
    pub pid: Option<u32>,
    /// The monitor that started it, which records its exit.
    pub monitor_pid: Option<u32>,
    pub exit_code: Option<i32>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// An exec ID: 64 lower-case hex digits, as docker's.
pub(crate) fn valid_exec_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> EngineError {
    EngineError::io(format!("{what} {}", path.display()), e)
}

impl ExecRecord {
    /// The file of exec `id` in the container directory `dir`.
    pub(crate) fn path(dir: &Path, id: &str) -> PathBuf {
        dir.join(EXECS_DIR).join(format!("{id}.json"))
    }

    /// Exec `id` of the container in `dir`; `None` when it has none such.
    pub(crate) fn read(dir: &Path, id: &str) -> Result<Option<ExecRecord>, EngineError> {
        let path = Self::path(dir, id);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| EngineError::Internal(format!("exec record {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &path, e)),
        }
    }

    /// Writes the record whole, so a reader sees the old or the new one.
    /// The container's directory must exist: a monitor outliving a removed
    /// container's directory must not make it again.
    pub(crate) fn write(&self, dir: &Path) -> Result<(), EngineError> {
        let execs = dir.join(EXECS_DIR);
        match std::fs::create_dir(&execs) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(io_err("create", &execs, e))
            }
            _ => {}
        }
        let path = Self::path(dir, &self.id);
        let temp = execs.join(format!(".{}.{}.tmp", self.id, std::process::id()));
        let bytes = serde_json::to_vec(self).expect("exec records serialize");
        std::fs::write(&temp, bytes)
            .and_then(|()| std::fs::rename(&temp, &path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&temp);
                io_err("write", &path, e)
            })
    }

    /// Every exec instance of the container in `dir`; unreadable files are
    /// skipped (a temp file, a record being replaced).
    pub(crate) fn list(dir: &Path) -> Vec<ExecRecord> {
        let Ok(entries) = std::fs::read_dir(dir.join(EXECS_DIR)) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let id = name.strip_suffix(".json")?;
                valid_exec_id(id).then_some(())?;
                Self::read(dir, id).ok().flatten()
            })
            .collect()
    }

    pub(crate) fn remove(dir: &Path, id: &str) {
        let _ = std::fs::remove_file(Self::path(dir, id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> ExecRecord {
        ExecRecord {
            id: id.into(),
            container_id: "c".into(),
            config: ExecConfig {
                cmd: vec!["true".into()],
                ..ExecConfig::default()
            },
            created_at: "2024-01-01T00:00:00Z".into(),
            status: ExecStatus::Created,
            pid: None,
            monitor_pid: None,
            exit_code: None,
            started_at: None,
            finished_at: None,
        }
    }

    #[test]
    fn records_round_trip_and_list() {
        let dir = tempfile::tempdir().unwrap();
        let a = "a".repeat(64);
        assert_eq!(ExecRecord::read(dir.path(), &a).unwrap(), None);
        assert!(ExecRecord::list(dir.path()).is_empty());
        let mut r = record(&a);
        r.write(dir.path()).unwrap();
        r.status = ExecStatus::Exited;
        r.exit_code = Some(127);
        r.write(dir.path()).unwrap();
        assert_eq!(ExecRecord::read(dir.path(), &a).unwrap(), Some(r.clone()));
        std::fs::write(dir.path().join(EXECS_DIR).join("junk.json"), b"{").unwrap();
        assert_eq!(ExecRecord::list(dir.path()), [r]);
        ExecRecord::remove(dir.path(), &a);
        assert_eq!(ExecRecord::read(dir.path(), &a).unwrap(), None);
    }

    #[test]
    fn exec_ids_are_64_hex_digits() {
        assert!(valid_exec_id(&"0f".repeat(32)));
        assert!(!valid_exec_id(&"0F".repeat(32)));
        assert!(!valid_exec_id("abc"));
        assert!(!valid_exec_id(&format!("../{}", "a".repeat(61))));
    }
}
