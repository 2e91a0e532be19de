//! Metadata in SQLite: images, tags, layers, containers, the build cache
//! (the events journal's table is in `events.rs`).
//!
//! Every berth command is its own process and several may run at once on one
//! root, so all changes go through SQLite transactions. Writers take the
//! database's write lock up front (`BEGIN IMMEDIATE`), which also serializes
//! the filesystem steps done inside them (installing layer directories,
//! publishing and deleting blobs) across processes.

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::digest::Digest;
use crate::status::ContainerStatus;
use crate::StoreError;

/// Schema migrations, applied in order; `PRAGMA user_version` records how
/// many have run. Never edit a released entry: append a new one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE layers (
    chain_id   TEXT PRIMARY KEY,
    diff_id    TEXT NOT NULL,
    parent     TEXT REFERENCES layers(chain_id),
    link       TEXT NOT NULL UNIQUE,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE images (
    id                  TEXT PRIMARY KEY,
    manifest_digest     TEXT NOT NULL,
    manifest_media_type TEXT NOT NULL,
    created             INTEGER,
    added_at            INTEGER NOT NULL
);
CREATE TABLE image_layers (
    image_id        TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    chain_id        TEXT NOT NULL REFERENCES layers(chain_id),
    blob_digest     TEXT NOT NULL,
    blob_media_type TEXT NOT NULL,
    blob_size       INTEGER NOT NULL,
    PRIMARY KEY (image_id, position)
);
CREATE INDEX image_layers_chain ON image_layers(chain_id);
CREATE INDEX image_layers_blob ON image_layers(blob_digest);
CREATE TABLE tags (
    name      TEXT PRIMARY KEY,
    image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    tagged_at INTEGER NOT NULL
);
CREATE INDEX tags_image ON tags(image_id);
"#,
    r#"
CREATE TABLE repo_digests (
    name     TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE INDEX repo_digests_image ON repo_digests(image_id);
"#,
    r#"
CREATE TABLE containers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    image_id    TEXT NOT NULL REFERENCES images(id),
    config      TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT,
    pid         INTEGER,
    monitor_pid INTEGER,
    exit_code   INTEGER
);
CREATE INDEX containers_image ON containers(image_id);
"#,
    r#"
ALTER TABLE containers ADD COLUMN restart_count INTEGER NOT NULL DEFAULT 0;
"#,
    r#"
CREATE TABLE build_cache (
    key      TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    created  INTEGER NOT NULL
);
CREATE INDEX build_cache_image ON build_cache(image_id);
"#,
    r#"
CREATE TABLE networks (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    driver     TEXT NOT NULL,
    config     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_v4    TEXT,
    last_v6    TEXT
);
CREATE TABLE endpoints (
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    network_id   TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    config       TEXT NOT NULL,
    PRIMARY KEY (container_id, network_id)
);
CREATE INDEX endpoints_network ON endpoints(network_id);
CREATE TABLE leases (
    network_id   TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    address      TEXT NOT NULL,
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    PRIMARY KEY (network_id, address)
);
CREATE INDEX leases_container ON leases(container_id);
CREATE TABLE port_bindings (
    container_id   TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    network_id     TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    protocol       TEXT NOT NULL,
    host_ip        TEXT NOT NULL,
    host_port      INTEGER NOT NULL,
    container_ip   TEXT NOT NULL,
    container_port INTEGER NOT NULL,
    PRIMARY KEY (protocol, host_ip, host_port)
);
CREATE INDEX port_bindings_container ON port_bindings(container_id);
"#,
    crate::events::MIGRATION,
    // Volumes, and which containers use each (`active`: running with it).
    r#"
CREATE TABLE volumes (
    name       TEXT PRIMARY KEY,
    driver     TEXT NOT NULL,
    options    TEXT NOT NULL,
    labels     TEXT NOT NULL,
    anonymous  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    mounted    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE container_volumes (
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    volume       TEXT NOT NULL REFERENCES volumes(name),
    destination  TEXT NOT NULL,
    active       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (container_id, destination)
);
CREATE INDEX container_volumes_volume ON container_volumes(volume);
"#,
];

pub(crate) struct Db {
    conn: Connection,
}

