//! Moving images to and from registries: pull, push, login.

mod pull;
mod push;
pub(crate) mod registry;

pub use pull::{PullOptions, Pulled};
pub use push::{PushOptions, Pushed};
pub use registry::{check_login, login, logout, RegistryOptions};
