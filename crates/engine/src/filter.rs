//! docker's `--filter` arguments, parsed once for every listing and for
//! events: the CLI's `key=value` strings and the Engine API's JSON forms
//! (`{"key":["value"]}`, or the older `{"key":{"value":true}}`) give the
//! same [`Filters`], which each use case then turns into its own typed
//! filter, refusing keys it does not know.

use std::collections::BTreeMap;

use crate::EngineError;

/// Filter values by key, as docker's `filters.Args`: values of one key
/// are alternatives (any may match), different keys must all match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    values: BTreeMap<String, Vec<String>>,
}

impl Filters {
    /// The CLI's `--filter key=value` arguments.
    pub fn from_cli<S: AsRef<str>>(args: &[S]) -> Result<Filters, EngineError> {
        let mut f = Filters::default();
        for arg in args {
            let arg = arg.as_ref();
            let (k, v) = arg.split_once('=').ok_or_else(|| {
                EngineError::Invalid(format!("bad format of filter (expected name=value): {arg}"))
            })?;
            f.add(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        Ok(f)
    }

    /// The API's `filters` query parameter: a JSON object mapping each
    /// key to a list of values or to an object whose keys are the values.
    pub fn from_json(text: &str) -> Result<Filters, EngineError> {
        let mut f = Filters::default();
        if text.trim().is_empty() {
            return Ok(f);
        }
        let bad = |detail: String| EngineError::Invalid(format!("invalid filter JSON: {detail}"));
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let serde_json::Value::Object(map) = v else {
            return Err(bad("expected an object".into()));
        };
        for (key, values) in map {
            match values {
                serde_json::Value::Array(list) => {
                    for item in list {
                        match item {
                            serde_json::Value::String(s) => f.add(key.clone(), s),
                            other => return Err(bad(format!("{key}: {other} is not a string"))),
                        }
                    }
                }
                serde_json::Value::Object(set) => {
                    for (value, on) in set {
                        if on.as_bool() != Some(false) {
                            f.add(key.clone(), value);
                        }
                    }
                }
                other => {
                    return Err(bad(format!(
                        "{key}: expected a list of values, got {other}"
                    )))
                }
            }
        }
        Ok(f)
    }

    fn add(&mut self, key: String, value: String) {
        let values = self.values.entry(key).or_default();
        if !values.contains(&value) {
            values.push(value);
        }
    }

    /// Refuses keys outside `known`, in docker's words.
    pub fn check_keys(&self, known: &[&str]) -> Result<(), EngineError> {
        match self.values.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(EngineError::Invalid(format!("invalid filter '{k}'"))),
            None => Ok(()),
        }
    }

    /// The values given for `key` (empty when none).
    pub fn get(&self, key: &str) -> &[String] {
        self.values.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// A boolean filter (`dangling=true`); the last value given wins.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, EngineError> {
        match self.get(key).last() {
            None => Ok(None),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                _ => Err(EngineError::Invalid(format!("invalid filter '{key}={v}'"))),
            },
        }
    }

    /// Whether `name` matches any of the patterns given for `key`, as
    /// unanchored regular expressions (docker's `filters.Match`); true when
    /// none was given.
    pub fn matches(&self, key: &str, name: &str) -> Result<bool, EngineError> {
        let patterns = self.get(key);
        if patterns.is_empty() {
            return Ok(true);
        }
        for p in patterns {
            let re = regex::Regex::new(p)
                .map_err(|e| EngineError::Invalid(format!("invalid filter '{key}={p}': {e}")))?;
            if re.is_match(name) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether `value` is one of those given for `key`; true when none was.
    pub fn exact(&self, key: &str, value: &str) -> bool {
        let given = self.get(key);
        given.is_empty() || given.iter().any(|v| v == value)
    }

    /// `label` values as (key, optional value) pairs.
    pub fn labels(&self, key: &str) -> Vec<(String, Option<String>)> {
        self.get(key)
            .iter()
            .map(|l| match l.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (l.clone(), None),
            })
            .collect()
    }
}

/// Whether `attrs` has every `label` asked for (each key, with its value
/// when one is given), as docker's `MatchKVList`.
pub(crate) fn labels_match<'a>(
    wanted: &[(String, Option<String>)],
    get: impl Fn(&str) -> Option<&'a str>,
) -> bool {
    wanted.iter().all(|(k, v)| match (get(k), v) {
        (Some(_), None) => true,
        (Some(actual), Some(v)) => actual == v,
        (None, _) => false,
    })
}

