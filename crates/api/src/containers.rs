//! `/containers/...`: list, inspect, the lifecycle, logs, top, changes,
//! export, rename, delete.

use std::ops::ControlFlow;
use std::time::Duration;

use berth_engine::{
    parse_signal, ContainerFilter, ContainerListOptions, ContainerSummary, LogStream, LogsOptions,
    StartOptions,
};
use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::http::{self, Response};
use crate::stream::{frame, StdStream};
use crate::Ctx;

/// `GET /containers/json`: `all`, `limit`, `size`, `filters`.
pub async fn list(ctx: &Ctx) -> Result<Response, ApiError> {
    let opts = ContainerListOptions {
        all: ctx.query.bool("all"),
        // docker's CLI sends -1 for "no limit".
        limit: ctx
            .query
            .int("limit")?
            .filter(|n| *n > 0)
            .map(|n| n as usize),
        size: ctx.query.bool("size"),
        filter: ContainerFilter::new(&ctx.query.filters()?)?,
    };
    let listed = ctx
        .engines
        .run(move |engine| Ok(engine.list_containers(&opts)?))
        .await?;
    let v: Vec<Value> = listed.iter().map(summary_json).collect();
    Ok(http::ok_json(&v))
}

/// docker's `container.Summary`.
fn summary_json(c: &ContainerSummary) -> Value {
    let ports: Vec<Value> = c
        .ports
        .iter()
        .map(|p| match &p.public {
            Some((ip, port)) => json!({
                "IP": ip, "PrivatePort": p.private_port, "PublicPort": port, "Type": p.protocol.as_str(),
            }),
            None => json!({"PrivatePort": p.private_port, "Type": p.protocol.as_str()}),
        })
        .collect();
    let networks: serde_json::Map<String, Value> = c
        .networks
        .iter()
        .map(|n| (n.name.clone(), json!({"NetworkID": n.id})))
        .collect();
    let mounts: Vec<Value> = c
        .mounts
        .iter()
        .map(|m| {
            json!({
                "Type": m.kind.as_str(),
                "Name": m.name,
                "Source": m.source,
                "Destination": m.destination,
                "Driver": if m.name.is_some() { "local" } else { "" },
                "Mode": "",
                "RW": m.rw,
                "Propagation": "",
            })
        })
        .collect();
    let mut v = json!({
        "Id": c.id,
        "Names": [format!("/{}", c.name)],
        "Image": c.image,
        "ImageID": c.image_id.to_string(),
        "Command": c.command.join(" "),
        "Created": c.created.timestamp(),
        "Ports": ports,
        "Labels": c.labels,
        "State": c.state.as_str(),
        "Status": c.status,
        "HostConfig": {"NetworkMode": if c.network_mode.is_empty() { "default" } else { c.network_mode.as_str() }},
        "NetworkSettings": {"Networks": networks},
        "Mounts": mounts,
    });
    if let Some(size) = c.size {
        v["SizeRw"] = json!(size);
    }
    v
}

pub async fn inspect(ctx: &Ctx, id: String) -> Result<Response, ApiError> {
    let v = ctx
        .engines
        .run(move |engine| Ok(engine.inspect_container(&id)?))
        .await?;
    Ok(http::ok_json(&v))
}

fn no_content() -> Response {
    http::status(StatusCode::NO_CONTENT)
}

/// `t` (docker's stop timeout, seconds; `-1` waits for ever).
fn timeout(ctx: &Ctx) -> Result<Option<Duration>, ApiError> {
    Ok(match ctx.query.int("t")? {
        None => None,
        Some(t) if t < 0 => Some(Duration::from_secs(u64::MAX / 4)),
        Some(t) => Some(Duration::from_secs(t as u64)),
    })
}

fn signal(ctx: &Ctx) -> Result<Option<i32>, ApiError> {
    ctx.query
        .get("signal")
        .filter(|s| !s.is_empty())
        .map(|s| parse_signal(s).map_err(ApiError::from))
        .transpose()
}

pub async fn start(ctx: &Ctx, id: String) -> Result<Response, ApiError> {
    let root = ctx.engines.root().to_path_buf();
    let monitor = ctx
        .engines
        .run(move |engine| {
            engine.start_container(&id, &root, StartOptions::default())?;
            Ok(engine.container(&id)?.record.monitor_pid)
        })
        .await?;
    if let Some(pid) = monitor {
        ctx.engines.reap(pid);
    }
    Ok(no_content())
}

pub async fn stop(ctx: &Ctx, id: String) -> Result<Response, ApiError> {
    let t = timeout(ctx)?;
    ctx.engines
        .run(move |engine| Ok(engine.stop_container(&id, t)?))
        .await?;
    Ok(no_content())
}

pub async fn restart(ctx: &Ctx, id: String) -> Result<Response, ApiError> {
    let (t, sig) = (timeout(ctx)?, signal(ctx)?);
    let root = ctx.engines.root().to_path_buf();
    let monitor = ctx
        .engines
        .run(move |engine| {
            engine.restart_container(&id, t, sig, &root)?;
            Ok(engine.container(&id)?.record.monitor_pid)
        })
        .await?;
    if let Some(pid) = monitor {
        ctx.engines.reap(pid);
    }
    Ok(no_content())
}

pub async fn kill(ctx: &Ctx, id: String) -> Result<Response, ApiError> {
    let sig = signal(ctx)?.unwrap_or(9);
    ctx.engines
        .run(move |engine| Ok(engine.kill_container(&id, sig)?))
        .await?;
    Ok(no_content())
}

