//! A small in-process registry on 127.0.0.1 speaking just enough HTTP/1.1
//! (one request per connection) to exercise the client: Bearer/Basic auth,
//! manifests, redirected blobs, uploads, mounts, tag pagination and
//! injected failures.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

pub const USER: &str = "alice";
pub const PASS: &str = "s3cret";
/// The identity token the fake token service exchanges for `USER`.
pub const IDENTITY_TOKEN: &str = "refresh-alice";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AuthMode {
    Open,
    /// Token service at /token. Anonymous tokens grant pull only, and
    /// nothing at all when `private`.
    Bearer {
        private: bool,
    },
    Basic,
    /// 401 with no WWW-Authenticate header.
    NoChallenge,
}

pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the fake registry holds and what it has seen.
pub struct State {
    pub auth: AuthMode,
    pub manifests: HashMap<(String, String), (String, Vec<u8>)>,
    pub blobs: HashMap<(String, String), Vec<u8>>,
    uploads: HashMap<String, (String, Vec<u8>)>,
    /// Path → how many more requests get a 500.
    pub failures: HashMap<String, u32>,
    /// Path → how many more connections are closed without an answer.
    pub drops: HashMap<String, u32>,
    /// Serve manifests with chunked encoding (no Content-Length).
    pub chunked_manifests: bool,
    /// Send only half of each blob, then close.
    pub truncate_blobs: bool,
    /// Send only half of each blob, then keep the connection open, silent,
    /// for this long.
    pub stall_blobs: Option<Duration>,
    /// Host blob redirects point at; another name for this same server
    /// makes the redirect cross-host.
    pub redirect_host: String,
    pub page_size: usize,
    tokens: HashMap<String, Vec<String>>,
    /// "METHOD path?query auth-scheme" of every request, in order.
    pub log: Vec<String>,
    /// Whether each /storage request carried an Authorization header.
    pub storage_auth: Vec<bool>,
    /// (scopes, authenticated user) of each token request.
    pub token_requests: Vec<(Vec<String>, Option<String>)>,
    next_id: u32,
}

pub struct FakeRegistry {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeRegistry {
    pub fn start(auth: AuthMode) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            auth,
            manifests: HashMap::new(),
            blobs: HashMap::new(),
            uploads: HashMap::new(),
            failures: HashMap::new(),
            drops: HashMap::new(),
            chunked_manifests: false,
            truncate_blobs: false,
            stall_blobs: None,
            redirect_host: addr.to_string(),
            page_size: 2,
            tokens: HashMap::new(),
            log: Vec::new(),
            storage_auth: Vec::new(),
            token_requests: Vec::new(),
            next_id: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(conn) = conn else { continue };
                    let state = Arc::clone(&state);
                    std::thread::spawn(move || handle(conn, addr, &state));
                }
            })
        };
        FakeRegistry {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// Upload sessions started and neither finished nor cancelled.
    pub fn open_uploads(&self) -> usize {
        self.state().uploads.len()
    }

    /// The registry name clients use: "127.0.0.1:<port>".
    pub fn registry(&self) -> String {
        self.addr.to_string()
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn add_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256(data);
        self.state()
            .blobs
            .insert((repo.into(), digest.clone()), data.to_vec());
        digest
    }

    pub fn add_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
        self.state().manifests.insert(
            (repo.into(), reference.into()),
            (media_type.into(), bytes.to_vec()),
        );
    }

    /// Requests whose log line starts with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.state()
            .log
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    chunked: bool,
    /// Declared length when the body is cut short on purpose.
    declared_len: Option<usize>,
    /// How long to keep the connection open after the body.
    linger: Option<Duration>,
}

impl Response {
    fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            chunked: false,
            declared_len: None,
            linger: None,
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    fn error(status: u16, code: &str, message: &str) -> Self {
        let body =
            serde_json::json!({ "errors": [{ "code": code, "message": message }] }).to_string();
        Response::new(status)
            .header("Content-Type", "application/json")
            .body(body)
    }
}

