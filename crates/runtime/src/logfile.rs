//! Docker's `json-file` log driver: one JSON record per output line,
//! `{"log":"hi\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`,
//! size-based rotation (`log`, `log.1`, ...), and the reader behind
//! `logs --tail/--since/--until/-t/-f`. Files stay byte-compatible with
//! docker's so existing tooling can read them.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;

use crate::units::parse_size;
use crate::RuntimeError;

/// Docker's copier buffer: longer lines are cut into partial records of
/// this size so one runaway line cannot hold the whole log in memory.
pub const MAX_LINE: usize = 16 * 1024;

/// How much of a log file is read at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Which output a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

/// `--log-opt` settings of the json-file driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// Rotate once the file reaches this many bytes; `None` never rotates.
    pub max_size: Option<u64>,
    /// Files kept in total, the live one included (docker's default 1).
    pub max_file: u32,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            max_size: None,
            max_file: 1,
        }
    }
}

impl LogOptions {
    /// Validates `--log-opt key=value` pairs with docker's messages.
    pub fn from_log_opts(opts: &BTreeMap<String, String>) -> Result<LogOptions, RuntimeError> {
        let mut options = LogOptions::default();
        for (key, value) in opts {
            match key.as_str() {
                "max-size" => {
                    let size = parse_size("max-size", value)?;
                    if size <= 0 {
                        return Err(RuntimeError::Log(
                            "max-size must be a positive number".into(),
                        ));
                    }
                    options.max_size = Some(size as u64);
                }
                "max-file" => {
                    let count: i64 = value.parse().map_err(|_| {
                        RuntimeError::Log(format!("max-file: invalid number {value:?}"))
                    })?;
                    if count < 1 {
                        return Err(RuntimeError::Log("max-file cannot be less than 1".into()));
                    }
                    options.max_file = u32::try_from(count)
                        .map_err(|_| RuntimeError::Log("max-file is too large".into()))?;
                }
                "compress" => match value.as_str() {
                    "false" | "0" => {}
                    _ => {
                        return Err(RuntimeError::Log(
                            "compress: compressed rotation is not supported".into(),
                        ))
                    }
                },
                other => {
                    return Err(RuntimeError::Log(format!(
                        "unknown log opt '{other}' for json-file log driver"
                    )))
                }
            }
        }
        Ok(options)
    }
}

/// The bytes of a line that has not seen its newline yet, and when it
/// started (every piece of one line carries that time, as in docker).
#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    since: Option<DateTime<Utc>>,
}

/// Appends a container's output to its json-file log.
pub struct JsonFileWriter {
    path: PathBuf,
    options: LogOptions,
    file: File,
    size: u64,
    pending: [Pending; 2],
}

impl JsonFileWriter {
    /// Opens (or creates) the log for appending, e.g. on container restart.
    pub fn open(path: &Path, options: LogOptions) -> Result<JsonFileWriter, RuntimeError> {
        let file = open_append(path)?;
        let size = file
            .metadata()
            .map_err(|e| RuntimeError::io("stat", path, e))?
            .len();
        Ok(JsonFileWriter {
            path: path.to_path_buf(),
            options,
            file,
            size,
            pending: Default::default(),
        })
    }

    /// Feeds raw output read at `now`; complete lines are written at once,
    /// a trailing fragment waits for its newline (or for [`Self::finish`]).
    pub fn write(
        &mut self,
        stream: Stream,
        data: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), RuntimeError> {
        let mut rest = data;
        while !rest.is_empty() {
            let pending = &mut self.pending[stream.index()];
            if pending.buf.is_empty() && pending.since.is_none() {
                pending.since = Some(now);
            }
            let room = MAX_LINE - pending.buf.len();
            let window = &rest[..room.min(rest.len())];
            if let Some(pos) = window.iter().position(|b| *b == b'\n') {
                pending.buf.extend_from_slice(&window[..=pos]);
                rest = &rest[pos + 1..];
                self.emit(stream, true)?;
            } else {
                pending.buf.extend_from_slice(window);
                rest = &rest[window.len()..];
                if pending.buf.len() == MAX_LINE {
                    self.emit(stream, false)?;
                }
            }
        }
        Ok(())
    }

