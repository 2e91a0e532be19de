//! The blocking registry client: endpoints, the challenge/token flow,
//! retries, and the pull/push operations built on them.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use reqwest::blocking::{Body, Client as HttpClient, RequestBuilder, Response};
use reqwest::header::{
    HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LINK, LOCATION,
};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use sha2::{Digest as _, Sha256, Sha512};

use crate::auth::{parse_challenge, Challenge, TokenCache};
use crate::auth_config::given_for;
use crate::credentials::{podman_auth_files, IDENTITY_TOKEN_USERNAME};
use crate::endpoint::{api_host, is_loopback, validate_registry, InsecureEntry};
use crate::error::ErrorDetail;
use crate::{AuthConfig, CredentialStore, RegistryError};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Manifests are small JSON documents; anything bigger is refused before
/// it is buffered (the distribution reference registry uses the same cap).
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;
/// Cap on other JSON bodies we buffer (tag pages, tokens).
const MAX_JSON_SIZE: u64 = 16 * 1024 * 1024;
/// How much of an error body is read to explain a failure.
const MAX_ERROR_BODY: u64 = 64 * 1024;
/// Attempts for idempotent requests on 5xx, 429 and dropped connections.
const MAX_ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Bounds every request that has no streamed body; blob transfers are
/// bounded by connection liveness instead, as they may take hours.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a blob download may go without a byte before it counts as
/// stalled (a registry that keeps the connection open but sends nothing).
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The slowest average rate an upload may go at: its deadline is
/// `REQUEST_TIMEOUT` plus its size at this rate (a 1 GB layer: 4.5 hours).
const MIN_UPLOAD_RATE: u64 = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Stops a registry whose `Link` headers never end.
const MAX_TAG_PAGES: usize = 10_000;

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";

/// How the client reaches registries and where it finds credentials.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Registries reached over plain HTTP or unverified TLS (host[:port],
    /// a bare host, or a CIDR range); localhost, 127.0.0.0/8 and ::1
    /// always are.
    pub insecure_registries: Vec<String>,
    /// False skips TLS verification and allows HTTP for every registry
    /// (podman's `--tls-verify=false`).
    pub tls_verify: bool,
    /// Per-registry CA certificates: `<certs_dir>/<host[:port]>/*.crt`, and
    /// client certificates as `*.cert` + `*.key` pairs, as with docker.
    pub certs_dir: PathBuf,
    /// Docker config directory (`$DOCKER_CONFIG` or `~/.docker`), holding
    /// config.json with the credentials.
    pub docker_config_dir: PathBuf,
    /// Podman's `auth.json` files, read for a registry config.json has no
    /// credentials for.
    pub podman_auth_files: Vec<PathBuf>,
    /// Credentials the caller passes in (the API's `X-Registry-Auth`),
    /// used before those in config.json.
    pub given_credentials: Vec<AuthConfig>,
    pub user_agent: String,
    /// A blob download that receives nothing for this long fails (and
    /// the caller may fetch it again); so does a request whose answer
    /// does not start within it.
    pub stall_timeout: Duration,
}

impl ClientOptions {
    /// Docker's defaults: `$DOCKER_CONFIG`, else `$HOME/.docker`, and
    /// `/etc/docker/certs.d`.
    pub fn from_env() -> ClientOptions {
        let docker_config_dir = match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/"))
                .join(".docker"),
        };
        ClientOptions {
            insecure_registries: Vec::new(),
            tls_verify: true,
            certs_dir: PathBuf::from("/etc/docker/certs.d"),
            docker_config_dir,
            podman_auth_files: podman_auth_files(),
            given_credentials: Vec::new(),
            user_agent: format!("berth/{}", env!("CARGO_PKG_VERSION")),
            stall_timeout: DEFAULT_STALL_TIMEOUT,
        }
    }
}

/// A manifest as fetched: its exact bytes (digests are over them), its
/// media type, and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: String,
}

/// A blob being downloaded. Reading streams from the network; a
/// connection lost mid-way, or one that sends nothing for the client's
/// stall timeout, surfaces as an `io::Error`. The caller verifies the
/// digest while it reads.
#[derive(Debug)]
pub struct Blob {
    /// Content-Length of the blob, when the server sent one.
    pub size: Option<u64>,
    response: Response,
    what: String,
    stall_timeout: Duration,
}

impl Read for Blob {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.response.read(buf).map_err(|e| {
            let timed_out = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
                .is_some_and(reqwest::Error::is_timeout)
                || e.kind() == std::io::ErrorKind::TimedOut;
            if !timed_out {
                return e;
            }
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "{}: the registry sent nothing for {} s (the connection stalled)",
                    self.what,
                    self.stall_timeout.as_secs_f64()
                ),
            )
        })
    }
}

/// How long an upload of `bytes` may take at the slowest rate allowed.
fn upload_deadline(bytes: u64) -> Duration {
    REQUEST_TIMEOUT + Duration::from_secs(bytes / MIN_UPLOAD_RATE)
}

/// How a registry is reached: plain HTTP, verified HTTPS, or HTTPS that
/// falls back to HTTP (insecure registries, as docker does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    Plain,
    Verified,
    Unverified,
}

/// A registry ready to be talked to.
struct Endpoint {
    /// The name the caller used; keys credentials, tokens and challenges.
    name: String,
    /// `scheme://host[:port]` of the API.
    base: String,
    http: HttpClient,
}

impl Endpoint {
    fn url(&self, path: &str) -> Result<Url, RegistryError> {
        let url = format!("{}{path}", self.base);
        Url::parse(&url).map_err(|e| RegistryError::InvalidName {
            kind: "url",
            value: url,
            detail: e.to_string(),
        })
    }
}

/// What a request needs permission for, and with whose credentials.
struct Access<'a> {
    scopes: Vec<String>,
    /// Credentials given by the caller (`login`) instead of the stored
    /// ones; tokens obtained with them are not cached.
    login: Option<(&'a str, &'a str)>,
}

