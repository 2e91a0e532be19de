//! The client against a fake registry on 127.0.0.1.

mod fake;

use std::io::{Cursor, Read};
use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use berth_registry::{Client, ClientOptions, RegistryError, OCI_MANIFEST};
use fake::{sha256, AuthMode, FakeRegistry, IDENTITY_TOKEN, PASS, USER};

const REPO: &str = "team/app";
const MANIFEST: &[u8] =
    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#;

/// A client whose docker config dir is `config` (holding `config_json` if
/// given) and which reads no system-wide certificates.
fn client_with(config: &Path, config_json: Option<serde_json::Value>) -> Client {
    if let Some(json) = config_json {
        std::fs::write(config.join("config.json"), json.to_string()).unwrap();
    }
    let mut opts = ClientOptions::from_env();
    opts.docker_config_dir = config.to_path_buf();
    opts.certs_dir = config.join("certs.d");
    opts.podman_auth_files = Vec::new();
    Client::new(opts).unwrap()
}

fn anonymous_client() -> (tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let client = client_with(dir.path(), None);
    (dir, client)
}

/// A client with `USER`/`PASS` stored for `registry` in config.json.
fn logged_in_client(registry: &str) -> (tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let auth = BASE64.encode(format!("{USER}:{PASS}"));
    let client = client_with(
        dir.path(),
        Some(serde_json::json!({ "auths": { registry: { "auth": auth } } })),
    );
    (dir, client)
}

fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    out
}

#[test]
fn anonymous_pull_through_bearer_flow_caches_the_token() {
    let reg = FakeRegistry::start(AuthMode::Bearer { private: false });
    reg.add_manifest(REPO, "1", OCI_MANIFEST, MANIFEST);
    let layer = b"layer bytes".repeat(1000);
    let digest = reg.add_blob(REPO, &layer);
    let (_dir, client) = anonymous_client();

    let m = client.get_manifest(&reg.registry(), REPO, "1").unwrap();
    assert_eq!(m.bytes, MANIFEST);
    assert_eq!(m.media_type, OCI_MANIFEST);
    assert_eq!(m.digest, sha256(MANIFEST));

    let blob = client.get_blob(&reg.registry(), REPO, &digest).unwrap();
    assert_eq!(blob.size, Some(layer.len() as u64));
    assert_eq!(read_all(blob), layer);
    assert!(client.blob_exists(&reg.registry(), REPO, &digest).unwrap());
    assert!(!client
        .blob_exists(&reg.registry(), REPO, &sha256(b"other"))
        .unwrap());

    let st = reg.state();
    assert_eq!(
        st.token_requests,
        vec![(vec![format!("repository:{REPO}:pull")], None)]
    );
    // Only the very first request was refused; the rest carried the token.
    assert_eq!(
        st.log
            .iter()
            .filter(|l| l.ends_with(" -") && l.starts_with("GET /v2/"))
            .count(),
        1
    );
}

#[test]
fn authenticated_pull_of_private_repository_uses_stored_credentials() {
    let reg = FakeRegistry::start(AuthMode::Bearer { private: true });
    reg.add_manifest(REPO, "1", OCI_MANIFEST, MANIFEST);

    let (_dir, anonymous) = anonymous_client();
    let err = anonymous
        .get_manifest(&reg.registry(), REPO, "1")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "fetch manifest {}/{REPO}:1: 401 unauthorized (UNAUTHORIZED: authentication required)",
            reg.registry()
        )
    );

    let (_dir, client) = logged_in_client(&reg.registry());
    assert_eq!(
        client
            .get_manifest(&reg.registry(), REPO, "1")
            .unwrap()
            .bytes,
        MANIFEST
    );
    let st = reg.state();
    assert_eq!(st.token_requests.last().unwrap().1.as_deref(), Some(USER));
}

