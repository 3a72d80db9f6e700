//! Lambda (scheduled): fail runs left unfinished past their timeout, so nothing stays pending.

use std::sync::Arc;
use std::time::SystemTime;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let (sdk, env) = slipway::wire::aws::environment().await?;
    let pipeline = Arc::new(slipway::wire::cloud::pipeline(&sdk, &env)?);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| {
        let pipeline = Arc::clone(&pipeline);
        async move {
            let swept = pipeline.sweep(SystemTime::now()).await?;
            Ok::<_, Error>(json!({ "swept": swept }))
        }
    }))
    .await
}
