//! Expiring signed links: capabilities to read one page or file, like S3's presigned URLs.
//!
//! A link is `<base><path>?expires=<unix seconds>&sig=<base64url(HMAC-SHA256)>`, the MAC taken
//! over the expiry and the path with a key only the server holds. Whoever has the link may read
//! that path until it expires; nobody can make one for another path or a later expiry. Pure: the
//! caller brings the time and the key, and turns a refusal into a 404.

use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How long a link Slipway posts stays valid: the same as S3's presigned artifact links.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// The shortest key accepted: HMAC-SHA256's own output size.
pub const MIN_KEY_BYTES: usize = 32;

/// The signing key. `Debug` never shows it.
#[derive(Clone)]
pub struct LinkKey(Box<[u8]>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a link key must be at least {MIN_KEY_BYTES} bytes")]
pub struct ShortKey;

/// Why a link was refused. Callers answer every one the same way (404), so none reveals whether
/// the path exists; the variants exist for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No `expires` or `sig`, or an expiry that is not a number.
    Missing,
    Expired,
    /// The signature is not this key's for this path and expiry.
    BadSignature,
}

impl LinkKey {
    pub fn new(key: impl Into<Vec<u8>>) -> Result<Self, ShortKey> {
        let key = key.into();
        if key.len() < MIN_KEY_BYTES {
            return Err(ShortKey);
        }
        Ok(LinkKey(key.into_boxed_slice()))
    }

    /// The query string (`expires=...&sig=...`) that lets `path` be read until `expires`.
    pub fn sign(&self, path: &str, expires: u64) -> String {
        let sig = URL_SAFE_NO_PAD.encode(self.mac(path, expires).finalize().into_bytes());
        format!("expires={expires}&sig={sig}")
    }

    /// Whether `query` (the request's raw query string) lets `path` be read at `now`.
    pub fn verify(&self, path: &str, query: Option<&str>, now: u64) -> Result<(), Refused> {
        let (mut expires, mut sig) = (None, None);
        for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*name {
                "expires" => expires = value.parse::<u64>().ok(),
                // Undecodable is kept as empty: present but wrong, so a bad signature.
                "sig" => sig = Some(URL_SAFE_NO_PAD.decode(value.as_bytes()).unwrap_or_default()),
                _ => {}
            }
        }
        let (Some(expires), Some(sig)) = (expires, sig) else {
            return Err(Refused::Missing);
        };
        // Checked in constant time (`verify_slice`), and before the expiry so that a refusal's
        // kind never depends on anything but the presented values.
        self.mac(path, expires)
            .verify_slice(&sig)
            .map_err(|_| Refused::BadSignature)?;
        if now >= expires {
            return Err(Refused::Expired);
        }
        Ok(())
    }

    /// A key of its own for `context` (HMAC of it under this key): what it signs, links
    /// signed with this key cannot stand for, and the other way round.
    pub fn derive(&self, context: &[u8]) -> LinkKey {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(context);
        LinkKey(mac.finalize().into_bytes().to_vec().into_boxed_slice())
    }

    fn mac(&self, path: &str, expires: u64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        // The expiry is digits only, so the newline makes the pair unambiguous.
        mac.update(format!("{expires}\n{path}").as_bytes());
        mac
    }
}

impl fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkKey([redacted])")
    }
}

/// Where links point (the server's public base URL) and how they are signed.
#[derive(Debug, Clone)]
pub struct Links {
    base: String,
    key: LinkKey,
    pub lifetime: Duration,
}

impl Links {
    pub fn new(base_url: &str, key: LinkKey) -> Self {
        Links {
            base: base_url.trim_end_matches('/').to_owned(),
            key,
            lifetime: DEFAULT_LIFETIME,
        }
    }

    /// A link to `path` (starting with `/`, as the server routes it) valid for `self.lifetime`.
    pub fn url(&self, path: &str, now: u64) -> String {
        self.url_for(path, self.lifetime, now)
    }

    /// A link to `path` valid for `lifetime` from `now`.
    pub fn url_for(&self, path: &str, lifetime: Duration, now: u64) -> String {
        let expires = now.saturating_add(lifetime.as_secs());
        format!("{}{path}?{}", self.base, self.key.sign(path, expires))
    }