impl Access<'_> {
    fn pull(repository: &str) -> Self {
        Access {
            scopes: vec![format!("repository:{repository}:pull")],
            login: None,
        }
    }

    fn push(repository: &str) -> Self {
        Access {
            scopes: vec![format!("repository:{repository}:pull,push")],
            login: None,
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_token: String,
    expires_in: Option<u64>,
}

/// A registry client; cheap to share across threads (parallel layer
/// transfers), with tokens, challenges and connections shared too.
pub struct Client {
    opts: ClientOptions,
    insecure: Vec<InsecureEntry>,
    credentials: CredentialStore,
    http: Mutex<HashMap<String, HttpClient>>,
    /// Scheme chosen for insecure registries after probing HTTPS.
    schemes: Mutex<HashMap<String, &'static str>>,
    /// Last challenge per registry, so later requests authenticate up front
    /// (needed for streamed bodies, which can't be sent twice).
    challenges: Mutex<HashMap<String, Challenge>>,
    tokens: Mutex<TokenCache>,
    /// Stored credentials per registry; helpers are processes, so they
    /// run once per client.
    stored: Mutex<HashMap<String, Option<(String, String)>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Client {
    pub fn new(opts: ClientOptions) -> Result<Client, RegistryError> {
        let insecure = opts
            .insecure_registries
            .iter()
            .map(|e| InsecureEntry::parse(e))
            .collect::<Result<_, _>>()?;
        Ok(Client {
            credentials: CredentialStore::new(&opts.docker_config_dir)
                .with_auth_files(opts.podman_auth_files.clone()),
            opts,
            insecure,
            http: Mutex::default(),
            schemes: Mutex::default(),
            challenges: Mutex::default(),
            tokens: Mutex::default(),
            stored: Mutex::default(),
        })
    }

    /// GETs a manifest or index by tag or digest, verifying the digest when
    /// the reference is one.
    pub fn get_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
    ) -> Result<Manifest, RegistryError> {
        validate_repository(repository)?;
        let expected = parse_reference(reference)?;
        let what = format!(
            "fetch manifest {}",
            display_ref(registry, repository, reference)
        );
        let ep = self.endpoint(registry)?;
        let url = ep.url(&format!("/v2/{repository}/manifests/{reference}"))?;
        let resp = self.execute(&ep, &Access::pull(repository), &what, true, &|c| {
            c.get(url.clone())
                .header(ACCEPT, MANIFEST_ACCEPT)
                .timeout(REQUEST_TIMEOUT)
        })?;
        let resp = expect_success(resp, &what)?;
        if resp.content_length().is_some_and(|n| n > MAX_MANIFEST_SIZE) {
            return Err(RegistryError::ManifestTooLarge {
                what,
                limit: MAX_MANIFEST_SIZE,
            });
        }
        let content_type = content_type(resp.headers());
        let bytes = read_limited(resp, MAX_MANIFEST_SIZE, &what)?.ok_or_else(|| {
            RegistryError::ManifestTooLarge {
                what: what.clone(),
                limit: MAX_MANIFEST_SIZE,
            }
        })?;
        let digest = match expected {
            Some(expected) => {
                verify_digest(&what, expected, &bytes)?;
                expected.to_string()
            }
            None => sha256_digest(&bytes),
        };
        let media_type = manifest_media_type(&bytes, content_type);
        tracing::debug!(registry, repository, reference, %digest, %media_type, "fetched manifest");
        Ok(Manifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// HEADs a manifest: `(digest, media type)`, or `None` if it doesn't
    /// exist. Falls back to a GET when the registry omits the digest header.
    pub fn head_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
    ) -> Result<Option<(String, String)>, RegistryError> {
        validate_repository(repository)?;
        let expected = parse_reference(reference)?;
        let what = format!(
            "check manifest {}",
            display_ref(registry, repository, reference)
        );
        let ep = self.endpoint(registry)?;
        let url = ep.url(&format!("/v2/{repository}/manifests/{reference}"))?;
        let resp = self.execute(&ep, &Access::pull(repository), &what, true, &|c| {
            c.head(url.clone())
                .header(ACCEPT, MANIFEST_ACCEPT)
                .timeout(REQUEST_TIMEOUT)
        })?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = expect_success(resp, &what)?;
        let media_type = content_type(resp.headers()).unwrap_or_default();
        let header = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        match (header, expected) {
            (Some(digest), Some(expected)) if digest != expected => {
                Err(RegistryError::DigestMismatch {
                    what,
                    expected: expected.to_string(),
                    actual: digest,
                })
            }
            (Some(digest), _) if !media_type.is_empty() => Ok(Some((digest, media_type))),
            _ => match self.get_manifest(registry, repository, reference) {
                Ok(m) => Ok(Some((m.digest, m.media_type))),
                Err(e) if e.status() == Some(404) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// Opens a blob for streaming. Redirects to storage backends are
    /// followed; reqwest drops `Authorization` when one leaves the host.
    pub fn get_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
    ) -> Result<Blob, RegistryError> {
        validate_repository(repository)?;
        validate_digest(digest)?;
        let what = format!("fetch blob {registry}/{repository}@{digest}");
        let ep = self.endpoint(registry)?;
        let url = ep.url(&format!("/v2/{repository}/blobs/{digest}"))?;
        let resp = self.execute(&ep, &Access::pull(repository), &what, true, &|c| {
            c.get(url.clone())
        })?;
        let response = expect_success(resp, &what)?;
        Ok(Blob {
            size: response.content_length(),
            response,
            what,
            stall_timeout: self.opts.stall_timeout,
        })
    }

    /// HEADs a blob: whether the repository already has it.
    pub fn blob_exists(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        validate_repository(repository)?;
        validate_digest(digest)?;
        let what = format!("check blob {registry}/{repository}@{digest}");
        let ep = self.endpoint(registry)?;
        let url = ep.url(&format!("/v2/{repository}/blobs/{digest}"))?;
        let resp = self.execute(&ep, &Access::pull(repository), &what, true, &|c| {
            c.head(url.clone()).timeout(REQUEST_TIMEOUT)
        })?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        expect_success(resp, &what).map(|_| true)
    }

    /// Asks the registry to link a blob from another repository instead of
    /// uploading it. `Ok(false)` when it started an upload instead (the
    /// upload is cancelled).
    pub fn mount_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        from_repository: &str,
    ) -> Result<bool, RegistryError> {
        validate_repository(repository)?;
        validate_repository(from_repository)?;
        validate_digest(digest)?;
        let what = format!(
            "mount blob {digest} from {registry}/{from_repository} into {registry}/{repository}"
        );
        let ep = self.endpoint(registry)?;
        let mut url = ep.url(&format!("/v2/{repository}/blobs/uploads/"))?;
        url.query_pairs_mut()
            .append_pair("mount", digest)
            .append_pair("from", from_repository);
        let mut access = Access::push(repository);
        access
            .scopes
            .push(format!("repository:{from_repository}:pull"));
        let resp = self.execute(&ep, &access, &what, false, &|c| {
            c.post(url.clone())
                .header(CONTENT_LENGTH, 0)
                .timeout(REQUEST_TIMEOUT)
        })?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                let location = location(&resp, &what)?;
                self.cancel_upload(&ep, &access, &format!("{registry}/{repository}"), &location);
                Ok(false)
            }
            _ => Err(status_error(resp, &what)),
        }
    }

    /// Uploads a blob of `size` bytes from `data`: one streamed PUT, or
    /// PATCHes of `chunk_size` bytes (each buffered) when asked for.
    pub fn push_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
        size: u64,
        data: impl Read + Send + 'static,
        chunk_size: Option<u64>,
    ) -> Result<(), RegistryError> {
        validate_repository(repository)?;
        validate_digest(digest)?;
        let what = format!("push blob {registry}/{repository}@{digest}");
        let ep = self.endpoint(registry)?;
        let access = Access::push(repository);
        // Starting the upload carries no body, so it goes through the
        // challenge flow and leaves a token for the streamed request.
        let start = ep.url(&format!("/v2/{repository}/blobs/uploads/"))?;
        let resp = self.execute(&ep, &access, &what, false, &|c| {
            c.post(start.clone())
                .header(CONTENT_LENGTH, 0)
                .timeout(REQUEST_TIMEOUT)
        })?;
        let resp = expect_success(resp, &what)?;
        let session = location(&resp, &what)?;
        let data = ExactReader {
            inner: data,
            remaining: size,
        };
        let mut location = session.clone();
        let uploaded = (|| match chunk_size.filter(|n| *n > 0) {
            None => {
                location.query_pairs_mut().append_pair("digest", digest);
                let authorization = self.preauthorize(&ep, &access, &what)?;
                let mut req = ep
                    .http
                    .put(location)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, size)
                    .timeout(upload_deadline(size))
                    .body(Body::sized(data, size));
                if let Some(a) = authorization {
                    req = req.header(AUTHORIZATION, a);
                }
                let resp = req.send().map_err(|e| RegistryError::transport(&what, e))?;
                expect_success(resp, &what).map(drop)
            }
            Some(chunk_size) => {
                location = self.upload_chunks(&ep, &access, &what, location, data, chunk_size)?;
                location.query_pairs_mut().append_pair("digest", digest);
                let resp = self.execute(&ep, &access, &what, false, &|c| {
                    c.put(location.clone())
                        .header(CONTENT_LENGTH, 0)
                        .timeout(REQUEST_TIMEOUT)
                })?;
                expect_success(resp, &what).map(drop)
            }
        })();
        if let Err(e) = uploaded {
            // The session would otherwise hold what was sent until the
            // registry expires it.
            self.cancel_upload(&ep, &access, &format!("{registry}/{repository}"), &session);
            return Err(e);
        }
        tracing::debug!(registry, repository, digest, size, "pushed blob");
        Ok(())
    }

    /// Cancels an upload session, as well as it can: an abandoned one
    /// expires on its own, so a failure is only logged.
    fn cancel_upload(&self, ep: &Endpoint, access: &Access, repository: &str, session: &Url) {
        let what = format!("cancel upload to {repository}");
        let result = self
            .execute(ep, access, &what, true, &|c| {
                c.delete(session.clone()).timeout(REQUEST_TIMEOUT)
            })
            .and_then(|r| expect_success(r, &what));
        if let Err(e) = result {
            tracing::warn!("{e}");
        }
    }

    /// Sends the blob as PATCHes and returns where to PUT the digest.
    fn upload_chunks(
        &self,
        ep: &Endpoint,
        access: &Access,
        what: &str,
        mut location: Url,
        mut data: ExactReader<impl Read>,
        mut chunk_size: u64,
    ) -> Result<Url, RegistryError> {
        let size = data.remaining;
        let mut offset = 0u64;
        while offset < size {
            let len = chunk_size.min(size - offset);
            let mut chunk = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
            data.read_exact(&mut chunk)
                .map_err(|e| RegistryError::io(format!("{what}: read blob data"), e))?;
            let range = format!("{offset}-{}", offset + len - 1);
            let resp = self.execute(ep, access, what, false, &|c| {
                c.patch(location.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_RANGE, range.as_str())
                    .header(CONTENT_LENGTH, len)
                    .timeout(upload_deadline(len))
                    .body(chunk.clone())
            })?;
            let resp = expect_success(resp, what)?;
            location = location_from(&resp, &location, what)?;
            // A registry may require bigger chunks than we chose.
            if let Some(min) = resp
                .headers()
                .get("oci-chunk-min-length")
                .and_then(|v| v.to_str().ok()?.parse().ok())
            {
                chunk_size = chunk_size.max(min);
            }
            offset += len;
        }
        Ok(location)
    }

    /// PUTs a manifest under a tag or digest and returns its digest.
    pub fn put_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, RegistryError> {
        validate_repository(repository)?;
        let expected = parse_reference(reference)?;
        let what = format!(
            "push manifest {}",
            display_ref(registry, repository, reference)
        );
        if let Some(expected) = expected {
            verify_digest(&what, expected, bytes)?;
        }
        let digest = sha256_digest(bytes);
        let ep = self.endpoint(registry)?;
        let url = ep.url(&format!("/v2/{repository}/manifests/{reference}"))?;
        let resp = self.execute(&ep, &Access::push(repository), &what, true, &|c| {
            c.put(url.clone())
                .header(CONTENT_TYPE, media_type)
                .body(bytes.to_vec())
                .timeout(REQUEST_TIMEOUT)
        })?;
        let resp = expect_success(resp, &what)?;
        if let Some(theirs) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
        {
            if theirs.starts_with("sha256:") && theirs != digest {
                tracing::warn!(ours = %digest, %theirs, "{what}: registry reports a different digest");
            }
        }
        Ok(expected.map_or(digest, str::to_string))
    }

    /// All tags of a repository, following `Link` pagination.
    pub fn list_tags(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Vec<String>, RegistryError> {
        #[derive(Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        validate_repository(repository)?;
        let what = format!("list tags of {registry}/{repository}");
        let ep = self.endpoint(registry)?;
        let access = Access::pull(repository);
        let mut url = ep.url(&format!("/v2/{repository}/tags/list"))?;
        let mut seen = HashSet::new();
        let mut tags = Vec::new();
        loop {
            if !seen.insert(url.clone()) || seen.len() > MAX_TAG_PAGES {
                return Err(RegistryError::invalid_response(
                    &what,
                    "tag pagination does not end",
                ));
            }
            let resp = self.execute(&ep, &access, &what, true, &|c| {
                c.get(url.clone()).timeout(REQUEST_TIMEOUT)
            })?;
            let resp = expect_success(resp, &what)?;
            let next = next_link(resp.headers()).map(|link| url.join(&link));
            let page: TagList = read_json(resp, &what)?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                None => return Ok(tags),
                Some(Ok(next)) => url = next,
                Some(Err(e)) => {
                    return Err(RegistryError::invalid_response(
                        &what,
                        format!("bad Link header: {e}"),
                    ))
                }
            }
        }
    }

    /// Checks credentials against the registry with the same challenge
    /// flow a pull would use; for `login`.
    pub fn check_login(
        &self,
        registry: &str,
        username: &str,
        password: &str,
    ) -> Result<(), RegistryError> {
        let what = format!("log in to {registry}");
        let ep = self.endpoint(registry)?;
        let url = ep.url("/v2/")?;
        let access = Access {
            scopes: Vec::new(),
            login: Some((username, password)),
        };
        let resp = self.execute(&ep, &access, &what, true, &|c| {
            c.get(url.clone()).timeout(REQUEST_TIMEOUT)
        })?;
        expect_success(resp, &what).map(|_| ())
    }

    fn endpoint(&self, registry: &str) -> Result<Endpoint, RegistryError> {
        validate_registry(registry)?;
        let security = if is_loopback(registry) {
            Security::Plain
        } else if !self.opts.tls_verify || self.insecure.iter().any(|e| e.matches(registry)) {
            Security::Unverified
        } else {
            Security::Verified
        };
        let http = self.http_client(registry, security)?;
        let host = api_host(registry);
        let scheme = match security {
            Security::Plain => "http",
            Security::Verified => "https",
            Security::Unverified => self.probe_scheme(registry, host, &http),
        };
        Ok(Endpoint {
            name: registry.to_string(),
            base: format!("{scheme}://{host}"),
            http,
        })
    }

    /// Insecure registries may speak HTTPS with a certificate we can't
    /// verify, or plain HTTP; like docker, try HTTPS and fall back when the
    /// connection itself fails. The answer is remembered.
    fn probe_scheme(&self, registry: &str, host: &str, http: &HttpClient) -> &'static str {
        if let Some(scheme) = lock(&self.schemes).get(registry) {
            return scheme;
        }
        let scheme = match http
            .get(format!("https://{host}/v2/"))
            .timeout(CONNECT_TIMEOUT)
            .send()
        {
            Ok(_) => "https",
            Err(e) if e.is_connect() || e.is_request() => {
                tracing::debug!(
                    registry,
                    "https failed ({}), using http",
                    RegistryError::transport("probe", e)
                );
                "http"
            }
            // Timeouts and the like say nothing about the scheme; keep
            // https and let the real request report the problem.
            Err(_) => return "https",
        };
        lock(&self.schemes).insert(registry.to_string(), scheme);
        scheme
    }

    /// One HTTP client per registry, since trusted CAs and client
    /// certificates are per registry.
    fn http_client(&self, registry: &str, security: Security) -> Result<HttpClient, RegistryError> {
        if let Some(c) = lock(&self.http).get(registry) {
            return Ok(c.clone());
        }
        // The blocking client's timeout bounds waiting for an answer and
        // each read of a body: a stall detector that lets a download take
        // hours. Uploads set a deadline of their own.
        let mut builder = HttpClient::builder()
            .user_agent(&self.opts.user_agent)
            .timeout(self.opts.stall_timeout)
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_keepalive(Duration::from_secs(30));
        // A proxy can't reach this machine's loopback.
        if is_loopback(registry) {
            builder = builder.no_proxy();
        }
        if security == Security::Unverified {
            builder = builder.danger_accept_invalid_certs(true);
        }
        builder = self.add_certs(builder, registry)?;
        let client = builder.build().map_err(|e| RegistryError::HttpClient {
            registry: registry.to_string(),
            detail: e.to_string(),
        })?;
        Ok(lock(&self.http)
            .entry(registry.to_string())
            .or_insert(client)
            .clone())
    }

    /// Docker's certs.d layout: every `*.crt` is a CA, every `X.cert` with
    /// a matching `X.key` is a client certificate.
    fn add_certs(
        &self,
        mut builder: reqwest::blocking::ClientBuilder,
        registry: &str,
    ) -> Result<reqwest::blocking::ClientBuilder, RegistryError> {
        let dir = self.opts.certs_dir.join(registry);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(builder),
            Err(e) => return Err(RegistryError::io(format!("read {}", dir.display()), e)),
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        let read = |path: &PathBuf| {
            std::fs::read(path)
                .map_err(|e| RegistryError::io(format!("read {}", path.display()), e))
        };
        let tls = |path: &PathBuf, e: reqwest::Error| RegistryError::Tls {
            path: path.clone(),
            detail: e.to_string(),
        };
        for path in &paths {
            match path.extension().and_then(|e| e.to_str()) {
                Some("crt") => {
                    for cert in reqwest::Certificate::from_pem_bundle(&read(path)?)
                        .map_err(|e| tls(path, e))?
                    {
                        builder = builder.add_root_certificate(cert);
                    }
                }
                Some("cert") => {
                    let key = path.with_extension("key");
                    let mut pem = read(path)?;
                    pem.push(b'\n');
                    pem.extend(read(&key)?);
                    builder = builder
                        .identity(reqwest::Identity::from_pem(&pem).map_err(|e| tls(path, e))?);
                }
                _ => {}
            }
        }
        Ok(builder)
    }

    /// Sends a request built by `build`, answering an auth challenge once.
    /// Idempotent requests are also retried on 5xx, 429 and dropped
    /// connections. Any final status is returned for the caller to judge.
    fn execute(
        &self,
        ep: &Endpoint,
        access: &Access,
        what: &str,
        idempotent: bool,
        build: &dyn Fn(&HttpClient) -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let mut authorization = self.preauthorize(ep, access, what)?;
        let mut answered = false;
        loop {
            let resp = send_retrying(what, idempotent, || {
                let req = build(&ep.http);
                match &authorization {
                    Some(a) => req.header(AUTHORIZATION, a.as_str()),
                    None => req,
                }
            })?;
            if resp.status() != StatusCode::UNAUTHORIZED || answered {
                return Ok(resp);
            }
            let challenge =
                parse_challenge(resp.headers()).ok_or_else(|| RegistryError::NoChallenge {
                    what: what.to_string(),
                })?;
            tracing::debug!(registry = %ep.name, ?challenge, "answering auth challenge");
            if access.login.is_none() {
                lock(&self.challenges).insert(ep.name.clone(), challenge.clone());
            }
            authorization = Some(self.authorize(ep, access, &challenge, true, what)?);
            answered = true;
        }
    }

    /// The Authorization header for a registry whose challenge is already
    /// known, so the first request is accepted.
    fn preauthorize(
        &self,
        ep: &Endpoint,
        access: &Access,
        what: &str,
    ) -> Result<Option<String>, RegistryError> {
        if access.login.is_some() {
            return Ok(None);
        }
        let challenge = lock(&self.challenges).get(&ep.name).cloned();
        challenge
            .map(|c| self.authorize(ep, access, &c, false, what))
            .transpose()
    }

    /// Answers a challenge; `fresh` skips cached tokens (a request was just
    /// refused with one).
    fn authorize(
        &self,
        ep: &Endpoint,
        access: &Access,
        challenge: &Challenge,
        fresh: bool,
        what: &str,
    ) -> Result<String, RegistryError> {
        match challenge {
            Challenge::Basic => {
                let (user, pass) = self.credentials_for(ep, access)?.ok_or_else(|| {
                    RegistryError::NoBasicCredentials {
                        what: what.to_string(),
                        registry: ep.name.clone(),
                    }
                })?;
                Ok(format!("Basic {}", BASE64.encode(format!("{user}:{pass}"))))
            }
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let scopes = match (&access.scopes, scope) {
                    (ours, Some(theirs)) if ours.is_empty() => vec![theirs.clone()],
                    (ours, _) => ours.clone(),
                };
                if access.login.is_none() {
                    if let Some(given) = given_for(&self.opts.given_credentials, &ep.name)
                        .filter(|c| !c.registry_token.is_empty())
                    {
                        return Ok(format!("Bearer {}", given.registry_token));
                    }
                }
                let cacheable = access.login.is_none();
                if cacheable && !fresh {
                    if let Some(token) = lock(&self.tokens).get(&ep.name, &scopes) {
                        return Ok(format!("Bearer {token}"));
                    }
                }
                let creds = self.credentials_for(ep, access)?;
                let (token, expires_in) =
                    self.fetch_token(ep, realm, service.as_deref(), &scopes, creds)?;
                if cacheable {
                    lock(&self.tokens).insert(&ep.name, &scopes, token.clone(), expires_in);
                }
                Ok(format!("Bearer {token}"))
            }
        }
    }

    fn credentials_for(
        &self,
        ep: &Endpoint,
        access: &Access,
    ) -> Result<Option<(String, String)>, RegistryError> {
        if let Some((user, pass)) = access.login {
            return Ok(Some((user.to_string(), pass.to_string())));
        }
        if let Some(given) = given_for(&self.opts.given_credentials, &ep.name) {
            let found = given
                .credentials()
                .map_err(|detail| RegistryError::InvalidAuthConfig {
                    what: format!("credentials given for {}", ep.name),
                    detail,
                })?;
            if found.is_some() {
                return Ok(found);
            }
        }
        if let Some(found) = lock(&self.stored).get(&ep.name) {
            return Ok(found.clone());
        }
        let found = self.credentials.get(&ep.name)?;
        lock(&self.stored).insert(ep.name.clone(), found.clone());
        Ok(found)
    }

    /// Gets a bearer token from the challenge's realm: with Basic
    /// credentials (or anonymously) by GET, or by exchanging an identity
    /// token through the OAuth2 POST form, as docker does.
    fn fetch_token(
        &self,
        ep: &Endpoint,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        creds: Option<(String, String)>,
    ) -> Result<(String, Option<u64>), RegistryError> {
        let mut realm_url = Url::parse(realm).map_err(|e| RegistryError::InvalidResponse {
            what: format!("authenticate to {}", ep.name),
            detail: format!("bad token realm {realm:?}: {e}"),
        })?;
        if !matches!(realm_url.scheme(), "http" | "https") {
            return Err(RegistryError::InvalidResponse {
                what: format!("authenticate to {}", ep.name),
                detail: format!("token realm {realm:?} is not http(s)"),
            });
        }
        let mut shown = realm_url.clone();
        shown.set_query(None);
        let what = format!("fetch token for {} from {shown}", ep.name);
        tracing::debug!(registry = %ep.name, ?scopes, anonymous = creds.is_none(), "fetching token");
        let resp = match creds {
            Some((user, token)) if user == IDENTITY_TOKEN_USERNAME => {
                let mut form: Vec<(&str, &str)> = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &token),
                    ("client_id", "berth"),
                ];
                if let Some(service) = service {
                    form.push(("service", service));
                }
                let scope = scopes.join(" ");
                if !scope.is_empty() {
                    form.push(("scope", &scope));
                }
                send_retrying(&what, false, || {
                    ep.http
                        .post(realm_url.clone())
                        .form(&form)
                        .timeout(REQUEST_TIMEOUT)
                })?
            }
            creds => {
                {
                    let mut query = realm_url.query_pairs_mut();
                    if let Some(service) = service {
                        query.append_pair("service", service);
                    }
                    for scope in scopes {
                        query.append_pair("scope", scope);
                    }
                    if let Some((user, _)) = &creds {
                        query.append_pair("account", user);
                    }
                }
                send_retrying(&what, true, || {
                    let req = ep.http.get(realm_url.clone()).timeout(REQUEST_TIMEOUT);
                    match &creds {
                        Some((user, pass)) => req.basic_auth(user, Some(pass)),
                        None => req,
                    }
                })?
            }
        };
        let resp = expect_success(resp, &what)?;
        let body: TokenResponse = read_json(resp, &what)?;
        let token = if body.token.is_empty() {
            body.access_token
        } else {
            body.token
        };
        if token.is_empty() {
            return Err(RegistryError::invalid_response(
                &what,
                "no token in response",
            ));
        }
        Ok((token, body.expires_in))
    }
}