/// One layer of an image, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLayer {
    pub chain_id: Digest,
    pub diff_id: Digest,
    pub blob_digest: Digest,
    pub blob_media_type: String,
    pub blob_size: u64,
    /// Unpacked size of this layer alone.
    pub size: u64,
    /// Short name of the layer directory under `layers/l/`.
    pub link: String,
}

/// An image as the metadata database knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    pub id: Digest,
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    /// Seconds since the epoch, from the config's `created`.
    pub created: Option<i64>,
    /// When this store first got the image.
    pub added_at: i64,
    /// Sum of the unpacked sizes of its layers.
    pub size: u64,
    /// Full references (`docker.io/library/busybox:latest`), sorted.
    pub tags: Vec<String>,
    /// `name@digest` of the manifests it was pulled by or pushed as, sorted.
    pub repo_digests: Vec<String>,
    /// When the newest of its tags was set, if tagged.
    pub last_tag_time: Option<i64>,
}

/// A layer as the metadata database knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRecord {
    pub chain_id: Digest,
    pub size: u64,
    /// How many images use this layer.
    pub images: u64,
}

fn digest_col(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Digest> {
    let s: String = row.get(idx)?;
    s.parse().map_err(|e: StoreError| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Db {
    pub(crate) fn open(path: &Path) -> Result<Db, StoreError> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError::db(format!("open {}", path.display()), e))?;
        // Other berth processes may hold the write lock for a while (a big
        // load installs its layers inside one transaction).
        conn.busy_timeout(Duration::from_secs(600))
            .map_err(|e| StoreError::db("set busy timeout", e))?;
        // WAL with synchronous=NORMAL: a killed process never loses or
        // corrupts a commit; a power cut may roll back the last ones, which
        // only leaves files nothing refers to (every file is fsynced before
        // the row naming it commits). FULL would fsync on every commit, a
        // few milliseconds on each `run`.
        //
        // The WAL is folded back by SQLite's automatic checkpoints, kept
        // small (128 pages, 512 KiB): the first process to open the
        // database rebuilds its WAL index by reading the whole WAL, which
        // at SQLite's default of 1000 pages is 2 ms more on every command.
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; \
             PRAGMA wal_autocheckpoint=128;",
        )
        .map_err(|e| StoreError::db("configure database", e))?;
        // Checkpointing again whenever a short-lived command closes the
        // database would cost every command two fsyncs.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(|e| StoreError::db("configure database", e))?;
        let mut db = Db { conn };
        db.migrate()?;
        Ok(db)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: usize = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| StoreError::db("read schema version", e))?;
        if version == MIGRATIONS.len() {
            return Ok(());
        }
        let tx = self.write()?;
        // Another process may have migrated while this one waited for the lock.
        let version: usize = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| StoreError::db("read schema version", e))?;
        if version > MIGRATIONS.len() {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported: MIGRATIONS.len(),
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            tx.execute_batch(sql)
                .map_err(|e| StoreError::db(format!("apply schema migration {}", i + 1), e))?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {}", MIGRATIONS.len()))
            .map_err(|e| StoreError::db("record schema version", e))?;
        tx.commit()
            .map_err(|e| StoreError::db("commit schema migration", e))
    }

    /// A write transaction holding the database's write lock from the start.
    pub(crate) fn write(&mut self) -> Result<Transaction<'_>, StoreError> {
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::db("begin transaction", e))
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

