//! Who may see the dashboard's lists: the operator, by the token (`SLIPWAY_DASHBOARD_TOKEN`) as
//! a bearer token, or by the session cookie the sign-in form sets (HttpOnly, Secure,
//! SameSite=Strict, 12 hours). Run pages stay reachable by their own signed links.

use std::time::Duration;

use http::{header, HeaderMap};
use sha2::Digest as _;

use crate::links::LinkKey;
use crate::model::secret::Secret;

/// What a session cookie signs (never a page: nothing is served at it).
pub(super) const SESSION_PATH: &str = "/dashboard-session";
/// `__Host-`: browsers take it only from a secure origin, for `/`, with no `Domain`, so no other
/// host (or plain-HTTP page) can plant or shadow a session.
pub(super) const SESSION_COOKIE: &str = "__Host-slipway_session";
pub(super) const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

pub(super) struct Operator {
    token: Secret,
    /// Signs sessions: made from the link key and the token, so changing the token ends every
    /// session, and no page link can stand for one.
    pub(super) session_key: LinkKey,
}

impl Operator {
    pub(super) fn new(token: Secret, links: &LinkKey) -> Operator {
        let mut context = b"dashboard-session\n".to_vec();
        context.extend_from_slice(&sha2::Sha256::digest(token.expose()));
        let session_key = links.derive(&context);
        Operator { token, session_key }
    }

    /// The token typed into the sign-in form is the operator's (compared in constant time).
    pub(super) fn is_token(&self, typed: &[u8]) -> bool {
        self.token.matches(typed)
    }

    /// The bearer token, or a session cookie this key signed that has not expired at `now`.
    pub(super) fn admits(&self, headers: &HeaderMap, now: u64) -> bool {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if let Some(token) = bearer {
            return self.token.matches(token.trim().as_bytes());
        }
        let cookies = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let session = cookies
            .flat_map(|line| line.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == SESSION_COOKIE)
            .map(|(_, value)| value.replace('!', "&"));
        session.is_some_and(|value| {
            self.session_key
                .verify(SESSION_PATH, Some(&value), now)
                .is_ok()
        })
    }

    /// The `Set-Cookie` value of a session starting at `now`.
    pub(super) fn session_cookie(&self, now: u64) -> String {
        let expires = now + SESSION_LIFETIME.as_secs();
        // `&` is not welcome in a cookie value everywhere: `!` stands for it.
        let value = self
            .session_key
            .sign(SESSION_PATH, expires)
            .replace('&', "!");
        format!(
            "{SESSION_COOKIE}={value}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
            SESSION_LIFETIME.as_secs()
        )
    }
}

/// A browser (it accepts HTML) is sent to the sign-in form; a script gets a 401.
pub(super) fn wants_a_page(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|accept| accept.contains("text/html"))
}
