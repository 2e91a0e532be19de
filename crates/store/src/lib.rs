//! berth's image store: a content store of blobs by digest, a layer store of
//! extracted layer directories stacked with overlayfs, and the metadata that
//! ties them into images and tags (SQLite).
//!
//! Layout under the root (see docs/architecture.md):
//! `blobs/sha256/<hex>`, `layers/<chain hex>/diff`, `layers/l/<link>` (short
//! symlinks to the diff dirs, for overlay's option-length limit), `tmp/`
//! (staging; abandoned entries are swept) and `berth.db`.

#![forbid(unsafe_code)]

mod compression;
mod content;
mod db;
mod digest;
mod events;
mod export;
mod extract;
mod network;
mod status;
mod temp;
mod volumes;

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

pub use compression::{decompress, Compression};
pub use content::{BlobWriter, ContentStore, StagedBlob};
pub use db::{ContainerRecord, ImageLayer, ImageRecord, LayerRecord};
pub use digest::{chain_id, Digest, HashingReader};
pub use events::{EventRecord, NewEvent, EVENTS_KEPT};
pub use export::write_layer_tar;
pub use extract::{extract_copy, extract_layer, CopyOwner, ExtractStats};
pub use network::{EndpointRecord, LeaseRecord, NetworkRecord, PortBindingRecord};
pub use status::{ContainerStatus, UnknownStatus};

use berth_escape::quote;
use digest::TeeReader;
pub use temp::process_alive;
use temp::TempPath;
pub use volumes::{
    dir_is_empty, is_mount_point, ContainerVolume, NewVolume, StagedContent, VolumeRecord,
    VolumeUse, VOLUMES_DIR, VOLUME_DATA,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // Fields are not named `source`: the message already carries the cause,
    // and a source would print it twice in an error chain.
    #[error("{what}: {error}")]
    Io { what: String, error: io::Error },
    #[error("{what}: {error}")]
    Db {
        what: String,
        error: rusqlite::Error,
    },
    #[error("invalid digest {}: expected sha256:<64 lowercase hex digits>", quote(.0))]
    InvalidDigest(String),
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("blob {0} is not in the content store")]
    BlobNotFound(Digest),
    /// `entry` is quoted and escaped already.
    #[error("refusing tar entry {entry}: {reason}")]
    UnsafeEntry { entry: String, reason: String },
    /// A layer blob that was read completely but could not be unpacked;
    /// `blob` is the digest of the bytes received.
    #[error("{error}")]
    BadLayer {
        blob: Digest,
        error: Box<StoreError>,
    },
    #[error("layer {diff_id} is neither in the store nor in the input")]
    MissingLayer { diff_id: Digest },
    #[error("the container name \"/{0}\" is already in use")]
    NameInUse(String),
    #[error("image {0} not found in the store")]
    ImageNotFound(Digest),
    /// Docker's wording ("max depth exceeded"), with the numbers.
    #[error(
        "max depth exceeded: the image has {layers} layers, more than the {max} an image may have"
    )]
    TooManyLayers { layers: usize, max: usize },
    /// Docker's wording ("get NAME: no such volume").
    #[error("get {0}: no such volume")]
    NoSuchVolume(String),
    /// Docker's wording, with the IDs of the containers using it.
    #[error("remove {name}: volume is in use - [{}]", containers.join(", "))]
    VolumeInUse {
        name: String,
        containers: Vec<String>,
    },
    #[error("volume data {0} is still mounted")]
    VolumeMounted(PathBuf),
    #[error("store schema version {found} is newer than this berth supports ({supported}); upgrade berth")]
    SchemaTooNew { found: usize, supported: usize },
    /// docker's wording.
    #[error("network with name {0} already exists")]
    NetworkExists(String),
    /// A network running containers hold addresses on.
    #[error("network has active endpoints (containers: {})", .containers.join(", "))]
    NetworkInUse { containers: Vec<String> },
    /// docker's wording for a host port another container has published.
    #[error("Bind for {}:{host_port} failed: port is already allocated", if .host_ip.is_empty() { "0.0.0.0" } else { .host_ip.as_str() })]
    PortAllocated { host_ip: String, host_port: u16 },
}

impl StoreError {
    pub(crate) fn io(what: impl Into<String>, error: io::Error) -> StoreError {
        StoreError::Io {
            what: what.into(),
            error,
        }
    }

