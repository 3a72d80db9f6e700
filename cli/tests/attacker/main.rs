//! A pull request's author attacks Slipway: each module is one line of attack, driven through
//! the real `slipway` binary or the pipeline over a fake forge.

mod sandbox;
mod secrets;
mod serve_files;