/// docker's `label!=`: none of the labels asked for (with its value, when
/// one is given) is there.
pub(crate) fn labels_absent<'a>(
    unwanted: &[(String, Option<String>)],
    get: impl Fn(&str) -> Option<&'a str>,
) -> bool {
    unwanted.iter().all(|(k, v)| match (get(k), v) {
        (Some(_), None) => false,
        (Some(actual), Some(v)) => actual != v,
        (None, _) => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_and_api_forms_give_the_same_filters() {
        let cli = Filters::from_cli(&["label=a=b", "status=running", "status=exited"]).unwrap();
        let list =
            Filters::from_json(r#"{"label":["a=b"],"status":["running","exited"]}"#).unwrap();
        let set =
            Filters::from_json(r#"{"label":{"a=b":true},"status":{"running":true,"exited":true}}"#)
                .unwrap();
        assert_eq!(cli, list);
        assert_eq!(cli, set);
        assert_eq!(cli.get("status"), ["running", "exited"]);
        assert_eq!(cli.labels("label"), [("a".into(), Some("b".into()))]);
        assert!(cli.get("name").is_empty());
        assert!(Filters::from_json("").unwrap().is_empty());
    }

    #[test]
    fn booleans_patterns_and_negated_labels() {
        let f =
            Filters::from_cli(&["dangling=TRUE", "name=^d.", "name=x$", "driver=local"]).unwrap();
        assert_eq!(f.bool("dangling").unwrap(), Some(true));
        assert_eq!(f.bool("other").unwrap(), None);
        assert!(f.matches("name", "db1").unwrap());
        assert!(f.matches("name", "box").unwrap());
        assert!(!f.matches("name", "xdb").unwrap());
        assert!(
            f.matches("label", "anything").unwrap(),
            "no pattern: all match"
        );
        assert!(f.exact("driver", "local") && !f.exact("driver", "nfs"));
        assert!(f.exact("scope", "x"));
        let bad = Filters::from_cli(&["dangling=maybe", "name=("]).unwrap();
        assert_eq!(
            bad.bool("dangling").unwrap_err().to_string(),
            "invalid filter 'dangling=maybe'"
        );
        assert!(bad.matches("name", "x").is_err());
        let not = Filters::from_cli(&["label!=keep", "label!=env=prod"]).unwrap();
        let labels = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(pk, _)| *pk == k).map(|(_, v)| *v)
        };
        assert!(labels_absent(
            &not.labels("label!"),
            labels(&[("env", "dev")])
        ));
        assert!(!labels_absent(
            &not.labels("label!"),
            labels(&[("keep", "")])
        ));
        assert!(!labels_absent(
            &not.labels("label!"),
            labels(&[("env", "prod")])
        ));
    }

    #[test]
    fn bad_filters_are_refused_in_dockers_words() {
        assert_eq!(
            Filters::from_cli(&["status"]).unwrap_err().to_string(),
            "bad format of filter (expected name=value): status"
        );
        assert!(Filters::from_json(r#"["status"]"#).is_err());
        assert!(Filters::from_json(r#"{"status":[1]}"#).is_err());
        let f = Filters::from_cli(&["colour=red"]).unwrap();
        assert_eq!(
            f.check_keys(&["status"]).unwrap_err().to_string(),
            "invalid filter 'colour'"
        );
    }
}
