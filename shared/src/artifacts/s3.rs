//! Artifacts in S3 (or any S3 endpoint), each upload carrying its SHA-256 checksum.
//!
//! Files up to the threshold go in one `PutObject` with `x-amz-checksum-sha256`. Larger ones go
//! multipart: parts of `part_size` read in order, at most `concurrency` in flight (so memory is
//! about `part_size × concurrency` whatever the file size), each with its own checksum; any part
//! failing for good aborts the upload, so nothing is left behind. Retrying is the SDK's: the
//! client built here retries every request, parts included, in the standard mode (transient and
//! throttling errors, timeouts, 5xx; exponential backoff with jitter, `ATTEMPTS` tries).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{ArtifactError, ArtifactStore, Stored};
use crate::model::error::ErrorKind;

use crate::model::artifact::MAX_LINK_LIFETIME;

/// S3's smallest part (but the last) is 5 MiB; 8 MiB parts keep the part count low.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
pub const DEFAULT_THRESHOLD: u64 = 16 * 1024 * 1024;
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Tries per request (the first and two retries) for the client `connect` builds.
pub const ATTEMPTS: u32 = 3;

#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    pub part_size: usize,
    pub threshold: u64,
    pub concurrency: usize,
}

fn b64(digest: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(digest)
}

impl S3Store {
    /// A client for `bucket` (at `endpoint`, path-style, for any S3-compatible service), with
    /// the SDK's standard retries: a failed part is sent again by the SDK.
    pub fn connect(sdk: &aws_types::SdkConfig, bucket: &str, endpoint: Option<&str>) -> Self {
        let mut config = aws_sdk_s3::config::Builder::from(sdk)
            .retry_config(RetryConfig::standard().with_max_attempts(ATTEMPTS));
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint).force_path_style(true);
        }
        S3Store::new(Client::from_conf(config.build()), bucket)
    }

    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Store {
            client,
            bucket: bucket.into(),
            part_size: DEFAULT_PART_SIZE,
            threshold: DEFAULT_THRESHOLD,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    async fn put_whole(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<Stored, ArtifactError> {
        let digest = Sha256::digest(&bytes);
        let stored = Stored {
            size: bytes.len() as u64,
            sha256: hex::encode(digest),
        };
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .checksum_sha256(b64(&digest))
            .body(ByteStream::from(bytes))
            .send()
            .await?;
        Ok(stored)
    }

    async fn put_multipart(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<Stored, ArtifactError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .send()
            .await?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| {
                ArtifactError::backend(ErrorKind::Permanent, "S3 returned no upload id")
            })?
            .to_owned();
        match self.upload_parts(key, &upload_id, path).await {
            Ok((parts, stored)) => {
                self.client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send()
                    .await?;
                Ok(stored)
            }
            Err(error) => {
                // Leave nothing behind: an unfinished upload keeps costing until aborted.
                if let Err(abort) = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .send()
                    .await
                {
                    tracing::error!(key, error = %abort, "aborting a failed multipart upload failed");
                }
                Err(error)
            }
        }
    }

    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        path: &Path,
    ) -> Result<(Vec<CompletedPart>, Stored), ArtifactError> {
        let mut file = tokio::fs::File::open(path).await?;
        let permits = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let mut tasks: JoinSet<Result<CompletedPart, ArtifactError>> = JoinSet::new();
        let (mut whole, mut size) = (Sha256::new(), 0u64);
        let mut parts = Vec::new();
        for number in 1.. {
            let permit = Arc::clone(&permits)
                .acquire_owned()
                .await
                .map_err(|e| ArtifactError::backend(ErrorKind::Permanent, e))?;
            let mut part = Vec::with_capacity(self.part_size);
            while part.len() < self.part_size {
                let read = (&mut file)
                    .take((self.part_size - part.len()) as u64)
                    .read_to_end(&mut part)
                    .await?;
                if read == 0 {
                    break;
                }
            }
            if part.is_empty() {
                break;
            }
            whole.update(&part);
            size += part.len() as u64;
            let (client, bucket, key, upload_id) = (
                self.client.clone(),
                self.bucket.clone(),
                key.to_owned(),
                upload_id.to_owned(),
            );
            tasks.spawn(async move {
                let _permit = permit;
                upload_part(&client, &bucket, &key, &upload_id, number, part).await
            });
            // Fail fast: a part that failed for good stops the reading (dropping the set
            // cancels the parts still in flight).
            while let Some(done) = tasks.try_join_next() {
                parts.push(done.map_err(|e| ArtifactError::backend(ErrorKind::Permanent, e))??);
            }
        }
        while let Some(done) = tasks.join_next().await {
            parts.push(done.map_err(|e| ArtifactError::backend(ErrorKind::Permanent, e))??);
        }
        parts.sort_by_key(|p| p.part_number());
        Ok((
            parts,
            Stored {
                size,
                sha256: hex::encode(whole.finalize()),
            },
        ))
    }
}

async fn upload_part(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    number: i32,
    bytes: Vec<u8>,
) -> Result<CompletedPart, ArtifactError> {
    let checksum = b64(&Sha256::digest(&bytes));
    // One in-memory body: the SDK can replay it when it retries the request.
    let out = client
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(number)
        .checksum_sha256(&checksum)
        .body(ByteStream::from(bytes))
        .send()
        .await?;
    Ok(CompletedPart::builder()
        .part_number(number)
        .set_e_tag(out.e_tag().map(str::to_owned))
        .checksum_sha256(&checksum)
        .build())
}

#[async_trait]
impl ArtifactStore for S3Store {
    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<Stored, ArtifactError> {
        let size = tokio::fs::metadata(path).await?.len();
        if size <= self.threshold {
            let bytes = tokio::fs::read(path).await?;
            self.put_whole(key, bytes, content_type).await
        } else {
            self.put_multipart(key, path, content_type).await
        }
    }

    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<Stored, ArtifactError> {
        self.put_whole(key, bytes, content_type).await
    }

    async fn read_tail(&self, key: &str, max_bytes: u64) -> Result<Option<Vec<u8>>, ArtifactError> {
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes=-{max_bytes}"))
            .send()
            .await;
        match answer {
            Ok(object) => {
                // The connection broke while the body streamed: worth another try.
                let body = object
                    .body
                    .collect()
                    .await
                    .map_err(|e| ArtifactError::backend(ErrorKind::Retryable, e))?;
                Ok(Some(body.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn link(&self, key: &str, lifetime: Duration) -> Result<String, ArtifactError> {
        let config = PresigningConfig::expires_in(lifetime.min(MAX_LINK_LIFETIME))
            .map_err(|e| ArtifactError::backend(ErrorKind::Permanent, e))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            // Always a download, whatever type the build stored it with: a build's HTML must
            // never render as a page (of the bucket's origin, or anywhere).
            .response_content_disposition("attachment")
            .response_content_type("application/octet-stream")
            .presigned(config)
            .await?;
        Ok(request.uri().to_owned())
    }
}

impl<E> From<SdkError<E, HttpResponse>> for ArtifactError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn from(error: SdkError<E, HttpResponse>) -> ArtifactError {
        let (kind, source) = crate::aws_error::classified(error);
        ArtifactError::backend(kind, source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connected_store_retries_in_the_standard_mode() {
        let sdk = aws_types::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let store = S3Store::connect(&sdk, "artifacts", None);
        let retry = store.client.config().retry_config().unwrap();
        assert_eq!(retry.mode(), aws_sdk_s3::config::retry::RetryMode::Standard);
        assert_eq!(retry.max_attempts(), ATTEMPTS);
    }
}
