//! Lambda: verify, record, enqueue, answer. Configuration is read once, at cold start.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{service_fn, Error};
use slipway::app::dashboard::Dashboard;
use slipway::app::WebhookApp;
use slipway::artifacts::s3::S3Store;
use slipway::intake::RecordThenQueue;
use slipway::queue::sqs::SqsQueue;
use slipway::state::dynamodb::DynamoState;
use slipway::state::Records;
use slipway::wire::settings::{self, Env};
use slipway_webhook::Pages;

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
    let pages = Arc::new(pages(&sdk, &env)?);
    lambda_http::run(service_fn(move |request| {
        let (app, pages) = (Arc::clone(&app), Arc::clone(&pages));
        // Never an error of the invocation: every failure is an HTTP answer (a 5xx makes the
        // forge redeliver), with its detail in the log.
        async move {
            let answer = slipway_webhook::handle(&app, pages.as_ref().as_ref(), request).await;
            Ok::<_, Infallible>(answer)
        }
    }))
    .await
}

/// The run pages and downloads, when the stack gives this function the link key and the
/// bucket (without them every page answers "not found"); the dashboard, when it also gives
/// the dashboard token.
fn pages(sdk: &aws_types::SdkConfig, env: &Env) -> Result<Option<Pages>, Error> {
    let (Some(key), Some(bucket)) = (settings::link_key(env)?, env.get(settings::BUCKET)) else {
        return Ok(None);
    };
    let state = Arc::new(DynamoState::from_sdk(sdk, env.require(settings::TABLE)?));
    let dashboard = settings::dashboard_token(env)?
        .map(|token| Dashboard::new(state.clone() as Arc<dyn Records>, token, key.clone()));
    Ok(Some(Pages {
        state: Box::new(DynamoState::clone(&state)),
        store: Box::new(S3Store::connect(
            sdk,
            bucket,
            env.get(settings::S3_ENDPOINT),
        )),
        key,
        dashboard,
    }))
}
