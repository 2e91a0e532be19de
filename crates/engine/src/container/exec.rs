//! `exec`: another process in a running container.

use berth_runtime::backend::RuntimeBackend;
use std::process::Stdio;

use super::ContainerStatus;
use crate::events::ContainerAction;
use crate::{Engine, EngineError};

/// `exec` options.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub detach: bool,
    pub interactive: bool,
    pub privileged: bool,
    /// `-t`: the process gets a terminal mirroring the caller's.
    pub tty: bool,
    /// The caller's terminal size (rows, columns), which the process's
    /// terminal has from the start.
    pub tty_size: Option<(u16, u16)>,
}

impl Engine {
    /// `exec`: runs a command in a running container; returns its exit code
    /// (0 once started with `detach`).
    pub fn exec_container(&mut self, s: &str, opts: &ExecOptions) -> Result<i32, EngineError> {
        use berth_runtime::backend::{ContainerStdio, ExecConsole, ExecProcess};
        let info = self.container(s)?;
        if info.record.status == ContainerStatus::Paused {
            return Err(EngineError::Conflict(format!(
                "container {} is paused, unpause the container before exec",
                info.record.id
            )));
        }
        if info.record.status != ContainerStatus::Running {
            return Err(EngineError::Conflict(format!(
                "container {} is not running",
                info.record.id
            )));
        }
        if opts.cmd.is_empty() {
            return Err(EngineError::Invalid("exec needs a command".into()));
        }
        let user = match &opts.user {
            Some(u) => {
                let rootfs = self.container_dir(&info.record.id).join("rootfs");
                let r = berth_runtime::user::resolve_user(&rootfs, u, &[])?;
                Some((r.uid, r.gid, r.additional_gids))
            }
            None => None,
        };
        let process = ExecProcess {
            args: opts.cmd.clone(),
            env: opts.env.clone(),
            cwd: opts.workdir.clone(),
            user,
            all_capabilities: opts.privileged,
            detach: opts.detach,
            tty: opts.tty,
            console: opts
                .tty_size
                .filter(|_| opts.tty && !opts.detach)
                .map(|(rows, cols)| ExecConsole {
                    bundle: self.container_dir(&info.record.id),
                    rows,
                    cols,
                }),
        };
        let quiet = || {
            if opts.detach {
                Stdio::null()
            } else {
                Stdio::inherit()
            }
        };
        let stdin = if opts.interactive && !opts.detach {
            Stdio::inherit()
        } else {
            Stdio::null()
        };
        let stdio = ContainerStdio {
            stdin,
            stdout: quiet(),
            stderr: quiet(),
        };
        let backend = self.backend(&info.options.runtime)?;
        let exec_id: String = {
            use rand::Rng;
            let mut r = rand::thread_rng();
            (0..32).map(|_| format!("{:02x}", r.gen::<u8>())).collect()
        };
        let command = opts.cmd.clone();
        self.emit(info.event(ContainerAction::ExecCreate {
            exec_id: exec_id.clone(),
            command: command.clone(),
        }));
        self.emit(info.event(ContainerAction::ExecStart {
            exec_id: exec_id.clone(),
            command,
        }));
        let exit_code = backend.exec(&info.record.id, &process, stdio)?;
        if !opts.detach {
            self.emit(info.event(ContainerAction::ExecDie { exec_id, exit_code }));
        }
        Ok(exit_code)
    }
}
