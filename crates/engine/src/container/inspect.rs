//! `inspect CONTAINER` in docker's shape.

use super::*;
use crate::{Engine, EngineError};

impl Engine {
    /// What the container runs (or ran): its image's entrypoint and command
    /// with the container's overrides, as `ps` shows it.
    pub fn container_command(&self, info: &ContainerInfo) -> Vec<String> {
        self.store
            .content()
            .read(&info.record.image_id)
            .ok()
            .and_then(|raw| crate::image::config::ImageConfig::parse(&raw).ok())
            .and_then(|image| crate::container::command_line(info, &image).ok())
            .unwrap_or_default()
    }

    /// `inspect CONTAINER`: docker's JSON shape for the fields berth has.
    pub fn inspect_container(&mut self, s: &str) -> Result<serde_json::Value, EngineError> {
        use serde_json::json;
        let info = self.container(s)?;
        let r = &info.record;
        let o = &info.options;
        let image =
            crate::image::config::ImageConfig::parse(&self.store.content().read(&r.image_id)?)?;
        let args = crate::container::command_line(&info, &image).unwrap_or_default();
        let dir = self.container_dir(&r.id);
        let layers_dir = self.store.layers_dir();
        let mut lower: Vec<String> = self
            .store
            .overlay_lower_links(&r.image_id)?
            .iter()
            .map(|l| layers_dir.join(l).display().to_string())
            .collect();
        lower.reverse();
        let running = matches!(r.status, ContainerStatus::Running | ContainerStatus::Paused);
        let mounts: Vec<serde_json::Value> = o
            .mounts
            .iter()
            .map(|m| match m {
                MountOption::Bind { source, target, readonly } => json!({
                    "Type": "bind", "Source": source, "Destination": target, "Mode": if *readonly { "ro" } else { "" },
                    "RW": !readonly, "Propagation": "rprivate",
                }),
                MountOption::Tmpfs { target, .. } => json!({
                    "Type": "tmpfs", "Source": "", "Destination": target, "Mode": "", "RW": true, "Propagation": "",
                }),
            })
            .collect();
        let binds: Vec<String> = o
            .mounts
            .iter()
            .filter_map(|m| match m {
                MountOption::Bind {
                    source,
                    target,
                    readonly,
                } => Some(format!(
                    "{}:{target}{}",
                    source.display(),
                    if *readonly { ":ro" } else { "" }
                )),
                MountOption::Tmpfs { .. } => None,
            })
            .collect();
        let cfg = image.container_config();
        let entrypoint = match &o.entrypoint {
            Some(e) if e.is_empty() => serde_json::Value::Null,
            Some(e) => json!([e]),
            None => cfg
                .and_then(|c| c.get("Entrypoint"))
                .cloned()
                .unwrap_or(serde_json::Value::Null),
        };
        let cmd = if o.cmd.is_empty() {
            if o.entrypoint.is_some() {
                serde_json::Value::Null
            } else {
                cfg.and_then(|c| c.get("Cmd"))
                    .cloned()
                    .unwrap_or(serde_json::Value::Null)
            }
        } else {
            json!(o.cmd)
        };
        let zero = "0001-01-01T00:00:00Z";
        let mut inspected = json!({
            "Id": r.id,
            "Created": r.created_at,
            "Path": args.first().cloned().unwrap_or_default(),
            "Args": args.get(1..).unwrap_or_default(),
            "State": {
                "Status": r.status,
                "Running": running,
                "Paused": r.status == ContainerStatus::Paused,
                "Restarting": r.status == ContainerStatus::Restarting,
                "OOMKilled": false,
                "Dead": false,
                "Pid": if running { r.pid.unwrap_or(0) } else { 0 },
                "ExitCode": r.exit_code.unwrap_or(0),
                "Error": "",
                "StartedAt": r.started_at.clone().unwrap_or_else(|| zero.into()),
                "FinishedAt": r.finished_at.clone().unwrap_or_else(|| zero.into()),
            },
            "Image": r.image_id.to_string(),
            "ResolvConfPath": dir.join("resolv.conf"),
            "HostnamePath": dir.join("hostname"),
            "HostsPath": dir.join("hosts"),
            "LogPath": dir.join(crate::container::LOG_FILE),
            "Name": format!("/{}", r.name),
            "RestartCount": r.restart_count,
            "ExecIDs": match self.exec_ids(&r.id) {
                ids if ids.is_empty() => serde_json::Value::Null,
                ids => json!(ids),
            },
            "Driver": "overlay",
            "Platform": "linux",
            "HostConfig": {
                "Binds": if binds.is_empty() { serde_json::Value::Null } else { json!(binds) },
                "NetworkMode": o.network,
                "AutoRemove": o.auto_remove,
                "Privileged": o.privileged,
                "ReadonlyRootfs": o.read_only,
                "CapAdd": if o.cap_add.is_empty() { serde_json::Value::Null } else { json!(o.cap_add) },
                "CapDrop": if o.cap_drop.is_empty() { serde_json::Value::Null } else { json!(o.cap_drop) },
                "SecurityOpt": if o.security_opt.is_empty() { serde_json::Value::Null } else { json!(o.security_opt) },
                "Memory": o.memory.unwrap_or(0),
                "MemorySwap": o.memory_swap.unwrap_or(0),
                "NanoCpus": o.nano_cpus.unwrap_or(0),
                "CpuShares": o.cpu_shares.unwrap_or(0),
                "PidsLimit": o.pids_limit,
                "Runtime": if o.runtime.is_empty() { "runc" } else { o.runtime.as_str() },
                "RestartPolicy": { "Name": if o.restart.is_empty() { "no" } else { o.restart.split(':').next().unwrap_or("no") }, "MaximumRetryCount": o.restart.split_once(':').and_then(|(_, n)| n.parse::<u64>().ok()).unwrap_or(0) },
            },
            "GraphDriver": {
                "Data": {
                    "LowerDir": lower.join(":"),
                    "MergedDir": dir.join("rootfs"),
                    "UpperDir": dir.join("upper"),
                    "WorkDir": dir.join("work"),
                },
                "Name": "overlay",
            },
            "Mounts": mounts,
            "Config": {
                "Hostname": o.hostname.clone().unwrap_or_else(|| r.id[..12].to_string()),
                "Domainname": "",
                "User": o.user.clone().or_else(|| cfg.and_then(|c| c.get("User")).and_then(|u| u.as_str()).map(str::to_string)).unwrap_or_default(),
                "AttachStdin": o.interactive,
                "AttachStdout": true,
                "AttachStderr": true,
                "Tty": o.tty,
                "OpenStdin": o.interactive,
                "StdinOnce": o.interactive,
                "Env": crate::container::environment(&info, &image),
                "Cmd": cmd,
                "Image": o.image,
                "Volumes": serde_json::Value::Null,
                "WorkingDir": o.workdir.clone().or_else(|| cfg.and_then(|c| c.get("WorkingDir")).and_then(|w| w.as_str()).map(str::to_string)).unwrap_or_default(),
                "Entrypoint": entrypoint,
                "OnBuild": serde_json::Value::Null,
                "Labels": o.labels,
            },
        });
        inspected["NetworkSettings"] = self.network_settings_json(&info)?;
        let (bindings, exposed) = self.port_config_json(&info)?;
        inspected["HostConfig"]["PortBindings"] = bindings;
        inspected["HostConfig"]["PublishAllPorts"] = json!(o.net.publish_all);
        inspected["HostConfig"]["Dns"] = json!(o.net.dns.servers);
        inspected["HostConfig"]["DnsSearch"] = json!(o.net.dns.search);
        inspected["HostConfig"]["DnsOptions"] = json!(o.net.dns.options);
        inspected["HostConfig"]["ExtraHosts"] = if o.net.extra_hosts.is_empty() {
            serde_json::Value::Null
        } else {
            json!(o
                .net
                .extra_hosts
                .iter()
                .map(|h| format!(
                    "{}:{}",
                    h.name,
                    match h.address {
                        berth_network::files::HostAddress::Ip(ip) => ip.to_string(),
                        berth_network::files::HostAddress::HostGateway => "host-gateway".into(),
                    }
                ))
                .collect::<Vec<_>>())
        };
        inspected["Config"]["ExposedPorts"] = exposed;
        inspected["Config"]["Domainname"] = json!(o.net.domainname);
        self.inspect_health(&mut inspected, &info, &image);
        Ok(inspected)
    }
}
