//! Response bodies (whole or streamed from a channel) and request bodies
//! read under a size limit.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{combinators::BoxBody, BodyExt, Limited};
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::error::ApiError;

pub type Body = BoxBody<Bytes, io::Error>;

/// The sending side of a streamed response body. A send fails once the
/// client has gone (hyper drops the body), which is how producers learn
/// to stop.
pub type BodySender = mpsc::Sender<Bytes>;

struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

/// A body streamed from what is sent on the returned sender; it ends when
/// every sender is dropped.
pub fn channel(capacity: usize) -> (BodySender, Body) {
    let (tx, rx) = mpsc::channel(capacity);
    (tx, ChannelBody { rx }.boxed())
}

/// The whole request body, refused past `limit` bytes.
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::BodyTooLarge { limit })
        }
        Err(e) => Err(ApiError::bad_request(format!(
            "reading the request body: {e}"
        ))),
    }
}

/// Decodes a JSON request body, naming the field a wrong value is in.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            ApiError::bad_request(format!("invalid JSON in the request body: {inner}"))
        } else {
            ApiError::bad_request(format!(
                "invalid JSON in the request body: field {path}: {inner}"
            ))
        }
    })
}

/// A JSON request body under `limit` bytes.
pub async fn read_json<T: DeserializeOwned>(body: Incoming, limit: usize) -> Result<T, ApiError> {
    let bytes = read_body(body, limit).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty: JSON expected",
        ));
    }
    parse_json(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Config {
        #[serde(rename = "HostConfig")]
        host_config: Host,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Host {
        #[serde(rename = "Memory")]
        memory: i64,
    }

    #[test]
    fn wrong_types_name_the_field() {
        let e = parse_json::<Config>(br#"{"HostConfig": {"Memory": "lots"}}"#).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("field HostConfig.Memory"), "{msg}");
        assert!(msg.contains("invalid type: string"), "{msg}");
        assert_eq!(e.status().as_u16(), 400);
        let e = parse_json::<Config>(b"{not json").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("invalid JSON in the request body"));
    }
}
