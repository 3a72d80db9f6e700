//! What Slipway's test crates share (issue #13): fixtures, the webhook edge's secrets and signed
//! headers, sample runs and the `StateStore` contracts, a fake GitHub serving a real git
//! repository, the GitHub scenario harness, GitHub's REST description as a request checker,
//! `moto_server` and AWS fixtures on it, and a real OCI registry.
//!
//! A dev-dependency of every test crate. It depends on `slipway`, so `slipway`'s own integration
//! tests (`shared/tests`) use it; its lib unit tests must not (they see a different compilation
//! of `slipway`). Nothing here knows where the `slipway` binary is: tests in the CLI crate pass
//! `env!("CARGO_BIN_EXE_slipway")` in.

pub mod aws;
pub mod fixtures;
pub mod github;
pub mod harness;
pub mod moto;
pub mod openapi;
pub mod registry;
pub mod serve;
pub mod store;
pub mod webhook;

pub use fixtures::*;
pub use github::github_forges;
pub use moto::Moto;
pub use store::*;
pub use webhook::*;
