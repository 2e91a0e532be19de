//! The events journal: every state change, appended by whichever process
//! made it (a CLI command, a container's monitor, the API server), for
//! `berth events` and the API's `/events`.
//!
//! The store keeps events as docker sends them (type, action, actor ID,
//! attributes as a JSON object); the engine decides what they mean. Rows
//! are numbered in commit order (appends take the write lock), so a reader
//! that remembers the last number it saw misses nothing and sees nothing
//! twice. The journal keeps the last [`EVENTS_KEPT`]; older rows are
//! trimmed as new ones come.

use rusqlite::{params, Connection, OptionalExtension};

use crate::{Store, StoreError};

/// How many events the journal keeps (docker keeps 1,000, in memory).
pub const EVENTS_KEPT: i64 = 10_000;

/// Trimming runs on every this many appends, deleting that many rows at
/// once rather than one per append.
const TRIM_EVERY: i64 = 64;

pub(crate) const MIGRATION: &str = r#"
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    time_nano  INTEGER NOT NULL,
    type       TEXT NOT NULL,
    action     TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    attributes TEXT NOT NULL,
    scope      TEXT NOT NULL
);
"#;

/// An event to append. `attributes` is a JSON object of strings.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    pub kind: &'a str,
    pub action: &'a str,
    pub actor_id: &'a str,
    pub attributes: &'a str,
    pub scope: &'a str,
}

/// An event as the journal holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// Its place in the journal: larger is later.
    pub seq: i64,
    /// Nanoseconds since the epoch, taken when it was appended.
    pub time_nano: i64,
    pub kind: String,
    pub action: String,
    pub actor_id: String,
    /// A JSON object of strings.
    pub attributes: String,
    pub scope: String,
}

fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn append(c: &Connection, e: &NewEvent<'_>, keep: i64) -> Result<i64, StoreError> {
    c.execute(
        "INSERT INTO events (time_nano, type, action, actor_id, attributes, scope) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![now_nanos(), e.kind, e.action, e.actor_id, e.attributes, e.scope],
    )
    .map_err(|err| StoreError::db(format!("record event {} {}", e.kind, e.action), err))?;
    let seq = c.last_insert_rowid();
    if seq % TRIM_EVERY == 0 {
        c.execute("DELETE FROM events WHERE seq <= ?1", [seq - keep])
            .map_err(|err| StoreError::db("trim the events journal", err))?;
    }
    Ok(seq)
}

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRecord> {
    Ok(EventRecord {
        seq: r.get(0)?,
        time_nano: r.get(1)?,
        kind: r.get(2)?,
        action: r.get(3)?,
        actor_id: r.get(4)?,
        attributes: r.get(5)?,
        scope: r.get(6)?,
    })
}

pub(crate) fn after(
    c: &Connection,
    seq: i64,
    since_nano: i64,
    limit: usize,
) -> Result<Vec<EventRecord>, StoreError> {
    let mut stmt = c
        .prepare_cached(
            "SELECT seq, time_nano, type, action, actor_id, attributes, scope FROM events
             WHERE seq > ?1 AND time_nano >= ?2 ORDER BY seq LIMIT ?3",
        )
        .map_err(|e| StoreError::db("read the events journal", e))?;
    let rows = stmt
        .query_map(
            params![seq, since_nano, i64::try_from(limit).unwrap_or(i64::MAX)],
            event_row,
        )
        .map_err(|e| StoreError::db("read the events journal", e))?;
    rows.collect::<Result<_, _>>()
        .map_err(|e| StoreError::db("read the events journal", e))
}

impl Store {
    /// Appends an event, timed now; returns its place in the journal.
    /// The insert is a transaction of its own (SQLite's autocommit), so
    /// any handle can append, a shared one included; trimming is another.
    pub fn append_event(&self, event: &NewEvent<'_>) -> Result<i64, StoreError> {
        append(self.db.conn(), event, EVENTS_KEPT)
    }

    /// Up to `limit` events after `seq` that happened at `since_nano` or
    /// later, oldest first.
    pub fn events_after(
        &self,
        seq: i64,
        since_nano: i64,
        limit: usize,
    ) -> Result<Vec<EventRecord>, StoreError> {
        after(self.db.conn(), seq, since_nano, limit)
    }

    /// The place of the last event in the journal (0 when empty).
    pub fn last_event_seq(&self) -> Result<i64, StoreError> {
        self.db
            .conn()
            .query_row("SELECT MAX(seq) FROM events", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .optional()
            .map(|v| v.flatten().unwrap_or(0))
            .map_err(|e| StoreError::db("read the events journal", e))
    }

    /// The file whose changes say the database changed (every commit
    /// writes SQLite's write-ahead log), for a reader to wait on.
    pub fn change_marker(&self) -> std::path::PathBuf {
        self.root.join("berth.db-wal")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(action: &'a str, id: &'a str) -> NewEvent<'a> {
        NewEvent {
            kind: "container",
            action,
            actor_id: id,
            attributes: r#"{"name":"web"}"#,
            scope: "local",
        }
    }

    #[test]
    fn events_come_back_in_order_after_a_place() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path()).unwrap();
        assert_eq!(store.last_event_seq().unwrap(), 0);
        let a = store.append_event(&event("create", "c1")).unwrap();
        let b = store.append_event(&event("start", "c1")).unwrap();
        assert!(b > a);
        assert_eq!(store.last_event_seq().unwrap(), b);
        let all = store.events_after(0, 0, 100).unwrap();
        assert_eq!(
            all.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
            ["create", "start"]
        );
        assert!(all[0].time_nano <= all[1].time_nano);
        assert_eq!(all[1].attributes, r#"{"name":"web"}"#);
        let later = store.events_after(a, 0, 100).unwrap();
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].seq, b);
        assert!(store
            .events_after(0, all[1].time_nano + 1, 100)
            .unwrap()
            .is_empty());
        // Another handle on the same root (another process) sees them.
        let other = Store::open(t.path()).unwrap();
        assert_eq!(other.events_after(0, 0, 1).unwrap()[0].action, "create");
    }

    #[test]
    fn the_journal_keeps_the_last_events_only() {
        let t = tempfile::tempdir().unwrap();
        let mut store = Store::open(t.path()).unwrap();
        let keep = 100;
        let tx = store.db.write().unwrap();
        for i in 0..1000 {
            append(&tx, &event("start", &format!("c{i}")), keep).unwrap();
        }
        tx.commit().unwrap();
        let left = store.events_after(0, 0, usize::MAX).unwrap();
        assert!(
            left.len() as i64 >= keep && left.len() as i64 <= keep + TRIM_EVERY,
            "{} left",
            left.len()
        );
        assert_eq!(left.last().unwrap().actor_id, "c999", "the newest stay");
        assert_eq!(left.last().unwrap().seq, 1000);
    }
}
