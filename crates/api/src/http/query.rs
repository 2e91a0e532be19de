//! Query parameters, read as docker reads them.

use berth_engine::Filters;

use crate::error::ApiError;

#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        Query {
            pairs: query
                .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Docker's boolean parameters: anything but empty, `0`, `no`,
    /// `false` or `none` is true.
    pub fn bool(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
        })
    }

    /// An integer parameter; a value that is no integer is a 400 naming it.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid value for query parameter {key}: {v:?} is not an integer"
                ))
            }),
        }
    }

    /// `filters`, docker's JSON filter form, parsed by the engine.
    pub fn filters(&self) -> Result<Filters, ApiError> {
        match self.get("filters").filter(|v| !v.trim().is_empty()) {
            None => Ok(Filters::default()),
            Some(v) => Ok(Filters::from_json(v)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_docker_reads_them() {
        let q = Query::parse(Some("all=1&force=false&t=abc&v=True&f=a&f=b&n=%2042"));
        assert!(q.bool("all"));
        assert!(!q.bool("force"));
        assert!(q.bool("v"));
        assert!(!q.bool("missing"));
        assert!(Query::parse(Some("filters=%7Bx")).filters().is_err());
        let f = Query::parse(Some("filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"));
        assert_eq!(f.filters().unwrap().get("label"), ["a=b"]);
    }
}
