use super::*;
use crate::{Compression, Digest, ImageCommit, LayerInput};

fn image(store: &mut Store) -> Digest {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(1);
    h.set_mtime(0);
    b.append_data(&mut h, "f", &b"x"[..]).unwrap();
    let layer = b.into_inner().unwrap();
    let staged = store.stage_layer(&layer[..]).unwrap();
    let commit = ImageCommit {
        config: store.stage_bytes(b"{\"volumes\":1}").unwrap(),
        manifest: store.stage_bytes(b"manifest").unwrap(),
        manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        created: Some(1),
        layers: vec![LayerInput {
            diff_id: staged.diff_id().clone(),
            blob_digest: staged.blob_digest().clone(),
            blob_media_type: Compression::None.oci_layer_media_type().into(),
            blob_size: staged.blob_size(),
            staged: Some(staged),
        }],
        tags: vec!["img".into()],
        repo_digests: Vec::new(),
    };
    store.commit_images(vec![commit]).unwrap().remove(0).id
}

fn container(id: &str, image: &Digest) -> ContainerRecord {
    ContainerRecord {
        id: id.into(),
        name: format!("name-{id}"),
        image_id: image.clone(),
        config: "{}".into(),
        status: crate::ContainerStatus::Created,
        created_at: "2024-01-01T00:00:00Z".into(),
        started_at: None,
        finished_at: None,
        pid: None,
        monitor_pid: None,
        exit_code: None,
        restart_count: 0,
    }
}

fn named(name: &str) -> NewVolume {
    NewVolume {
        name: name.into(),
        driver: "local".into(),
        options: BTreeMap::new(),
        labels: BTreeMap::new(),
        anonymous: false,
    }
}

fn anonymous(name: &str) -> NewVolume {
    NewVolume {
        anonymous: true,
        ..named(name)
    }
}

fn uses(v: NewVolume, destination: &str) -> VolumeUse {
    VolumeUse {
        volume: v,
        destination: destination.into(),
    }
}

fn no_mounts(path: &Path) -> Result<(), StoreError> {
    panic!(
        "nothing is mounted in these tests, yet {} was unmounted",
        path.display()
    )
}

fn names(store: &Store) -> Vec<String> {
    store
        .list_volumes()
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect()
}

fn tmp_is_empty(t: &tempfile::TempDir) -> bool {
    fs::read_dir(t.path().join("tmp")).unwrap().next().is_none()
}

#[test]
fn a_volume_is_a_directory_with_a_record_made_once() {
    let t = tempfile::tempdir().unwrap();
    let mut store = Store::open(t.path()).unwrap();
    let mut v = named("data");
    v.labels.insert("a".into(), "b".into());
    v.options.insert("type".into(), "tmpfs".into());
    let (rec, created) = store.create_volume(&v).unwrap();
    assert!(created);
    assert_eq!(rec.labels["a"], "b");
    assert_eq!(rec.options["type"], "tmpfs");
    assert!(rec.containers.is_empty() && !rec.anonymous && !rec.mounted);
    let data = store.volume_data_dir("data");
    assert!(data.is_dir());
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&data), 0o755);
    assert_eq!(mode(data.parent().unwrap()), 0o701);
    assert_eq!(mode(&store.volumes_dir()), 0o701);
    fs::write(data.join("kept"), b"1").unwrap();

    // Again: the existing volume, untouched, labels as they were.
    let (again, created) = store.create_volume(&named("data")).unwrap();
    assert!(!created);
    assert_eq!(again.labels["a"], "b");
    assert!(data.join("kept").exists());
    assert_eq!(names(&store), ["data"]);
    assert!(tmp_is_empty(&t), "the unused staging directory is gone");
}

