//! What a container runs: its command line and environment, from its image
//! and its options.

use serde_json::Value;

use super::ContainerInfo;
use crate::image::config::ImageConfig;
use crate::EngineError;

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// docker's rule for what runs: `--entrypoint` replaces the image's (and
/// drops its CMD), arguments after the image replace CMD.
pub(crate) fn command_line(
    info: &ContainerInfo,
    image: &ImageConfig,
) -> Result<Vec<String>, EngineError> {
    let cfg = image.container_config();
    let (entrypoint, default_cmd) = match &info.options.entrypoint {
        Some(e) if e.is_empty() => (Vec::new(), Vec::new()),
        Some(e) => (vec![e.clone()], Vec::new()),
        None => (
            strings(cfg.and_then(|c| c.get("Entrypoint"))),
            strings(cfg.and_then(|c| c.get("Cmd"))),
        ),
    };
    let cmd = if info.options.cmd.is_empty() {
        default_cmd
    } else {
        info.options.cmd.clone()
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(EngineError::Invalid("no command specified".into()));
    }
    Ok(args)
}

/// Image env, then `-e` (a later `KEY=` wins; a bare `KEY` takes this
/// process's value, as docker does).
pub(crate) fn environment(info: &ContainerInfo, image: &ImageConfig) -> Vec<String> {
    let mut env: Vec<String> = strings(image.container_config().and_then(|c| c.get("Env")));
    for e in &info.options.env {
        let entry = match e.split_once('=') {
            Some(_) => e.clone(),
            None => match std::env::var(e) {
                Ok(v) => format!("{e}={v}"),
                Err(_) => continue,
            },
        };
        let key = entry.split('=').next().unwrap_or_default().to_string();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(entry);
    }
    env
}