#[test]
fn identity_token_is_exchanged_through_the_oauth_form() {
    let reg = FakeRegistry::start(AuthMode::Bearer { private: true });
    reg.add_manifest(REPO, "1", OCI_MANIFEST, MANIFEST);
    let dir = tempfile::tempdir().unwrap();
    let config =
        serde_json::json!({ "auths": { reg.registry(): { "identitytoken": IDENTITY_TOKEN } } });
    let client = client_with(dir.path(), Some(config));
    assert_eq!(
        client
            .get_manifest(&reg.registry(), REPO, "1")
            .unwrap()
            .bytes,
        MANIFEST
    );
    assert_eq!(reg.count("POST /token"), 1);
}

#[test]
fn basic_auth_registry() {
    let reg = FakeRegistry::start(AuthMode::Basic);
    reg.add_manifest(REPO, "1", OCI_MANIFEST, MANIFEST);
    let (_dir, client) = logged_in_client(&reg.registry());
    assert_eq!(
        client
            .get_manifest(&reg.registry(), REPO, "1")
            .unwrap()
            .bytes,
        MANIFEST
    );
    assert!(reg.state().log.last().unwrap().ends_with(" Basic"));

    let (_dir, anonymous) = anonymous_client();
    let err = anonymous
        .get_manifest(&reg.registry(), REPO, "1")
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::NoBasicCredentials { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "fetch manifest {r}/{REPO}:1: no basic auth credentials for {r}",
            r = reg.registry()
        )
    );
}

#[test]
fn unauthorized_without_challenge_is_a_clear_error() {
    let reg = FakeRegistry::start(AuthMode::NoChallenge);
    let (_dir, client) = logged_in_client(&reg.registry());
    let err = client.get_manifest(&reg.registry(), REPO, "1").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("fetch manifest {}/{REPO}:1: 401 unauthorized without a usable www-authenticate challenge", reg.registry())
    );
}

#[test]
fn pull_by_digest_verifies_the_manifest_digest() {
    let reg = FakeRegistry::start(AuthMode::Open);
    let (_dir, client) = anonymous_client();
    let good = sha256(MANIFEST);
    reg.add_manifest(REPO, &good, OCI_MANIFEST, MANIFEST);
    assert_eq!(
        client
            .get_manifest(&reg.registry(), REPO, &good)
            .unwrap()
            .digest,
        good
    );

    let claimed = sha256(b"something else");
    reg.add_manifest(REPO, &claimed, OCI_MANIFEST, MANIFEST);
    let err = client
        .get_manifest(&reg.registry(), REPO, &claimed)
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::DigestMismatch { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "fetch manifest {}/{REPO}@{claimed}: digest mismatch: expected {claimed}, got {good}",
            reg.registry()
        )
    );
}

#[test]
fn oversized_manifests_are_refused_with_or_without_content_length() {
    let reg = FakeRegistry::start(AuthMode::Open);
    let big = vec![b' '; 5 * 1024 * 1024];
    reg.add_manifest(REPO, "big", OCI_MANIFEST, &big);
    let (_dir, client) = anonymous_client();
    let err = client
        .get_manifest(&reg.registry(), REPO, "big")
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::ManifestTooLarge { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("oversized manifest"), "{err}");

    reg.state().chunked_manifests = true;
    let err = client
        .get_manifest(&reg.registry(), REPO, "big")
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::ManifestTooLarge { .. }),
        "{err:?}"
    );
}

#[test]
fn head_manifest_reports_digest_and_media_type() {
    let reg = FakeRegistry::start(AuthMode::Bearer { private: false });
    reg.add_manifest(REPO, "1", OCI_MANIFEST, MANIFEST);
    let (_dir, client) = anonymous_client();
    assert_eq!(
        client.head_manifest(&reg.registry(), REPO, "1").unwrap(),
        Some((sha256(MANIFEST), OCI_MANIFEST.to_string()))
    );
    assert_eq!(
        client.head_manifest(&reg.registry(), REPO, "nope").unwrap(),
        None
    );
}

#[test]
fn missing_manifest_error_carries_registry_code() {
    let reg = FakeRegistry::start(AuthMode::Open);
    let (_dir, client) = anonymous_client();
    let err = client
        .get_manifest(&reg.registry(), REPO, "nope")
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert_eq!(
        err.to_string(),
        format!(
            "fetch manifest {}/{REPO}:nope: 404 not found (MANIFEST_UNKNOWN: manifest unknown)",
            reg.registry()
        )
    );
}