    pub(crate) fn db(what: impl Into<String>, error: rusqlite::Error) -> StoreError {
        StoreError::Db {
            what: what.into(),
            error,
        }
    }
}

/// The most layers an image in the store may have: docker's limit, which
/// berth's overlay mounts stack on every kernel (~185 fit `mount(2)`'s one
/// page of options on kernels before 6.8).
pub const MAX_LAYERS: usize = 125;

/// Refuses an image of more than [`MAX_LAYERS`] layers, so a caller can
/// stop before fetching what the store would refuse.
pub fn check_layer_count(layers: usize) -> Result<(), StoreError> {
    if layers > MAX_LAYERS {
        return Err(StoreError::TooManyLayers {
            layers,
            max: MAX_LAYERS,
        });
    }
    Ok(())
}

/// A layer unpacked into a staging directory, with its blob staged beside it.
#[derive(Debug)]
pub struct StagedLayer {
    dir: TempPath,
    blob: StagedBlob,
    diff_id: Digest,
    compression: Compression,
    size: u64,
}

impl StagedLayer {
    pub fn diff_id(&self) -> &Digest {
        &self.diff_id
    }

    pub fn blob_digest(&self) -> &Digest {
        self.blob.digest()
    }

    pub fn blob_size(&self) -> u64 {
        self.blob.size()
    }

    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Unpacked size.
    pub fn size(&self) -> u64 {
        self.size
    }
}

/// Stages layers; cheap to clone and safe to use from several threads.
#[derive(Debug, Clone)]
pub struct LayerStager {
    content: ContentStore,
    tmp: PathBuf,
}

impl LayerStager {
    /// Unpacks a layer blob (plain, gzip or zstd tar) into a staging
    /// directory while storing the blob itself, in one pass over the bytes.
    pub fn stage_layer<R: Read>(&self, reader: R) -> Result<StagedLayer, StoreError> {
        let dir = TempPath::new_dir_in(&self.tmp, "layer")?;
        let diff = dir.path().join("diff");
        fs::create_dir(&diff)
            .map_err(|e| StoreError::io(format!("create {}", diff.display()), e))?;
        let mut tee = TeeReader::new(reader, self.content.writer()?);
        let unpacked = (|| {
            let (compression, mut decoded) =
                decompress(&mut tee).map_err(|e| StoreError::io("read layer", e))?;
            // An uncompressed blob is its own diff: the blob's digest, taken
            // as it is stored, is the diff ID, and hashing it twice would
            // cost as much again (a build's layers are uncompressed).
            if compression == Compression::None {
                let stats = extract_layer(&mut decoded, &diff)?;
                return Ok((compression, stats.size, None));
            }
            let mut hashing = HashingReader::new(decoded);
            let stats = extract_layer(&mut hashing, &diff)?;
            let (diff_id, _) = hashing
                .finish()
                .map_err(|e| StoreError::io("read layer", e))?;
            Ok((compression, stats.size, Some(diff_id)))
        })();
        let (compression, size, diff_id) = match unpacked {
            Ok(v) => v,
            Err(error) => {
                // Tell bad content from a broken stream: if the rest can be
                // read, the whole blob's digest lets the caller see whether
                // these were even the bytes it asked for.
                if io::copy(&mut tee, &mut io::sink()).is_ok() {
                    let (_, writer) = tee.into_parts();
                    if let Ok(blob) = writer.finish() {
                        return Err(StoreError::BadLayer {
                            blob: blob.digest().clone(),
                            error: Box::new(error),
                        });
                    }
                }
                return Err(error);
            }
        };
        // Trailing bytes after the compressed stream still belong to the blob.
        io::copy(&mut tee, &mut io::sink()).map_err(|e| StoreError::io("read layer", e))?;
        let (_, writer) = tee.into_parts();
        let blob = writer.finish()?;
        let diff_id = diff_id.unwrap_or_else(|| blob.digest().clone());
        Ok(StagedLayer {
            dir,
            blob,
            diff_id,
            compression,
            size,
        })
    }
}

/// One layer of an image being committed: either freshly staged, or one
/// whose layer and blob the store already holds.
#[derive(Debug)]
pub struct LayerInput {
    pub diff_id: Digest,
    pub blob_digest: Digest,
    pub blob_media_type: String,
    pub blob_size: u64,
    pub staged: Option<StagedLayer>,
}

