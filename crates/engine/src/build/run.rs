//! A `RUN` step: a container over the step's image with a fresh writable
//! layer, run in the foreground like `run --rm`, never recorded as a
//! container; its writable layer becomes the step's layer.
//!
//! Heredocs run as BuildKit runs them: a lone `RUN <<EOF` runs its body
//! with the stage's shell (or, when the body starts with `#!`, as a file
//! the shell executes, so the shebang's interpreter runs it); any other
//! line (`RUN <<EOF bash`, `RUN python3 <<EOF`, several heredocs) goes to
//! the shell with its bodies after it, and the shell does the rest, quoted
//! delimiters and `<<-` included. The builder expands nothing in them.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::Stdio;

use berth_runtime::backend::{wait_for, ContainerStdio};
use berth_runtime::overlay::OverlayMount;
use berth_store::{ContainerRecord, ContainerStatus, StagedLayer};
use rand::Rng;

use berth_build::StepKey;
use berth_dockerfile::{expand_words, Command, Heredoc, Instruction, Located, NetworkMode};
use serde_json::{json, Map, Value};

use super::mountpoints::Mountpoints;
use super::mounts::{hide_ignored, StepMount, SCRIPT_DIR};
use super::{config_of, env_of, step_error, variables, Builder, Current, StageScope};
use crate::container::{now_rfc3339, ContainerInfo, ContainerOptions, MountOption};
use crate::{Engine, EngineError};

