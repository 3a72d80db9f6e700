//! A pull request's author attacks Slipway: each module is one line of attack, driven through
//! the real `slipway` binary or the pipeline over a fake forge.

mod policy;
mod sandbox;
mod secrets;
mod serve_files;

/// The binary under test, the agent of the pipelines the scenarios build with.
const SLIPWAY: &str = env!("CARGO_BIN_EXE_slipway");