    pub fn key(&self) -> &LinkKey {
        &self.key
    }

    /// The base URL links start with.
    pub fn base_url(&self) -> &str {
        &self.base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn key(byte: u8) -> LinkKey {
        LinkKey::new(vec![byte; MIN_KEY_BYTES]).unwrap()
    }

    #[test]
    fn verify_table() {
        let good = key(7).sign("/runs/abc", NOW + 60);
        let other_key = key(8).sign("/runs/abc", NOW + 60);
        let later = good.replace(&format!("expires={}", NOW + 60), "expires=99999999999");
        let no_sig = format!("expires={}", NOW + 60);
        let sig_only = good.split('&').nth(1).unwrap().to_owned();
        type Case<'a> = (&'a str, &'a str, Option<&'a str>, u64, Result<(), Refused>);
        let cases: [Case; 11] = [
            ("good", "/runs/abc", Some(&good), NOW, Ok(())),
            ("last second", "/runs/abc", Some(&good), NOW + 59, Ok(())),
            (
                "expired",
                "/runs/abc",
                Some(&good),
                NOW + 60,
                Err(Refused::Expired),
            ),
            (
                "tampered path",
                "/runs/abd",
                Some(&good),
                NOW,
                Err(Refused::BadSignature),
            ),
            (
                "path prefix",
                "/runs/ab",
                Some(&good),
                NOW,
                Err(Refused::BadSignature),
            ),
            (
                "tampered expiry",
                "/runs/abc",
                Some(&later),
                NOW,
                Err(Refused::BadSignature),
            ),
            (
                "wrong key",
                "/runs/abc",
                Some(&other_key),
                NOW,
                Err(Refused::BadSignature),
            ),
            ("no query", "/runs/abc", None, NOW, Err(Refused::Missing)),
            (
                "no sig",
                "/runs/abc",
                Some(&no_sig),
                NOW,
                Err(Refused::Missing),
            ),
            (
                "no expires",
                "/runs/abc",
                Some(&sig_only),
                NOW,
                Err(Refused::Missing),
            ),
            (
                "garbage",
                "/runs/abc",
                Some("expires=x&sig=%%%"),
                NOW,
                Err(Refused::Missing),
            ),
        ];
        for (name, path, query, now, want) in cases {
            assert_eq!(key(7).verify(path, query, now), want, "{name}");
        }
    }

    #[test]
    fn an_empty_signature_or_a_truncated_one_is_refused() {
        let good = key(7).sign("/a", NOW + 60);
        let truncated = &good[..good.len() - 4];
        assert_eq!(
            key(7).verify("/a", Some(truncated), NOW),
            Err(Refused::BadSignature)
        );
        let empty = format!("expires={}&sig=", NOW + 60);
        assert_eq!(
            key(7).verify("/a", Some(&empty), NOW),
            Err(Refused::BadSignature)
        );
    }

    #[test]
    fn links_carry_base_path_and_a_verifiable_query() {
        let links = Links::new("https://ci.example/", key(1));
        let url = links.url("/artifacts/a/b.txt", NOW);
        let expires = NOW + DEFAULT_LIFETIME.as_secs();
        let prefix = format!("https://ci.example/artifacts/a/b.txt?expires={expires}&sig=");
        assert!(url.starts_with(&prefix), "{url}");
        let query = url.split_once('?').unwrap().1;
        assert_eq!(
            links.key().verify("/artifacts/a/b.txt", Some(query), NOW),
            Ok(())
        );
        assert_eq!(
            links
                .key()
                .verify("/artifacts/a/b.txt", Some(query), expires),
            Err(Refused::Expired)
        );
        let short = links.url_for("/x", Duration::from_secs(5), NOW);
        assert!(short.contains(&format!("expires={}", NOW + 5)), "{short}");
    }

    #[test]
    fn short_keys_are_refused_and_keys_never_print() {
        assert!(LinkKey::new(vec![1; MIN_KEY_BYTES - 1]).is_err());
        let key = LinkKey::new(b"s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t".to_vec()).unwrap();
        assert!(!format!("{key:?}").contains("s3cr3t"));
        assert!(!format!("{:?}", Links::new("http://x", key)).contains("s3cr3t"));
    }
}