    /// Writes fragments still waiting for a newline, as the output ended.
    pub fn finish(&mut self) -> Result<(), RuntimeError> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            if !self.pending[stream.index()].buf.is_empty() {
                self.emit(stream, true)?;
            }
        }
        Ok(())
    }

    /// Writes the pending bytes of `stream` as one record; `line_done`
    /// says whether the next record starts a new line (and a new time).
    fn emit(&mut self, stream: Stream, line_done: bool) -> Result<(), RuntimeError> {
        let pending = &mut self.pending[stream.index()];
        let time = pending.since.unwrap_or_else(Utc::now);
        let record = encode_record(&pending.buf, stream, time);
        pending.buf.clear();
        if line_done {
            pending.since = None;
        }
        if self.options.max_size.is_some_and(|max| self.size >= max) {
            self.rotate()?;
        }
        self.file
            .write_all(&record)
            .map_err(|e| RuntimeError::io("write", &self.path, e))?;
        self.size += record.len() as u64;
        Ok(())
    }

    /// `log` becomes `log.1`, `log.1` becomes `log.2`..., the oldest
    /// beyond `max-file` is overwritten; with `max-file=1` the log is
    /// simply truncated, as docker does.
    fn rotate(&mut self) -> Result<(), RuntimeError> {
        if self.options.max_file <= 1 {
            self.file
                .set_len(0)
                .map_err(|e| RuntimeError::io("truncate", &self.path, e))?;
        } else {
            for i in (1..self.options.max_file).rev() {
                let from = rotated_name(&self.path, i - 1);
                let to = rotated_name(&self.path, i);
                match std::fs::rename(&from, &to) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(RuntimeError::io("rename", from, e)),
                }
            }
            self.file = open_append(&self.path)?;
        }
        tracing::debug!(log = %self.path.display(), "rotated json-file log");
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> Result<File, RuntimeError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| RuntimeError::io("open", path, e))
}

/// `log` for 0, `log.N` otherwise.
fn rotated_name(path: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return path.to_path_buf();
    }
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn encode_record(log: &[u8], stream: Stream, time: DateTime<Utc>) -> Vec<u8> {
    let mut out = Vec::with_capacity(log.len() + 80);
    out.extend_from_slice(b"{\"log\":");
    write_json_string(&mut out, log);
    out.extend_from_slice(b",\"stream\":\"");
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(format_rfc3339_nano(time).as_bytes());
    out.extend_from_slice(b"\"}\n");
    out
}

/// Go's JSON string encoding, which docker's files use: HTML-sensitive
/// characters and U+2028/9 escaped, invalid UTF-8 replaced by U+FFFD.
fn write_json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\x1f' => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                }
                c => {
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
    out.push(b'"');
}

/// Go's RFC3339Nano in UTC: trailing zeros of the fraction dropped, as in
/// docker's `time` field.
pub fn format_rfc3339_nano(time: DateTime<Utc>) -> String {
    let base = time.format("%Y-%m-%dT%H:%M:%S");
    let nanos = time.timestamp_subsec_nanos().min(999_999_999);
    if nanos == 0 {
        return format!("{base}Z");
    }
    let fraction = format!("{nanos:09}");
    format!("{base}.{}Z", fraction.trim_end_matches('0'))
}

/// The fixed nine-digit form `logs -t` prints, so columns line up.
pub fn format_rfc3339_nano_fixed(time: DateTime<Utc>) -> String {
    let nanos = time.timestamp_subsec_nanos().min(999_999_999);
    format!("{}.{nanos:09}Z", time.format("%Y-%m-%dT%H:%M:%S"))
}

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub stream: Stream,
    pub time: DateTime<Utc>,
    /// The output bytes, newline included for complete lines.
    pub log: Vec<u8>,
}

impl LogEntry {
    /// What `logs` prints for this record, with `-t` timestamps if asked.
    pub fn render(&self, timestamps: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.log.len() + 32);
        if timestamps {
            out.extend_from_slice(format_rfc3339_nano_fixed(self.time).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&self.log);
        out
    }
}

#[derive(Deserialize)]
struct RawRecord {
    log: String,
    stream: String,
    time: DateTime<Utc>,
}

fn decode_record(line: &[u8]) -> Option<LogEntry> {
    let raw: RawRecord = match serde_json::from_slice(line) {
        Ok(raw) => raw,
        Err(e) => {
            tracing::warn!(error = %e, "skipping malformed json-file record");
            return None;
        }
    };
    let stream = match raw.stream.as_str() {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        other => {
            tracing::warn!(
                stream = other,
                "skipping json-file record of unknown stream"
            );
            return None;
        }
    };
    Some(LogEntry {
        stream,
        time: raw.time,
        log: raw.log.into_bytes(),
    })
}

/// What `logs` asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// `--tail N`: only the last N records of what is already written.
    pub tail: Option<usize>,
    /// `--since`: skip records before this time.
    pub since: Option<DateTime<Utc>>,
    /// `--until`: stop at the first record after this time.
    pub until: Option<DateTime<Utc>>,
}

