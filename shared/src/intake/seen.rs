//! The one-machine intake's memory of the delivery keys it has admitted.
//!
//! Telling a new delivery from a redelivery or a replay was a unique index on disk: two
//! inserts of random keys per delivery, each writing a page of its own to the WAL, which was
//! most of the writer's time (docs/decisions.md, issue #15). Now the writer looks keys up here,
//! in memory, and appends them to an unindexed table in the same transaction that queues their
//! delivery; it reads them back when it starts. One writer holds a data directory at a time
//! (its lock file), so what it remembers is the whole truth.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// A key as remembered and stored: the first 16 bytes of SHA-256 over the forge's name and the
/// key. A fixed size keeps a remembered key to about 30 bytes of memory; at 128 bits two
/// different keys share a digest with a chance near 2^-64 even among 2^32 keys.
pub(crate) type KeyDigest = [u8; 16];

pub(crate) fn digest(forge: &str, key: &str) -> KeyDigest {
    let mut hash = Sha256::new();
    hash.update(forge.as_bytes());
    hash.update([0]); // no forge name is a prefix of another's key
    hash.update(key.as_bytes());
    let mut digest = KeyDigest::default();
    digest.copy_from_slice(&hash.finalize()[..16]);
    digest
}

/// Admitted keys and when each expires (Unix seconds).
#[derive(Debug, Default)]
pub(crate) struct Seen {
    expires_at: HashMap<KeyDigest, i64>,
}

impl Seen {
    /// Whether `key` was admitted and has not expired by `now`.
    pub(crate) fn contains(&self, key: &KeyDigest, now: i64) -> bool {
        self.expires_at.get(key).is_some_and(|&at| at > now)
    }

    /// Remember `key` until `expires_at`; what it replaces (a remembered expiry, or none), for
    /// [`Seen::restore`] should the transaction that admitted it fail.
    pub(crate) fn remember(&mut self, key: KeyDigest, expires_at: i64) -> Option<i64> {
        self.expires_at.insert(key, expires_at)
    }

    /// Remember `key` until `expires_at` unless it is remembered until later (reading back
    /// records that a clock set back may have stored out of order).
    pub(crate) fn remember_latest(&mut self, key: KeyDigest, expires_at: i64) {
        let at = self.expires_at.entry(key).or_insert(expires_at);
        *at = (*at).max(expires_at);
    }

    /// Give memory back once most of the map is empty (a week-old burst expired): a `HashMap`
    /// keeps its largest size otherwise.
    pub(crate) fn shrink_when_sparse(&mut self) {
        if self.expires_at.capacity() > 4 * self.expires_at.len().max(1024) {
            self.expires_at.shrink_to_fit();
        }
    }

    /// Undo a [`Seen::remember`] that returned `previous`.
    pub(crate) fn restore(&mut self, key: KeyDigest, previous: Option<i64>) {
        match previous {
            Some(at) => self.expires_at.insert(key, at),
            None => self.expires_at.remove(&key),
        };
    }

    /// Forget `key`'s record that expires at `expires_at`, deleted from the disk. A key admitted
    /// again after expiring was remembered with a later expiry, and stays.
    pub(crate) fn forget(&mut self, key: &KeyDigest, expires_at: i64) {
        if self.expires_at.get(key) == Some(&expires_at) {
            self.expires_at.remove(key);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.expires_at.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_tell_forges_and_keys_apart() {
        let github = digest("github", "d-1");
        assert_eq!(github, digest("github", "d-1"));
        for other in [digest("gitlab", "d-1"), digest("github", "d-2")] {
            assert_ne!(github, other);
        }
        // The separator: a forge name running into the key is another input.
        assert_ne!(digest("git", "hubd-1"), digest("github", "d-1"));
    }

    #[test]
    fn a_key_counts_until_it_expires_and_a_failed_admission_is_undone() {
        let key = digest("github", "d-1");
        let mut seen = Seen::default();
        assert!(!seen.contains(&key, 100));
        let previous = seen.remember(key, 200);
        assert_eq!(previous, None);
        assert!(seen.contains(&key, 100));
        assert!(seen.contains(&key, 199));
        assert!(!seen.contains(&key, 200), "expired at its time");

        // Admitted again after expiring; that transaction fails: the first record is back.
        let previous = seen.remember(key, 900);
        seen.restore(key, previous);
        assert!(seen.contains(&key, 150) && !seen.contains(&key, 300));
        // A failed first admission leaves nothing.
        let other = digest("github", "d-2");
        let previous = seen.remember(other, 900);
        seen.restore(other, previous);
        assert!(!seen.contains(&other, 0));
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn reading_back_keeps_the_latest_expiry_and_a_sparse_map_shrinks() {
        let key = digest("github", "d-1");
        let mut seen = Seen::default();
        seen.remember_latest(key, 900);
        seen.remember_latest(key, 200);
        assert!(seen.contains(&key, 500));
        for n in 0..20_000 {
            seen.remember(digest("github", &n.to_string()), 100);
        }
        let full = seen.expires_at.capacity();
        for n in 0..20_000 {
            seen.forget(&digest("github", &n.to_string()), 100);
        }
        seen.shrink_when_sparse();
        assert!(seen.expires_at.capacity() < full / 4, "{full}");
        assert!(seen.contains(&key, 500));
    }

    #[test]
    fn expiring_an_old_record_keeps_a_readmission() {
        let key = digest("github", "d-1");
        let mut seen = Seen::default();
        seen.remember(key, 200);
        seen.remember(key, 900); // the key came back after 200
        seen.forget(&key, 200); // the old row is deleted
        assert!(seen.contains(&key, 500));
        seen.forget(&key, 900);
        assert!(!seen.contains(&key, 500));
        assert_eq!(seen.len(), 0);
    }
}