pub(crate) fn layer_exists(c: &Connection, chain: &Digest) -> Result<bool, StoreError> {
    c.query_row(
        "SELECT 1 FROM layers WHERE chain_id = ?1",
        [chain.to_string()],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
    .map_err(|e| StoreError::db("look up layer", e))
}

pub(crate) fn insert_layer(
    c: &Connection,
    chain: &Digest,
    diff: &Digest,
    parent: Option<&Digest>,
    link: &str,
    size: u64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO layers (chain_id, diff_id, parent, link, size, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![chain.to_string(), diff.to_string(), parent.map(|p| p.to_string()), link, size as i64, now()],
    )
    .map_err(|e| StoreError::db(format!("record layer {chain}"), e))?;
    Ok(())
}

pub(crate) fn image_exists(c: &Connection, id: &Digest) -> Result<bool, StoreError> {
    c.query_row(
        "SELECT 1 FROM images WHERE id = ?1",
        [id.to_string()],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
    .map_err(|e| StoreError::db("look up image", e))
}

pub(crate) struct NewImageRow<'a> {
    pub id: &'a Digest,
    pub manifest_digest: &'a Digest,
    pub manifest_media_type: &'a str,
    pub created: Option<i64>,
    /// (chain id, blob digest, blob media type, blob size), bottom first.
    pub layers: Vec<(Digest, Digest, String, u64)>,
}

pub(crate) fn insert_image(c: &Connection, img: &NewImageRow<'_>) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO images (id, manifest_digest, manifest_media_type, created, added_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![img.id.to_string(), img.manifest_digest.to_string(), img.manifest_media_type, img.created, now()],
    )
    .map_err(|e| StoreError::db(format!("record image {}", img.id), e))?;
    let mut stmt = c
        .prepare_cached(
            "INSERT INTO image_layers (image_id, position, chain_id, blob_digest, blob_media_type, blob_size) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(|e| StoreError::db("record image layers", e))?;
    for (i, (chain, blob, mt, size)) in img.layers.iter().enumerate() {
        stmt.execute(params![
            img.id.to_string(),
            i as i64,
            chain.to_string(),
            blob.to_string(),
            mt,
            *size as i64
        ])
        .map_err(|e| StoreError::db("record image layers", e))?;
    }
    Ok(())
}

/// Points `name` at `image`; returns the image it pointed at before, if
/// that was another one.
pub(crate) fn set_tag(
    c: &Connection,
    name: &str,
    image: &Digest,
) -> Result<Option<Digest>, StoreError> {
    let old: Option<Digest> = c
        .query_row("SELECT image_id FROM tags WHERE name = ?1", [name], |r| {
            digest_col(r, 0)
        })
        .optional()
        .map_err(|e| StoreError::db("look up tag", e))?;
    c.execute(
        "INSERT INTO tags (name, image_id, tagged_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, tagged_at = excluded.tagged_at",
        params![name, image.to_string(), now()],
    )
    .map_err(|e| StoreError::db(format!("tag {name}"), e))?;
    Ok(old.filter(|o| o != image))
}

/// Records that `image` is `repository@digest`; an image keeps one digest
/// per repository, as docker does.
pub(crate) fn set_repo_digest(
    c: &Connection,
    repository: &str,
    digest: &str,
    image: &Digest,
) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM repo_digests WHERE image_id = ?1 AND substr(name, 1, ?3) = ?2",
        params![
            image.to_string(),
            format!("{repository}@"),
            repository.len() as i64 + 1
        ],
    )
    .map_err(|e| StoreError::db("record repo digest", e))?;
    c.execute(
        "INSERT INTO repo_digests (name, image_id) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
        params![format!("{repository}@{digest}"), image.to_string()],
    )
    .map_err(|e| StoreError::db("record repo digest", e))?;
    Ok(())
}

pub(crate) fn image_by_repo_digest(
    c: &Connection,
    name: &str,
) -> Result<Option<Digest>, StoreError> {
    c.query_row(
        "SELECT image_id FROM repo_digests WHERE name = ?1",
        [name],
        |r| digest_col(r, 0),
    )
    .optional()
    .map_err(|e| StoreError::db("look up repo digest", e))
}

pub(crate) fn remove_tag(c: &Connection, name: &str) -> Result<bool, StoreError> {
    c.execute("DELETE FROM tags WHERE name = ?1", [name])
        .map(|n| n > 0)
        .map_err(|e| StoreError::db(format!("untag {name}"), e))
}

pub(crate) fn delete_image(c: &Connection, id: &Digest) -> Result<bool, StoreError> {
    c.execute("DELETE FROM images WHERE id = ?1", [id.to_string()])
        .map(|n| n > 0)
        .map_err(|e| StoreError::db(format!("delete image {id}"), e))
}

