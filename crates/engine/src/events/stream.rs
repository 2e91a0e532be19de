//! Reading the journal: past events from a time, then new ones as other
//! processes append them, until a time or for as long as the reader
//! wants. `berth events` and the API's `/events` both read through
//! [`Engine::events`].
//!
//! A follower waits on inotify for the store's write-ahead log to change
//! (every commit writes it) and then reads what came after the last event
//! it saw: no polling while nothing happens, and one indexed query per
//! commit while things do. Where inotify is unavailable it looks every
//! [`FALLBACK_POLL`].

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

use berth_store::Store;
use chrono::{DateTime, Utc};
use rustix::fs::inotify;

use super::filter::EventFilter;
use super::message::Message;
use crate::{Engine, EngineError};

/// How often a follower without inotify looks for new events.
const FALLBACK_POLL: Duration = Duration::from_millis(100);
/// Events read per query.
const BATCH: usize = 256;

/// What to read: `since` (past events from then on; none without it),
/// `until` (stop there; without it, follow new events for as long as the
/// reader reads), and which events.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub filter: EventFilter,
}

/// What [`EventStream::next_within`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextEvent {
    Event(Message),
    /// Nothing new within the time given; the stream goes on.
    Idle,
    /// `until` has passed: there will be nothing more.
    End,
}

/// Events in journal order, past ones first, then new ones as they come.
pub struct EventStream<'a> {
    store: &'a Store,
    filter: EventFilter,
    since_nano: i64,
    until_nano: Option<i64>,
    last_seq: i64,
    pending: VecDeque<Message>,
    wake: Option<Wake>,
    ended: bool,
}

fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt()
        .unwrap_or(if t.timestamp() < 0 { 0 } else { i64::MAX })
}

fn now_nanos() -> i64 {
    nanos(Utc::now())
}

impl Engine {
    /// The journal's events for `query`. As docker: with `since` or
    /// `until`, the past events from `since` (or the oldest kept) up to
    /// `until` first; then, unless `until` has passed, new events until
    /// then, or with no `until` for as long as the caller reads.
    pub fn events(&self, query: EventQuery) -> Result<EventStream<'_>, EngineError> {
        // Watching starts before the first read, so no commit falls in
        // between unseen.
        let wake = Wake::new(self.store.root());
        let past = query.since.is_some() || query.until.is_some();
        let last_seq = if past {
            0
        } else {
            self.store.last_event_seq()?
        };
        Ok(EventStream {
            store: &self.store,
            filter: query.filter,
            since_nano: query.since.map(nanos).unwrap_or(0),
            until_nano: query.until.map(nanos),
            last_seq,
            pending: VecDeque::new(),
            wake,
            ended: false,
        })
    }
}

impl EventStream<'_> {
    /// The next event, waiting at most `timeout` for one (a server checks
    /// in between whether its client is still there).
    pub fn next_within(&mut self, timeout: Duration) -> Result<NextEvent, EngineError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.pending.pop_front() {
                return Ok(NextEvent::Event(m));
            }
            if self.ended {
                return Ok(NextEvent::End);
            }
            if self.read_more()? {
                continue;
            }
            let mut wait = deadline.saturating_duration_since(Instant::now());
            if let Some(until) = self.until_nano {
                let left = until.saturating_sub(now_nanos());
                if left <= 0 {
                    // A commit made just before `until` may not have
                    // been read yet: one last look.
                    self.read_more()?;
                    self.ended = true;
                    continue;
                }
                wait = wait.min(Duration::from_nanos(left as u64));
            }
            if wait.is_zero() {
                return Ok(NextEvent::Idle);
            }
            match &self.wake {
                Some(w) => w.wait(wait),
                None => std::thread::sleep(wait.min(FALLBACK_POLL)),
            }
        }
    }

    /// Reads events after the last one seen; true if there were any.
    fn read_more(&mut self) -> Result<bool, EngineError> {
        let rows = self
            .store
            .events_after(self.last_seq, self.since_nano, BATCH)?;
        let any = !rows.is_empty();
        for row in rows {
            self.last_seq = row.seq;
            if self.until_nano.is_some_and(|u| row.time_nano > u) {
                self.ended = true;
                break;
            }
            let m = Message::from_record(row)?;
            if self.filter.matches(&m) {
                self.pending.push_back(m);
            }
        }
        Ok(any)
    }
}

