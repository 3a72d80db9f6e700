//! The pipeline's error: whichever port failed, kept as its own typed error, so that a caller
//! can ask whether to retry (and, for a forge's rate limit, how long to wait) and a Lambda can
//! name what failed without showing the text.

use crate::artifacts::ArtifactError;
use crate::forge::ForgeError;
use crate::image::ImageError;
use crate::model::error::ErrorKind;
use crate::model::event::{ForgeKind, RunId};
use crate::runner::RunnerError;
use crate::state::StateError;

/// Why the pipeline could not finish handling an event, a report or a sweep. The text is for the
/// log: what a pull request reads is rendered from `model::failure::Failure` instead.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Forge(#[from] ForgeError),
    #[error(transparent)]
    Runner(#[from] RunnerError),
    #[error(transparent)]
    Artifacts(#[from] ArtifactError),
    #[error(transparent)]
    Image(#[from] ImageError),
    /// An event or run of a forge this Slipway has no credentials for.
    #[error("no {0} credentials are configured")]
    NoCredentials(ForgeKind),
    /// A run that was just found present could not be read back.
    #[error("run {0} vanished")]
    RunVanished(RunId),
    /// A queue message that is not a queued event.
    #[error("{0}")]
    BadMessage(String),
}

impl PipelineError {
    /// Whether handling the same input again may succeed; a forge's rate limit stays a rate
    /// limit, with its hint.
    pub fn kind(&self) -> ErrorKind {
        match self {
            PipelineError::State(e) => e.kind(),
            PipelineError::Forge(e) => e.kind(),
            PipelineError::Runner(e) => e.kind(),
            PipelineError::Artifacts(e) => e.kind(),
            PipelineError::Image(e) => e.kind(),
            PipelineError::NoCredentials(_)
            | PipelineError::RunVanished(_)
            | PipelineError::BadMessage(_) => ErrorKind::Permanent,
        }
    }

    /// The part that failed, in one word fit for an error type or a metric.
    pub fn part(&self) -> &'static str {
        match self {
            PipelineError::State(_) | PipelineError::RunVanished(_) => "StateStore",
            PipelineError::Forge(_) => "Forge",
            PipelineError::Runner(_) => "Runner",
            PipelineError::Artifacts(_) => "Artifacts",
            PipelineError::Image(_) => "Images",
            PipelineError::NoCredentials(_) => "Config",
            PipelineError::BadMessage(_) => "Queue",
        }
    }

    /// `Slipway.<kind>.<part>`, e.g. `Slipway.Retryable.StateStore`: what a Lambda reports as
    /// its error type, for alarms and retry policies to match on.
    pub fn error_type(&self) -> String {
        format!("Slipway.{}.{}", self.kind(), self.part())
    }

    /// A message that names the failure without its text (which may hold ARNs, hosts or table
    /// names): the text goes to the log.
    pub fn public_message(&self) -> String {
        let retry = if self.kind().is_retryable() {
            "it may succeed if retried"
        } else {
            "retrying will not help"
        };
        format!(
            "{} failed ({retry}); the details are in the log",
            self.part()
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_lambda_error_names_the_kind_and_the_part_but_not_the_text() {
        let limited = PipelineError::from(ForgeError::RateLimited {
            what: "listing comments".into(),
            retry_after_secs: Some(30),
        });
        assert_eq!(
            limited.kind(),
            ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(30))
            }
        );
        assert_eq!(limited.error_type(), "Slipway.RateLimited.Forge");

        let corrupt = PipelineError::from(StateError::Corrupt("a run item without its data"));
        assert_eq!(corrupt.error_type(), "Slipway.Permanent.StateStore");
        let message = corrupt.public_message();
        assert!(!message.contains("run item"), "{message}");
        // The log keeps the text as it was.
        assert_eq!(corrupt.to_string(), "a run item without its data");
    }
}
