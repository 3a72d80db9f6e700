//! The wiring: the only place that reads settings and builds adapters — forge clients, artifact
//! and image stores, and the one cloud and one local pipeline the functions, the CLI and the tests
//! use. Everything below it takes what it needs as values.

#[cfg(feature = "aws")]
pub mod artifacts;
#[cfg(feature = "aws-edge")]
pub mod aws;
#[cfg(all(feature = "aws", feature = "forges"))]
pub mod cloud;
#[cfg(feature = "forges")]
pub mod forges;
#[cfg(feature = "image")]
pub mod images;
#[cfg(all(feature = "local", feature = "forges", feature = "image"))]
pub mod local;
pub mod settings;
