//! `push`: an image's blobs exactly as stored (a pulled compressed layer is
//! sent again as is, never recompressed), a few at a time, skipping blobs
//! the registry has and mounting those another repository of the same
//! registry has; then the manifest.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_reference::Reference;
use berth_registry::Client;
use berth_store::Digest;

use crate::distribution::registry::{registry_client, RegistryOptions};
use crate::events::ImageAction;
use crate::progress::Progress;
use crate::{familiar, Engine, EngineError};

/// Layers uploaded at once, as docker's default `max-concurrent-uploads`
/// (5) is tuned for remote registries; 3 keeps a loopback push CPU-bound
/// no more than a pull.
const PARALLEL_UPLOADS: usize = 3;

#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Every local tag of the repository.
    pub all_tags: bool,
    pub registry: RegistryOptions,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub tag: String,
    pub digest: String,
    pub size: usize,
}

/// One blob to send.
struct Upload {
    digest: Digest,
    size: u64,
    /// The short ID its progress line shows; empty for the config blob,
    /// which has no line in docker's output either.
    label: String,
}

impl Engine {
    pub fn push(
        &mut self,
        name: &str,
        opts: &PushOptions,
        progress: &dyn Progress,
    ) -> Result<Vec<Pushed>, EngineError> {
        let reference = Reference::parse_normalized(name)?;
        if reference.digest().is_some() {
            return Err(EngineError::InvalidPush(
                "cannot push a digest reference".into(),
            ));
        }
        let targets: Vec<Reference> = if opts.all_tags {
            if reference.tag().is_some() {
                return Err(EngineError::InvalidPush(
                    "tag can't be used with --all-tags/-a".into(),
                ));
            }
            let prefix = format!("{}:", reference.name());
            let mut tags: Vec<Reference> = self
                .store
                .list_images()?
                .iter()
                .flat_map(|i| i.tags.clone())
                .filter(|t| t.starts_with(&prefix))
                .filter_map(|t| Reference::parse_normalized(&t).ok())
                .collect();
            tags.sort();
            tags
        } else {
            vec![reference.clone().tag_name_only()]
        };
        if targets.is_empty() {
            return Err(EngineError::InvalidPush(format!(
                "An image does not exist locally with the tag: {}",
                familiar(&reference.name())
            )));
        }
        progress.message(&format!(
            "The push refers to repository [{}]",
            familiar(&reference.name())
        ));
        let client = registry_client(&opts.registry)?;
        let mut out = Vec::new();
        for target in targets {
            out.push(self.push_one(&client, &target, progress)?);
        }
        Ok(out)
    }

    fn push_one(
        &mut self,
        client: &Client,
        target: &Reference,
        progress: &dyn Progress,
    ) -> Result<Pushed, EngineError> {
        let id = self
            .store
            .image_by_tag(&target.to_string())?
            .ok_or_else(|| {
                EngineError::InvalidPush(format!(
                    "An image does not exist locally with the tag: {}",
                    familiar(&target.to_string())
                ))
            })?;
        let (registry, repository) = (target.domain(), target.path());
        let image = self.store.image(&id)?;
        // Other repositories of this registry that hold the image: blobs can
        // be mounted from there instead of uploaded.
        let mount_from: Vec<String> = image
            .repo_digests
            .iter()
            .filter_map(|d| Reference::parse_normalized(d).ok())
            .filter(|r| r.domain() == registry && r.path() != repository)
            .map(|r| r.path().to_string())
            .collect();
        let mut uploads: VecDeque<Upload> = self
            .store
            .image_layers(&id)?
            .into_iter()
            .map(|l| Upload {
                label: l.diff_id.short().to_string(),
                digest: l.blob_digest,
                size: l.blob_size,
            })
            .collect();
        for u in &uploads {
            progress.status(&u.label, "Preparing");
        }
        let config_size = self.store.content().size(&id)?;
        uploads.push_back(Upload {
            digest: id.clone(),
            size: config_size,
            label: String::new(),
        });

        let queue = Mutex::new(uploads);
        let failure: Mutex<Option<EngineError>> = Mutex::new(None);
        let content = self.store.content().clone();
        std::thread::scope(|s| {
            for _ in 0..PARALLEL_UPLOADS {
                s.spawn(|| loop {
                    if failure.lock().expect("failure lock").is_some() {
                        return;
                    }
                    let Some(u) = queue.lock().expect("queue lock").pop_front() else {
                        return;
                    };
                    let result = upload(
                        client,
                        registry,
                        repository,
                        &u,
                        &mount_from,
                        &content,
                        progress,
                    );
                    if let Err(e) = result {
                        failure.lock().expect("failure lock").get_or_insert(e);
                        return;
                    }
                });
            }
        });
        if let Some(e) = failure.into_inner().expect("failure lock") {
            return Err(e);
        }

        let manifest = self.store.content().read(&image.manifest_digest)?;
        let tag = target.tag().unwrap_or("latest");
        let digest = client.put_manifest(
            registry,
            repository,
            tag,
            &image.manifest_media_type,
            &manifest,
        )?;
        self.store.set_repo_digest(&target.name(), &digest, &id)?;
        self.emit_image_event(
            &id,
            familiar(&target.to_string()),
            familiar(&target.name()),
            ImageAction::Push,
        );
        progress.message(&format!("{tag}: digest: {digest} size: {}", manifest.len()));
        Ok(Pushed {
            tag: tag.to_string(),
            digest,
            size: manifest.len(),
        })
    }
}

fn upload(
    client: &Client,
    registry: &str,
    repository: &str,
    u: &Upload,
    mount_from: &[String],
    content: &berth_store::ContentStore,
    progress: &dyn Progress,
) -> Result<(), EngineError> {
    let digest = u.digest.to_string();
    let report = |status: &str| {
        if !u.label.is_empty() {
            progress.status(&u.label, status);
        }
    };
    if client.blob_exists(registry, repository, &digest)? {
        report("Layer already exists");
        return Ok(());
    }
    for from in mount_from {
        if client.mount_blob(registry, repository, &digest, from)? {
            report(&format!("Mounted from {from}"));
            return Ok(());
        }
    }
    report("Pushing");
    let file: File = content.open(&u.digest)?;
    // The client streams from an owned reader on its own; a watcher thread
    // reports the bytes it has taken so far.
    let sent = Arc::new(AtomicU64::new(0));
    let finished = AtomicBool::new(false);
    let reader = SentCounter {
        inner: file,
        sent: Arc::clone(&sent),
    };
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            // The config blob has no line of its own, as in docker's output.
            while !u.label.is_empty() && !finished.load(Ordering::Relaxed) {
                progress.bytes(&u.label, sent.load(Ordering::Relaxed), Some(u.size));
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let r = client.push_blob(registry, repository, &digest, u.size, reader, None);
        finished.store(true, Ordering::Relaxed);
        r
    });
    result?;
    if !u.label.is_empty() {
        progress.bytes(&u.label, u.size, Some(u.size));
    }
    report("Pushed");
    Ok(())
}

struct SentCounter<R> {
    inner: R,
    sent: Arc<AtomicU64>,
}

impl<R: Read> Read for SentCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
