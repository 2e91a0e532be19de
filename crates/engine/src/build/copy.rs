//! A `COPY` or `ADD` step: the sources resolved against the context, and
//! their layer written straight from it.

use std::io;

use berth_build::{resolve_copy, CopyInputs, CopyRequest, SourceSpec, StepKey};
use berth_dockerfile::{expand_heredoc, Instruction, Located, Source};
use serde_json::{json, Map, Value};

use super::layer::{self, Ownership};
use super::{config_of, env_of, step_error, Builder, Current};
use crate::EngineError;

impl Builder<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn copy(
        &mut self,
        current: Current,
        located: &Located<Instruction>,
        sources: &[Source],
        dest: &str,
        chown: Option<String>,
        chmod: Option<String>,
        ex: &dyn Fn(&str) -> Result<String, EngineError>,
    ) -> Result<Current, EngineError> {
        let at = self.at(located.line);
        let name = located.value.name();
        let config = config_of(&current.doc);
        let mut specs = Vec::new();
        for source in sources {
            specs.push(match source {
                Source::Path(path) => SourceSpec::Path(ex(path)?),
                Source::Heredoc(doc) => SourceSpec::Inline {
                    name: doc.name.clone(),
                    content: if doc.expand {
                        let vars = env_of(&config);
                        let lookup =
                            |key: &str| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
                        expand_heredoc(&doc.content, &lookup)
                            .map_err(|e| step_error(&at, name, e))?
                    } else {
                        doc.content.clone()
                    },
                },
            });
        }
        let dest = ex(dest)?;
        let workdir = config
            .get("WorkingDir")
            .and_then(Value::as_str)
            .filter(|w| !w.is_empty())
            .unwrap_or("/")
            .to_string();
        let instruction: &'static str = if name == "ADD" { "ADD" } else { "COPY" };
        let mut copy_plan = resolve_copy(
            self.ctx,
            &CopyRequest {
                at: &at,
                instruction,
                sources: &specs,
                dest: &dest,
                workdir: &workdir,
            },
        )?;
        let dirs = self.layer_dirs(&current.layers);
        let exists = move |path: &str| {
            dirs.iter()
                .any(|d| d.join(path.trim_start_matches('/')).is_dir())
        };
        if exists(&copy_plan.dest.path) {
            copy_plan.place_inside_existing_dir();
        }
        let ownership = Ownership {
            uid: 0,
            gid: 0,
            chmod: chmod
                .as_deref()
                .map(|m| u32::from_str_radix(m, 8))
                .transpose()
                .map_err(|_| step_error(&at, name, format!("invalid --chmod {chmod:?}")))?,
        };
        let ownership = match &chown {
            None => ownership,
            Some(spec) => {
                let (user, group) = spec.split_once(':').unwrap_or((spec, spec));
                let number = |s: &str| {
                    s.parse::<u64>().map_err(|_| {
                        step_error(
                            &at,
                            name,
                            format!("--chown {spec:?}: only numeric ids are supported"),
                        )
                    })
                };
                Ownership {
                    uid: number(user)?,
                    gid: number(group)?,
                    ..ownership
                }
            }
        };
        let text = located.original.clone();
        let key = StepKey::copy(
            current.image.to_string(),
            &text,
            CopyInputs {
                sources: copy_plan.digest,
                from: None,
                chown,
                chmod,
            },
        )
        .digest()
        .hex();
        let ctx = self.ctx;
        self.cached_or(&key, move |b| {
            let (reader, writer) = io::pipe().map_err(|e| EngineError::io("create a pipe", e))?;
            let staged = std::thread::scope(|s| {
                let producer = s.spawn(|| {
                    let out = layer::write_copy(
                        ctx,
                        &copy_plan,
                        &ownership,
                        &exists,
                        io::BufWriter::with_capacity(1 << 16, writer),
                    )?;
                    out.into_inner().map(drop).map_err(|e| e.into_error())
                });
                let staged = b.engine.store.stage_layer(reader);
                match producer.join() {
                    Ok(Ok(())) => Ok(staged?),
                    Ok(Err(e)) => Err(step_error(&at, name, e)),
                    Err(_) => Err(step_error(&at, name, "the layer writer panicked")),
                }
            })?;
            let mut doc = current.doc;
            let mut entry = Map::new();
            entry.insert("created_by".into(), json!(text));
            b.engine
                .commit_step(&mut doc, &current.layers, Some(staged), Some(entry))
        })
    }
}
