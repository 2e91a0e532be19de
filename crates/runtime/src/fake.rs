//! A runtime that runs nothing, for tests without root: it records every
//! call and simulates each container's process (running, paused, ended
//! with an exit code, or vanished with the machine's reboot), the way runc
//! would answer. Built with the `fake` feature (the engine's unit tests
//! turn it on).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use crate::backend::{
    ContainerState, ContainerStdio, ExecProcess, RunningContainer, RunningExec, RuntimeBackend,
    RuntimeExit, Runtimes,
};
use crate::RuntimeError;

/// A fake OCI runtime; clones share their containers and call log, so a
/// test keeps one clone and hands another to the engine.
#[derive(Clone, Default)]
pub struct FakeRuntime {
    inner: Arc<Mutex<Inner>>,
    on_end: Arc<Mutex<Option<EndHook>>>,
}

/// Called with the container's ID and exit code when a signal ends it.
type EndHook = Arc<dyn Fn(&str, i32) + Send + Sync>;

impl std::fmt::Debug for FakeRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeRuntime")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Inner {
    calls: Vec<String>,
    containers: HashMap<String, Simulated>,
    /// Exit codes set ahead for a container's next end.
    exit_codes: HashMap<String, i32>,
    next_pid: u32,
}

#[derive(Debug, Clone)]
struct Simulated {
    status: &'static str,
    pid: u32,
    exit_code: Option<i32>,
}

impl FakeRuntime {
    pub fn new() -> FakeRuntime {
        FakeRuntime::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Every call so far, as runc's command line would read
    /// (`kill --all ID 9`), oldest first.
    pub fn calls(&self) -> Vec<String> {
        self.with(|i| i.calls.clone())
    }

    /// Forgets the calls so far.
    pub fn clear_calls(&self) {
        self.with(|i| i.calls.clear());
    }

    /// A running container, as though its monitor had started it; returns
    /// its (made-up) pid.
    pub fn simulate_running(&self, id: &str) -> u32 {
        self.with(|i| i.start(id))
    }

    /// The code the container's process exits with when it ends next
    /// (else 128 + the signal that ended it).
    pub fn set_exit_code(&self, id: &str, code: i32) {
        self.with(|i| i.exit_codes.insert(id.to_string(), code));
    }

    /// Runs `hook` with the container's ID and exit code whenever a signal
    /// ends a container: a test's stand-in for the monitor, which records
    /// the exit and goes away.
    pub fn on_end(&self, hook: impl Fn(&str, i32) + Send + Sync + 'static) {
        *self.on_end.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(hook));
    }

    /// Ends the container's process by itself with `code`.
    pub fn simulate_exit(&self, id: &str, code: i32) {
        self.with(|i| {
            if let Some(c) = i.containers.get_mut(id) {
                c.status = "stopped";
                c.pid = 0;
                c.exit_code = Some(code);
            }
        });
    }

    /// The container and its runtime state are gone, as after a reboot.
    pub fn vanish(&self, id: &str) {
        self.with(|i| i.containers.remove(id));
    }

    /// The simulated status (`running`, `paused`, `stopped`), `None` when
    /// the runtime does not know the container.
    pub fn status(&self, id: &str) -> Option<&'static str> {
        self.with(|i| i.containers.get(id).map(|c| c.status))
    }
}

impl Inner {
    fn start(&mut self, id: &str) -> u32 {
        self.next_pid += 1;
        let pid = 10_000 + self.next_pid;
        self.containers.insert(
            id.to_string(),
            Simulated {
                status: "running",
                pid,
                exit_code: None,
            },
        );
        pid
    }

    fn known(&mut self, command: &str, id: &str) -> Result<&mut Simulated, RuntimeError> {
        self.containers
            .get_mut(id)
            .ok_or_else(|| failed(command, format!("container {id} does not exist")))
    }
}

fn failed(command: &str, detail: String) -> RuntimeError {
    RuntimeError::RuntimeCommand {
        command: format!("fake {command}"),
        detail,
    }
}

impl RuntimeBackend for FakeRuntime {
    /// There is no runtime process: `runtime_pid` is the container's pid,
    /// not a child to wait for.
    fn run(
        &self,
        id: &str,
        _bundle: &Path,
        _stdio: ContainerStdio,
    ) -> Result<RunningContainer, RuntimeError> {
        self.with(|i| {
            i.calls.push(format!("run {id}"));
            if i.containers.get(id).is_some_and(|c| c.status != "stopped") {
                return Err(failed("run", format!("container with id {id} exists")));
            }
            let pid = i.start(id);
            Ok(RunningContainer {
                runtime_pid: pid,
                pid,
            })
        })
    }

