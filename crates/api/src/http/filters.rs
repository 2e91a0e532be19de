//! The API's `filters` parameter, as the engine's `key=value` filters.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Query;
use crate::error::ApiError;

/// A filter's values: `{"key": ["v"]}`, or the older `{"key": {"v": true}}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Values {
    List(Vec<String>),
    Set(BTreeMap<String, bool>),
}

/// `filters` as `key=value` strings, in key order.
pub fn filters(query: &Query) -> Result<Vec<String>, ApiError> {
    let Some(map) = query.json::<BTreeMap<String, Values>>("filters")? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (key, values) in map {
        match values {
            Values::List(vs) => out.extend(vs.into_iter().map(|v| format!("{key}={v}"))),
            Values::Set(set) => out.extend(
                set.into_iter()
                    .filter(|(_, on)| *on)
                    .map(|(v, _)| format!("{key}={v}")),
            ),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_are_read() {
        let q = Query::parse(Some(
            "filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%2C%22dangling%22%3A%7B%22true%22%3Atrue%7D%7D",
        ));
        assert_eq!(filters(&q).unwrap(), ["dangling=true", "label=a=b"]);
        assert!(filters(&Query::parse(None)).unwrap().is_empty());
        let e = filters(&Query::parse(Some("filters=%7B%22a%22%3A1%7D"))).unwrap_err();
        assert!(e.to_string().contains("filters"), "{e}");
    }
}
