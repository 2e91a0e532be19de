//! Images: names resolved to images, configs, listing, removal, inspect,
//! load, save, import.

pub(crate) mod changes;
pub(crate) mod config;
mod events;
mod import;
mod inspect;
mod list;
pub(crate) mod load;
pub(crate) mod manifest;
mod remove;
mod resolve;
mod save;
mod space;

pub use config::ImageConfig;
pub use import::ImportOptions;
pub use inspect::HistoryEntry;
pub use list::{ImageFilter, ImageSummary};
pub use load::{LoadSource, LoadedImage};
pub use remove::{RemovedImage, RmiEvent};
pub use save::SaveFormat;
pub use space::SpaceUsage;