pub async fn pause(ctx: &Ctx, id: String, pause: bool) -> Result<Response, ApiError> {
    ctx.engines
        .run(move |engine| {
            Ok(if pause {
                engine.pause_container(&id)?
            } else {
                engine.unpause_container(&id)?
            })
        })
        .await?;
    Ok(no_content())
}

/// `POST /containers/{id}/wait`: the exit code once it is not running.
pub async fn wait(ctx: &Ctx, id: String) -> Result<Response, ApiError> {
    match ctx.query.get("condition").unwrap_or("not-running") {
        "" | "not-running" => {}
        other => {
            return Err(ApiError::NotImplemented(format!(
                "wait condition {other:?} is not supported yet; use not-running"
            )))
        }
    }
    let code = ctx
        .engines
        .run(move |engine| Ok(engine.wait_container(&id, None)?))
        .await?;
    Ok(http::ok_json(
        &json!({ "StatusCode": code.unwrap_or(0), "Error": Value::Null }),
    ))
}

pub async fn delete(ctx: &Ctx, id: String) -> Result<Response, ApiError> {
    let force = ctx.query.bool("force");
    // `v`: its anonymous volumes go too (docker's `rm -v`).
    let volumes = ctx.query.bool("v");
    ctx.engines
        .run(move |engine| Ok(engine.remove_container(&id, force, volumes)?))
        .await?;
    Ok(no_content())
}

pub async fn rename(ctx: &Ctx, id: String) -> Result<Response, ApiError> {
    let name = ctx
        .query
        .get("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("query parameter name is required"))?
        .to_string();
    ctx.engines
        .run(move |engine| Ok(engine.rename_container(&id, &name)?))
        .await?;
    Ok(no_content())
}

/// `GET /containers/{id}/top`: docker's `ps -ef` columns.
pub async fn top(ctx: &Ctx, id: String) -> Result<Response, ApiError> {
    let pids = ctx
        .engines
        .run(move |engine| Ok(engine.container_pids(&id)?))
        .await?;
    let processes: Vec<Value> = pids
        .iter()
        .map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmdline)
                .split('\0')
                .filter(|a| !a.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            json!([pid.to_string(), cmd])
        })
        .collect();
    Ok(http::ok_json(
        &json!({ "Titles": ["PID", "CMD"], "Processes": processes }),
    ))
}

/// `GET /containers/{id}/changes`: Kind 0 modified, 1 added, 2 deleted.
pub async fn changes(ctx: &Ctx, id: String) -> Result<Response, ApiError> {
    let changes = ctx
        .engines
        .run(move |engine| Ok(engine.container_diff(&id)?))
        .await?;
    let v: Vec<Value> = changes
        .iter()
        .map(|c| {
            let kind = match c.kind.letter() {
                'C' => 0,
                'A' => 1,
                _ => 2,
            };
            json!({ "Path": c.path, "Kind": kind })
        })
        .collect();
    Ok(http::ok_json(&v))
}

/// A writer into a streamed body, for engine calls that write.
struct BodyWriter(http::BodySender);

impl std::io::Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `GET /containers/{id}/export`: the flattened filesystem as a tar.
pub async fn export(ctx: &Ctx, id: String) -> Result<Response, ApiError> {
    // Found first, so a missing container is a 404 rather than a cut
    // stream.
    let check = id.clone();
    ctx.engines
        .run(move |engine| Ok(engine.container(&check).map(|_| ())?))
        .await?;
    let (tx, response) = http::streamed("application/x-tar");
    ctx.engines.spawn_owned(move |engine| {
        if let Ok(mut engine) = engine {
            if let Err(e) = engine.export_container(&id, BodyWriter(tx)) {
                tracing::info!("export {id}: {e}");
            }
        }
    });
    Ok(response)
}

/// `GET /containers/{id}/logs`: framed unless the container has a TTY.
pub async fn logs(ctx: &Ctx, id: String) -> Result<Response, ApiError> {
    let q = &ctx.query;
    let (stdout, stderr) = (q.bool("stdout"), q.bool("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let time = |k: &str| {
        q.get(k)
            .filter(|v| !v.is_empty() && *v != "0")
            .map(str::to_string)
    };
    let opts = LogsOptions {
        tail: match q.get("tail").unwrap_or("all") {
            "all" | "" => None,
            n => Some(n.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid value for query parameter tail: {n:?}"))
            })?),
        },
        since: time("since"),
        until: time("until"),
        timestamps: q.bool("timestamps"),
        follow: q.bool("follow"),
    };
    let check = id.clone();
    let tty = ctx
        .engines
        .run(move |engine| Ok(engine.container(&check)?.options.tty))
        .await?;
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let (tx, response) = http::streamed(content_type);
    ctx.engines.spawn_owned(move |engine| {
        let Ok(mut engine) = engine else { return };
        let mut emit = |stream: LogStream, data: &[u8]| {
            let (wanted, which) = match stream {
                LogStream::Stdout => (stdout, StdStream::Stdout),
                LogStream::Stderr => (stderr, StdStream::Stderr),
            };
            if !wanted {
                return ControlFlow::Continue(());
            }
            let bytes = if tty {
                Bytes::copy_from_slice(data)
            } else {
                frame(which, data)
            };
            match tx.blocking_send(bytes) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }
        };
        if let Err(e) = engine.container_logs(&id, &opts, &mut emit) {
            tracing::info!("logs {id}: {e}");
        }
    });
    Ok(response)
}
