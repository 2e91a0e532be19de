//! A `COPY` or `ADD` step. Sources come from the context, or with
//! `--from` from an earlier stage's result or an image (local, else
//! pulled), read through its layer directories; here-documents are files;
//! `ADD` downloads URLs and unpacks archives. The layer is written straight
//! from where the sources are.
//!
//! The step's key covers what is copied: the content digests of the
//! sources and, for `--from`, the source image's ID. Archives are only
//! told apart on a cache miss, as the key already covers their bytes.

use std::collections::BTreeSet;
use std::io;

use berth_build::{
    resolve_chown, resolve_copy, resolve_copy_from, resolve_destination, stage_index, BuildError,
    CopyInputs, CopyRequest, Destination, EntryKind, Fetched, ImageFs, ItemSource, Location,
    SourceSpec, StepKey,
};
use berth_dockerfile::{expand_heredoc, Instruction, Located, Source};
use berth_store::Digest;
use serde_json::{json, Map, Value};

use super::layer::{self, ItemFiles, Ownership};
use super::{archive, config_of, env_of, fetch, step_error, Builder, Current};
use crate::{EngineError, NoProgress, PullOptions};

/// The flags and operands of a `COPY` or `ADD`, variables expanded where
/// docker expands them.
pub(super) struct CopyFlags<'a> {
    pub sources: &'a [Source],
    pub dest: &'a str,
    /// `COPY --from`, as written.
    pub from: Option<&'a str>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    /// `ADD --checksum`.
    pub checksum: Option<String>,
    /// `ADD --unpack`: `None` unpacks local archives, not downloads.
    pub unpack: Option<bool>,
}

/// Where `--from` sources come from.
struct FromImage {
    id: Digest,
    fs: ImageFs,
}

/// A source before downloads: a resolved spec or a URL to fetch.
enum Pending {
    Spec(SourceSpec),
    Url(String),
}

/// `sha256:<64 hex digits>`, the form `--checksum` takes.
fn parse_checksum(value: &str) -> Result<berth_build::Digest, String> {
    value
        .strip_prefix("sha256:")
        .filter(|hex| hex.len() == 64)
        .and_then(berth_build::Digest::from_hex)
        .ok_or_else(|| format!("invalid checksum {value:?}: expected sha256:<64 hex digits>"))
}