fn handle(mut conn: TcpStream, addr: SocketAddr, state: &Mutex<State>) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let Some(req) = read_request(&mut conn) else {
        return;
    };
    let response = {
        let mut st = state.lock().unwrap();
        let target = match req.query.is_empty() {
            true => req.path.clone(),
            false => format!("{}?{}", req.path, encode_query(&req.query)),
        };
        let scheme = req
            .header("authorization")
            .and_then(|a| a.split(' ').next())
            .unwrap_or("-")
            .to_string();
        st.log.push(format!("{} {target} {scheme}", req.method));
        if let Some(n) = st.drops.get_mut(&req.path).filter(|n| **n > 0) {
            *n -= 1;
            return;
        }
        if let Some(n) = st.failures.get_mut(&req.path).filter(|n| **n > 0) {
            *n -= 1;
            Response::error(500, "UNKNOWN", "injected failure")
        } else {
            route(&req, addr, &mut st)
        }
    };
    let head_only = req.method == "HEAD";
    let linger = response.linger;
    let _ = write_response(&mut conn, response, head_only);
    if let Some(linger) = linger {
        std::thread::sleep(linger);
    }
}

fn read_request(conn: &mut TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    // A TLS ClientHello or garbage: not for us.
    if !line.starts_with(|c: char| c.is_ascii_uppercase()) {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers
        .get("content-length")
        .map_or(Some(0), |v| v.parse().ok())?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    Some(Request {
        method,
        path: path.to_string(),
        query,
        headers,
        body,
    })
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn encode_query(q: &[(String, String)]) -> String {
    q.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn write_response(conn: &mut TcpStream, r: Response, head_only: bool) -> std::io::Result<()> {
    let reason = match r.status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        _ => "Internal Server Error",
    };
    let mut out = format!("HTTP/1.1 {} {reason}\r\nConnection: close\r\n", r.status);
    for (k, v) in &r.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if r.chunked {
        out.push_str("Transfer-Encoding: chunked\r\n\r\n");
        conn.write_all(out.as_bytes())?;
        for chunk in r.body.chunks(64 * 1024) {
            conn.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
            conn.write_all(chunk)?;
            conn.write_all(b"\r\n")?;
        }
        return conn.write_all(b"0\r\n\r\n");
    }
    out.push_str(&format!(
        "Content-Length: {}\r\n\r\n",
        r.declared_len.unwrap_or(r.body.len())
    ));
    conn.write_all(out.as_bytes())?;
    if !head_only {
        conn.write_all(&r.body)?;
    }
    conn.flush()
}

/// (repository, rest) for "/v2/<repo>/<kind>/<rest>".
fn split_repo<'a>(path: &'a str, kind: &str) -> Option<(&'a str, &'a str)> {
    let rest = path.strip_prefix("/v2/")?;
    let at = rest.find(kind)?;
    Some((&rest[..at], &rest[at + kind.len()..]))
}

fn route(req: &Request, addr: SocketAddr, st: &mut State) -> Response {
    if req.path == "/token" {
        return token(req, st);
    }
    if let Some(digest) = req.path.strip_prefix("/storage/") {
        st.storage_auth.push(req.header("authorization").is_some());
        let Some(data) = st
            .blobs
            .iter()
            .find(|((_, d), _)| d == digest)
            .map(|(_, v)| v.clone())
        else {
            return Response::error(404, "BLOB_UNKNOWN", "blob unknown");
        };
        let mut r = Response::new(200).header("Content-Type", "application/octet-stream");
        if st.truncate_blobs || st.stall_blobs.is_some() {
            r.declared_len = Some(data.len());
            r.linger = st.stall_blobs;
            return r.body(data[..data.len() / 2].to_vec());
        }
        return r.body(data);
    }
    if req.path == "/v2/" {
        return authorize(req, st, addr, &[]).unwrap_or_else(|| Response::new(200).body("{}"));
    }
    let write = !matches!(req.method.as_str(), "GET" | "HEAD");
    let scope = |repo: &str| {
        format!(
            "repository:{repo}:{}",
            if write { "pull,push" } else { "pull" }
        )
    };

    if let Some((repo, reference)) = split_repo(&req.path, "/manifests/") {
        if let Some(denied) = authorize(req, st, addr, &[scope(repo)]) {
            return denied;
        }
        return manifests(req, st, repo, reference);
    }
    if let Some((repo, rest)) = split_repo(&req.path, "/blobs/uploads/") {
        let mut scopes = vec![scope(repo)];
        if let Some(from) = req.param("from") {
            scopes.push(format!("repository:{from}:pull"));
        }
        if let Some(denied) = authorize(req, st, addr, &scopes) {
            return denied;
        }
        return uploads(req, st, repo, rest);
    }
    if let Some((repo, digest)) = split_repo(&req.path, "/blobs/") {
        if let Some(denied) = authorize(req, st, addr, &[scope(repo)]) {
            return denied;
        }
        let key = (repo.to_string(), digest.to_string());
        let Some(data) = st.blobs.get(&key) else {
            return Response::error(404, "BLOB_UNKNOWN", "blob unknown");
        };
        if req.method == "HEAD" {
            return Response::new(200)
                .body(data.clone())
                .header("Docker-Content-Digest", digest);
        }
        let location = format!(
            "http://{}/storage/{digest}?X-Signature=abc",
            st.redirect_host
        );
        return Response::new(307).header("Location", location);
    }
    if let Some((repo, _)) = split_repo(&req.path, "/tags/list") {
        if let Some(denied) = authorize(req, st, addr, &[scope(repo)]) {
            return denied;
        }
        return tags(req, st, repo);
    }
    Response::error(404, "NAME_UNKNOWN", "no such route")
}

/// `None` when the request may proceed, else the refusal.
fn authorize(req: &Request, st: &State, addr: SocketAddr, scopes: &[String]) -> Option<Response> {
    let auth = req.header("authorization").unwrap_or("");
    let denied = Response::error(401, "UNAUTHORIZED", "authentication required");
    match st.auth {
        AuthMode::Open => None,
        AuthMode::NoChallenge => Some(denied),
        AuthMode::Basic => {
            let ok = auth.strip_prefix("Basic ").and_then(basic_user).is_some();
            (!ok).then(|| denied.header("WWW-Authenticate", "Basic realm=\"fake\""))
        }
        AuthMode::Bearer { .. } => {
            let granted = auth.strip_prefix("Bearer ").and_then(|t| st.tokens.get(t));
            let ok = granted.is_some_and(|g| {
                scopes
                    .iter()
                    .all(|s| g.contains(s) || g.contains(&s.replace(":pull", ":pull,push")))
            });
            let scope = scopes
                .first()
                .map(|s| format!(",scope=\"{s}\""))
                .unwrap_or_default();
            let challenge =
                format!("Bearer realm=\"http://{addr}/token\",service=\"fake-registry\"{scope}");
            (!ok).then(|| denied.header("WWW-Authenticate", challenge))
        }
    }
}

/// The user a `Basic` credential authenticates, if it is the right one.
fn basic_user(encoded: &str) -> Option<String> {
    let decoded = String::from_utf8(BASE64.decode(encoded).ok()?).ok()?;
    (decoded == format!("{USER}:{PASS}")).then(|| USER.to_string())
}

fn token(req: &Request, st: &mut State) -> Response {
    let AuthMode::Bearer { private } = st.auth else {
        return Response::new(404);
    };
    let (user, scopes, field) = if req.method == "POST" {
        let body = String::from_utf8_lossy(&req.body).to_string();
        let form: HashMap<String, String> = body
            .split('&')
            .filter_map(|p| p.split_once('=').map(|(k, v)| (decode(k), decode(v))))
            .collect();
        if form.get("grant_type").map(String::as_str) != Some("refresh_token")
            || form.get("refresh_token").map(String::as_str) != Some(IDENTITY_TOKEN)
        {
            return Response::error(401, "UNAUTHORIZED", "invalid refresh token");
        }
        let scopes: Vec<String> = form
            .get("scope")
            .map(|s| s.split(' ').map(str::to_string).collect())
            .unwrap_or_default();
        (Some(USER.to_string()), scopes, "access_token")
    } else {
        let user = match req
            .header("authorization")
            .and_then(|a| a.strip_prefix("Basic "))
        {
            Some(cred) => match basic_user(cred) {
                Some(user) => Some(user),
                None => {
                    return Response::error(401, "UNAUTHORIZED", "incorrect username or password")
                }
            },
            None => None,
        };
        let scopes = req
            .query
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.clone())
            .collect();
        (user, scopes, "token")
    };
    st.token_requests.push((scopes.clone(), user.clone()));
    let granted: Vec<String> = match (&user, private) {
        (Some(_), _) => scopes,
        (None, true) => Vec::new(),
        (None, false) => scopes
            .iter()
            .map(|s| s.replace(":pull,push", ":pull"))
            .collect(),
    };
    st.next_id += 1;
    let token = format!("tok{}", st.next_id);
    st.tokens.insert(token.clone(), granted);
    Response::new(200)
        .header("Content-Type", "application/json")
        .body(serde_json::json!({ field: token, "expires_in": 300 }).to_string())
}