#[test]
fn blob_redirect_to_another_host_drops_authorization() {
    let reg = FakeRegistry::start(AuthMode::Bearer { private: false });
    let digest = reg.add_blob(REPO, b"data");
    let (_dir, client) = anonymous_client();
    assert_eq!(
        read_all(client.get_blob(&reg.registry(), REPO, &digest).unwrap()),
        b"data"
    );
    // "localhost" is this same server under another name: cross-host.
    reg.state().redirect_host = format!("localhost:{}", reg.addr.port());
    assert_eq!(
        read_all(client.get_blob(&reg.registry(), REPO, &digest).unwrap()),
        b"data"
    );
    assert_eq!(reg.state().storage_auth, vec![true, false]);
}

#[test]
fn blob_cut_short_surfaces_as_an_io_error() {
    let reg = FakeRegistry::start(AuthMode::Open);
    let digest = reg.add_blob(REPO, &[7u8; 100_000]);
    reg.state().truncate_blobs = true;
    let (_dir, client) = anonymous_client();
    let mut blob = client.get_blob(&reg.registry(), REPO, &digest).unwrap();
    assert_eq!(blob.size, Some(100_000));
    let mut buf = Vec::new();
    assert!(blob.read_to_end(&mut buf).is_err());
}

#[test]
fn monolithic_upload_streams_the_body_with_a_token_obtained_first() {
    let reg = FakeRegistry::start(AuthMode::Bearer { private: true });
    let (_dir, client) = logged_in_client(&reg.registry());
    let data = b"0123456789".repeat(10_000);
    let digest = sha256(&data);
    client
        .push_blob(
            &reg.registry(),
            REPO,
            &digest,
            data.len() as u64,
            Cursor::new(data.clone()),
            None,
        )
        .unwrap();
    assert_eq!(reg.state().blobs[&(REPO.to_string(), digest.clone())], data);
    // The PUT was accepted on its first try: it carried the token the POST
    // obtained, with push scope.
    assert_eq!(reg.count("PUT "), 1);
    assert!(reg
        .state()
        .log
        .iter()
        .any(|l| l.starts_with("PUT ") && l.ends_with(" Bearer")));
    assert_eq!(
        reg.state().token_requests[0].0,
        vec![format!("repository:{REPO}:pull,push")]
    );
    // The push token also serves the pull-scoped check.
    assert!(client.blob_exists(&reg.registry(), REPO, &digest).unwrap());
    assert_eq!(reg.state().token_requests.len(), 1);
}

#[test]
fn upload_errors_report_the_registry_code_and_short_data() {
    let reg = FakeRegistry::start(AuthMode::Open);
    let (_dir, client) = anonymous_client();
    let wrong = sha256(b"not this");
    let err = client
        .push_blob(
            &reg.registry(),
            REPO,
            &wrong,
            3,
            Cursor::new(b"abc".to_vec()),
            None,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "push blob {}/{REPO}@{wrong}: 400 bad request (DIGEST_INVALID: provided digest did not match uploaded content)",
            reg.registry()
        )
    );
    let digest = sha256(b"abcdef");
    let err = client
        .push_blob(
            &reg.registry(),
            REPO,
            &digest,
            6,
            Cursor::new(b"abc".to_vec()),
            None,
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("blob data ended 3 bytes short"),
        "{err}"
    );
    let err = client
        .push_blob(
            &reg.registry(),
            REPO,
            &digest,
            6,
            Cursor::new(b"abc".to_vec()),
            Some(4),
        )
        .unwrap_err();
    assert!(matches!(err, RegistryError::Io { .. }), "{err:?}");
    // Every failed upload cancelled its session.
    assert_eq!(reg.count("DELETE "), 3);
    assert_eq!(reg.open_uploads(), 0);
}

