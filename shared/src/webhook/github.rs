//! GitHub deliveries: `X-Hub-Signature-256` verification and the payloads Slipway acts on.

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use serde::de::IgnoredAny;
use serde::Deserialize;
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

use super::{
    checked_delivery_id, from_json, header_str, written_at, AuthFailure, IgnoreReason, Parsed,
    Rejection, Secret,
};
use crate::model::event::{
    CheckScope, Comment, CommentAction, CommitSha, DeliveryId, Event, EventKind, ForgeKind,
    PrAction, PrNumber, PullRequest, Repo, RepoId, User, MAX_COMMENT_BYTES,
};

/// The `sha256=<hex>` signature for `body` under `secret`, as GitHub computes it.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(secret, body)))
}

fn hmac_sha256(key: &[u8], body: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Check `X-Hub-Signature-256` against every active secret; the verified digest is returned. All
/// secrets are tried whatever the outcome, so timing says nothing about which one (if any)
/// matched.
pub fn verify(
    secrets: &[Secret],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<[u8; 32], AuthFailure> {
    let presented = presented_signature(secrets, headers)?;
    let mut matched = Choice::from(0);
    for secret in secrets {
        matched |= hmac_sha256(secret.expose(), body).ct_eq(&presented);
    }
    if bool::from(matched) {
        Ok(presented)
    } else {
        Err(AuthFailure::SignatureMismatch)
    }
}

/// The digest `X-Hub-Signature-256` presents, when a secret is configured and the header is there
/// and well formed (`sha256=` and 64 hexadecimal digits): all that can be known before the body.
pub(super) fn presented_signature(
    secrets: &[Secret],
    headers: &HeaderMap,
) -> Result<[u8; 32], AuthFailure> {
    if secrets.is_empty() {
        return Err(AuthFailure::NotConfigured(ForgeKind::Github));
    }
    let Some(header) = headers.get("x-hub-signature-256") else {
        return Err(if headers.contains_key("x-hub-signature") {
            AuthFailure::OnlyLegacySha1Signature
        } else {
            AuthFailure::MissingSignature
        });
    };
    let hex_digest = header
        .as_bytes()
        .strip_prefix(b"sha256=")
        .ok_or(AuthFailure::MalformedSignature)?;
    let mut presented = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut presented)
        .map_err(|_| AuthFailure::MalformedSignature)?;
    Ok(presented)
}

/// A second name for a GitHub delivery: its body's verified signature, a digest of the signed
/// bytes under a secret only the forge and Slipway hold. The same bytes sent again under a new
/// `X-GitHub-Delivery` (which the signature does not cover) carry the same signature, so they
/// are the same delivery; naming it so costs no second hash of the body.
pub(super) fn body_key(verified_signature: &[u8; 32]) -> DeliveryId {
    DeliveryId(format!("body-hmac-{}", hex::encode(verified_signature)))
}

pub(super) fn delivery_id(headers: &HeaderMap) -> Result<DeliveryId, Rejection> {
    let value = header_str(headers, "x-github-delivery")
        .ok_or_else(|| Rejection::Malformed("missing header X-GitHub-Delivery".into()))?;
    checked_delivery_id(value, "X-GitHub-Delivery")
}

pub(super) fn parse(headers: &HeaderMap, json: &[u8]) -> Result<Parsed, Rejection> {
    let event = header_str(headers, "x-github-event")
        .ok_or_else(|| Rejection::Malformed("missing header X-GitHub-Event".into()))?;
    match event {
        "pull_request" => pull_request(from_json(json, event)?),
        "issue_comment" => issue_comment(from_json(json, event)?),
        "push" => Ok(push(from_json(json, event)?)),
        "check_run" => Ok(check_run(from_json(json, event)?)),
        "check_suite" => Ok(check_suite(from_json(json, event)?)),
        "merge_group" => Ok(merge_group(from_json(json, event)?)),
        "ping" => Ok(ping(from_json(json, event)?)),
        "installation" => Ok(installation(from_json(json, event)?)),
        other => {
            let action = from_json::<ActionOnly>(json, other)?.action;
            Ok(not_acted_on(other, action.as_deref()))
        }
    }
}

fn not_acted_on(event: &str, action: Option<&str>) -> Parsed {
    let name = match action {
        Some(action) => format!("{event}.{action}"),
        None => event.to_owned(),
    };
    Parsed::Ignored(IgnoreReason::NotActedOn(name))
}

// Payload shapes: only the fields Slipway uses. Unknown fields are skipped without allocation.

#[derive(Deserialize)]
struct ActionOnly {
    action: Option<String>,
}

#[derive(Deserialize)]
struct GhRepo {
    id: u64,
    full_name: String,
    html_url: String,
    clone_url: String,
}

impl From<GhRepo> for Repo {
    fn from(r: GhRepo) -> Repo {
        Repo {
            id: RepoId(r.id.to_string()),
            full_name: r.full_name,
            web_url: r.html_url,
            clone_url: r.clone_url,
        }
    }
}

#[derive(Deserialize)]
struct GhUser {
    id: u64,
    login: String,
    #[serde(rename = "type", default)]
    kind: String,
}

impl From<GhUser> for User {
    fn from(u: GhUser) -> User {
        User {
            id: u.id,
            is_bot: u.kind == "Bot",
            login: Some(u.login),
        }
    }
}

#[derive(Deserialize)]
struct GhId {
    id: u64,
}

#[derive(Deserialize)]
struct GhNumber {
    number: u64,
}

/// An event about one repository. (Each payload struct lists `repository`, `installation` and
/// `sender` itself: `#[serde(flatten)]` would buffer the whole payload and triple parse time.)
fn repo_event(
    repository: GhRepo,
    installation: Option<GhId>,
    sender: Option<GhUser>,
    name: String,
    kind: EventKind,
) -> Event {
    Event {
        forge: ForgeKind::Github,
        repo: Some(repository.into()),
        installation_id: installation.map(|i| i.id),
        sender: sender.map(User::from),
        name,
        kind,
    }
}

#[derive(Deserialize)]
struct PullRequestPayload {
    action: String,
    pull_request: GhPull,
    repository: GhRepo,
    installation: Option<GhId>,
    sender: Option<GhUser>,
}

#[derive(Deserialize)]
struct GhPull {
    number: u64,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    merged: bool,
    user: GhUser,
    head: GhBranch,
    base: GhBranch,
}

#[derive(Deserialize)]
struct GhBranch {
    #[serde(rename = "ref")]
    git_ref: String,
    sha: CommitSha,
    /// `null` when the fork behind a pull request was deleted.
    repo: Option<GhId>,
}

fn pull_request(p: PullRequestPayload) -> Result<Parsed, Rejection> {
    let pr = p.pull_request;
    let action = match p.action.as_str() {
        "opened" => PrAction::Opened,
        "synchronize" => PrAction::Pushed,
        "reopened" => PrAction::Reopened,
        "ready_for_review" => PrAction::ReadyForReview,
        "converted_to_draft" => PrAction::ConvertedToDraft,
        "closed" => PrAction::Closed { merged: pr.merged },
        other => return Ok(not_acted_on("pull_request", Some(other))),
    };
    let base_repo = pr.base.repo.as_ref().map(|r| r.id);
    let head_repo = pr.head.repo.as_ref().map(|r| r.id);
    let pull = PullRequest {
        number: PrNumber(pr.number),
        head_sha: pr.head.sha,
        head_branch: pr.head.git_ref,
        base_branch: pr.base.git_ref,
        from_fork: head_repo.is_none() || head_repo != base_repo,
        draft: pr.draft,
        author: pr.user.into(),
    };
    let name = format!("pull_request.{}", p.action);
    Ok(Parsed::Event(repo_event(
        p.repository,
        p.installation,
        p.sender,
        name,
        EventKind::PullRequest { action, pr: pull },
    )))
}

#[derive(Deserialize)]
struct IssueCommentPayload {
    action: String,
    issue: GhIssue,
    comment: GhComment,
    repository: GhRepo,
    installation: Option<GhId>,
    sender: Option<GhUser>,
}

#[derive(Deserialize)]
struct GhIssue {
    number: u64,
    /// Present only when the issue is a pull request.
    pull_request: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct GhComment {
    id: u64,
    #[serde(default)]
    body: String,
    user: GhUser,
    created_at: Option<String>,
    updated_at: Option<String>,
}

fn issue_comment(p: IssueCommentPayload) -> Result<Parsed, Rejection> {
    if p.issue.pull_request.is_none() {
        return Ok(Parsed::Ignored(IgnoreReason::CommentOnIssue));
    }
    let action = match p.action.as_str() {
        "created" => CommentAction::Created,
        "edited" => CommentAction::Edited,
        "deleted" => CommentAction::Deleted,
        other => return Ok(not_acted_on("issue_comment", Some(other))),
    };
    let body = (p.comment.body.len() <= MAX_COMMENT_BYTES).then_some(p.comment.body);
    let kind = EventKind::Comment {
        action,
        pr: PrNumber(p.issue.number),
        pr_head_sha: None,
        comment: Comment {
            id: p.comment.id,
            author: p.comment.user.into(),
            body,
            written_at: written_at(&p.comment.created_at, &p.comment.updated_at),
        },
    };
    let name = format!("issue_comment.{}", p.action);
    Ok(Parsed::Event(repo_event(
        p.repository,
        p.installation,
        p.sender,
        name,
        kind,
    )))
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    before: CommitSha,
    after: CommitSha,
    #[serde(default)]
    deleted: bool,
    repository: GhRepo,
    installation: Option<GhId>,
    sender: Option<GhUser>,
}

fn push(p: PushPayload) -> Parsed {
    let kind = EventKind::Push {
        git_ref: p.git_ref,
        before: p.before,
        deleted: p.deleted || p.after.is_zero(),
        after: p.after,
    };
    Parsed::Event(repo_event(
        p.repository,
        p.installation,
        p.sender,
        "push".into(),
        kind,
    ))
}

#[derive(Deserialize)]
struct CheckRunPayload {
    action: String,
    check_run: GhCheckRun,
    requested_action: Option<GhRequestedAction>,
    repository: GhRepo,
    installation: Option<GhId>,
    sender: Option<GhUser>,
}

#[derive(Deserialize)]
struct GhCheckRun {
    id: u64,
    name: String,
    head_sha: CommitSha,
    check_suite: Option<GhSuiteBranch>,
    #[serde(default)]
    pull_requests: Vec<GhNumber>,
}

#[derive(Deserialize)]
struct GhSuiteBranch {
    head_branch: Option<String>,
}

#[derive(Deserialize)]
struct GhRequestedAction {
    identifier: String,
}

fn check_run(p: CheckRunPayload) -> Parsed {
    let run = p.check_run;
    let kind = match (p.action.as_str(), p.requested_action) {
        ("rerequested", _) => EventKind::CheckRerequested {
            check: CheckScope::Run {
                id: run.id,
                name: run.name,
            },
            head_sha: run.head_sha,
            head_branch: run.check_suite.and_then(|s| s.head_branch),
            pull_requests: numbers(run.pull_requests),
        },
        ("requested_action", Some(requested)) => EventKind::CheckActionRequested {
            check_run_id: run.id,
            check_name: run.name,
            head_sha: run.head_sha,
            identifier: requested.identifier,
        },
        (other, _) => return not_acted_on("check_run", Some(other)),
    };
    Parsed::Event(repo_event(
        p.repository,
        p.installation,
        p.sender,
        format!("check_run.{}", p.action),
        kind,
    ))
}

#[derive(Deserialize)]
struct CheckSuitePayload {
    action: String,
    check_suite: GhCheckSuite,
    repository: GhRepo,
    installation: Option<GhId>,
    sender: Option<GhUser>,
}

#[derive(Deserialize)]
struct GhCheckSuite {
    id: u64,
    head_sha: CommitSha,
    head_branch: Option<String>,
    #[serde(default)]
    pull_requests: Vec<GhNumber>,
}

fn check_suite(p: CheckSuitePayload) -> Parsed {
    let suite = p.check_suite;
    let kind = match p.action.as_str() {
        "rerequested" => EventKind::CheckRerequested {
            check: CheckScope::Suite { id: suite.id },
            head_sha: suite.head_sha,
            head_branch: suite.head_branch,
            pull_requests: numbers(suite.pull_requests),
        },
        "requested" => EventKind::CheckSuiteRequested {
            head_sha: suite.head_sha,
            head_branch: suite.head_branch,
        },
        other => return not_acted_on("check_suite", Some(other)),
    };
    Parsed::Event(repo_event(
        p.repository,
        p.installation,
        p.sender,
        format!("check_suite.{}", p.action),
        kind,
    ))
}

fn numbers(prs: Vec<GhNumber>) -> Vec<PrNumber> {
    prs.into_iter().map(|p| PrNumber(p.number)).collect()
}

#[derive(Deserialize)]
struct MergeGroupPayload {
    action: String,
    merge_group: GhMergeGroup,
    repository: GhRepo,
    installation: Option<GhId>,
    sender: Option<GhUser>,
}

#[derive(Deserialize)]
struct GhMergeGroup {
    head_sha: CommitSha,
    head_ref: String,
    base_ref: String,
}

fn merge_group(p: MergeGroupPayload) -> Parsed {
    if p.action != "checks_requested" {
        return not_acted_on("merge_group", Some(&p.action));
    }
    let group = p.merge_group;
    let kind = EventKind::MergeGroup {
        head_sha: group.head_sha,
        head_ref: group.head_ref,
        base_ref: group.base_ref,
    };
    Parsed::Event(repo_event(
        p.repository,
        p.installation,
        p.sender,
        "merge_group.checks_requested".into(),
        kind,
    ))
}

/// Sent when a hook is created; organisation hooks have no repository.
#[derive(Deserialize)]
struct PingPayload {
    repository: Option<GhRepo>,
    sender: Option<GhUser>,
}

fn ping(p: PingPayload) -> Parsed {
    Parsed::Event(Event {
        forge: ForgeKind::Github,
        repo: p.repository.map(Repo::from),
        installation_id: None,
        sender: p.sender.map(User::from),
        name: "ping".into(),
        kind: EventKind::Ping,
    })
}

#[derive(Deserialize)]
struct InstallationPayload {
    action: String,
    installation: GhId,
    sender: Option<GhUser>,
}

fn installation(p: InstallationPayload) -> Parsed {
    Parsed::Event(Event {
        forge: ForgeKind::Github,
        repo: None,
        installation_id: Some(p.installation.id),
        sender: p.sender.map(User::from),
        name: format!("installation.{}", p.action),
        kind: EventKind::Installation { action: p.action },
    })
}

#[cfg(test)]
mod tests;