/// Everything needed to add an image to the store in one transaction.
#[derive(Debug)]
pub struct ImageCommit {
    pub config: StagedBlob,
    pub manifest: StagedBlob,
    pub manifest_media_type: String,
    /// Seconds since the epoch, from the config.
    pub created: Option<i64>,
    /// Bottom layer first, matching the config's `rootfs.diff_ids`.
    pub layers: Vec<LayerInput>,
    /// Full references to point at the image.
    pub tags: Vec<String>,
    /// (repository, manifest digest) pairs the image is known by in a
    /// registry: `docker.io/library/busybox`, `sha256:...`.
    pub repo_digests: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOutcome {
    pub id: Digest,
    /// False when the store already had this image.
    pub created: bool,
    /// Tags that moved here from another image: (tag, previous image).
    pub moved_tags: Vec<(String, Digest)>,
}

/// What a removal or prune freed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    pub layers: Vec<Digest>,
    pub blobs: Vec<Digest>,
    /// Bytes of unpacked layers and blobs freed.
    pub reclaimed: u64,
}

pub struct Store {
    root: PathBuf,
    content: ContentStore,
    db: db::Db,
}

impl Store {
    /// Opens (creating if needed) the store at `root`, migrating its schema
    /// and sweeping what killed processes left in `tmp/`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for d in ["blobs/sha256", "layers/l", "tmp", "containers"] {
            fs::create_dir_all(root.join(d))
                .map_err(|e| StoreError::io(format!("create {}", root.join(d).display()), e))?;
        }
        // Volumes hold containers' data: others may pass through to a
        // volume a container shares with them, not list them (docker's
        // 0701).
        let volumes = root.join(VOLUMES_DIR);
        match fs::create_dir(&volumes) {
            Ok(()) => {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&volumes, fs::Permissions::from_mode(0o701)).map_err(|e| {
                    StoreError::io(format!("set the mode of {}", volumes.display()), e)
                })?;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::io(format!("create {}", volumes.display()), e)),
        }
        for d in ["tmp", "containers"] {
            temp::spread_children(&root.join(d));
        }
        temp::sweep_abandoned(&root.join("tmp"));
        let db = db::Db::open(&root.join("berth.db"))?;
        let content = ContentStore::new(root.join("blobs/sha256"), root.join("tmp"));
        Ok(Store {
            root: root.to_path_buf(),
            content,
            db,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Unpacks a layer blob (plain, gzip or zstd tar) into a staging
    /// directory while storing the blob itself, in one pass over the bytes.
    pub fn stage_layer<R: Read>(&self, reader: R) -> Result<StagedLayer, StoreError> {
        self.stager().stage_layer(reader)
    }

    /// A handle that stages layers without touching the metadata, so
    /// several threads can download and unpack layers at once.
    pub fn stager(&self) -> LayerStager {
        LayerStager {
            content: self.content.clone(),
            tmp: self.tmp(),
        }
    }

    /// Stages a blob from bytes in memory (configs, manifests).
    pub fn stage_bytes(&self, bytes: &[u8]) -> Result<StagedBlob, StoreError> {
        self.content.stage(bytes)
    }

    /// Adds images: installs their new layers and blobs and records them,
    /// all in one transaction: all or nothing. An image deeper than
    /// [`MAX_LAYERS`] is refused before anything is installed.
    pub fn commit_images(
        &mut self,
        images: Vec<ImageCommit>,
    ) -> Result<Vec<CommitOutcome>, StoreError> {
        for image in &images {
            check_layer_count(image.layers.len())?;
        }
        let layers_dir = self.root.join("layers");
        let content = self.content.clone();
        let tmp = self.tmp();
        let tx = self.db.write()?;
        // Unused staging dirs are removed after the lock is released.
        let mut leftovers = Vec::new();
        let mut outcomes = Vec::with_capacity(images.len());
        for image in images {
            outcomes.push(commit_one(
                &tx,
                &layers_dir,
                &tmp,
                &content,
                image,
                &mut leftovers,
            )?);
        }
        tx.commit().map_err(|e| StoreError::db("commit image", e))?;
        drop(leftovers);
        Ok(outcomes)
    }

    pub fn list_images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        db::list_images(self.db.conn())
    }

    pub fn image(&self, id: &Digest) -> Result<ImageRecord, StoreError> {
        db::get_image(self.db.conn(), id)?.ok_or_else(|| StoreError::ImageNotFound(id.clone()))
    }

    pub fn image_by_tag(&self, name: &str) -> Result<Option<Digest>, StoreError> {
        db::image_by_tag(self.db.conn(), name)
    }

    pub fn images_by_id_prefix(&self, hex_prefix: &str) -> Result<Vec<Digest>, StoreError> {
        db::images_by_prefix(self.db.conn(), hex_prefix)
    }

    pub fn image_layers(&self, id: &Digest) -> Result<Vec<ImageLayer>, StoreError> {
        db::image_layers(self.db.conn(), id)
    }

    pub fn list_layers(&self) -> Result<Vec<LayerRecord>, StoreError> {
        db::list_layers(self.db.conn())
    }

    /// Points `name` at image `id`; returns the image it was moved from.
    pub fn tag(&mut self, name: &str, id: &Digest) -> Result<Option<Digest>, StoreError> {
        let tx = self.db.write()?;
        if !db::image_exists(&tx, id)? {
            return Err(StoreError::ImageNotFound(id.clone()));
        }
        let old = db::set_tag(&tx, name, id)?;
        tx.commit().map_err(|e| StoreError::db("commit tag", e))?;
        Ok(old)
    }

    /// Records that image `id` is `repository@digest` in a registry.
    pub fn set_repo_digest(
        &mut self,
        repository: &str,
        digest: &str,
        id: &Digest,
    ) -> Result<(), StoreError> {
        let tx = self.db.write()?;
        db::set_repo_digest(&tx, repository, digest, id)?;
        tx.commit()
            .map_err(|e| StoreError::db("commit repo digest", e))
    }

    /// The image known as `name@digest`, if any.
    pub fn image_by_repo_digest(&self, name: &str) -> Result<Option<Digest>, StoreError> {
        db::image_by_repo_digest(self.db.conn(), name)
    }

    /// The image a build step with cache key `key` produced, if any; the
    /// entry goes when its image is deleted.
    pub fn build_cache_get(&self, key: &str) -> Result<Option<Digest>, StoreError> {
        db::build_cache_get(self.db.conn(), key)
    }

    /// The images build steps produced (the build cache's entries).
    pub fn build_step_images(&self) -> Result<std::collections::HashSet<Digest>, StoreError> {
        db::build_step_images(self.db.conn())
    }

    /// Records that the build step with cache key `key` produced `image`.
    pub fn build_cache_put(&mut self, key: &str, image: &Digest) -> Result<(), StoreError> {
        let tx = self.db.write()?;
        db::build_cache_put(&tx, key, image)?;
        tx.commit()
            .map_err(|e| StoreError::db("commit build cache entry", e))?;
        Ok(())
    }

    /// Deletes the build cache, in one transaction: the images only build
    /// steps know (no tag, repo digest or container), with `all` every
    /// cache entry as well, then the layers and blobs nothing uses any more.
    /// Returns the deleted images.
    pub fn prune_build_cache(&mut self, all: bool) -> Result<(Vec<Digest>, Removed), StoreError> {
        let tx = self.db.write()?;
        let ids = db::unused_build_step_images(&tx)?;
        for id in &ids {
            db::delete_image(&tx, id)?;
        }
        if all {
            db::clear_build_cache(&tx)?;
        }
        let (removed, trash) = collect_garbage(&tx, &self.root, &self.content)?;
        tx.commit()
            .map_err(|e| StoreError::db("commit build cache removal", e))?;
        drop(trash);
        Ok((ids, removed))
    }

    /// Removes a tag; false if there was no such tag.
    pub fn untag(&mut self, name: &str) -> Result<bool, StoreError> {
        let tx = self.db.write()?;
        let removed = db::remove_tag(&tx, name)?;
        tx.commit().map_err(|e| StoreError::db("commit untag", e))?;
        Ok(removed)
    }

    /// Deletes images (with their tags) and whatever layers and blobs no
    /// remaining image uses, in one transaction.
    pub fn delete_images(&mut self, ids: &[Digest]) -> Result<Removed, StoreError> {
        let tx = self.db.write()?;
        for id in ids {
            if !db::delete_image(&tx, id)? {
                return Err(StoreError::ImageNotFound(id.clone()));
            }
        }
        let (removed, trash) = collect_garbage(&tx, &self.root, &self.content)?;
        tx.commit()
            .map_err(|e| StoreError::db("commit image removal", e))?;
        drop(trash);
        Ok(removed)
    }

    /// Paths of an image's layer directories, bottom first, as overlayfs
    /// lower dirs: short links relative to `layers_dir()`, so deep images
    /// stay within overlay's mount-option length.
    pub fn overlay_lower_links(&self, id: &Digest) -> Result<Vec<String>, StoreError> {
        Ok(self
            .image_layers(id)?
            .into_iter()
            .map(|l| format!("l/{}", l.link))
            .collect())
    }

    pub fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    pub fn layer_diff_dir(&self, chain: &Digest) -> PathBuf {
        self.layers_dir().join(chain.hex()).join("diff")
    }

    /// The diff id and media type of a stored layer blob, if any image uses it.
    pub fn layer_by_blob(&self, blob: &Digest) -> Result<Option<(Digest, String)>, StoreError> {
        db::layer_by_blob(self.db.conn(), blob)
    }

    pub fn insert_container(&mut self, rec: &ContainerRecord) -> Result<(), StoreError> {
        let tx = self.db.write()?;
        if !db::image_exists(&tx, &rec.image_id)? {
            return Err(StoreError::ImageNotFound(rec.image_id.clone()));
        }
        db::insert_container(&tx, rec)?;
        tx.commit()
            .map_err(|e| StoreError::db("commit container", e))
    }

    /// Renames a container, unless another one has the name already.
    pub fn rename_container(&mut self, id: &str, name: &str) -> Result<(), StoreError> {
        let tx = self.db.write()?;
        db::rename_container(&tx, id, name)?;
        tx.commit()
            .map_err(|e| StoreError::db("commit container rename", e))
    }

    /// Writes a container's state fields (status, times, pids, exit code),
    /// not its name: a monitor holding an old copy of the record must not
    /// undo a `rename`.
    pub fn update_container(&mut self, rec: &ContainerRecord) -> Result<(), StoreError> {
        let tx = self.db.write()?;
        db::update_container(&tx, rec)?;
        tx.commit()
            .map_err(|e| StoreError::db("commit container", e))
    }

    pub fn container(&self, id: &str) -> Result<Option<ContainerRecord>, StoreError> {
        db::get_container(self.db.conn(), id)
    }

    /// Containers whose name is `s` or whose ID starts with it; an exact
    /// name comes first.
    pub fn find_containers(&self, s: &str) -> Result<Vec<ContainerRecord>, StoreError> {
        db::find_containers(self.db.conn(), s)
    }

    pub fn list_containers(&self) -> Result<Vec<ContainerRecord>, StoreError> {
        db::list_containers(self.db.conn())
    }

    pub fn delete_container(&mut self, id: &str) -> Result<(), StoreError> {
        let tx = self.db.write()?;
        db::delete_container(&tx, id)?;
        tx.commit()
            .map_err(|e| StoreError::db("commit container removal", e))
    }

    /// Bytes held by the content store.
    pub fn content_size(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        for d in self.content.list()? {
            total += self.content.size(&d).unwrap_or(0);
        }
        Ok(total)
    }

    /// The link name of a layer, if the store has it.
    pub fn layer_link(&self, chain: &Digest) -> Result<Option<String>, StoreError> {
        db::layer_link(self.db.conn(), chain)
    }
}

