//! Go-style value formatting over `serde_json::Value`: `fmt.Sprint`,
//! `fmt.Sprintln`, `fmt.Sprintf` (a practical subset), `strconv.Quote`, and
//! `encoding/json` output as docker's `json` template function produces it.
//!
//! Numbers: JSON has one number type, Go has several. Integers (and floats
//! that are whole and below 1e21) behave like Go `int`s; everything else
//! behaves like `float64`.

use serde_json::{Number, Value};
use std::fmt::Write as _;

/// A number as Go would see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i128),
    Float(f64),
}

pub(crate) fn num_class(n: &Number) -> Num {
    if let Some(i) = n.as_i64() {
        return Num::Int(i128::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Num::Int(i128::from(u));
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        // Exact: whole floats below 1e21 fit in an i128.
        Num::Int(f as i128)
    } else {
        Num::Float(f)
    }
}

/// Go's name for the dynamic type of a JSON value (used in messages).
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) => match num_class(n) {
            Num::Int(_) => "int",
            Num::Float(_) => "float64",
        },
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's `%#U` rendering of a character: `U+0023 '#'`.
pub(crate) fn go_unicode(c: char) -> String {
    if is_print(c) {
        format!("U+{:04X} '{c}'", c as u32)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

/// Approximation of Go's `strconv.IsPrint`.
fn is_print(c: char) -> bool {
    c == ' ' || !(c.is_control() || c.is_whitespace())
}

fn push_escaped(out: &mut String, c: char, quote: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if is_print(c) => out.push(c),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// Go's `strconv.Quote`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// Go's `strconv.QuoteRune`.
fn go_quote_rune(c: char) -> String {
    let mut out = String::from("'");
    push_escaped(&mut out, c, '\'');
    out.push('\'');
    out
}

// ---------------------------------------------------------------------
// Printing (fmt.Sprint & friends)
// ---------------------------------------------------------------------

/// Formatting flags of one printf directive.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Appends `v` formatted like Go's `fmt.Print` (`%v`).
pub(crate) fn write_value(out: &mut String, v: &Value) {
    print_arg(out, Some(v), 'v', &Spec::default());
}

/// `%v` rendering of a value as a new string.
pub(crate) fn value_string(v: &Value) -> String {
    let mut s = String::new();
    write_value(&mut s, v);
    s
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
pub(crate) fn sprint(args: &[Option<&Value>]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Some(Value::String(_)));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        print_arg(&mut out, *a, 'v', &Spec::default());
        prev_string = is_string;
    }
    out
}

/// Go's `fmt.Sprintln`: always spaces, plus a trailing newline.
pub(crate) fn sprintln(args: &[Option<&Value>]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print_arg(&mut out, *a, 'v', &Spec::default());
    }
    out.push('\n');
    out
}

/// Go's `fmt.Sprintf` for the verbs `%v %s %d %q %t %x %X %o %O %b %c %U
/// %e %E %f %F %g %G %T %%`, flags `-+# 0`, widths and precisions
/// (including `*`). Mistakes are reported inline like Go (`%!d(string=x)`,
/// `%!s(MISSING)`, `%!(EXTRA ...)`).
pub(crate) fn sprintf(format: &str, args: &[Option<&Value>]) -> String {
    let mut out = String::new();
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    let mut argn = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while i < chars.len() {
            match chars[i] {
                '#' => spec.sharp = true,
                '0' => spec.zero = !spec.minus,
                '+' => spec.plus = true,
                '-' => {
                    spec.minus = true;
                    spec.zero = false;
                }
                ' ' => spec.space = true,
                _ => break,
            }
            i += 1;
        }
        // Width.
        if i < chars.len() && chars[i] == '*' {
            i += 1;
            match star_arg(args, &mut argn) {
                Some(w) => {
                    if w < 0 {
                        spec.minus = true;
                        spec.zero = false;
                    }
                    spec.width = Some(w.unsigned_abs() as usize);
                }
                None => out.push_str("%!(BADWIDTH)"),
            }
        } else {
            spec.width = parse_digits(&chars, &mut i);
        }
        // Precision.
        if i < chars.len() && chars[i] == '.' {
            i += 1;
            if i < chars.len() && chars[i] == '*' {
                i += 1;
                match star_arg(args, &mut argn) {
                    Some(p) if p >= 0 => spec.prec = Some(p as usize),
                    Some(_) => spec.prec = None,
                    None => out.push_str("%!(BADPREC)"),
                }
            } else {
                spec.prec = Some(parse_digits(&chars, &mut i).unwrap_or(0));
            }
        }
        if i >= chars.len() {
            out.push_str("%!(NOVERB)");
            break;
        }
        let verb = chars[i];
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        if argn >= args.len() {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        }
        print_arg(&mut out, args[argn], verb, &spec);
        argn += 1;
    }
    if argn < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, a) in args[argn..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            match a {
                None | Some(Value::Null) => out.push_str("<nil>"),
                Some(v) => {
                    out.push_str(type_name(v));
                    out.push('=');
                    write_value(&mut out, v);
                }
            }
        }
        out.push(')');
    }
    out
}