fn manifests(req: &Request, st: &mut State, repo: &str, reference: &str) -> Response {
    let key = (repo.to_string(), reference.to_string());
    match req.method.as_str() {
        "GET" | "HEAD" => {
            let Some((media_type, bytes)) = st.manifests.get(&key) else {
                return Response::error(404, "MANIFEST_UNKNOWN", "manifest unknown");
            };
            let mut r = Response::new(200)
                .header("Content-Type", media_type.as_str())
                .header("Docker-Content-Digest", sha256(bytes))
                .body(bytes.clone());
            r.chunked = st.chunked_manifests && req.method == "GET";
            r
        }
        "PUT" => {
            let media_type = req.header("content-type").unwrap_or("").to_string();
            let digest = sha256(&req.body);
            st.manifests
                .insert(key, (media_type.clone(), req.body.clone()));
            st.manifests.insert(
                (repo.to_string(), digest.clone()),
                (media_type, req.body.clone()),
            );
            Response::new(201)
                .header("Docker-Content-Digest", digest.as_str())
                .header("Location", format!("/v2/{repo}/manifests/{digest}"))
        }
        _ => Response::new(405),
    }
}

fn uploads(req: &Request, st: &mut State, repo: &str, id: &str) -> Response {
    match (req.method.as_str(), id) {
        ("POST", "") => {
            if let (Some(digest), Some(from)) = (req.param("mount"), req.param("from")) {
                if let Some(data) = st
                    .blobs
                    .get(&(from.to_string(), digest.to_string()))
                    .cloned()
                {
                    st.blobs
                        .insert((repo.to_string(), digest.to_string()), data);
                    return Response::new(201)
                        .header("Location", format!("/v2/{repo}/blobs/{digest}"));
                }
            }
            st.next_id += 1;
            let id = format!("up{}", st.next_id);
            st.uploads
                .insert(id.clone(), (repo.to_string(), Vec::new()));
            Response::new(202)
                .header(
                    "Location",
                    format!("/v2/{repo}/blobs/uploads/{id}?_state=s{}", st.next_id),
                )
                .header("Docker-Upload-UUID", id)
                .header("Range", "0-0")
        }
        ("PATCH", id) => {
            let Some((_, data)) = st.uploads.get_mut(id) else {
                return Response::error(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown");
            };
            let start = req
                .header("content-range")
                .and_then(|r| r.split('-').next()?.parse::<usize>().ok());
            if start != Some(data.len()) {
                return Response::error(416, "BLOB_UPLOAD_INVALID", "bad content-range");
            }
            data.extend_from_slice(&req.body);
            let end = data.len() - 1;
            // A relative Location, as the spec allows.
            Response::new(202)
                .header(
                    "Location",
                    format!("/v2/{repo}/blobs/uploads/{id}?_state=p{end}"),
                )
                .header("Range", format!("0-{end}"))
        }
        ("PUT", id) => {
            let Some((_, mut data)) = st.uploads.remove(id) else {
                return Response::error(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown");
            };
            if req.param("_state").is_none() {
                return Response::error(400, "BLOB_UPLOAD_INVALID", "lost upload state");
            }
            data.extend_from_slice(&req.body);
            let digest = req.param("digest").unwrap_or("").to_string();
            if sha256(&data) != digest {
                return Response::error(
                    400,
                    "DIGEST_INVALID",
                    "provided digest did not match uploaded content",
                );
            }
            st.blobs.insert((repo.to_string(), digest.clone()), data);
            Response::new(201).header("Location", format!("/v2/{repo}/blobs/{digest}"))
        }
        ("DELETE", id) => match st.uploads.remove(id) {
            Some(_) => Response::new(204),
            None => Response::error(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown"),
        },
        _ => Response::new(405),
    }
}

fn tags(req: &Request, st: &State, repo: &str) -> Response {
    let mut all: Vec<&str> = st
        .manifests
        .keys()
        .filter(|(r, t)| r == repo && !t.contains(':'))
        .map(|(_, t)| t.as_str())
        .collect();
    all.sort();
    let n = req
        .param("n")
        .and_then(|n| n.parse().ok())
        .unwrap_or(st.page_size);
    let start = req.param("last").map_or(0, |last| {
        all.iter().position(|t| *t > last).unwrap_or(all.len())
    });
    let page: Vec<&str> = all.iter().skip(start).take(n).copied().collect();
    let mut r = Response::new(200)
        .header("Content-Type", "application/json")
        .body(serde_json::json!({ "name": repo, "tags": page }).to_string());
    if start + n < all.len() {
        let last = page.last().unwrap();
        r = r.header(
            "Link",
            format!("</v2/{repo}/tags/list?n={n}&last={last}>; rel=\"next\""),
        );
    }
    r
}
