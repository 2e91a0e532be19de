//! Template functions: Go's builtins plus docker's extras (`json`, `join`,
//! `split`, `lower`, `upper`, `title`, `truncate`, `pad`).

use crate::gofmt::{self, num_class, type_name, value_string, Num};
use crate::value::Val;
use serde_json::Value;
use std::borrow::Cow;
use std::cmp::Ordering;

/// Why a function call failed.
pub(crate) enum FnError {
    /// Reported as `error calling NAME: MSG` (Go's wording for failures
    /// inside a function).
    Call(String),
    /// Reported as-is (argument type mismatches).
    Arg(String),
}

type FResult<'a> = Result<Val<'a>, FnError>;

/// Minimum and maximum (None = variadic) argument counts; None if `name`
/// is not a function.
pub(crate) fn arity(name: &str) -> Option<(usize, Option<usize>)> {
    Some(match name {
        "and" | "or" | "index" | "slice" | "eq" | "printf" => (1, None),
        "not" | "len" | "json" | "lower" | "upper" | "title" => (1, Some(1)),
        "ne" | "lt" | "le" | "gt" | "ge" | "join" | "split" | "truncate" => (2, Some(2)),
        "pad" => (3, Some(3)),
        "print" | "println" | "html" | "js" | "urlquery" => (0, None),
        _ => return None,
    })
}

/// Go's truthiness: false, 0, "", empty array/object, null and missing
/// values are false.
pub(crate) fn truth(v: &Val<'_>) -> bool {
    match v.as_deref() {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => match num_class(n) {
            Num::Int(i) => i != 0,
            Num::Float(f) => f != 0.0,
        },
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
    }
}

fn own<'a>(v: Value) -> Val<'a> {
    Some(Cow::Owned(v))
}

fn refs<'v>(args: &'v [Val<'_>]) -> Vec<Option<&'v Value>> {
    args.iter().map(|a| a.as_deref()).collect()
}

fn wrong_type(expected: &str, got: &Value) -> FnError {
    FnError::Arg(format!(
        "wrong type for value; expected {expected}; got {}",
        type_name(got)
    ))
}

/// A string argument; null and missing values count as "".
fn str_arg<'v>(v: &'v Val<'_>) -> Result<&'v str, FnError> {
    match v.as_deref() {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(wrong_type("string", other)),
    }
}

fn int_arg(v: &Val<'_>) -> Result<i64, FnError> {
    match v.as_deref() {
        Some(Value::Number(n)) => match num_class(n) {
            Num::Int(i) => i64::try_from(i).map_err(|_| FnError::Arg("integer overflow".into())),
            Num::Float(_) => Err(wrong_type("int", v.as_deref().unwrap_or(&Value::Null))),
        },
        Some(other) => Err(wrong_type("int", other)),
        None => Err(FnError::Arg("invalid value; expected int".into())),
    }
}

/// A list of strings; null and missing values count as an empty list,
/// non-string elements are printed Go-style.
fn str_list_arg(v: &Val<'_>) -> Result<Vec<String>, FnError> {
    match v.as_deref() {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                other => value_string(other),
            })
            .collect()),
        Some(other) => Err(wrong_type("[]string", other)),
    }
}

