//! Progress of pulls and pushes, reported to whoever drives the engine (the
//! CLI draws bars or prints docker's plain lines; the API server will stream
//! JSON messages).

use std::io::Read;

/// Receives progress; called from several download threads at once.
pub trait Progress: Sync {
    /// A line of its own, e.g. "1: Pulling from library/busybox".
    fn message(&self, text: &str);
    /// A layer's status, keyed by its short ID: "Pulling fs layer",
    /// "Already exists", "Pull complete", "Pushed" ...
    fn status(&self, id: &str, status: &str);
    /// Bytes moved so far for a layer, and its size when known.
    fn bytes(&self, id: &str, done: u64, total: Option<u64>);
}

/// Reports nothing: for `-q` and for tests.
pub struct NoProgress;

impl Progress for NoProgress {
    fn message(&self, _: &str) {}
    fn status(&self, _: &str, _: &str) {}
    fn bytes(&self, _: &str, _: u64, _: Option<u64>) {}
}

/// Counts bytes read through it and reports them, at most every 256 KiB.
pub(crate) struct CountingReader<'a, R> {
    inner: R,
    id: &'a str,
    total: Option<u64>,
    done: u64,
    reported: u64,
    progress: &'a dyn Progress,
}

impl<'a, R: Read> CountingReader<'a, R> {
    pub(crate) fn new(
        inner: R,
        id: &'a str,
        total: Option<u64>,
        progress: &'a dyn Progress,
    ) -> Self {
        CountingReader {
            inner,
            id,
            total,
            done: 0,
            reported: 0,
            progress,
        }
    }
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if n == 0 || self.done - self.reported >= 256 * 1024 {
            self.reported = self.done;
            self.progress.bytes(self.id, self.done, self.total);
        }
        Ok(n)
    }
}