fn commit_one(
    tx: &rusqlite::Transaction<'_>,
    layers_dir: &Path,
    tmp: &Path,
    content: &ContentStore,
    image: ImageCommit,
    leftovers: &mut Vec<TempPath>,
) -> Result<CommitOutcome, StoreError> {
    let id = image.config.digest().clone();
    let mut parent: Option<Digest> = None;
    let mut rows = Vec::with_capacity(image.layers.len());
    for layer in image.layers {
        let chain = chain_id(parent.as_ref(), &layer.diff_id);
        if !db::layer_exists(tx, &chain)? {
            let Some(staged) = layer.staged.as_ref().filter(|s| s.diff_id == layer.diff_id) else {
                return Err(StoreError::MissingLayer {
                    diff_id: layer.diff_id,
                });
            };
            let link = install_layer_dir(layers_dir, tmp, &chain, &staged.dir)?;
            db::insert_layer(
                tx,
                &chain,
                &layer.diff_id,
                parent.as_ref(),
                &link,
                staged.size,
            )?;
        }
        match layer.staged {
            Some(staged) if staged.blob.digest() == &layer.blob_digest => {
                leftovers.push(staged.dir);
                content.publish(staged.blob)?;
            }
            _ if content.exists(&layer.blob_digest) => {}
            _ => return Err(StoreError::BlobNotFound(layer.blob_digest)),
        }
        rows.push((
            chain.clone(),
            layer.blob_digest,
            layer.blob_media_type,
            layer.blob_size,
        ));
        parent = Some(chain);
    }
    let manifest_digest = image.manifest.digest().clone();
    content.publish(image.config)?;
    content.publish(image.manifest)?;
    let created = !db::image_exists(tx, &id)?;
    if created {
        db::insert_image(
            tx,
            &db::NewImageRow {
                id: &id,
                manifest_digest: &manifest_digest,
                manifest_media_type: &image.manifest_media_type,
                created: image.created,
                layers: rows,
            },
        )?;
    }
    for (repository, digest) in &image.repo_digests {
        db::set_repo_digest(tx, repository, digest, &id)?;
    }
    let mut moved_tags = Vec::new();
    for tag in image.tags {
        if let Some(old) = db::set_tag(tx, &tag, &id)? {
            moved_tags.push((tag, old));
        }
    }
    Ok(CommitOutcome {
        id,
        created,
        moved_tags,
    })
}

