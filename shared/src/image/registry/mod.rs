//! A small client for the OCI distribution API, on reqwest.
//!
//! Just what building and deploying need: HEAD a blob, upload it in one PUT (ECR drops the second
//! and later PATCH chunks of a chunked upload), put and get manifests, stream blobs down. Auth is
//! anonymous, basic, or the bearer-token challenge most registries answer with.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response, StatusCode};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

use super::layout::Layout;
use super::{
    Descriptor, ImageName, Index, Manifest, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST,
};
use crate::image::ImageError;
use crate::model::image::Platform;

mod store;

const ATTEMPTS: u32 = 3;
const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// Manifests are small; a registry sending more is not one to trust.
const MAX_MANIFEST_BYTES: usize = 4 << 20;

#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    /// `http://127.0.0.1:5000`, `https://123.dkr.ecr.eu-west-1.amazonaws.com`.
    url: String,
    host: String,
    http: reqwest::Client,
    basic: Option<(String, String)>,
    /// Bearer tokens by scope, from the registry's token service.
    tokens: Mutex<HashMap<String, String>>,
}

impl Registry {
    /// `url` is the registry's root, with its scheme.
    pub fn new(url: &str, basic: Option<(String, String)>) -> Result<Registry, ImageError> {
        let url = url.trim_end_matches('/').to_owned();
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .filter(|h| !h.is_empty() && !h.contains('/'))
            .ok_or_else(|| {
                ImageError::Invalid(format!("registry {url:?} must be http(s)://host[:port]"))
            })?
            .to_owned();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Registry {
            inner: Arc::new(Inner {
                url,
                host,
                http,
                basic,
                tokens: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn host(&self) -> &str {
        &self.inner.host
    }

    fn scope(repository: &str, push: bool) -> String {
        let actions = if push { "pull,push" } else { "pull" };
        format!("repository:{repository}:{actions}")
    }

    fn authorize(&self, request: RequestBuilder, scope: &str) -> RequestBuilder {
        let token = self.inner.tokens.lock().unwrap().get(scope).cloned();
        match (token, &self.inner.basic) {
            (Some(token), _) => request.bearer_auth(token),
            (None, Some((user, password))) => request.basic_auth(user, Some(password)),
            (None, None) => request,
        }
    }

    /// Send a request that can be rebuilt: answers a bearer challenge once, and retries
    /// server errors and broken connections.
    async fn send(
        &self,
        scope: &str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, ImageError> {
        let mut challenged = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.authorize(build(), scope).send().await;
            match result {
                Ok(response) if response.status() == StatusCode::UNAUTHORIZED && !challenged => {
                    challenged = true;
                    let challenge = response
                        .headers()
                        .get(WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    if !self.login(&challenge, scope).await? {
                        return Ok(response);
                    }
                }
                Ok(response) if response.status().is_server_error() && attempt < ATTEMPTS => {
                    backoff(attempt).await;
                }
                Err(e) if attempt < ATTEMPTS && (e.is_connect() || e.is_timeout()) => {
                    backoff(attempt).await;
                }
                other => return Ok(other?),
            }
        }
    }

    /// Fetch a token for a `Bearer` challenge; false when the challenge is not one.
    async fn login(&self, challenge: &str, scope: &str) -> Result<bool, ImageError> {
        let Some(params) = parse_bearer_challenge(challenge) else {
            return Ok(false);
        };
        let Some(realm) = params.get("realm") else {
            return Ok(false);
        };
        let url = token_url(realm, params.get("service").map(String::as_str), scope);
        let mut request = self.inner.http.get(url);
        if let Some((user, password)) = &self.inner.basic {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await?;
        if !response.status().is_success() {
            return Err(ImageError::Invalid(format!(
                "{}: the token service refused ({})",
                self.inner.host,
                response.status()
            )));
        }
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let token: Token = response.json().await?;
        let token = token.token.or(token.access_token).ok_or_else(|| {
            ImageError::Invalid("the token service answered without a token".into())
        })?;
        self.inner
            .tokens
            .lock()
            .unwrap()
            .insert(scope.to_owned(), token);
        Ok(true)
    }

    fn url(&self, repository: &str, path: &str) -> String {
        format!("{}/v2/{repository}/{path}", self.inner.url)
    }

    pub async fn has_blob(&self, repository: &str, digest: &str) -> Result<bool, ImageError> {
        let url = self.url(repository, &format!("blobs/{digest}"));
        let scope = Self::scope(repository, true);
        let response = self.send(&scope, || self.inner.http.head(&url)).await?;
        match response.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(failure(response, "checking a blob").await),
        }
    }

    /// Upload a blob from a file in one PUT, retried whole on failure.
    pub async fn upload_blob(
        &self,
        repository: &str,
        blob: &Descriptor,
        path: &Path,
    ) -> Result<(), ImageError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.upload_once(repository, blob, path).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt < ATTEMPTS => {
                    tracing::warn!(digest = %blob.digest, error = %e, "blob upload failed; retrying");
                    backoff(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn upload_once(
        &self,
        repository: &str,
        blob: &Descriptor,
        path: &Path,
    ) -> Result<(), ImageError> {
        let scope = Self::scope(repository, true);
        let start = self.url(repository, "blobs/uploads/");
        let response = self
            .send(&scope, || {
                self.inner.http.post(&start).header(CONTENT_LENGTH, "0")
            })
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(failure(response, "starting an upload").await);
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ImageError::Invalid("the registry started an upload without a Location".into())
            })?;
        let mut url = if location.starts_with('/') {
            format!("{}{location}", self.inner.url)
        } else {
            location.to_owned()
        };
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("digest=");
        url.push_str(&blob.digest);
        let file = tokio::fs::File::open(path).await?;
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
            file,
            256 << 10,
        ));
        let request = self
            .inner
            .http
            .put(&url)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, blob.size)
            .body(body);
        let response = self.authorize(request, &scope).send().await?;
        if response.status() != StatusCode::CREATED {
            return Err(failure(response, "uploading a blob").await);
        }
        Ok(())
    }

    /// Put a manifest under a tag or its digest; returns the digest the registry computed.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), ImageError> {
        let url = self.url(repository, &format!("manifests/{reference}"));
        let scope = Self::scope(repository, true);
        let response = self
            .send(&scope, || {
                self.inner
                    .http
                    .put(&url)
                    .header(CONTENT_TYPE, media_type)
                    .body(bytes.to_vec())
            })
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(failure(response, "putting a manifest").await);
        }
        Ok(())
    }

