use std::cell::RefCell;
use std::path::{Path, PathBuf};

use berth_runtime::fsmount::FsMount;
use berth_store::{ContainerRecord, VolumeUse};

use super::*;

/// The record of an anonymous volume made for a container.
fn anonymous_volume(name: String) -> NewVolume {
    NewVolume {
        name,
        driver: LOCAL_DRIVER.into(),
        options: BTreeMap::new(),
        labels: BTreeMap::from([(ANONYMOUS_LABEL.to_string(), String::new())]),
        anonymous: true,
    }
}

/// The record of a named volume a container's `-v NAME:/path` makes when
/// it does not exist.
fn named_volume(name: &str) -> Result<NewVolume, EngineError> {
    validate_name(name)?;
    Ok(NewVolume {
        name: name.to_string(),
        driver: LOCAL_DRIVER.into(),
        options: BTreeMap::new(),
        labels: BTreeMap::new(),
        anonymous: false,
    })
}

use crate::{ErrorKind, ImportOptions};

fn engine() -> (tempfile::TempDir, Engine) {
    let t = tempfile::tempdir().unwrap();
    let e = Engine::open(t.path()).unwrap();
    (t, e)
}

fn create(e: &mut Engine, name: &str, pairs: &[(&str, &str)]) -> Result<Volume, EngineError> {
    e.create_volume(VolumeOptions {
        name: Some(name.into()),
        driver: None,
        options: BTreeMap::new(),
        labels: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })
}

fn filters(args: &[&str]) -> Filters {
    Filters::from_cli(args).unwrap()
}

fn listed(e: &Engine, args: &[&str]) -> Vec<String> {
    e.list_volumes(&filters(args))
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect()
}

/// Records a container using `uses` (volumes made as needed), as `create`
/// does.
fn container_with(e: &mut Engine, id: &str, uses: &[VolumeUse]) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(1);
    h.set_mtime(0);
    tar.append_data(&mut h, "f", &b"x"[..]).unwrap();
    let image = e
        .import(
            &tar.into_inner().unwrap()[..],
            ImportOptions {
                source: "-".into(),
                reference: None,
                changes: Vec::new(),
                message: None,
                platform: None,
            },
        )
        .unwrap();
    let rec = ContainerRecord {
        id: id.into(),
        name: id.into(),
        image_id: image,
        config: "{}".into(),
        status: berth_store::ContainerStatus::Created,
        created_at: "2024-01-01T00:00:00Z".into(),
        started_at: None,
        finished_at: None,
        pid: None,
        monitor_pid: None,
        exit_code: None,
        restart_count: 0,
    };
    e.store.insert_container_with_volumes(&rec, uses).unwrap();
}

fn at(volume: NewVolume, destination: &str) -> VolumeUse {
    VolumeUse {
        volume,
        destination: destination.into(),
    }
}

