//! `GET /events`: the engine's journal, past events from `since`, then
//! new ones as they come until `until` (or until the client leaves), one
//! JSON object a line as docker streams them.

use std::time::Duration;

use berth_engine::{parse_timestamp, EventFilter, EventQuery, NextEvent};
use bytes::Bytes;

use crate::error::ApiError;
use crate::http::{self, Response};
use crate::Ctx;

/// How often a quiet stream checks that its client is still there.
const IDLE_CHECK: Duration = Duration::from_millis(500);

pub fn events(ctx: &Ctx) -> Result<Response, ApiError> {
    let time = |key: &str| {
        ctx.query
            .get(key)
            .filter(|v| !v.is_empty())
            .map(parse_timestamp)
            .transpose()
    };
    let query = EventQuery {
        since: time("since")?,
        until: time("until")?,
        filter: EventFilter::new(&ctx.query.filters()?)?,
    };
    let (tx, response) = http::streamed("application/json");
    ctx.engines.spawn_owned(move |engine| {
        let send_error = |e: &dyn std::fmt::Display| {
            let line = serde_json::json!({ "message": e.to_string() }).to_string() + "\n";
            let _ = tx.blocking_send(Bytes::from(line));
        };
        let engine = match engine {
            Ok(e) => e,
            Err(e) => return send_error(&e),
        };
        let mut stream = match engine.events(query) {
            Ok(s) => s,
            Err(e) => return send_error(&e),
        };
        loop {
            match stream.next_within(IDLE_CHECK) {
                Ok(NextEvent::Event(m)) => {
                    let line = m.to_json().to_string() + "\n";
                    if tx.blocking_send(Bytes::from(line)).is_err() {
                        return;
                    }
                }
                Ok(NextEvent::Idle) if tx.is_closed() => return,
                Ok(NextEvent::Idle) => {}
                Ok(NextEvent::End) => return,
                Err(e) => return send_error(&e),
            }
        }
    });
    Ok(response)
}
