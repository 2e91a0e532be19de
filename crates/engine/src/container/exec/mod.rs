//! `exec`: another process in a running container, as docker's API has
//! it: create (a durable record, so one process may create it and another
//! start it), start (through the container's monitor, with an attach
//! session or detached), inspect.
//!
//! The monitor runs and waits for every exec'd process (monitor/exec.rs):
//! it is the container's subreaper and outlives any client, so the exit
//! code is recorded the moment the process ends, whoever started it and
//! whether or not that client is still there.

mod record;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

use super::attach::{self, kind};
use super::{now_rfc3339, process_alive, AttachSession, ContainerStatus};
use crate::events::ContainerAction;
use crate::{Engine, EngineError};
pub(crate) use record::{valid_exec_id, ExecRecord, ExecStatus};

/// What an exec runs and how (docker's `ExecConfig`). Options are typed
/// here, once; the front ends fill it from flags or from JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecConfig {
    pub cmd: Vec<String>,
    /// `KEY=value` entries added to the container's environment.
    pub env: Vec<String>,
    /// `-u`: a name or uid, `:group` optional, resolved in the container.
    pub user: Option<String>,
    pub workdir: Option<String>,
    /// Every capability (`--privileged`).
    pub privileged: bool,
    /// A terminal for the process.
    pub tty: bool,
    /// The starting client sends the process's input.
    pub attach_stdin: bool,
    /// The starting client gets the process's output.
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    /// docker's `--detach-keys`, kept for inspect (the client applies them).
    pub detach_keys: Option<String>,
    /// The terminal's size (rows, columns) unless the start gives one.
    pub console_size: Option<(u16, u16)>,
}

/// How to start an exec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecStartOptions {
    /// Start it and return: its output goes nowhere (docker's `-d`).
    pub detach: bool,
    /// The terminal's size (rows, columns) from the start, for a `tty`
    /// exec; the caller's terminal.
    pub tty_size: Option<(u16, u16)>,
}

/// What a client asks the monitor on its exec socket: the first frame's
/// payload ([`kind::EXEC_START`] or [`kind::EXEC_RESIZE`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExecRequest {
    pub id: String,
    #[serde(default)]
    pub detach: bool,
    /// The terminal's size, rows then columns.
    #[serde(default)]
    pub tty_size: Option<(u16, u16)>,
}

/// docker's `/exec/{id}/json`, in its JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecInspect {
    #[serde(rename = "ID")]
    pub id: String,
    pub running: bool,
    /// `None` until the process has exited (and when its monitor died
    /// before it could record it).
    pub exit_code: Option<i32>,
    pub process_config: ExecProcessConfig,
    pub open_stdin: bool,
    pub open_stderr: bool,
    pub open_stdout: bool,
    /// docker's: whether the instance may be cleaned up (it has ended).
    pub can_remove: bool,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    pub detach_keys: String,
    /// The process on the host; 0 unless it runs.
    pub pid: u32,
}

/// docker's `ProcessConfig` of an exec (lower-case keys, as docker's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecProcessConfig {
    pub tty: bool,
    pub entrypoint: String,
    pub arguments: Vec<String>,
    pub privileged: bool,
    pub user: String,
}

/// A container keeps the exec instances of the last hour, and at most
/// this many: ended ones are trimmed, oldest first, when one is created.
const MAX_EXECS: usize = 128;
const KEEP_ENDED: Duration = Duration::from_secs(3600);

fn age(time: Option<&str>) -> Duration {
    time.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| {
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                .to_std()
                .ok()
        })
        .unwrap_or_default()
}

/// Which exec instances of a container to delete so it keeps those of the
/// last hour, at most [`MAX_EXECS`] (one about to be added included): ended
/// or never-started ones, oldest first; running ones always stay.
fn to_trim(records: &[ExecRecord]) -> Vec<String> {
    let mut ended: Vec<&ExecRecord> = records
        .iter()
        .filter(|r| r.status != ExecStatus::Running)
        .collect();
    ended.sort_by(|a, b| {
        let when = |r: &ExecRecord| {
            r.finished_at
                .clone()
                .unwrap_or_else(|| r.created_at.clone())
        };
        when(a).cmp(&when(b))
    });
    let over = (records.len() + 1).saturating_sub(MAX_EXECS);
    ended
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            *i < over || age(r.finished_at.as_deref().or(Some(&r.created_at))) > KEEP_ENDED
        })
        .map(|(_, r)| r.id.clone())
        .collect()
}