/// Sends with retries when `idempotent`: 5xx, 429 and failures to connect
/// or to get a response are retried with exponential back-off.
fn send_retrying(
    what: &str,
    idempotent: bool,
    mut build: impl FnMut() -> RequestBuilder,
) -> Result<Response, RegistryError> {
    let mut attempt = 1;
    loop {
        let result = build().send();
        let problem = match &result {
            Ok(r)
                if r.status().is_server_error() || r.status() == StatusCode::TOO_MANY_REQUESTS =>
            {
                Some(r.status().to_string())
            }
            Err(e) if e.is_connect() || e.is_timeout() || e.is_request() => Some(e.to_string()),
            _ => None,
        };
        match problem {
            Some(problem) if idempotent && attempt < MAX_ATTEMPTS => {
                let delay = FIRST_BACKOFF * 2u32.pow(attempt - 1);
                tracing::warn!(attempt, ?delay, "{what}: {problem}; retrying");
                std::thread::sleep(delay);
                attempt += 1;
            }
            _ => return result.map_err(|e| RegistryError::transport(what, e)),
        }
    }
}

fn expect_success(resp: Response, what: &str) -> Result<Response, RegistryError> {
    if resp.status().is_success() {
        Ok(resp)
    } else {
        Err(status_error(resp, what))
    }
}

