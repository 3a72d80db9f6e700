//! Lambda: a CodeBuild build changed state (EventBridge) → the final check and sticky comment.

use std::sync::Arc;

use aws_lambda_events::event::codebuild::CodeBuildEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use slipway::app::cloud;
use slipway::artifacts::s3::S3Store;
use slipway::artifacts::ArtifactStore;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let (sdk, env) = slipway::aws::environment().await?;
    let pipeline = Arc::new(cloud::pipeline(&sdk, &env)?);
    let results: Option<Arc<dyn ArtifactStore>> =
        S3Store::from_settings(&sdk, &env).map(|s| Arc::new(s) as _);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<CodeBuildEvent>| {
        let (pipeline, results) = (Arc::clone(&pipeline), results.clone());
        async move { cloud::report_codebuild(&pipeline, results.as_deref(), event.payload).await }
    }))
    .await
}