impl ExecRecord {
    /// How docker's inspect shows it. A running exec whose monitor is gone
    /// (killed, or replaced by a later start's) no longer runs, and its
    /// code is lost.
    fn inspect(&self, container_monitor: Option<u32>) -> ExecInspect {
        let running = self.status == ExecStatus::Running
            && self.monitor_pid.is_some()
            && self.monitor_pid == container_monitor
            && process_alive(self.monitor_pid);
        let (entrypoint, arguments) = match self.config.cmd.split_first() {
            Some((first, rest)) => (first.clone(), rest.to_vec()),
            None => (String::new(), Vec::new()),
        };
        ExecInspect {
            id: self.id.clone(),
            running,
            exit_code: self.exit_code,
            process_config: ExecProcessConfig {
                tty: self.config.tty,
                entrypoint,
                arguments,
                privileged: self.config.privileged,
                user: self.config.user.clone().unwrap_or_default(),
            },
            open_stdin: self.config.attach_stdin,
            open_stderr: self.config.attach_stderr,
            open_stdout: self.config.attach_stdout,
            can_remove: !running && self.status != ExecStatus::Created,
            container_id: self.container_id.clone(),
            detach_keys: self.config.detach_keys.clone().unwrap_or_default(),
            pid: if running { self.pid.unwrap_or(0) } else { 0 },
        }
    }
}

/// docker's conditions for creating or starting an exec in a container.
fn check_runs(info: &super::ContainerInfo) -> Result<(), EngineError> {
    match info.record.status {
        ContainerStatus::Running => Ok(()),
        ContainerStatus::Paused => Err(EngineError::Conflict(format!(
            "container {} is paused, unpause the container before exec",
            info.record.id
        ))),
        _ => Err(EngineError::NotRunning(info.record.id.clone())),
    }
}

fn no_such_exec(id: &str) -> EngineError {
    EngineError::NotFound(format!("No such exec instance: {id}"))
}

impl Engine {
    /// `exec` create: records what to run in a running container; returns
    /// the exec's ID.
    pub fn exec_create(
        &mut self,
        container: &str,
        config: ExecConfig,
    ) -> Result<String, EngineError> {
        let info = self.container(container)?;
        check_runs(&info)?;
        if config.cmd.is_empty() {
            return Err(EngineError::Invalid("No exec command specified".into()));
        }
        let dir = self.container_dir(&info.record.id);
        for old in to_trim(&ExecRecord::list(&dir)) {
            ExecRecord::remove(&dir, &old);
        }
        let id: String = {
            use rand::Rng;
            let mut r = rand::thread_rng();
            (0..32).map(|_| format!("{:02x}", r.gen::<u8>())).collect()
        };
        let command = config.cmd.clone();
        ExecRecord {
            id: id.clone(),
            container_id: info.record.id.clone(),
            config,
            created_at: now_rfc3339(),
            status: ExecStatus::Created,
            pid: None,
            monitor_pid: None,
            exit_code: None,
            started_at: None,
            finished_at: None,
        }
        .write(&dir)?;
        self.emit(info.event(ContainerAction::ExecCreate {
            exec_id: id.clone(),
            command,
        }));
        Ok(id)
    }

    /// Finds exec `id`: its record and its container's directory.
    fn exec_record(&self, id: &str) -> Result<(ExecRecord, PathBuf), EngineError> {
        if !valid_exec_id(id) {
            return Err(no_such_exec(id));
        }
        let containers = self.store.root().join("containers");
        let entries = std::fs::read_dir(&containers)
            .map_err(|e| EngineError::io(format!("read {}", containers.display()), e))?;
        for entry in entries.flatten() {
            let dir = entry.path();
            if let Some(record) = ExecRecord::read(&dir, id)? {
                return Ok((record, dir));
            }
        }
        Err(no_such_exec(id))
    }

    /// `exec` start: the container's monitor starts the process and waits
    /// for it. Returns once it runs, with a session for its output (and
    /// input, terminal size) unless `opts.detach`; the session ends with
    /// its exit code. A process that could not run is
    /// [`EngineError::ExecFailed`] (126/127 by its kind), and so recorded.
    pub fn exec_start(
        &mut self,
        id: &str,
        opts: ExecStartOptions,
    ) -> Result<Option<AttachSession>, EngineError> {
        let (record, dir) = self.exec_record(id)?;
        match record.status {
            ExecStatus::Created => {}
            ExecStatus::Running => {
                return Err(EngineError::Conflict(format!(
                    "Error: Exec command {id} is already running"
                )))
            }
            ExecStatus::Exited => {
                return Err(EngineError::Conflict(format!(
                    "Error: Exec command {id} has already run"
                )))
            }
        }
        let info = self.container(&record.container_id)?;
        check_runs(&info)?;
        let mut session = AttachSession::connect(&dir, attach::EXEC_SOCKET).map_err(|_| {
            EngineError::Conflict(format!(
                "container {} has lost its monitor, which runs its execs: restart it",
                info.record.id
            ))
        })?;
        let request = ExecRequest {
            id: id.to_string(),
            detach: opts.detach,
            tty_size: opts.tty_size.or(record.config.console_size),
        };
        session.send_request(kind::EXEC_START, &request)?;
        session.wait_started().map_err(|e| match e {
            EngineError::StartFailed { message, failure } => {
                EngineError::ExecFailed { message, failure }
            }
            e => e,
        })?;
        Ok((!opts.detach).then_some(session))
    }