/// Turns a refusal into an error carrying the registry's own explanation.
fn status_error(resp: Response, what: &str) -> RegistryError {
    #[derive(Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<ErrorEntry>,
        /// Docker Hub's token service uses this instead.
        #[serde(default)]
        details: Option<String>,
    }
    #[derive(Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    // The status alone still explains the failure if the body is unreadable.
    let _ = resp.take(MAX_ERROR_BODY).read_to_end(&mut body);
    let errors = match serde_json::from_slice::<Errors>(&body) {
        Ok(parsed) if !parsed.errors.is_empty() => parsed
            .errors
            .into_iter()
            .map(|e| ErrorDetail {
                code: e.code,
                message: e.message,
            })
            .collect(),
        Ok(Errors {
            details: Some(message),
            ..
        }) => vec![ErrorDetail {
            code: String::new(),
            message,
        }],
        _ => {
            let text = String::from_utf8_lossy(&body);
            let text = text.trim();
            if !text.is_empty()
                && text.len() <= 200
                && !text.contains('\n')
                && !text.starts_with('{')
            {
                vec![ErrorDetail {
                    code: String::new(),
                    message: text.to_string(),
                }]
            } else {
                Vec::new()
            }
        }
    };
    RegistryError::Status {
        what: what.to_string(),
        status,
        errors,
    }
}

