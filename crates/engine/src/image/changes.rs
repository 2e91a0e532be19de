//! Dockerfile instructions applied to an image's container config
//! (`import -c`, later `commit -c`), with docker's rules: which
//! instructions are allowed, how shell forms become commands, how
//! variables expand against the config's own environment.

use berth_dockerfile::{expand, expand_words, Command, Healthcheck, Instruction};
use serde_json::{json, Map, Value};

use crate::EngineError;

const ESCAPE: char = '\\';

fn invalid(change: &str, why: impl std::fmt::Display) -> EngineError {
    EngineError::InvalidChange(format!("invalid change {change:?}: {why}"))
}

fn env_lookup(config: &Map<String, Value>, name: &str) -> Option<String> {
    config
        .get("Env")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .rev()
        .find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| v.to_string())
        })
}

fn shell_of(config: &Map<String, Value>) -> Vec<Value> {
    match config.get("Shell").and_then(Value::as_array) {
        Some(s) if !s.is_empty() => s.clone(),
        _ => vec![json!("/bin/sh"), json!("-c")],
    }
}

fn command_value(config: &Map<String, Value>, c: &Command) -> Value {
    match c {
        Command::Exec(args) => json!(args),
        Command::Shell(text) => {
            let mut v = shell_of(config);
            v.push(json!(text));
            Value::Array(v)
        }
    }
}

/// Applies each change, in order, to `config` (the `config` object of an
/// image config, in docker's field names).
pub(crate) fn apply_changes(
    config: &mut Map<String, Value>,
    changes: &[String],
) -> Result<(), EngineError> {
    let mut cmd_set = false;
    for change in changes {
        let instruction =
            berth_dockerfile::parse_instruction(change).map_err(|e| invalid(change, e))?;
        apply(config, change, &instruction, &mut cmd_set)?;
    }
    Ok(())
}

pub(crate) fn apply(
    config: &mut Map<String, Value>,
    change: &str,
    ins: &Instruction,
    cmd_set: &mut bool,
) -> Result<(), EngineError> {
    let snapshot = config.clone();
    let lookup = move |name: &str| env_lookup(&snapshot, name);
    let ex = |word: &str| expand(word, ESCAPE, &lookup).map_err(|e| invalid(change, e));
    match ins {
        Instruction::Cmd(c) => {
            config.insert("Cmd".into(), command_value(config, c));
            *cmd_set = true;
        }
        Instruction::Entrypoint(c) => {
            config.insert("Entrypoint".into(), command_value(config, c));
            // docker: a new ENTRYPOINT drops an inherited CMD.
            if !*cmd_set {
                config.insert("Cmd".into(), Value::Null);
            }
        }
        Instruction::Env(kvs) => {
            let mut env: Vec<String> = config
                .get("Env")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            for kv in &kvs.pairs {
                let key = ex(&kv.key)?;
                let value = ex(&kv.value)?;
                let entry = format!("{key}={value}");
                match env
                    .iter_mut()
                    .find(|e| e.split_once('=').map(|(k, _)| k) == Some(key.as_str()))
                {
                    Some(existing) => *existing = entry,
                    None => env.push(entry),
                }
            }
            config.insert("Env".into(), json!(env));
        }
        Instruction::Workdir(dir) => {
            let dir = ex(dir)?;
            let current = config
                .get("WorkingDir")
                .and_then(Value::as_str)
                .unwrap_or("/")
                .to_string();
            let joined = if dir.starts_with('/') {
                dir
            } else {
                format!("{}/{dir}", current.trim_end_matches('/'))
            };
            config.insert("WorkingDir".into(), json!(clean_path(&joined)));
        }
        Instruction::User(u) => {
            config.insert("User".into(), json!(ex(u)?));
        }
        Instruction::Expose(ports) => {
            let mut map = config
                .get("ExposedPorts")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for p in ports {
                for word in expand_words(p, ESCAPE, &lookup).map_err(|e| invalid(change, e))? {
                    for port in expand_port(&word).map_err(|e| invalid(change, e))? {
                        map.insert(port, json!({}));
                    }
                }
            }
            config.insert("ExposedPorts".into(), Value::Object(map));
        }
        Instruction::Label(kvs) => {
            let mut map = config
                .get("Labels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for kv in &kvs.pairs {
                map.insert(ex(&kv.key)?, json!(ex(&kv.value)?));
            }
            config.insert("Labels".into(), Value::Object(map));
        }
        Instruction::Volume(vols) => {
            let mut map = config
                .get("Volumes")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for v in vols {
                let v = ex(v)?;
                if v.is_empty() {
                    return Err(invalid(
                        change,
                        "VOLUME specified can not be an empty string",
                    ));
                }
                map.insert(v, json!({}));
            }
            config.insert("Volumes".into(), Value::Object(map));
        }
        Instruction::StopSignal(s) => {
            let signal = ex(s)?;
            // docker refuses a name its signal table lacks.
            if berth_runtime::signal::parse_signal(&signal).is_err() {
                return Err(invalid(change, format!("Invalid signal: {signal}")));
            }
            config.insert("StopSignal".into(), json!(signal));
        }
        Instruction::Onbuild(o) => {
            let mut list = config
                .get("OnBuild")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            list.push(json!(o.expression));
            config.insert("OnBuild".into(), Value::Array(list));
        }
        Instruction::Healthcheck(h) => {
            let v = match h {
                Healthcheck::Disable => json!({ "Test": ["NONE"] }),
                Healthcheck::Check(c) => {
                    let test = match &c.command {
                        Command::Exec(args) => std::iter::once("CMD".to_string())
                            .chain(args.iter().cloned())
                            .collect::<Vec<_>>(),
                        Command::Shell(text) => vec!["CMD-SHELL".to_string(), text.clone()],
                    };
                    let mut m = Map::new();
                    m.insert("Test".into(), json!(test));
                    let nanos = |d: &std::time::Duration| json!(d.as_nanos() as u64);
                    for (k, d) in [
                        ("Interval", &c.interval),
                        ("Timeout", &c.timeout),
                        ("StartPeriod", &c.start_period),
                        ("StartInterval", &c.start_interval),
                    ] {
                        if let Some(d) = d {
                            m.insert(k.into(), nanos(d));
                        }
                    }
                    if let Some(r) = c.retries {
                        m.insert("Retries".into(), json!(r));
                    }
                    Value::Object(m)
                }
            };
            config.insert("Healthcheck".into(), v);
        }
        other => {
            return Err(invalid(
                change,
                format!("{} is not a valid change command", other.name()),
            ))
        }
    }
    Ok(())
}

