//! GitLab deliveries: `X-Gitlab-Token`, signed webhooks (Standard Webhooks), and the payloads
//! Slipway acts on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{
    checked_delivery_id, from_json, header_str, written_at, AuthFailure, IgnoreReason, Parsed,
    Rejection, SigningKey, WebhookSecrets,
};
use crate::model::event::{
    Comment, CommentAction, CommitSha, DeliveryId, Event, EventKind, ForgeKind, PrAction, PrNumber,
    PullRequest, Repo, RepoId, User, MAX_COMMENT_BYTES,
};

/// How far a signed delivery's timestamp may be from our clock, either way.
pub const TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// `v1,<base64>`: the Standard Webhooks signature of `id.timestamp.body`.
pub fn signature(key: &SigningKey, id: &str, timestamp: u64, body: &[u8]) -> String {
    let mac = signed_content_mac(key.key(), id, timestamp, body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    )
}

fn signed_content_mac(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Every configured check must pass: the token when one is set, the signature when a signing
/// token is set. With neither configured nothing is trusted.
pub fn verify(
    secrets: &WebhookSecrets,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), AuthFailure> {
    let signed = verify_headers(secrets, headers, now)?;
    if let (Some(key), Some(signed)) = (&secrets.gitlab_signing, signed) {
        verify_signature(key, &signed, body)?;
    }
    Ok(())
}

/// What the headers alone can prove or disprove, before a body is read: the token in full, and
/// for signed webhooks the presence of the three headers, the timestamp's age, and at least one
/// signature of the right shape. `Some` with the signing headers when signing is configured.
pub(super) fn verify_headers<'h>(
    secrets: &WebhookSecrets,
    headers: &'h HeaderMap,
    now: SystemTime,
) -> Result<Option<SigningHeaders<'h>>, AuthFailure> {
    if secrets.gitlab_token.is_none() && secrets.gitlab_signing.is_none() {
        return Err(AuthFailure::NotConfigured(ForgeKind::Gitlab));
    }
    if let Some(token) = &secrets.gitlab_token {
        let presented = headers
            .get("x-gitlab-token")
            .ok_or(AuthFailure::MissingToken)?;
        if !token.matches(presented.as_bytes()) {
            return Err(AuthFailure::TokenMismatch);
        }
    }
    if secrets.gitlab_signing.is_none() {
        return Ok(None);
    }
    signing_headers(headers, now).map(Some)
}

/// The Standard Webhooks headers of a signed delivery.
pub(super) struct SigningHeaders<'h> {
    id: &'h str,
    timestamp: u64,
    signatures: &'h str,
}

fn signing_headers(
    headers: &HeaderMap,
    now: SystemTime,
) -> Result<SigningHeaders<'_>, AuthFailure> {
    let (Some(id), Some(timestamp), Some(signatures)) = (
        header_str(headers, "webhook-id"),
        header_str(headers, "webhook-timestamp"),
        header_str(headers, "webhook-signature"),
    ) else {
        return Err(AuthFailure::MissingSigningHeaders);
    };
    let timestamp: u64 = timestamp
        .trim()
        .parse()
        .map_err(|_| AuthFailure::MalformedTimestamp)?;
    let sent = UNIX_EPOCH + Duration::from_secs(timestamp);
    let skew = now
        .duration_since(sent)
        .or_else(|_| sent.duration_since(now))
        .unwrap_or(Duration::MAX);
    if skew > TIMESTAMP_TOLERANCE {
        return Err(AuthFailure::TimestampOutOfTolerance);
    }
    if candidates(signatures).next().is_none() {
        // Not one `v1,<32 bytes in base64>`: no body can match it.
        return Err(AuthFailure::SignatureMismatch);
    }
    Ok(SigningHeaders {
        id,
        timestamp,
        signatures,
    })
}

/// The well-formed `v1,<base64>` signatures of the header; it may carry several, space-separated
/// (the sender rotating keys).
fn candidates(signatures: &str) -> impl Iterator<Item = [u8; 32]> + '_ {
    signatures.split(' ').filter_map(|candidate| {
        let encoded = candidate.strip_prefix("v1,")?;
        let mut decoded = [0u8; 32];
        let engine = base64::engine::general_purpose::STANDARD;
        matches!(engine.decode_slice(encoded, &mut decoded), Ok(32)).then_some(decoded)
    })
}

