//! Retries for forge calls: 5xx, connection errors and rate limits, bounded in attempts and time.
//!
//! What to do with a response is a pure decision ([`classify`]); [`send`] applies it. Retries are
//! logged inside the caller's span, which carries the delivery id; tokens never appear.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

use super::ForgeError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// No retry is started that would end past this much time since the first attempt.
    pub max_elapsed: Duration,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            max_elapsed: Duration::from_secs(60),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

/// What a response means for the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Hand the response to the caller (success, or an error not worth retrying).
    Done,
    /// Rate limited: the forge said how long to wait.
    RateLimitedFor(Duration),
    /// Rate limited without saying how long.
    RateLimited,
    /// A server error: back off and try again.
    ServerError,
}

/// Decide what to do with a response. GitHub and GitLab both send `Retry-After` (seconds); GitHub
/// names its budget `x-ratelimit-remaining`/`-reset`, GitLab `RateLimit-Remaining`/`-Reset`.
/// Secondary rate limits come as 403 or 429: a 403 without any rate-limit sign is a real refusal.
pub fn classify(status: u16, headers: &HeaderMap, now: SystemTime) -> Next {
    let retry_after = header_u64(headers, "retry-after").map(Duration::from_secs);
    match status {
        429 | 403 => {
            if let Some(wait) = retry_after {
                return Next::RateLimitedFor(wait);
            }
            let remaining = header_u64(headers, "x-ratelimit-remaining")
                .or_else(|| header_u64(headers, "ratelimit-remaining"));
            if remaining == Some(0) {
                let reset = header_u64(headers, "x-ratelimit-reset")
                    .or_else(|| header_u64(headers, "ratelimit-reset"));
                let now_secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
                return match reset {
                    Some(at) => {
                        Next::RateLimitedFor(Duration::from_secs(at.saturating_sub(now_secs)))
                    }
                    None => Next::RateLimited,
                };
            }
            if status == 429 {
                Next::RateLimited
            } else {
                Next::Done
            }
        }
        501 => Next::Done,
        500..=599 => match retry_after {
            Some(wait) => Next::RateLimitedFor(wait),
            None => Next::ServerError,
        },
        _ => Next::Done,
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Exponential backoff with jitter: a random delay in [d/2, d) for d = base * 2^(attempt-1).
pub fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exp = policy
        .base_delay
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let capped = exp.min(policy.max_delay);
    capped.mul_f64(0.5 + fastrand::f64() * 0.5)
}

/// The status line and headers of a response whose body has not been read yet.
pub trait ResponseHead {
    fn status(&self) -> u16;
    fn headers(&self) -> &HeaderMap;
}

impl<B> ResponseHead for http::Response<B> {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
    fn headers(&self) -> &HeaderMap {
        self.headers()
    }
}

/// Run `attempt` until its response is final, retrying as [`classify`] says, within `policy`.
/// A transport error (connection refused, reset, timeout) is retried like a 5xx.
pub async fn send<R, E, F, Fut>(
    policy: &RetryPolicy,
    what: &str,
    mut attempt: F,
) -> Result<R, ForgeError>
where
    R: ResponseHead,
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<R, E>>,
{
    let started = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (wait, rate_limited, last) = match attempt().await {
            Ok(response) => {
                let status = response.status();
                match classify(status, response.headers(), SystemTime::now()) {
                    Next::Done => return Ok(response),
                    Next::RateLimitedFor(wait) => (wait, true, format!("status {status}")),
                    Next::RateLimited => {
                        (backoff(policy, attempts), true, format!("status {status}"))
                    }
                    Next::ServerError => {
                        (backoff(policy, attempts), false, format!("status {status}"))
                    }
                }
            }
            Err(error) => (backoff(policy, attempts), false, error.to_string()),
        };
        let out_of_time = started.elapsed() + wait > policy.max_elapsed;
        if attempts >= policy.max_attempts || out_of_time {
            tracing::warn!(what, attempts, %last, "giving up on the forge call");
            return Err(if rate_limited {
                ForgeError::RateLimited {
                    what: what.to_owned(),
                    retry_after_secs: Some(wait.as_secs().max(1)),
                }
            } else {
                ForgeError::Unavailable {
                    what: what.to_owned(),
                    attempts,
                    last,
                }
            });
        }
        tracing::warn!(what, attempt = attempts, %last, wait_ms = wait.as_millis() as u64, "retrying forge call");
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    const NOW: u64 = 1_700_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    #[test]
    fn success_and_plain_client_errors_are_final() {
        for status in [200, 201, 204, 302, 400, 401, 404, 409, 422, 501] {
            assert_eq!(
                classify(status, &HeaderMap::new(), now()),
                Next::Done,
                "{status}"
            );
        }
    }

    #[test]
    fn a_403_without_rate_limit_signs_is_a_refusal() {
        let h = headers(&[("x-ratelimit-remaining", "4999")]);
        assert_eq!(classify(403, &h, now()), Next::Done);
    }

    #[test]
    fn retry_after_wins_for_429_403_and_5xx() {
        let h = headers(&[("retry-after", "7"), ("x-ratelimit-remaining", "0")]);
        for status in [429, 403, 503] {
            assert_eq!(
                classify(status, &h, now()),
                Next::RateLimitedFor(Duration::from_secs(7))
            );
        }
    }

    #[test]
    fn exhausted_budget_waits_until_reset_for_both_header_spellings() {
        let reset = (NOW + 42).to_string();
        let github = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ]);
        let gitlab = headers(&[("ratelimit-remaining", "0"), ("ratelimit-reset", &reset)]);
        for h in [github, gitlab] {
            assert_eq!(
                classify(403, &h, now()),
                Next::RateLimitedFor(Duration::from_secs(42))
            );
            assert_eq!(
                classify(429, &h, now()),
                Next::RateLimitedFor(Duration::from_secs(42))
            );
        }
        let past = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "5")]);
        assert_eq!(
            classify(403, &past, now()),
            Next::RateLimitedFor(Duration::ZERO)
        );
    }

    #[test]
    fn a_bare_429_and_5xx_back_off() {
        assert_eq!(classify(429, &HeaderMap::new(), now()), Next::RateLimited);
        for status in [500, 502, 503, 504] {
            assert_eq!(
                classify(status, &HeaderMap::new(), now()),
                Next::ServerError
            );
        }
    }

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            ..Default::default()
        };
        for _ in 0..50 {
            let first = backoff(&policy, 1);
            assert!(first >= Duration::from_millis(50) && first < Duration::from_millis(100));
            let third = backoff(&policy, 3);
            assert!(third >= Duration::from_millis(200) && third < Duration::from_millis(400));
            let late = backoff(&policy, 30);
            assert!(late >= Duration::from_millis(500) && late < Duration::from_millis(1000));
        }
    }
}
