//! Cache keys of build steps. A step is reused when its key matches one
//! recorded earlier; the key covers exactly what the step's result depends
//! on, following docker:
//!
//! - the parent: the base image for a stage's first step, else the previous
//!   step's key (so a change anywhere above, including `ENV`, `WORKDIR` or
//!   `SHELL`, changes every key below);
//! - the instruction text after variable expansion (`RUN` text is not
//!   expanded by the builder; its heredoc bodies belong to it);
//! - for `RUN`, the build args in scope, because they are its environment:
//!   every `ARG` the stage declared so far that has a value. Docker's
//!   predefined proxy args count only when declared. Other instructions see
//!   build args only through their expanded text;
//! - for `COPY`/`ADD`, what the sources hold ([`SourceDigest`]: content
//!   digests, paths, modes), the ownership and mode flags and, for
//!   `--from`, the source image's ID.

use std::collections::BTreeMap;

use crate::digest::{Digest, FieldHasher};
use crate::sources::SourceDigest;

/// What a `COPY`/`ADD` adds to its key beyond its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyInputs {
    pub sources: SourceDigest,
    /// The `--from` image's ID (a stage's result, or an image).
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
}

/// The inputs of one step's cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepKey {
    parent: String,
    instruction: String,
    build_args: BTreeMap<String, String>,
    copy: Option<CopyInputs>,
}

impl StepKey {
    /// A step whose result depends only on its parent and its expanded
    /// text: every metadata instruction (`ENV`, `LABEL`, `WORKDIR` ...).
    pub fn new(parent: impl Into<String>, instruction: impl Into<String>) -> StepKey {
        StepKey {
            parent: parent.into(),
            instruction: instruction.into(),
            build_args: BTreeMap::new(),
            copy: None,
        }
    }

    /// A `RUN`: `build_args` are the args in scope with their values.
    pub fn run(
        parent: impl Into<String>,
        instruction: impl Into<String>,
        build_args: BTreeMap<String, String>,
    ) -> StepKey {
        StepKey {
            build_args,
            ..StepKey::new(parent, instruction)
        }
    }

    /// A `COPY` or `ADD`.
    pub fn copy(
        parent: impl Into<String>,
        instruction: impl Into<String>,
        inputs: CopyInputs,
    ) -> StepKey {
        StepKey {
            copy: Some(inputs),
            ..StepKey::new(parent, instruction)
        }
    }

    /// The key itself.
    pub fn digest(&self) -> Digest {
        let mut hasher = FieldHasher::new("berth step 1");
        hasher.field(self.parent.as_bytes());
        hasher.field(self.instruction.as_bytes());
        hasher.field(&(self.build_args.len() as u64).to_le_bytes());
        for (name, value) in &self.build_args {
            hasher.field(name.as_bytes());
            hasher.field(value.as_bytes());
        }
        match &self.copy {
            None => hasher.field(b"no sources"),
            Some(copy) => {
                hasher.field(copy.sources.0.as_bytes());
                for flag in [&copy.from, &copy.chown, &copy.chmod] {
                    match flag {
                        None => hasher.field(b"unset"),
                        Some(value) => {
                            hasher.field(b"set");
                            hasher.field(value.as_bytes());
                        }
                    }
                }
            }
        }
        hasher.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{BuildContext, HashCache};
    use crate::dockerignore::IgnoreRules;
    use crate::error::Location;
    use crate::sources::{resolve_copy, CopyRequest, Destination, SourceSpec};
    use std::fs;
    use std::path::Path;

    const BASE: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    fn copy_key(root: &Path) -> Digest {
        let ctx = BuildContext::open(root, &IgnoreRules::default(), HashCache::default()).unwrap();
        let at = Location::new("Dockerfile", 2);
        let sources = [SourceSpec::Path(".".into())];
        let plan = resolve_copy(
            &ctx,
            &CopyRequest {
                at: &at,
                instruction: "COPY",
                sources: &sources,
                dest: Destination::new("/app/", "/"),
            },
        )
        .unwrap();
        let inputs = CopyInputs {
            sources: plan.digest,
            from: None,
            chown: None,
            chmod: None,
        };
        StepKey::copy(BASE, "COPY . /app/", inputs).digest()
    }

    #[test]
    fn touching_a_source_keeps_the_key_and_editing_it_changes_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("main.c"), "int main;").unwrap();
        let original = copy_key(dir.path());

        let file = fs::File::options()
            .write(true)
            .open(dir.path().join("main.c"))
            .unwrap();
        file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(3600))
            .unwrap();
        drop(file);
        assert_eq!(
            copy_key(dir.path()),
            original,
            "touch must not bust the cache"
        );

        fs::write(dir.path().join("main.c"), "int main();").unwrap();
        assert_ne!(
            copy_key(dir.path()),
            original,
            "an edit must bust the cache"
        );
    }

    #[test]
    fn build_args_change_run_keys_only() {
        let run =
            |value: &str| StepKey::run(BASE, "RUN make", args(&[("VERSION", value)])).digest();
        assert_eq!(run("1"), run("1"));
        assert_ne!(run("1"), run("2"));
        assert_ne!(
            StepKey::run(BASE, "RUN make", args(&[])).digest(),
            StepKey::run(BASE, "RUN make", args(&[("VERSION", "")])).digest()
        );
        // A metadata step sees args only through its expanded text.
        assert_eq!(
            StepKey::new(BASE, "ENV V=1").digest(),
            StepKey::new(BASE, "ENV V=1").digest()
        );
        assert_ne!(
            StepKey::new(BASE, "ENV V=1").digest(),
            StepKey::new(BASE, "ENV V=2").digest()
        );
    }

    #[test]
    fn parent_and_flags_are_part_of_the_key() {
        let other = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
        assert_ne!(
            StepKey::new(BASE, "WORKDIR /x").digest(),
            StepKey::new(other, "WORKDIR /x").digest()
        );
        let digest = StepKey::new(BASE, "x").digest();
        let inputs = |chown: Option<&str>, from: Option<&str>| CopyInputs {
            sources: SourceDigest(digest),
            from: from.map(str::to_string),
            chown: chown.map(str::to_string),
            chmod: None,
        };
        let key = |chown, from| StepKey::copy(BASE, "COPY a b", inputs(chown, from)).digest();
        assert_ne!(key(None, None), key(Some("1000"), None));
        assert_ne!(key(None, None), key(None, Some("builder")));
        assert_ne!(key(Some(""), None), key(None, None));
    }
}
