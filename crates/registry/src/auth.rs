//! The pieces of the distribution auth flow that need no network:
//! parsing `WWW-Authenticate` challenges and caching bearer tokens.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};

/// What a registry asked for in its 401 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
    Basic,
}

/// Picks the challenge to answer from all `WWW-Authenticate` headers;
/// Bearer wins over Basic because it never sends the password to the
/// registry itself.
pub(crate) fn parse_challenge(headers: &HeaderMap) -> Option<Challenge> {
    let mut basic = false;
    for value in headers.get_all(WWW_AUTHENTICATE) {
        let Ok(value) = value.to_str() else { continue };
        let value = value.trim();
        let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            let params = parse_params(rest);
            let Some(realm) = params.get("realm").filter(|r| !r.is_empty()) else {
                continue;
            };
            return Some(Challenge::Bearer {
                realm: realm.clone(),
                service: params.get("service").cloned(),
                scope: params.get("scope").cloned(),
            });
        }
        basic |= scheme.eq_ignore_ascii_case("basic");
    }
    basic.then_some(Challenge::Basic)
}

/// `key=value` and `key="quoted \"value\""` pairs separated by commas;
/// keys are lower-cased as auth-param names are case-insensitive.
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            return out;
        }
        if chars.next_if_eq(&'=').is_none() {
            continue;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        } else {
            value.extend(std::iter::from_fn(|| chars.next_if(|c| *c != ',')));
            value = value.trim().to_string();
        }
        out.insert(key.trim().to_ascii_lowercase(), value);
    }
}

/// Whether a token granted for scope `have` is good for scope `want`:
/// same resource, and every wanted action among the granted ones
/// (a push token also serves pulls).
fn covers(have: &str, want: &str) -> bool {
    let (Some((have_res, have_act)), Some((want_res, want_act))) =
        (have.rsplit_once(':'), want.rsplit_once(':'))
    else {
        return have == want;
    };
    let granted: Vec<&str> = have_act.split(',').collect();
    have_res == want_res
        && want_act
            .split(',')
            .all(|a| granted.contains(&a) || granted.contains(&"*"))
}

struct CachedToken {
    scopes: Vec<String>,
    token: String,
    expires: Instant,
}

/// Bearer tokens per registry, reused until shortly before they expire.
#[derive(Default)]
pub(crate) struct TokenCache {
    tokens: HashMap<String, Vec<CachedToken>>,
}

/// Registries may omit `expires_in`; the spec says to assume 60 seconds,
/// and docker treats shorter lifetimes as 60 too.
const MIN_TOKEN_LIFETIME: u64 = 60;
/// Renew this long before expiry so a token doesn't lapse in flight.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

impl TokenCache {
    pub(crate) fn get(&self, registry: &str, scopes: &[String]) -> Option<String> {
        let now = Instant::now();
        self.tokens.get(registry)?.iter().find_map(|t| {
            let fits =
                t.expires > now && scopes.iter().all(|w| t.scopes.iter().any(|h| covers(h, w)));
            fits.then(|| t.token.clone())
        })
    }

    pub(crate) fn insert(
        &mut self,
        registry: &str,
        scopes: &[String],
        token: String,
        expires_in: Option<u64>,
    ) {
        let now = Instant::now();
        let lifetime = Duration::from_secs(
            expires_in
                .unwrap_or(MIN_TOKEN_LIFETIME)
                .max(MIN_TOKEN_LIFETIME),
        );
        let entries = self.tokens.entry(registry.to_string()).or_default();
        entries.retain(|t| t.expires > now && t.scopes != scopes);
        entries.push(CachedToken {
            scopes: scopes.to_vec(),
            token,
            expires: now + lifetime - EXPIRY_MARGIN,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(WWW_AUTHENTICATE, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn parses_bearer_challenge_with_quoted_params() {
        let h = headers(&[
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        ]);
        assert_eq!(
            parse_challenge(&h),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            })
        );
        let h = headers(&[r#"bearer Realm=http://x/t, Service="a \"b\"""#]);
        assert_eq!(
            parse_challenge(&h),
            Some(Challenge::Bearer {
                realm: "http://x/t".into(),
                service: Some("a \"b\"".into()),
                scope: None
            })
        );
    }

    #[test]
    fn prefers_bearer_and_ignores_unusable_challenges() {
        let h = headers(&[r#"Basic realm="r""#, r#"Bearer realm="https://a/token""#]);
        assert!(matches!(
            parse_challenge(&h),
            Some(Challenge::Bearer { .. })
        ));
        assert_eq!(
            parse_challenge(&headers(&[r#"Basic realm="Registry""#])),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge(&headers(&["Bearer service=x"])), None);
        assert_eq!(parse_challenge(&headers(&["Negotiate"])), None);
        assert_eq!(parse_challenge(&HeaderMap::new()), None);
    }

    #[test]
    fn push_tokens_serve_pulls_but_not_the_reverse() {
        assert!(covers("repository:a/b:pull,push", "repository:a/b:pull"));
        assert!(!covers("repository:a/b:pull", "repository:a/b:pull,push"));
        assert!(!covers("repository:a/c:pull,push", "repository:a/b:pull"));
        assert!(covers("repository:a/b:*", "repository:a/b:push"));

        let mut cache = TokenCache::default();
        let push = vec!["repository:a/b:pull,push".to_string()];
        cache.insert("r", &push, "t1".into(), Some(300));
        assert_eq!(
            cache.get("r", &["repository:a/b:pull".to_string()]),
            Some("t1".into())
        );
        assert_eq!(cache.get("r", &["repository:a/c:pull".to_string()]), None);
        assert_eq!(cache.get("other", &push), None);
    }
}
