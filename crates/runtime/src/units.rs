//! Docker's number syntaxes (`10m`, `1.5`), shared by `--memory`,
//! `--shm-size`, `--cpus` and the json-file `max-size` option so that every
//! flag accepts exactly what docker accepts.

use crate::RuntimeError;

/// Parses a size the way docker's `RAMInBytes` does: a decimal number, an
/// optional space, an optional binary unit (`k`, `m`, `g`, `t`, `p`, any
/// case) and an optional `i`/`b` suffix ("10m", "1.5GiB", "512").
pub fn parse_size(field: &str, value: &str) -> Result<i64, RuntimeError> {
    let invalid = || RuntimeError::invalid(field, format!("invalid size: '{value}'"));
    let number_end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, mut rest) = value.split_at(number_end);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() || (number.contains('.') && frac_part.is_empty()) {
        return Err(invalid());
    }
    // Docker's regex allows "1.2.3" by accident; refuse it rather than guess.
    if frac_part.contains('.') {
        return Err(invalid());
    }
    rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut chars = rest.chars().peekable();
    let multiplier: i64 = match chars.peek().map(|c| c.to_ascii_lowercase()) {
        Some('k') => 1 << 10,
        Some('m') => 1 << 20,
        Some('g') => 1 << 30,
        Some('t') => 1 << 40,
        Some('p') => 1 << 50,
        _ => 1,
    };
    if multiplier != 1 {
        chars.next();
    }
    if matches!(chars.peek(), Some('i' | 'I')) {
        chars.next();
    }
    if matches!(chars.peek(), Some('b' | 'B')) {
        chars.next();
    }
    if chars.next().is_some() {
        return Err(invalid());
    }
    let whole: i64 = int_part.parse().map_err(|_| invalid())?;
    let mut total = whole.checked_mul(multiplier).ok_or_else(invalid)?;
    if !frac_part.is_empty() {
        // Integer arithmetic on at most 9 digits keeps "1.5m" exact.
        let digits = &frac_part[..frac_part.len().min(9)];
        let scale = 10_i128.pow(digits.len() as u32);
        let frac: i128 = digits.parse().map_err(|_| invalid())?;
        total += (frac * i128::from(multiplier) / scale) as i64;
    }
    Ok(total)
}

/// Parses `--cpus` ("1.5", "0.25") into nano-CPUs without floating point,
/// refusing more precision than a nano-CPU as docker does.
pub fn parse_cpus(value: &str) -> Result<i64, RuntimeError> {
    let invalid = || {
        RuntimeError::invalid(
            "--cpus",
            format!("failed to parse {value} as a rational number"),
        )
    };
    let (int_part, frac_part) = value.split_once('.').unwrap_or((value, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    let significant = frac_part.trim_end_matches('0');
    if significant.len() > 9 {
        return Err(RuntimeError::invalid("--cpus", "value is too precise"));
    }
    let whole: i64 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| invalid())?
    };
    let frac: i64 = if significant.is_empty() {
        0
    } else {
        let padded = format!("{significant:0<9}");
        padded.parse().map_err(|_| invalid())?
    };
    whole
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(frac))
        .ok_or_else(invalid)
}

/// Formats a byte count the way docker writes tmpfs `size=` options: the
/// largest binary unit that divides it evenly, else plain bytes.
pub(crate) fn format_tmpfs_size(bytes: u64) -> String {
    for (suffix, divisor) in [("g", 1u64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if bytes.is_multiple_of(divisor) {
            return format!("{}{suffix}", bytes / divisor);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(parse_size("f", "512").unwrap(), 512);
        assert_eq!(parse_size("f", "1k").unwrap(), 1024);
        assert_eq!(parse_size("f", "10m").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_size("f", "10M").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_size("f", "2g").unwrap(), 2 << 30);
        assert_eq!(parse_size("f", "1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("f", "1gb").unwrap(), 1 << 30);
        assert_eq!(parse_size("f", "1 m").unwrap(), 1 << 20);
        assert_eq!(parse_size("f", "10 ").unwrap(), 10);
        assert_eq!(parse_size("f", "1.5m").unwrap(), 1_572_864);
        assert_eq!(parse_size("f", "1t").unwrap(), 1 << 40);
    }

    #[test]
    fn bad_sizes_name_the_field() {
        for bad in ["", "m", "10x", "-1", "1.", ".5", "1.2.3", "10mm", "10  "] {
            let err = parse_size("--memory", bad).unwrap_err().to_string();
            assert_eq!(
                err,
                format!("invalid --memory: invalid size: '{bad}'"),
                "{bad}"
            );
        }
    }

    #[test]
    fn cpus_are_exact_nano_cpus() {
        assert_eq!(parse_cpus("1").unwrap(), 1_000_000_000);
        assert_eq!(parse_cpus("1.5").unwrap(), 1_500_000_000);
        assert_eq!(parse_cpus("0.25").unwrap(), 250_000_000);
        assert_eq!(parse_cpus(".5").unwrap(), 500_000_000);
        assert_eq!(parse_cpus("0.000000001").unwrap(), 1);
        assert_eq!(parse_cpus("2.0000000000").unwrap(), 2_000_000_000);
    }

    #[test]
    fn cpus_reject_junk_and_excess_precision() {
        assert!(parse_cpus("abc")
            .unwrap_err()
            .to_string()
            .contains("rational number"));
        assert!(parse_cpus("-1").is_err());
        assert!(parse_cpus("").is_err());
        assert!(parse_cpus(".").is_err());
        assert_eq!(
            parse_cpus("0.0000000001").unwrap_err().to_string(),
            "invalid --cpus: value is too precise"
        );
    }

    #[test]
    fn tmpfs_sizes_pick_the_largest_even_unit() {
        assert_eq!(format_tmpfs_size(1 << 30), "1g");
        assert_eq!(format_tmpfs_size(64 << 20), "64m");
        assert_eq!(format_tmpfs_size(3072), "3k");
        assert_eq!(format_tmpfs_size(1536), "1536");
        assert_eq!(format_tmpfs_size(1000), "1000");
    }
}