/// Calls the (non short-circuit) function `name` with evaluated arguments.
/// The argument count has already been checked against [`arity`].
pub(crate) fn call<'a>(name: &str, mut args: Vec<Val<'a>>) -> FResult<'a> {
    let b = |x: bool| own(Value::Bool(x));
    let s = |x: String| own(Value::String(x));
    match name {
        "not" => Ok(b(!truth(&args[0]))),
        "len" => len(&args[0]),
        "index" => {
            let item = args.remove(0);
            index(item, &args)
        }
        "slice" => {
            let item = args.remove(0);
            slice(item, &args)
        }
        "eq" => {
            if args.len() < 2 {
                return Err(FnError::Call("missing argument for comparison".into()));
            }
            for other in &args[1..] {
                if equal(&args[0], other)? {
                    return Ok(b(true));
                }
            }
            Ok(b(false))
        }
        "ne" => Ok(b(!equal(&args[0], &args[1])?)),
        "lt" => Ok(b(less(&args[0], &args[1])?)),
        "le" => Ok(b(less(&args[0], &args[1])? || equal(&args[0], &args[1])?)),
        "gt" => Ok(b(!(less(&args[0], &args[1])? || equal(&args[0], &args[1])?))),
        "ge" => Ok(b(!less(&args[0], &args[1])?)),
        "print" => Ok(s(gofmt::sprint(&refs(&args)))),
        "println" => Ok(s(gofmt::sprintln(&refs(&args)))),
        "printf" => {
            let format = str_arg(&args[0])?.to_string();
            Ok(s(gofmt::sprintf(&format, &refs(&args[1..]))))
        }
        "html" => Ok(s(html_escape(&eval_args(&args)))),
        "js" => Ok(s(js_escape(&eval_args(&args)))),
        "urlquery" => Ok(s(query_escape(&eval_args(&args)))),
        "json" => Ok(s(gofmt::to_json(args[0].as_deref()))),
        "join" => {
            let list = str_list_arg(&args[0])?;
            Ok(s(list.join(str_arg(&args[1])?)))
        }
        "split" => {
            let text = str_arg(&args[0])?;
            let sep = str_arg(&args[1])?;
            let parts: Vec<Value> = if sep.is_empty() {
                text.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                text.split(sep)
                    .map(|p| Value::String(p.to_string()))
                    .collect()
            };
            Ok(own(Value::Array(parts)))
        }
        "lower" => Ok(s(str_arg(&args[0])?.to_lowercase())),
        "upper" => Ok(s(str_arg(&args[0])?.to_uppercase())),
        "title" => Ok(s(title(str_arg(&args[0])?))),
        "truncate" => {
            let text = str_arg(&args[0])?;
            let n = usize::try_from(int_arg(&args[1])?).unwrap_or(0);
            Ok(s(text.chars().take(n).collect()))
        }
        "pad" => {
            let text = str_arg(&args[0])?;
            let left = int_arg(&args[1])?;
            let right = int_arg(&args[2])?;
            if left < 0 || right < 0 {
                return Err(FnError::Call("negative repeat count".into()));
            }
            if text.is_empty() {
                return Ok(s(String::new()));
            }
            let (left, right) = (left.min(10_000) as usize, right.min(10_000) as usize);
            Ok(s(format!(
                "{}{text}{}",
                " ".repeat(left),
                " ".repeat(right)
            )))
        }
        _ => Err(FnError::Call(format!("function {name:?} not defined"))),
    }
}

fn len<'a>(v: &Val<'_>) -> FResult<'a> {
    let n = match v.as_deref() {
        // Docker's nil slices and maps (JSON null) have length 0.
        None | Some(Value::Null) => 0,
        Some(Value::String(s)) => s.len(),
        Some(Value::Array(a)) => a.len(),
        Some(Value::Object(m)) => m.len(),
        Some(other) => {
            return Err(FnError::Call(format!("len of type {}", type_name(other))));
        }
    };
    Ok(own(Value::from(n)))
}

/// Result of indexing one level.
enum Indexed<'v> {
    Child(&'v Value),
    Missing,
    New(Value),
}

fn index_int(idx: &Val<'_>, what: &str) -> Result<i128, FnError> {
    match idx.as_deref() {
        Some(Value::Number(n)) => match num_class(n) {
            Num::Int(i) => Ok(i),
            Num::Float(_) => Err(FnError::Call(format!(
                "cannot index {what} with type float64"
            ))),
        },
        Some(other) => Err(FnError::Call(format!(
            "cannot index {what} with type {}",
            type_name(other)
        ))),
        None => Err(FnError::Call(format!("cannot index {what} with nil"))),
    }
}

fn index_one<'v>(item: &'v Value, idx: &Val<'_>) -> Result<Indexed<'v>, FnError> {
    match item {
        Value::Array(a) => {
            let i = index_int(idx, "slice/array")?;
            match usize::try_from(i).ok().and_then(|i| a.get(i)) {
                Some(e) => Ok(Indexed::Child(e)),
                None => Err(FnError::Call(format!("index out of range: {i}"))),
            }
        }
        Value::String(s) => {
            let i = index_int(idx, "string")?;
            match usize::try_from(i).ok().and_then(|i| s.as_bytes().get(i)) {
                Some(byte) => Ok(Indexed::New(Value::from(*byte))),
                None => Err(FnError::Call(format!("index out of range: {i}"))),
            }
        }
        Value::Object(m) => match idx.as_deref() {
            Some(Value::String(k)) => Ok(m.get(k).map_or(Indexed::Missing, Indexed::Child)),
            Some(other) => Err(FnError::Call(format!(
                "value has type {}; should be string",
                type_name(other)
            ))),
            None => Err(FnError::Call(
                "value is nil; should be of type string".into(),
            )),
        },
        // Docker's nil maps and slices (JSON null): nothing to find.
        Value::Null => Ok(Indexed::Missing),
        other => Err(FnError::Call(format!(
            "can't index item of type {}",
            type_name(other)
        ))),
    }
}