/// Reads at most `limit` bytes; `None` if the body is longer.
fn read_limited(resp: Response, limit: u64, what: &str) -> Result<Option<Vec<u8>>, RegistryError> {
    let mut bytes = Vec::new();
    resp.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| RegistryError::io(format!("{what}: read body"), e))?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

fn read_json<T: serde::de::DeserializeOwned>(
    resp: Response,
    what: &str,
) -> Result<T, RegistryError> {
    let bytes = read_limited(resp, MAX_JSON_SIZE, what)?.ok_or_else(|| {
        RegistryError::invalid_response(what, format!("body larger than {MAX_JSON_SIZE} bytes"))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| RegistryError::invalid_response(what, e.to_string()))
}

fn location(resp: &Response, what: &str) -> Result<Url, RegistryError> {
    location_from(resp, resp.url(), what)
}

/// The upload URL from `Location`, which may be relative to the request.
fn location_from(resp: &Response, base: &Url, what: &str) -> Result<Url, RegistryError> {
    let value = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| RegistryError::invalid_response(what, "no Location header"))?;
    base.join(value)
        .map_err(|e| RegistryError::invalid_response(what, format!("bad Location {value:?}: {e}")))
}

/// The target of `Link: <...>; rel="next"`.
fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|part| {
            let (target, params) = part.split_once(';')?;
            let is_next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            is_next.then(|| target.to_string())
        })
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let media_type = value.split(';').next()?.trim();
    (!media_type.is_empty()).then(|| media_type.to_string())
}

