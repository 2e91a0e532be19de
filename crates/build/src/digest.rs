//! SHA-256 digests, and the unambiguous field encoding that every digest
//! over structured data here uses.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// A SHA-256 digest; shown as `sha256:<hex>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lower-case hex digits.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the 64 hex digits (no `sha256:` prefix).
    pub fn from_hex(text: &str) -> Option<Digest> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Digest(bytes))
    }

    pub(crate) fn of_hasher(hasher: Sha256) -> Digest {
        Digest(hasher.finalize().into())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Hashes a sequence of fields, each prefixed with its length, so that no
/// two different sequences share an encoding (`"ab" + "c"` is not
/// `"a" + "bc"`). The domain string keeps digests of different kinds apart.
pub(crate) struct FieldHasher(Sha256);

impl FieldHasher {
    pub(crate) fn new(domain: &str) -> FieldHasher {
        let mut hasher = FieldHasher(Sha256::new());
        hasher.field(domain.as_bytes());
        hasher
    }

    pub(crate) fn field(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    pub(crate) fn finish(self) -> Digest {
        Digest::of_hasher(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_unambiguous() {
        let digest = |fields: &[&str]| {
            let mut hasher = FieldHasher::new("test");
            for field in fields {
                hasher.field(field.as_bytes());
            }
            hasher.finish()
        };
        assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]));
        assert_ne!(digest(&["", "x"]), digest(&["x"]));
        assert_eq!(digest(&["a"]), digest(&["a"]));
    }

    #[test]
    fn shows_and_parses_hex() {
        let digest = Digest::of_hasher(Sha256::new());
        assert_eq!(
            digest.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::from_hex(&digest.hex()), Some(digest));
        assert_eq!(Digest::from_hex("zz"), None);
    }
}