#[test]
fn a_volume_in_use_is_not_removed_and_the_users_are_named() {
    let t = tempfile::tempdir().unwrap();
    let mut store = Store::open(t.path()).unwrap();
    let img = image(&mut store);
    store
        .insert_container_with_volumes(&container("c1", &img), &[uses(named("db"), "/data")])
        .unwrap();
    store
        .insert_container_with_volumes(&container("c2", &img), &[uses(named("db"), "/x")])
        .unwrap();
    let v = store
        .volume("db")
        .unwrap()
        .expect("created with the container");
    assert_eq!(v.containers, ["c1", "c2"]);
    let err = store.remove_volume("db", no_mounts).unwrap_err();
    assert_eq!(err.to_string(), "remove db: volume is in use - [c1, c2]");
    assert_eq!(
        store
            .remove_unused_volumes(&["db".into()], no_mounts)
            .unwrap(),
        Vec::<String>::new()
    );

    store
        .delete_container_with_volumes("c1", true, no_mounts)
        .unwrap();
    store
        .delete_container_with_volumes("c2", true, no_mounts)
        .unwrap();
    assert_eq!(
        names(&store),
        ["db"],
        "a named volume outlives its containers"
    );
    store.remove_volume("db", no_mounts).unwrap();
    assert!(names(&store).is_empty());
    assert!(!store.volumes_dir().join("db").exists());
    assert!(tmp_is_empty(&t));
    assert_eq!(
        store
            .remove_volume("db", no_mounts)
            .unwrap_err()
            .to_string(),
        "get db: no such volume"
    );
}

#[test]
fn anonymous_volumes_go_with_their_last_container_when_asked() {
    let t = tempfile::tempdir().unwrap();
    let mut store = Store::open(t.path()).unwrap();
    let img = image(&mut store);
    store
        .insert_container_with_volumes(
            &container("c1", &img),
            &[uses(anonymous("anon1"), "/a"), uses(named("named"), "/n")],
        )
        .unwrap();
    // --volumes-from: c2 uses c1's anonymous volume too.
    store
        .insert_container_with_volumes(&container("c2", &img), &[uses(anonymous("anon1"), "/a")])
        .unwrap();
    store
        .insert_container_with_volumes(&container("c3", &img), &[uses(anonymous("anon3"), "/a")])
        .unwrap();
    assert_eq!(store.container_volumes("c1").unwrap().len(), 2);
    assert!(store
        .delete_container_with_volumes("c1", true, no_mounts)
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .delete_container_with_volumes("c2", true, no_mounts)
            .unwrap(),
        ["anon1"]
    );
    assert!(store
        .delete_container_with_volumes("c3", false, no_mounts)
        .unwrap()
        .is_empty());
    assert_eq!(names(&store), ["anon3", "named"]);
    assert!(store.container_volumes("c1").unwrap().is_empty());
}

#[test]
fn leftovers_of_a_killed_create_are_replaced_and_swept() {
    let t = tempfile::tempdir().unwrap();
    let mut store = Store::open(t.path()).unwrap();
    // A directory renamed into place by a create killed before its commit.
    for name in ["again", "stray"] {
        fs::create_dir_all(store.volume_data_dir(name)).unwrap();
        fs::write(store.volume_data_dir(name).join("junk"), b"x").unwrap();
    }
    let (_, created) = store.create_volume(&named("again")).unwrap();
    assert!(created);
    assert!(dir_is_empty(&store.volume_data_dir("again")).unwrap());
    store.create_volume(&named("kept")).unwrap();
    assert!(store
        .remove_unused_volumes(&[], no_mounts)
        .unwrap()
        .is_empty());
    assert!(!store.volumes_dir().join("stray").exists(), "swept");
    assert_eq!(names(&store), ["again", "kept"]);
    assert!(tmp_is_empty(&t));
}

