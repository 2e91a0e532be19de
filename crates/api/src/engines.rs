//! Engine handles for request handlers.
//!
//! The engine is synchronous (SQLite, blocking file and process I/O), so
//! every engine call runs on tokio's blocking threads. An `Engine` holds
//! one SQLite connection, which is not shared between threads; opening one
//! per request costs a schema check and the connection's setup, so idle
//! handles are kept in a small pool and handed to the next call.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_engine::{Engine, EngineError};

use crate::error::ApiError;

/// How many idle handles are kept; more may be open while busy.
const IDLE_HANDLES: usize = 4;

pub struct Engines {
    root: PathBuf,
    idle: Mutex<Vec<Engine>>,
}

impl Engines {
    /// Opens the store once (creating it if missing, so a bad root fails
    /// at startup) and keeps that handle.
    pub fn open(root: &Path) -> Result<Arc<Engines>, ApiError> {
        let engine = Engine::open(root)?;
        Ok(Arc::new(Engines {
            root: root.to_path_buf(),
            idle: Mutex::new(vec![engine]),
        }))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Waits for a container monitor this server started, so it does
    /// not stay a zombie of the server once it exits (the CLI's monitors
    /// go to init when the CLI exits; the server lives on). Only that pid
    /// is waited for: the engine's own children are its to wait for.
    pub fn reap(&self, monitor_pid: u32) {
        let Some(pid) = rustix::process::Pid::from_raw(monitor_pid as i32) else {
            return;
        };
        std::thread::spawn(move || {
            let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
        });
    }

    fn take(&self) -> Result<Engine, EngineError> {
        let pooled = self.idle.lock().expect("engine pool lock").pop();
        match pooled {
            Some(e) => Ok(e),
            None => Engine::open(&self.root),
        }
    }

    fn put(&self, engine: Engine) {
        let mut idle = self.idle.lock().expect("engine pool lock");
        if idle.len() < IDLE_HANDLES {
            idle.push(engine);
        }
    }

    /// Runs `f` with an engine handle on a blocking thread.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Engine) -> Result<T, ApiError> + Send + 'static,
    {
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut engine = pool.take()?;
            let result = f(&mut engine);
            pool.put(engine);
            result
        })
        .await
        .map_err(|e| ApiError::Internal(format!("engine call failed: {e}")))?
    }

    /// Runs `f` on a blocking thread with a handle of its own, not taken
    /// from the pool: for calls that last as long as a stream does.
    pub fn spawn_owned<F>(self: &Arc<Self>, f: F)
    where
        F: FnOnce(Result<Engine, EngineError>) + Send + 'static,
    {
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(pool.take()));
    }
}
