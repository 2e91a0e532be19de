//! `build`: runs the stages `berth_build::plan` chose, one step at a time,
//! as docker's classic builder does: every step's result is an image (no
//! tag), recorded in the build cache under the step's key, so a rebuild
//! takes each unchanged step from the cache and only redoes what changed
//! and what follows it.
//!
//! `COPY`/`ADD` layers are written straight from the context; `RUN` runs in
//! a container over the current layers, and its writable layer becomes the
//! step's layer. `WORKDIR` creates its directory in a layer when the image
//! lacks it (BuildKit's behaviour; the classic builder leaves that to the
//! next layer). Tags are set only once the whole build succeeded.
//!
//! The plan's levels run one after the other, the stages of a level at
//! once: the first on this thread, each other one on a thread of its own
//! with its own handle on the store (a handle is not shared between
//! threads; the store is safe across handles as across processes). When a
//! stage fails, the others stop before their next step. A `FROM` image the
//! store lacks is pulled (always, with `--pull`), and the `ONBUILD`
//! triggers of a base run right after its `FROM`, as docker runs them.

mod archive;
mod copy;
mod fetch;
mod layer;
mod mountpoints;
mod mounts;
mod onbuild;
mod progress;
mod prune;
mod run;

pub use mounts::BuildSecret;
pub use progress::{BuildEvent, BuildProgress, ClassicOutput, StageLabel};
pub use prune::BuildCachePruned;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::ops::Deref;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use berth_build::{
    plan, Base, BuildContext, HashCache, IgnoreRules, Location, PlanOptions, StagePlan, StepKey,
};
use berth_dockerfile::{expand, Dockerfile, Instruction, Located};
use berth_store::{Digest, ImageCommit, ImageLayer, LayerInput, StagedLayer};
use chrono::Utc;
use serde_json::{json, Map, Value};

use crate::{normalize_tag, Engine, EngineError, PullOptions};
use layer::Ownership;
use progress::{StageOutput, StageWriter};

/// What `build` is asked to do.
#[derive(Debug)]
pub struct BuildOptions {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// Its name in messages (`Dockerfile`, `-`).
    pub dockerfile_name: String,
    /// Its path, for `<Dockerfile>.dockerignore`; `None` for `-f -`.
    pub dockerfile_path: Option<PathBuf>,
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// `--label`s, set on the final image.
    pub labels: BTreeMap<String, String>,
    /// `none` or `host` for `RUN` steps.
    pub network: String,
    /// `--pull`: pull every `FROM` image, even one the store has.
    pub pull: bool,
    /// `--secret`s by id, for `RUN --mount=type=secret`.
    pub secrets: BTreeMap<String, BuildSecret>,
}

/// What a stage's steps read of the build's options: those, with `RUN`
/// output going to the stage's own pipe.
struct StageOptions<'a> {
    build: &'a BuildOptions,
    /// Where `RUN` output goes.
    run_output: Option<OwnedFd>,
}

impl Deref for StageOptions<'_> {
    type Target = BuildOptions;

    fn deref(&self) -> &BuildOptions {
        self.build
    }
}

/// What the stages of one build share.
struct BuildShared<'a> {
    opts: &'a BuildOptions,
    dockerfile: &'a Dockerfile,
    ctx: &'a BuildContext,
    meta_args: &'a BTreeMap<String, String>,
    progress: &'a dyn BuildProgress,
    total: usize,
    /// Steps numbered before each stage's `FROM`, by Dockerfile index.
    steps_before: HashMap<usize, usize>,
    /// The stage that failed first.
    failed: OnceLock<usize>,
}

/// A stage's state between steps: its latest image.
struct Current {
    image: Digest,
    doc: Map<String, Value>,
    layers: Vec<ImageLayer>,
}

/// What a stage sees while it runs.
struct StageScope {
    /// `ARG`s declared in the stage, with their values.
    args: BTreeMap<String, String>,
    /// `CMD` was set in this stage (then `ENTRYPOINT` keeps it).
    cmd_set: bool,
}

