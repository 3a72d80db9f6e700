//! GitHub: the REST API on reqwest (the HTTP stack GitLab and the registry client use), with our
//! own retry policy, installation-token cache and App JWT (`jsonwebtoken`, RS256).
//!
//! App auth reports with the Checks API; token auth with commit statuses.

mod auth;
mod forge;
pub mod mapping;

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderValue, Method};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use auth::{GithubAuth, TOKEN_RENEWAL_MARGIN};
use auth::{InstallationToken, TokenCache};

use super::retry::{self, RetryPolicy};
use super::text::cut_chars;
use super::{all_pages, decode_json, encode_segment, ForgeError, PAGE_SIZE};
use crate::model::event::Repo;

pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// GitHub refuses comment bodies over 65,536 characters.
pub const COMMENT_LIMIT: usize = 65_536;
/// Check run `output.summary` limit, in bytes.
pub const SUMMARY_LIMIT: usize = 65_535;
/// Commit status and deployment status descriptions.
pub const DESCRIPTION_LIMIT: usize = 140;

/// The REST API version every request asks for.
pub const API_VERSION: &str = "2022-11-28";

type Response = reqwest::Response;

/// One GitHub endpoint and identity, shared by every repository and installation.
pub struct GithubClient {
    http: reqwest::Client,
    /// The API's base URL without a trailing slash (`https://api.github.com`, or GitHub
    /// Enterprise Server's `https://HOST/api/v3`); request paths are appended to it.
    api: String,
    auth: GithubAuth,
    retry: RetryPolicy,
    tokens: TokenCache,
    login: tokio::sync::OnceCell<String>,
}

impl GithubClient {
    pub fn new(
        api_url: &str,
        auth: GithubAuth,
        retry: RetryPolicy,
    ) -> Result<Arc<Self>, ForgeError> {
        let api = api_url.trim_end_matches('/');
        match reqwest::Url::parse(api) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            Ok(url) => {
                let scheme = url.scheme();
                return Err(ForgeError::Auth(format!(
                    "GitHub API URL {api_url:?}: the scheme {scheme:?} is not http or https"
                )));
            }
            Err(e) => return Err(ForgeError::Auth(format!("GitHub API URL {api_url:?}: {e}"))),
        }
        // Redirects are followed (a tarball answers 302 to codeload); reqwest drops the
        // Authorization header when a redirect leaves the host. No overall timeout: a source
        // tarball may take longer than any API call, so a stalled read is what ends a request.
        let http = reqwest::Client::builder()
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .read_timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| ForgeError::Io(format!("building the HTTP client: {e}")))?;
        Ok(Arc::new(GithubClient {
            http,
            api: api.to_owned(),
            auth,
            retry,
            tokens: TokenCache::default(),
            login: tokio::sync::OnceCell::new(),
        }))
    }

    /// The forge as seen by one App installation (required with App auth; ignored with a token).
    pub fn forge(self: &Arc<Self>, installation: Option<u64>) -> GithubForge {
        GithubForge {
            client: Arc::clone(self),
            installation,
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        accept: &str,
        bearer: &str,
        what: &str,
    ) -> Result<Response, ForgeError> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {bearer}"))
            .map_err(|_| ForgeError::Auth("the token is not a valid header value".into()))?;
        authorization.set_sensitive(true);
        let url = format!("{}{path}", self.api);
        retry::send(&self.retry, what, || {
            let request = self
                .http
                .request(method.clone(), &url)
                .header(http::header::AUTHORIZATION, authorization.clone())
                .header(http::header::ACCEPT, accept)
                .header("X-GitHub-Api-Version", API_VERSION);
            let request = match body {
                Some(body) => request.json(body),
                None => request
                    .header(http::header::CONTENT_LENGTH, "0")
                    .body(Vec::new()),
            };
            request.send()
        })
        .await
    }

    async fn installation_token(&self, installation: u64) -> Result<String, ForgeError> {
        if let Some(token) = self.tokens.get(installation, SystemTime::now()) {
            return Ok(token);
        }
        let jwt = self.auth.app_jwt()?;
        let path = format!("/app/installations/{installation}/access_tokens");
        let response = self
            .send(Method::POST, &path, None, JSON, &jwt, "installation token")
            .await?;
        let fresh: InstallationToken = json_body("installation token", response)
            .await
            .map_err(|e| ForgeError::Auth(e.to_string()))?;
        self.tokens.put(installation, fresh)
    }
}

