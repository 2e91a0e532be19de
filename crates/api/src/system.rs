//! `/_ping`, `/version`, `/info`, `/auth`; `/system/df` and `/events`.

use berth_engine::Engine;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CACHE_CONTROL, PRAGMA};
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::http::{self, Response};
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

/// `GET /version`: the engine's, which needs no state.
pub fn version() -> Response {
    http::ok_json(&Engine::version())
}

/// `GET /info`.
pub async fn info(ctx: &Ctx) -> Result<Response, ApiError> {
    let info = ctx.engines.run(|engine| Ok(engine.info()?)).await?;
    Ok(http::ok_json(&info))
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
