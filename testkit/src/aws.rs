//! AWS test fixtures on moto: the state table (with its indexes) and a CodeBuild project.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};

use crate::store::unique;

/// The state table as template.yaml defines it.
pub async fn table(sdk: &aws_config::SdkConfig) -> String {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let name = unique("slipway-state");
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let attr = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .unwrap()
    };
    let index = |name: &str, hash: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(hash, KeyType::Hash))
            .key_schema(key("created_at", KeyType::Range))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(&name)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .attribute_definitions(attr("sk", ScalarAttributeType::S))
        .attribute_definitions(attr("pr_key", ScalarAttributeType::S))
        .attribute_definitions(attr("unfinished", ScalarAttributeType::S))
        .attribute_definitions(attr("created_at", ScalarAttributeType::N))
        .attribute_definitions(attr("kind", ScalarAttributeType::S))
        .global_secondary_indexes(index(slipway::state::dynamodb::BY_PR_INDEX, "pr_key"))
        .global_secondary_indexes(index(
            slipway::state::dynamodb::UNFINISHED_INDEX,
            "unfinished",
        ))
        .global_secondary_indexes(index(slipway::state::dynamodb::RECENT_INDEX, "kind"))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    name
}

/// A CodeBuild project connected to the test repository.
pub async fn codebuild_project(client: &aws_sdk_codebuild::Client) -> String {
    use aws_sdk_codebuild::types::{
        ArtifactsType, ComputeType, EnvironmentType, ProjectArtifacts, ProjectEnvironment,
        ProjectSource, SourceType,
    };
    let project = unique("slipway-builds");
    client
        .create_project()
        .name(&project)
        .source(
            ProjectSource::builder()
                .r#type(SourceType::Github)
                .location("https://github.com/Codertocat/Hello-World.git")
                .build()
                .unwrap(),
        )
        .artifacts(
            ProjectArtifacts::builder()
                .r#type(ArtifactsType::NoArtifacts)
                .build()
                .unwrap(),
        )
        .environment(
            ProjectEnvironment::builder()
                .r#type(EnvironmentType::LinuxContainer)
                .image("aws/codebuild/amazonlinux-x86_64-standard:5.0")
                .compute_type(ComputeType::BuildGeneral1Small)
                .build()
                .unwrap(),
        )
        .service_role("arn:aws:iam::123456789012:role/slipway-codebuild")
        .send()
        .await
        .unwrap();

    project
}

/// A secret holding `value` under a unique name made from `name`; its ARN.
pub async fn secret(client: &aws_sdk_secretsmanager::Client, name: &str, value: &str) -> String {
    let made = client
        .create_secret()
        .name(unique(name))
        .secret_string(value)
        .send()
        .await
        .unwrap();
    made.arn().unwrap().to_owned()
}