const JSON: &str = "application/vnd.github+json";

/// GitHub as one installation (or one token) sees it.
#[derive(Clone)]
pub struct GithubForge {
    client: Arc<GithubClient>,
    installation: Option<u64>,
}

impl GithubForge {
    async fn bearer(&self) -> Result<String, ForgeError> {
        match (&self.client.auth, self.installation) {
            (GithubAuth::Token(token), _) => String::from_utf8(token.expose().to_vec())
                .map_err(|_| ForgeError::Auth("the token is not UTF-8".into())),
            (GithubAuth::App { .. }, Some(id)) => self.client.installation_token(id).await,
            (GithubAuth::App { .. }, None) => Err(ForgeError::Auth(
                "a GitHub App needs the installation from the webhook".into(),
            )),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Response, ForgeError> {
        let bearer = self.bearer().await?;
        self.client
            .send(method, path, body, JSON, &bearer, what)
            .await
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<T, ForgeError> {
        json_body(what, self.call(method, path, body, what).await?).await
    }

    async fn call_ok(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<(), ForgeError> {
        let response = self.call(method, path, body, what).await?;
        ensure_success(what, response).await.map(drop)
    }

    async fn paged<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<Vec<T>, ForgeError> {
        all_pages(|page| {
            let url = format!("{path}?per_page={PAGE_SIZE}&page={page}");
            async move { self.call_json(Method::GET, &url, None, what).await }
        })
        .await
    }
}

/// `/repos/{owner}/{name}` with each segment percent-encoded.
fn repo_path(repo: &Repo) -> String {
    let encoded: Vec<String> = repo.full_name.split('/').map(encode_segment).collect();
    format!("/repos/{}", encoded.join("/"))
}

async fn read_all(what: &str, response: Response) -> Result<(u16, Bytes), ForgeError> {
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|e| ForgeError::body_lost(what, e))?;
    Ok((status, body))
}

async fn ensure_success(what: &str, response: Response) -> Result<Bytes, ForgeError> {
    let (status, body) = read_all(what, response).await?;
    status_error(what, status, &body)?;
    Ok(body)
}

/// A non-2xx answer as an error.
pub(crate) fn status_error(what: &str, status: u16, body: &[u8]) -> Result<(), ForgeError> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(failure(what, status, body))
    }
}

/// The error for a non-2xx answer, with the forge's `message` when it gave one.
pub(crate) fn failure(what: &str, status: u16, body: &[u8]) -> ForgeError {
    if status == 404 {
        return ForgeError::NotFound(what.to_owned());
    }
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message").or_else(|| v.get("error")).map(|m| {
                m.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| m.to_string())
            })
        })
        .unwrap_or_else(|| cut_chars(&String::from_utf8_lossy(body), 200).into_owned());
    ForgeError::Api {
        what: what.to_owned(),
        status,
        message,
    }
}

async fn json_body<T: DeserializeOwned>(what: &str, response: Response) -> Result<T, ForgeError> {
    let body = ensure_success(what, response).await?;
    decode_json(what, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_paths_are_encoded_per_segment() {
        let repo = Repo {
            id: crate::model::event::RepoId("1".into()),
            full_name: "my-org/some.repo_x".into(),
            web_url: String::new(),
            clone_url: String::new(),
        };
        assert_eq!(repo_path(&repo), "/repos/my-org/some.repo_x");
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
    }
}
