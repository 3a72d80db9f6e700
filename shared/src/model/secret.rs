//! Secret values that never print, and constant-time comparison of them.

use std::fmt;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A shared secret (webhook secret, GitLab token). `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<[u8]>);

impl Secret {
    pub fn new(value: impl Into<Vec<u8>>) -> Result<Self, SecretError> {
        let value = value.into();
        if value.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Secret(value.into_boxed_slice()))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Equal to `presented`, in time independent of where they differ and of either length:
    /// both sides are hashed first, so only equal-length digests are compared.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let ours = Sha256::digest(&self.0);
        let theirs = Sha256::digest(presented);
        ours.as_slice().ct_eq(theirs.as_slice()).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A Standard Webhooks signing key: `whsec_` followed by the base64 of the key bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Secret);

impl SigningKey {
    pub fn parse(setting: &str) -> Result<Self, SecretError> {
        let encoded = setting
            .trim()
            .strip_prefix("whsec_")
            .ok_or(SecretError::MissingWhsecPrefix)?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        Ok(SigningKey(Secret::new(key)?))
    }

    pub fn key(&self) -> &[u8] {
        self.0.expose()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a secret must not be empty")]
    Empty,
    #[error("a signing token must start with `whsec_`")]
    MissingWhsecPrefix,
    #[error("a signing token must be `whsec_` followed by base64")]
    NotBase64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("hunter2").unwrap();
        assert!(!format!("{secret:?}").contains("hunter2"));
        let key = SigningKey::parse("whsec_aHVudGVyMg==").unwrap();
        assert_eq!(key.key(), b"hunter2");
        assert!(!format!("{key:?}").contains("hunter2"));
        assert!(!format!("{key:?}").contains("aHVudGVyMg"));
    }

    #[test]
    fn matches_only_the_exact_value() {
        let secret = Secret::new("token").unwrap();
        assert!(secret.matches(b"token"));
        assert!(!secret.matches(b"token "));
        assert!(!secret.matches(b"toke"));
        assert!(!secret.matches(b""));
    }

    #[test]
    fn a_value_with_commas_is_one_secret() {
        // Rotation has its own setting (`_PREVIOUS`): a comma is part of the secret.
        let secret = Secret::new("Str0ngSecret,x").unwrap();
        assert!(secret.matches(b"Str0ngSecret,x"));
        assert!(!secret.matches(b"x"));
        assert!(!secret.matches(b"Str0ngSecret"));
    }

    #[test]
    fn signing_key_needs_prefix_and_base64() {
        assert_eq!(
            SigningKey::parse("aGk="),
            Err(SecretError::MissingWhsecPrefix)
        );
        assert_eq!(SigningKey::parse("whsec_***"), Err(SecretError::NotBase64));
        assert_eq!(SigningKey::parse("whsec_"), Err(SecretError::Empty));
    }
}