fn verify_signature(
    key: &SigningKey,
    signed: &SigningHeaders<'_>,
    body: &[u8],
) -> Result<(), AuthFailure> {
    let expected = signed_content_mac(key.key(), signed.id, signed.timestamp, body);
    let mut matched = subtle::Choice::from(0);
    for decoded in candidates(signed.signatures) {
        matched |= expected.ct_eq(&decoded);
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(AuthFailure::SignatureMismatch)
    }
}

/// GitLab names a delivery by `Idempotency-Key` (17.x+), else the signed `webhook-id`, else
/// `X-Gitlab-Event-UUID`. Old GitLab sends none: the body's digest stands in, so a byte-identical
/// redelivery is still recognised. When deliveries are `signed`, only the signed `webhook-id`
/// names them: an unsigned header could be changed to pass a replay off as new.
pub(super) fn delivery_id(
    headers: &HeaderMap,
    body: &[u8],
    signed: bool,
) -> Result<DeliveryId, Rejection> {
    let names: &[&str] = if signed {
        &["webhook-id"]
    } else {
        &["idempotency-key", "webhook-id", "x-gitlab-event-uuid"]
    };
    for &header in names {
        if let Some(value) = headers.get(header) {
            let value = value.to_str().map_err(|_| {
                Rejection::Malformed(format!("header {header} must be printable ASCII"))
            })?;
            return checked_delivery_id(value, header);
        }
    }
    Ok(DeliveryId(format!(
        "sha256-{}",
        hex::encode(Sha256::digest(body))
    )))
}

pub(super) fn parse(headers: &HeaderMap, json: &[u8]) -> Result<Parsed, Rejection> {
    let hook = header_str(headers, "x-gitlab-event")
        .ok_or_else(|| Rejection::Malformed("missing header X-Gitlab-Event".into()))?;
    match hook {
        "Merge Request Hook" => merge_request(from_json(json, hook)?),
        "Note Hook" => note(from_json(json, hook)?),
        "Push Hook" => Ok(push(from_json(json, hook)?)),
        other => Ok(Parsed::Ignored(IgnoreReason::NotActedOn(other.to_owned()))),
    }
}

#[derive(Deserialize)]
struct GlProject {
    id: u64,
    path_with_namespace: String,
    web_url: String,
    git_http_url: String,
}

impl From<GlProject> for Repo {
    fn from(p: GlProject) -> Repo {
        Repo {
            id: RepoId(p.id.to_string()),
            full_name: p.path_with_namespace,
            web_url: p.web_url,
            clone_url: p.git_http_url,
        }
    }
}

/// GitLab payloads do not say whether a user is a bot; Slipway's own account is recognised by
/// configuration when comments are handled.
#[derive(Deserialize)]
struct GlUser {
    id: u64,
    username: String,
}

impl From<GlUser> for User {
    fn from(u: GlUser) -> User {
        User {
            id: u.id,
            login: Some(u.username),
            is_bot: false,
        }
    }
}

#[derive(Deserialize)]
struct GlCommit {
    id: CommitSha,
}

fn project_event(project: GlProject, sender: Option<User>, name: String, kind: EventKind) -> Event {
    Event {
        forge: ForgeKind::Gitlab,
        repo: Some(project.into()),
        installation_id: None,
        sender,
        name,
        kind,
    }
}

#[derive(Deserialize)]
struct MergeRequestPayload {
    user: GlUser,
    project: GlProject,
    object_attributes: GlMergeRequest,
}

#[derive(Deserialize)]
struct GlMergeRequest {
    iid: u64,
    action: Option<String>,
    /// Present on `update` only when new commits were pushed.
    oldrev: Option<String>,
    last_commit: GlCommit,
    source_branch: String,
    target_branch: String,
    source_project_id: u64,
    target_project_id: u64,
    author_id: u64,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    work_in_progress: bool,
}

