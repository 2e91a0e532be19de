//! Output formatting as the docker CLI does it: human sizes and durations,
//! `--format` templates, `table` layouts aligned like Go's tabwriter, and
//! `--format json`.

use std::io::Write;

use anyhow::{Context, Result};
use berth_template::{align_tabs, table_body, unescape_format, Template};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// go-units `HumanSizeWithPrecision(size, 3)`: decimal units, 3 significant
/// digits ("4.26MB", "999B", "1.5kB").
pub fn human_size(size: u64) -> String {
    human_size_precision(size, 3)
}

/// go-units `HumanSize`: 4 significant digits ("1.984MB"), as `system df
/// -v` prints shared and unique sizes.
pub fn human_size4(size: u64) -> String {
    human_size_precision(size, 4)
}

fn human_size_precision(size: u64, precision: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = size as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", format_g(v, precision), UNITS[i])
}

/// go-units `BytesSize`: binary units, four significant digits
/// ("64MiB", "1.953KiB").
pub fn binary_size(size: u64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut v = size as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", significant_digits(v, 4), UNITS[i])
}

/// Go's `%.Ng` for 0 <= v < 10000: N significant digits, trailing zeros
/// dropped.
fn significant_digits(v: f64, digits: usize) -> String {
    let int_digits = |x: f64| if x < 1.0 { 1 } else { x.log10() as usize + 1 };
    let decimals = digits.saturating_sub(int_digits(v));
    let mut s = format!("{v:.decimals$}");
    // Rounding may carry into a new digit (9.9996 -> "10.000"): re-round.
    if decimals > 0 && int_digits(s.parse().unwrap_or(v)) > int_digits(v) {
        s = format!("{v:.prec$}", prec = decimals - 1);
    }
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Renders one value with a `--format` template, or as JSON for `json`
/// (`info`, `version`).
pub fn print_value(format: &str, value: &Value) -> Result<()> {
    let format = unescape_format(format);
    let mut out = if format == "json" {
        go_json(value)
    } else {
        let t = Template::parse(&format)
            .with_context(|| format!("template parsing error: {format}"))?;
        t.render(value)?
    };
    out.push('\n');
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}

/// Go's `%.Ng` for 0 <= v < 1000: `precision` significant digits,
/// trailing zeros dropped.
fn format_g(v: f64, precision: usize) -> String {
    let digits = if v < 10.0 {
        1
    } else if v < 100.0 {
        2
    } else {
        3
    };
    let decimals = precision.saturating_sub(digits);
    let s = format!("{v:.decimals$}");
    // Rounding may carry into a new digit (9.995 -> "10.00"): re-round.
    let s = match s.split('.').next() {
        Some(int) if int.len() + decimals > precision && decimals > 0 => {
            format!("{v:.prec$}", prec = decimals - 1)
        }
        _ => s,
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// "2 weeks ago", or "N/A" when the time is unknown.
pub fn since(t: Option<DateTime<Utc>>) -> String {
    match t {
        Some(t) => format!(
            "{} ago",
            berth_engine::human_duration((Utc::now() - t).num_seconds())
        ),
        None => "N/A".into(),
    }
}

/// Go's `time.Time.String()` form docker prints for CreatedAt.
pub fn go_time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
        .unwrap_or_default()
}

/// Go's encoding/json escapes <, > and & inside strings; docker's JSON
/// output carries that, and scripts compare it.
pub fn go_json(v: &Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Prints rows with a `--format` value, or the command's default table.
/// `headers` maps each field to its column title.
pub fn print_rows(
    format: Option<&str>,
    default_table: &str,
    headers: &Value,
    rows: &[Value],
) -> Result<()> {
    let format = format
        .map(unescape_format)
        .unwrap_or_else(|| default_table.to_string());
    let mut out = String::new();
    if format == "json" {
        for r in rows {
            out.push_str(&go_json(r));
            out.push('\n');
        }
    } else if let Some(body) = table_body(&format) {
        let t = Template::parse(body).with_context(|| format!("template parsing error: {body}"))?;
        let mut text = t.render(headers)?;
        text.push('\n');
        for r in rows {
            text.push_str(&t.render(r)?);
            text.push('\n');
        }
        out = align_tabs(&text);
    } else {
        let t = Template::parse(&format)
            .with_context(|| format!("template parsing error: {format}"))?;
        for r in rows {
            out.push_str(&t.render(r)?);
            out.push('\n');
        }
    }
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}

/// Renders each value with a plain template (`inspect --format`), or
/// prints them as an indented JSON array as docker does.
pub fn print_inspect(format: Option<&str>, values: &[Value]) -> Result<()> {
    let mut out = String::new();
    match format.map(unescape_format) {
        None => {
            let s = serde_json::to_string_pretty(&Value::Array(values.to_vec()))?;
            out.push_str(
                &s.replace('<', "\\u003c")
                    .replace('>', "\\u003e")
                    .replace('&', "\\u0026"),
            );
            out.push('\n');
        }
        Some(f) if f == "json" => {
            out.push_str(&go_json(&Value::Array(values.to_vec())));
            out.push('\n');
        }
        Some(f) => {
            let t = Template::parse(&f).with_context(|| format!("template parsing error: {f}"))?;
            for v in values {
                out.push_str(&t.render(v)?);
                out.push('\n');
            }
        }
    }
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_go_units() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1500), "1.5kB");
        assert_eq!(human_size(4_261_550), "4.26MB");
        assert_eq!(human_size(12_345_678), "12.3MB");
        assert_eq!(human_size(123_456_789), "123MB");
        assert_eq!(human_size(9_999_000), "10MB");
        assert_eq!(human_size4(1_984_000), "1.984MB");
        assert_eq!(human_size4(102_400), "102.4kB");
        assert_eq!(human_size4(0), "0B");
    }

    #[test]
    fn sizes_match_go_units_binary_size() {
        assert_eq!(binary_size(0), "0B");
        assert_eq!(binary_size(1023), "1023B");
        assert_eq!(binary_size(1024), "1KiB");
        assert_eq!(binary_size(2000), "1.953KiB");
        assert_eq!(binary_size(64 << 20), "64MiB");
        assert_eq!(binary_size(1_572_864), "1.5MiB");
        assert_eq!(binary_size(24_683_656 * 1024), "23.54GiB");
        assert_eq!(binary_size(1_048_575), "1024KiB");
        assert_eq!(binary_size(10_485_759), "10MiB");
    }
}