    /// A manifest's media type and exact bytes (the digest is of these bytes); None if absent.
    pub async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
        push: bool,
    ) -> Result<Option<(String, Vec<u8>)>, ImageError> {
        let url = self.url(repository, &format!("manifests/{reference}"));
        let scope = Self::scope(repository, push);
        let response = self
            .send(&scope, || {
                self.inner.http.get(&url).header(ACCEPT, MANIFEST_TYPES)
            })
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(failure(response, "getting a manifest").await);
        }
        let media_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(OCI_MANIFEST)
            .to_owned();
        if response.content_length().unwrap_or(0) > MAX_MANIFEST_BYTES as u64 {
            return Err(ImageError::Invalid(
                "the registry sent a manifest over 4 MiB".into(),
            ));
        }
        let bytes = response.bytes().await?;
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ImageError::Invalid(
                "the registry sent a manifest over 4 MiB".into(),
            ));
        }
        if reference.starts_with("sha256:") && super::sha256_digest(&bytes) != reference {
            return Err(ImageError::Invalid(format!(
                "manifest {reference} arrived with other bytes"
            )));
        }
        Ok(Some((media_type, bytes.to_vec())))
    }

    /// Stream a blob into the layout, checking its digest on the way.
    pub async fn fetch_blob(
        &self,
        repository: &str,
        blob: &Descriptor,
        layout: &Layout,
    ) -> Result<(), ImageError> {
        if layout.has_blob(&blob.digest) {
            return Ok(());
        }
        let url = self.url(repository, &format!("blobs/{}", blob.digest));
        let scope = Self::scope(repository, false);
        let mut response = self.send(&scope, || self.inner.http.get(&url)).await?;
        if !response.status().is_success() {
            return Err(failure(response, "downloading a blob").await);
        }
        let temp = layout.temp_path();
        let mut file = tokio::io::BufWriter::new(tokio::fs::File::create(&temp).await?);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let outcome: Result<(), ImageError> = async {
            while let Some(chunk) = response.chunk().await? {
                hasher.update(&chunk);
                size += chunk.len() as u64;
                file.write_all(&chunk).await?;
            }
            file.flush().await?;
            Ok(())
        }
        .await;
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        if let Err(e) = outcome {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(e);
        }
        if digest != blob.digest || size != blob.size {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(ImageError::Invalid(format!(
                "blob {} arrived with other bytes",
                blob.digest
            )));
        }
        Ok(layout.adopt_blob(&temp, &blob.digest)?)
    }

    /// Pull `name` (picking `platform` from an index) into the layout: manifest, config, layers.
    pub async fn pull(
        &self,
        name: &ImageName,
        platform: &Platform,
        layout: &Layout,
    ) -> Result<(Manifest, Vec<u8>), ImageError> {
        let repository = &name.repository;
        let (media_type, bytes) = self
            .get_manifest(repository, &name.reference, false)
            .await?
            .ok_or_else(|| ImageError::Invalid(format!("{name} was not found")))?;
        let bytes = if media_type.starts_with(OCI_INDEX) || media_type.starts_with(DOCKER_LIST) {
            let index: Index = serde_json::from_slice(&bytes)?;
            let chosen = index.pick(platform).ok_or_else(|| {
                ImageError::Invalid(format!(
                    "{name} has no image for {}/{}",
                    platform.os, platform.architecture
                ))
            })?;
            self.get_manifest(repository, &chosen.digest, false)
                .await?
                .ok_or_else(|| {
                    ImageError::Invalid(format!("{name}: {} was not found", chosen.digest))
                })?
                .1
        } else if media_type.starts_with(OCI_MANIFEST) || media_type.starts_with(DOCKER_MANIFEST) {
            bytes
        } else {
            return Err(ImageError::Invalid(format!(
                "{name} is a {media_type}, not an image"
            )));
        };
        let manifest: Manifest = serde_json::from_slice(&bytes)?;
        self.fetch_blob(repository, &manifest.config, layout)
            .await?;
        let config = layout.read_blob(&manifest.config.digest)?;
        for layer in &manifest.layers {
            self.fetch_blob(repository, layer, layout).await?;
        }
        Ok((manifest, config))
    }
}

