//! Kernel settings under /proc/sys, behind a seam so the setup logic is
//! tested without root.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::NetworkError;

pub trait Sysctl {
    /// The value of a key such as `net/ipv4/ip_forward`, trimmed.
    fn get(&self, key: &str) -> Option<String>;
    fn set(&mut self, key: &str, value: &str) -> Result<(), NetworkError>;

    /// Sets a key unless it already has the value: a read is far cheaper
    /// than a write, which the kernel may act on.
    fn ensure(&mut self, key: &str, value: &str) -> Result<(), NetworkError> {
        if self.get(key).as_deref() == Some(value) {
            return Ok(());
        }
        self.set(key, value)
    }
}

/// The real one: files under /proc/sys of the caller's namespace.
#[derive(Debug, Default)]
pub struct ProcSys;

fn path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key)
}

impl Sysctl for ProcSys {
    fn get(&self, key: &str) -> Option<String> {
        std::fs::read_to_string(path(key))
            .ok()
            .map(|s| s.trim().to_string())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), NetworkError> {
        let p = path(key);
        std::fs::write(&p, value).map_err(|source| NetworkError::Io {
            action: "write",
            path: p,
            source,
        })
    }
}

/// An in-memory one.
#[derive(Debug, Default)]
pub struct FakeSysctl {
    pub values: BTreeMap<String, String>,
    pub writes: usize,
}

impl Sysctl for FakeSysctl {
    fn get(&self, key: &str) -> Option<String> {
        self.values.get(key).cloned()
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), NetworkError> {
        self.writes += 1;
        self.values.insert(key.to_string(), value.to_string());
        Ok(())
    }
}
