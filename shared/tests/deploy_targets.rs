//! The Lambda and ECS deploy targets against moto: the new image goes live through the alias
//! or the service, and a rollout that does not settle goes back to what ran before.

use std::time::Duration;

use aws_sdk_ecs::types::ContainerDefinition;
use aws_sdk_lambda::types::{FunctionCode, PackageType};
use slipway::app::deploy::targets;
use slipway_testkit::Moto;

const OLD: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const NEW: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// An IAM role Lambda may assume. moto checks that it exists; its IAM API is a plain form post
/// (moto reads the service from the credential scope and does not check the signature).
async fn lambda_role(moto: &Moto) -> String {
    let name = slipway_testkit::unique("lambda-role");
    let body = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName={name}&AssumeRolePolicyDocument=%7B%7D"
    );
    let response = reqwest::Client::new()
        .post(format!("{}/", moto.url))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );
    format!("arn:aws:iam::123456789012:role/{name}")
}

#[tokio::test]
async fn lambda_gets_the_image_a_version_and_the_alias() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let client = aws_sdk_lambda::Client::new(&sdk);
    let function = slipway_testkit::unique("hello");
    client
        .create_function()
        .function_name(&function)
        .role(lambda_role(&moto).await)
        .package_type(PackageType::Image)
        .code(FunctionCode::builder().image_uri(OLD).build())
        .send()
        .await
        .unwrap();

    let version = targets::lambda(&client, &function, "live", NEW)
        .await
        .unwrap();
    let live = client
        .get_function()
        .function_name(&function)
        .qualifier("live")
        .send()
        .await
        .unwrap();
    assert_eq!(live.code().and_then(|c| c.image_uri()), Some(NEW));
    let alias = client
        .get_alias()
        .function_name(&function)
        .name("live")
        .send()
        .await
        .unwrap();
    assert_eq!(alias.function_version(), Some(version.as_str()));

    // The next deploy moves the existing alias to a new version.
    let next = targets::lambda(&client, &function, "live", OLD)
        .await
        .unwrap();
    assert_ne!(next, version);
    let alias = client
        .get_alias()
        .function_name(&function)
        .name("live")
        .send()
        .await
        .unwrap();
    assert_eq!(alias.function_version(), Some(next.as_str()));

    let missing = targets::lambda(&client, "no-such-function", "live", NEW)
        .await
        .unwrap_err();
    let public = &missing.public;
    assert!(
        public.contains("no-such-function")
            && public.contains("updating the code failed (ResourceNotFoundException)"),
        "{public}"
    );
    // AWS's own message names the function's ARN, with the account: the log's, not the PR's.
    assert!(
        !public.contains("arn:aws") && !public.contains("123456789012"),
        "{public}"
    );
    assert!(
        missing
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("arn:aws")),
        "{missing:?}"
    );
}

#[tokio::test]
async fn ecs_registers_a_revision_for_the_container_and_rolls_back_an_unsettled_rollout() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let client = aws_sdk_ecs::Client::new(&sdk);
    let cluster = slipway_testkit::unique("cluster");
    client
        .create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .unwrap();
    let container = |name: &str, image: &str| {
        ContainerDefinition::builder()
            .name(name)
            .image(image)
            .memory(128)
            .build()
    };
    let family = slipway_testkit::unique("app");
    let first = client
        .register_task_definition()
        .family(&family)
        .container_definitions(container("app", OLD))
        .container_definitions(container("sidecar", "envoy:1"))
        .send()
        .await
        .unwrap();
    let first_arn = first
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_owned();
    client
        .create_service()
        .cluster(&cluster)
        .service_name("web")
        .task_definition(&first_arn)
        .desired_count(1)
        .send()
        .await
        .unwrap();

    // moto never starts tasks, so the rollout never settles: the deploy fails after its wait
    // and the service goes back to the task definition it ran.
    let error = targets::ecs(&client, &cluster, "web", "app", NEW, Duration::from_secs(2))
        .await
        .unwrap_err();
    let public = &error.public;
    assert!(
        public.contains("did not settle") && public.contains("; rolled back to app-"),
        "{public}"
    );
    assert!(
        !public.contains("arn:aws"),
        "task definitions by family:revision: {public}"
    );
    let service = client
        .describe_services()
        .cluster(&cluster)
        .services("web")
        .send()
        .await
        .unwrap();
    assert_eq!(
        service.services()[0].task_definition(),
        Some(first_arn.as_str())
    );

    // The revision it registered: the new image for `app`, the sidecar untouched.
    let revision = client
        .describe_task_definition()
        .task_definition(format!("{family}:2"))
        .send()
        .await
        .unwrap();
    let containers = revision.task_definition().unwrap().container_definitions();
    let image_of = |name: &str| {
        containers
            .iter()
            .find(|c| c.name() == Some(name))
            .and_then(|c| c.image())
            .map(str::to_owned)
    };
    assert_eq!(image_of("app").as_deref(), Some(NEW));
    assert_eq!(image_of("sidecar").as_deref(), Some("envoy:1"));

    let unknown = targets::ecs(
        &client,
        &cluster,
        "web",
        "nope",
        NEW,
        Duration::from_secs(1),
    )
    .await
    .unwrap_err();
    assert!(
        unknown.public.contains("no container \"nope\""),
        "{unknown}"
    );
}

#[test]
fn a_service_is_settled_with_one_deployment_at_its_desired_count() {
    use aws_sdk_ecs::types::{Deployment, Service};
    let deployment = || Deployment::builder().status("PRIMARY").build();
    let settled = Service::builder()
        .deployments(deployment())
        .running_count(2)
        .desired_count(2)
        .build();
    assert!(targets::settled(&settled));
    let starting = Service::builder()
        .deployments(deployment())
        .running_count(1)
        .desired_count(2)
        .build();
    assert!(!targets::settled(&starting));
    let two = Service::builder()
        .deployments(deployment())
        .deployments(deployment())
        .running_count(2)
        .desired_count(2)
        .build();
    assert!(!targets::settled(&two));
}
