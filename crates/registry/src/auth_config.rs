//! docker's `AuthConfig`: one registry's credentials as a caller passes
//! them in (the Engine API's `X-Registry-Auth` and `X-Registry-Config`
//! headers) and as config.json keeps them under `auths`.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;

use crate::credentials::IDENTITY_TOKEN_USERNAME;
use crate::endpoint::normalize_key;
use crate::RegistryError;

/// One registry's credentials. Field names are docker's; like Go's JSON
/// decoder, the capitalised spellings are accepted too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AuthConfig {
    #[serde(default, alias = "Username")]
    pub username: String,
    #[serde(default, alias = "Password")]
    pub password: String,
    /// base64 of `username:password`.
    #[serde(default, alias = "Auth")]
    pub auth: String,
    /// The registry these are for (`registry.example:5000`,
    /// `https://index.docker.io/v1/`); empty: whichever registry the
    /// operation talks to.
    #[serde(default, rename = "serveraddress", alias = "ServerAddress")]
    pub server_address: String,
    /// An OAuth2 refresh token, exchanged at the registry's token endpoint.
    #[serde(default, rename = "identitytoken", alias = "IdentityToken")]
    pub identity_token: String,
    /// A bearer token sent to the registry as it is.
    #[serde(default, rename = "registrytoken", alias = "RegistryToken")]
    pub registry_token: String,
}

/// base64 as docker's clients send it: URL-safe (docker's CLI, docker-py)
/// or standard, with or without padding.
fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let engine = GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let text: String = text
        .trim()
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    engine.decode(text)
}

fn invalid_header(header: &str, detail: impl std::fmt::Display) -> RegistryError {
    RegistryError::InvalidAuthConfig {
        what: format!("{header} header"),
        detail: detail.to_string(),
    }
}

impl AuthConfig {
    /// `X-Registry-Auth`: base64 of one `AuthConfig` in JSON. An empty
    /// header is no credentials, as for docker.
    pub fn from_registry_auth_header(value: &str) -> Result<Option<AuthConfig>, RegistryError> {
        const HEADER: &str = "X-Registry-Auth";
        if value.trim().is_empty() {
            return Ok(None);
        }
        let json = decode_base64(value).map_err(|e| invalid_header(HEADER, e))?;
        let config: AuthConfig =
            serde_json::from_slice(&json).map_err(|e| invalid_header(HEADER, e))?;
        Ok(Some(config))
    }

    /// `X-Registry-Config` (a build's): base64 of a JSON map from server
    /// address to `AuthConfig`; each entry's address is its key when it
    /// names none itself.
    pub fn from_registry_config_header(value: &str) -> Result<Vec<AuthConfig>, RegistryError> {
        const HEADER: &str = "X-Registry-Config";
        if value.trim().is_empty() {
            return Ok(Vec::new());
        }
        let json = decode_base64(value).map_err(|e| invalid_header(HEADER, e))?;
        let map: BTreeMap<String, AuthConfig> =
            serde_json::from_slice(&json).map_err(|e| invalid_header(HEADER, e))?;
        Ok(map
            .into_iter()
            .map(|(server, mut config)| {
                if config.server_address.is_empty() {
                    config.server_address = server;
                }
                config
            })
            .collect())
    }

    /// Whether these are for `registry` (a name as in a reference).
    pub(crate) fn is_for(&self, registry: &str) -> bool {
        self.server_address.is_empty()
            || normalize_key(&self.server_address) == normalize_key(registry)
    }

    /// `(username, password)` to authenticate with; an identity token is
    /// given as [`IDENTITY_TOKEN_USERNAME`] and the token. `None` when
    /// there is nothing but (maybe) a registry token. The error is the
    /// detail of a malformed `auth`.
    pub(crate) fn credentials(&self) -> Result<Option<(String, String)>, String> {
        if !self.identity_token.is_empty() {
            return Ok(Some((
                IDENTITY_TOKEN_USERNAME.to_string(),
                self.identity_token.clone(),
            )));
        }
        if !self.auth.is_empty() {
            let decoded = STANDARD
                .decode(self.auth.trim())
                .map_err(|e| format!("invalid auth field: {e}"))?;
            let decoded = String::from_utf8(decoded).map_err(|_| "auth field is not utf-8")?;
            let (user, pass) = decoded.split_once(':').ok_or("auth field has no ':'")?;
            return Ok(Some((user.to_string(), pass.to_string())));
        }
        Ok((!self.username.is_empty()).then(|| (self.username.clone(), self.password.clone())))
    }
}

