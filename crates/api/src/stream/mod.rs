//! Streams: docker's 8-byte multiplexed frames.

mod stdcopy;

pub use stdcopy::{frame, StdStream};
