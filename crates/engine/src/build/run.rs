//! A `RUN` step: a container over the step's image with a fresh writable
//! layer, run in the foreground like `run --rm`, never recorded as a
//! container; its writable layer becomes the step's layer.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::Stdio;

use berth_runtime::backend::{wait_for, ContainerStdio, RuntimeBackend};
use berth_runtime::overlay::OverlayMount;
use berth_store::{ContainerRecord, StagedLayer};
use rand::Rng;

use berth_build::StepKey;
use berth_dockerfile::{Command, Instruction, Located};
use serde_json::{json, Map, Value};

use super::{config_of, env_of, step_error, Builder, Current, StageScope};
use crate::container::{now_rfc3339, ContainerInfo, ContainerOptions};
use crate::{Engine, EngineError};

/// What a `RUN` step runs.
pub(super) struct StepRun {
    pub args: Vec<String>,
    /// Build args as `KEY=value`, added to the image's environment.
    pub env: Vec<String>,
    pub network: String,
    /// The container's stdout and stderr; discarded when `None`.
    pub output: Option<OwnedFd>,
}

pub(super) enum StepExit {
    Done(StagedLayer),
    Failed(i32),
}

/// Removes the step's container directory (and its mount) however the step
/// ends.
struct StepDir {
    dir: PathBuf,
}

impl Drop for StepDir {
    fn drop(&mut self) {
        let _ = OverlayMount::unmount(&self.dir.join("rootfs"));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Engine {
    pub(super) fn run_build_step(
        &mut self,
        current: &Current,
        step: StepRun,
        out: &mut dyn Write,
    ) -> Result<StepExit, EngineError> {
        let id: String = {
            let mut r = rand::thread_rng();
            (0..32).map(|_| format!("{:02x}", r.gen::<u8>())).collect()
        };
        let dir = self.container_dir(&id);
        let guard = StepDir { dir: dir.clone() };
        for sub in ["upper", "work", "rootfs"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| EngineError::io(format!("create {}", dir.display()), e))?;
        }
        let info = ContainerInfo {
            record: ContainerRecord {
                id: id.clone(),
                name: format!("build-{}", &id[..12]),
                image_id: current.image.clone(),
                config: String::new(),
                status: "created".into(),
                created_at: now_rfc3339(),
                started_at: None,
                finished_at: None,
                pid: None,
                monitor_pid: None,
                exit_code: None,
                restart_count: 0,
            },
            options: ContainerOptions {
                image: current.image.to_string(),
                cmd: step.args,
                entrypoint: Some(String::new()),
                env: step.env,
                network: step.network,
                ..ContainerOptions::default()
            },
        };
        writeln!(out, " ---> Running in {}", &id[..12])
            .and_then(|()| out.flush())
            .map_err(|e| EngineError::io("write build output", e))?;
        self.prepare_bundle(&info, &dir)?;
        let backend = self.backend("")?;
        let (stdout, stderr) = match step.output {
            Some(fd) => {
                let copy = fd
                    .try_clone()
                    .map_err(|e| EngineError::io("duplicate the build output", e))?;
                (Stdio::from(fd), Stdio::from(copy))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let running = backend.run(
            &id,
            &dir,
            ContainerStdio {
                stdin: Stdio::null(),
                stdout,
                stderr,
            },
        )?;
        let exit = wait_for(running.runtime_pid);
        let code = backend.exit_code(&id, &dir, exit);
        let _ = backend.delete(&id, true);
        let code = code?;
        OverlayMount::unmount(&dir.join("rootfs"))?;
        if code != 0 {
            return Ok(StepExit::Failed(code));
        }
        let layers: Vec<PathBuf> = current
            .layers
            .iter()
            .rev()
            .map(|l| self.store.layer_diff_dir(&l.chain_id))
            .collect();
        let layer = self.stage_container_layer(&id, &dir.join("upper"), &layers)?;
        drop(guard);
        Ok(StepExit::Done(layer))
    }
}

impl Builder<'_> {
    pub(super) fn run(
        &mut self,
        current: Current,
        scope: &StageScope,
        located: &Located<Instruction>,
        run: &berth_dockerfile::RunInstruction,
    ) -> Result<Current, EngineError> {
        let at = self.at(located.line);
        if !run.mounts.is_empty() || !run.heredocs.is_empty() {
            return Err(step_error(
                &at,
                "RUN",
                "--mount and heredocs are not supported yet",
            ));
        }
        let config = config_of(&current.doc);
        let args = match &run.command {
            Command::Exec(args) => args.clone(),
            Command::Shell(text) => {
                let mut shell: Vec<String> = config
                    .get("Shell")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .filter(|s: &Vec<String>| !s.is_empty())
                    .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
                shell.push(text.clone());
                shell
            }
        };
        let created_by = match &run.command {
            Command::Exec(args) => format!("RUN {}", json!(args)),
            Command::Shell(text) => format!("RUN {text}"),
        };
        let key = StepKey::run(current.image.to_string(), &created_by, scope.args.clone())
            .digest()
            .hex();
        let env_keys: Vec<String> = env_of(&config).into_iter().map(|(k, _)| k).collect();
        let arg_env: Vec<String> = scope
            .args
            .iter()
            .filter(|(k, _)| !env_keys.contains(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let network = match run.network {
            berth_dockerfile::NetworkMode::Default => self.opts.network.clone(),
            berth_dockerfile::NetworkMode::None => "none".into(),
            berth_dockerfile::NetworkMode::Host => "host".into(),
        };
        self.cached_or(&key, move |b| {
            let output = b
                .opts
                .run_output
                .as_ref()
                .map(|fd| fd.try_clone())
                .transpose()
                .map_err(|e| EngineError::io("duplicate the build output", e))?;
            let ran = b.engine.run_build_step(
                &current,
                StepRun {
                    args: args.clone(),
                    env: arg_env,
                    network,
                    output,
                },
                &mut *b.out,
            )?;
            let layer = match ran {
                StepExit::Done(layer) => layer,
                StepExit::Failed(code) => {
                    // Docker classic's wording, which scripts look for.
                    return Err(EngineError::BuildStep(format!(
                        "{at}: The command '{}' returned a non-zero code: {code}",
                        args.join(" ")
                    )));
                }
            };
            let mut doc = current.doc;
            let mut entry = Map::new();
            entry.insert("created_by".into(), json!(created_by));
            b.engine
                .commit_step(&mut doc, &current.layers, Some(layer), Some(entry))
        })
    }
}