/// Short, stable name of a layer's link under `layers/l/`.
fn link_name(chain: &Digest) -> String {
    chain.hex()[..20].to_string()
}

/// Moves a staged layer directory to `layers/<chain hex>` and creates its
/// short link. Called inside the write transaction; a directory already
/// there without a metadata row is the leftover of a killed process.
fn install_layer_dir(
    layers: &Path,
    tmp: &Path,
    chain: &Digest,
    staged: &TempPath,
) -> Result<String, StoreError> {
    let dest = layers.join(chain.hex());
    if fs::symlink_metadata(&dest).is_ok() {
        let trash = TempPath::new_in(tmp, "trash")?;
        fs::rename(&dest, trash.path())
            .map_err(|e| StoreError::io(format!("clear stale layer {}", dest.display()), e))?;
    }
    fs::rename(staged.path(), &dest)
        .map_err(|e| StoreError::io(format!("install layer {}", dest.display()), e))?;
    let link = link_name(chain);
    let link_path = layers.join("l").join(&link);
    let _ = fs::remove_file(&link_path);
    std::os::unix::fs::symlink(format!("../{}/diff", chain.hex()), &link_path)
        .map_err(|e| StoreError::io(format!("create layer link {}", link_path.display()), e))?;
    Ok(link)
}

