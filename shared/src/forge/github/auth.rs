//! GitHub credentials: a plain token, or a GitHub App whose installation tokens are exchanged
//! with a short-lived JWT and cached until about five minutes before they expire.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use crate::forge::ForgeError;
use crate::webhook::Secret;

/// An installation token is renewed when less than this is left of its life.
pub const TOKEN_RENEWAL_MARGIN: Duration = Duration::from_secs(5 * 60);

pub enum GithubAuth {
    /// A personal, fine-grained or Actions token: commit statuses, no Checks API.
    Token(Secret),
    /// A GitHub App: the Checks API, tokens per installation.
    App { app_id: u64, key: Box<EncodingKey> },
}

impl fmt::Debug for GithubAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GithubAuth::Token(_) => f.write_str("GithubAuth::Token([redacted])"),
            GithubAuth::App { app_id, .. } => write!(f, "GithubAuth::App({app_id}, [redacted])"),
        }
    }
}

impl GithubAuth {
    /// An App from its id and PEM private key (PKCS#1 or PKCS#8).
    pub fn app(app_id: u64, private_key_pem: &[u8]) -> Result<Self, ForgeError> {
        let key = EncodingKey::from_rsa_pem(private_key_pem).map_err(|e| {
            ForgeError::Auth(format!(
                "the GitHub App private key is not a valid RSA PEM key: {e}"
            ))
        })?;
        Ok(GithubAuth::App {
            app_id,
            key: Box::new(key),
        })
    }

    pub fn is_app(&self) -> bool {
        matches!(self, GithubAuth::App { .. })
    }

    /// A JWT for acting as the App itself: issued 60 s in the past, valid 9 minutes.
    pub(super) fn app_jwt(&self) -> Result<String, ForgeError> {
        match self {
            GithubAuth::App { app_id, key } => {
                #[derive(Serialize)]
                struct Claims {
                    iss: u64,
                    iat: u64,
                    exp: u64,
                }
                // GitHub refuses a JWT valid for more than 10 minutes; 60 s back allows for drift.
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_err(|_| ForgeError::Auth("the clock is before 1970".into()))?
                    .as_secs();
                let claims = Claims {
                    iss: *app_id,
                    iat: now - 60,
                    exp: now + 9 * 60,
                };
                jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, key)
                    .map_err(|e| ForgeError::Auth(format!("signing the App JWT failed: {e}")))
            }
            GithubAuth::Token(_) => Err(ForgeError::Auth("not a GitHub App".into())),
        }
    }
}

/// The answer to `POST /app/installations/{id}/access_tokens`.
#[derive(Deserialize)]
pub(super) struct InstallationToken {
    pub token: String,
    pub expires_at: String,
}

#[derive(Default)]
pub(super) struct TokenCache {
    tokens: Mutex<HashMap<u64, (String, SystemTime)>>,
}

impl TokenCache {
    /// A cached token with more than [`TOKEN_RENEWAL_MARGIN`] to live.
    pub fn get(&self, installation: u64, now: SystemTime) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let (token, expires_at) = tokens.get(&installation)?;
        let left = expires_at.duration_since(now).unwrap_or_default();
        (left > TOKEN_RENEWAL_MARGIN).then(|| token.clone())
    }

    pub fn put(&self, installation: u64, fresh: InstallationToken) -> Result<String, ForgeError> {
        let expires_at = humantime::parse_rfc3339_weak(&fresh.expires_at).map_err(|e| {
            ForgeError::Auth(format!(
                "the installation token's expires_at is unreadable: {e}"
            ))
        })?;
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.insert(installation, (fresh.token.clone(), expires_at));
        Ok(fresh.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(value: &str, expires_at: &str) -> InstallationToken {
        InstallationToken {
            token: value.into(),
            expires_at: expires_at.into(),
        }
    }

    #[test]
    fn a_cached_token_is_used_until_five_minutes_before_expiry() {
        let cache = TokenCache::default();
        cache.put(7, token("t1", "2030-01-01T01:00:00Z")).unwrap();
        let at = |s: &str| humantime::parse_rfc3339(s).unwrap();
        assert_eq!(
            cache.get(7, at("2030-01-01T00:00:00Z")).as_deref(),
            Some("t1")
        );
        assert_eq!(
            cache.get(7, at("2030-01-01T00:54:59Z")).as_deref(),
            Some("t1")
        );
        assert_eq!(cache.get(7, at("2030-01-01T00:55:00Z")), None);
        assert_eq!(
            cache.get(8, at("2030-01-01T00:00:00Z")),
            None,
            "per installation"
        );
    }

    #[test]
    fn debug_hides_credentials() {
        let auth = GithubAuth::Token(Secret::new("ghp_supersecret").unwrap());
        assert!(!format!("{auth:?}").contains("supersecret"));
    }
}
