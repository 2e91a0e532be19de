#![forbid(unsafe_code)]
//! A blocking client for the OCI distribution spec (Docker registry v2),
//! used by the engine to pull and push images, plus docker-compatible
//! credential storage so `login` is shared with the docker CLI.
//!
//! Blobs stream in both directions; memory use doesn't grow with their
//! size. Authentication follows the registry's `WWW-Authenticate`
//! challenge (Bearer tokens or Basic), with tokens cached per scope.

mod auth;
mod auth_config;
mod client;
mod credentials;
mod endpoint;
mod error;

pub use auth_config::AuthConfig;
pub use client::{
    Blob, Client, ClientOptions, Manifest, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST,
    MAX_MANIFEST_SIZE, OCI_INDEX, OCI_MANIFEST,
};
pub use credentials::{podman_auth_files, CredentialStore, IDENTITY_TOKEN_USERNAME};
pub use error::{ErrorDetail, RegistryError};
