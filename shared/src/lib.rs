//! Slipway: a continuous-delivery bot for GitHub and GitLab.
//!
//! The domain (events, webhook verification) is pure; I/O lives in adapters behind the ports in
//! [`state`] and [`queue`], each with an AWS and a one-machine implementation.

pub mod app;
pub mod artifacts;
#[cfg(feature = "aws-edge")]
pub mod aws;
pub mod command;
pub mod config;
pub mod deploy;
pub mod event;
pub mod failure;
pub mod forge;
pub mod image;
pub mod links;
pub mod plan;
pub mod policy;
pub mod queue;
pub mod render;
pub mod run;
pub mod runner;
#[cfg(feature = "local")]
pub mod server;
pub mod settings;
pub mod state;
pub mod webhook;

/// The error of an adapter's I/O: reported and retried, never shown to a webhook sender.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
