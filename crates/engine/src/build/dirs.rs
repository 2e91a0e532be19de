//! `WORKDIR` and `VOLUME`: a config change; `WORKDIR` with a layer making
//! the directories the image lacks, as docker's builders make them.

use std::collections::{BTreeSet, HashMap};
use std::io;

use berth_build::{Location, StepKey};
use berth_dockerfile::{Instruction, Located};
use serde_json::{json, Map, Value};

use super::layer::{self, Ownership};
use super::steps::Builder;
use super::{config_of, step_error, Current, StageScope};
use crate::EngineError;

/// Directories a step makes: where they are in the image (their symlinks
/// followed inside it), and which of them and their parents exist.
struct Dirs {
    targets: Vec<String>,
    existing: BTreeSet<String>,
}

impl Dirs {
    fn missing(&self) -> bool {
        self.targets
            .iter()
            .any(|t| t != "/" && !self.existing.contains(t))
    }
}

impl Builder<'_> {
    pub(super) fn workdir(
        &mut self,
        current: Current,
        scope: &mut StageScope,
        located: &Located<Instruction>,
        vars: &HashMap<String, String>,
    ) -> Result<Current, EngineError> {
        let at = self.at(located.line);
        let instruction = located.value.clone();
        let original = located.original.clone();
        let mut config = config_of(&current.doc);
        let mut env: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.sort();
        config.insert("Env".into(), json!(env));
        crate::image::changes::apply(&mut config, &original, &instruction, &mut scope.cmd_set)
            .map_err(|e| step_error(&at, "WORKDIR", e))?;
        let dir = config
            .get("WorkingDir")
            .and_then(Value::as_str)
            .unwrap_or("/")
            .to_string();
        let text = format!("WORKDIR {dir}");
        let fs = berth_build::ImageFs::open(&self.layer_dirs(&current.layers))?;
        let dirs = self.image_dirs(&fs, std::slice::from_ref(&dir), &at, "WORKDIR")?;
        // BuildKit makes the missing directories the current USER's.
        let user = config_of(&current.doc)
            .get("User")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let owner = if dirs.missing() && !user.is_empty() {
            let (uid, gid) = berth_build::resolve_chown(&fs, &user, &at, "WORKDIR")?;
            Ownership {
                uid: u64::from(uid),
                gid: u64::from(gid),
                ..Ownership::default()
            }
        } else {
            Ownership::default()
        };
        self.dirs_step(current, text.clone(), text, dirs, owner, move |config| {
            config.insert("WorkingDir".into(), json!(dir));
        })
    }

    /// `VOLUME` (paths expanded): the config's `Volumes`.
    pub(super) fn volume(
        &mut self,
        current: Current,
        located: &Located<Instruction>,
        paths: Vec<String>,
    ) -> Result<Current, EngineError> {
        let at = self.at(located.line);
        if paths.iter().any(String::is_empty) {
            return Err(step_error(
                &at,
                "VOLUME",
                "VOLUME specified can not be an empty string",
            ));
        }
        let text = format!("VOLUME {}", json!(paths));
        // Docker's classic builder makes a volume's directory only when a
        // later `RUN` mounts it (see `run_build_step`): no layer here.
        let dirs = Dirs {
            targets: Vec::new(),
            existing: BTreeSet::new(),
        };
        let created_by = located.original.clone();
        self.dirs_step(
            current,
            text,
            created_by,
            dirs,
            Ownership::default(),
            move |config| {
                let mut volumes = config
                    .get("Volumes")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                for p in paths {
                    volumes.insert(p, json!({}));
                }
                config.insert("Volumes".into(), Value::Object(volumes));
            },
        )
    }

    /// Looks the directories up in the image: through its symlinks (inside
    /// the image), with whiteouts hiding what they delete.
    fn image_dirs(
        &self,
        fs: &berth_build::ImageFs,
        dirs: &[String],
        at: &Location,
        instruction: &'static str,
    ) -> Result<Dirs, EngineError> {
        let mut targets = Vec::new();
        let mut existing = BTreeSet::new();
        for dir in dirs {
            let target = berth_build::resolve_destination(
                fs,
                &berth_build::Destination::new(dir, "/"),
                at,
                instruction,
            )?
            .path;
            for path in layer::ancestors(&target)
                .into_iter()
                .chain([target.clone()])
            {
                if !existing.contains(&path) && fs.is_dir(&path)? {
                    existing.insert(path);
                }
            }
            targets.push(target);
        }
        Ok(Dirs { targets, existing })
    }

    /// A step changing the config, with a layer of the directories the
    /// image lacks when it lacks any; cached under the parent and `text`.
    fn dirs_step(
        &mut self,
        current: Current,
        text: String,
        created_by: String,
        dirs: Dirs,
        owner: Ownership,
        change: impl FnOnce(&mut Map<String, Value>),
    ) -> Result<Current, EngineError> {
        let key = StepKey::new(current.image.to_string(), &text)
            .digest()
            .hex();
        self.cached_or(&key, move |b| {
            let mut doc = current.doc;
            let mut config = config_of(&doc);
            change(&mut config);
            doc.insert("config".into(), Value::Object(config));
            let layer = if dirs.missing() {
                let (reader, writer) =
                    io::pipe().map_err(|e| EngineError::io("create a pipe", e))?;
                let Dirs { targets, existing } = dirs;
                let stage = std::thread::spawn(move || {
                    let exists = |path: &str| existing.contains(path);
                    layer::write_dirs(&targets, &owner, &exists, writer).map(drop)
                });
                let staged = b.engine.store.stage_layer(reader);
                stage
                    .join()
                    .map_err(|_| EngineError::BuildStep("the layer writer panicked".into()))?
                    .map_err(|e| EngineError::io("write the directories' layer", e))?;
                Some(staged?)
            } else {
                None
            };
            let mut entry = Map::new();
            entry.insert("created_by".into(), json!(created_by));
            b.engine
                .commit_step(&mut doc, &current.layers, layer, Some(entry))
        })
    }
}
