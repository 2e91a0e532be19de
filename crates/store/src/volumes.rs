//! Volumes: their directories under `volumes/<name>/_data` and their
//! records, with which containers use each one.
//!
//! Everything that decides whether a volume exists or is used happens in
//! one write transaction (SQLite's write lock serializes it across
//! processes): creating one, recording a container with the volumes it
//! uses, removing one only while no container uses it. So a `volume rm`
//! and a `run` mounting the same volume cannot both win.
//!
//! A volume's directory is made in `tmp/` and renamed into `volumes/`
//! inside the transaction that inserts its row, and removed by renaming it
//! back into `tmp/` inside the one that deletes the row: a killed process
//! leaves at most a directory no row names, which the next create of that
//! name replaces and `volume prune` sweeps. Nothing is deleted through a
//! mount point: a volume whose `_data` is still mounted is refused.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::db::now;
use crate::temp::TempPath;
use crate::{ContainerRecord, Store, StoreError};

/// Where volumes live under the root.
pub const VOLUMES_DIR: &str = "volumes";
/// The directory inside a volume's own that holds its data (docker's name).
pub const VOLUME_DATA: &str = "_data";

/// A volume as the store knows it. The driver's options and the labels are
/// kept as given; the engine parses and validates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Made for a container (`-v /path`, an image's `VOLUME`) rather than
    /// named by a user.
    pub anonymous: bool,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// The driver's mount (tmpfs, a bind, nfs) is on `_data`.
    pub mounted: bool,
    /// IDs of the containers that use it, running or not, sorted.
    pub containers: Vec<String>,
    /// IDs of the containers running with it mounted, sorted.
    pub active: Vec<String>,
}

/// A volume to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVolume {
    pub name: String,
    pub driver: String,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub anonymous: bool,
}

/// A volume a container being created uses at `destination`; created with
/// the container when no volume of that name exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeUse {
    pub volume: NewVolume,
    pub destination: String,
}

/// One of a container's volumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerVolume {
    pub volume: VolumeRecord,
    pub destination: String,
}

/// Whether `path` is the root of a mount, without following it. Kernels
/// without statx's mount-root attribute (before 5.8) are answered from
/// `/proc/self/mountinfo`.
pub fn is_mount_point(path: &Path) -> Result<bool, StoreError> {
    use rustix::fs::{AtFlags, StatxAttributes, StatxFlags, CWD};
    match rustix::fs::statx(
        CWD,
        path,
        AtFlags::NO_AUTOMOUNT | AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::empty(),
    ) {
        Ok(st) if st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) => {
            Ok(st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT))
        }
        Ok(_) => {
            let info = fs::read_to_string("/proc/self/mountinfo")
                .map_err(|e| StoreError::io("read /proc/self/mountinfo", e))?;
            let want = path.to_string_lossy().replace(' ', "\\040");
            Ok(info
                .lines()
                .any(|l| l.split(' ').nth(4) == Some(want.as_str())))
        }
        Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(e) => Err(StoreError::io(
            format!("look at {}", path.display()),
            e.into(),
        )),
    }
}

fn map_json(s: &str, idx: usize) -> rusqlite::Result<BTreeMap<String, String>> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn ids(s: Option<String>) -> Vec<String> {
    let mut v: Vec<String> = s
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    v.sort();
    v.dedup();
    v
}

const VOLUME_SELECT: &str = "
    SELECT v.name, v.driver, v.options, v.labels, v.anonymous, v.created_at, v.mounted,
           (SELECT group_concat(container_id) FROM container_volumes cv WHERE cv.volume = v.name),
           (SELECT group_concat(container_id) FROM container_volumes cv WHERE cv.volume = v.name AND cv.active)
    FROM volumes v";

fn volume_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<VolumeRecord> {
    Ok(VolumeRecord {
        name: r.get(0)?,
        driver: r.get(1)?,
        options: map_json(&r.get::<_, String>(2)?, 2)?,
        labels: map_json(&r.get::<_, String>(3)?, 3)?,
        anonymous: r.get(4)?,
        created_at: r.get(5)?,
        mounted: r.get(6)?,
        containers: ids(r.get(7)?),
        active: ids(r.get(8)?),
    })
}

fn get_volume(c: &Connection, name: &str) -> Result<Option<VolumeRecord>, StoreError> {
    c.query_row(
        &format!("{VOLUME_SELECT} WHERE v.name = ?1"),
        [name],
        volume_row,
    )
    .optional()
    .map_err(|e| StoreError::db(format!("look up volume {name}"), e))
}

