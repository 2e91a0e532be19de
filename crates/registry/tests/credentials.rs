//! Credentials in docker's config.json and through credential helpers.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use berth_registry::{CredentialStore, RegistryError};
use serde_json::{json, Value};

/// Writing an executable while another thread forks can leave the file
/// "busy" for exec; tests that write or run helpers take turns.
static HELPERS: Mutex<()> = Mutex::new(());

/// A `docker-credential-test` that keeps one file per server URL (named by
/// its hex) beside itself and logs each call to `calls`.
const HELPER: &str = r#"#!/bin/sh
dir=$(dirname "$0")
name() { printf %s "$1" | od -An -tx1 | tr -d ' \n'; }
input=$(cat)
echo "$1 $input" >> "$dir/calls"
case "$1" in
get)
    f="$dir/cred-$(name "$input")"
    if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
store)
    url=$(printf %s "$input" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
    printf %s "$input" > "$dir/cred-$(name "$url")" ;;
erase)
    f="$dir/cred-$(name "$input")"
    if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
*)
    echo "unknown action" >&2; exit 2 ;;
esac
"#;

fn write_helper(dir: &Path) {
    let path = dir.join("docker-credential-test");
    std::fs::write(&path, HELPER).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn write_config(dir: &Path, config: &Value) {
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(config).unwrap(),
    )
    .unwrap();
}

fn read_config(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap()
}

fn creds(user: &str, pass: &str) -> Option<(String, String)> {
    Some((user.to_string(), pass.to_string()))
}

#[test]
fn reads_auth_and_username_password_entries() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &json!({
            "auths": {
                "https://index.docker.io/v1/": { "auth": BASE64.encode("hubuser:hub:pass") },
                "https://reg.example:5000": { "username": "u", "password": "p" },
                "empty.example": {}
            }
        }),
    );
    let store = CredentialStore::new(dir.path());
    assert_eq!(
        store.get("docker.io").unwrap(),
        creds("hubuser", "hub:pass")
    );
    assert_eq!(store.get("reg.example:5000").unwrap(), creds("u", "p"));
    assert_eq!(store.get("empty.example").unwrap(), None);
    assert_eq!(store.get("other.example").unwrap(), None);
}

#[test]
fn missing_config_means_no_credentials_and_bad_config_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::new(dir.path());
    assert_eq!(store.get("docker.io").unwrap(), None);
    std::fs::write(dir.path().join("config.json"), "{not json").unwrap();
    let err = store.get("docker.io").unwrap_err();
    assert!(matches!(err, RegistryError::Config { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!(
            "parse {}",
            dir.path().join("config.json").display()
        )),
        "{err}"
    );
}

#[test]
fn store_and_erase_keep_every_other_key() {
    let dir = tempfile::tempdir().unwrap();
    let original = json!({
        "auths": { "other.example": { "auth": BASE64.encode("o:p") } },
        "proxies": { "default": { "httpProxy": "http://proxy.invalid:3128" } },
        "HttpHeaders": { "X-Meta": "1" },
        "currentContext": "default"
    });
    write_config(dir.path(), &original);
    let store = CredentialStore::new(dir.path());

    store.store("reg.example", "me", "pw").unwrap();
    let config = read_config(dir.path());
    assert_eq!(
        config["auths"]["reg.example"],
        json!({ "auth": BASE64.encode("me:pw") })
    );
    assert_eq!(
        config["auths"]["other.example"],
        original["auths"]["other.example"]
    );
    let keys: Vec<&String> = config.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["auths", "proxies", "HttpHeaders", "currentContext"]);
    assert_eq!(config["proxies"], original["proxies"]);
    let mode = std::fs::metadata(dir.path().join("config.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(store.get("reg.example").unwrap(), creds("me", "pw"));

    store.store("docker.io", "hub", "x").unwrap();
    assert!(read_config(dir.path())["auths"]
        .get("https://index.docker.io/v1/")
        .is_some());

    assert!(store.erase("reg.example").unwrap());
    assert!(!store.erase("reg.example").unwrap());
    assert_eq!(store.get("reg.example").unwrap(), None);
    let mut expected = original.clone();
    expected["auths"]["https://index.docker.io/v1/"] = json!({ "auth": BASE64.encode("hub:x") });
    assert_eq!(read_config(dir.path()), expected);
}

#[test]
fn store_creates_the_config_directory() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("new/.docker");
    CredentialStore::new(&nested)
        .store("reg.example", "me", "pw")
        .unwrap();
    assert_eq!(
        CredentialStore::new(&nested).get("reg.example").unwrap(),
        creds("me", "pw")
    );
}

