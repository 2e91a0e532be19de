//! Volumes end to end: the volume commands, data that outlives containers,
//! image VOLUMEs with copy-up, --volumes-from, and what a kill leaves.

mod common;

use common::*;
use std::fs;

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn volume_commands_answer_as_dockers() {
    let root = Root::new();
    assert_eq!(root.ok(&["volume", "create", "data"]), "data\n");
    assert_eq!(
        root.ok(&["volume", "create", "data"]),
        "data\n",
        "again: the same"
    );
    let random = root.ok(&["volume", "create"]).trim().to_string();
    assert_eq!(random.len(), 64);
    root.ok(&[
        "volume",
        "create",
        "--label",
        "tier=db",
        "--label",
        "keep",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m,uid=1000",
        "shm",
    ]);

    let v: serde_json::Value =
        serde_json::from_str(&root.ok(&["volume", "inspect", "data", "shm"])).unwrap();
    assert_eq!(v[0]["Name"], "data");
    assert_eq!(v[0]["Driver"], "local");
    assert_eq!(v[0]["Scope"], "local");
    assert_eq!(v[0]["Labels"], serde_json::Value::Null);
    let mountpoint = root.path().join("volumes/data/_data");
    assert_eq!(v[0]["Mountpoint"], mountpoint.to_str().unwrap());
    assert!(mountpoint.is_dir());
    assert_eq!(v[1]["Options"]["o"], "size=1m,uid=1000");
    assert_eq!(v[1]["Labels"]["keep"], "");
    assert_eq!(
        root.ok(&[
            "volume",
            "inspect",
            "-f",
            "{{.Labels.tier}} {{.Options.type}}",
            "shm"
        ]),
        "db tmpfs\n"
    );

    let table = root.ok(&["volume", "ls"]);
    let mut names = ["data".to_string(), random.clone(), "shm".into()];
    names.sort();
    let mut want = vec!["DRIVER    VOLUME NAME".to_string()];
    want.extend(names.iter().map(|n| format!("local     {n}")));
    assert_eq!(lines(&table), want, "by name");
    assert_eq!(
        root.ok(&["volume", "ls", "-q", "--filter", "label=tier=db"]),
        "shm\n"
    );
    assert_eq!(root.ok(&["volume", "ls", "-q", "-f", "name=^da"]), "data\n");
    assert_eq!(
        root.ok(&[
            "volume",
            "ls",
            "-q",
            "-f",
            "dangling=true",
            "-f",
            "driver=local"
        ])
        .lines()
        .count(),
        3
    );
    assert_eq!(
        root.ok(&[
            "volume",
            "ls",
            "--format",
            "{{.Name}}|{{.Labels}}|{{.Scope}}",
            "-f",
            "name=shm"
        ]),
        "shm|keep=,tier=db|local\n"
    );
    let json: serde_json::Value = serde_json::from_str(
        root.ok(&["volume", "ls", "--format", "json", "-f", "name=data"])
            .trim(),
    )
    .unwrap();
    assert_eq!(json["Mountpoint"], mountpoint.to_str().unwrap());
    assert_eq!(json["Links"], "N/A");

    // Bad input: a clear error, exit 1 (125 for a malformed flag), nothing made.
    for (args, wanted) in [
        (vec!["volume", "create", "a b"], "\"a b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"),
        (vec!["volume", "create", "x"], "volume name is too short"),
        (vec!["volume", "create", "-d", "nfs3", "v1"], "plugin \"nfs3\" not found"),
        (vec!["volume", "create", "-o", "colour=red", "v2"], "create v2: invalid option: \"colour\""),
        (vec!["volume", "create", "-o", "type=tmpfs", "v3"], "missing required option: \"device\""),
        (vec!["volume", "create", "-o", "type=none", "-o", "o=bind", "-o", "device=rel", "v4"], "absolute host path"),
        (vec!["volume", "ls", "-f", "colour=red"], "invalid filter 'colour'"),
        (vec!["volume", "inspect", "nosuch"], "get nosuch: no such volume"),
        (vec!["volume", "rm", "nosuch"], "get nosuch: no such volume"),
    ] {
        let out = root.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr_text(&out).contains(wanted), "{args:?}: {}", stderr_text(&out));
    }
    assert_eq!(
        root.run(&["volume", "create", "-o", "novalue", "v5"])
            .status
            .code(),
        Some(125)
    );
    assert_eq!(root.ok(&["volume", "ls", "-q"]).lines().count(), 3);
    assert!(root.entries("tmp").is_empty());

    // rm -f: a missing volume is no error; each name is printed as removed.
    assert_eq!(
        root.ok(&["volume", "rm", "-f", "nosuch", "data"]),
        "nosuch\ndata\n"
    );
    assert!(!root.path().join("volumes/data").exists());

    fs::write(
        root.path().join("volumes").join(&random).join("_data/f"),
        b"12345",
    )
    .unwrap();
    let df = root.ok(&["system", "df"]);
    let row = df.lines().find(|l| l.starts_with("Local Volumes")).unwrap();
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        ["Local", "Volumes", "2", "0", "5B", "5B", "(100%)"]
    );
    let verbose = root.ok(&["system", "df", "-v"]);
    let section = verbose
        .split("Local Volumes space usage:\n\n")
        .nth(1)
        .unwrap();
    assert_eq!(
        lines(section)[..3]
            .iter()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .collect::<Vec<_>>(),
        [
            vec!["VOLUME", "NAME", "LINKS", "SIZE"],
            vec![random.as_str(), "0", "5B"],
            vec!["shm", "0", "0B"],
        ],
        "{verbose}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&root.ok(&["system", "df", "-v", "--format", "json"])).unwrap();
    assert_eq!(json["Volumes"][0]["Size"], "5B");
    // Without -a only anonymous volumes go: these were named.
    assert_eq!(
        root.ok(&["volume", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    assert_eq!(
        root.ok(&["volume", "prune", "-f", "-a", "--filter", "label=tier"]),
        "Deleted Volumes:\nshm\n\nTotal reclaimed space: 0B\n"
    );
    assert_eq!(
        root.ok(&["volume", "prune", "-af"]),
        format!("Deleted Volumes:\n{random}\n\nTotal reclaimed space: 5B\n")
    );
    assert!(root.entries("volumes").is_empty());
    assert!(root.entries("tmp").is_empty());
}

#[test]
fn a_killed_create_leaves_nothing_a_later_command_trips_on() {
    let root = Root::new();
    root.ok(&["volume", "ls"]);
    // What a create killed between renaming its directory into place and
    // committing its record leaves: a directory no record names, and a
    // staging directory named after a process that is gone.
    fs::create_dir_all(root.path().join("volumes/half/_data")).unwrap();
    fs::write(root.path().join("volumes/half/_data/junk"), b"x").unwrap();
    fs::create_dir_all(root.path().join("volumes/stray/_data")).unwrap();
    fs::create_dir_all(root.path().join("tmp/2147483646-00-volume/_data")).unwrap();
    assert_eq!(root.ok(&["volume", "ls", "-q"]), "", "no record, no volume");
    root.ok(&["volume", "create", "half"]);
    assert!(root.entries("volumes/half/_data").is_empty());
    assert!(
        root.entries("tmp").is_empty(),
        "the dead process's staging is swept"
    );
    root.ok(&["volume", "prune", "-f"]);
    assert_eq!(
        root.entries("volumes"),
        ["half"],
        "the stray directory is swept"
    );
}

#[test]
fn a_build_volume_makes_its_directory() {
    let root = Root::new();
    if !container_ready(&root) {
        return;
    }
    let dir = root.scratch.path().join("ctx");
    fs::create_dir(&dir).unwrap();
    fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nVOLUME /data /srv/\"cache\"\nRUN echo x > /data/f && ls -ld /srv/cache | cut -c1-10\nVOLUME /data\n",
    )
    .unwrap();
    let out = root.ok(&["build", "-t", "vol:1", dir.to_str().unwrap()]);
    assert!(out.contains("drwxr-xr-x"), "{out}");
    let config = &root.inspect("vol:1")["Config"];
    assert_eq!(
        config["Volumes"],
        serde_json::json!({"/data": {}, "/srv/cache": {}})
    );
    // The last VOLUME finds its directory there: no layer.
    let history = root.ok(&["history", "--format", "{{.Size}} {{.CreatedBy}}", "vol:1"]);
    assert!(
        history.lines().next().unwrap().starts_with("0B"),
        "{history}"
    );
}