#[test]
fn driver_mounts_are_counted_by_running_containers() {
    let t = tempfile::tempdir().unwrap();
    let mut store = Store::open(t.path()).unwrap();
    let img = image(&mut store);
    let mut shm = named("shm");
    shm.options.insert("type".into(), "tmpfs".into());
    shm.options.insert("device".into(), "tmpfs".into());
    for id in ["c1", "c2"] {
        store
            .insert_container_with_volumes(
                &container(id, &img),
                &[uses(shm.clone(), "/s"), uses(named("plain"), "/p")],
            )
            .unwrap();
    }
    let mounts = std::cell::Cell::new(0);
    let mount = |v: &VolumeRecord, data: &Path| -> Result<(), StoreError> {
        assert_eq!(v.name, "shm", "a volume without options is never mounted");
        assert!(data.ends_with("volumes/shm/_data"));
        mounts.set(mounts.get() + 1);
        Ok(())
    };
    store.activate_volumes("c1", mount).unwrap();
    let v = store.volume("shm").unwrap().unwrap();
    assert!(v.mounted);
    assert_eq!(v.active, ["c1"]);
    // Nothing is really mounted here, so the store cannot see the mount:
    // the second activation finds it gone and mounts again (as after a
    // reboot). Only the calls are counted.
    store.activate_volumes("c2", mount).unwrap();
    assert_eq!(mounts.get(), 2);
    assert_eq!(store.volume("shm").unwrap().unwrap().active, ["c1", "c2"]);
    assert_eq!(store.volume("plain").unwrap().unwrap().active, ["c1", "c2"]);

    let unmounts = std::cell::Cell::new(0);
    let unmount = |v: &VolumeRecord, _: &Path| -> Result<(), StoreError> {
        assert_eq!(v.name, "shm");
        unmounts.set(unmounts.get() + 1);
        Ok(())
    };
    store.deactivate_volumes("c1", unmount).unwrap();
    assert_eq!(unmounts.get(), 0, "c2 still runs with it");
    store.deactivate_volumes("c2", unmount).unwrap();
    assert_eq!(unmounts.get(), 1);
    store.deactivate_volumes("c2", unmount).unwrap();
    assert_eq!(unmounts.get(), 1, "released once");
    let v = store.volume("shm").unwrap().unwrap();
    assert!(!v.mounted && v.active.is_empty());
    assert_eq!(v.containers, ["c1", "c2"]);
}

#[test]
fn staged_content_fills_only_an_empty_volume() {
    let t = tempfile::tempdir().unwrap();
    let mut store = Store::open(t.path()).unwrap();
    store.create_volume(&named("v")).unwrap();
    let first = store.stage_volume_content().unwrap();
    fs::write(first.path().join("one"), b"1").unwrap();
    let second = store.stage_volume_content().unwrap();
    fs::write(second.path().join("two"), b"2").unwrap();
    assert!(store.fill_volume("v", first.path()).unwrap());
    assert!(!store.fill_volume("v", second.path()).unwrap());
    assert!(!store.fill_volume("missing", second.path()).unwrap());
    drop((first, second));
    let data = store.volume_data_dir("v");
    assert_eq!(fs::read(data.join("one")).unwrap(), b"1");
    assert!(!data.join("two").exists());
    assert!(tmp_is_empty(&t));
}

#[test]
fn remove_and_a_create_using_the_volume_never_both_win() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().to_path_buf();
    let img = image(&mut Store::open(&root).unwrap());
    for round in 0..20 {
        let name = format!("v{round}");
        Store::open(&root)
            .unwrap()
            .create_volume(&named(&name))
            .unwrap();
        let (r1, r2) = (root.clone(), root.clone());
        let (n1, n2) = (name.clone(), name.clone());
        let id = format!("c{round}");
        let img = img.clone();
        let remover =
            std::thread::spawn(move || Store::open(&r1).unwrap().remove_volume(&n1, no_mounts));
        let creator = std::thread::spawn(move || {
            Store::open(&r2)
                .unwrap()
                .insert_container_with_volumes(&container(&id, &img), &[uses(named(&n2), "/d")])
        });
        let removed = remover.join().unwrap();
        creator.join().unwrap().unwrap();
        let store = Store::open(&root).unwrap();
        // Either the remove came first and the container's create made the
        // volume again, or the remove saw the container: the container
        // always has its volume, with its directory.
        let v = store
            .volume(&name)
            .unwrap()
            .expect("the container's volume exists");
        assert_eq!(v.containers, [format!("c{round}")]);
        assert!(store.volume_data_dir(&name).is_dir());
        if let Err(e) = removed {
            assert!(matches!(e, StoreError::VolumeInUse { .. }), "{e}");
        }
    }
}
