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

use crate::model::error::ErrorKind;

/// Why a process could not be wired at start: a setting missing or wrong, a secret that could not
/// be read, a store that would not open. Fixed by its operator, except an AWS hiccup.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    /// A setting outside Slipway's own (`AWS_REGION`), or a combination that cannot work.
    #[error("{0}")]
    Config(String),
    /// Reading a secret from Secrets Manager failed.
    #[error("reading {name}_ARN from Secrets Manager: {source}")]
    Secret {
        name: &'static str,
        kind: ErrorKind,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[cfg(feature = "image")]
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
}

impl StartupError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StartupError::Settings(_) | StartupError::Config(_) => ErrorKind::Permanent,
            StartupError::Secret { kind, .. } => *kind,
            StartupError::State(e) => e.kind(),
            #[cfg(feature = "image")]
            StartupError::Image(e) => e.kind(),
        }
    }
}