fn parse_digits(chars: &[char], i: &mut usize) -> Option<usize> {
    let start = *i;
    let mut n: usize = 0;
    while *i < chars.len() && chars[*i].is_ascii_digit() {
        n = n
            .saturating_mul(10)
            .saturating_add(chars[*i] as usize - '0' as usize);
        *i += 1;
    }
    (*i > start).then_some(n.min(1_000_000))
}

fn star_arg(args: &[Option<&Value>], argn: &mut usize) -> Option<i64> {
    let a = args.get(*argn)?;
    *argn += 1;
    match a {
        Some(Value::Number(n)) => match num_class(n) {
            Num::Int(i) if i.abs() <= 1_000_000 => Some(i as i64),
            _ => None,
        },
        _ => None,
    }
}

/// Writes `s` padded to the spec's width (counted in characters).
fn pad(out: &mut String, s: &str, spec: &Spec) {
    let width = spec.width.unwrap_or(0);
    let len = s.chars().count();
    if len >= width {
        out.push_str(s);
        return;
    }
    let fill = width - len;
    if spec.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else {
        let c = if spec.zero { '0' } else { ' ' };
        out.extend(std::iter::repeat_n(c, fill));
        out.push_str(s);
    }
}

fn bad_verb(out: &mut String, verb: char, v: Option<&Value>) {
    let _ = write!(out, "%!{verb}(");
    match v {
        None | Some(Value::Null) => out.push_str("<nil>"),
        Some(v) => {
            out.push_str(type_name(v));
            out.push('=');
            write_value(out, v);
        }
    }
    out.push(')');
}

/// Go's `printArg`: one top-level operand.
fn print_arg(out: &mut String, v: Option<&Value>, verb: char, spec: &Spec) {
    let v = match v {
        None | Some(Value::Null) => {
            match verb {
                'v' | 'T' => pad(out, "<nil>", spec),
                _ => bad_verb(out, verb, None),
            }
            return;
        }
        Some(v) => v,
    };
    if verb == 'T' {
        pad(out, type_name(v), spec);
        return;
    }
    print_value(out, v, verb, spec);
}

/// Go's `printValue`: composite values apply the verb element-wise.
fn print_value(out: &mut String, v: &Value, verb: char, spec: &Spec) {
    match v {
        Value::Null => pad(out, "<nil>", spec),
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, spec),
            _ => bad_verb(out, verb, Some(v)),
        },
        Value::Number(n) => match num_class(n) {
            Num::Int(i) => fmt_int(out, i, verb, spec, v),
            Num::Float(f) => fmt_float(out, f, verb, spec, v),
        },
        Value::String(s) => fmt_str(out, s, verb, spec, v),
        Value::Array(items) => {
            out.push('[');
            for (i, e) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_value(out, e, verb, spec);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push_str("map[");
            for (i, (k, e)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                let key = Value::String(k.clone());
                fmt_str(out, k, verb, spec, &key);
                out.push(':');
                print_value(out, e, verb, spec);
            }
            out.push(']');
        }
    }
}