#[test]
fn create_names_validates_and_is_idempotent() {
    let (_t, mut e) = engine();
    let v = create(&mut e, "db", &[("tier", "data")]).unwrap();
    assert_eq!(v.driver, "local");
    assert!(v.mountpoint.ends_with("volumes/db/_data") && v.mountpoint.is_dir());
    let again = create(&mut e, "db", &[]).unwrap();
    assert_eq!(
        again.labels["tier"], "data",
        "an existing volume is returned as it is"
    );

    let random = e.create_volume(VolumeOptions::default()).unwrap();
    assert_eq!(random.name.len(), 64);
    assert!(!random.anonymous, "named by berth, created by the user");

    let bad = create(&mut e, "a b", &[]).unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidArgument);
    let driver = e
        .create_volume(VolumeOptions {
            name: Some("x1".into()),
            driver: Some("nope".into()),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(
        driver.to_string(),
        "create x1: error looking up volume plugin nope: plugin \"nope\" not found"
    );
    let opt = e
        .create_volume(VolumeOptions {
            name: Some("x2".into()),
            options: BTreeMap::from([("foo".into(), "bar".into())]),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(opt.to_string(), "create x2: invalid option: \"foo\"");
    assert_eq!(listed(&e, &[]).len(), 2, "nothing made for refused creates");
    assert_eq!(
        e.volume("x2").unwrap_err().to_string(),
        "get x2: no such volume"
    );
    assert_eq!(e.volume("x2").unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn inspect_is_dockers_json() {
    let (_t, mut e) = engine();
    create(&mut e, "plain", &[]).unwrap();
    e.create_volume(VolumeOptions {
        name: Some("shm".into()),
        options: BTreeMap::from([
            ("type".into(), "tmpfs".into()),
            ("device".into(), "tmpfs".into()),
            ("o".into(), "size=1m".into()),
        ]),
        labels: BTreeMap::from([("a".into(), "b".into())]),
        ..Default::default()
    })
    .unwrap();
    let plain = e.inspect_volume("plain").unwrap();
    let keys: Vec<&String> = plain.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "CreatedAt",
            "Driver",
            "Labels",
            "Mountpoint",
            "Name",
            "Options",
            "Scope"
        ]
    );
    assert_eq!(plain["Labels"], Value::Null);
    assert_eq!(plain["Options"], Value::Null);
    assert_eq!(plain["Scope"], "local");
    assert!(plain["CreatedAt"].as_str().unwrap().ends_with('Z'));
    let shm = e.inspect_volume("shm").unwrap();
    assert_eq!(shm["Options"]["o"], "size=1m");
    assert_eq!(shm["Labels"]["a"], "b");
}

#[test]
fn list_filters() {
    let (_t, mut e) = engine();
    create(&mut e, "alpha", &[("env", "prod")]).unwrap();
    create(&mut e, "beta", &[("env", "dev"), ("keep", "")]).unwrap();
    create(&mut e, "gamma", &[]).unwrap();
    container_with(&mut e, "c1", &[at(named_volume("alpha").unwrap(), "/a")]);
    assert_eq!(listed(&e, &[]), ["alpha", "beta", "gamma"]);
    assert_eq!(listed(&e, &["dangling=true"]), ["beta", "gamma"]);
    assert_eq!(listed(&e, &["dangling=false"]), ["alpha"]);
    assert_eq!(listed(&e, &["label=env"]), ["alpha", "beta"]);
    assert_eq!(listed(&e, &["label=env=dev"]), ["beta"]);
    assert_eq!(listed(&e, &["label=env", "label=keep"]), ["beta"]);
    assert_eq!(listed(&e, &["name=a$"]), ["alpha", "beta", "gamma"]);
    assert_eq!(listed(&e, &["name=^b"]), ["beta"]);
    assert_eq!(listed(&e, &["name=^b", "name=^g"]), ["beta", "gamma"]);
    assert_eq!(listed(&e, &["driver=local"]).len(), 3);
    assert!(listed(&e, &["driver=other"]).is_empty());
    assert_eq!(
        e.list_volumes(&filters(&["bogus=1"]))
            .unwrap_err()
            .to_string(),
        "invalid filter 'bogus'"
    );
}

#[test]
fn remove_refuses_volumes_in_use_and_force_ignores_missing_ones() {
    let (_t, mut e) = engine();
    container_with(&mut e, "c1", &[at(named_volume("data").unwrap(), "/d")]);
    let err = e.remove_volume("data", false).unwrap_err();
    assert_eq!(err.to_string(), "remove data: volume is in use - [c1]");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let err = e.remove_volume("data", true).unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Conflict,
        "-f does not take a used volume"
    );
    e.remove_volume("missing", true).unwrap();
    assert_eq!(
        e.remove_volume("missing", false).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    e.store
        .delete_container_with_volumes("c1", true, |_: &Path| Ok::<_, EngineError>(()))
        .unwrap();
    e.remove_volume("data", false).unwrap();
    assert!(listed(&e, &[]).is_empty());
}

#[test]
fn prune_takes_unused_anonymous_volumes_unless_all() {
    let (_t, mut e) = engine();
    create(&mut e, "named", &[]).unwrap();
    create(&mut e, "labelled", &[("keep", "yes")]).unwrap();
    container_with(
        &mut e,
        "c1",
        &[
            at(anonymous_volume("a".repeat(64)), "/a"),
            at(named_volume("used").unwrap(), "/u"),
        ],
    );
    container_with(&mut e, "c2", &[at(anonymous_volume("b".repeat(64)), "/b")]);
    e.store
        .delete_container_with_volumes("c2", false, |_: &Path| Ok::<_, EngineError>(()))
        .unwrap();
    std::fs::write(e.store.volume_data_dir(&"b".repeat(64)).join("f"), b"12345").unwrap();
    assert_eq!(
        e.volume(&"a".repeat(64)).unwrap().labels[ANONYMOUS_LABEL],
        "",
        "anonymous volumes carry docker's label"
    );

    let pruned = e.prune_volumes(false, &Filters::default()).unwrap();
    assert_eq!(pruned.volumes, ["b".repeat(64)]);
    assert_eq!(pruned.reclaimed, 5);
    let pruned = e.prune_volumes(true, &filters(&["label!=keep"])).unwrap();
    assert_eq!(pruned.volumes, ["named"]);
    let pruned = e
        .prune_volumes(false, &filters(&["all=true", "label=keep=yes"]))
        .unwrap();
    assert_eq!(pruned.volumes, ["labelled"]);
    assert_eq!(listed(&e, &[]), ["a".repeat(64), "used".to_string()]);
    assert_eq!(
        e.prune_volumes(false, &filters(&["dangling=true"]))
            .unwrap_err()
            .to_string(),
        "invalid filter 'dangling'"
    );
}

/// Records mounts instead of making them.
#[derive(Default)]
struct FakeMounter {
    calls: RefCell<Vec<String>>,
}

impl VolumeMounter for FakeMounter {
    fn mount(&self, fs: &FsMount, target: &Path) -> Result<(), EngineError> {
        self.calls.borrow_mut().push(format!(
            "mount {} {} {} on {}",
            fs.fstype,
            fs.source,
            fs.data,
            target.display()
        ));
        Ok(())
    }

    fn unmount(&self, target: &Path) -> Result<(), EngineError> {
        self.calls
            .borrow_mut()
            .push(format!("unmount {}", target.display()));
        Ok(())
    }
}

#[test]
fn volumes_with_options_are_mounted_while_used() {
    let (t, mut e) = engine();
    e.create_volume(VolumeOptions {
        name: Some("shm".into()),
        options: BTreeMap::from([
            ("type".into(), "tmpfs".into()),
            ("device".into(), "tmpfs".into()),
            ("o".into(), "size=1m,noexec".into()),
        ]),
        ..Default::default()
    })
    .unwrap();
    container_with(&mut e, "c1", &[at(named_volume("shm").unwrap(), "/s")]);
    container_with(&mut e, "c2", &[at(named_volume("plain").unwrap(), "/p")]);
    let fake = FakeMounter::default();
    e.acquire_volumes("c1", &fake).unwrap();
    e.acquire_volumes("c2", &fake).unwrap();
    e.release_volumes("c2", &fake).unwrap();
    e.release_volumes("c1", &fake).unwrap();
    let data: PathBuf = t.path().join("volumes/shm/_data");
    assert_eq!(
        *fake.calls.borrow(),
        [
            format!("mount tmpfs tmpfs size=1m on {}", data.display()),
            format!("unmount {}", data.display()),
        ]
    );
}