/// Deletes layers no image uses, returning their chain ids.
pub(crate) fn delete_unused_layers(c: &Connection) -> Result<Vec<Digest>, StoreError> {
    let mut out = Vec::new();
    // Children before parents: a layer's parent stays referenced by the
    // `parent` column until the child row is gone.
    loop {
        let unused: Vec<Digest> = {
            let mut stmt = c
                .prepare(
                    "SELECT chain_id FROM layers l
                     WHERE NOT EXISTS (SELECT 1 FROM image_layers il WHERE il.chain_id = l.chain_id)
                       AND NOT EXISTS (SELECT 1 FROM layers child WHERE child.parent = l.chain_id)",
                )
                .map_err(|e| StoreError::db("find unused layers", e))?;
            let rows = stmt
                .query_map([], |r| digest_col(r, 0))
                .map_err(|e| StoreError::db("find unused layers", e))?;
            rows.collect::<Result<_, _>>()
                .map_err(|e| StoreError::db("find unused layers", e))?
        };
        if unused.is_empty() {
            return Ok(out);
        }
        for chain in unused {
            c.execute(
                "DELETE FROM layers WHERE chain_id = ?1",
                [chain.to_string()],
            )
            .map_err(|e| StoreError::db(format!("delete layer {chain}"), e))?;
            out.push(chain);
        }
    }
}

/// Every blob digest the metadata refers to.
pub(crate) fn referenced_blobs(
    c: &Connection,
) -> Result<std::collections::HashSet<Digest>, StoreError> {
    let mut stmt = c
        .prepare("SELECT id FROM images UNION SELECT manifest_digest FROM images UNION SELECT blob_digest FROM image_layers")
        .map_err(|e| StoreError::db("list referenced blobs", e))?;
    let rows = stmt
        .query_map([], |r| digest_col(r, 0))
        .map_err(|e| StoreError::db("list referenced blobs", e))?;
    rows.collect::<Result<_, _>>()
        .map_err(|e| StoreError::db("list referenced blobs", e))
}

pub(crate) fn layer_link(c: &Connection, chain: &Digest) -> Result<Option<String>, StoreError> {
    c.query_row(
        "SELECT link FROM layers WHERE chain_id = ?1",
        [chain.to_string()],
        |r| r.get(0),
    )
    .optional()
    .map_err(|e| StoreError::db("look up layer", e))
}

const IMAGE_SELECT: &str = "
    SELECT i.id, i.manifest_digest, i.manifest_media_type, i.created, i.added_at,
           (SELECT COALESCE(SUM(l.size), 0) FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id WHERE il.image_id = i.id),
           (SELECT group_concat(name, char(10)) FROM (SELECT name FROM tags t WHERE t.image_id = i.id ORDER BY name)),
           (SELECT MAX(tagged_at) FROM tags t WHERE t.image_id = i.id),
           (SELECT group_concat(name, char(10)) FROM (SELECT name FROM repo_digests d WHERE d.image_id = i.id ORDER BY name))
    FROM images i";

fn image_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ImageRecord> {
    let tags: Option<String> = r.get(6)?;
    Ok(ImageRecord {
        id: digest_col(r, 0)?,
        manifest_digest: digest_col(r, 1)?,
        manifest_media_type: r.get(2)?,
        created: r.get(3)?,
        added_at: r.get(4)?,
        size: r.get::<_, i64>(5)? as u64,
        tags: tags
            .map(|t| t.split('\n').map(str::to_string).collect())
            .unwrap_or_default(),
        last_tag_time: r.get(7)?,
        repo_digests: r
            .get::<_, Option<String>>(8)?
            .map(|t| t.split('\n').map(str::to_string).collect())
            .unwrap_or_default(),
    })
}

pub(crate) fn list_images(c: &Connection) -> Result<Vec<ImageRecord>, StoreError> {
    let mut stmt = c
        .prepare(&format!(
            "{IMAGE_SELECT} ORDER BY i.created DESC, i.added_at DESC, i.id"
        ))
        .map_err(|e| StoreError::db("list images", e))?;
    let rows = stmt
        .query_map([], image_row)
        .map_err(|e| StoreError::db("list images", e))?;
    rows.collect::<Result<_, _>>()
        .map_err(|e| StoreError::db("list images", e))
}

pub(crate) fn get_image(c: &Connection, id: &Digest) -> Result<Option<ImageRecord>, StoreError> {
    c.query_row(
        &format!("{IMAGE_SELECT} WHERE i.id = ?1"),
        [id.to_string()],
        image_row,
    )
    .optional()
    .map_err(|e| StoreError::db("look up image", e))
}

