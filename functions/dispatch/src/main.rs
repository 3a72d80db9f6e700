//! Lambda: dispatch each queued event (SQS batch, partial batch failures).

use std::convert::Infallible;
use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use slipway::app::cloud;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let (sdk, env) = slipway::wire::aws::environment().await?;
    let pipeline = Arc::new(slipway::wire::cloud::pipeline(&sdk, &env)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let pipeline = Arc::clone(&pipeline);
        // Never an error of the invocation: a message that failed is named in the batch
        // response (with its error's kind in the log), and SQS redelivers just that one.
        async move { Ok::<_, Infallible>(cloud::dispatch_batch(&pipeline, event.payload).await) }
    }))
    .await
}
