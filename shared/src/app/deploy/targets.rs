//! Deploy targets on AWS: a container-image Lambda function, and an ECS service. Each waits,
//! bounded, for the change to take, and leaves the previous version serving when it does not.

use std::time::Duration;

use aws_sdk_ecs::client::Waiters as _;
use aws_sdk_ecs::types::ContainerDefinition;
use aws_sdk_ecs::waiters::services_stable::WaitUntilServicesStableError as EcsWaitError;
use aws_sdk_lambda::client::Waiters as _;
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::waiters::function_updated_v2::WaitUntilFunctionUpdatedV2Error as LambdaWaitError;

use crate::model::failure::{arn_name, Failure};

/// How long a Lambda update may take before the deploy fails (an ECS rollout's bound is the
/// environment's `ecs.wait`).
pub const LAMBDA_WAIT: Duration = Duration::from_secs(5 * 60);

/// An AWS error as a deploy's reason: which target, what it was doing and AWS's error code for
/// the pull request; the whole error chain (ARNs, account ids) for the log only.
fn failed<'a, E>(who: &'a str, what: &'static str) -> impl FnOnce(E) -> Failure + 'a
where
    E: std::error::Error + ProvideErrorMetadata,
{
    move |e| {
        let code = e.code().unwrap_or("no answer from AWS").to_owned();
        Failure::internal(
            format!("{who}: {what} failed ({code})"),
            aws_sdk_lambda::error::DisplayErrorContext(e),
        )
    }
}

/// New code from `image_uri`, a published version, and `alias` moved to it. Until the alias
/// moves, callers of the alias keep the previous version. Returns the version.
pub async fn lambda(
    client: &aws_sdk_lambda::Client,
    function: &str,
    alias: &str,
    image_uri: &str,
) -> Result<String, Failure> {
    let who = format!("Lambda {function}");
    client
        .update_function_code()
        .function_name(function)
        .image_uri(image_uri)
        .send()
        .await
        .map_err(failed(&who, "updating the code"))?;
    // The SDK's waiter polls GetFunction (with backoff) until the update is Successful or Failed,
    // for at most LAMBDA_WAIT.
    match client
        .wait_until_function_updated_v2()
        .function_name(function)
        .wait(LAMBDA_WAIT)
        .await
    {
        Ok(_) => {}
        Err(LambdaWaitError::ExceededMaxWait(_)) => {
            return Err(Failure::public(format!(
                "Lambda {function}: the update did not finish in {}s",
                LAMBDA_WAIT.as_secs()
            )))
        }
        Err(LambdaWaitError::FailureState(state)) => {
            let config = state
                .final_poll()
                .as_result()
                .ok()
                .and_then(|out| out.configuration());
            let code = config
                .and_then(|c| c.last_update_status_reason_code())
                .map_or("no reason code", |c| c.as_str());
            let reason = config
                .and_then(|c| c.last_update_status_reason())
                .unwrap_or("none given");
            return Err(Failure::internal(
                format!("Lambda {function}: the update failed ({code})"),
                reason,
            ));
        }
        Err(e) => return Err(failed(&who, "reading the update")(e)),
    }
    let published = client
        .publish_version()
        .function_name(function)
        .send()
        .await
        .map_err(failed(&who, "publishing a version"))?;
    let version = published
        .version()
        .ok_or_else(|| Failure::public(format!("Lambda {function}: no version was published")))?
        .to_owned();
    let moved = client
        .update_alias()
        .function_name(function)
        .name(alias)
        .function_version(&version)
        .send()
        .await;
    match moved {
        Ok(_) => Ok(version),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            client
                .create_alias()
                .function_name(function)
                .name(alias)
                .function_version(&version)
                .send()
                .await
                .map_err(failed(&who, "creating the alias"))?;
            Ok(version)
        }
        Err(e) => Err(failed(&who, "moving the alias")(e)),
    }
}