fn list_volumes(c: &Connection) -> Result<Vec<VolumeRecord>, StoreError> {
    let mut stmt = c
        .prepare(&format!("{VOLUME_SELECT} ORDER BY v.name"))
        .map_err(|e| StoreError::db("list volumes", e))?;
    let rows = stmt
        .query_map([], volume_row)
        .map_err(|e| StoreError::db("list volumes", e))?;
    rows.collect::<Result<_, _>>()
        .map_err(|e| StoreError::db("list volumes", e))
}

fn insert_volume(c: &Connection, v: &NewVolume) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO volumes (name, driver, options, labels, anonymous, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            v.name,
            v.driver,
            serde_json::to_string(&v.options).expect("a string map serializes"),
            serde_json::to_string(&v.labels).expect("a string map serializes"),
            v.anonymous,
            now()
        ],
    )
    .map_err(|e| StoreError::db(format!("record volume {}", v.name), e))?;
    Ok(())
}

/// A volume's directory made in `tmp/`, ready to be renamed into place:
/// `<dir>/_data`, modes as docker's (0701 and 0755).
struct StagedVolume {
    dir: TempPath,
}

impl StagedVolume {
    fn new(tmp: &Path) -> Result<StagedVolume, StoreError> {
        let dir = TempPath::new_dir_in(tmp, "volume")?;
        let data = dir.path().join(VOLUME_DATA);
        fs::create_dir(&data)
            .map_err(|e| StoreError::io(format!("create {}", data.display()), e))?;
        for (path, mode) in [(dir.path(), 0o701), (data.as_path(), 0o755)] {
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .map_err(|e| StoreError::io(format!("set the mode of {}", path.display()), e))?;
        }
        Ok(StagedVolume { dir })
    }
}

impl Store {
    pub fn volumes_dir(&self) -> PathBuf {
        self.root.join(VOLUMES_DIR)
    }

    /// `volumes/<name>/_data`: the volume's data (docker's `Mountpoint`).
    pub fn volume_data_dir(&self, name: &str) -> PathBuf {
        self.volumes_dir().join(name).join(VOLUME_DATA)
    }

    /// Creates a volume, or returns the one of that name (docker's `volume
    /// create` of an existing name). True when it was made now.
    pub fn create_volume(&mut self, v: &NewVolume) -> Result<(VolumeRecord, bool), StoreError> {
        let mut staged = Some(StagedVolume::new(&self.tmp())?);
        let (volumes, tmp) = (self.volumes_dir(), self.tmp());
        let tx = self.db.write()?;
        let created = ensure_volume(&tx, &volumes, &tmp, v, &mut staged)?;
        let record =
            get_volume(&tx, &v.name)?.ok_or_else(|| StoreError::NoSuchVolume(v.name.clone()))?;
        tx.commit()
            .map_err(|e| StoreError::db("commit volume", e))?;
        Ok((record, created))
    }

    pub fn volume(&self, name: &str) -> Result<Option<VolumeRecord>, StoreError> {
        get_volume(self.db.conn(), name)
    }

    /// Every volume, by name.
    pub fn list_volumes(&self) -> Result<Vec<VolumeRecord>, StoreError> {
        list_volumes(self.db.conn())
    }

    /// Removes a volume no container uses, with its data. Refused while any
    /// container uses it (naming them). A mount left on its `_data` (by a
    /// monitor killed before it released the volume) is passed to
    /// `unmount` first, inside the transaction: nothing is ever deleted
    /// through a mount.
    pub fn remove_volume<E: From<StoreError>>(
        &mut self,
        name: &str,
        mut unmount: impl FnMut(&Path) -> Result<(), E>,
    ) -> Result<(), E> {
        let (volumes, tmp) = (self.volumes_dir(), self.tmp());
        let tx = self.db.write()?;
        let Some(v) = get_volume(&tx, name)? else {
            return Err(StoreError::NoSuchVolume(name.to_string()).into());
        };
        if !v.containers.is_empty() {
            return Err(StoreError::VolumeInUse {
                name: name.to_string(),
                containers: v.containers,
            }
            .into());
        }
        let trash = delete_volume(&tx, &volumes, &tmp, name, &mut unmount)?;
        tx.commit()
            .map_err(|e| StoreError::db("commit volume removal", e))?;
        drop(trash);
        Ok(())
    }

