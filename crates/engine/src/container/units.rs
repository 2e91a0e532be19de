//! Sizes, CPUs and signals as docker's flags write them.

use crate::EngineError;

/// `--memory 512m` and friends, with docker's units and errors.
pub fn parse_size(flag: &str, value: &str) -> Result<i64, EngineError> {
    Ok(berth_runtime::units::parse_size(flag, value)?)
}

/// `--cpus 1.5` as nano-CPUs.
pub fn parse_cpus(value: &str) -> Result<i64, EngineError> {
    Ok(berth_runtime::units::parse_cpus(value)?)
}

/// A signal by number or name (`9`, `KILL`, `SIGKILL`, `RTMIN+3`), as
/// docker's signal table knows them.
pub fn parse_signal(s: &str) -> Result<i32, EngineError> {
    Ok(berth_runtime::signal::parse_signal(s)?)
}
