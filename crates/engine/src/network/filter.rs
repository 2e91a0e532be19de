//! docker's `network ls` and `network prune` filters, from the shared
//! [`Filters`] (the CLI's `--filter` or the API's `filters` JSON).

use chrono::DateTime;

use super::NetworkInfo;
use crate::filter::{labels_absent, labels_match, Filters};
use crate::EngineError;

const LIST_FILTERS: [&str; 7] = ["driver", "id", "label", "name", "scope", "type", "dangling"];
const PRUNE_FILTERS: [&str; 3] = ["until", "label", "label!"];

/// Which networks a listing or a prune takes.
#[derive(Debug, Clone, Default)]
pub struct NetworkFilter {
    filters: Filters,
    /// `dangling=`: whether no container is connected.
    dangling: Option<bool>,
    /// `until=`: made before this Unix time (prune).
    until: Option<i64>,
}

impl NetworkFilter {
    /// `network ls`: `driver`, `id`, `label`, `name`, `scope`, `type`
    /// (`custom`/`builtin`), `dangling`.
    pub fn for_list(filters: &Filters) -> Result<NetworkFilter, EngineError> {
        filters.check_keys(&LIST_FILTERS)?;
        for t in filters.get("type") {
            if !matches!(t.as_str(), "custom" | "builtin") {
                return Err(EngineError::Invalid(format!(
                    "invalid filter: 'type'='{t}'"
                )));
            }
        }
        // Checks the patterns once, so a bad one fails even with no network.
        filters.matches("name", "")?;
        filters.matches("id", "")?;
        Ok(NetworkFilter {
            dangling: filters.bool("dangling")?,
            filters: filters.clone(),
            until: None,
        })
    }

    /// `network prune`: `until`, `label`, `label!`.
    pub fn for_prune(filters: &Filters) -> Result<NetworkFilter, EngineError> {
        filters.check_keys(&PRUNE_FILTERS)?;
        let until = match filters.get("until").last() {
            Some(v) => Some(
                crate::events::parse_timestamp(v)
                    .map_err(|_| EngineError::Invalid(format!("invalid filter 'until={v}'")))?
                    .timestamp(),
            ),
            None => None,
        };
        Ok(NetworkFilter {
            filters: filters.clone(),
            dangling: None,
            until,
        })
    }

    /// Whether a network passes; `in_use` says whether a container is
    /// connected to it (for `dangling`).
    pub fn matches(&self, n: &NetworkInfo, in_use: bool) -> bool {
        let f = &self.filters;
        let label = |k: &str| n.config.labels.get(k).map(String::as_str);
        let created = DateTime::parse_from_rfc3339(&n.record.created_at)
            .map(|t| t.timestamp())
            .unwrap_or(0);
        f.exact("driver", &n.record.driver)
            && f.matches("id", &n.record.id).unwrap_or(false)
            && f.matches("name", &n.record.name).unwrap_or(false)
            && f.exact("scope", "local")
            && f.get("type")
                .iter()
                .all(|t| (t == "builtin") == n.is_predefined())
            && labels_match(&f.labels("label"), label)
            && labels_absent(&f.labels("label!"), label)
            && self.dangling.is_none_or(|d| d != in_use)
            && self.until.is_none_or(|u| created < u)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use berth_store::NetworkRecord;

    use super::*;
    use crate::network::NetworkConfig;

    fn network(name: &str, labels: &[(&str, &str)], created: &str) -> NetworkInfo {
        NetworkInfo {
            record: NetworkRecord {
                id: "abc123".into(),
                name: name.into(),
                driver: "bridge".into(),
                config: String::new(),
                created_at: created.into(),
            },
            config: NetworkConfig {
                driver: "bridge".into(),
                bridge: "br-abc".into(),
                subnets: vec![],
                user_subnets: false,
                internal: false,
                ipv6: false,
                attachable: false,
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
                options: BTreeMap::new(),
                default_bridge: false,
            },
        }
    }

    fn list(args: &[&str]) -> Result<NetworkFilter, EngineError> {
        NetworkFilter::for_list(&Filters::from_cli(args).unwrap())
    }

    #[test]
    fn list_filters_as_docker() {
        let n = network("front", &[("a", "b")], "2026-01-01T00:00:00Z");
        assert!(list(&["driver=bridge", "label=a=b", "type=custom"])
            .unwrap()
            .matches(&n, false));
        assert!(list(&["name=^fr"]).unwrap().matches(&n, false));
        assert!(!list(&["name=back"]).unwrap().matches(&n, false));
        assert!(list(&["id=abc"]).unwrap().matches(&n, false));
        assert!(!list(&["type=builtin"]).unwrap().matches(&n, false));
        assert!(!list(&["dangling=true"]).unwrap().matches(&n, true));
        assert!(list(&["dangling=false"]).unwrap().matches(&n, true));
        let err = |a: &[&str]| list(a).unwrap_err().to_string();
        assert_eq!(err(&["bogus=1"]), "invalid filter 'bogus'");
        assert_eq!(err(&["type=x"]), "invalid filter: 'type'='x'");
        assert_eq!(err(&["dangling=maybe"]), "invalid filter 'dangling=maybe'");
    }

    #[test]
    fn prune_filters_as_docker() {
        let n = network("front", &[("keep", "yes")], "2026-01-01T00:00:00Z");
        let prune = |a: &[&str]| NetworkFilter::for_prune(&Filters::from_cli(a).unwrap());
        assert!(prune(&["until=2026-06-01T00:00:00Z"])
            .unwrap()
            .matches(&n, false));
        assert!(!prune(&["until=2025-06-01T00:00:00Z"])
            .unwrap()
            .matches(&n, false));
        assert!(!prune(&["label!=keep"]).unwrap().matches(&n, false));
        assert!(prune(&["label=keep=yes"]).unwrap().matches(&n, false));
        assert!(prune(&["dangling=true"]).is_err());
    }
}