/// The first of `given` that is for `registry`: one naming it wins over
/// one naming no registry.
pub(crate) fn given_for<'a>(given: &'a [AuthConfig], registry: &str) -> Option<&'a AuthConfig> {
    given
        .iter()
        .find(|c| !c.server_address.is_empty() && c.is_for(registry))
        .or_else(|| given.iter().find(|c| c.server_address.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url_safe(json: &str) -> String {
        base64::engine::general_purpose::URL_SAFE.encode(json)
    }

    #[test]
    fn registry_auth_headers_decode_in_either_alphabet_and_spelling() {
        let json = r#"{"username":"u","password":"p?>","serveraddress":"reg:5000"}"#;
        let expected = AuthConfig {
            username: "u".into(),
            password: "p?>".into(),
            server_address: "reg:5000".into(),
            ..AuthConfig::default()
        };
        for header in [
            url_safe(json),
            STANDARD.encode(json),
            url_safe(json).trim_end_matches('=').to_string(),
        ] {
            assert_eq!(
                AuthConfig::from_registry_auth_header(&header).unwrap(),
                Some(expected.clone()),
                "{header}"
            );
        }
        let go = url_safe(r#"{"Username":"u","Password":"p?>","ServerAddress":"reg:5000"}"#);
        assert_eq!(
            AuthConfig::from_registry_auth_header(&go).unwrap(),
            Some(expected)
        );
        assert_eq!(AuthConfig::from_registry_auth_header("").unwrap(), None);
        let err = AuthConfig::from_registry_auth_header("!!!")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid X-Registry-Auth header: "), "{err}");
        let err = AuthConfig::from_registry_auth_header(&url_safe("[1]"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid X-Registry-Auth header: "), "{err}");
    }

    #[test]
    fn registry_config_headers_key_entries_by_server() {
        let json = r#"{"reg:5000":{"username":"a","password":"1"},
                       "https://index.docker.io/v1/":{"auth":"Yjoy"}}"#;
        let configs = AuthConfig::from_registry_config_header(&url_safe(json)).unwrap();
        let hub = given_for(&configs, "docker.io").unwrap();
        assert_eq!(hub.credentials().unwrap(), Some(("b".into(), "2".into())));
        let reg = given_for(&configs, "reg:5000").unwrap();
        assert_eq!(reg.credentials().unwrap(), Some(("a".into(), "1".into())));
        assert!(given_for(&configs, "other:5000").is_none());
        assert!(AuthConfig::from_registry_config_header("")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn credentials_prefer_tokens_then_auth_then_username() {
        let mut c = AuthConfig {
            username: "u".into(),
            password: "p".into(),
            ..AuthConfig::default()
        };
        assert_eq!(c.credentials().unwrap(), Some(("u".into(), "p".into())));
        c.auth = STANDARD.encode("x:y:z");
        assert_eq!(c.credentials().unwrap(), Some(("x".into(), "y:z".into())));
        c.identity_token = "refresh".into();
        assert_eq!(
            c.credentials().unwrap(),
            Some((IDENTITY_TOKEN_USERNAME.into(), "refresh".into()))
        );
        let only_token = AuthConfig {
            registry_token: "t".into(),
            ..AuthConfig::default()
        };
        assert_eq!(only_token.credentials().unwrap(), None);
        let bad = AuthConfig {
            auth: "bm9jb2xvbg==".into(),
            ..AuthConfig::default()
        };
        assert_eq!(bad.credentials().unwrap_err(), "auth field has no ':'");
    }

    #[test]
    fn an_address_naming_the_registry_wins_over_a_blank_one() {
        let given = [
            AuthConfig {
                username: "any".into(),
                ..AuthConfig::default()
            },
            AuthConfig {
                username: "hub".into(),
                server_address: "index.docker.io".into(),
                ..AuthConfig::default()
            },
        ];
        assert_eq!(given_for(&given, "docker.io").unwrap().username, "hub");
        assert_eq!(given_for(&given, "reg:5000").unwrap().username, "any");
        assert!(given_for(&[], "reg:5000").is_none());
    }
}
