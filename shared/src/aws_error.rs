//! Any AWS SDK call's error, classified once for every adapter that makes such calls (state,
//! queue, artifacts, images, runner, deploy targets): throttling, 5xx answers, timeouts and
//! failed dispatches are worth another try; what the service refused on its merits is not.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::model::error::ErrorKind;

/// The codes AWS services use for "slow down" (the SDKs' own retry classifier knows the same
/// list; by the time an error reaches us the SDK's retries are spent).
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Whether the call that failed with `error` may succeed if made again.
pub(crate) fn kind<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> ErrorKind {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorKind::Retryable
        }
        SdkError::ServiceError(service) => {
            let throttled = error.code().is_some_and(|c| THROTTLING_CODES.contains(&c));
            if throttled || service.raw().status().is_server_error() {
                ErrorKind::Retryable
            } else {
                ErrorKind::Permanent
            }
        }
        // Construction failures (a request the SDK could not build) and whatever a later SDK adds.
        _ => ErrorKind::Permanent,
    }
}

/// `error` classified and boxed, for a port error's backend variant.
pub(crate) fn classified<E>(
    error: SdkError<E, HttpResponse>,
) -> (ErrorKind, Box<dyn std::error::Error + Send + Sync>)
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    (kind(&error), Box::new(error))
}

#[cfg(all(test, feature = "aws-edge"))]
mod tests {
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    fn answered(status: u16, code: &str) -> SdkError<PutItemError, HttpResponse> {
        let error = PutItemError::generic(ErrorMetadata::builder().code(code).build());
        let response = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(error, response)
    }

    #[test]
    fn throttling_server_errors_and_timeouts_are_retryable_refusals_are_not() {
        let cases = [
            (answered(400, "ThrottlingException"), ErrorKind::Retryable),
            (
                answered(400, "ProvisionedThroughputExceededException"),
                ErrorKind::Retryable,
            ),
            (answered(500, "InternalServerError"), ErrorKind::Retryable),
            (SdkError::timeout_error("slow"), ErrorKind::Retryable),
            (answered(400, "ValidationException"), ErrorKind::Permanent),
            (answered(400, "AccessDeniedException"), ErrorKind::Permanent),
            (
                answered(400, "ResourceNotFoundException"),
                ErrorKind::Permanent,
            ),
            (
                SdkError::construction_failure("bad input"),
                ErrorKind::Permanent,
            ),
        ];
        for (error, want) in cases {
            assert_eq!(kind(&error), want, "{error:?}");
        }
    }
}
