//! The steps of one stage: `FROM`, then each instruction in turn, each
//! taken from the build cache or executed and committed as a step image.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::OnceLock;

use berth_build::{Base, BuildContext, Location, StagePlan, StepKey};
use berth_dockerfile::{expand, Dockerfile, Instruction, Located};
use berth_store::{Digest, ImageLayer};
use serde_json::{json, Map, Value};

use super::copy;
use super::progress::StageWriter;
use super::{
    config_of, env_of, short, step_error, unsupported_flag, variables, BuildEvent, Current,
    StageOptions, StageScope, DEFAULT_PATH,
};

use crate::{Engine, EngineError, PullOptions};

/// One stage of a build in progress.
pub(super) struct Builder<'a> {
    pub(super) engine: &'a mut Engine,
    pub(super) opts: &'a StageOptions<'a>,
    pub(super) dockerfile: &'a Dockerfile,
    pub(super) ctx: &'a BuildContext,
    pub(super) out: &'a mut StageWriter<'a>,
    pub(super) meta_args: &'a BTreeMap<String, String>,
    /// The number of the last step started.
    pub(super) step: usize,
    pub(super) total: usize,
    /// The stages of earlier levels, by Dockerfile index.
    pub(super) results: &'a HashMap<usize, Current>,
    /// Set when a stage failed: this one stops before its next step.
    pub(super) failed: &'a OnceLock<usize>,
}

