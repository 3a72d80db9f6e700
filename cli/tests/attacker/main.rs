//! A pull request's author attacks Slipway: each module is one line of attack, driven through
//! the real `slipway` binary or the pipeline over a fake forge.

#[path = "../common/mod.rs"]
mod common;
#[path = "../../../shared/tests/support/moto.rs"]
mod moto;
mod policy;
mod sandbox;
mod secrets;
mod serve_files;