fn fmt_str(out: &mut String, s: &str, verb: char, spec: &Spec, v: &Value) {
    let truncated: std::borrow::Cow<'_, str> = match spec.prec {
        Some(p) if verb != 'x' && verb != 'X' => s.chars().take(p).collect::<String>().into(),
        _ => s.into(),
    };
    match verb {
        'v' | 's' => pad(out, &truncated, spec),
        'q' => {
            let q = if spec.sharp && !truncated.contains('`') && !truncated.contains('\n') {
                format!("`{truncated}`")
            } else {
                go_quote(&truncated)
            };
            pad(out, &q, spec);
        }
        'x' | 'X' => {
            let bytes = s.as_bytes();
            let bytes = match spec.prec {
                Some(p) if p < bytes.len() => &bytes[..p],
                _ => bytes,
            };
            let mut h = String::new();
            for (i, b) in bytes.iter().enumerate() {
                if spec.space && i > 0 {
                    h.push(' ');
                }
                if spec.sharp && (spec.space || i == 0) {
                    h.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    let _ = write!(h, "{b:02x}");
                } else {
                    let _ = write!(h, "{b:02X}");
                }
            }
            pad(out, &h, spec);
        }
        _ => bad_verb(out, verb, Some(v)),
    }
}

fn fmt_int(out: &mut String, i: i128, verb: char, spec: &Spec, v: &Value) {
    match verb {
        'v' | 'd' => fmt_integer(out, i, 10, verb, spec),
        'b' => fmt_integer(out, i, 2, verb, spec),
        'o' | 'O' => fmt_integer(out, i, 8, verb, spec),
        'x' | 'X' => fmt_integer(out, i, 16, verb, spec),
        'c' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, &c.to_string(), spec);
        }
        'q' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, &go_quote_rune(c), spec);
        }
        'U' => {
            let mut s = if i < 0 {
                format!("U+{:04X}", i as u64)
            } else {
                format!("U+{i:04X}")
            };
            if spec.sharp {
                if let Some(c) = u32::try_from(i).ok().and_then(char::from_u32) {
                    if is_print(c) {
                        let _ = write!(s, " '{c}'");
                    }
                }
            }
            pad(out, &s, spec);
        }
        // JSON does not distinguish ints from floats: accept float verbs.
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => fmt_float(out, i as f64, verb, spec, v),
        _ => bad_verb(out, verb, Some(v)),
    }
}

/// Go's `fmtInteger`.
fn fmt_integer(out: &mut String, i: i128, base: u32, verb: char, spec: &Spec) {
    let negative = i < 0;
    let u = i.unsigned_abs();
    let mut digits = match base {
        2 => format!("{u:b}"),
        8 => format!("{u:o}"),
        16 if verb == 'X' => format!("{u:X}"),
        16 => format!("{u:x}"),
        _ => u.to_string(),
    };
    let mut prec = 0;
    if let Some(p) = spec.prec {
        if p == 0 && u == 0 {
            let blank = Spec {
                zero: false,
                ..*spec
            };
            pad(out, "", &blank);
            return;
        }
        prec = p;
    } else if spec.zero && !spec.minus {
        if let Some(w) = spec.width {
            prec = w;
            if negative || spec.plus || spec.space {
                prec = prec.saturating_sub(1);
            }
        }
    }
    if digits.len() < prec {
        digits.insert_str(0, &"0".repeat(prec - digits.len()));
    }
    let mut s = String::new();
    if negative {
        s.push('-');
    } else if spec.plus {
        s.push('+');
    } else if spec.space {
        s.push(' ');
    }
    if spec.sharp {
        match base {
            2 => s.push_str("0b"),
            8 if !digits.starts_with('0') => s.push('0'),
            16 => s.push_str(if verb == 'X' { "0X" } else { "0x" }),
            _ => {}
        }
    }
    if verb == 'O' {
        s.push_str("0o");
    }
    s.push_str(&digits);
    let no_zero = Spec {
        zero: false,
        ..*spec
    };
    pad(out, &s, &no_zero);
}