    /// Removes those of `names` that no container uses by the time the
    /// write lock is held, in one transaction (leftover mounts passed to
    /// `unmount` first), then sweeps directories no volume row names (left
    /// by a killed process). Returns the removed names.
    pub fn remove_unused_volumes<E: From<StoreError>>(
        &mut self,
        names: &[String],
        mut unmount: impl FnMut(&Path) -> Result<(), E>,
    ) -> Result<Vec<String>, E> {
        let (volumes, tmp) = (self.volumes_dir(), self.tmp());
        let tx = self.db.write()?;
        let mut removed = Vec::new();
        let mut trash = Vec::new();
        for name in names {
            if get_volume(&tx, name)?.is_some_and(|v| v.containers.is_empty()) {
                trash.push(delete_volume(&tx, &volumes, &tmp, name, &mut unmount)?);
                removed.push(name.clone());
            }
        }
        trash.extend(orphan_dirs(&tx, &volumes, &tmp)?);
        tx.commit()
            .map_err(|e| StoreError::db("commit volume removal", e))?;
        drop(trash);
        Ok(removed)
    }

    /// Records a container with the volumes it uses, in one transaction:
    /// volumes missing by then are created, and from its commit on no
    /// `volume rm` can take them away.
    pub fn insert_container_with_volumes(
        &mut self,
        rec: &ContainerRecord,
        uses: &[VolumeUse],
    ) -> Result<(), StoreError> {
        let tmp = self.tmp();
        let mut staged = Vec::with_capacity(uses.len());
        for _ in uses {
            staged.push(Some(StagedVolume::new(&tmp)?));
        }
        let volumes = self.volumes_dir();
        let tx = self.db.write()?;
        if !crate::db::image_exists(&tx, &rec.image_id)? {
            return Err(StoreError::ImageNotFound(rec.image_id.clone()));
        }
        crate::db::insert_container(&tx, rec)?;
        for (u, staged) in uses.iter().zip(staged.iter_mut()) {
            ensure_volume(&tx, &volumes, &tmp, &u.volume, staged)?;
            tx.execute(
                "INSERT INTO container_volumes (container_id, volume, destination) VALUES (?1, ?2, ?3)",
                params![rec.id, u.volume.name, u.destination],
            )
            .map_err(|e| StoreError::db(format!("record volume {} of {}", u.volume.name, rec.name), e))?;
        }
        tx.commit()
            .map_err(|e| StoreError::db("commit container", e))
    }

    /// A container's volumes, by destination.
    pub fn container_volumes(&self, id: &str) -> Result<Vec<ContainerVolume>, StoreError> {
        container_volumes(self.db.conn(), id)
    }

    /// Deletes a container's record and, with `remove_anonymous` (`rm -v`,
    /// `--rm`), its anonymous volumes that no other container uses, in one
    /// transaction (leftover mounts passed to `unmount`). Returns the
    /// volumes removed. Named volumes are never removed with a container.
    pub fn delete_container_with_volumes<E: From<StoreError>>(
        &mut self,
        id: &str,
        remove_anonymous: bool,
        mut unmount: impl FnMut(&Path) -> Result<(), E>,
    ) -> Result<Vec<String>, E> {
        let (volumes, tmp) = (self.volumes_dir(), self.tmp());
        let tx = self.db.write()?;
        let own = container_volumes(&tx, id)?;
        crate::db::delete_container(&tx, id)?;
        let mut removed = Vec::new();
        let mut trash = Vec::new();
        if remove_anonymous {
            for cv in own.into_iter().filter(|cv| cv.volume.anonymous) {
                let name = &cv.volume.name;
                if get_volume(&tx, name)?.is_some_and(|v| v.containers.is_empty()) {
                    trash.push(delete_volume(&tx, &volumes, &tmp, name, &mut unmount)?);
                    removed.push(name.clone());
                }
            }
        }
        tx.commit()
            .map_err(|e| StoreError::db("commit container removal", e))?;
        drop(trash);
        Ok(removed)
    }

