//! Container life-cycle without root: the engine over berth-runtime's
//! fake runtime, a tempdir store, and a sleeping child standing in for
//! each container's monitor.

use std::collections::HashMap;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};

use berth_runtime::fake::FakeRuntime;
use berth_store::{Digest, ImageCommit, Store};

use super::*;
use crate::events::ContainerAction;
use crate::{Engine, EngineError, ErrorKind};

/// Stand-in monitors by container ID.
type Monitors = Arc<Mutex<HashMap<String, Child>>>;

struct Fixture {
    _root: tempfile::TempDir,
    engine: Engine,
    runtime: FakeRuntime,
    monitors: Monitors,
}

impl Fixture {
    fn new() -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let runtime = FakeRuntime::new();
        let mut engine = Engine::with_runtime(root.path(), Arc::new(runtime.clone())).unwrap();
        // An image without layers is enough: nothing is mounted.
        let config = br#"{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let manifest =
            crate::image::manifest::manifest_json(&Digest::of(config), config.len() as u64, &[]);
        let commit = ImageCommit {
            config: engine.store.stage_bytes(config).unwrap(),
            manifest: engine.store.stage_bytes(&manifest).unwrap(),
            manifest_media_type: crate::image::manifest::OCI_MANIFEST.into(),
            created: None,
            layers: Vec::new(),
            tags: vec!["docker.io/library/bb:latest".into()],
            repo_digests: Vec::new(),
        };
        engine.store.commit_images(vec![commit]).unwrap();
        let monitors = Monitors::default();
        // The monitor's part when its container ends: it records the exit
        // in the store (through a handle of its own) and goes away.
        let (store_root, gone) = (root.path().to_path_buf(), Arc::clone(&monitors));
        runtime.on_end(move |id, code| {
            if let Some(mut monitor) = gone.lock().unwrap().remove(id) {
                let _ = monitor.kill();
                let _ = monitor.wait();
            }
            let mut store = Store::open(&store_root).unwrap();
            let mut r = store.container(id).unwrap().unwrap();
            r.status = ContainerStatus::Exited;
            r.exit_code = Some(code);
            r.finished_at = Some(now_rfc3339());
            (r.pid, r.monitor_pid) = (None, None);
            store.update_container(&r).unwrap();
        });
        Fixture {
            _root: root,
            engine,
            runtime,
            monitors,
        }
    }

    fn create(&mut self, name: &str) -> String {
        let opts = ContainerOptions {
            image: "bb".into(),
            network: "none".into(),
            ..ContainerOptions::default()
        };
        self.engine.create_container(Some(name), opts).unwrap()
    }

    /// What a monitor does when it started the container.
    fn simulate_start(&mut self, id: &str) {
        let pid = self.runtime.simulate_running(id);
        let monitor = Command::new("sleep").arg("600").spawn().unwrap();
        let mut r = self.engine.store.container(id).unwrap().unwrap();
        r.status = ContainerStatus::Running;
        r.pid = Some(pid);
        r.monitor_pid = Some(monitor.id());
        r.started_at = Some(now_rfc3339());
        self.engine.store.update_container(&r).unwrap();
        self.monitors.lock().unwrap().insert(id.into(), monitor);
        let info = self.engine.container(id).unwrap();
        self.engine.emit(info.event(ContainerAction::Start));
    }

    /// The monitor is SIGKILLed: nothing records how the container ends.
    fn kill_monitor(&mut self, id: &str) {
        let mut monitor = self.monitors.lock().unwrap().remove(id).unwrap();
        monitor.kill().unwrap();
        monitor.wait().unwrap();
    }

    fn status(&mut self, id: &str) -> ContainerStatus {
        self.engine.container(id).unwrap().record.status
    }

    /// The journal's container events, `action` or `action:key=value`
    /// for the attribute that matters (a signal, an exit code).
    fn events(&self) -> Vec<String> {
        let all = self.engine.store.events_after(0, 0, 1000).unwrap();
        all.iter()
            .filter(|e| e.kind == "container")
            .map(|e| {
                let attrs: HashMap<String, String> = serde_json::from_str(&e.attributes).unwrap();
                match ["signal", "exitCode"]
                    .iter()
                    .find_map(|k| attrs.get(*k).map(|v| (k, v)))
                {
                    Some((k, v)) => format!("{}:{k}={v}", e.action),
                    None => e.action.clone(),
                }
            })
            .collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for (_, mut monitor) in self.monitors.lock().unwrap().drain() {
            let _ = monitor.kill();
            let _ = monitor.wait();
        }
    }
}

