//! The handlers, wired to ports: the webhook edge, and (with the forges) the build pipeline.

#[cfg(feature = "forges")]
mod chatops;
#[cfg(all(feature = "aws", feature = "forges"))]
pub mod cloud;
#[cfg(any(feature = "local", feature = "aws-pages"))]
pub mod dashboard;
#[cfg(feature = "forges")]
pub mod deploy;
#[cfg(feature = "forges")]
mod error;
#[cfg(all(feature = "local", feature = "forges"))]
pub mod local;
pub mod pages;
#[cfg(feature = "forges")]
pub mod pipeline;
#[cfg(feature = "forges")]
mod repo_config;
mod webhook;

#[cfg(feature = "forges")]
pub use error::PipelineError;
pub use webhook::WebhookApp;