/// `80` → `80/tcp`; `8000-8002/udp` → each port of the range.
fn expand_port(word: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = word.split_once('/').unwrap_or((word, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let parse = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("invalid containerPort: {s}"))
    };
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(ports)?, parse(ports)?),
    };
    if end < start {
        return Err(format!("invalid port range: {ports}"));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// Lexical path cleaning (Go's path.Clean) for absolute paths.
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(changes: &[&str]) -> Map<String, Value> {
        let mut c = Map::new();
        apply_changes(
            &mut c,
            &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        c
    }

    #[test]
    fn shell_and_exec_forms() {
        let c = applied(&["CMD echo hi", "ENTRYPOINT [\"/init\"]"]);
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(c["Entrypoint"], json!(["/init"]));
        let c = applied(&["ENTRYPOINT [\"/init\"]"]);
        assert_eq!(c["Cmd"], Value::Null);
    }

    #[test]
    fn env_expands_and_replaces() {
        let c = applied(&[
            "ENV PATH=/bin",
            "ENV PATH=/usr/bin:$PATH HOME=/root",
            "WORKDIR $HOME",
            "WORKDIR sub/../x",
        ]);
        assert_eq!(c["Env"], json!(["PATH=/usr/bin:/bin", "HOME=/root"]));
        assert_eq!(c["WorkingDir"], json!("/root/x"));
    }

    #[test]
    fn ports_labels_volumes_and_healthcheck() {
        let c = applied(&[
            "EXPOSE 80 8000-8001/udp",
            "LABEL a=b \"c d\"=e",
            "VOLUME [\"/v1\", \"/v2\"]",
            "HEALTHCHECK --interval=5s CMD true",
        ]);
        assert_eq!(
            c["ExposedPorts"],
            json!({"80/tcp": {}, "8000/udp": {}, "8001/udp": {}})
        );
        assert_eq!(c["Labels"], json!({"a": "b", "c d": "e"}));
        assert_eq!(c["Volumes"], json!({"/v1": {}, "/v2": {}}));
        assert_eq!(
            c["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000u64})
        );
    }

    #[test]
    fn refuses_build_only_instructions() {
        let mut c = Map::new();
        let err = apply_changes(&mut c, &["RUN echo".to_string()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("RUN is not a valid change command"), "{err}");
        let err = apply_changes(&mut c, &["EXPOSE 99999".to_string()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid containerPort"), "{err}");
    }
}