    fn exit_code(&self, id: &str, _bundle: &Path, exit: RuntimeExit) -> Result<i32, RuntimeError> {
        self.with(|i| {
            let recorded = i.containers.get(id).and_then(|c| c.exit_code);
            Ok(match (recorded, exit) {
                (Some(code), _) => code,
                (None, RuntimeExit::Code(code)) => code,
                (None, RuntimeExit::Signal(signal)) => 128 + signal,
            })
        })
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let ended = self.with(|i| {
            let flag = if all { "--all " } else { "" };
            i.calls.push(format!("kill {flag}{id} {signal}"));
            let code = i.exit_codes.remove(id).unwrap_or(128 + signal);
            let c = i.known("kill", id)?;
            match c.status {
                "running" => {
                    c.status = "stopped";
                    c.pid = 0;
                    c.exit_code = Some(code);
                    Ok(Some(code))
                }
                // Frozen processes take the signal when thawed.
                "paused" => Ok(None),
                _ => Err(failed("kill", "container not running".into())),
            }
        })?;
        let hook = self
            .on_end
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let (Some(code), Some(hook)) = (ended, hook) {
            hook(id, code);
        }
        Ok(())
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        self.with(|i| {
            let flag = if force { "--force " } else { "" };
            i.calls.push(format!("delete {flag}{id}"));
            let c = i.known("delete", id)?;
            if c.status != "stopped" && !force {
                return Err(failed(
                    "delete",
                    format!(
                        "cannot delete container {id} that is not stopped: {}",
                        c.status
                    ),
                ));
            }
            i.containers.remove(id);
            Ok(())
        })
    }

    fn state(&self, id: &str) -> Result<Option<ContainerState>, RuntimeError> {
        self.with(|i| {
            i.calls.push(format!("state {id}"));
            Ok(i.containers.get(id).map(|c| ContainerState {
                status: c.status.to_string(),
                pid: c.pid,
            }))
        })
    }

    fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.with(|i| {
            i.calls.push(format!("pause {id}"));
            let c = i.known("pause", id)?;
            match c.status {
                "running" => {
                    c.status = "paused";
                    Ok(())
                }
                other => Err(failed("pause", format!("container not running: {other}"))),
            }
        })
    }

    fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.with(|i| {
            i.calls.push(format!("resume {id}"));
            let c = i.known("resume", id)?;
            match c.status {
                "paused" => {
                    c.status = "running";
                    Ok(())
                }
                other => Err(failed("resume", format!("container not paused: {other}"))),
            }
        })
    }

    fn spawn_exec(
        &self,
        id: &str,
        process: &ExecProcess,
        _stdio: ContainerStdio,
    ) -> Result<RunningExec, RuntimeError> {
        self.with(|i| {
            i.calls
                .push(format!("exec {id} {}", process.args.join(" ")));
        });
        Err(failed("exec", "the fake runtime runs no processes".into()))
    }
}

/// Every `--runtime` name is this fake.
impl Runtimes for FakeRuntime {
    fn backend(&self, _name: &str) -> Result<Arc<dyn RuntimeBackend>, RuntimeError> {
        Ok(Arc::new(self.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    fn stdio() -> ContainerStdio {
        ContainerStdio {
            stdin: Stdio::null(),
            stdout: Stdio::null(),
            stderr: Stdio::null(),
        }
    }

    #[test]
    fn simulates_runcs_answers_and_records_its_calls() {
        let rt = FakeRuntime::new();
        let run = rt.run("c1", Path::new("/nonexistent"), stdio()).unwrap();
        assert!(rt.run("c1", Path::new("/x"), stdio()).is_err());
        assert_eq!(rt.state("c1").unwrap().unwrap().pid, run.pid);
        rt.pause("c1").unwrap();
        assert!(rt.pause("c1").is_err());
        assert_eq!(rt.status("c1"), Some("paused"));
        rt.resume("c1").unwrap();
        assert!(rt.delete("c1", false).is_err());
        rt.set_exit_code("c1", 3);
        rt.kill("c1", 15, false).unwrap();
        assert!(rt.kill("c1", 9, true).is_err());
        let code = rt.exit_code("c1", Path::new("/x"), RuntimeExit::Signal(15));
        assert_eq!(code.unwrap(), 3);
        rt.delete("c1", false).unwrap();
        assert_eq!(rt.state("c1").unwrap(), None);
        assert!(rt
            .spawn_exec("c1", &ExecProcess::default(), stdio())
            .is_err());
        assert_eq!(
            rt.calls()[..8],
            [
                "run c1",
                "run c1",
                "state c1",
                "pause c1",
                "pause c1",
                "resume c1",
                "delete c1",
                "kill c1 15"
            ]
        );
    }

    #[test]
    fn a_signal_sets_the_exit_code_unless_one_was_given() {
        let rt = FakeRuntime::new();
        rt.simulate_running("c");
        rt.kill("c", 9, true).unwrap();
        let code = rt.exit_code("c", Path::new("/x"), RuntimeExit::Code(0));
        assert_eq!(code.unwrap(), 137);
        let ended = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&ended);
        rt.on_end(move |id, code| seen.lock().unwrap().push(format!("{id} {code}")));
        rt.simulate_running("d");
        rt.kill("d", 15, false).unwrap();
        assert_eq!(*ended.lock().unwrap(), ["d 143"]);
        rt.vanish("c");
        assert_eq!(rt.status("c"), None);
        assert!(Runtimes::backend(&rt, "crun").is_ok());
    }
}