/// The body's own `mediaType` is authoritative; without it, a specific
/// Content-Type; failing both, the document's shape tells an OCI index
/// from an OCI manifest.
fn manifest_media_type(bytes: &[u8], content_type: Option<String>) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(bytes).ok();
    if let Some(m) = parsed
        .as_ref()
        .and_then(|v| v.get("mediaType"))
        .and_then(|m| m.as_str())
    {
        if !m.is_empty() {
            return m.to_string();
        }
    }
    match content_type {
        Some(ct)
            if !matches!(
                ct.as_str(),
                "application/json" | "application/octet-stream" | "text/plain"
            ) =>
        {
            ct
        }
        ct => match parsed.as_ref().map(|v| v.get("manifests").is_some()) {
            Some(true) => OCI_INDEX.to_string(),
            Some(false) => OCI_MANIFEST.to_string(),
            None => ct.unwrap_or_default(),
        },
    }
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Verifies bytes against a digest reference with the algorithm it names.
fn verify_digest(what: &str, expected: &str, bytes: &[u8]) -> Result<(), RegistryError> {
    let actual = match expected.split_once(':') {
        Some(("sha512", _)) => format!("sha512:{}", hex::encode(Sha512::digest(bytes))),
        _ => sha256_digest(bytes),
    };
    if actual == expected {
        Ok(())
    } else {
        Err(RegistryError::DigestMismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            actual,
        })
    }
}