/// Deletes unused layers and unreferenced blobs. Runs inside the caller's
/// write transaction, so no concurrent commit can start using what is being
/// deleted; layer trees are renamed into `tmp/` (fast) and removed there.
fn collect_garbage(
    tx: &rusqlite::Transaction<'_>,
    root: &Path,
    content: &ContentStore,
) -> Result<(Removed, Vec<TempPath>), StoreError> {
    let mut removed = Removed::default();
    let mut trash_dirs = Vec::new();
    let sizes: std::collections::HashMap<Digest, u64> = db::list_layers(tx)?
        .into_iter()
        .map(|l| (l.chain_id, l.size))
        .collect();
    for chain in db::delete_unused_layers(tx)? {
        let dir = root.join("layers").join(chain.hex());
        let _ = fs::remove_file(root.join("layers/l").join(link_name(&chain)));
        if fs::symlink_metadata(&dir).is_ok() {
            let trash = TempPath::new_in(&root.join("tmp"), "trash")?;
            fs::rename(&dir, trash.path())
                .map_err(|e| StoreError::io(format!("remove layer {}", dir.display()), e))?;
            trash_dirs.push(trash);
        }
        removed.reclaimed += sizes.get(&chain).copied().unwrap_or(0);
        removed.layers.push(chain);
    }
    let referenced = db::referenced_blobs(tx)?;
    for blob in content.list()? {
        if !referenced.contains(&blob) {
            removed.reclaimed += content.size(&blob).unwrap_or(0);
            content.remove(&blob)?;
            removed.blobs.push(blob);
        }
    }
    Ok((removed, trash_dirs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn layer_tar(name: &str, data: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn stages_plain_gzip_and_zstd_layers_with_both_digests() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path()).unwrap();
        let plain = layer_tar("f", b"hello");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&plain[..], 3).unwrap();
        for (bytes, compression) in [
            (&plain, Compression::None),
            (&gz, Compression::Gzip),
            (&zst, Compression::Zstd),
        ] {
            let l = store.stage_layer(&bytes[..]).unwrap();
            assert_eq!(l.compression(), compression);
            assert_eq!(
                l.diff_id(),
                &Digest::of(&plain),
                "diff id is the uncompressed digest"
            );
            assert_eq!(
                l.blob_digest(),
                &Digest::of(bytes),
                "blob digest is the stored bytes' digest"
            );
            assert_eq!(l.blob_size(), bytes.len() as u64);
            assert_eq!(l.size(), 5);
            assert_eq!(
                std::fs::read(l.dir.path().join("diff/f")).unwrap(),
                b"hello"
            );
        }
    }

    fn commit(store: &mut Store, layers: &[&[u8]], tag: &str) -> CommitOutcome {
        try_commit(store, layers, tag).unwrap()
    }

    fn try_commit(
        store: &mut Store,
        layers: &[&[u8]],
        tag: &str,
    ) -> Result<CommitOutcome, StoreError> {
        let mut inputs = Vec::new();
        for l in layers {
            let staged = store.stage_layer(*l).unwrap();
            inputs.push(LayerInput {
                diff_id: staged.diff_id().clone(),
                blob_digest: staged.blob_digest().clone(),
                blob_media_type: Compression::None.oci_layer_media_type().into(),
                blob_size: staged.blob_size(),
                staged: Some(staged),
            });
        }
        let config = format!("{{\"tag\":{tag:?}}}");
        let image = ImageCommit {
            config: store.stage_bytes(config.as_bytes()).unwrap(),
            manifest: store
                .stage_bytes(format!("manifest of {tag}").as_bytes())
                .unwrap(),
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            created: Some(1),
            layers: inputs,
            tags: vec![tag.to_string()],
            repo_digests: Vec::new(),
        };
        Ok(store.commit_images(vec![image])?.remove(0))
    }

    #[test]
    fn images_deeper_than_the_limit_are_refused_leaving_nothing() {
        let t = tempfile::tempdir().unwrap();
        let mut store = Store::open(t.path()).unwrap();
        let layers: Vec<Vec<u8>> = (0..=MAX_LAYERS)
            .map(|i| layer_tar(&format!("f{i}"), b"x"))
            .collect();
        let refs: Vec<&[u8]> = layers.iter().map(Vec::as_slice).collect();
        let err = try_commit(&mut store, &refs, "deep").unwrap_err();
        assert_eq!(
            err.to_string(),
            "max depth exceeded: the image has 126 layers, more than the 125 an image may have"
        );
        assert!(store.list_images().unwrap().is_empty());
        assert!(store.content.list().unwrap().is_empty(), "no blob kept");
        for dir in ["tmp", "layers/l"] {
            let left: Vec<_> = std::fs::read_dir(t.path().join(dir)).unwrap().collect();
            assert!(left.is_empty(), "{dir}: {left:?}");
        }
        commit(&mut store, &refs[..MAX_LAYERS], "deepest");
        assert_eq!(store.list_layers().unwrap().len(), MAX_LAYERS);
    }

    #[test]
    fn shared_layers_are_stored_once_and_collected_when_unused() {
        let t = tempfile::tempdir().unwrap();
        let mut store = Store::open(t.path()).unwrap();
        let base = layer_tar("base", b"base");
        let a = commit(&mut store, &[&base, &layer_tar("a", b"a")], "a");
        let b = commit(&mut store, &[&base, &layer_tar("b", b"b")], "b");
        let layers = store.list_layers().unwrap();
        assert_eq!(layers.len(), 3);
        assert_eq!(
            layers.iter().filter(|l| l.images == 2).count(),
            1,
            "the base is shared"
        );
        assert_eq!(store.image_by_tag("a").unwrap(), Some(a.id.clone()));

        let removed = store.delete_images(std::slice::from_ref(&a.id)).unwrap();
        assert_eq!(removed.layers.len(), 1, "only a's own layer goes");
        assert!(store
            .layer_diff_dir(&store.image_layers(&b.id).unwrap()[0].chain_id)
            .join("base")
            .exists());
        store.delete_images(std::slice::from_ref(&b.id)).unwrap();
        assert!(store.list_layers().unwrap().is_empty());
        assert!(
            store.content.list().unwrap().is_empty(),
            "every blob collected"
        );
        assert!(
            std::fs::read_dir(t.path().join("tmp"))
                .unwrap()
                .next()
                .is_none(),
            "trash emptied"
        );
    }
}