/// A task definition revision with `image_uri` for `container`, rolled out to the service; on
/// a rollout that does not settle, the service goes back to its previous task definition.
/// Returns the new task definition's ARN.
pub async fn ecs(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    container: &str,
    image_uri: &str,
    wait: Duration,
) -> Result<String, Failure> {
    let who = format!("ECS {service}");
    let described = client
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(failed(&who, "reading the service"))?;
    let current = described
        .services()
        .first()
        .and_then(|s| s.task_definition())
        .ok_or_else(|| {
            Failure::public(format!(
                "ECS {service}: no such service in cluster {cluster}"
            ))
        })?
        .to_owned();
    let definition = client
        .describe_task_definition()
        .task_definition(&current)
        .send()
        .await
        .map_err(failed(&who, "reading the task definition"))?
        .task_definition
        .ok_or_else(|| {
            let name = arn_name(&current);
            Failure::public(format!("ECS {service}: task definition {name} is missing"))
        })?;
    let mut found = false;
    let containers: Vec<ContainerDefinition> = definition
        .container_definitions()
        .iter()
        .map(|c| {
            if c.name() == Some(container) {
                found = true;
                let mut c = c.clone();
                c.image = Some(image_uri.to_owned());
                c
            } else {
                c.clone()
            }
        })
        .collect();
    if !found {
        return Err(Failure::public(format!(
            "ECS {service}: the task definition has no container {container:?}"
        )));
    }
    let registered = client
        .register_task_definition()
        .family(definition.family().unwrap_or(service))
        .set_container_definitions(Some(containers))
        .set_task_role_arn(definition.task_role_arn().map(str::to_owned))
        .set_execution_role_arn(definition.execution_role_arn().map(str::to_owned))
        .set_network_mode(definition.network_mode().cloned())
        .set_volumes(Some(definition.volumes().to_vec()))
        .set_requires_compatibilities(Some(definition.requires_compatibilities().to_vec()))
        .set_cpu(definition.cpu().map(str::to_owned))
        .set_memory(definition.memory().map(str::to_owned))
        .send()
        .await
        .map_err(failed(&who, "registering the task definition"))?;
    let new = registered
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .ok_or_else(|| {
            Failure::public(format!("ECS {service}: the new task definition has no ARN"))
        })?
        .to_owned();
    update_service(client, cluster, service, &new)
        .await
        .map_err(failed(&who, "updating the service"))?;
    match wait_stable(client, cluster, service, wait).await {
        Ok(()) => Ok(new),
        Err(why) => {
            let back = update_service(client, cluster, service, &current).await;
            let previous = arn_name(&current);
            let (note, detail) = match back {
                Ok(()) => (format!("rolled back to {previous}"), why.detail),
                Err(e) => {
                    let code = e.code().unwrap_or("no answer from AWS").to_owned();
                    let detail = aws_sdk_ecs::error::DisplayErrorContext(e).to_string();
                    (
                        format!("and rolling back to {previous} failed too ({code})"),
                        Some(detail),
                    )
                }
            };
            Err(Failure {
                public: format!("ECS {service}: {}; {note}", why.public),
                detail,
            })
        }
    }
}

async fn update_service(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    task_definition: &str,
) -> Result<
    (),
    aws_sdk_ecs::error::SdkError<aws_sdk_ecs::operation::update_service::UpdateServiceError>,
> {
    client
        .update_service()
        .cluster(cluster)
        .service(service)
        .task_definition(task_definition)
        .send()
        .await
        .map(drop)
}

/// Settled: one deployment left, running as many tasks as it wants. The SDK's `services_stable`
/// waiter polls for this; it is checked again on the waiter's last answer because the waiter's
/// rule ("no service unsettled") also holds when the answer names no service at all.
pub fn settled(service: &aws_sdk_ecs::types::Service) -> bool {
    service.deployments().len() <= 1 && service.running_count() == service.desired_count()
}

/// The SDK's `services_stable` waiter, bounded by `wait`: polls DescribeServices with backoff
/// until the service is settled, and gives up early when it is missing, draining or inactive.
async fn wait_stable(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    wait: Duration,
) -> Result<(), Failure> {
    let not_settled =
        || Failure::public(format!("the rollout did not settle in {}s", wait.as_secs()));
    match client
        .wait_until_services_stable()
        .cluster(cluster)
        .services(service)
        .wait(wait)
        .await
    {
        Ok(last) => match last.as_result() {
            Ok(out) if out.services().first().is_some_and(settled) => Ok(()),
            _ => Err(not_settled()),
        },
        Err(EcsWaitError::ExceededMaxWait(_)) => Err(not_settled()),
        Err(EcsWaitError::FailureState(_)) => Err(Failure::public(
            "the service went missing, draining or inactive during the rollout",
        )),
        Err(e) => Err(failed("the service", "reading the rollout")(e)),
    }
}