/// Only digests we can verify are accepted: sha256 and sha512 in lower-case
/// hex.
fn validate_digest(digest: &str) -> Result<(), RegistryError> {
    let invalid = |detail: &str| RegistryError::InvalidName {
        kind: "digest",
        value: digest.to_string(),
        detail: detail.to_string(),
    };
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or_else(|| invalid("expected algorithm:hex"))?;
    let len = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Err(invalid("unsupported digest algorithm")),
    };
    if hex.len() != len
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(invalid("bad hex encoding"));
    }
    Ok(())
}

/// A tag or a digest; returns the digest when it is one.
fn parse_reference(reference: &str) -> Result<Option<&str>, RegistryError> {
    if reference.contains(':') {
        validate_digest(reference)?;
        return Ok(Some(reference));
    }
    let valid = !reference.is_empty()
        && reference.len() <= 128
        && !reference.starts_with(['.', '-'])
        && reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(None)
    } else {
        Err(RegistryError::InvalidName {
            kind: "tag",
            value: reference.to_string(),
            detail: "bad tag format".into(),
        })
    }
}

fn validate_repository(repository: &str) -> Result<(), RegistryError> {
    let valid = !repository.is_empty()
        && repository.split('/').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
                })
                && part.starts_with(|c: char| c.is_ascii_alphanumeric())
        });
    if valid {
        Ok(())
    } else {
        Err(RegistryError::InvalidName {
            kind: "repository",
            value: repository.to_string(),
            detail: "expected lower-case path components".into(),
        })
    }
}

fn display_ref(registry: &str, repository: &str, reference: &str) -> String {
    let sep = if reference.contains(':') { '@' } else { ':' };
    format!("{registry}/{repository}{sep}{reference}")
}

