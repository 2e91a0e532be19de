//! `/_ping`, `/version`, `/auth`; `/info`, `/system/df` and `/events`.

use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CACHE_CONTROL, PRAGMA};
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::http::{self, Response};
use crate::version::{MAX_API_VERSION, MIN_API_VERSION};
use crate::Ctx;

/// What JSON bodies of small requests may weigh (docker reads them
/// whole too; this keeps a client from making berth hold gigabytes).
pub const JSON_LIMIT: usize = 4 << 20;

/// `GET`/`HEAD /_ping`: `OK`, with the headers clients read to choose an
/// API version and a builder (`Builder-Version: 1` is the classic one).
pub fn ping(head: bool) -> Response {
    let mut r = if head {
        http::status(StatusCode::OK)
    } else {
        http::text(StatusCode::OK, "OK")
    };
    let h = r.headers_mut();
    h.insert(
        HeaderName::from_static("builder-version"),
        HeaderValue::from_static("1"),
    );
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// docker's name for this machine's architecture (Go's GOARCH).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn kernel_version() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

/// `GET /version`.
pub fn version() -> Response {
    let version = env!("CARGO_PKG_VERSION");
    let kernel = kernel_version();
    let arch = go_arch();
    http::ok_json(&json!({
        "Platform": { "Name": "berth" },
        "Components": [{
            "Name": "Engine",
            "Version": version,
            "Details": {
                "ApiVersion": MAX_API_VERSION.to_string(),
                "Arch": arch,
                "Experimental": "false",
                "GitCommit": "",
                "KernelVersion": kernel,
                "MinAPIVersion": MIN_API_VERSION.to_string(),
                "Os": "linux",
            },
        }],
        "Version": version,
        "ApiVersion": MAX_API_VERSION.to_string(),
        "MinAPIVersion": MIN_API_VERSION.to_string(),
        "GitCommit": "",
        "GoVersion": "",
        "Os": "linux",
        "Arch": arch,
        "KernelVersion": kernel,
        "Experimental": false,
    }))
}

#[derive(Deserialize, Default)]
struct AuthConfig {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default, rename = "serveraddress")]
    server_address: String,
}

/// `POST /auth`: checks the credentials with the registry; the client
/// keeps them (docker's daemon stores nothing either).
pub async fn auth(ctx: &Ctx, body: Incoming) -> Result<Response, ApiError> {
    let config: AuthConfig = http::read_json(body, JSON_LIMIT).await?;
    ctx.engines
        .run(move |_| {
            berth_engine::check_login(
                &config.server_address,
                &config.username,
                &config.password,
                &Default::default(),
            )
            .map_err(ApiError::from)
        })
        .await?;
    Ok(http::ok_json(
        &json!({ "Status": "Login Succeeded", "IdentityToken": "" }),
    ))
}