/// The `PATH` docker's builders set when a base image has none.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn short(id: &Digest) -> String {
    id.to_string()
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect()
}

fn config_of(doc: &Map<String, Value>) -> Map<String, Value> {
    doc.get("config")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn env_of(config: &Map<String, Value>) -> Vec<(String, String)> {
    config
        .get("Env")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Variables a step expands with: build args, overridden by `ENV`.
fn variables(config: &Map<String, Value>, scope: &StageScope) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = scope.args.clone().into_iter().collect();
    vars.extend(env_of(config));
    vars
}

fn step_error(at: &Location, instruction: &str, message: impl std::fmt::Display) -> EngineError {
    EngineError::BuildStep(format!("{at}: {instruction}: {message}"))
}

/// A flag of newer Dockerfile frontends that berth does not implement,
/// used by `instruction`: refused, as docker 20.10's builders refuse it,
/// rather than ignored and the image built otherwise than the Dockerfile
/// says.
fn unsupported_flag(instruction: &Instruction) -> Option<&'static str> {
    match instruction {
        Instruction::Copy(copy) if copy.parents => Some("--parents"),
        Instruction::Copy(copy) if !copy.exclude.is_empty() => Some("--exclude"),
        Instruction::Add(add) if add.keep_git_dir => Some("--keep-git-dir"),
        Instruction::Add(add) if !add.exclude.is_empty() => Some("--exclude"),
        _ => None,
    }
}

