//! What one cloud build may touch: the session policy dispatch attaches when it assumes the run
//! role for that build. IAM grants the intersection of the run role's policy and this one, so
//! the build's credentials write only its own output prefix and push only its own image
//! repository, whatever its steps do with them. Pure: the runner adapter does the STS call.

use serde_json::{json, Value};

/// The run's credentials travel to the agent under these names, not the standard `AWS_*` ones,
/// so the buildspec's own download still signs with the build role.
pub const ACCESS_KEY_ID: &str = "SLIPWAY_RUN_AWS_ACCESS_KEY_ID";
pub const SECRET_ACCESS_KEY: &str = "SLIPWAY_RUN_AWS_SECRET_ACCESS_KEY";
pub const SESSION_TOKEN: &str = "SLIPWAY_RUN_AWS_SESSION_TOKEN";

/// STS refuses more than an hour when the caller is itself a role session (role chaining), and
/// Lambda functions are; STS's floor is 15 minutes.
pub const MAX_SESSION_SECS: u64 = 3600;
const MIN_SESSION_SECS: u64 = 900;

/// Where one run may write and push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunScope<'a> {
    /// `arn:<partition>:s3:::<bucket>`.
    pub bucket_arn: &'a str,
    /// The run's output prefix (`artifacts/…/<run>/` or `deployments/…/<id>/`).
    pub prefix: &'a str,
    /// `arn:<partition>:ecr:<region>:<account>:repository/` — the account's repositories.
    pub repositories_arn: &'a str,
    /// `build.image.repository`, when the build pushes an image.
    pub repository: Option<&'a str>,
}

/// The session policy for one run. Refuses a prefix or repository that IAM would read as a
/// pattern (`*`, `?`, `${…}`), which would widen the grant past the run's own objects.
pub fn run_session_policy(scope: &RunScope<'_>) -> Result<Value, String> {
    literal("output prefix", scope.prefix)?;
    if scope.prefix.is_empty() || !scope.prefix.ends_with('/') {
        return Err(format!(
            "the output prefix {:?} must name a folder",
            scope.prefix
        ));
    }
    let objects = format!("{}/{}*", scope.bucket_arn, scope.prefix);
    let mut statements = vec![json!({
        "Sid": "RunOutputs",
        "Effect": "Allow",
        // GetObject signs the links the result carries to the run's own artifacts.
        "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"],
        "Resource": objects,
    })];
    if let Some(repository) = scope.repository {
        literal("image repository", repository)?;
        if repository.is_empty() {
            return Err("the image repository is empty".into());
        }
        let all = format!("{}*", scope.repositories_arn);
        let own = format!("{}{repository}", scope.repositories_arn);
        statements.push(json!({
            "Sid": "RegistrySignIn",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",
        }));
        statements.push(json!({
            "Sid": "BaseImagePulls",
            "Effect": "Allow",
            "Action": [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
            ],
            "Resource": all,
        }));
        statements.push(json!({
            "Sid": "OwnRepositoryPush",
            "Effect": "Allow",
            "Action": [
                "ecr:InitiateLayerUpload",
                "ecr:UploadLayerPart",
                "ecr:CompleteLayerUpload",
                "ecr:PutImage",
                "ecr:DescribeRepositories",
                "ecr:CreateRepository",
            ],
            "Resource": own,
        }));
    }
    Ok(json!({ "Version": "2012-10-17", "Statement": statements }))
}

fn literal(what: &str, value: &str) -> Result<(), String> {
    if value.contains(['*', '?', '$']) {
        return Err(format!(
            "the {what} {value:?} holds a character IAM reads as a pattern"
        ));
    }
    Ok(())
}

/// How long the run's credentials last: the build's timeout and five minutes for the uploads
/// after it, within what STS allows a role-chained session.
pub fn session_seconds(timeout_secs: u64) -> i32 {
    (timeout_secs + 300).clamp(MIN_SESSION_SECS, MAX_SESSION_SECS) as i32
}

/// The session's name, which CloudTrail shows for everything the build did: the run id, in the
/// characters and length STS accepts.
pub fn session_name(run_id: &str) -> String {
    let clean: String = run_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "=,.@-_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut name = format!("slipway-{clean}");
    name.truncate(64);
    name
}

/// The partition and account a role ARN (`arn:<partition>:iam::<account>:role/<name>`) names.
pub fn role_partition_account(role_arn: &str) -> Option<(&str, &str)> {
    let mut parts = role_arn.split(':');
    let (arn, partition, iam, _, account, role) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (arn == "arn" && iam == "iam" && role.starts_with("role/") && !account.is_empty())
        .then_some((partition, account))
}

#[cfg(test)]
mod tests;
