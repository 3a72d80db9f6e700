//! Lambda: verify, record, enqueue, answer. Configuration is read once, at cold start.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{service_fn, Error};
use slipway::app::WebhookApp;
use slipway::intake::RecordThenQueue;
use slipway::queue::sqs::SqsQueue;
use slipway::state::dynamodb::DynamoState;
use slipway::wire::settings;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let (sdk, env) = slipway::wire::aws::edge_environment().await?;
    let app = Arc::new(WebhookApp {
        ingress: settings::ingress(&env)?,
        intake: RecordThenQueue {
            state: DynamoState::from_sdk(&sdk, env.require(settings::TABLE)?),
            queue: SqsQueue::from_sdk(&sdk, env.require(settings::QUEUE_URL)?),
        },
    });
    lambda_http::run(service_fn(move |request| {
        let app = Arc::clone(&app);
        // Never an error of the invocation: every failure is an HTTP answer (a 5xx makes the
        // forge redeliver), with its detail in the log.
        async move { Ok::<_, Infallible>(slipway_webhook::handle(&app, request).await) }
    }))
    .await
}