    /// Marks a container's volumes as in use by its running process. Each
    /// volume with driver options whose `_data` has no mount yet is passed
    /// to `mount` with that path, inside the transaction, so containers
    /// starting at once mount it once. One recorded as mounted whose mount
    /// is gone (a reboot) is mounted again; a mount no record knows (a
    /// process killed before its commit) is taken as the volume's.
    pub fn activate_volumes<E: From<StoreError>>(
        &mut self,
        container_id: &str,
        mut mount: impl FnMut(&VolumeRecord, &Path) -> Result<(), E>,
    ) -> Result<(), E> {
        let volumes = self.volumes_dir();
        let tx = self.db.write()?;
        for cv in container_volumes(&tx, container_id)? {
            let v = &cv.volume;
            if !v.options.is_empty() {
                let data = data_dir(&volumes, &v.name);
                if !is_mount_point(&data)? {
                    mount(v, &data)?;
                }
                if !v.mounted {
                    set_mounted(&tx, &v.name, true)?;
                }
            }
            tx.execute(
                "UPDATE container_volumes SET active = 1 WHERE container_id = ?1 AND destination = ?2",
                params![container_id, cv.destination],
            )
            .map_err(|e| StoreError::db("record a volume in use", e))?;
        }
        tx.commit()
            .map_err(|e| StoreError::db("commit volume use", e))?;
        Ok(())
    }

    /// The container's process is gone: its volumes are no longer in use
    /// by it. Each volume with driver options that no running container
    /// uses any more has its mount passed to `unmount` (in the
    /// transaction).
    pub fn deactivate_volumes<E: From<StoreError>>(
        &mut self,
        container_id: &str,
        mut unmount: impl FnMut(&VolumeRecord, &Path) -> Result<(), E>,
    ) -> Result<(), E> {
        let volumes = self.volumes_dir();
        let tx = self.db.write()?;
        tx.execute(
            "UPDATE container_volumes SET active = 0 WHERE container_id = ?1",
            [container_id],
        )
        .map_err(|e| StoreError::db("record a volume no longer in use", e))?;
        for cv in container_volumes(&tx, container_id)? {
            let v = &cv.volume;
            if v.options.is_empty() || !v.active.is_empty() {
                continue;
            }
            let data = data_dir(&volumes, &v.name);
            if v.mounted || is_mount_point(&data)? {
                unmount(v, &data)?;
                set_mounted(&tx, &v.name, false)?;
            }
        }
        tx.commit()
            .map_err(|e| StoreError::db("commit volume release", e))?;
        Ok(())
    }

    /// Puts `content` (a directory in `tmp/`, on the same file system) in
    /// place of a volume's empty `_data`, in the write transaction: a copy
    /// staged while a container was created becomes visible whole or not
    /// at all. False, leaving the volume as it is, when the volume is gone
    /// or is no longer empty (another container filled it first).
    pub fn fill_volume(&mut self, name: &str, content: &Path) -> Result<bool, StoreError> {
        let volumes = self.volumes_dir();
        let tx = self.db.write()?;
        let data = data_dir(&volumes, name);
        if get_volume(&tx, name)?.is_none() || is_mount_point(&data)? || !dir_is_empty(&data)? {
            return Ok(false);
        }
        // rename(2) replaces an empty directory atomically.
        fs::rename(content, &data).map_err(|e| StoreError::io(format!("fill volume {name}"), e))?;
        tx.commit()
            .map_err(|e| StoreError::db("commit volume content", e))?;
        Ok(true)
    }

    /// A directory in `tmp/` for staging a volume's content, removed when
    /// dropped or by the next store open after a kill.
    pub fn stage_volume_content(&self) -> Result<StagedContent, StoreError> {
        Ok(StagedContent {
            dir: TempPath::new_dir_in(&self.tmp(), "volume-content")?,
        })
    }
}

/// A staging directory for a volume's content (see
/// [`Store::stage_volume_content`]).
#[derive(Debug)]
pub struct StagedContent {
    dir: TempPath,
}

impl StagedContent {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Whether a directory has no entries; a missing one counts as empty.
pub fn dir_is_empty(dir: &Path) -> Result<bool, StoreError> {
    match fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(StoreError::io(format!("read {}", dir.display()), e)),
    }
}

fn data_dir(volumes: &Path, name: &str) -> PathBuf {
    volumes.join(name).join(VOLUME_DATA)
}

fn set_mounted(tx: &Transaction<'_>, name: &str, mounted: bool) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE volumes SET mounted = ?2 WHERE name = ?1",
        params![name, mounted],
    )
    .map_err(|e| StoreError::db(format!("record the mount of volume {name}"), e))?;
    Ok(())
}

