//! HTTP plumbing: response bodies, docker's JSON answers and errors,
//! query parameters, request bodies with limits.

mod body;
mod query;

pub use body::{channel, read_json, Body, BodySender};
pub use query::Query;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::StatusCode;
use serde::Serialize;

use crate::error::ApiError;

pub type Response = hyper::Response<Body>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

/// A JSON answer, encoded as docker's Go encoder does (a final newline).
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    let mut bytes = serde_json::to_vec(value).expect("serializing a JSON value");
    bytes.push(b'\n');
    let mut r = hyper::Response::new(full(bytes));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub fn ok_json<T: Serialize + ?Sized>(value: &T) -> Response {
    json(StatusCode::OK, value)
}

/// An answer with no body (`204 No Content`, or another status).
pub fn status(status: StatusCode) -> Response {
    let mut r = hyper::Response::new(empty());
    *r.status_mut() = status;
    r
}

/// A `200` whose body is streamed from the returned sender, as docker
/// streams events, logs and progress.
pub fn streamed(content_type: &'static str) -> (BodySender, Response) {
    let (tx, body) = channel(64);
    let mut r = hyper::Response::new(body);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    (tx, r)
}

/// Plain text, as docker answers `/_ping`.
pub fn text(status: StatusCode, body: &'static str) -> Response {
    let mut r = hyper::Response::new(full(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Docker's error body: `{"message": "..."}` with the error's status.
pub fn error(e: &ApiError) -> Response {
    json(e.status(), &serde_json::json!({ "message": e.to_string() }))
}