/// The token service's URL for a scope (built apart: the serializer is not `Send`).
fn token_url(realm: &str, service: Option<&str>, scope: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("scope", scope);
    if let Some(service) = service {
        query.append_pair("service", service);
    }
    let separator = if realm.contains('?') { '&' } else { '?' };
    format!("{realm}{separator}{}", query.finish())
}

async fn backoff(attempt: u32) {
    let base = 200u64 << attempt.min(5);
    tokio::time::sleep(Duration::from_millis(base + fastrand::u64(..base))).await;
}

/// The registry's own words for a refusal (`{"errors":[{"code","message"}]}`), with the status.
async fn failure(response: Response, what: &'static str) -> ImageError {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        code: String,
        #[serde(default)]
        message: String,
    }
    let detail = serde_json::from_str::<Errors>(&body)
        .ok()
        .and_then(|e| e.errors.into_iter().next())
        .map(|e| format!(": {} {}", e.code, e.message))
        .unwrap_or_default();
    ImageError::Registry {
        what,
        status: status.as_u16(),
        detail,
    }
}

/// `Bearer realm="https://auth.example/token",service="registry",scope="…"` as a map.
pub fn parse_bearer_challenge(header: &str) -> Option<HashMap<String, String>> {
    let rest = header.trim();
    let (scheme, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            after.split_once(',').map_or((after, ""), |(v, a)| (v, a))
        };
        params.insert(key, value.to_owned());
        rest = after.trim_start_matches([',', ' ']);
    }
    Some(params)
}