impl Engine {
    /// Builds an image, reporting to `progress`; returns the image's ID.
    pub fn build(
        &mut self,
        opts: BuildOptions,
        progress: &dyn BuildProgress,
    ) -> Result<Digest, EngineError> {
        self.sweep_abandoned_steps();
        let file = opts.dockerfile_name.as_str();
        let dockerfile = berth_dockerfile::parse(file, &opts.dockerfile)?;
        let tags = opts
            .tags
            .iter()
            .map(|t| normalize_tag(t))
            .collect::<Result<Vec<_>, _>>()?;
        let planned = plan(
            &dockerfile,
            &PlanOptions {
                file,
                target: opts.target.as_deref(),
                build_args: &opts.build_args,
            },
        )?;
        let rules = IgnoreRules::load(&opts.context, opts.dockerfile_path.as_deref())?;
        let cache_file = self.hash_cache_file(&opts.context);
        let ctx = BuildContext::open(&opts.context, &rules, HashCache::load(&cache_file))?;

        // Steps are numbered in Dockerfile order, as the classic builder
        // numbers a sequential build, whatever runs in parallel.
        let mut in_order: Vec<&StagePlan> = planned.stages.iter().collect();
        in_order.sort_by_key(|stage| stage.index);
        let mut steps_before = HashMap::new();
        let mut total = 0;
        for stage in &in_order {
            steps_before.insert(stage.index, total);
            total += 1 + dockerfile.stages[stage.index].instructions.len();
        }
        let labels: Vec<StageLabel> = in_order
            .iter()
            .map(|stage| StageLabel {
                index: stage.index,
                name: stage
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("stage-{}", stage.index)),
            })
            .collect();
        progress.stages(&labels);
        let shared = BuildShared {
            opts: &opts,
            dockerfile: &dockerfile,
            ctx: &ctx,
            meta_args: &planned.meta_args,
            progress,
            total,
            steps_before,
            failed: OnceLock::new(),
        };
        let mut results = HashMap::new();
        for level in &planned.levels {
            let stages: Vec<&StagePlan> = level
                .iter()
                .filter_map(|&index| planned.stage(index))
                .collect();
            let finished = self.build_level(&shared, &results, &stages)?;
            results.extend(finished);
        }
        let mut last = results
            .remove(&planned.target)
            .ok_or_else(|| EngineError::BuildStep("the target stage did not run".into()))?;
        if !opts.labels.is_empty() {
            let mut config = config_of(&last.doc);
            let mut labels = config
                .get("Labels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for (k, v) in &opts.labels {
                labels.insert(k.clone(), json!(v));
            }
            config.insert("Labels".into(), Value::Object(labels));
            last.doc.insert("config".into(), Value::Object(config));
            last.image = self.commit_step(&mut last.doc, &last.layers, None, None)?;
        }
        if let Err(e) = ctx.save_hash_cache(&cache_file) {
            tracing::debug!(error = %e, "build context hash cache not saved");
        }
        for tag in &tags {
            self.store.tag(tag, &last.image)?;
        }
        Ok(last.image)
    }

    /// Runs the stages of one level, returning their results; the error is
    /// the one of the stage that failed first.
    fn build_level(
        &mut self,
        shared: &BuildShared<'_>,
        results: &HashMap<usize, Current>,
        stages: &[&StagePlan],
    ) -> Result<Vec<(usize, Current)>, EngineError> {
        let Some((first, others)) = stages.split_first() else {
            return Ok(Vec::new());
        };
        let root = self.store.root().to_path_buf();
        let outcomes = std::thread::scope(|s| {
            let threads: Vec<_> = others
                .iter()
                .map(|&stage| {
                    let root = &root;
                    let thread = s.spawn(move || {
                        Engine::open(root)
                            .and_then(|mut engine| engine.build_stage(shared, results, stage))
                    });
                    (stage.index, thread)
                })
                .collect();
            let mut outcomes = vec![(first.index, self.build_stage(shared, results, first))];
            for (index, thread) in threads {
                let outcome = thread.join().unwrap_or_else(|_| {
                    Err(EngineError::BuildStep(format!("stage {index} panicked")))
                });
                outcomes.push((index, outcome));
            }
            outcomes
        });
        let mut finished = Vec::new();
        let mut errors = HashMap::new();
        for (index, outcome) in outcomes {
            match outcome {
                Ok(current) => finished.push((index, current)),
                Err(e) => {
                    errors.insert(index, e);
                }
            }
        }
        let first_failure = shared
            .failed
            .get()
            .and_then(|index| errors.remove(index))
            .or_else(|| errors.into_values().next());
        match first_failure {
            Some(e) => Err(e),
            None => Ok(finished),
        }
    }

    /// Runs one stage, its `RUN` output read from a pipe of its own.
    fn build_stage(
        &mut self,
        shared: &BuildShared<'_>,
        results: &HashMap<usize, Current>,
        stage: &StagePlan,
    ) -> Result<Current, EngineError> {
        let (output, run_output) = StageOutput::new(stage.index, shared.progress)
            .map_err(|e| EngineError::io("create the pipe for RUN output", e))?;
        let result = std::thread::scope(|s| {
            let forwarder = s.spawn(|| output.forward());
            let result = {
                // Dropped at the end of this block, closing the pipe's
                // write end, which ends the forwarding.
                let opts = StageOptions {
                    build: shared.opts,
                    run_output: Some(run_output),
                };
                let mut out = StageWriter::new(&output);
                let mut builder = Builder {
                    engine: self,
                    opts: &opts,
                    dockerfile: shared.dockerfile,
                    ctx: shared.ctx,
                    out: &mut out,
                    meta_args: shared.meta_args,
                    step: shared.steps_before[&stage.index],
                    total: shared.total,
                    results,
                    failed: &shared.failed,
                };
                builder.run_stage(stage)
            };
            output.finish();
            if forwarder.join().is_err() {
                tracing::warn!(stage = stage.index, "forwarding RUN output panicked");
            }
            result
        });
        if result.is_err() {
            let _ = shared.failed.set(stage.index);
        }
        output.emit(BuildEvent::StageDone);
        result
    }

    /// Where the context's file hashes are kept between builds: one file
    /// per context directory.
    fn hash_cache_file(&self, context: &Path) -> PathBuf {
        let absolute = std::fs::canonicalize(context).unwrap_or_else(|_| context.to_path_buf());
        let name = Digest::of(absolute.as_os_str().as_encoded_bytes()).to_string();
        self.store
            .root()
            .join("build")
            .join(name.trim_start_matches("sha256:"))
    }

    /// Stores `doc` with `layers` (plus `new`) as an image; `history` is
    /// the step's history entry. Returns the image ID.
    fn commit_step(
        &mut self,
        doc: &mut Map<String, Value>,
        layers: &[ImageLayer],
        new: Option<StagedLayer>,
        history: Option<Map<String, Value>>,
    ) -> Result<Digest, EngineError> {
        let created = now();
        doc.insert("created".into(), json!(created));
        if let Some(mut entry) = history {
            entry.insert("created".into(), json!(created));
            if new.is_none() {
                entry.insert("empty_layer".into(), json!(true));
            }
            crate::commit::push_history(doc, entry);
        }
        let mut diff_ids: Vec<Value> = layers
            .iter()
            .map(|l| json!(l.diff_id.to_string()))
            .collect();
        let mut inputs: Vec<LayerInput> = layers
            .iter()
            .map(|l| LayerInput {
                diff_id: l.diff_id.clone(),
                blob_digest: l.blob_digest.clone(),
                blob_media_type: l.blob_media_type.clone(),
                blob_size: l.blob_size,
                staged: None,
            })
            .collect();
        if let Some(layer) = new {
            diff_ids.push(json!(layer.diff_id().to_string()));
            inputs.push(LayerInput {
                diff_id: layer.diff_id().clone(),
                blob_digest: layer.blob_digest().clone(),
                blob_media_type: layer.compression().oci_layer_media_type().to_string(),
                blob_size: layer.blob_size(),
                staged: Some(layer),
            });
        }
        doc.insert(
            "rootfs".into(),
            json!({ "type": "layers", "diff_ids": diff_ids }),
        );
        let config = serde_json::to_vec(&Value::Object(doc.clone())).map_err(|e| {
            EngineError::InvalidConfig {
                what: "json".into(),
                detail: e.to_string(),
            }
        })?;
        let descriptors: Vec<(Digest, String, u64)> = inputs
            .iter()
            .map(|l| {
                (
                    l.blob_digest.clone(),
                    l.blob_media_type.clone(),
                    l.blob_size,
                )
            })
            .collect();
        let manifest =
            crate::save::manifest_json(&Digest::of(&config), config.len() as u64, &descriptors);
        let commit = ImageCommit {
            config: self.store.stage_bytes(&config)?,
            manifest: self.store.stage_bytes(&manifest)?,
            manifest_media_type: crate::load::OCI_MANIFEST.to_string(),
            created: Some(Utc::now().timestamp()),
            layers: inputs,
            tags: Vec::new(),
            repo_digests: Vec::new(),
        };
        let mut outcome = self.store.commit_images(vec![commit])?;
        Ok(outcome.remove(0).id)
    }

    fn current(&self, image: Digest) -> Result<Current, EngineError> {
        let raw = self.store.content().read(&image)?;
        let doc: Map<String, Value> =
            serde_json::from_slice(&raw).map_err(|e| EngineError::InvalidConfig {
                what: "json".into(),
                detail: e.to_string(),
            })?;
        let layers = self.store.image_layers(&image)?;
        Ok(Current { image, doc, layers })
    }
}

