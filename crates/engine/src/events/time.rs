//! The times `events --since/--until` (and `logs`, the API's `since` and
//! `until`) take, read as docker's CLI reads them.

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::EngineError;

/// Parses a time as docker does: a Go duration back from now (`10m`,
/// `1h30m`), Unix seconds with an optional fraction (`1700000000.5`, what
/// the docker CLI sends the API), an RFC 3339 time (`2026-12-07T11:42:17Z`,
/// with a fraction or an offset), or a date and time without a zone, taken
/// in local time (`2026-12-07`, `2026-12-07T11:42`).
pub fn parse_timestamp(value: &str) -> Result<DateTime<Utc>, EngineError> {
    parse_at(value, Utc::now())
}

fn parse_at(value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, EngineError> {
    let value = value.trim();
    let invalid = || {
        EngineError::Invalid(format!(
            "failed to parse value as time or duration: {value:?}"
        ))
    };
    if value != "0" {
        if let Ok(nanos) = berth_dockerfile::parse_go_duration(value) {
            let nanos = i64::try_from(nanos).map_err(|_| invalid())?;
            return Ok(now - chrono::Duration::nanoseconds(nanos));
        }
    }
    if let Some(t) = unix_time(value) {
        return t.ok_or_else(invalid);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = |naive: NaiveDateTime| {
        Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    };
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(value, format) {
            return local(naive).ok_or_else(invalid);
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return local(date.and_hms_opt(0, 0, 0).ok_or_else(invalid)?).ok_or_else(invalid);
    }
    Err(invalid())
}

/// `SECONDS[.FRACTION]`: `None` when it is not of that form, `Some(None)`
/// when it is but out of range.
fn unix_time(value: &str) -> Option<Option<DateTime<Utc>>> {
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    if secs.is_empty()
        || !secs.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 9
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    Some(DateTime::<Utc>::from_timestamp(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dockers_time_forms() {
        let now = DateTime::parse_from_rfc3339("2026-12-07T11:42:17Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |v: &str| parse_at(v, now).unwrap();
        assert_eq!(at("10m"), now - chrono::Duration::minutes(10));
        assert_eq!(at("1h30m"), now - chrono::Duration::minutes(90));
        assert_eq!(at("0").timestamp(), 0);
        assert_eq!(at("1700000000").timestamp(), 1_700_000_000);
        let frac = at("1700000000.5");
        assert_eq!(
            (frac.timestamp(), frac.timestamp_subsec_nanos()),
            (1_700_000_000, 500_000_000)
        );
        assert_eq!(
            at("2026-12-07T11:42:17.000000001Z").timestamp_subsec_nanos(),
            1
        );
        assert_eq!(at("2026-12-07T12:42:17+01:00"), now);
        let local = Local
            .from_local_datetime(
                &NaiveDate::from_ymd_opt(2026, 12, 7)
                    .unwrap()
                    .and_hms_opt(0, 0, 0)
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(at("2026-12-07"), local.with_timezone(&Utc));
        assert!(at("2026-12-07T11:42") > at("2026-12-07"));
        assert_eq!(
            parse_at("yesterday", now).unwrap_err().to_string(),
            "failed to parse value as time or duration: \"yesterday\""
        );
        assert!(parse_at("1.1234567890", now).is_err());
    }
}