#[test]
fn creds_store_helper_gets_stores_and_erases() {
    let _turn = HELPERS.lock().unwrap_or_else(|e| e.into_inner());
    let config_dir = tempfile::tempdir().unwrap();
    let helpers = tempfile::tempdir().unwrap();
    write_helper(helpers.path());
    write_config(
        config_dir.path(),
        &json!({ "credsStore": "test", "auths": {}, "detachKeys": "ctrl-x" }),
    );
    let store = CredentialStore::new(config_dir.path()).with_helper_dir(helpers.path());

    assert_eq!(store.get("reg.example").unwrap(), None);
    store.store("reg.example", "me", "pw").unwrap();
    assert_eq!(store.get("reg.example").unwrap(), creds("me", "pw"));
    // Docker keeps an empty entry and no secret in the file.
    let config = read_config(config_dir.path());
    assert_eq!(config["auths"]["reg.example"], json!({}));
    assert_eq!(config["detachKeys"], "ctrl-x");

    store.store("docker.io", "hub", "tok").unwrap();
    assert_eq!(store.get("docker.io").unwrap(), creds("hub", "tok"));
    let calls = std::fs::read_to_string(helpers.path().join("calls")).unwrap();
    assert!(calls.contains("get https://index.docker.io/v1/"), "{calls}");

    assert!(store.erase("reg.example").unwrap());
    assert_eq!(store.get("reg.example").unwrap(), None);
    assert!(!store.erase("reg.example").unwrap());
    assert!(read_config(config_dir.path())["auths"]
        .get("reg.example")
        .is_none());
}

#[test]
fn per_host_cred_helpers_win_over_creds_store() {
    let _turn = HELPERS.lock().unwrap_or_else(|e| e.into_inner());
    let config_dir = tempfile::tempdir().unwrap();
    let helpers = tempfile::tempdir().unwrap();
    write_helper(helpers.path());
    write_config(
        config_dir.path(),
        &json!({
            "credsStore": "absent",
            "credHelpers": { "reg.example": "test" },
            "auths": { "plain.example": { "auth": BASE64.encode("a:b") } }
        }),
    );
    let store = CredentialStore::new(config_dir.path()).with_helper_dir(helpers.path());
    store.store("reg.example", "me", "pw").unwrap();
    assert_eq!(store.get("reg.example").unwrap(), creds("me", "pw"));

    // Other hosts go to the global store, which isn't installed.
    let err = store.get("plain.example").unwrap_err();
    assert!(matches!(err, RegistryError::Helper { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("credential helper docker-credential-absent get: start "),
        "{err}"
    );
}

#[test]
fn failing_helper_reports_its_output() {
    let _turn = HELPERS.lock().unwrap_or_else(|e| e.into_inner());
    let config_dir = tempfile::tempdir().unwrap();
    let helpers = tempfile::tempdir().unwrap();
    let path = helpers.path().join("docker-credential-broken");
    std::fs::write(&path, "#!/bin/sh\necho 'keychain locked' >&2\nexit 3\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    write_config(config_dir.path(), &json!({ "credsStore": "broken" }));
    let store = CredentialStore::new(config_dir.path()).with_helper_dir(helpers.path());
    let err = store.get("reg.example").unwrap_err();
    assert_eq!(
        err.to_string(),
        "credential helper docker-credential-broken get: exit status: 3: keychain locked"
    );
}

#[test]
fn podman_auth_json_answers_for_registries_config_json_lacks() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &json!({ "auths": { "both.example": { "auth": BASE64.encode("docker:d") } } }),
    );
    let podman = dir.path().join("auth.json");
    std::fs::write(
        &podman,
        json!({
            "auths": {
                "both.example": { "auth": BASE64.encode("podman:p") },
                "only-podman.example:5000": { "auth": BASE64.encode("pu:pp") },
                "docker.io": { "auth": BASE64.encode("hub:h") },
                "quay.io/team": { "auth": BASE64.encode("team:t") }
            }
        })
        .to_string(),
    )
    .unwrap();
    let missing = dir.path().join("missing/auth.json");
    let store = CredentialStore::new(dir.path()).with_auth_files(vec![missing, podman.clone()]);
    assert_eq!(store.get("both.example").unwrap(), creds("docker", "d"));
    assert_eq!(
        store.get("only-podman.example:5000").unwrap(),
        creds("pu", "pp")
    );
    assert_eq!(store.get("docker.io").unwrap(), creds("hub", "h"));
    assert_eq!(store.get("quay.io").unwrap(), None, "a namespace's entry");

    std::fs::write(&podman, "{").unwrap();
    let err = store.get("other.example").unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("parse {}: ", podman.display())),
        "{err}"
    );
    // Login writes docker's file only.
    store.store("new.example", "n", "x").unwrap();
    assert_eq!(std::fs::read_to_string(&podman).unwrap(), "{");
}