fn fmt_float(out: &mut String, f: f64, verb: char, spec: &Spec, v: &Value) {
    let abs = f.abs();
    let body = match verb {
        'v' | 'g' => fmt_g(abs, spec.prec),
        'G' => fmt_g(abs, spec.prec).to_uppercase(),
        'e' => fmt_e(abs, spec.prec.unwrap_or(6)),
        'E' => fmt_e(abs, spec.prec.unwrap_or(6)).to_uppercase(),
        'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), abs),
        _ => return bad_verb(out, verb, Some(v)),
    };
    let sign = if f.is_sign_negative() {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let len = sign.len() + body.len();
    match spec.width {
        Some(w) if spec.zero && !spec.minus && w > len => {
            out.push_str(sign);
            out.extend(std::iter::repeat_n('0', w - len));
            out.push_str(&body);
        }
        _ => {
            let no_zero = Spec {
                zero: false,
                ..*spec
            };
            pad(out, &format!("{sign}{body}"), &no_zero);
        }
    }
}

/// Significant digits (no dot, no sign) and decimal exponent of `abs`
/// written as `d.ddd × 10^exp`; `sig` = None gives the shortest digits that
/// round-trip (what Go's `-1` precision means).
fn decimal_digits(abs: f64, sig: Option<usize>) -> (String, i32) {
    let s = match sig {
        None => format!("{abs:e}"),
        Some(p) => format!("{:.*e}", p.saturating_sub(1), abs),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    (mant.replace('.', ""), exp.parse().unwrap_or(0))
}

/// `d.ddd` with exactly `decimals` digits after the point, then Go's
/// exponent suffix (`e+06`, `e-05`).
fn exp_form(digits: &str, exp: i32, decimals: usize) -> String {
    let mut s = String::new();
    let mut it = digits.chars();
    s.push(it.next().unwrap_or('0'));
    if decimals > 0 {
        s.push('.');
        let rest: String = it.collect();
        s.push_str(&rest);
        for _ in rest.len()..decimals {
            s.push('0');
        }
        s.truncate(2 + decimals);
    }
    let sign = if exp < 0 { '-' } else { '+' };
    let _ = write!(s, "e{sign}{:02}", exp.unsigned_abs());
    s
}

/// Fixed notation from significant digits with `decimals` fraction digits.
fn fixed_form(digits: &str, exp: i32, decimals: usize) -> String {
    let d = digits.as_bytes();
    let dp = exp + 1; // digits before the decimal point
    let digit = |idx: i32| -> char {
        if idx >= 0 && (idx as usize) < d.len() {
            d[idx as usize] as char
        } else {
            '0'
        }
    };
    let mut s = String::new();
    if dp <= 0 {
        s.push('0');
    } else {
        for k in 0..dp {
            s.push(digit(k));
        }
    }
    if decimals > 0 {
        s.push('.');
        for k in 0..decimals as i32 {
            s.push(digit(dp + k));
        }
    }
    s
}

/// Go's `%g` (of a non-negative number).
fn fmt_g(abs: f64, prec: Option<usize>) -> String {
    let (digits, exp, eprec) = match prec {
        None => {
            let (d, e) = decimal_digits(abs, None);
            (d, e, 6)
        }
        Some(p) => {
            let p = p.max(1);
            let (mut d, e) = decimal_digits(abs, Some(p));
            while d.len() > 1 && d.ends_with('0') {
                d.pop();
            }
            let nd = d.len();
            let eprec = if p > nd && nd as i32 > e { nd } else { p };
            (d, e, eprec)
        }
    };
    let nd = digits.len();
    if exp < -4 || exp >= eprec as i32 {
        exp_form(&digits, exp, nd - 1)
    } else {
        let decimals = (nd as i32 - (exp + 1)).max(0) as usize;
        fixed_form(&digits, exp, decimals)
    }
}

/// Go's `%e` with `prec` fraction digits (of a non-negative number).
fn fmt_e(abs: f64, prec: usize) -> String {
    let (digits, exp) = decimal_digits(abs, Some(prec + 1));
    exp_form(&digits, exp, prec)
}

// ---------------------------------------------------------------------
// JSON (docker's `json` function: encoding/json without HTML escaping)
// ---------------------------------------------------------------------

/// Compact JSON like Go's `json.Marshal` with `SetEscapeHTML(false)` and no
/// trailing newline. Object keys keep their stored order.
pub(crate) fn to_json(v: Option<&Value>) -> String {
    let mut out = String::new();
    match v {
        None => out.push_str("null"),
        Some(v) => write_json(&mut out, v),
    }
    out
}

fn write_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_json_number(out, n),
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, e) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, e);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, e)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, k);
                out.push(':');
                write_json(out, e);
            }
            out.push('}');
        }
    }
}