/// One stage of a build in progress.
struct Builder<'a> {
    engine: &'a mut Engine,
    opts: &'a StageOptions<'a>,
    dockerfile: &'a Dockerfile,
    ctx: &'a BuildContext,
    out: &'a mut StageWriter<'a>,
    meta_args: &'a BTreeMap<String, String>,
    /// The number of the last step started.
    step: usize,
    total: usize,
    /// The stages of earlier levels, by Dockerfile index.
    results: &'a HashMap<usize, Current>,
    /// Set when a stage failed: this one stops before its next step.
    failed: &'a OnceLock<usize>,
}

impl Builder<'_> {
    fn say(&mut self, line: &str) {
        self.out.emit(BuildEvent::Line(line));
    }

    fn at(&self, line: usize) -> Location {
        Location::new(self.opts.dockerfile_name.clone(), line)
    }

    fn run_stage(&mut self, stage: &StagePlan) -> Result<Current, EngineError> {
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

    fn from(
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
    fn base_image(&mut self, reference: &str) -> Result<Digest, EngineError> {
        let pullable = !reference.starts_with("sha256:")
            && !berth_reference::is_full_image_id(reference)
            && berth_reference::Reference::parse_normalized(reference).is_ok();
        if !self.opts.pull || !pullable {
            match self.engine.resolve_image(reference) {
                Err(EngineError::NoSuchImage(_)) if pullable => {}
                resolved => return resolved,
            }
        }
        let pulled = self
            .engine
            .pull(reference, &PullOptions::default(), self.out.output())?;
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
    fn cached_or(
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

    fn step(
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
    fn execute(
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
                    let applied = crate::changes::apply(config, &original, &instruction, cmd_set);
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
    fn metadata(
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

    fn layer_dirs(&self, layers: &[ImageLayer]) -> Vec<PathBuf> {
        layers
            .iter()
            .rev()
            .map(|l| self.engine.store.layer_diff_dir(&l.chain_id))
            .collect()
    }

    fn workdir(
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
        crate::changes::apply(&mut config, &original, &instruction, &mut scope.cmd_set)
            .map_err(|e| step_error(&at, "WORKDIR", e))?;
        let dir = config
            .get("WorkingDir")
            .and_then(Value::as_str)
            .unwrap_or("/")
            .to_string();
        let text = format!("WORKDIR {dir}");
        let key = StepKey::new(current.image.to_string(), &text)
            .digest()
            .hex();
        // The directory, and its parents, are looked up in the image: through
        // its symlinks (inside the image), with whiteouts hiding what they
        // delete.
        let fs = berth_build::ImageFs::open(&self.layer_dirs(&current.layers))?;
        let target = berth_build::resolve_destination(
            &fs,
            &berth_build::Destination::new(&dir, "/"),
            &at,
            "WORKDIR",
        )?
        .path;
        let mut existing = std::collections::BTreeSet::new();
        for path in layer::ancestors(&target)
            .into_iter()
            .chain([target.clone()])
        {
            if fs.is_dir(&path)? {
                existing.insert(path);
            }
        }
        let missing = target != "/" && !existing.contains(&target);
        // BuildKit makes the missing directories the current USER's.
        let user = config_of(&current.doc)
            .get("User")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let owner = if missing && !user.is_empty() {
            let (uid, gid) = berth_build::resolve_chown(&fs, &user, &at, "WORKDIR")?;
            Ownership {
                uid: u64::from(uid),
                gid: u64::from(gid),
                ..Ownership::default()
            }
        } else {
            Ownership::default()
        };
        self.cached_or(&key, move |b| {
            let mut doc = current.doc;
            let mut config = config_of(&doc);
            config.insert("WorkingDir".into(), json!(dir));
            doc.insert("config".into(), Value::Object(config));
            let layer = if missing {
                let (reader, writer) =
                    io::pipe().map_err(|e| EngineError::io("create a pipe", e))?;
                let stage = std::thread::spawn(move || {
                    let exists = |path: &str| existing.contains(path);
                    layer::write_dirs(&[target], &owner, &exists, writer).map(drop)
                });
                let staged = b.engine.store.stage_layer(reader);
                stage
                    .join()
                    .map_err(|_| EngineError::BuildStep("the layer writer panicked".into()))?
                    .map_err(|e| EngineError::io("write the WORKDIR layer", e))?;
                Some(staged?)
            } else {
                None
            };
            let mut entry = Map::new();
            entry.insert("created_by".into(), json!(text));
            b.engine
                .commit_step(&mut doc, &current.layers, layer, Some(entry))
        })
    }
}
