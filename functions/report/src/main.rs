//! Lambda: a CodeBuild build changed state (EventBridge) → the final check and sticky comment.

use std::sync::Arc;

use aws_lambda_events::event::codebuild::CodeBuildEvent;
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use slipway::app::{cloud, PipelineError};
use slipway::artifacts::ArtifactStore;

/// What the handler reports to Lambda: an error type that names the kind and the part that
/// failed (`Slipway.Retryable.StateStore`), for alarms and retries to match on, instead of a
/// Rust type name; the error's own text goes to the log only.
#[derive(Debug)]
struct FunctionError(PipelineError);

impl From<FunctionError> for Diagnostic {
    fn from(FunctionError(error): FunctionError) -> Diagnostic {
        // The runtime posts only the diagnostic, so the detail is logged here.
        lambda_runtime::tracing::error!(%error, error_type = %error.error_type(), "reporting the build failed");
        Diagnostic {
            error_type: error.error_type(),
            error_message: error.public_message(),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let (sdk, env) = slipway::wire::aws::environment().await?;
    let pipeline = Arc::new(slipway::wire::cloud::pipeline(&sdk, &env)?);
    let results: Option<Arc<dyn ArtifactStore>> =
        slipway::wire::artifacts::s3_store(&sdk, &env).map(|s| Arc::new(s) as _);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<CodeBuildEvent>| {
        let (pipeline, results) = (Arc::clone(&pipeline), results.clone());
        async move {
            cloud::report_codebuild(&pipeline, results.as_deref(), event.payload)
                .await
                .map_err(FunctionError)
        }
    }))
    .await
}