fn conflict<T>(result: Result<T, EngineError>) -> String {
    let Err(e) = result else {
        panic!("no conflict")
    };
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    e.to_string()
}

#[test]
fn create_start_pause_unpause_stop_rm_record_and_journal_each_step() {
    let mut f = Fixture::new();
    let id = f.create("web");
    assert_eq!(f.status(&id), ContainerStatus::Created);
    assert!(f.engine.container_dir(&id).join("rootfs").is_dir());
    f.simulate_start(&id);
    f.engine.pause_container("web").unwrap();
    assert_eq!(f.status(&id), ContainerStatus::Paused);
    assert_eq!(f.runtime.status(&id), Some("paused"));
    f.engine.unpause_container("web").unwrap();
    assert_eq!(f.status(&id), ContainerStatus::Running);
    f.runtime.clear_calls();
    f.engine
        .stop_container("web", Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let r = f.engine.container("web").unwrap().record;
    assert_eq!(
        (r.status, r.exit_code),
        (ContainerStatus::Exited, Some(143))
    );
    assert_eq!(f.runtime.calls(), [format!("kill {id} 15")]);
    f.engine.remove_container("web", false, false).unwrap();
    assert!(f.engine.store.container(&id).unwrap().is_none());
    assert!(!f.engine.container_dir(&id).exists());
    assert_eq!(
        f.events(),
        [
            "create",
            "start",
            "pause",
            "unpause",
            "kill:signal=15",
            "stop",
            "destroy"
        ]
    );
}

#[test]
fn stopping_a_paused_container_thaws_it_first() {
    let mut f = Fixture::new();
    let id = f.create("frozen");
    f.simulate_start(&id);
    f.engine.pause_container(&id).unwrap();
    f.runtime.clear_calls();
    f.engine
        .stop_container(&id, Some(std::time::Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        f.runtime.calls(),
        [format!("resume {id}"), format!("kill {id} 15")]
    );
    assert_eq!(f.status(&id), ContainerStatus::Exited);
}

#[test]
fn state_conflicts_are_dockers() {
    let mut f = Fixture::new();
    let id = f.create("busy");
    let e = f.engine.kill_container(&id, 9).unwrap_err();
    assert!(e.to_string().contains("is not running"), "{e}");
    assert!(f.engine.pause_container(&id).is_err());
    f.simulate_start(&id);
    assert!(conflict(f.engine.unpause_container(&id)).contains("is not paused"));
    let running_rm = conflict(f.engine.remove_container("busy", false, false));
    assert!(
        running_rm.contains("cannot remove container \"/busy\": container is running"),
        "{running_rm}"
    );
    f.engine.pause_container(&id).unwrap();
    assert!(conflict(f.engine.pause_container(&id)).contains("is already paused"));
    let start = f
        .engine
        .start_container(&id, f._root.path(), StartOptions::default());
    assert_eq!(
        conflict(start),
        "cannot start a paused container, try unpause instead"
    );
    // Nothing of that changed the container.
    assert_eq!(f.status(&id), ContainerStatus::Paused);
    assert!(f.engine.store.container(&id).unwrap().is_some());
}

#[test]
fn force_removal_kills_a_running_container() {
    let mut f = Fixture::new();
    let id = f.create("doomed");
    f.simulate_start(&id);
    f.runtime.clear_calls();
    f.engine.remove_container(&id, true, false).unwrap();
    assert_eq!(
        f.runtime.calls(),
        [format!("kill --all {id} 9"), format!("delete --force {id}")]
    );
    assert!(f.engine.store.container(&id).unwrap().is_none());
    assert_eq!(f.runtime.status(&id), None);
    assert_eq!(f.events(), ["create", "start", "kill:signal=9", "destroy"]);
}

#[test]
fn kill_signals_the_container_and_journals_the_signal() {
    let mut f = Fixture::new();
    let id = f.create("k");
    f.simulate_start(&id);
    f.runtime.set_exit_code(&id, 2);
    f.engine.kill_container("k", 10).unwrap();
    let r = f.engine.container("k").unwrap().record;
    assert_eq!((r.status, r.exit_code), (ContainerStatus::Exited, Some(2)));
    assert_eq!(f.events(), ["create", "start", "kill:signal=10"]);
}

#[test]
fn a_killed_monitor_is_reconciled_by_the_next_command() {
    let mut f = Fixture::new();
    let id = f.create("orphan");
    f.simulate_start(&id);
    // The monitor was SIGKILLed and the machine rebooted: the record still
    // says running, but neither the monitor nor the container exists.
    f.kill_monitor(&id);
    f.runtime.vanish(&id);
    f.runtime.clear_calls();
    let r = f.engine.container("orphan").unwrap().record;
    assert_eq!(r.status, ContainerStatus::Exited);
    assert_eq!((r.exit_code, r.monitor_pid), (Some(255), None));
    assert!(r.finished_at.is_some());
    assert_eq!(
        f.runtime.calls(),
        [format!("state {id}"), format!("delete --force {id}")]
    );
    assert_eq!(f.events(), ["create", "start", "die:exitCode=255"]);
    // Recorded once: the next command has nothing to reconcile, and the
    // container can be removed without force.
    f.runtime.clear_calls();
    assert_eq!(f.status(&id), ContainerStatus::Exited);
    assert!(f.runtime.calls().is_empty());
    f.engine.remove_container(&id, false, false).unwrap();
}

#[test]
fn a_container_that_outlived_its_monitor_stays_running_and_unchecked() {
    let mut f = Fixture::new();
    let id = f.create("survivor");
    f.simulate_start(&id);
    let dir = f.engine.container_dir(&id);
    let mut health = HealthState::starting(None);
    health.record(probe(0), false, 3);
    health::write_health(&dir, &health).unwrap();
    f.kill_monitor(&id);
    assert_eq!(f.status(&id), ContainerStatus::Running);
    // Nobody checks its health any more: it no longer claims healthy.
    let health = health::read_health(&dir).unwrap();
    assert_eq!(health.status, HealthStatus::Unhealthy);
    assert_eq!(health.log.len(), 2);
    // `rm -f` still gets rid of it.
    f.engine.remove_container(&id, true, false).unwrap();
    assert_eq!(f.runtime.status(&id), None);
}

fn probe(exit_code: i64) -> HealthResult {
    HealthResult {
        start: now_rfc3339(),
        end: now_rfc3339(),
        exit_code,
        output: String::new(),
    }
}

#[test]
fn health_goes_starting_healthy_then_unhealthy_after_retries_failures() {
    let mut h = HealthState::starting(None);
    assert_eq!(h.status, HealthStatus::Starting);
    h.record(probe(0), false, 3);
    assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 0));
    for streak in 1..3 {
        h.record(probe(1), false, 3);
        assert_eq!(
            (h.status, h.failing_streak),
            (HealthStatus::Healthy, streak)
        );
    }
    h.record(probe(1), false, 3);
    assert_eq!((h.status, h.failing_streak), (HealthStatus::Unhealthy, 3));
    // One pass is enough to be healthy again.
    h.record(probe(0), false, 3);
    assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 0));
    assert_eq!(h.log.len(), 5);
}

#[test]
fn failures_within_the_start_period_do_not_count_until_a_pass() {
    let mut h = HealthState::starting(None);
    for _ in 0..5 {
        h.record(probe(1), true, 1);
    }
    assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
    h.record(probe(1), false, 2);
    assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 1));
    h.record(probe(1), false, 2);
    assert_eq!(h.status, HealthStatus::Unhealthy);
    // Once healthy, a failure in the start period counts (as in moby).
    let mut h = HealthState::starting(Some(h));
    h.record(probe(0), true, 1);
    h.record(probe(1), true, 1);
    assert_eq!(h.status, HealthStatus::Unhealthy);
    // A restart starts over but keeps the earlier results.
    assert_eq!(HealthState::starting(Some(h)).log.len(), 5);
}

#[test]
fn the_health_log_keeps_the_last_five_results() {
    let mut h = HealthState::starting(None);
    for code in 0..7 {
        h.record(probe(code), false, 3);
    }
    let codes: Vec<i64> = h.log.iter().map(|r| r.exit_code).collect();
    assert_eq!(codes, [2, 3, 4, 5, 6]);
}
