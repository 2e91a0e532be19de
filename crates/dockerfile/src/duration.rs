//! Go `time.ParseDuration` syntax (`1m30s`, `500ms`, `1.5h`), which is what
//! `HEALTHCHECK --interval` and friends accept in Docker.

use std::time::Duration;

/// Parses a Go duration into signed nanoseconds; errors use Go's wording.
pub fn parse_go_duration(text: &str) -> Result<i128, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        } else if int_len == 0 {
            return Err(invalid());
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: i128 = match unit {
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {text:?}")),
        };
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut nanos = whole.checked_mul(scale).ok_or_else(invalid)?;
        // Fractions beyond nanosecond precision are dropped, as in Go.
        let mut place = scale;
        for digit in frac_part.bytes() {
            place /= 10;
            if place == 0 {
                break;
            }
            nanos += i128::from(digit - b'0') * place;
        }
        total = total.checked_add(nanos).ok_or_else(invalid)?;
        if total > i128::from(i64::MAX) {
            return Err(invalid());
        }
    }
    Ok(if negative { -total } else { total })
}

/// A healthcheck interval: absent, empty or zero mean "use the default";
/// anything else must be at least Docker's 1ms minimum.
pub(crate) fn parse_interval(
    flag: &str,
    value: Option<String>,
) -> Result<Option<Duration>, String> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let nanos = parse_go_duration(&value)?;
    if nanos == 0 {
        return Ok(None);
    }
    if nanos < 1_000_000 {
        return Err(format!("interval {flag:?} cannot be less than 1ms"));
    }
    u64::try_from(nanos)
        .map(|n| Some(Duration::from_nanos(n)))
        .map_err(|_| format!("time: invalid duration {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration("30s"), Ok(30_000_000_000));
        assert_eq!(parse_go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration(".5s"), Ok(500_000_000));
        assert_eq!(parse_go_duration("500ms"), Ok(500_000_000));
        assert_eq!(parse_go_duration("2us"), Ok(2_000));
        assert_eq!(parse_go_duration("-1s"), Ok(-1_000_000_000));
        assert_eq!(
            parse_go_duration("10").unwrap_err(),
            "time: missing unit in duration \"10\""
        );
        assert_eq!(
            parse_go_duration("3x").unwrap_err(),
            "time: unknown unit \"x\" in duration \"3x\""
        );
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("s").is_err());
        assert!(parse_go_duration(".s").is_err());
        assert!(parse_go_duration("99999999999999999999h").is_err());
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("interval", None), Ok(None));
        assert_eq!(parse_interval("interval", Some("0s".into())), Ok(None));
        assert_eq!(
            parse_interval("interval", Some("5m".into())),
            Ok(Some(Duration::from_secs(300)))
        );
        assert_eq!(
            parse_interval("timeout", Some("10us".into())).unwrap_err(),
            "interval \"timeout\" cannot be less than 1ms"
        );
        assert!(parse_interval("timeout", Some("-5s".into())).is_err());
    }
}