/// What a `RUN` step runs.
pub(super) struct StepRun {
    pub args: Vec<String>,
    /// Build args as `KEY=value`, added to the image's environment.
    pub env: Vec<String>,
    pub network: String,
    /// `--mount`s, and the file of a heredoc script.
    pub mounts: Vec<StepMount>,
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

/// In a step's container directory: the pid of the build running it, so a
/// later build can clean up after one that was killed.
const STEP_OWNER: &str = "build-owner";

impl Drop for StepDir {
    fn drop(&mut self) {
        let _ = OverlayMount::unmount(&self.dir.join("rootfs"));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Engine {
    /// Cleans up the `RUN` steps of builds that were killed: each such
    /// step's container is killed and deleted, its overlay unmounted and
    /// its directory removed. A killed build cannot do it itself, and the
    /// mount would otherwise stay until reboot.
    /// A `RUN` step on the default bridge (the default, as for docker's
    /// builders) is a container of the store while it runs, as docker's
    /// intermediate containers are: its address is leased like any
    /// container's. Returns whether it is.
    fn step_on_bridge(&mut self, info: &mut ContainerInfo) -> Result<bool, EngineError> {
        let mode = match info.options.network.as_str() {
            "" | "default" => self.default_network_mode()?,
            "bridge" => crate::network::DEFAULT_NETWORK,
            _ => return Ok(false),
        };
        if mode != crate::network::DEFAULT_NETWORK {
            info.options.network = mode.to_string();
            return Ok(false);
        }
        info.options.network = "bridge".into();
        let network = self.network(crate::network::DEFAULT_NETWORK)?;
        info.record.config = serde_json::to_string(&info.options).expect("options serialize");
        self.store.insert_container(&info.record)?;
        if let Err(e) = self.connect_endpoint(&info.record.id, &network, &Default::default(), 0) {
            let _ = self.store.delete_container(&info.record.id);
            return Err(e);
        }
        Ok(true)
    }

    pub(super) fn sweep_abandoned_steps(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.store.root().join("containers")) else {
            return;
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            let Some(owner) = std::fs::read_to_string(dir.join(STEP_OWNER))
                .ok()
                .and_then(|pid| pid.trim().parse::<i32>().ok())
            else {
                continue;
            };
            if berth_store::process_alive(owner) {
                continue;
            }
            let id = entry.file_name().to_string_lossy().into_owned();
            tracing::debug!(id, owner, "removing the RUN step of a killed build");
            if let Ok(backend) = self.backend("") {
                let _ = backend.delete(&id, true);
            }
            // A step on the bridge was a container of the store too.
            let _ = self.store.delete_container(&id);
            drop(StepDir { dir });
        }
    }

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
        std::fs::write(dir.join(STEP_OWNER), std::process::id().to_string())
            .map_err(|e| EngineError::io(format!("create {}", dir.display()), e))?;
        // Dropped before `guard`, which removes the directory the mounts
        // live in.
        let host = self.mount_step(&dir, step.mounts)?;
        let mut env = step.env;
        env.extend(host.env.iter().cloned());
        let mut info = ContainerInfo {
            record: ContainerRecord {
                id: id.clone(),
                name: format!("build-{}", &id[..12]),
                image_id: current.image.clone(),
                config: String::new(),
                status: ContainerStatus::Created,
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
                env,
                network: step.network,
                mounts: host.options.clone(),
                // The writable layer is thrown away once staged as the
                // step's layer: mounted volatile, unmounting it does not
                // sync the whole file system (100-150 ms after a big COPY).
                auto_remove: true,
                ..ContainerOptions::default()
            },
        };
        writeln!(out, " ---> Running in {}", &id[..12])
            .and_then(|()| out.flush())
            .map_err(|e| EngineError::io("write build output", e))?;
        let bridged = self.step_on_bridge(&mut info)?;
        let net = if bridged {
            match self.container_network(&info) {
                Ok(net) => net,
                Err(e) => {
                    let _ = self.store.delete_container(&id);
                    return Err(e);
                }
            }
        } else {
            crate::monitor::ContainerNetwork::none()
        };
        let result = (|| {
            self.prepare_bundle(&info, &dir, None, &net)?;
            let volumes: Vec<String> = config_of(&current.doc)
                .get("Volumes")
                .and_then(Value::as_object)
                .map(|v| v.keys().cloned().collect())
                .unwrap_or_default();
            super::mountpoints::make_dirs(&dir.join("rootfs"), &volumes)
                .map_err(|e| EngineError::io("make the image's volume directories", e))?;
            let targets: Vec<String> = host
                .options
                .iter()
                .map(|m| match m {
                    MountOption::Bind { target, .. } | MountOption::Tmpfs { target, .. } => {
                        target.clone()
                    }
                })
                .collect();
            let mountpoints = Mountpoints::find(&dir.join("rootfs"), &targets)
                .map_err(|e| EngineError::io("look for the build mounts' mountpoints", e))?;
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
            mountpoints
                .remove(&dir.join("upper"))
                .map_err(|e| EngineError::io("remove the build mounts' mountpoints", e))?;
            let layers: Vec<PathBuf> = current
                .layers
                .iter()
                .rev()
                .map(|l| self.store.layer_diff_dir(&l.chain_id))
                .collect();
            let layer = self.stage_container_layer(&id, &dir.join("upper"), &layers)?;
            drop(host);
            drop(guard);
            Ok(StepExit::Done(layer))
        })();
        if bridged {
            self.teardown_container_network(&id, net);
            let _ = self.store.delete_container(&id);
        }
        result
    }
}

/// The shell form's command line with each heredoc's body and delimiter
/// after it, as a shell reads a heredoc.
fn with_bodies(text: &str, heredocs: &[Heredoc]) -> String {
    let mut full = text.to_string();
    for doc in heredocs {
        full.push('\n');
        full.push_str(&doc.content);
        full.push_str(&doc.name);
    }
    full
}

/// What a shell-form `RUN` with heredocs hands its shell, and the script
/// file to mount when the body runs as one.
fn heredoc_command(text: &str, heredocs: &[Heredoc]) -> (String, Option<StepMount>) {
    let no_variables = |_: &str| None;
    let lone = heredocs.len() == 1
        && expand_words(text.trim(), '\\', &no_variables).is_ok_and(|words| words.len() == 1);
    match heredocs {
        [doc] if lone && doc.content.starts_with("#!") => (
            format!("{SCRIPT_DIR}/{}", doc.name),
            Some(StepMount::Script {
                name: doc.name.clone(),
                content: doc.content.clone(),
            }),
        ),
        [doc] if lone => (doc.content.clone(), None),
        _ => (with_bodies(text, heredocs), None),
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
        let config = config_of(&current.doc);
        let mut script = None;
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
                if run.heredocs.is_empty() {
                    shell.push(text.clone());
                } else {
                    let (command, file) = heredoc_command(text, &run.heredocs);
                    shell.push(command);
                    script = file;
                }
                shell
            }
        };
        let created_by = match &run.command {
            Command::Exec(args) => format!("RUN {}", json!(args)),
            Command::Shell(text) => format!("RUN {}", with_bodies(text, &run.heredocs)),
        };
        let workdir = config
            .get("WorkingDir")
            .and_then(Value::as_str)
            .filter(|w| !w.is_empty())
            .unwrap_or("/")
            .to_string();
        let vars = variables(&config, scope);
        let (mut mounts, mount_keys) = self.step_mounts(&at, &run.mounts, &vars, &workdir)?;
        mounts.extend(script);
        let network = match run.network {
            NetworkMode::Default => self.opts.network.clone(),
            NetworkMode::None => "none".into(),
            NetworkMode::Host => "host".into(),
        };
        // Mounts and `--network` change what the command sees, so they are
        // part of the key; `created_by` stays the command alone.
        let mut key_text = created_by.clone();
        for key in &mount_keys {
            key_text.push('\n');
            key_text.push_str(key);
        }
        if run.network != NetworkMode::Default {
            key_text.push_str(&format!("\n--network={network}"));
        }
        let key = StepKey::run(current.image.to_string(), &key_text, scope.args.clone())
            .digest()
            .hex();
        let env_keys: Vec<String> = env_of(&config).into_iter().map(|(k, _)| k).collect();
        let arg_env: Vec<String> = scope
            .args
            .iter()
            .filter(|(k, _)| !env_keys.contains(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        self.cached_or(&key, move |b| {
            hide_ignored(&mut mounts, b.ctx)?;
            let output = b
                .opts
                .run_output
                .as_ref()
                .map(|fd| fd.try_clone())
                .transpose()
                .map_err(|e| EngineError::io("duplicate the build output", e))?;
            let ran = b
                .engine
                .run_build_step(
                    &current,
                    StepRun {
                        args: args.clone(),
                        env: arg_env,
                        network,
                        mounts,
                        output,
                    },
                    &mut *b.out,
                )
                .map_err(|e| match e {
                    EngineError::BuildStep(message) => step_error(&at, "RUN", message),
                    other => other,
                })?;
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