impl Builder<'_> {
    pub(super) fn say(&mut self, line: &str) {
        self.out.emit(BuildEvent::Line(line));
    }

    pub(super) fn at(&self, line: usize) -> Location {
        Location::new(self.opts.dockerfile_name.clone(), line)
    }

    pub(super) fn run_stage(&mut self, stage: &StagePlan) -> Result<Current, EngineError> {
        let mut scope = StageScope {
            args: BTreeMap::new(),
            cmd_set: false,
        };
        let mut current = self.from(stage.index, &stage.base, &mut scope)?;
        let (dockerfile, meta_args) = (self.dockerfile, self.meta_args);
        for instruction in &dockerfile.stages[stage.index].instructions {
            if self.failed.get().is_some() {
                return Err(EngineError::BuildStep(
                    "stopped: another stage failed".into(),
                ));
            }
            current = self.step(current, &mut scope, meta_args, instruction)?;
        }
        Ok(current)
    }

    pub(super) fn from(
        &mut self,
        index: usize,
        base: &Base,
        scope: &mut StageScope,
    ) -> Result<Current, EngineError> {
        let from = &self.dockerfile.stages[index].from;
        self.step += 1;
        self.out.emit(BuildEvent::Step {
            number: self.step,
            total: self.total,
            instruction: &from.original,
        });
        let mut current = match base {
            Base::Stage(i) => {
                let image = self.results[i].image.clone();
                self.engine.current(image)?
            }
            Base::Image(reference) => {
                let id = self
                    .base_image(reference)
                    .map_err(|e| step_error(&self.at(from.line), "FROM", e))?;
                let mut current = self.engine.current(id)?;
                for key in ["container", "container_config", "docker_version", "comment"] {
                    current.doc.remove(key);
                }
                current
            }
            Base::Scratch => {
                let arch = berth_build::host_platform_args()
                    .remove("TARGETARCH")
                    .unwrap_or_default();
                let mut doc = Map::new();
                doc.insert("architecture".into(), json!(arch));
                doc.insert("os".into(), json!("linux"));
                doc.insert("config".into(), json!({}));
                doc.insert("history".into(), json!([]));
                let key = StepKey::new("scratch", &from.original).digest().hex();
                self.cached_or(&key, |b| {
                    b.engine.commit_step(&mut doc.clone(), &[], None, None)
                })?
            }
        };
        // Both docker builders give a stage whose base sets no PATH the
        // default one; it lands in the stage's next image.
        let mut config = config_of(&current.doc);
        if !env_of(&config).iter().any(|(k, _)| k == "PATH") {
            let mut env = config
                .get("Env")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            env.push(json!(DEFAULT_PATH));
            config.insert("Env".into(), Value::Array(env));
            current.doc.insert("config".into(), Value::Object(config));
        }
        // The child's config is this build's: ONBUILD triggers were the
        // base's to give, and run now.
        let mut config = config_of(&current.doc);
        if let Some(triggers) = config.remove("OnBuild") {
            current.doc.insert("config".into(), Value::Object(config));
            let triggers = triggers.as_array().cloned().unwrap_or_default();
            if !triggers.is_empty() {
                current = self.onbuild(current, scope, from.line, &triggers)?;
            }
        }
        self.out.emit(BuildEvent::StepDone(&short(&current.image)));
        Ok(current)
    }

    /// The image a `FROM` names: the store's, pulled when missing or with
    /// `--pull`, as docker does. Image IDs are never pulled.
    pub(super) fn base_image(&mut self, reference: &str) -> Result<Digest, EngineError> {
        let pullable = !reference.starts_with("sha256:")
            && !berth_reference::is_full_image_id(reference)
            && berth_reference::Reference::parse_normalized(reference).is_ok();
        if !self.opts.pull || !pullable {
            match self.engine.resolve_image(reference) {
                Err(EngineError::NoSuchImage(_)) if pullable => {}
                resolved => return resolved,
            }
        }
        let options = PullOptions {
            registry: self.opts.registry.clone(),
            ..PullOptions::default()
        };
        let pulled = self.engine.pull(reference, &options, self.out.output())?;
        let image = pulled
            .into_iter()
            .next()
            .ok_or_else(|| EngineError::NoSuchImage(reference.to_string()))?;
        self.say(&format!(
            "Status: {} for {}",
            if image.up_to_date {
                "Image is up to date"
            } else {
                "Downloaded newer image"
            },
            image.name
        ));
        Ok(image.id)
    }

    /// The image the cache has for `key`, else the one `make` builds
    /// (recorded under `key`).
    pub(super) fn cached_or(
        &mut self,
        key: &str,
        make: impl FnOnce(&mut Self) -> Result<Digest, EngineError>,
    ) -> Result<Current, EngineError> {
        if !self.opts.no_cache {
            if let Some(id) = self.engine.store.build_cache_get(key)? {
                self.say(" ---> Using cache");
                return self.engine.current(id);
            }
        }
        let id = make(self)?;
        self.engine.store.build_cache_put(key, &id)?;
        self.engine.current(id)
    }

    pub(super) fn step(
        &mut self,
        current: Current,
        scope: &mut StageScope,
        meta_args: &BTreeMap<String, String>,
        located: &Located<Instruction>,
    ) -> Result<Current, EngineError> {
        self.step += 1;
        self.out.emit(BuildEvent::Step {
            number: self.step,
            total: self.total,
            instruction: &located.original,
        });
        let next = self.execute(current, scope, meta_args, located)?;
        self.out.emit(BuildEvent::StepDone(&short(&next.image)));
        Ok(next)
    }

    /// Runs one instruction on `current`: a step of the Dockerfile, or an
    /// `ONBUILD` trigger.
    pub(super) fn execute(
        &mut self,
        current: Current,
        scope: &mut StageScope,
        meta_args: &BTreeMap<String, String>,
        located: &Located<Instruction>,
    ) -> Result<Current, EngineError> {
        let at = self.at(located.line);
        let name = located.value.name();
        let config = config_of(&current.doc);
        let vars = variables(&config, scope);
        let lookup = |key: &str| vars.get(key).cloned();
        let escape = self.dockerfile.directives.escape;
        let ex = |word: &str| expand(word, escape, &lookup).map_err(|e| step_error(&at, name, e));
        let parent = current.image.to_string();
        if let Some(flag) = unsupported_flag(&located.value) {
            return Err(step_error(&at, name, format!("{flag} is not supported")));
        }
        let next = match &located.value {
            Instruction::Arg(arg) => {
                for decl in &arg.args {
                    let value = match (self.opts.build_args.get(&decl.name), &decl.default) {
                        (Some(given), _) => given.clone(),
                        (None, Some(default)) => ex(default)?,
                        (None, None) => meta_args.get(&decl.name).cloned().unwrap_or_default(),
                    };
                    scope.args.insert(decl.name.clone(), value);
                }
                let key = StepKey::new(parent, &located.original);
                let text = located.original.clone();
                self.metadata(current, key, text, |_, _| Ok(()))?
            }
            Instruction::Env(kvs) => {
                let mut pairs = Vec::new();
                for kv in &kvs.pairs {
                    pairs.push((ex(&kv.key)?, ex(&kv.value)?));
                }
                let text = format!(
                    "ENV {}",
                    pairs
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                let key = StepKey::new(parent, &text);
                self.metadata(current, key, text, move |config, _| {
                    let mut env = env_of(config);
                    for (k, v) in pairs {
                        match env.iter_mut().find(|(key, _)| *key == k) {
                            Some(existing) => existing.1 = v,
                            None => env.push((k, v)),
                        }
                    }
                    let list: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    config.insert("Env".into(), json!(list));
                    Ok(())
                })?
            }
            Instruction::Shell(shell) => {
                let shell = shell.clone();
                let key = StepKey::new(parent, &located.original);
                self.metadata(current, key, located.original.clone(), move |config, _| {
                    config.insert("Shell".into(), json!(shell));
                    Ok(())
                })?
            }
            Instruction::Maintainer(who) => {
                let who = who.clone();
                let key = StepKey::new(parent, &located.original);
                self.metadata(current, key, located.original.clone(), move |_, doc| {
                    doc.insert("author".into(), json!(who));
                    Ok(())
                })?
            }
            Instruction::Workdir(_) => self.workdir(current, scope, located, &vars)?,
            Instruction::Volume(paths) => {
                let paths = paths.iter().map(|p| ex(p)).collect::<Result<Vec<_>, _>>()?;
                self.volume(current, located, paths)?
            }
            Instruction::Run(run) => self.run(current, scope, located, run)?,
            Instruction::Copy(copy) => {
                let flags = copy::CopyFlags {
                    sources: &copy.sources,
                    dest: &copy.dest,
                    from: copy.from.as_deref(),
                    chown: copy.chown.as_deref().map(ex).transpose()?,
                    chmod: copy.chmod.as_deref().map(ex).transpose()?,
                    checksum: None,
                    unpack: None,
                };
                self.copy(current, located, flags, &ex)?
            }
            Instruction::Add(add) => {
                let flags = copy::CopyFlags {
                    sources: &add.sources,
                    dest: &add.dest,
                    from: None,
                    chown: add.chown.as_deref().map(ex).transpose()?,
                    chmod: add.chmod.as_deref().map(ex).transpose()?,
                    checksum: add.checksum.as_deref().map(ex).transpose()?,
                    unpack: add.unpack,
                };
                self.copy(current, located, flags, &ex)?
            }
            Instruction::From(_) => unreachable!("FROM starts a stage"),
            other => {
                let cmd_set = &mut scope.cmd_set;
                let key = StepKey::new(parent, &located.original);
                let instruction = other.clone();
                let original = located.original.clone();
                let arg_vars = scope.args.clone();
                let result = self.metadata(current, key, original.clone(), |config, _| {
                    // `apply` expands against the config's Env: build args
                    // join it for the expansion only.
                    let saved = config.get("Env").cloned();
                    let mut env: Vec<String> =
                        arg_vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    env.extend(env_of(config).iter().map(|(k, v)| format!("{k}={v}")));
                    config.insert("Env".into(), json!(env));
                    let applied =
                        crate::image::changes::apply(config, &original, &instruction, cmd_set);
                    match saved {
                        Some(env) => config.insert("Env".into(), env),
                        None => config.remove("Env"),
                    };
                    applied.map_err(|e| step_error(&at, name, e))
                });
                if matches!(other, Instruction::Cmd(_)) {
                    scope.cmd_set = true;
                }
                result?
            }
        };
        Ok(next)
    }

    /// A step that only changes the config.
    pub(super) fn metadata(
        &mut self,
        current: Current,
        key: StepKey,
        created_by: String,
        change: impl FnOnce(&mut Map<String, Value>, &mut Map<String, Value>) -> Result<(), EngineError>,
    ) -> Result<Current, EngineError> {
        let key = key.digest().hex();
        self.cached_or(&key, move |b| {
            let mut doc = current.doc;
            let mut config = config_of(&doc);
            change(&mut config, &mut doc)?;
            doc.insert("config".into(), Value::Object(config));
            let mut entry = Map::new();
            entry.insert("created_by".into(), json!(created_by));
            b.engine
                .commit_step(&mut doc, &current.layers, None, Some(entry))
        })
    }

    pub(super) fn layer_dirs(&self, layers: &[ImageLayer]) -> Vec<PathBuf> {
        layers
            .iter()
            .rev()
            .map(|l| self.engine.store.layer_diff_dir(&l.chain_id))
            .collect()
    }
}
