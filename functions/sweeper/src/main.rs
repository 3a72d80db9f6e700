//! Lambda (scheduled): fail runs left unfinished past their timeout, so nothing stays pending.

use std::sync::Arc;
use std::time::SystemTime;

use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::{json, Value};
use slipway::app::PipelineError;

/// What the handler reports to Lambda: an error type that names the kind and the part that
/// failed (`Slipway.Retryable.StateStore`) instead of a Rust type name; the error's own text
/// goes to the log only.
#[derive(Debug)]
struct FunctionError(PipelineError);

impl From<FunctionError> for Diagnostic {
    fn from(FunctionError(error): FunctionError) -> Diagnostic {
        // The runtime posts only the diagnostic, so the detail is logged here.
        lambda_runtime::tracing::error!(%error, error_type = %error.error_type(), "sweeping failed");
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
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| {
        let pipeline = Arc::clone(&pipeline);
        async move {
            let swept = pipeline
                .sweep(SystemTime::now())
                .await
                .map_err(FunctionError)?;
            Ok::<_, FunctionError>(json!({ "swept": swept }))
        }
    }))
    .await
}
