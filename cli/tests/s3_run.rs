//! `slipway run` against real services: artifacts in S3 (moto_server) with the right checksums,
//! the image in an OCI registry (Debian's docker-registry) as skopeo sees it; a failing build
//! stores no artifact.

use std::process::Command;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use sha2::Digest;
use slipway_testkit::registry::TestRegistry;
use slipway_testkit::Moto;

fn s3(moto: &Moto) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&moto.url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

fn run(
    moto: &Moto,
    registry: &TestRegistry,
    bucket: &str,
    repo: &str,
    data: &std::path::Path,
) -> (i32, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["run", "--repo", repo, "--json", "--data-dir"])
        .arg(data)
        .env("SLIPWAY_REGISTRY", registry.url())
        .env("SLIPWAY_BUCKET", bucket)
        .env("SLIPWAY_S3_ENDPOINT", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), doc)
}

async fn keys(client: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let listed = client
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifacts_go_to_s3_with_their_checksums_and_failures_store_nothing() {
    let moto = Moto::start();
    let client = s3(&moto);
    let bucket = format!("slipway-run-{}", std::process::id());
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let example = slipway_testkit::workspace_path("examples/hello-service");
    let example = example.to_str().unwrap();

    let registry = TestRegistry::start();
    let (code, doc) = run(&moto, &registry, &bucket, example, data.path());
    assert_eq!(code, 0, "{doc}");
    // The image, in the registry, as skopeo reads it: tagged for the commit and the PR.
    let image = &doc["result"]["image"];
    assert_eq!(
        image["repository"],
        format!("{}/hello-service", registry.host)
    );
    let sha = doc["sha"].as_str().unwrap();
    let inspected = registry.inspect(&format!("hello-service:sha-{sha}"), false);
    assert_eq!(inspected["Digest"], image["digest"]);
    assert_eq!(
        inspected["Labels"]["org.opencontainers.image.revision"],
        sha
    );
    assert_eq!(
        registry.inspect("hello-service:pr-1", false)["Digest"],
        image["digest"]
    );
    let config: serde_json::Value = serde_json::from_slice(
        &registry
            .skopeo(&[
                "inspect",
                "--tls-verify=false",
                "--config",
                &format!("docker://{}/hello-service:pr-1", registry.host),
            ])
            .stdout,
    )
    .unwrap();
    assert_eq!(config["config"]["Entrypoint"][0], "/usr/local/bin/hello");
    let artifact = &doc["result"]["artifacts"][0];
    let key = artifact["key"].as_str().unwrap();
    // `slipway run` builds as for a pull request: under the prefix the bucket expires.
    assert!(
        key.starts_with("artifacts/pull-requests/local/hello-service/"),
        "{key}"
    );
    let object = client
        .get_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let bytes = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(
        artifact["sha256"],
        hex::encode(sha2::Sha256::digest(&bytes))
    );
    let link = artifact["link"].as_str().unwrap();
    assert!(
        link.contains("X-Amz-Signature="),
        "a presigned link: {link}"
    );
    let manifest_key = format!("{}manifest.json", key.rsplit_once("dist/").unwrap().0);
    assert!(keys(&client, &bucket).await.contains(&manifest_key));

    let failing = tempfile::tempdir().unwrap();
    std::fs::write(
        failing.path().join(".slipway.yml"),
        "version: 1\nbuild:\n  steps:\n    - run: mkdir dist && touch dist/x.bin && exit 1\n  artifacts: [dist/*]\n",
    )
    .unwrap();
    let before = keys(&client, &bucket).await;
    let (code, doc) = run(
        &moto,
        &registry,
        &bucket,
        failing.path().to_str().unwrap(),
        data.path(),
    );
    assert_eq!(code, 1, "{doc}");
    let added: Vec<String> = keys(&client, &bucket)
        .await
        .into_iter()
        .filter(|k| !before.contains(k))
        .collect();
    // Only the build's own record (what the report reads in the cloud), no artifact.
    assert_eq!(added.len(), 2, "{added:?}");
    assert!(
        added
            .iter()
            .all(|k| k.ends_with("/log.txt") || k.ends_with("/result.json")),
        "a failed build uploads no artifact: {added:?}"
    );
}