#[test]
fn a_stalled_blob_download_fails_saying_so() {
    let reg = FakeRegistry::start(AuthMode::Open);
    let digest = reg.add_blob(REPO, &[7u8; 100_000]);
    reg.state().stall_blobs = Some(std::time::Duration::from_secs(5));
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ClientOptions::from_env();
    opts.docker_config_dir = dir.path().to_path_buf();
    opts.certs_dir = dir.path().join("certs.d");
    opts.stall_timeout = std::time::Duration::from_millis(500);
    let client = Client::new(opts).unwrap();
    let mut blob = client.get_blob(&reg.registry(), REPO, &digest).unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let err = blob.read_to_end(&mut buf).unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(
        err.to_string(),
        format!(
            "fetch blob {}/{REPO}@{digest}: the registry sent nothing for 0.5 s (the connection stalled)",
            reg.registry()
        )
    );
}

#[test]
fn chunked_upload_patches_each_chunk() {
    let reg = FakeRegistry::start(AuthMode::Bearer { private: true });
    let (_dir, client) = logged_in_client(&reg.registry());
    let data = b"abcdefghij".to_vec();
    let digest = sha256(&data);
    client
        .push_blob(
            &reg.registry(),
            REPO,
            &digest,
            10,
            Cursor::new(data.clone()),
            Some(3),
        )
        .unwrap();
    assert_eq!(reg.state().blobs[&(REPO.to_string(), digest.clone())], data);
    assert_eq!(reg.count("PATCH "), 4);
    assert_eq!(reg.count("PUT "), 1);

    let empty = sha256(b"");
    client
        .push_blob(
            &reg.registry(),
            REPO,
            &empty,
            0,
            Cursor::new(Vec::new()),
            Some(3),
        )
        .unwrap();
    assert!(reg.state().blobs.contains_key(&(REPO.to_string(), empty)));
}

#[test]
fn mount_links_existing_blobs_and_cancels_otherwise() {
    let reg = FakeRegistry::start(AuthMode::Bearer { private: true });
    let digest = reg.add_blob("other/base", b"shared layer");
    let (_dir, client) = logged_in_client(&reg.registry());
    assert!(client
        .mount_blob(&reg.registry(), REPO, &digest, "other/base")
        .unwrap());
    assert!(reg
        .state()
        .blobs
        .contains_key(&(REPO.to_string(), digest.clone())));
    let scopes = reg.state().token_requests[0].0.clone();
    assert_eq!(
        scopes,
        vec![
            format!("repository:{REPO}:pull,push"),
            "repository:other/base:pull".to_string()
        ]
    );

    let missing = sha256(b"not there");
    assert!(!client
        .mount_blob(&reg.registry(), REPO, &missing, "other/base")
        .unwrap());
    assert_eq!(reg.count("DELETE /v2/team/app/blobs/uploads/"), 1);
}

#[test]
fn put_manifest_returns_its_digest() {
    let reg = FakeRegistry::start(AuthMode::Bearer { private: true });
    let (_dir, client) = logged_in_client(&reg.registry());
    let digest = client
        .put_manifest(&reg.registry(), REPO, "v1", OCI_MANIFEST, MANIFEST)
        .unwrap();
    assert_eq!(digest, sha256(MANIFEST));
    let m = client.get_manifest(&reg.registry(), REPO, &digest).unwrap();
    assert_eq!(
        (m.bytes.as_slice(), m.media_type.as_str()),
        (MANIFEST, OCI_MANIFEST)
    );

    let wrong = sha256(b"x");
    let err = client
        .put_manifest(&reg.registry(), REPO, &wrong, OCI_MANIFEST, MANIFEST)
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::DigestMismatch { .. }),
        "{err:?}"
    );
}

