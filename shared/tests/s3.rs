//! The S3 artifact store against moto_server: single and multipart uploads with their SHA-256
//! checksums on the wire, presigned links, and a failed upload that leaves nothing behind.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use slipway::artifacts::s3::S3Store;
use slipway::artifacts::ArtifactStore;
use slipway_testkit::*;

/// Records `x-amz-checksum-sha256` of every request, and fails part `fail_part` if set.
#[derive(Clone, Debug, Default)]
struct Wire {
    checksums: Arc<Mutex<Vec<(String, String)>>>,
    fail_part: Option<u32>,
}

impl aws_sdk_s3::config::Intercept for Wire {
    fn name(&self) -> &'static str {
        "wire"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_s3::config::RuntimeComponents,
        _cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let request = context.request();
        let uri = request.uri().to_owned();
        if let Some(part) = self.fail_part {
            if uri.contains(&format!("partNumber={part}&"))
                || uri.ends_with(&format!("partNumber={part}"))
            {
                return Err("injected network failure".into());
            }
        }
        if let Some(sum) = request.headers().get("x-amz-checksum-sha256") {
            self.checksums.lock().unwrap().push((uri, sum.to_owned()));
        }
        Ok(())
    }
}

async fn store(moto: &Moto, wire: Wire) -> (S3Store, aws_sdk_s3::Client, String) {
    let sdk = moto.sdk_config().await;
    let config = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .interceptor(wire)
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);
    let bucket = unique("artifacts").to_lowercase().replace('_', "-");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    (S3Store::new(client.clone(), &bucket), client, bucket)
}

fn b64_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

async fn object(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test]
async fn a_small_file_is_one_put_with_its_checksum() {
    let moto = Moto::start();
    let wire = Wire::default();
    let (store, client, bucket) = store(&moto, wire.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.tar.gz");
    std::fs::write(&file, b"small artifact").unwrap();
    let stored = store
        .put_file("artifacts/x/app.tar.gz", &file, "application/gzip")
        .await
        .unwrap();
    assert_eq!(stored.size, 14);
    assert_eq!(
        stored.sha256,
        hex::encode(Sha256::digest(b"small artifact"))
    );
    assert_eq!(
        object(&client, &bucket, "artifacts/x/app.tar.gz").await,
        b"small artifact"
    );
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("artifacts/x/app.tar.gz")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/gzip"));
    let sent = wire.checksums.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, b64_sha256(b"small artifact"));
}

#[tokio::test]
async fn a_large_file_goes_multipart_with_a_checksum_per_part() {
    let moto = Moto::start();
    let wire = Wire::default();
    let (mut store, client, bucket) = store(&moto, wire.clone()).await;
    store.threshold = 1024 * 1024;
    store.part_size = 5 * 1024 * 1024;
    let content: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.bin");
    std::fs::write(&file, &content).unwrap();
    let stored = store
        .put_file("artifacts/x/big.bin", &file, "application/octet-stream")
        .await
        .unwrap();
    assert_eq!(stored.size, content.len() as u64);
    assert_eq!(stored.sha256, hex::encode(Sha256::digest(&content)));
    assert_eq!(
        object(&client, &bucket, "artifacts/x/big.bin").await,
        content
    );
    let mut sent = wire.checksums.lock().unwrap().clone();
    sent.sort();
    let part_sums: Vec<String> = sent.into_iter().map(|(_, sum)| sum).collect();
    let expected: Vec<String> = content.chunks(5 * 1024 * 1024).map(b64_sha256).collect();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    let mut got_sorted = part_sums.clone();
    got_sorted.sort();
    assert_eq!(
        got_sorted, expected_sorted,
        "each of the 3 parts carries its own checksum"
    );
    let open = client
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(open.uploads().is_empty());
}

#[tokio::test]
async fn a_failed_part_aborts_the_upload_and_leaves_nothing() {
    let moto = Moto::start();
    let wire = Wire {
        fail_part: Some(2),
        ..Wire::default()
    };
    let (mut store, client, bucket) = store(&moto, wire).await;
    store.threshold = 1024 * 1024;
    store.part_size = 5 * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.bin");
    std::fs::write(&file, vec![7u8; 11 * 1024 * 1024]).unwrap();
    let result = store
        .put_file("artifacts/x/broken.bin", &file, "application/octet-stream")
        .await;
    assert!(result.is_err());
    let open = client
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(open.uploads().is_empty(), "the upload was aborted");
    assert!(client
        .head_object()
        .bucket(&bucket)
        .key("artifacts/x/broken.bin")
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn a_presigned_link_downloads_the_right_bytes() {
    let moto = Moto::start();
    let (store, _, _) = store(&moto, Wire::default()).await;
    store
        .put_bytes(
            "artifacts/x/manifest.json",
            b"{\"files\":[]}".to_vec(),
            "application/json",
        )
        .await
        .unwrap();
    let link = store
        .link(
            "artifacts/x/manifest.json",
            std::time::Duration::from_secs(30 * 24 * 3600),
        )
        .await
        .unwrap();
    assert!(
        link.contains("X-Amz-Expires=604800"),
        "capped at 7 days: {link}"
    );
    let body = reqwest::get(&link).await.unwrap().bytes().await.unwrap();
    assert_eq!(&body[..], b"{\"files\":[]}");
}