/// Docker's time window: `since` filters only until the first record that
/// passes it (timestamps need not be monotonic), `until` ends the read.
struct Window {
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

enum Verdict {
    Skip,
    Emit,
    Stop,
}

impl Window {
    fn judge(&mut self, entry: &LogEntry) -> Verdict {
        if let Some(since) = self.since {
            if entry.time < since {
                return Verdict::Skip;
            }
            self.since = None;
        }
        if self.until.is_some_and(|until| entry.time > until) {
            return Verdict::Stop;
        }
        Verdict::Emit
    }
}

/// Reads the log and its rotated files, oldest first, and hands each
/// selected record to `emit`, which may stop the read early.
pub fn read_logs(
    path: &Path,
    options: &ReadOptions,
    emit: impl FnMut(&LogEntry) -> ControlFlow<()>,
) -> Result<(), RuntimeError> {
    Reader::new(path, options, emit).run(None::<fn() -> ControlFlow<()>>)
}

/// `logs -f`: like [`read_logs`], then keeps delivering new records. When
/// no new data is there it calls `poll`, which waits (or checks whether the
/// container still runs) and returns `Break` to end; a final read then
/// picks up what was written meanwhile. Rotation is followed.
pub fn follow_logs(
    path: &Path,
    options: &ReadOptions,
    emit: impl FnMut(&LogEntry) -> ControlFlow<()>,
    poll: impl FnMut() -> ControlFlow<()>,
) -> Result<(), RuntimeError> {
    Reader::new(path, options, emit).run(Some(poll))
}

/// Whether the live file changed under the reader.
enum Replaced {
    No,
    Yes,
    Stop,
}

/// The live log file being read.
struct Live {
    file: File,
    inode: u64,
    offset: u64,
    partial: Vec<u8>,
}

struct Reader<'a, E> {
    path: &'a Path,
    tail: Option<(usize, VecDeque<LogEntry>)>,
    window: Window,
    emit: E,
}

impl<'a, E: FnMut(&LogEntry) -> ControlFlow<()>> Reader<'a, E> {
    fn new(path: &'a Path, options: &ReadOptions, emit: E) -> Self {
        Reader {
            path,
            tail: options.tail.map(|n| (n, VecDeque::new())),
            window: Window {
                since: options.since,
                until: options.until,
            },
            emit,
        }
    }

    fn run(mut self, poll: Option<impl FnMut() -> ControlFlow<()>>) -> Result<(), RuntimeError> {
        let mut n = 1;
        let mut rotated = Vec::new();
        while rotated_name(self.path, n).exists() {
            rotated.push(rotated_name(self.path, n));
            n += 1;
        }
        for path in rotated.iter().rev() {
            let mut file = File::open(path).map_err(|e| RuntimeError::io("open", path, e))?;
            if self.pump(&mut file, &mut Vec::new(), path)?.1.is_break() {
                return Ok(());
            }
        }
        let mut live = self.open_live()?;
        if let Some(live) = live.as_mut() {
            if self.drain(live)?.is_break() {
                return Ok(());
            }
        }
        if let Some((_, buffered)) = self.tail.take() {
            for entry in buffered {
                if self.deliver(&entry).is_break() {
                    return Ok(());
                }
            }
        }
        let Some(mut poll) = poll else {
            return Ok(());
        };
        loop {
            if self.catch_up(&mut live)?.is_break() {
                return Ok(());
            }
            if poll().is_break() {
                // Whatever was written before the container went away;
                // stopping early or not, the follow ends here.
                let _ = self.catch_up(&mut live)?;
                return Ok(());
            }
        }
    }

    /// Reads everything available now, following rotations and
    /// truncations until the live file has nothing new.
    fn catch_up(&mut self, live: &mut Option<Live>) -> Result<ControlFlow<()>, RuntimeError> {
        loop {
            if let Some(current) = live.as_mut() {
                if self.drain(current)?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
            match self.check_replaced(live)? {
                Replaced::No => return Ok(ControlFlow::Continue(())),
                Replaced::Yes => {}
                Replaced::Stop => return Ok(ControlFlow::Break(())),
            }
        }
    }

    /// Notices rotation (a new inode at the path), truncation in place, or
    /// a log that appeared; finishes the old file and moves to the new one.
    fn check_replaced(&mut self, live: &mut Option<Live>) -> Result<Replaced, RuntimeError> {
        let meta = match std::fs::metadata(self.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Replaced::No),
            Err(e) => return Err(RuntimeError::io("stat", self.path, e)),
        };
        match live.as_mut() {
            Some(current) if current.inode == meta.ino() => {
                if meta.len() >= current.offset {
                    return Ok(Replaced::No);
                }
                current.offset = 0;
                current.partial.clear();
                current
                    .file
                    .seek(SeekFrom::Start(0))
                    .map_err(|e| RuntimeError::io("seek", self.path, e))?;
            }
            Some(old) => {
                // The writer may have appended to the old file right before
                // renaming it: finish it first.
                if self.drain(old)?.is_break() {
                    return Ok(Replaced::Stop);
                }
                *live = self.open_live()?;
            }
            None => *live = self.open_live()?,
        }
        Ok(Replaced::Yes)
    }