fn write_json_number(out: &mut String, n: &Number) {
    if n.is_i64() || n.is_u64() {
        let _ = write!(out, "{n}");
        return;
    }
    let f = n.as_f64().unwrap_or(0.0);
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        if f < 0.0 {
            out.push('-');
        }
        let (digits, exp) = decimal_digits(abs, None);
        let mut s = exp_form(&digits, exp, digits.len() - 1);
        // Go cleans e-07 up to e-7.
        if let Some(idx) = s.find("e-0") {
            s.remove(idx + 2);
        }
        out.push_str(&s);
    } else {
        // Rust's Display is the shortest round-trip form without exponent,
        // matching Go's 'f' -1 formatting (1.0 -> "1").
        let _ = write!(out, "{f}");
    }
}

fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pf(format: &str, args: &[Value]) -> String {
        let refs: Vec<Option<&Value>> = args.iter().map(Some).collect();
        sprintf(format, &refs)
    }

    #[test]
    fn print_values() {
        assert_eq!(value_string(&json!("s")), "s");
        assert_eq!(value_string(&json!(42)), "42");
        assert_eq!(value_string(&json!(-7)), "-7");
        assert_eq!(value_string(&json!(1.5)), "1.5");
        assert_eq!(value_string(&json!(1e6)), "1000000");
        assert_eq!(value_string(&json!(1234567.5)), "1.2345675e+06");
        assert_eq!(value_string(&json!(0.00001)), "1e-05");
        assert_eq!(value_string(&json!(0.0001)), "0.0001");
        assert_eq!(value_string(&json!(1e21)), "1e+21");
        assert_eq!(value_string(&json!(true)), "true");
        assert_eq!(value_string(&json!(null)), "<nil>");
        assert_eq!(value_string(&json!(["a", 1, null])), "[a 1 <nil>]");
        assert_eq!(
            value_string(&json!({"b": 2, "a": [1, 2], "c": {"x": "y"}})),
            "map[a:[1 2] b:2 c:map[x:y]]"
        );
        assert_eq!(value_string(&json!([])), "[]");
        assert_eq!(value_string(&json!({})), "map[]");
    }

    #[test]
    fn printf_verbs() {
        assert_eq!(pf("%s-%d", &[json!("a"), json!(3)]), "a-3");
        assert_eq!(pf("%v", &[json!([1, 2])]), "[1 2]");
        assert_eq!(pf("%q", &[json!("a\"b\n")]), "\"a\\\"b\\n\"");
        assert_eq!(pf("%t", &[json!(false)]), "false");
        assert_eq!(pf("%x %X", &[json!(255), json!(255)]), "ff FF");
        assert_eq!(pf("%x", &[json!("hi")]), "6869");
        assert_eq!(pf("[%-10s]", &[json!("abc")]), "[abc       ]");
        assert_eq!(pf("[%10s]", &[json!("abc")]), "[       abc]");
        assert_eq!(pf("[%5d]", &[json!(42)]), "[   42]");
        assert_eq!(pf("[%-5d]", &[json!(42)]), "[42   ]");
        assert_eq!(pf("[%05d]", &[json!(-42)]), "[-0042]");
        assert_eq!(pf("%+d", &[json!(5)]), "+5");
        assert_eq!(pf("%.2f", &[json!(4.56789)]), "4.57");
        assert_eq!(pf("%f", &[json!(2)]), "2.000000");
        assert_eq!(pf("%e", &[json!(123456.0)]), "1.234560e+05");
        assert_eq!(pf("%g", &[json!(1e6)]), "1e+06");
        assert_eq!(pf("%.3g", &[json!(4.56789)]), "4.57");
        assert_eq!(pf("%08.3f", &[json!(-4.56789)]), "-004.568");
        assert_eq!(pf("%.2s", &[json!("hello")]), "he");
        assert_eq!(pf("%c", &[json!(65)]), "A");
        assert_eq!(pf("%U", &[json!(65)]), "U+0041");
        assert_eq!(pf("%#x", &[json!(255)]), "0xff");
        assert_eq!(pf("%o %b", &[json!(8), json!(5)]), "10 101");
        assert_eq!(pf("%T %T", &[json!("a"), json!(1.5)]), "string float64");
        assert_eq!(pf("100%%", &[]), "100%");
        assert_eq!(pf("%*d", &[json!(4), json!(7)]), "   7");
    }

    #[test]
    fn printf_mistakes() {
        assert_eq!(pf("%d", &[json!("x")]), "%!d(string=x)");
        assert_eq!(pf("%d", &[json!(1.5)]), "%!d(float64=1.5)");
        assert_eq!(pf("%s %s", &[json!("a")]), "a %!s(MISSING)");
        assert_eq!(pf("%s", &[json!("a"), json!(1)]), "a%!(EXTRA int=1)");
        assert_eq!(pf("%", &[]), "%!(NOVERB)");
        assert_eq!(sprintf("%d", &[None]), "%!d(<nil>)");
        assert_eq!(sprintf("%v", &[None]), "<nil>");
    }

    #[test]
    fn sprint_spacing() {
        let a = json!("a");
        let b = json!("b");
        let one = json!(1);
        let two = json!(2);
        assert_eq!(sprint(&[Some(&a), Some(&b)]), "ab");
        assert_eq!(sprint(&[Some(&one), Some(&two)]), "1 2");
        assert_eq!(sprint(&[Some(&a), Some(&one), Some(&b)]), "a1b");
        assert_eq!(sprintln(&[Some(&a), Some(&b)]), "a b\n");
    }

    #[test]
    fn json_output() {
        assert_eq!(
            to_json(Some(&json!({"b": [1, 2.5, "x"], "a": null, "c": true}))),
            r#"{"b":[1,2.5,"x"],"a":null,"c":true}"#
        );
        assert_eq!(to_json(Some(&json!("<a&b>\u{1}\t"))), r#""<a&b>\u0001\t""#);
        assert_eq!(to_json(Some(&json!(1.0))), "1");
        assert_eq!(to_json(Some(&json!(1e21))), "1e+21");
        assert_eq!(to_json(Some(&json!(1.5e-7))), "1.5e-7");
        assert_eq!(to_json(Some(&json!(-0.5))), "-0.5");
        assert_eq!(to_json(None), "null");
    }

    #[test]
    fn quoting() {
        assert_eq!(go_quote("a\tb\"\\"), r#""a\tb\"\\""#);
        assert_eq!(go_quote("\u{1}é"), "\"\\x01é\"");
        assert_eq!(go_unicode('#'), "U+0023 '#'");
    }
}
