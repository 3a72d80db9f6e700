//! Lambda: a CodeBuild build changed state (EventBridge) → the final check and sticky comment.

use std::sync::Arc;

use aws_lambda_events::event::codebuild::CodeBuildEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use slipway::app::cloud;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    slipway::aws::init_tracing();
    let (sdk, env) = slipway::aws::environment().await?;
    let pipeline = Arc::new(cloud::pipeline(&sdk, &env)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<CodeBuildEvent>| {
        let pipeline = Arc::clone(&pipeline);
        async move { cloud::report_codebuild(&pipeline, event.payload).await }
    }))
    .await
}
