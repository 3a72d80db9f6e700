//! Lambda: a CodeBuild build changed state (EventBridge) → the final check and sticky comment.

use std::sync::Arc;

use aws_lambda_events::event::codebuild::CodeBuildEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use slipway::app::cloud;
use slipway::artifacts::ArtifactStore;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let (sdk, env) = slipway::wire::aws::environment().await?;
    let pipeline = Arc::new(slipway::wire::cloud::pipeline(&sdk, &env)?);
    let results: Option<Arc<dyn ArtifactStore>> =
        slipway::wire::artifacts::s3_store(&sdk, &env).map(|s| Arc::new(s) as _);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<CodeBuildEvent>| {
        let (pipeline, results) = (Arc::clone(&pipeline), results.clone());
        async move { cloud::report_codebuild(&pipeline, results.as_deref(), event.payload).await }
    }))
    .await
}