impl Builder<'_> {
    pub(super) fn copy(
        &mut self,
        current: Current,
        located: &Located<Instruction>,
        flags: CopyFlags<'_>,
        ex: &dyn Fn(&str) -> Result<String, EngineError>,
    ) -> Result<Current, EngineError> {
        let at = self.at(located.line);
        let name = located.value.name();
        let instruction: &'static str = if name == "ADD" { "ADD" } else { "COPY" };
        let config = config_of(&current.doc);
        let workdir = config
            .get("WorkingDir")
            .and_then(Value::as_str)
            .filter(|w| !w.is_empty())
            .unwrap_or("/")
            .to_string();
        let dest = ex(flags.dest)?;
        let dest_fs = ImageFs::open(&self.layer_dirs(&current.layers))?;
        let written_dest = resolve_destination(
            &dest_fs,
            &Destination::new(&dest, &workdir),
            &at,
            instruction,
        )?;
        let dest_is_dir = written_dest.is_dir || dest_fs.is_dir(&written_dest.path)?;

        let mut pending = Vec::new();
        for source in flags.sources {
            pending.push(match source {
                Source::Path(path) => {
                    let path = ex(path)?;
                    if fetch::is_url(&path) {
                        if instruction == "COPY" {
                            return Err(step_error(&at, name, "source can't be a URL for COPY"));
                        }
                        Pending::Url(path)
                    } else {
                        Pending::Spec(SourceSpec::Path(path))
                    }
                }
                Source::Heredoc(doc) => Pending::Spec(SourceSpec::Inline {
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
                }),
            });
        }
        let checksum = flags
            .checksum
            .as_deref()
            .map(parse_checksum)
            .transpose()
            .map_err(|e| step_error(&at, name, e))?;
        if checksum.is_some() && !matches!(pending.as_slice(), [Pending::Url(_)]) {
            return Err(step_error(
                &at,
                name,
                "--checksum needs exactly one http(s) source",
            ));
        }
        let staging = self.engine.store.root().join("tmp");
        let mut fetched_files = Vec::new();
        let mut specs = Vec::new();
        for source in pending {
            let url = match source {
                Pending::Spec(spec) => {
                    specs.push(spec);
                    continue;
                }
                Pending::Url(url) => url,
            };
            let download = fetch::fetch(&url, &staging).map_err(|e| step_error(&at, name, e))?;
            if let Some(expected) = &checksum {
                if download.digest != *expected {
                    return Err(step_error(
                        &at,
                        name,
                        format!(
                            "checksum mismatch for {url}: expected {expected}, got {}",
                            download.digest
                        ),
                    ));
                }
            }
            if download.name.is_empty() && dest_is_dir {
                return Err(step_error(
                    &at,
                    name,
                    format!("cannot determine filename from url: {url}"),
                ));
            }
            specs.push(SourceSpec::Fetched(Fetched {
                index: fetched_files.len(),
                name: download.name,
                digest: download.digest,
                size: download.size,
                mtime: download.mtime,
            }));
            fetched_files.push(download.file);
        }

        let from = flags
            .from
            .map(|value| self.source_image(&at, instruction, value))
            .transpose()?;
        let request = CopyRequest {
            at: &at,
            instruction,
            sources: &specs,
            dest: written_dest,
        };
        let mut copy_plan = match (&from, flags.from) {
            (Some(image), Some(value)) => resolve_copy_from(&image.fs, value, &request)?,
            _ => resolve_copy(self.ctx, &request)?,
        };
        if dest_is_dir {
            copy_plan.place_inside_existing_dir();
        }

        let chmod = flags
            .chmod
            .as_deref()
            .map(|m| u32::from_str_radix(m, 8))
            .transpose()
            .map_err(|_| step_error(&at, name, format!("invalid --chmod {:?}", flags.chmod)))?;
        let (uid, gid) = match &flags.chown {
            Some(spec) => resolve_chown(&dest_fs, spec, &at, instruction)?,
            None => (0, 0),
        };
        let ownership = Ownership {
            uid: u64::from(uid),
            gid: u64::from(gid),
            chmod,
            chowned: flags.chown.is_some(),
        };
        let text = located.original.clone();
        let key = StepKey::copy(
            current.image.to_string(),
            &text,
            CopyInputs {
                sources: copy_plan.digest,
                from: from.as_ref().map(|image| image.id.to_string()),
                chown: flags.chown,
                chmod: flags.chmod,
            },
        )
        .digest()
        .hex();
        let unpack_local = instruction == "ADD" && flags.unpack != Some(false);
        let unpack_fetched = instruction == "ADD" && flags.unpack == Some(true);
        let ctx = self.ctx;
        self.cached_or(&key, move |b| {
            let files = ItemFiles {
                ctx,
                image: from.as_ref().map(|image| &image.fs),
                fetched: &fetched_files,
            };
            let failed = |e: io::Error| step_error(&at, name, e);
            let mut unpack = BTreeSet::new();
            for (index, item) in copy_plan.items.iter().enumerate() {
                let candidate = item.named
                    && match &item.source {
                        ItemSource::Context(entry) => unpack_local && entry.kind == EntryKind::File,
                        ItemSource::Fetched(_) => unpack_fetched,
                        ItemSource::Image(_) | ItemSource::Inline(_) => false,
                    };
                if candidate
                    && archive::is_archive(files.open(&item.source).map_err(failed)?)
                        .map_err(failed)?
                {
                    unpack.insert(index);
                }
            }
            let mut existing = BTreeSet::new();
            for dir in layer::needed_dirs(&copy_plan, &unpack) {
                if dest_fs.is_dir(&dir)? {
                    existing.insert(dir);
                }
            }
            let exists = |path: &str| existing.contains(path);
            let (reader, writer) = io::pipe().map_err(|e| EngineError::io("create a pipe", e))?;
            let staged = std::thread::scope(|s| {
                let producer = s.spawn(|| {
                    let out = layer::write_copy(
                        &files,
                        &copy_plan,
                        &ownership,
                        &exists,
                        &unpack,
                        io::BufWriter::with_capacity(1 << 16, writer),
                    )?;
                    out.into_inner().map(drop).map_err(|e| e.into_error())
                });
                let staged = b.engine.store.stage_layer(reader);
                match producer.join() {
                    Ok(Ok(())) => Ok(staged?),
                    Ok(Err(e)) => Err(failed(e)),
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

    /// The image a `--from` value names: a stage's result, or an image
    /// used as it is here, else pulled.
    fn source_image(
        &mut self,
        at: &Location,
        instruction: &'static str,
        value: &str,
    ) -> Result<FromImage, EngineError> {
        let (id, layers) = match stage_index(self.dockerfile, value) {
            Some(index) => {
                let stage = self.results.get(&index).ok_or_else(|| {
                    step_error(
                        at,
                        instruction,
                        format!("--from={value}: the stage has not run"),
                    )
                })?;
                (stage.image.clone(), stage.layers.clone())
            }
            None => {
                let id = self
                    .local_or_pulled(value)
                    .map_err(|e| BuildError::UnknownStage {
                        at: at.clone(),
                        instruction,
                        name: value.to_string(),
                        reason: e.to_string(),
                    })?;
                let layers = self.engine.store.image_layers(&id)?;
                (id, layers)
            }
        };
        let fs = ImageFs::open(&self.layer_dirs(&layers))?;
        Ok(FromImage { id, fs })
    }

    fn local_or_pulled(&mut self, reference: &str) -> Result<Digest, EngineError> {
        match self.engine.resolve_image(reference) {
            Err(EngineError::NoSuchImage(_)) => {
                tracing::debug!(reference, "pulling the --from image");
                let options = PullOptions {
                    registry: self.opts.registry.clone(),
                    ..PullOptions::default()
                };
                let pulled = self.engine.pull(reference, &options, &NoProgress)?;
                pulled
                    .into_iter()
                    .next()
                    .map(|image| image.id)
                    .ok_or_else(|| EngineError::NoSuchImage(reference.to_string()))
            }
            resolved => resolved,
        }
    }
}
