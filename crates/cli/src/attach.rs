//! The terminal side of an attached container: output to stdout/stderr,
//! stdin to the container, the terminal in raw mode and its size passed on
//! for `-t`, signals passed on (`--sig-proxy`), and docker's detach keys.

use std::io::{IsTerminal, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use berth_engine::{AttachEvent, AttachInput, AttachSession, EngineError};
use rustix::termios::{tcgetattr, tcgetwinsize, tcsetattr, OptionalActions, Termios};

/// How to attach.
pub struct AttachOptions {
    /// Send this process's stdin to the container.
    pub stdin: bool,
    /// The container has a terminal.
    pub tty: bool,
    /// Pass the signals this process gets on to the container.
    pub sig_proxy: bool,
    /// The key sequence that detaches (docker's default: Ctrl-P Ctrl-Q).
    pub detach_keys: Vec<u8>,
}

/// Parses docker's `--detach-keys` (`ctrl-p,ctrl-q`, letters, `ctrl-@`...).
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>> {
    spec.split(',')
        .map(|key| {
            let key = key.trim();
            match key.strip_prefix("ctrl-") {
                Some(k) if k.len() == 1 => {
                    let c = k.as_bytes()[0].to_ascii_lowercase();
                    match c {
                        b'a'..=b'z' => Ok(c - b'a' + 1),
                        b'@' => Ok(0),
                        b'[' => Ok(27),
                        b'\\' => Ok(28),
                        b']' => Ok(29),
                        b'^' => Ok(30),
                        b'_' => Ok(31),
                        _ => bail!("invalid detach keys {spec:?}: unknown key {key:?}"),
                    }
                }
                None if key.len() == 1 => Ok(key.as_bytes()[0]),
                _ => bail!("invalid detach keys {spec:?}: unknown key {key:?}"),
            }
        })
        .collect()
}

/// The current size of this process's terminal, if it has one.
pub fn terminal_size() -> Option<(u16, u16)> {
    [
        tcgetwinsize(std::io::stdout()).ok(),
        tcgetwinsize(std::io::stdin()).ok(),
    ]
    .into_iter()
    .flatten()
    .next()
    .map(|w| (w.ws_row, w.ws_col))
}

/// Puts stdin's terminal in raw mode until dropped, so keys (Ctrl-C too)
/// reach the container's terminal as they are typed.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enable() -> Option<RawMode> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        tcsetattr(&stdin, OptionalActions::Now, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// Signals docker's CLI passes on with `--sig-proxy` (those a process can
/// catch, but not job control or SIGCHLD/SIGWINCH/SIGPIPE).
const PROXIED_SIGNALS: [i32; 7] = [
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGQUIT,
    signal_hook::consts::SIGUSR1,
    signal_hook::consts::SIGUSR2,
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGALRM,
];

/// Copies until the container exits (its code) or the detach keys are
/// typed (`None`).
pub fn attach(mut session: AttachSession, opts: AttachOptions) -> Result<Option<i32>> {
    let input = session.input();
    let detached = Arc::new(AtomicBool::new(false));
    let _raw = if opts.tty && opts.stdin {
        RawMode::enable()
    } else {
        None
    };
    if opts.tty {
        if let Some((rows, cols)) = terminal_size() {
            let _ = input.resize(rows, cols);
        }
        let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGWINCH])
            .context("watch the terminal size")?;
        let input = input.clone();
        std::thread::spawn(move || {
            for _ in signals.forever() {
                if let Some((rows, cols)) = terminal_size() {
                    let _ = input.resize(rows, cols);
                }
            }
        });
    } else if opts.sig_proxy {
        let mut signals =
            signal_hook::iterator::Signals::new(PROXIED_SIGNALS).context("forward signals")?;
        let input = input.clone();
        std::thread::spawn(move || {
            for signal in signals.forever() {
                let _ = input.signal(signal);
            }
        });
    }
    if opts.stdin {
        let input = input.clone();
        let detached = Arc::clone(&detached);
        let keys = if opts.tty {
            opts.detach_keys
        } else {
            Vec::new()
        };
        std::thread::spawn(move || copy_stdin(input, &keys, &detached));
    }
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    loop {
        match session.next_event() {
            Ok(Some(AttachEvent::Stdout(data))) => {
                let _ = stdout.write_all(&data);
                let _ = stdout.flush();
            }
            Ok(Some(AttachEvent::Stderr(data))) => {
                let _ = stderr.write_all(&data);
            }
            Ok(Some(AttachEvent::Exit(code))) => return Ok(Some(code)),
            Ok(Some(AttachEvent::Failed { failure, message })) => {
                return Err(EngineError::StartFailed { message, failure }.into())
            }
            Ok(Some(AttachEvent::Started)) => {}
            Ok(None) | Err(_) if detached.load(Ordering::SeqCst) => return Ok(None),
            Ok(None) => bail!("lost the connection to the container monitor"),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sends stdin to the container until it ends, or until `keys` are typed
/// one after the other (then detaches).
fn copy_stdin(input: AttachInput, keys: &[u8], detached: &AtomicBool) {
    let mut stdin = std::io::stdin().lock();
    let mut buf = [0u8; 8192];
    // How much of `keys` the last bytes matched; held back until decided.
    let mut matched = 0;
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut out = Vec::with_capacity(n);
        for &b in &buf[..n] {
            if !keys.is_empty() && b == keys[matched] {
                matched += 1;
                if matched == keys.len() {
                    detached.store(true, Ordering::SeqCst);
                    input.detach();
                    return;
                }
                continue;
            }
            out.extend_from_slice(&keys[..matched]);
            matched = 0;
            if !keys.is_empty() && b == keys[0] {
                matched = 1;
            } else {
                out.push(b);
            }
        }
        if !out.is_empty() && input.stdin(&out).is_err() {
            return;
        }
    }
    let _ = input.close_stdin();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_dockers() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), [16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-@,ctrl-[").unwrap(), [b'a', 0, 27]);
        let err = parse_detach_keys("ctrl-1").unwrap_err().to_string();
        assert!(err.contains("unknown key \"ctrl-1\""), "{err}");
        assert!(parse_detach_keys("ab").is_err());
    }
}