impl Iterator for EventStream<'_> {
    type Item = Result<Message, EngineError>;

    /// Blocks until the next event; `None` once `until` has passed.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_within(Duration::from_secs(3600)) {
                Ok(NextEvent::Event(m)) => return Some(Ok(m)),
                Ok(NextEvent::Idle) => continue,
                Ok(NextEvent::End) => return None,
                Err(e) => {
                    self.ended = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// An inotify watch on the store's directory: its direct children are
/// the database and its write-ahead log, which every commit writes.
struct Wake {
    fd: OwnedFd,
}

impl Wake {
    fn new(root: &Path) -> Option<Wake> {
        let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
            .map_err(|e| tracing::debug!(error = %e, "no inotify: events are polled"))
            .ok()?;
        inotify::add_watch(
            &fd,
            root,
            inotify::WatchFlags::MODIFY | inotify::WatchFlags::CREATE,
        )
        .map_err(|e| tracing::debug!(error = %e, "no inotify watch: events are polled"))
        .ok()?;
        Some(Wake { fd })
    }

    /// Waits until something in the directory changed, or `timeout`.
    fn wait(&self, timeout: Duration) {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let timeout = Timespec::try_from(timeout).unwrap_or(Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        });
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        if !matches!(poll(&mut fds, Some(&timeout)), Ok(n) if n > 0) {
            return;
        }
        // What changed does not matter: the journal is read again.
        let mut buf = [0u8; 4096];
        while matches!(rustix::io::read(&self.fd, &mut buf), Ok(n) if n > 0) {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::events::{ContainerAction, ContainerActor, ContainerEvent, Event};
    use crate::Filters;

    fn event(name: &str, action: ContainerAction) -> Event {
        Event::Container(ContainerEvent {
            actor: ContainerActor {
                id: format!("{name}-id"),
                name: name.into(),
                image: "bb".into(),
                labels: BTreeMap::new(),
            },
            action,
        })
    }

    fn actions(stream: EventStream<'_>) -> Vec<String> {
        stream
            .map(|m| {
                let m = m.unwrap();
                format!("{} {}", m.actor.attributes["name"], m.action)
            })
            .collect()
    }

    #[test]
    fn past_events_between_since_and_until() {
        let t = tempfile::tempdir().unwrap();
        let engine = Engine::open(t.path()).unwrap();
        engine.emit(event("a", ContainerAction::Create));
        let middle = Utc::now();
        engine.emit(event("b", ContainerAction::Create));
        engine.emit(event("b", ContainerAction::Start));
        let end = Utc::now();
        engine.emit(event("c", ContainerAction::Create));
        let query = |since, filter: &[&str]| EventQuery {
            since,
            until: Some(end),
            filter: EventFilter::new(&Filters::from_cli(filter).unwrap()).unwrap(),
        };
        assert_eq!(
            actions(engine.events(query(None, &[])).unwrap()),
            ["a create", "b create", "b start"]
        );
        assert_eq!(
            actions(engine.events(query(Some(middle), &[])).unwrap()),
            ["b create", "b start"]
        );
        assert_eq!(
            actions(engine.events(query(None, &["event=start"])).unwrap()),
            ["b start"]
        );
    }

    #[test]
    fn a_follower_sees_what_another_handle_appends_and_stops_at_until() {
        let t = tempfile::tempdir().unwrap();
        let engine = Engine::open(t.path()).unwrap();
        engine.emit(event("old", ContainerAction::Create));
        let until = Utc::now() + chrono::Duration::milliseconds(500);
        let mut stream = engine
            .events(EventQuery {
                since: None,
                until: None,
                filter: EventFilter::default(),
            })
            .unwrap();
        assert_eq!(
            stream.next_within(Duration::from_millis(10)).unwrap(),
            NextEvent::Idle,
            "without since, only new events"
        );
        let root = t.path().to_path_buf();
        let writer = std::thread::spawn(move || {
            let other = Engine::open(&root).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            other.emit(event("new", ContainerAction::Start));
        });
        let started = Instant::now();
        match stream.next_within(Duration::from_secs(5)).unwrap() {
            NextEvent::Event(m) => assert_eq!(m.action, "start"),
            other => panic!("{other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "woken, not polled"
        );
        writer.join().unwrap();

        let mut bounded = engine
            .events(EventQuery {
                since: Some(until - chrono::Duration::seconds(60)),
                until: Some(until),
                filter: EventFilter::default(),
            })
            .unwrap();
        let mut seen = 0;
        loop {
            match bounded.next_within(Duration::from_secs(5)).unwrap() {
                NextEvent::Event(_) => seen += 1,
                NextEvent::End => break,
                NextEvent::Idle => panic!("until passed without an end"),
            }
        }
        assert_eq!(seen, 2);
        assert!(Utc::now() >= until);
    }
}