pub(crate) fn image_by_tag(c: &Connection, name: &str) -> Result<Option<Digest>, StoreError> {
    c.query_row("SELECT image_id FROM tags WHERE name = ?1", [name], |r| {
        digest_col(r, 0)
    })
    .optional()
    .map_err(|e| StoreError::db("look up tag", e))
}

/// Image ids starting with `hex_prefix`.
pub(crate) fn images_by_prefix(
    c: &Connection,
    hex_prefix: &str,
) -> Result<Vec<Digest>, StoreError> {
    let mut stmt = c
        .prepare("SELECT id FROM images WHERE substr(id, 1, ?2) = ?1")
        .map_err(|e| StoreError::db("look up image", e))?;
    let prefix = format!("sha256:{hex_prefix}");
    let rows = stmt
        .query_map(params![prefix, prefix.len() as i64], |r| digest_col(r, 0))
        .map_err(|e| StoreError::db("look up image", e))?;
    rows.collect::<Result<_, _>>()
        .map_err(|e| StoreError::db("look up image", e))
}

pub(crate) fn image_layers(c: &Connection, id: &Digest) -> Result<Vec<ImageLayer>, StoreError> {
    let mut stmt = c
        .prepare(
            "SELECT il.chain_id, l.diff_id, il.blob_digest, il.blob_media_type, il.blob_size, l.size, l.link
             FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id
             WHERE il.image_id = ?1 ORDER BY il.position",
        )
        .map_err(|e| StoreError::db("list image layers", e))?;
    let rows = stmt
        .query_map([id.to_string()], |r| {
            Ok(ImageLayer {
                chain_id: digest_col(r, 0)?,
                diff_id: digest_col(r, 1)?,
                blob_digest: digest_col(r, 2)?,
                blob_media_type: r.get(3)?,
                blob_size: r.get::<_, i64>(4)? as u64,
                size: r.get::<_, i64>(5)? as u64,
                link: r.get(6)?,
            })
        })
        .map_err(|e| StoreError::db("list image layers", e))?;
    rows.collect::<Result<_, _>>()
        .map_err(|e| StoreError::db("list image layers", e))
}

/// The diff id and media type recorded for a layer blob, if any image uses it.
pub(crate) fn layer_by_blob(
    c: &Connection,
    blob: &Digest,
) -> Result<Option<(Digest, String)>, StoreError> {
    c.query_row(
        "SELECT l.diff_id, il.blob_media_type FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id
         WHERE il.blob_digest = ?1 LIMIT 1",
        [blob.to_string()],
        |r| Ok((digest_col(r, 0)?, r.get(1)?)),
    )
    .optional()
    .map_err(|e| StoreError::db("look up layer blob", e))
}

pub(crate) fn list_layers(c: &Connection) -> Result<Vec<LayerRecord>, StoreError> {
    let mut stmt = c
        .prepare(
            "SELECT l.chain_id, l.size, (SELECT COUNT(DISTINCT image_id) FROM image_layers il WHERE il.chain_id = l.chain_id)
             FROM layers l ORDER BY l.chain_id",
        )
        .map_err(|e| StoreError::db("list layers", e))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(LayerRecord {
                chain_id: digest_col(r, 0)?,
                size: r.get::<_, i64>(1)? as u64,
                images: r.get::<_, i64>(2)? as u64,
            })
        })
        .map_err(|e| StoreError::db("list layers", e))?;
    rows.collect::<Result<_, _>>()
        .map_err(|e| StoreError::db("list layers", e))
}

/// A container as the metadata database knows it. `config` is the engine's
/// own JSON (what the container was created with); the store does not read
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    pub image_id: Digest,
    pub config: String,
    pub status: ContainerStatus,
    /// RFC 3339 times.
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub pid: Option<u32>,
    pub monitor_pid: Option<u32>,
    pub exit_code: Option<i32>,
    /// Restarts done by the restart policy since the last `start`.
    pub restart_count: u32,
}

const CONTAINER_SELECT: &str = "SELECT id, name, image_id, config, status, created_at, started_at, finished_at, pid, monitor_pid, exit_code, restart_count FROM containers";

