//! Why something failed, told twice: what the person who asked may read (posted to the pull
//! request), and what only the operator's log gets. AWS and internal error text (account ids,
//! role and function ARNs, hosts, the store's own messages) is detail: never posted.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Safe to post: says what failed, in the user's terms.
    pub public: String,
    /// For the log only.
    pub detail: Option<String>,
}

impl Failure {
    /// A failure whose whole text is the user's own business (their configuration, their build).
    pub fn public(text: impl Into<String>) -> Failure {
        Failure {
            public: text.into(),
            detail: None,
        }
    }

    /// A failure with internal detail kept for the log.
    pub fn internal(public: impl Into<String>, detail: impl fmt::Display) -> Failure {
        Failure {
            public: public.into(),
            detail: Some(detail.to_string()),
        }
    }

    /// Log the detail under `context` (a run or deployment id) and return what may be posted,
    /// with a pointer to where the detail went.
    pub fn into_public(self, context: &str) -> String {
        match self.detail {
            None => self.public,
            Some(detail) => {
                tracing::warn!(%context, %detail, public = %self.public, "failure detail");
                format!(
                    "{} (details in Slipway's log under `{context}`)",
                    self.public
                )
            }
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.public)
    }
}

/// A task definition ARN's `family:revision`: names it to its owner without the account and
/// region.
pub fn arn_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_goes_to_the_log_and_the_public_text_points_there() {
        let f = Failure::internal(
            "Lambda api: updating the code failed (AccessDeniedException)",
            "arn:aws:iam::123456789012:role/x is not authorized",
        );
        let posted = f.into_public("d-42");
        assert!(!posted.contains("123456789012"), "{posted}");
        assert!(posted.contains("AccessDeniedException") && posted.contains("`d-42`"));
        assert_eq!(
            Failure::public("a step failed").into_public("r"),
            "a step failed"
        );
    }

    #[test]
    fn arn_names_drop_account_and_region() {
        let cases = [
            (
                "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3",
                "web:3",
            ),
            ("web:3", "web:3"),
        ];
        for (arn, want) in cases {
            assert_eq!(arn_name(arn), want, "{arn}");
        }
    }
}
