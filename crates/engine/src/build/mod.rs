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
mod dirs;
mod fetch;
mod layer;
mod mountpoints;
mod mounts;
mod onbuild;
mod progress;
mod prune;
mod run;
mod steps;

pub use mounts::BuildSecret;
pub use progress::{BuildEvent, BuildProgress, ClassicOutput, StageLabel};
pub use prune::BuildCachePruned;

use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use berth_build::{plan, BuildContext, HashCache, IgnoreRules, Location, PlanOptions, StagePlan};
use berth_dockerfile::{Dockerfile, Instruction};
use berth_store::{Digest, ImageCommit, ImageLayer, LayerInput, StagedLayer};
use chrono::Utc;
use serde_json::{json, Map, Value};

use crate::{familiar, normalize_tag, Engine, EngineError, RegistryOptions};
use progress::{StageOutput, StageWriter};
use steps::Builder;

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
    /// How the build's pulls (`FROM`, `COPY --from`) reach registries,
    /// with the credentials a caller passes in (`X-Registry-Config`).
    pub registry: RegistryOptions,
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
        progress.event(planned.target, BuildEvent::Built(&last.image.to_string()));
        for tag in &tags {
            self.store.tag(tag, &last.image)?;
            progress.event(planned.target, BuildEvent::Tagged(&familiar(tag)));
            self.emit_image_event(
                &last.image,
                last.image.to_string(),
                familiar(tag),
                crate::events::ImageAction::Tag,
            );
        }
        let name = tags
            .first()
            .map(|t| familiar(t))
            .unwrap_or_else(|| last.image.to_string());
        self.emit_image_event(
            &last.image,
            last.image.to_string(),
            name,
            crate::events::ImageAction::Build,
        );
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
            crate::image::config::push_history(doc, entry);
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
        let manifest = crate::image::manifest::manifest_json(
            &Digest::of(&config),
            config.len() as u64,
            &descriptors,
        );
        let commit = ImageCommit {
            config: self.store.stage_bytes(&config)?,
            manifest: self.store.stage_bytes(&manifest)?,
            manifest_media_type: crate::image::manifest::OCI_MANIFEST.to_string(),
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