fn merge_request(p: MergeRequestPayload) -> Result<Parsed, Rejection> {
    let mr = p.object_attributes;
    let action_name = mr.action.as_deref().unwrap_or("none");
    let action = match action_name {
        "open" => PrAction::Opened,
        "reopen" => PrAction::Reopened,
        "update" if mr.oldrev.is_some() => PrAction::Pushed,
        "update" => {
            return Ok(Parsed::Ignored(
                IgnoreReason::MergeRequestUpdateWithoutCommits,
            ))
        }
        "close" => PrAction::Closed { merged: false },
        "merge" => PrAction::Closed { merged: true },
        other => {
            let name = format!("merge_request.{other}");
            return Ok(Parsed::Ignored(IgnoreReason::NotActedOn(name)));
        }
    };
    let pr = PullRequest {
        number: PrNumber(mr.iid),
        head_sha: mr.last_commit.id,
        head_branch: mr.source_branch,
        base_branch: mr.target_branch,
        from_fork: mr.source_project_id != mr.target_project_id,
        draft: mr.draft || mr.work_in_progress,
        author: User {
            id: mr.author_id,
            login: None,
            is_bot: false,
        },
    };
    let name = format!("merge_request.{action_name}");
    let kind = EventKind::PullRequest { action, pr };
    Ok(Parsed::Event(project_event(
        p.project,
        Some(p.user.into()),
        name,
        kind,
    )))
}

#[derive(Deserialize)]
struct NotePayload {
    user: GlUser,
    project: GlProject,
    object_attributes: GlNote,
    merge_request: Option<GlNoteMergeRequest>,
}

#[derive(Deserialize)]
struct GlNote {
    id: u64,
    #[serde(default)]
    note: String,
    noteable_type: String,
    action: Option<String>,
    #[serde(default)]
    system: bool,
    created_at: Option<String>,
    updated_at: Option<String>,
}

#[derive(Deserialize)]
struct GlNoteMergeRequest {
    iid: u64,
    last_commit: Option<GlCommit>,
}

fn note(p: NotePayload) -> Result<Parsed, Rejection> {
    let note = p.object_attributes;
    if note.noteable_type != "MergeRequest" {
        return Ok(Parsed::Ignored(IgnoreReason::CommentOnIssue));
    }
    if note.system {
        return Ok(Parsed::Ignored(IgnoreReason::SystemNote));
    }
    let mr = p.merge_request.ok_or_else(|| {
        Rejection::Malformed("malformed Note Hook payload: missing field `merge_request`".into())
    })?;
    let action = match note.action.as_deref() {
        None | Some("create") => CommentAction::Created,
        Some("update") => CommentAction::Edited,
        Some(other) => {
            let name = format!("note.{other}");
            return Ok(Parsed::Ignored(IgnoreReason::NotActedOn(name)));
        }
    };
    let author: User = p.user.into();
    let body = (note.note.len() <= MAX_COMMENT_BYTES).then_some(note.note);
    let kind = EventKind::Comment {
        action,
        pr: PrNumber(mr.iid),
        pr_head_sha: mr.last_commit.map(|c| c.id),
        comment: Comment {
            id: note.id,
            author: author.clone(),
            body,
            written_at: written_at(&note.created_at, &note.updated_at),
        },
    };
    let name = match action {
        CommentAction::Created => "note.create",
        _ => "note.update",
    };
    Ok(Parsed::Event(project_event(
        p.project,
        Some(author),
        name.into(),
        kind,
    )))
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    before: CommitSha,
    after: CommitSha,
    user_id: u64,
    user_username: String,
    project: GlProject,
}

fn push(p: PushPayload) -> Parsed {
    let sender = User {
        id: p.user_id,
        login: Some(p.user_username),
        is_bot: false,
    };
    let kind = EventKind::Push {
        git_ref: p.git_ref,
        before: p.before,
        deleted: p.after.is_zero(),
        after: p.after,
    };
    Parsed::Event(project_event(p.project, Some(sender), "push".into(), kind))
}

#[cfg(test)]
mod tests;