fn index<'a>(mut item: Val<'a>, indices: &[Val<'_>]) -> FResult<'a> {
    for idx in indices {
        item = match item {
            None => return Ok(None),
            Some(Cow::Borrowed(v)) => match index_one(v, idx)? {
                Indexed::Child(c) => Some(Cow::Borrowed(c)),
                Indexed::Missing => None,
                Indexed::New(n) => own(n),
            },
            Some(Cow::Owned(v)) => match index_one(&v, idx)? {
                Indexed::Child(c) => own(c.clone()),
                Indexed::Missing => None,
                Indexed::New(n) => own(n),
            },
        };
    }
    Ok(item)
}

fn slice<'a>(item: Val<'a>, indices: &[Val<'_>]) -> FResult<'a> {
    let item = item.as_deref().cloned().unwrap_or(Value::Null);
    let (len, max_indices) = match &item {
        Value::String(s) => (s.len(), 2),
        Value::Array(a) => (a.len(), 3),
        Value::Null => return Err(FnError::Call("slice of untyped nil".into())),
        other => {
            return Err(FnError::Call(format!(
                "can't slice item of type {}",
                type_name(other)
            )))
        }
    };
    if indices.len() > max_indices {
        return Err(FnError::Call(if max_indices == 2 {
            "cannot 3-index slice a string".into()
        } else {
            format!("too many slice indexes: {}", indices.len())
        }));
    }
    let mut idx = [0usize, len, len];
    for (k, v) in indices.iter().enumerate() {
        let i = index_int(v, "slice")?;
        idx[k] = usize::try_from(i)
            .ok()
            .filter(|&i| i <= len)
            .ok_or_else(|| FnError::Call(format!("index out of range: {i}")))?;
    }
    if idx[0] > idx[1] {
        return Err(FnError::Call(format!(
            "invalid slice index: {} > {}",
            idx[0], idx[1]
        )));
    }
    if indices.len() == 3 && idx[1] > idx[2] {
        return Err(FnError::Call(format!(
            "invalid slice index: {} > {}",
            idx[1], idx[2]
        )));
    }
    Ok(own(match item {
        Value::String(s) => Value::String(
            s.get(idx[0]..idx[1])
                .ok_or_else(|| FnError::Call("slice splits a UTF-8 sequence".into()))?
                .to_string(),
        ),
        Value::Array(a) => Value::Array(a[idx[0]..idx[1]].to_vec()),
        _ => unreachable!("checked above"),
    }))
}

fn is_nil(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

fn num_cmp(a: &serde_json::Number, b: &serde_json::Number) -> Ordering {
    match (num_class(a), num_class(b)) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        _ => {
            let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
    }
}

const BAD_TYPE: &str = "invalid type for comparison";
const INCOMPATIBLE: &str = "incompatible types for comparison";

/// Go's `eq` for two operands: basic values of the same kind compare by
/// value (all numbers compare numerically); null/missing equal only each
/// other.
fn equal(a: &Val<'_>, b: &Val<'_>) -> Result<bool, FnError> {
    let (a, b) = (a.as_deref(), b.as_deref());
    if is_nil(a) || is_nil(b) {
        return Ok(is_nil(a) && is_nil(b));
    }
    match (a, b) {
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => Ok(x == y),
        (Some(Value::Number(x)), Some(Value::Number(y))) => Ok(num_cmp(x, y) == Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => Ok(x == y),
        (Some(Value::Array(_) | Value::Object(_)), _) => Err(FnError::Call(BAD_TYPE.into())),
        _ => Err(FnError::Call(INCOMPATIBLE.into())),
    }
}

/// Go's `lt`: numbers and strings only.
fn less(a: &Val<'_>, b: &Val<'_>) -> Result<bool, FnError> {
    let basic = |v: Option<&Value>| matches!(v, Some(Value::Number(_) | Value::String(_)));
    let (a, b) = (a.as_deref(), b.as_deref());
    if !basic(a) || !basic(b) {
        return Err(FnError::Call(BAD_TYPE.into()));
    }
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => Ok(num_cmp(x, y) == Ordering::Less),
        (Some(Value::String(x)), Some(Value::String(y))) => Ok(x < y),
        _ => Err(FnError::Call(INCOMPATIBLE.into())),
    }
}

/// Go's `evalArgs` for the escaping functions.
fn eval_args(args: &[Val<'_>]) -> String {
    if let [Some(v)] = args {
        if let Value::String(s) = v.as_ref() {
            return s.clone();
        }
    }
    gofmt::sprint(&refs(args))
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if (c as u32) >= 0x80 && (c.is_control() || c.is_whitespace()) => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's (deprecated) `strings.Title`: upper-cases the first letter of each
/// word; words are separated by anything but letters, digits, `_` and marks.
fn title(s: &str) -> String {
    let is_separator = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphanumeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut out = String::with_capacity(s.len());
    let mut prev = ' ';
    for c in s.chars() {
        if is_separator(prev) {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => out.push(u),
                _ => out.push(c),
            }
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_case() {
        assert_eq!(title("hello wORLD foo_bar a-b"), "Hello WORLD Foo_bar A-B");
        assert_eq!(title(""), "");
    }

    #[test]
    fn escapes() {
        assert_eq!(
            html_escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;"
        );
        assert_eq!(js_escape("a'b\"<=\n"), "a\\'b\\\"\\u003C\\u003D\\u000A");
        assert_eq!(query_escape("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }
}