    /// Resizes a running `tty` exec's terminal (the API's
    /// `/exec/{id}/resize`; an attached client can also resize through its
    /// session).
    pub fn exec_resize(&mut self, id: &str, rows: u16, cols: u16) -> Result<(), EngineError> {
        let (record, dir) = self.exec_record(id)?;
        if record.status != ExecStatus::Running {
            return Err(EngineError::Conflict(format!("exec {id} is not running")));
        }
        let session = AttachSession::connect(&dir, attach::EXEC_SOCKET)?;
        let request = ExecRequest {
            id: id.to_string(),
            detach: false,
            tty_size: Some((rows, cols)),
        };
        session.send_request(kind::EXEC_RESIZE, &request)
    }

    /// `exec` inspect, docker's `/exec/{id}/json`.
    pub fn exec_inspect(&mut self, id: &str) -> Result<ExecInspect, EngineError> {
        let (record, _) = self.exec_record(id)?;
        let monitor = self
            .store
            .container(&record.container_id)?
            .and_then(|c| c.monitor_pid);
        Ok(record.inspect(monitor))
    }

    /// The IDs of a container's exec instances (inspect's `ExecIDs`).
    pub fn exec_ids(&self, container_id: &str) -> Vec<String> {
        let mut records = ExecRecord::list(&self.container_dir(container_id));
        records.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        records.into_iter().map(|r| r.id).collect()
    }
}

impl AttachSession {
    /// Sends a request frame with a JSON payload.
    fn send_request(&self, request_kind: u8, request: &ExecRequest) -> Result<(), EngineError> {
        let payload = serde_json::to_vec(request).expect("exec requests serialize");
        self.input().send_frame(request_kind, &payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: usize, status: ExecStatus, ended_ago: Duration) -> ExecRecord {
        let when = (chrono::Utc::now() - chrono::Duration::from_std(ended_ago).unwrap())
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        ExecRecord {
            id: format!("{n:064x}"),
            container_id: "c".into(),
            config: ExecConfig {
                cmd: vec!["sh".into(), "-c".into(), "exit 3".into()],
                attach_stdout: true,
                attach_stderr: true,
                ..ExecConfig::default()
            },
            created_at: when.clone(),
            status,
            pid: Some(4242),
            monitor_pid: Some(std::process::id()),
            exit_code: (status == ExecStatus::Exited).then_some(3),
            started_at: Some(when.clone()),
            finished_at: (status == ExecStatus::Exited).then_some(when),
        }
    }

    #[test]
    fn inspect_has_dockers_shape() {
        let r = record(1, ExecStatus::Exited, Duration::ZERO);
        let json = serde_json::to_value(r.inspect(None)).unwrap();
        assert_eq!(json["ID"], r.id);
        assert_eq!(json["ContainerID"], "c");
        assert_eq!(json["Running"], false);
        assert_eq!(json["ExitCode"], 3);
        assert_eq!(json["Pid"], 0);
        assert_eq!(json["CanRemove"], true);
        assert_eq!(json["OpenStdin"], false);
        assert_eq!(json["OpenStdout"], true);
        assert_eq!(
            json["ProcessConfig"],
            serde_json::json!({"tty": false, "entrypoint": "sh",
                               "arguments": ["-c", "exit 3"], "privileged": false, "user": ""})
        );
    }

    #[test]
    fn a_running_exec_runs_only_while_its_monitor_does() {
        let r = record(1, ExecStatus::Running, Duration::ZERO);
        let me = Some(std::process::id());
        let live = r.inspect(me);
        assert!(live.running);
        assert_eq!(
            (live.pid, live.exit_code, live.can_remove),
            (4242, None, false)
        );
        // The container has another monitor now (a later start), or none.
        for other in [Some(1), None] {
            let gone = r.inspect(other);
            assert!(!gone.running);
            assert_eq!((gone.pid, gone.exit_code), (0, None));
        }
        let created = record(2, ExecStatus::Created, Duration::ZERO).inspect(me);
        assert!(!created.running && !created.can_remove);
    }

    #[test]
    fn old_and_surplus_ended_execs_are_trimmed_but_never_running_ones() {
        let hour = Duration::from_secs(3600);
        let mut records = vec![
            record(1, ExecStatus::Exited, hour * 2),
            record(2, ExecStatus::Running, hour * 3),
            record(3, ExecStatus::Created, hour * 2),
            record(4, ExecStatus::Exited, Duration::from_secs(5)),
        ];
        assert_eq!(
            to_trim(&records),
            [records[0].id.clone(), records[2].id.clone()]
        );
        records = (0..MAX_EXECS)
            .map(|n| record(n, ExecStatus::Exited, Duration::from_secs(600 - n as u64)))
            .collect();
        records[0].status = ExecStatus::Running;
        // One more is coming: the oldest ended one makes room.
        assert_eq!(to_trim(&records), [records[1].id.clone()]);
    }

    #[test]
    fn requests_are_framed_json() {
        let request = ExecRequest {
            id: "a".repeat(64),
            detach: true,
            tty_size: Some((24, 80)),
        };
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        AttachSession::new(a)
            .unwrap()
            .send_request(kind::EXEC_START, &request)
            .unwrap();
        let frame = attach::read_frame(&mut b).unwrap();
        let (k, payload) = frame.unwrap();
        assert_eq!(k, kind::EXEC_START);
        assert_eq!(
            serde_json::from_slice::<ExecRequest>(&payload).unwrap(),
            request
        );
    }
}
