//! What a Docker build needs decided before anything runs, without root and
//! without a store: which files of the context exist for the build
//! (`.dockerignore`), their content hashes (cached across builds), what a
//! `COPY` or `ADD` selects and where it lands, the cache key of each step,
//! and which stages a target needs in what order. The engine runs the steps.

#![forbid(unsafe_code)]

mod cache;
mod chown;
mod context;
mod digest;
mod dockerignore;
mod error;
mod glob;
mod image_fs;
mod parallel;
mod path_clean;
mod plan;
mod sources;

pub use cache::{CopyInputs, StepKey};
pub use chown::resolve_chown;
pub use context::{BuildContext, ContextEntry, EntryKind, FileTime, HashCache, HashStats};
pub use digest::Digest;
pub use dockerignore::IgnoreRules;
pub use error::{BuildError, Location};
pub use image_fs::{ImageEntry, ImageFs};
pub use plan::{
    host_platform_args, plan, stage_index, Base, ImageUse, Plan, PlanOptions, StagePlan,
};
pub use sources::{
    resolve_copy, resolve_copy_from, resolve_destination, CopyItem, CopyPlan, CopyRequest,
    Destination, Fetched, ItemSource, SourceDigest, SourceSpec,
};
