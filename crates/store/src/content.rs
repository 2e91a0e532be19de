//! The content store: blobs (layers, configs, manifests) by sha256 digest.
//!
//! A blob is written to a temporary file in `tmp/`, hashed while it streams
//! in, fsynced, and only then renamed to `blobs/sha256/<hex>`: a blob under
//! its digest name is always complete and always matches its name.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::temp::TempPath;
use crate::StoreError;

#[derive(Debug, Clone)]
pub struct ContentStore {
    dir: PathBuf,
    tmp: PathBuf,
}

/// A blob written and verified but not yet visible in the store. Dropping it
/// without publishing removes it.
#[derive(Debug)]
pub struct StagedBlob {
    file: TempPath,
    digest: Digest,
    size: u64,
}

impl StagedBlob {
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

/// Streams bytes into a new staged blob, hashing as it goes.
pub struct BlobWriter {
    file: BufWriter<File>,
    path: TempPath,
    hasher: Sha256,
    size: u64,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl BlobWriter {
    /// Flushes and fsyncs the data; the blob is staged under its digest.
    pub fn finish(self) -> Result<StagedBlob, StoreError> {
        let file = self
            .file
            .into_inner()
            .map_err(|e| StoreError::io("write blob", e.into_error()))?;
        file.sync_all()
            .map_err(|e| StoreError::io("sync blob", e))?;
        let digest = Digest::from_hex(&hex::encode(self.hasher.finalize()))?;
        Ok(StagedBlob {
            file: self.path,
            digest,
            size: self.size,
        })
    }
}

impl ContentStore {
    pub(crate) fn new(dir: PathBuf, tmp: PathBuf) -> ContentStore {
        ContentStore { dir, tmp }
    }

    pub fn writer(&self) -> Result<BlobWriter, StoreError> {
        let path = TempPath::new_in(&self.tmp, "blob")?;
        let file = File::create(path.path())
            .map_err(|e| StoreError::io(format!("create {}", path.path().display()), e))?;
        Ok(BlobWriter {
            file: BufWriter::with_capacity(256 * 1024, file),
            path,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Stages the whole of `r` as a blob.
    pub fn stage<R: Read>(&self, mut r: R) -> Result<StagedBlob, StoreError> {
        let mut w = self.writer()?;
        io::copy(&mut r, &mut w).map_err(|e| StoreError::io("write blob", e))?;
        w.finish()
    }

    /// Stages `r`, failing unless it hashes to `expected`.
    pub fn stage_verified<R: Read>(
        &self,
        r: R,
        expected: &Digest,
    ) -> Result<StagedBlob, StoreError> {
        let staged = self.stage(r)?;
        if staged.digest() != expected {
            return Err(StoreError::DigestMismatch {
                expected: expected.clone(),
                actual: staged.digest().clone(),
            });
        }
        Ok(staged)
    }

    /// Makes a staged blob visible under its digest. Publishing a blob that
    /// is already present is a no-op: content addressing makes them equal.
    pub fn publish(&self, staged: StagedBlob) -> Result<(), StoreError> {
        let dest = self.path(&staged.digest);
        if dest.exists() {
            return Ok(());
        }
        fs::rename(staged.file.path(), &dest)
            .map_err(|e| StoreError::io(format!("publish blob {}", staged.digest), e))?;
        staged.file.keep();
        Ok(())
    }

    pub fn path(&self, d: &Digest) -> PathBuf {
        self.dir.join(d.hex())
    }

    pub fn exists(&self, d: &Digest) -> bool {
        self.path(d).exists()
    }

    pub fn open(&self, d: &Digest) -> Result<File, StoreError> {
        File::open(self.path(d)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobNotFound(d.clone()),
            _ => StoreError::io(format!("open blob {d}"), e),
        })
    }

    pub fn read(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let mut buf = Vec::new();
        self.open(d)?
            .read_to_end(&mut buf)
            .map_err(|e| StoreError::io(format!("read blob {d}"), e))?;
        Ok(buf)
    }

    pub fn size(&self, d: &Digest) -> Result<u64, StoreError> {
        fs::metadata(self.path(d))
            .map(|m| m.len())
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => StoreError::BlobNotFound(d.clone()),
                _ => StoreError::io(format!("stat blob {d}"), e),
            })
    }

    pub(crate) fn remove(&self, d: &Digest) -> Result<(), StoreError> {
        match fs::remove_file(self.path(d)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(format!("remove blob {d}"), e)),
        }
    }

    /// Every blob digest on disk, for garbage collection.
    pub(crate) fn list(&self) -> Result<Vec<Digest>, StoreError> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).map_err(|e| StoreError::io("list blobs", e))? {
            let e = e.map_err(|e| StoreError::io("list blobs", e))?;
            if let Ok(d) = Digest::from_hex(&e.file_name().to_string_lossy()) {
                out.push(d);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("blobs")).unwrap();
        fs::create_dir_all(t.path().join("tmp")).unwrap();
        let c = ContentStore::new(t.path().join("blobs"), t.path().join("tmp"));
        (t, c)
    }

    #[test]
    fn staged_blob_is_invisible_until_published() {
        let (t, c) = store();
        let staged = c.stage(&b"hello"[..]).unwrap();
        let d = staged.digest().clone();
        assert!(!c.exists(&d));
        c.publish(staged).unwrap();
        assert_eq!(c.read(&d).unwrap(), b"hello");
        assert_eq!(fs::read_dir(t.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn dropped_staged_blob_leaves_nothing() {
        let (t, c) = store();
        drop(c.stage(&b"bye"[..]).unwrap());
        assert_eq!(fs::read_dir(t.path().join("tmp")).unwrap().count(), 0);
        assert_eq!(fs::read_dir(t.path().join("blobs")).unwrap().count(), 0);
    }

    #[test]
    fn verified_staging_rejects_wrong_content() {
        let (t, c) = store();
        let err = c
            .stage_verified(&b"tampered"[..], &Digest::of(b"original"))
            .unwrap_err();
        assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
        assert_eq!(fs::read_dir(t.path().join("tmp")).unwrap().count(), 0);
    }
}