/// Gives the server exactly `remaining` bytes, and fails the upload
/// instead of sending a short body when `inner` ends early.
struct ExactReader<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let max = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("blob data ended {} bytes short", self.remaining),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Client>();
        fn assert_send<T: Send>() {}
        assert_send::<Blob>();
    }

    #[test]
    fn link_header_next_target() {
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            r#"</v2/a/tags/list?n=2&last=b>; rel="next""#.parse().unwrap(),
        );
        assert_eq!(next_link(&h).as_deref(), Some("/v2/a/tags/list?n=2&last=b"));
        h.insert(
            LINK,
            r#"<https://x/prev>; rel="prev", <https://x/n>; rel=next"#
                .parse()
                .unwrap(),
        );
        assert_eq!(next_link(&h).as_deref(), Some("https://x/n"));
        h.insert(LINK, r#"<https://x/prev>; rel="prev""#.parse().unwrap());
        assert_eq!(next_link(&h), None);
    }

    #[test]
    fn media_type_from_body_then_header_then_shape() {
        let with = br#"{"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#;
        assert_eq!(
            manifest_media_type(with, Some(OCI_MANIFEST.into())),
            DOCKER_MANIFEST
        );
        assert_eq!(
            manifest_media_type(b"{}", Some(DOCKER_MANIFEST_LIST.into())),
            DOCKER_MANIFEST_LIST
        );
        assert_eq!(
            manifest_media_type(br#"{"manifests":[]}"#, Some("application/json".into())),
            OCI_INDEX
        );
        assert_eq!(manifest_media_type(br#"{"layers":[]}"#, None), OCI_MANIFEST);
    }

    #[test]
    fn references_and_digests_are_validated() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(parse_reference(&d).unwrap(), Some(d.as_str()));
        assert_eq!(parse_reference("v1.0_rc-1").unwrap(), None);
        assert!(parse_reference("sha256:abc").is_err());
        assert!(parse_reference("md5:0123").is_err());
        assert!(parse_reference("../x").is_err());
        assert!(parse_reference("").is_err());
        assert!(validate_repository("library/busybox").is_ok());
        assert!(validate_repository("a/../b").is_err());
        assert!(validate_repository("A/b").is_err());
        assert!(validate_repository("a//b").is_err());
        assert_eq!(display_ref("r", "a/b", "1"), "r/a/b:1");
        assert_eq!(display_ref("r", "a/b", &d), format!("r/a/b@{d}"));
    }

    #[test]
    fn sha512_digests_are_verified_with_sha512() {
        let d512 = format!("sha512:{}", hex::encode(Sha512::digest(b"x")));
        assert!(verify_digest("w", &d512, b"x").is_ok());
        let err = verify_digest("w", &sha256_digest(b"y"), b"x").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("w: digest mismatch: expected sha256:"),
            "{err}"
        );
    }

    #[test]
    fn exact_reader_fails_when_data_ends_early() {
        let mut r = ExactReader {
            inner: &b"abc"[..],
            remaining: 5,
        };
        let mut buf = Vec::new();
        let err = r.read_to_end(&mut buf).unwrap_err();
        assert_eq!(err.to_string(), "blob data ended 2 bytes short");
        let mut r = ExactReader {
            inner: &b"abcdef"[..],
            remaining: 4,
        };
        let mut buf = Vec::new();
        r.read_to_end(&mut buf).unwrap();
        assert_eq!(buf, b"abcd");
    }

    #[test]
    fn verified_clients_build_and_certs_d_problems_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = ClientOptions::from_env();
        opts.docker_config_dir = dir.path().to_path_buf();
        opts.certs_dir = dir.path().join("certs.d");
        let client = Client::new(opts).unwrap();
        client
            .http_client("reg.example", Security::Verified)
            .unwrap();

        let certs = dir.path().join("certs.d/other.example");
        std::fs::create_dir_all(&certs).unwrap();
        std::fs::write(certs.join("client.cert"), "").unwrap();
        let err = client
            .http_client("other.example", Security::Verified)
            .unwrap_err();
        let key = certs.join("client.key");
        assert!(
            err.to_string()
                .starts_with(&format!("read {}: ", key.display())),
            "{err}"
        );
    }

    /// An insecure registry that only speaks HTTP: the HTTPS probe fails
    /// at the TLS handshake and the client settles on HTTP.
    #[test]
    fn insecure_registry_falls_back_to_http_when_https_fails() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            // The TLS ClientHello is not HTTP: answer like a plain HTTP
            // server would, then close.
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 512];
            let _ = conn.read(&mut buf);
            let _ = std::io::Write::write_all(
                &mut conn,
                b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n",
            );
        });
        let dir = tempfile::tempdir().unwrap();
        let mut opts = ClientOptions::from_env();
        opts.docker_config_dir = dir.path().to_path_buf();
        opts.certs_dir = dir.path().join("certs.d");
        opts.tls_verify = false;
        let client = Client::new(opts).unwrap();
        let registry = addr.to_string();
        let http = client.http_client(&registry, Security::Unverified).unwrap();
        assert_eq!(client.probe_scheme(&registry, &registry, &http), "http");
        server.join().unwrap();
        // Remembered: no second probe (the server is gone).
        assert_eq!(client.probe_scheme(&registry, &registry, &http), "http");
    }

    /// A registry on loopback that answers `/v2/r/tags/list` only to
    /// `authorization`, challenging with `challenge` otherwise; returns
    /// its address and the authorizations it was sent.
    fn guarded_registry(
        authorization: &'static str,
        challenge: &'static str,
    ) -> (String, std::sync::mpsc::Receiver<String>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (seen, heard) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&request).to_string();
                let given = request
                    .lines()
                    .find_map(|l| l.strip_prefix("authorization: "))
                    .unwrap_or_default()
                    .to_string();
                let _ = seen.send(given.clone());
                let response = if given == authorization {
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Content-Length: 14\r\nConnection: close\r\n\r\n{\"tags\":[\"t\"]}"
                        .to_string()
                } else {
                    format!(
                        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\n\
                         Content-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                };
                let _ = std::io::Write::write_all(&mut conn, response.as_bytes());
            }
        });
        (addr, heard)
    }

    #[test]
    fn given_credentials_come_before_config_json() {
        let dir = tempfile::tempdir().unwrap();
        let right = format!("Basic {}", BASE64.encode("given:secret"));
        let (registry, heard) = guarded_registry(right.leak(), r#"Basic realm="r""#);
        std::fs::write(
            dir.path().join("config.json"),
            format!(
                r#"{{"auths":{{"{registry}":{{"auth":"{}"}}}}}}"#,
                BASE64.encode("stored:wrong")
            ),
        )
        .unwrap();
        let mut opts = ClientOptions::from_env();
        opts.docker_config_dir = dir.path().to_path_buf();
        opts.certs_dir = dir.path().join("certs.d");
        // Stored credentials alone are refused.
        let client = Client::new(opts.clone()).unwrap();
        assert!(client.list_tags(&registry, "r").is_err());
        opts.given_credentials = vec![
            AuthConfig {
                username: "elsewhere".into(),
                server_address: "other.example".into(),
                ..AuthConfig::default()
            },
            AuthConfig {
                username: "given".into(),
                password: "secret".into(),
                server_address: format!("http://{registry}"),
                ..AuthConfig::default()
            },
        ];
        let client = Client::new(opts).unwrap();
        assert_eq!(client.list_tags(&registry, "r").unwrap(), ["t"]);
        let sent: Vec<String> = heard.try_iter().collect();
        assert!(
            sent.iter()
                .any(|a| a == &format!("Basic {}", BASE64.encode("stored:wrong"))),
            "{sent:?}"
        );
    }

    #[test]
    fn a_given_registry_token_answers_bearer_challenges_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        // The realm is never asked: the token is used as given.
        let (registry, _) = guarded_registry(
            "Bearer opaque-token",
            r#"Bearer realm="http://127.0.0.1:9/token",service="r""#,
        );
        let mut opts = ClientOptions::from_env();
        opts.docker_config_dir = dir.path().to_path_buf();
        opts.certs_dir = dir.path().join("certs.d");
        opts.given_credentials = vec![AuthConfig {
            registry_token: "opaque-token".into(),
            ..AuthConfig::default()
        }];
        let client = Client::new(opts).unwrap();
        assert_eq!(client.list_tags(&registry, "r").unwrap(), ["t"]);
    }
}
