//! Signals by number or name, as docker's signal table (Linux) has them.

use crate::RuntimeError;

/// A signal by number or name (`9`, `KILL`, `SIGKILL`, `RTMIN+3`), as
/// docker's signal table knows them.
pub fn parse_signal(s: &str) -> Result<i32, RuntimeError> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    const SIGNALS: [(&str, i32); 35] = [
        ("HUP", 1),
        ("INT", 2),
        ("QUIT", 3),
        ("ILL", 4),
        ("TRAP", 5),
        ("ABRT", 6),
        ("IOT", 6),
        ("BUS", 7),
        ("FPE", 8),
        ("KILL", 9),
        ("USR1", 10),
        ("SEGV", 11),
        ("USR2", 12),
        ("PIPE", 13),
        ("ALRM", 14),
        ("TERM", 15),
        ("STKFLT", 16),
        ("CHLD", 17),
        ("CONT", 18),
        ("STOP", 19),
        ("TSTP", 20),
        ("TTIN", 21),
        ("TTOU", 22),
        ("URG", 23),
        ("XCPU", 24),
        ("XFSZ", 25),
        ("VTALRM", 26),
        ("PROF", 27),
        ("WINCH", 28),
        ("IO", 29),
        ("POLL", 29),
        ("PWR", 30),
        ("SYS", 31),
        ("RTMIN", 34),
        ("RTMAX", 64),
    ];
    let realtime = |base: &str, sign: i32| {
        let n: i32 = name.strip_prefix(base)?.parse().ok()?;
        let signal = if sign > 0 { 34 + n } else { 64 - n };
        (1..=15).contains(&n).then_some(signal)
    };
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .or_else(|| realtime("RTMIN+", 1))
        .or_else(|| realtime("RTMAX-", -1))
        .ok_or_else(|| RuntimeError::InvalidSignal(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_realtime_signals() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("kill").unwrap(), 9);
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("RTMIN+3").unwrap(), 37);
        assert_eq!(parse_signal("SIGRTMAX-1").unwrap(), 63);
        for bad in ["0", "65", "SIGFOO", "RTMIN+16", ""] {
            assert_eq!(
                parse_signal(bad).unwrap_err().to_string(),
                format!("invalid signal: {bad}")
            );
        }
    }
}
