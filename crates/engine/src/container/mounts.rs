//! `-v`, `--mount` and `--tmpfs` as asked for on the command line.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use super::parse_size;
use crate::EngineError;

/// A mount asked for on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountOption {
    Bind {
        source: PathBuf,
        target: String,
        readonly: bool,
    },
    Tmpfs {
        target: String,
        size: Option<u64>,
        mode: Option<u32>,
        options: Vec<String>,
    },
}

fn mount_error(spec: &str, why: &str) -> EngineError {
    EngineError::Invalid(format!("invalid mount {spec:?}: {why}"))
}

fn absolute_target(spec: &str, target: &str) -> Result<String, EngineError> {
    if !target.starts_with('/') {
        return Err(mount_error(spec, "the container path must be absolute"));
    }
    if target == "/" {
        return Err(mount_error(spec, "the container path cannot be '/'"));
    }
    Ok(target.to_string())
}

impl MountOption {
    /// `-v /host:/ctr[:ro|rw]`. docker creates a missing host directory
    /// for `-v`; named volumes come with the volumes issue.
    pub fn parse_volume(spec: &str) -> Result<MountOption, EngineError> {
        let parts: Vec<&str> = spec.split(':').collect();
        let (source, target, mode) = match parts.as_slice() {
            [s, t] => (*s, *t, ""),
            [s, t, m] => (*s, *t, *m),
            _ => {
                return Err(mount_error(
                    spec,
                    "expected /host/path:/container/path[:ro]",
                ))
            }
        };
        if !source.starts_with('/') {
            return Err(mount_error(
                spec,
                "named volumes are not supported yet: give an absolute host path",
            ));
        }
        let readonly = match mode {
            "" | "rw" => false,
            "ro" => true,
            other => return Err(mount_error(spec, &format!("unknown mode {other:?}"))),
        };
        let target = absolute_target(spec, target)?;
        std::fs::create_dir_all(source)
            .map_err(|e| EngineError::io(format!("create bind source {source}"), e))?;
        Ok(MountOption::Bind {
            source: PathBuf::from(source),
            target,
            readonly,
        })
    }

    /// `--tmpfs /ctr[:opt,opt]`.
    pub fn parse_tmpfs(spec: &str) -> Result<MountOption, EngineError> {
        let (target, opts) = spec.split_once(':').unwrap_or((spec, ""));
        let target = absolute_target(spec, target)?;
        let options = opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect();
        Ok(MountOption::Tmpfs {
            target,
            size: None,
            mode: None,
            options,
        })
    }

    /// `--mount type=bind|tmpfs,source=...,target=...,readonly,tmpfs-size=...,tmpfs-mode=...`.
    pub fn parse_mount(spec: &str) -> Result<MountOption, EngineError> {
        let mut kind = "volume";
        let (mut source, mut target, mut readonly, mut size, mut mode) =
            (None, None, false, None, None);
        for field in spec.split(',') {
            let (k, v) = field.split_once('=').unwrap_or((field, ""));
            match k {
                "type" => kind = v,
                "source" | "src" => source = Some(v.to_string()),
                "target" | "destination" | "dst" => target = Some(v.to_string()),
                "readonly" | "ro" => readonly = !matches!(v, "false" | "0"),
                "tmpfs-size" => {
                    size = Some(parse_size("tmpfs-size", v)?.max(0) as u64);
                }
                "tmpfs-mode" => {
                    mode = Some(
                        u32::from_str_radix(v, 8)
                            .map_err(|_| mount_error(spec, "tmpfs-mode must be octal"))?,
                    );
                }
                "bind-propagation" | "consistency" => {}
                other => return Err(mount_error(spec, &format!("unexpected key '{other}'"))),
            }
        }
        let target = absolute_target(
            spec,
            &target.ok_or_else(|| mount_error(spec, "target is required"))?,
        )?;
        match kind {
            "bind" => {
                let source = source.ok_or_else(|| mount_error(spec, "source is required"))?;
                if !Path::new(&source).exists() {
                    return Err(mount_error(
                        spec,
                        &format!("bind source path does not exist: {source}"),
                    ));
                }
                Ok(MountOption::Bind {
                    source: PathBuf::from(source),
                    target,
                    readonly,
                })
            }
            "tmpfs" => Ok(MountOption::Tmpfs {
                target,
                size,
                mode,
                options: Vec::new(),
            }),
            other => Err(mount_error(
                spec,
                &format!("mount type {other:?} is not supported yet"),
            )),
        }
    }
}