fn container_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ContainerRecord> {
    Ok(ContainerRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        image_id: digest_col(r, 2)?,
        config: r.get(3)?,
        status: r.get(4)?,
        created_at: r.get(5)?,
        started_at: r.get(6)?,
        finished_at: r.get(7)?,
        pid: r.get(8)?,
        monitor_pid: r.get(9)?,
        exit_code: r.get(10)?,
        restart_count: r.get(11)?,
    })
}

pub(crate) fn insert_container(c: &Connection, rec: &ContainerRecord) -> Result<(), StoreError> {
    let taken: bool = c
        .query_row(
            "SELECT 1 FROM containers WHERE name = ?1",
            [&rec.name],
            |_| Ok(()),
        )
        .optional()
        .map_err(|e| StoreError::db("look up container name", e))?
        .is_some();
    if taken {
        return Err(StoreError::NameInUse(rec.name.clone()));
    }
    c.execute(
        "INSERT INTO containers (id, name, image_id, config, status, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![rec.id, rec.name, rec.image_id.to_string(), rec.config, rec.status, rec.created_at],
    )
    .map_err(|e| StoreError::db(format!("record container {}", rec.name), e))?;
    Ok(())
}

pub(crate) fn update_container(c: &Connection, rec: &ContainerRecord) -> Result<(), StoreError> {
    c.execute(
        "UPDATE containers SET status = ?2, started_at = ?3, finished_at = ?4, pid = ?5, monitor_pid = ?6, exit_code = ?7, restart_count = ?8 WHERE id = ?1",
        params![rec.id, rec.status, rec.started_at, rec.finished_at, rec.pid, rec.monitor_pid, rec.exit_code, rec.restart_count],
    )
    .map_err(|e| StoreError::db(format!("update container {}", rec.name), e))?;
    Ok(())
}

/// Renames container `id`; `NameInUse` when another has `name`.
pub(crate) fn rename_container(c: &Connection, id: &str, name: &str) -> Result<(), StoreError> {
    let taken = c
        .query_row(
            "SELECT 1 FROM containers WHERE name = ?1 AND id != ?2",
            [name, id],
            |_| Ok(()),
        )
        .optional()
        .map_err(|e| StoreError::db("look up container name", e))?
        .is_some();
    if taken {
        return Err(StoreError::NameInUse(name.to_string()));
    }
    c.execute("UPDATE containers SET name = ?2 WHERE id = ?1", [id, name])
        .map_err(|e| StoreError::db(format!("rename container {id}"), e))?;
    Ok(())
}

pub(crate) fn get_container(
    c: &Connection,
    id: &str,
) -> Result<Option<ContainerRecord>, StoreError> {
    c.query_row(
        &format!("{CONTAINER_SELECT} WHERE id = ?1"),
        [id],
        container_row,
    )
    .optional()
    .map_err(|e| StoreError::db("look up container", e))
}

pub(crate) fn find_containers(
    c: &Connection,
    name_or_prefix: &str,
) -> Result<Vec<ContainerRecord>, StoreError> {
    let mut stmt = c
        .prepare(&format!("{CONTAINER_SELECT} WHERE name = ?1 OR substr(id, 1, length(?1)) = ?1 ORDER BY name = ?1 DESC"))
        .map_err(|e| StoreError::db("look up container", e))?;
    let rows = stmt
        .query_map([name_or_prefix], container_row)
        .map_err(|e| StoreError::db("look up container", e))?;
    rows.collect::<Result<_, _>>()
        .map_err(|e| StoreError::db("look up container", e))
}

pub(crate) fn list_containers(c: &Connection) -> Result<Vec<ContainerRecord>, StoreError> {
    let mut stmt = c
        .prepare(&format!("{CONTAINER_SELECT} ORDER BY created_at DESC"))
        .map_err(|e| StoreError::db("list containers", e))?;
    let rows = stmt
        .query_map([], container_row)
        .map_err(|e| StoreError::db("list containers", e))?;
    rows.collect::<Result<_, _>>()
        .map_err(|e| StoreError::db("list containers", e))
}

