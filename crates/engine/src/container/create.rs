//! `create`: a container recorded with its directories, and `rename`.

use berth_store::ContainerRecord;
use rand::Rng;

use super::*;
use crate::events::ContainerAction;
use crate::{Engine, EngineError};

/// docker-style names: an adjective and a scientist-ish noun.
fn random_name() -> String {
    const ADJ: [&str; 16] = [
        "brave", "calm", "eager", "fond", "gentle", "happy", "jolly", "keen", "lucid", "merry",
        "nifty", "proud", "quirky", "sharp", "tender", "witty",
    ];
    const NOUN: [&str; 16] = [
        "babbage", "curie", "darwin", "euler", "fermi", "galois", "hopper", "kepler", "lovelace",
        "noether", "pascal", "ritchie", "shannon", "tesla", "turing", "wozniak",
    ];
    let mut r = rand::thread_rng();
    format!(
        "{}_{}{}",
        ADJ[r.gen_range(0..16)],
        NOUN[r.gen_range(0..16)],
        r.gen_range(0..100)
    )
}

pub(crate) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl Engine {
    /// `create`: records the container and prepares its directories.
    pub fn create_container(
        &mut self,
        name: Option<&str>,
        opts: ContainerOptions,
    ) -> Result<String, EngineError> {
        let image = self.resolve_image(&opts.image)?;
        let mut opts = opts;
        let network = self.container_network_for(&mut opts)?;
        let policy: berth_runtime::restart::RestartPolicy = opts.restart.parse()?;
        if opts.auto_remove && policy != berth_runtime::restart::RestartPolicy::No {
            return Err(EngineError::Invalid(
                "Conflicting options: --restart and --rm".into(),
            ));
        }
        let name = match name {
            Some(n) if !valid_name(n.trim_start_matches('/')) => {
                return Err(EngineError::Invalid(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )))
            }
            Some(n) => n.trim_start_matches('/').to_string(),
            None => random_name(),
        };
        let id: String = {
            let mut r = rand::thread_rng();
            (0..32).map(|_| format!("{:02x}", r.gen::<u8>())).collect()
        };
        let dir = self.container_dir(&id);
        for sub in ["upper", "work", "rootfs"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| EngineError::io(format!("create {}", dir.display()), e))?;
        }
        let record = ContainerRecord {
            id: id.clone(),
            name,
            image_id: image,
            config: serde_json::to_string(&opts).expect("options serialize"),
            status: ContainerStatus::Created,
            created_at: now_rfc3339(),
            started_at: None,
            finished_at: None,
            pid: None,
            monitor_pid: None,
            exit_code: None,
            restart_count: 0,
        };
        if let Err(e) = self.store.insert_container(&record) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e.into());
        }
        if let Some(network) = network {
            if let Err(e) = self.connect_endpoint(&id, &network, &opts.endpoint, 0) {
                let _ = self.store.delete_container(&id);
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        }
        self.emit(container_event(&record, &opts, ContainerAction::Create));
        Ok(id)
    }
}

impl Engine {
    /// `rename OLD NEW`.
    pub fn rename_container(&mut self, s: &str, new_name: &str) -> Result<(), EngineError> {
        let name = new_name.trim_start_matches('/');
        if !valid_name(name) {
            return Err(EngineError::Invalid(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let mut info = self.container(s)?;
        if info.record.name == name {
            return Err(EngineError::Invalid(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        self.store.rename_container(&info.record.id, name)?;
        let old_name = std::mem::replace(&mut info.record.name, name.to_string());
        self.emit(info.event(ContainerAction::Rename { old_name }));
        Ok(())
    }
}