fn container_volumes(c: &Connection, id: &str) -> Result<Vec<ContainerVolume>, StoreError> {
    let rows: Vec<(String, String)> = {
        let mut stmt = c
            .prepare("SELECT volume, destination FROM container_volumes WHERE container_id = ?1 ORDER BY destination")
            .map_err(|e| StoreError::db("list a container's volumes", e))?;
        let rows = stmt
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| StoreError::db("list a container's volumes", e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| StoreError::db("list a container's volumes", e))?
    };
    rows.into_iter()
        .map(|(name, destination)| {
            let volume =
                get_volume(c, &name)?.ok_or_else(|| StoreError::NoSuchVolume(name.clone()))?;
            Ok(ContainerVolume {
                volume,
                destination,
            })
        })
        .collect()
}

/// Inserts the volume unless one of its name exists, moving `staged` into
/// place (taken from the option) when it is made. Inside the caller's
/// write transaction. True when it was made.
fn ensure_volume(
    tx: &Transaction<'_>,
    volumes: &Path,
    tmp: &Path,
    v: &NewVolume,
    staged: &mut Option<StagedVolume>,
) -> Result<bool, StoreError> {
    if get_volume(tx, &v.name)?.is_some() {
        return Ok(false);
    }
    let dest = volumes.join(&v.name);
    // A directory without a row: the leftover of a killed create or
    // remove. Nothing names it; replace it, unless something is mounted
    // there.
    if fs::symlink_metadata(&dest).is_ok() {
        if is_mount_point(&dest.join(VOLUME_DATA))? {
            return Err(StoreError::VolumeMounted(dest.join(VOLUME_DATA)));
        }
        let trash = TempPath::new_in(tmp, "trash")?;
        fs::rename(&dest, trash.path())
            .map_err(|e| StoreError::io(format!("clear stale volume {}", dest.display()), e))?;
    }
    let staged = staged
        .take()
        .ok_or_else(|| StoreError::NoSuchVolume(v.name.clone()))?;
    fs::rename(staged.dir.path(), &dest)
        .map_err(|e| StoreError::io(format!("create volume {}", dest.display()), e))?;
    staged.dir.keep();
    insert_volume(tx, v)?;
    Ok(true)
}

/// Deletes a volume's row and moves its directory into `tmp/`, to be
/// removed once the transaction commits (when the returned path drops).
/// A mount still on its `_data` goes to `unmount` first; if one is still
/// there after it, nothing is removed.
fn delete_volume<E: From<StoreError>>(
    tx: &Transaction<'_>,
    volumes: &Path,
    tmp: &Path,
    name: &str,
    unmount: &mut impl FnMut(&Path) -> Result<(), E>,
) -> Result<Option<TempPath>, E> {
    let dir = volumes.join(name);
    let data = dir.join(VOLUME_DATA);
    if is_mount_point(&data)? {
        unmount(&data)?;
        if is_mount_point(&data)? {
            return Err(StoreError::VolumeMounted(data).into());
        }
    }
    tx.execute("DELETE FROM volumes WHERE name = ?1", [name])
        .map_err(|e| StoreError::db(format!("delete volume {name}"), e))?;
    if fs::symlink_metadata(&dir).is_err() {
        return Ok(None);
    }
    let trash = TempPath::new_in(tmp, "trash")?;
    fs::rename(&dir, trash.path())
        .map_err(|e| StoreError::io(format!("remove volume {}", dir.display()), e))?;
    Ok(Some(trash))
}

/// Directories under `volumes/` that no row names (and that hold no
/// mount), moved into `tmp/`.
fn orphan_dirs(
    tx: &Transaction<'_>,
    volumes: &Path,
    tmp: &Path,
) -> Result<Vec<Option<TempPath>>, StoreError> {
    let known: std::collections::HashSet<String> =
        list_volumes(tx)?.into_iter().map(|v| v.name).collect();
    let entries = match fs::read_dir(volumes) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(format!("read {}", volumes.display()), e)),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if known.contains(&name) || is_mount_point(&entry.path().join(VOLUME_DATA))? {
            continue;
        }
        tracing::debug!(volume = %name, "removing a volume directory no record names");
        let trash = TempPath::new_in(tmp, "trash")?;
        fs::rename(entry.path(), trash.path())
            .map_err(|e| StoreError::io(format!("remove {}", entry.path().display()), e))?;
        out.push(Some(trash));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