pub(crate) fn delete_container(c: &Connection, id: &str) -> Result<(), StoreError> {
    c.execute("DELETE FROM containers WHERE id = ?1", [id])
        .map_err(|e| StoreError::db("delete container", e))?;
    Ok(())
}

/// The image a build step with this cache key produced, if it is still
/// stored.
pub(crate) fn build_cache_get(c: &Connection, key: &str) -> Result<Option<Digest>, StoreError> {
    c.query_row(
        "SELECT image_id FROM build_cache WHERE key = ?1",
        params![key],
        |r| digest_col(r, 0),
    )
    .optional()
    .map_err(|e| StoreError::db("look up the build cache", e))
}

pub(crate) fn build_step_images(
    c: &Connection,
) -> Result<std::collections::HashSet<Digest>, StoreError> {
    let mut stmt = c
        .prepare("SELECT DISTINCT image_id FROM build_cache")
        .map_err(|e| StoreError::db("read the build cache", e))?;
    let rows = stmt
        .query_map([], |r| digest_col(r, 0))
        .map_err(|e| StoreError::db("read the build cache", e))?;
    rows.collect::<Result<_, _>>()
        .map_err(|e| StoreError::db("read the build cache", e))
}

/// Images only build steps know: in the build cache, without a tag, a
/// repo digest or a container.
pub(crate) fn unused_build_step_images(c: &Connection) -> Result<Vec<Digest>, StoreError> {
    let mut stmt = c
        .prepare(
            "SELECT DISTINCT b.image_id FROM build_cache b
             WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.image_id = b.image_id)
               AND NOT EXISTS (SELECT 1 FROM repo_digests r WHERE r.image_id = b.image_id)
               AND NOT EXISTS (SELECT 1 FROM containers k WHERE k.image_id = b.image_id)",
        )
        .map_err(|e| StoreError::db("find unused build cache images", e))?;
    let rows = stmt
        .query_map([], |r| digest_col(r, 0))
        .map_err(|e| StoreError::db("find unused build cache images", e))?;
    rows.collect::<Result<_, _>>()
        .map_err(|e| StoreError::db("find unused build cache images", e))
}

pub(crate) fn clear_build_cache(c: &Connection) -> Result<(), StoreError> {
    c.execute("DELETE FROM build_cache", [])
        .map_err(|e| StoreError::db("clear the build cache", e))?;
    Ok(())
}

pub(crate) fn build_cache_put(c: &Connection, key: &str, image: &Digest) -> Result<(), StoreError> {
    c.execute(
        "INSERT OR REPLACE INTO build_cache (key, image_id, created) VALUES (?1, ?2, ?3)",
        params![key, image.to_string(), now()],
    )
    .map_err(|e| StoreError::db("record a build cache entry", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_status_is_stored_as_dockers_name() {
        let t = tempfile::tempdir().unwrap();
        let db = Db::open(&t.path().join("berth.db")).unwrap();
        let image: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        db.conn()
            .execute(
                "INSERT INTO images (id, manifest_digest, manifest_media_type, added_at) VALUES (?1, ?1, 'm', 0)",
                [image.to_string()],
            )
            .unwrap();
        let mut rec = ContainerRecord {
            id: "c1".into(),
            name: "web".into(),
            image_id: image,
            config: "{}".into(),
            status: ContainerStatus::Created,
            created_at: "2024-01-01T00:00:00Z".into(),
            started_at: None,
            finished_at: None,
            pid: None,
            monitor_pid: None,
            exit_code: None,
            restart_count: 0,
        };
        insert_container(db.conn(), &rec).unwrap();
        rec.status = ContainerStatus::Paused;
        update_container(db.conn(), &rec).unwrap();
        let text: String = db
            .conn()
            .query_row("SELECT status FROM containers", [], |r| r.get(0))
            .unwrap();
        assert_eq!(text, "paused");
        assert_eq!(get_container(db.conn(), "c1").unwrap(), Some(rec));
        // A state no berth writes is an error, not a guess.
        db.conn()
            .execute("UPDATE containers SET status = 'up'", [])
            .unwrap();
        let e = get_container(db.conn(), "c1").unwrap_err().to_string();
        assert!(e.contains("invalid container status \"up\""), "{e}");
    }
}