    fn open_live(&self) -> Result<Option<Live>, RuntimeError> {
        let file = match File::open(self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(RuntimeError::io("open", self.path, e)),
        };
        let inode = file
            .metadata()
            .map_err(|e| RuntimeError::io("stat", self.path, e))?
            .ino();
        Ok(Some(Live {
            file,
            inode,
            offset: 0,
            partial: Vec::new(),
        }))
    }

    /// Reads whatever was appended since the last call; an unfinished last
    /// line is kept for the next call.
    fn drain(&mut self, live: &mut Live) -> Result<ControlFlow<()>, RuntimeError> {
        let (read, flow) = self.pump(&mut live.file, &mut live.partial, self.path)?;
        live.offset += read;
        Ok(flow)
    }

    /// Reads `file` to its current end in bounded chunks, so a huge log
    /// without rotation never has to fit in memory, handing complete lines
    /// on as they arrive. Returns the bytes read.
    fn pump(
        &mut self,
        file: &mut File,
        partial: &mut Vec<u8>,
        path: &Path,
    ) -> Result<(u64, ControlFlow<()>), RuntimeError> {
        let mut chunk = vec![0u8; READ_CHUNK];
        let mut total = 0u64;
        loop {
            let n = match file.read(&mut chunk) {
                Ok(0) => return Ok((total, ControlFlow::Continue(()))),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(RuntimeError::io("read", path, e)),
            };
            total += n as u64;
            partial.extend_from_slice(&chunk[..n]);
            if let Some(pos) = partial.iter().rposition(|b| *b == b'\n') {
                let lines: Vec<u8> = partial.drain(..=pos).collect();
                if self.take_lines(&lines).is_break() {
                    return Ok((total, ControlFlow::Break(())));
                }
            }
        }
    }

    fn take_lines(&mut self, bytes: &[u8]) -> ControlFlow<()> {
        for line in bytes.split(|b| *b == b'\n') {
            if line.is_empty() {
                continue;
            }
            let Some(entry) = decode_record(line) else {
                continue;
            };
            match self.tail.as_mut() {
                Some((n, buffered)) => {
                    buffered.push_back(entry);
                    if buffered.len() > *n {
                        buffered.pop_front();
                    }
                }
                None => self.deliver(&entry)?,
            }
        }
        ControlFlow::Continue(())
    }

    fn deliver(&mut self, entry: &LogEntry) -> ControlFlow<()> {
        match self.window.judge(entry) {
            Verdict::Skip => ControlFlow::Continue(()),
            Verdict::Emit => (self.emit)(entry),
            Verdict::Stop => ControlFlow::Break(()),
        }
    }
}