#[test]
fn list_tags_follows_link_pagination() {
    let reg = FakeRegistry::start(AuthMode::Bearer { private: false });
    for tag in ["e", "a", "c", "b", "d"] {
        reg.add_manifest(REPO, tag, OCI_MANIFEST, MANIFEST);
    }
    let (_dir, client) = anonymous_client();
    assert_eq!(
        client.list_tags(&reg.registry(), REPO).unwrap(),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(reg.count("GET /v2/team/app/tags/list"), 4); // one refused by the challenge
}

#[test]
fn server_errors_are_retried_then_reported() {
    let reg = FakeRegistry::start(AuthMode::Open);
    reg.add_manifest(REPO, "1", OCI_MANIFEST, MANIFEST);
    let path = format!("/v2/{REPO}/manifests/1");
    let (_dir, client) = anonymous_client();

    reg.state().failures.insert(path.clone(), 2);
    assert_eq!(
        client
            .get_manifest(&reg.registry(), REPO, "1")
            .unwrap()
            .bytes,
        MANIFEST
    );
    assert_eq!(reg.count("GET /v2/team/app/manifests/1"), 3);

    reg.state().failures.insert(path.clone(), 3);
    let err = client.get_manifest(&reg.registry(), REPO, "1").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "fetch manifest {}/{REPO}:1: 500 internal server error (UNKNOWN: injected failure)",
            reg.registry()
        )
    );

    reg.state().drops.insert(path, 1);
    assert_eq!(
        client
            .get_manifest(&reg.registry(), REPO, "1")
            .unwrap()
            .bytes,
        MANIFEST
    );
}

#[test]
fn uploads_are_not_retried() {
    let reg = FakeRegistry::start(AuthMode::Open);
    let (_dir, client) = anonymous_client();
    reg.state()
        .failures
        .insert(format!("/v2/{REPO}/blobs/uploads/"), 1);
    let digest = sha256(b"abc");
    let err = client
        .push_blob(
            &reg.registry(),
            REPO,
            &digest,
            3,
            Cursor::new(b"abc".to_vec()),
            None,
        )
        .unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(reg.count("POST "), 1);
}

#[test]
fn check_login_validates_credentials() {
    for mode in [AuthMode::Bearer { private: true }, AuthMode::Basic] {
        let reg = FakeRegistry::start(mode);
        let (_dir, client) = anonymous_client();
        client.check_login(&reg.registry(), USER, PASS).unwrap();
        let err = client
            .check_login(&reg.registry(), USER, "wrong")
            .unwrap_err();
        assert_eq!(err.status(), Some(401), "{mode:?}: {err}");
    }
    let reg = FakeRegistry::start(AuthMode::Bearer { private: true });
    let (_dir, client) = anonymous_client();
    let err = client
        .check_login(&reg.registry(), USER, "wrong")
        .unwrap_err();
    let token_url = format!("http://{}/token", reg.registry());
    assert_eq!(
        err.to_string(),
        format!(
            "fetch token for {} from {token_url}: 401 unauthorized (UNAUTHORIZED: incorrect username or password)",
            reg.registry()
        )
    );
    // Login tokens are not reused for later anonymous requests.
    reg.add_manifest(REPO, "1", OCI_MANIFEST, MANIFEST);
    client.check_login(&reg.registry(), USER, PASS).unwrap();
    assert!(client.get_manifest(&reg.registry(), REPO, "1").is_err());
}

#[test]
fn parallel_downloads_share_one_client() {
    let reg = FakeRegistry::start(AuthMode::Bearer { private: true });
    let digests: Vec<(String, Vec<u8>)> = (0..4u8)
        .map(|i| {
            let data = vec![i; 50_000];
            (reg.add_blob(REPO, &data), data)
        })
        .collect();
    let (_dir, client) = logged_in_client(&reg.registry());
    let registry = reg.registry();
    std::thread::scope(|s| {
        for (digest, data) in &digests {
            let (client, registry) = (&client, &registry);
            s.spawn(move || {
                assert_eq!(
                    &read_all(client.get_blob(registry, REPO, digest).unwrap()),
                    data
                )
            });
        }
    });
}

#[test]
fn invalid_names_are_refused_before_any_request() {
    let (_dir, client) = anonymous_client();
    let err = client
        .get_manifest("127.0.0.1:1/evil", REPO, "1")
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::InvalidName {
                kind: "registry",
                ..
            }
        ),
        "{err:?}"
    );
    let err = client
        .get_blob("127.0.0.1:1", REPO, "sha256:short")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid digest \"sha256:short\": bad hex encoding"
    );
}
