//! Slipway: a continuous-delivery bot for GitHub and GitLab.
//!
//! The domain (events, webhook verification) is pure; I/O lives in adapters behind the ports in
//! [`state`] and [`queue`], each with an AWS and a one-machine implementation.

pub mod app;
pub mod artifacts;
#[cfg(feature = "aws-edge")]
mod aws_error;
pub mod command;
pub mod config;
pub mod deploy;
pub mod forge;
pub mod image;
pub mod intake;
pub mod links;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod policy;
pub mod queue;
pub mod render;
pub mod runner;
#[cfg(feature = "local")]
pub mod server;
pub mod state;
pub mod webhook;
pub mod wire;