/// Parses `--since`/`--until` like docker: a Go duration before `now`
/// ("10m", "1h30m"), an RFC 3339 time, a local date or date-time (in
/// `local`), or Unix seconds with an optional fraction.
pub fn parse_log_time(
    field: &str,
    value: &str,
    now: DateTime<Utc>,
    local: FixedOffset,
) -> Result<DateTime<Utc>, RuntimeError> {
    let invalid = || {
        RuntimeError::invalid(
            field,
            format!("failed to parse value as time or duration: {value:?}"),
        )
    };
    if value != "0" {
        if let Some(nanos) = parse_go_duration(value) {
            return now
                .checked_sub_signed(chrono::TimeDelta::nanoseconds(nanos))
                .ok_or_else(invalid);
        }
    }
    let zoned = value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3;
    if value.contains('-') {
        let parsed = if zoned {
            parse_zoned(value)
        } else {
            parse_local(value, local)
        };
        return parsed.ok_or_else(invalid);
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = secs.parse().map_err(|_| invalid())?;
    let nanos: u32 = if frac.is_empty() {
        0
    } else if frac.len() <= 9 && frac.bytes().all(|b| b.is_ascii_digit()) {
        format!("{frac:0<9}").parse().map_err(|_| invalid())?
    } else {
        return Err(invalid());
    };
    DateTime::from_timestamp(secs, nanos).ok_or_else(invalid)
}

fn parse_zoned(value: &str) -> Option<DateTime<Utc>> {
    let normalized = match value.strip_suffix(['z', 'Z']) {
        Some(head) => format!("{head}+00:00"),
        None => value.to_string(),
    };
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M%:z",
        "%Y-%m-%dT%H%:z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(&normalized, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    // Date only: "2006-01-02Z07:00".
    let (date, offset) = normalized.split_at(normalized.len().checked_sub(6)?);
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let offset = DateTime::parse_from_str(
        &format!("2000-01-01T00:00:00{offset}"),
        "%Y-%m-%dT%H:%M:%S%:z",
    )
    .ok()?
    .offset()
    .to_owned();
    offset
        .from_local_datetime(&date.and_hms_opt(0, 0, 0)?)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

fn parse_local(value: &str, local: FixedOffset) -> Option<DateTime<Utc>> {
    let naive = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    local
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// Go's `time.ParseDuration`: an optional sign, then one or more decimal
/// numbers each with a unit (ns, us, µs, ms, s, m, h). Returns nanoseconds.
fn parse_go_duration(value: &str) -> Option<i64> {
    let (negative, mut rest) = match value.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        if number.is_empty() || number == "." {
            return None;
        }
        let amount: f64 = number.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += amount * scale;
        rest = tail;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let nanos = total.round() as i64;
    Some(if negative { -nanos } else { nanos })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, nanos).unwrap()
    }

    fn lines(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn read_all(path: &Path, options: &ReadOptions) -> Vec<LogEntry> {
        let mut out = Vec::new();
        read_logs(path, options, |e| {
            out.push(e.clone());
            ControlFlow::Continue(())
        })
        .unwrap();
        out
    }

    fn text(entries: &[LogEntry]) -> String {
        entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.log).into_owned())
            .collect()
    }

    #[test]
    fn records_are_byte_compatible_with_docker() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = JsonFileWriter::open(&path, LogOptions::default()).unwrap();
        w.write(Stream::Stdout, b"hello\n", at(0, 123_456_789))
            .unwrap();
        w.write(Stream::Stderr, b"oops \"<&>\"\t\x01\n", at(1, 500_000_000))
            .unwrap();
        let raw = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            raw,
            "{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\"2023-11-14T22:13:20.123456789Z\"}\n\
             {\"log\":\"oops \\\"\\u003c\\u0026\\u003e\\\"\\t\\u0001\\n\",\"stream\":\"stderr\",\"time\":\"2023-11-14T22:13:21.5Z\"}\n"
        );
    }

    #[test]
    fn time_formats() {
        assert_eq!(format_rfc3339_nano(at(0, 0)), "2023-11-14T22:13:20Z");
        assert_eq!(
            format_rfc3339_nano(at(0, 1_000)),
            "2023-11-14T22:13:20.000001Z"
        );
        assert_eq!(
            format_rfc3339_nano_fixed(at(0, 1_000)),
            "2023-11-14T22:13:20.000001000Z"
        );
        assert_eq!(
            format_rfc3339_nano_fixed(at(0, 0)),
            "2023-11-14T22:13:20.000000000Z"
        );
    }

    #[test]
    fn invalid_utf8_becomes_replacement_character() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = JsonFileWriter::open(&path, LogOptions::default()).unwrap();
        w.write(Stream::Stdout, b"a\xffb \xe2\x80\xa8\n", at(0, 0))
            .unwrap();
        let raw = std::fs::read_to_string(&path).unwrap();
        assert!(raw.contains(r#""log":"a\ufffdb \u2028\n""#), "{raw}");
        assert_eq!(
            read_all(&path, &ReadOptions::default())[0].log,
            "a\u{fffd}b \u{2028}\n".as_bytes()
        );
    }

    #[test]
    fn lines_split_across_writes_keep_their_first_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = JsonFileWriter::open(&path, LogOptions::default()).unwrap();
        w.write(Stream::Stdout, b"hel", at(0, 0)).unwrap();
        w.write(Stream::Stderr, b"err\n", at(1, 0)).unwrap();
        w.write(Stream::Stdout, b"lo\nnext\nta", at(2, 0)).unwrap();
        w.write(Stream::Stdout, b"il", at(3, 0)).unwrap();
        w.finish().unwrap();
        let recs = lines(&path);
        let got: Vec<(String, String, String)> = recs
            .iter()
            .map(|r| {
                (
                    r["log"].as_str().unwrap().to_string(),
                    r["stream"].as_str().unwrap().to_string(),
                    r["time"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let t = |s| format_rfc3339_nano(at(s, 0));
        assert_eq!(
            got,
            [
                ("err\n".into(), "stderr".into(), t(1)),
                ("hello\n".into(), "stdout".into(), t(0)),
                ("next\n".into(), "stdout".into(), t(2)),
                ("tail".into(), "stdout".into(), t(2)),
            ]
        );
    }

    #[test]
    fn long_lines_become_16k_partials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = JsonFileWriter::open(&path, LogOptions::default()).unwrap();
        let mut line = vec![b'x'; MAX_LINE * 2 + 10];
        line.push(b'\n');
        w.write(Stream::Stdout, &line, at(0, 0)).unwrap();
        let recs = lines(&path);
        let sizes: Vec<usize> = recs
            .iter()
            .map(|r| r["log"].as_str().unwrap().len())
            .collect();
        assert_eq!(sizes, [MAX_LINE, MAX_LINE, 11]);
        assert!(!recs[0]["log"].as_str().unwrap().ends_with('\n'));
        // Reading concatenates back to the original output.
        assert_eq!(
            text(&read_all(&path, &ReadOptions::default())).into_bytes(),
            line
        );
    }

    #[test]
    fn rotation_renames_and_keeps_max_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let options = LogOptions::from_log_opts(&BTreeMap::from([
            ("max-size".to_string(), "1k".to_string()),
            ("max-file".to_string(), "3".to_string()),
        ]))
        .unwrap();
        assert_eq!(
            options,
            LogOptions {
                max_size: Some(1024),
                max_file: 3
            }
        );
        let mut w = JsonFileWriter::open(&path, options).unwrap();
        for i in 0..100 {
            w.write(
                Stream::Stdout,
                format!("line {i:03} {}\n", "x".repeat(40)).as_bytes(),
                at(i, 0),
            )
            .unwrap();
        }
        assert!(path.exists());
        assert!(rotated_name(&path, 1).exists());
        assert!(rotated_name(&path, 2).exists());
        assert!(!rotated_name(&path, 3).exists());
        for n in 0..3 {
            let len = std::fs::metadata(rotated_name(&path, n)).unwrap().len();
            assert!(len < 1024 + 120, "file {n} is {len} bytes");
        }
        // Oldest first across files, newest record last, no gaps in between.
        let entries = read_all(&path, &ReadOptions::default());
        let numbers: Vec<i64> = entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.log)[5..8].parse().unwrap())
            .collect();
        assert_eq!(*numbers.last().unwrap(), 99);
        assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1));
        assert!(numbers.len() > 20);
    }

    #[test]
    fn max_file_one_truncates_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let options = LogOptions {
            max_size: Some(200),
            max_file: 1,
        };
        let mut w = JsonFileWriter::open(&path, options).unwrap();
        for i in 0..10 {
            w.write(
                Stream::Stdout,
                format!("{i}{}\n", "y".repeat(60)).as_bytes(),
                at(i, 0),
            )
            .unwrap();
        }
        assert!(!rotated_name(&path, 1).exists());
        assert!(std::fs::metadata(&path).unwrap().len() < 400);
    }

    #[test]
    fn log_opts_use_docker_messages() {
        let opts = |k: &str, v: &str| {
            LogOptions::from_log_opts(&BTreeMap::from([(k.to_string(), v.to_string())]))
                .map_err(|e| e.to_string())
        };
        assert_eq!(opts("max-size", "10m").unwrap().max_size, Some(10 << 20));
        assert_eq!(
            opts("max-file", "0").unwrap_err(),
            "max-file cannot be less than 1"
        );
        assert_eq!(
            opts("max-size", "0").unwrap_err(),
            "max-size must be a positive number"
        );
        assert!(opts("max-size", "ten")
            .unwrap_err()
            .contains("invalid size"));
        assert_eq!(
            opts("labels-regex", "x").unwrap_err(),
            "unknown log opt 'labels-regex' for json-file log driver"
        );
        assert!(opts("compress", "false").is_ok());
        assert!(opts("compress", "true").is_err());
    }

    fn sample(path: &Path) {
        let mut w = JsonFileWriter::open(path, LogOptions::default()).unwrap();
        for i in 0..10 {
            let stream = if i % 3 == 0 {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            w.write(stream, format!("{i}\n").as_bytes(), at(i, 0))
                .unwrap();
        }
    }

    #[test]
    fn tail_since_and_until() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        sample(&path);
        let read = |o: ReadOptions| text(&read_all(&path, &o));
        assert_eq!(
            read(ReadOptions::default()),
            "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n"
        );
        assert_eq!(
            read(ReadOptions {
                tail: Some(3),
                ..Default::default()
            }),
            "7\n8\n9\n"
        );
        assert_eq!(
            read(ReadOptions {
                tail: Some(0),
                ..Default::default()
            }),
            ""
        );
        assert_eq!(
            read(ReadOptions {
                tail: Some(100),
                ..Default::default()
            })
            .len(),
            20
        );
        assert_eq!(
            read(ReadOptions {
                since: Some(at(7, 0)),
                ..Default::default()
            }),
            "7\n8\n9\n"
        );
        assert_eq!(
            read(ReadOptions {
                until: Some(at(2, 0)),
                ..Default::default()
            }),
            "0\n1\n2\n"
        );
        assert_eq!(
            read(ReadOptions {
                since: Some(at(3, 0)),
                until: Some(at(5, 0)),
                tail: None
            }),
            "3\n4\n5\n"
        );
        // Docker applies --tail to the file first, then the time window.
        assert_eq!(
            read(ReadOptions {
                tail: Some(4),
                since: Some(at(2, 0)),
                until: Some(at(7, 0))
            }),
            "6\n7\n"
        );
    }

    #[test]
    fn streams_and_timestamps_render() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        sample(&path);
        let entries = read_all(
            &path,
            &ReadOptions {
                tail: Some(2),
                ..Default::default()
            },
        );
        assert_eq!(entries[0].stream, Stream::Stdout);
        assert_eq!(entries[1].stream, Stream::Stderr);
        assert_eq!(entries[1].render(false), b"9\n");
        assert_eq!(
            entries[1].render(true),
            b"2023-11-14T22:13:29.000000000Z 9\n"
        );
    }

    #[test]
    fn logs_larger_than_a_read_chunk_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = JsonFileWriter::open(&path, LogOptions::default()).unwrap();
        for i in 0..3000 {
            w.write(
                Stream::Stdout,
                format!("{i:05} {}\n", "z".repeat(50)).as_bytes(),
                at(i, 0),
            )
            .unwrap();
        }
        assert!(std::fs::metadata(&path).unwrap().len() > 3 * READ_CHUNK as u64);
        let all = read_all(&path, &ReadOptions::default());
        assert_eq!(all.len(), 3000);
        assert!(all
            .iter()
            .enumerate()
            .all(|(i, e)| e.log.starts_with(format!("{i:05} ").as_bytes())));
        let tail = read_all(
            &path,
            &ReadOptions {
                tail: Some(2),
                ..Default::default()
            },
        );
        assert!(tail[1].log.starts_with(b"02999 "));
    }

    #[test]
    fn emit_can_stop_the_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        sample(&path);
        let mut seen = 0;
        read_logs(&path, &ReadOptions::default(), |_| {
            seen += 1;
            if seen == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        assert_eq!(seen, 2);
    }

    #[test]
    fn malformed_and_unfinished_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        sample(&path);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"not json\n{\"log\":\"x\",\"stream\":\"stdin\",\"time\":\"2023-11-14T22:13:20Z\"}\n{\"log\":\"half").unwrap();
        assert_eq!(read_all(&path, &ReadOptions::default()).len(), 10);
        assert!(read_all(&dir.path().join("missing"), &ReadOptions::default()).is_empty());
    }

    #[test]
    fn follow_delivers_new_records_and_survives_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let options = LogOptions {
            max_size: Some(300),
            max_file: 3,
        };
        let mut w = JsonFileWriter::open(&path, options).unwrap();
        w.write(Stream::Stdout, b"before-0\nbefore-1\n", at(0, 0))
            .unwrap();
        let mut polls = 0;
        let mut next = 0;
        let mut got = Vec::new();
        follow_logs(
            &path,
            &ReadOptions {
                tail: Some(1),
                ..Default::default()
            },
            |e| {
                got.push(String::from_utf8_lossy(&e.log).trim_end().to_string());
                ControlFlow::Continue(())
            },
            || {
                polls += 1;
                if polls > 6 {
                    // Written after the last poll: the final drain sees it.
                    w.write(Stream::Stdout, b"last\n", at(99, 0)).unwrap();
                    return ControlFlow::Break(());
                }
                // Each round writes enough to force a rotation now and then,
                // and half a line that is finished in the next round.
                for _ in 0..2 {
                    w.write(
                        Stream::Stdout,
                        format!("after-{next}\n").as_bytes(),
                        at(next, 0),
                    )
                    .unwrap();
                    next += 1;
                }
                ControlFlow::Continue(())
            },
        )
        .unwrap();
        let mut expected = vec!["before-1".to_string()];
        expected.extend((0..12).map(|i| format!("after-{i}")));
        expected.push("last".to_string());
        assert_eq!(got, expected);
        assert!(
            rotated_name(&path, 1).exists(),
            "the test must exercise rotation"
        );
    }

    #[test]
    fn follow_sees_partial_writes_complete_and_stops_at_until() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let rec = |t: i64, s: &str| {
            String::from_utf8(encode_record(s.as_bytes(), Stream::Stdout, at(t, 0))).unwrap()
        };
        let r1 = rec(1, "one\n");
        let r2 = rec(2, "two\n");
        let r3 = rec(9, "late\n");
        let mut step = 0;
        let mut got = Vec::new();
        follow_logs(
            &path,
            &ReadOptions {
                until: Some(at(5, 0)),
                ..Default::default()
            },
            |e| {
                got.push(String::from_utf8_lossy(&e.log).into_owned());
                ControlFlow::Continue(())
            },
            || {
                step += 1;
                match step {
                    1 => f.write_all(&r1.as_bytes()[..10]).unwrap(),
                    2 => f.write_all(&r1.as_bytes()[10..]).unwrap(),
                    3 => f.write_all(format!("{r2}{r3}").as_bytes()).unwrap(),
                    _ => panic!("until should have ended the follow"),
                }
                ControlFlow::Continue(())
            },
        )
        .unwrap();
        assert_eq!(got, ["one\n", "two\n"]);
    }

    #[test]
    fn follow_waits_for_the_log_to_appear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut polls = 0;
        let mut got = 0;
        follow_logs(
            &path,
            &ReadOptions::default(),
            |_| {
                got += 1;
                ControlFlow::Continue(())
            },
            || {
                polls += 1;
                if polls == 2 {
                    let mut w = JsonFileWriter::open(&path, LogOptions::default()).unwrap();
                    w.write(Stream::Stdout, b"hi\n", at(0, 0)).unwrap();
                }
                if polls == 4 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .unwrap();
        assert_eq!(got, 1);
    }

    #[test]
    fn since_and_until_parse_like_docker() {
        let now = at(0, 0);
        let utc = FixedOffset::east_opt(0).unwrap();
        let p = |v: &str| parse_log_time("--since", v, now, utc);
        assert_eq!(p("10m").unwrap(), at(-600, 0));
        assert_eq!(p("1h30m").unwrap(), at(-5400, 0));
        assert_eq!(p("1.5s").unwrap(), at(-2, 500_000_000));
        assert_eq!(p("250ms").unwrap(), at(-1, 750_000_000));
        assert_eq!(p("0").unwrap(), DateTime::from_timestamp(0, 0).unwrap());
        assert_eq!(p("1700000000").unwrap(), at(0, 0));
        assert_eq!(p("1700000000.5").unwrap(), at(0, 500_000_000));
        assert_eq!(p("2023-11-14T22:13:20Z").unwrap(), at(0, 0));
        assert_eq!(p("2023-11-14T22:13:20.25Z").unwrap(), at(0, 250_000_000));
        assert_eq!(p("2023-11-14T23:13:20+01:00").unwrap(), at(0, 0));
        assert_eq!(p("2023-11-14T21:13:20-01:00").unwrap(), at(0, 0));
        assert_eq!(p("2023-11-14T22:13:20").unwrap(), at(0, 0));
        assert_eq!(p("2023-11-14T22:13").unwrap(), at(-20, 0));
        assert_eq!(
            p("2023-11-14").unwrap(),
            DateTime::parse_from_rfc3339("2023-11-14T00:00:00Z").unwrap()
        );
        assert_eq!(
            p("2023-11-14Z").unwrap(),
            DateTime::parse_from_rfc3339("2023-11-14T00:00:00Z").unwrap()
        );
        let cet = FixedOffset::east_opt(3600).unwrap();
        assert_eq!(
            parse_log_time("--since", "2023-11-14T23:13:20", now, cet).unwrap(),
            at(0, 0)
        );
        for bad in ["yesterday", "10x", "2023-13-45", "1.2.3", ""] {
            let err = p(bad).unwrap_err().to_string();
            assert_eq!(
                err,
                format!("invalid --since: failed to parse value as time or duration: {bad:?}")
            );
        }
    }
}
