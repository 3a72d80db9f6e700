//! The front door: a raw HTTP delivery in, a verified and parsed [`Event`] (or a reason to refuse) out.
//!
//! Pure and synchronous: no I/O, no clock of its own (the caller passes `now`), so the Lambda, the
//! local server, the tests and the benchmarks all run exactly this code.

mod body;
pub mod github;
pub mod gitlab;

use std::time::{Duration, SystemTime};

use http::HeaderMap;

use crate::model::event::{
    branch_of, Comment, CommentAction, DeliveryId, Event, EventKind, ForgeKind,
};
pub use crate::model::secret::{Secret, SecretError, SigningKey};
use crate::state::DELIVERY_TTL;

/// Default limit on a delivery's body. GitHub caps payloads at 25 MB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// A comment written longer ago than this is not acted on: its delivery's dedupe record (kept
/// [`DELIVERY_TTL`]) may be gone, so a captured delivery could otherwise be replayed forever. A
/// day shorter than that window, so that the forge's clock and ours may disagree without a gap.
pub const MAX_COMMENT_AGE: Duration = Duration::from_secs(DELIVERY_TTL.as_secs() - 24 * 3600);

/// The secrets that make a delivery trusted. A forge with none configured is refused outright:
/// Slipway never acts on an unsigned webhook.
#[derive(Debug, Clone, Default)]
pub struct WebhookSecrets {
    /// Every active GitHub webhook secret; more than one during a rotation.
    pub github: Vec<Secret>,
    /// GitLab's plain `X-Gitlab-Token`.
    pub gitlab_token: Option<Secret>,
    /// GitLab's signing token (`whsec_...`): when set, a valid signature is required.
    pub gitlab_signing: Option<SigningKey>,
}

/// Everything the edge needs to judge a delivery.
#[derive(Debug, Clone)]
pub struct Ingress {
    pub secrets: WebhookSecrets,
    pub max_body_bytes: usize,
}

impl Ingress {
    pub fn new(secrets: WebhookSecrets) -> Self {
        Ingress {
            secrets,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Why a delivery was refused. Each maps to one 4xx status; none is ever a 5xx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// 401: no secret configured, or the signature or token is missing or wrong.
    Unauthorized(AuthFailure),
    /// 400: the request is not a well-formed delivery.
    Malformed(String),
    /// 413: the body is over the limit.
    TooLarge { limit: usize },
    /// 415: a content type other than JSON or GitHub's form encoding.
    UnsupportedMediaType(String),
    /// 408: the body did not arrive within the time allowed.
    TooSlow { limit: Duration },
    /// 429: too many deliveries are being received at once; the sender should retry.
    Busy,
}

impl Rejection {
    pub fn status(&self) -> u16 {
        match self {
            Rejection::Unauthorized(_) => 401,
            Rejection::Malformed(_) => 400,
            Rejection::TooLarge { .. } => 413,
            Rejection::UnsupportedMediaType(_) => 415,
            Rejection::TooSlow { .. } => 408,
            Rejection::Busy => 429,
        }
    }
}

/// Why authentication failed; the text never includes a secret or the value that was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    NotConfigured(ForgeKind),
    MissingSignature,
    OnlyLegacySha1Signature,
    MalformedSignature,
    SignatureMismatch,
    MissingToken,
    TokenMismatch,
    MissingSigningHeaders,
    MalformedTimestamp,
    TimestampOutOfTolerance,
}

/// What a verified delivery turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // built once per delivery and moved straight on
pub enum Parsed {
    /// An event Slipway understands (it may still decide not to act on it: see [`triage`]).
    Event(Event),
    /// A well-formed delivery of an event or action Slipway has no use for.
    Ignored(IgnoreReason),
}

/// A verified delivery: who sent it, under which id, and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub forge: ForgeKind,
    pub id: DeliveryId,
    /// Another name the delivery must be new under: for GitHub, the digest of the signed body
    /// (the delivery id is not signed).
    pub body_key: Option<DeliveryId>,
    pub parsed: Parsed,
}

/// Why an authentic, well-formed delivery is answered 200 without being queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    /// An event or action with no meaning for Slipway: `<event>.<action>`.
    NotActedOn(String),
    CommentOnIssue,
    CommentNotNew,
    CommentByBot,
    SystemNote,
    TagPush,
    BranchDeleted,
    MergeRequestUpdateWithoutCommits,
    CheckSuiteRequested,
    /// A comment written longer ago than [`MAX_COMMENT_AGE`]: a replay, or far too late to act on.
    StaleComment,
}

/// What the edge does with an event it understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Triage {
    /// Record and queue it for dispatch.
    Queue,
    /// Answer a hook's ping.
    Pong,
    Ignore(IgnoreReason),
}

/// Decide at the edge what can be decided without the repository's configuration, so that the
/// queue carries only events dispatch may act on. `now` is the edge's clock, for a comment's age.
pub fn triage(event: &Event, now: SystemTime) -> Triage {
    match &event.kind {
        EventKind::Ping => Triage::Pong,
        EventKind::Installation { .. } => {
            Triage::Ignore(IgnoreReason::NotActedOn(event.name.clone()))
        }
        EventKind::CheckSuiteRequested { .. } => Triage::Ignore(IgnoreReason::CheckSuiteRequested),
        EventKind::Comment {
            action, comment, ..
        } => {
            if comment.author.is_bot {
                Triage::Ignore(IgnoreReason::CommentByBot)
            } else if *action != CommentAction::Created {
                Triage::Ignore(IgnoreReason::CommentNotNew)
            } else if is_stale(comment, now) {
                Triage::Ignore(IgnoreReason::StaleComment)
            } else {
                Triage::Queue
            }
        }
        EventKind::Push {
            git_ref, deleted, ..
        } => {
            if branch_of(git_ref).is_none() {
                Triage::Ignore(IgnoreReason::TagPush)
            } else if *deleted {
                Triage::Ignore(IgnoreReason::BranchDeleted)
            } else {
                Triage::Queue
            }
        }
        EventKind::PullRequest { .. }
        | EventKind::CheckRerequested { .. }
        | EventKind::CheckActionRequested { .. }
        | EventKind::MergeGroup { .. } => Triage::Queue,
    }
}

/// Written longer ago than [`MAX_COMMENT_AGE`], by the signed payload's own time. A comment
/// without a readable time is judged by the dedupe record alone.
fn is_stale(comment: &Comment, now: SystemTime) -> bool {
    let Some(written_at) = comment.written_at else {
        return false;
    };
    let written = SystemTime::UNIX_EPOCH + Duration::from_secs(written_at);
    now.duration_since(written)
        .is_ok_and(|age| age > MAX_COMMENT_AGE)
}

/// When a comment was written or last edited, in Unix seconds, from a payload's `created_at`
/// and `updated_at`: the later of the two that can be read.
fn written_at(created_at: &Option<String>, updated_at: &Option<String>) -> Option<u64> {
    [created_at, updated_at]
        .into_iter()
        .flatten()
        .filter_map(|t| forge_time(t))
        .max()
}

/// A forge's timestamp as Unix seconds: RFC 3339 (`2019-05-15T15:20:21Z`, fractions, offsets)
/// and GitLab's older `2015-05-17 18:21:36 UTC`.
fn forge_time(text: &str) -> Option<u64> {
    let text = text.trim();
    let text = text.strip_suffix(" UTC").unwrap_or(text);
    // A numeric offset, `+02:00` or `-0500`, is applied by hand: humantime reads UTC only.
    let split = text
        .len()
        .checked_sub(6)
        .filter(|i| text.is_char_boundary(*i));
    let (base, offset_secs) = match split.map(|i| text.split_at(i)) {
        Some((base, off)) if base.len() >= 19 && (off.starts_with('+') || off.starts_with('-')) => {
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let hours: i64 = off.get(1..3)?.parse().ok()?;
            let minutes: i64 = off.get(4..6)?.parse().ok()?;
            (base, sign * (hours * 3600 + minutes * 60))
        }
        _ => (text, 0),
    };
    let local = humantime::parse_rfc3339_weak(base).ok()?;
    let secs = local.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs() as i64;
    u64::try_from(secs - offset_secs).ok()
}

/// What the headers alone say, before any of the body is read: the forge has a secret, the
/// signature or token header is there and well formed (GitLab's plain token is compared in
/// full, a signed delivery's timestamp checked), and a declared length is within the limit. A
/// delivery refused here cannot be authentic or acceptable, so its body is never buffered.
pub fn precheck(
    ingress: &Ingress,
    forge: ForgeKind,
    headers: &HeaderMap,
    now: SystemTime,
) -> Result<(), Rejection> {
    if declared_length(headers).is_some_and(|n| n > ingress.max_body_bytes) {
        return Err(Rejection::TooLarge {
            limit: ingress.max_body_bytes,
        });
    }
    let secrets = &ingress.secrets;
    match forge {
        ForgeKind::Github => github::presented_signature(&secrets.github, headers).map(drop),
        ForgeKind::Gitlab => gitlab::verify_headers(secrets, headers, now).map(drop),
        ForgeKind::Local => Err(AuthFailure::NotConfigured(ForgeKind::Local)),
    }
    .map_err(Rejection::Unauthorized)
}

/// The body length `Content-Length` declares, when it is there and a number.
pub fn declared_length(headers: &HeaderMap) -> Option<usize> {
    header_str(headers, http::header::CONTENT_LENGTH.as_str())?
        .parse()
        .ok()
}

/// Verify a delivery's origin, then parse it. `now` bounds the age of signed GitLab deliveries.
pub fn verify_and_parse(
    ingress: &Ingress,
    forge: ForgeKind,
    headers: &HeaderMap,
    raw_body: &[u8],
    now: SystemTime,
) -> Result<Delivery, Rejection> {
    if raw_body.len() > ingress.max_body_bytes {
        return Err(Rejection::TooLarge {
            limit: ingress.max_body_bytes,
        });
    }
    let secrets = &ingress.secrets;
    let verified_signature = match forge {
        ForgeKind::Github => github::verify(&secrets.github, headers, raw_body).map(Some),
        ForgeKind::Gitlab => gitlab::verify(secrets, headers, raw_body, now).map(|()| None),
        ForgeKind::Local => Err(AuthFailure::NotConfigured(ForgeKind::Local)),
    }
    .map_err(Rejection::Unauthorized)?;

    // Only GitHub's signature covers the body alone (a signed GitLab delivery's id is signed).
    let (id, body_key) = match verified_signature {
        Some(signature) => (
            github::delivery_id(headers)?,
            Some(github::body_key(&signature)),
        ),
        None => {
            let signed = secrets.gitlab_signing.is_some();
            (gitlab::delivery_id(headers, raw_body, signed)?, None)
        }
    };
    let json = body::json_payload(forge, headers, raw_body)?;
    let parsed = match forge {
        ForgeKind::Github => github::parse(headers, &json)?,
        _ => gitlab::parse(headers, &json)?,
    };
    Ok(Delivery {
        forge,
        id,
        body_key,
        parsed,
    })
}

/// A header's value as text, or `None` when absent or not visible ASCII.
fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A delivery id must be short printable ASCII: it becomes a storage key and a log field.
fn checked_delivery_id(value: &str, header: &str) -> Result<DeliveryId, Rejection> {
    let ok = !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(DeliveryId(value.to_owned()))
    } else {
        Err(Rejection::Malformed(format!(
            "header {header} must be 1 to 128 printable ASCII characters"
        )))
    }
}

/// Deserialize `T`. The fast path is plain serde_json; only a failure is parsed again, with path
/// tracking, to name the exact field (`pull_request.head.sha: missing field ...`).
fn from_json<'de, T: serde::Deserialize<'de>>(json: &'de [u8], what: &str) -> Result<T, Rejection> {
    serde_json::from_slice(json).map_err(|plain| {
        let mut de = serde_json::Deserializer::from_slice(json);
        let located = match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Err(e) if e.path().to_string() != "." => format!(" at `{}`", e.path()),
            _ => String::new(),
        };
        Rejection::Malformed(format!("malformed {what} payload{located}: {plain}"))
    })
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use http::{HeaderMap, HeaderName, HeaderValue};
    use proptest::prelude::*;

    use super::*;

    const SECRET: &str = "prop-secret";

    const DAY: u64 = 24 * 3600;

    fn comment(action: CommentAction, is_bot: bool, written_at: Option<u64>) -> Event {
        Event {
            forge: ForgeKind::Github,
            repo: None,
            installation_id: None,
            sender: None,
            name: "issue_comment".into(),
            kind: EventKind::Comment {
                action,
                pr: crate::model::event::PrNumber(1),
                pr_head_sha: None,
                comment: Comment {
                    id: 1,
                    author: crate::model::event::User {
                        id: 1,
                        login: Some("someone".into()),
                        is_bot,
                    },
                    body: Some("/deploy production".into()),
                    written_at,
                },
            },
        }
    }

    #[test]
    fn a_comment_older_than_the_dedupe_window_is_stale() {
        use CommentAction::*;
        let now_secs = 1_800_000_000;
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs);
        let max = MAX_COMMENT_AGE.as_secs();
        assert!(
            max < DELIVERY_TTL.as_secs(),
            "shorter than the dedupe window"
        );
        let stale = Triage::Ignore(IgnoreReason::StaleComment);
        let cases = [
            // (action, by a bot, written this long before now, what the edge does)
            (Created, false, Some(0), Triage::Queue),
            (Created, false, Some(DAY), Triage::Queue),
            (Created, false, Some(max), Triage::Queue),
            (Created, false, Some(max + 1), stale.clone()),
            (Created, false, Some(30 * DAY), stale.clone()),
            (Created, false, Some(now_secs), stale.clone()), // the epoch
            (Created, false, None, Triage::Queue),           // no time to judge by
            (
                Edited,
                false,
                Some(30 * DAY),
                Triage::Ignore(IgnoreReason::CommentNotNew),
            ),
            (
                Created,
                true,
                Some(30 * DAY),
                Triage::Ignore(IgnoreReason::CommentByBot),
            ),
        ];
        for (action, is_bot, age, expected) in cases {
            let event = comment(action, is_bot, age.map(|a| now_secs - a));
            assert_eq!(
                triage(&event, now),
                expected,
                "{action:?} bot={is_bot} age={age:?}"
            );
        }
        // A comment dated ahead of our clock (the forge's clock is fast) is not stale.
        let ahead = comment(Created, false, Some(now_secs + 600));
        assert_eq!(triage(&ahead, now), Triage::Queue);
    }

    #[test]
    fn forge_times_are_read_in_every_shape_the_forges_send() {
        let cases = [
            ("2019-05-15T15:20:21Z", Some(1_557_933_621)),
            ("2019-06-05T14:32:20.211Z", Some(1_559_745_140)),
            ("2015-05-17 18:21:36 UTC", Some(1_431_886_896)),
            ("2018-04-25 20:42:10", Some(1_524_688_930)),
            ("2019-05-15T17:20:21+02:00", Some(1_557_933_621)),
            ("2019-05-15T10:20:21-05:00", Some(1_557_933_621)),
            ("yesterday", None),
            ("", None),
            ("2019-05-15T15:20:2\u{e9}", None),
            ("2019-05-15T15:20:21\u{2212}05:00", None),
        ];
        for (text, expected) in cases {
            assert_eq!(forge_time(text), expected, "{text}");
        }
        let later = written_at(
            &Some("2019-05-15T15:20:21Z".into()),
            &Some("2019-05-16T15:20:21Z".into()),
        );
        assert_eq!(later, Some(1_557_933_621 + DAY));
        assert_eq!(written_at(&Some("garbled".into()), &None), None);
    }

    /// A token-only and a signing-token configuration, so both GitLab paths are exercised.
    fn ingresses() -> [Ingress; 2] {
        let token = Ingress::new(WebhookSecrets {
            github: vec![Secret::new(SECRET).unwrap()],
            gitlab_token: Some(Secret::new(SECRET).unwrap()),
            gitlab_signing: None,
        });
        let mut signing = token.clone();
        signing.secrets.gitlab_signing = Some(SigningKey::parse("whsec_cHJvcC1rZXk=").unwrap());
        [token, signing]
    }

    /// Event names the parser knows, plus anything at all.
    fn event_name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("pull_request".to_owned()),
            Just("issue_comment".to_owned()),
            Just("push".to_owned()),
            Just("check_run".to_owned()),
            Just("check_suite".to_owned()),
            Just("merge_group".to_owned()),
            Just("ping".to_owned()),
            Just("installation".to_owned()),
            Just("Merge Request Hook".to_owned()),
            Just("Note Hook".to_owned()),
            Just("Push Hook".to_owned()),
            "[ -~]{0,30}",
        ]
    }

    fn content_type() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("application/json".to_owned()),
            Just("application/x-www-form-urlencoded".to_owned()),
            "[ -~]{0,40}",
        ]
    }

    /// JSON documents shaped like payloads, with fields of every type in every place.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(Into::into),
            any::<i64>().prop_map(Into::into),
            any::<f64>().prop_map(|f| serde_json::json!(f)),
            "[0-9a-f]{40}".prop_map(Into::into),
            ".{0,20}".prop_map(Into::into),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            let keys = prop_oneof![
                Just("action".to_owned()),
                Just("pull_request".to_owned()),
                Just("head".to_owned()),
                Just("sha".to_owned()),
                Just("repository".to_owned()),
                Just("object_attributes".to_owned()),
                Just("ref".to_owned()),
                "[a-z_]{1,10}",
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Into::into),
                prop::collection::btree_map(keys, inner, 0..8)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn check(forge: ForgeKind, headers: &HeaderMap, body: &[u8]) {
        for ingress in ingresses() {
            if let Err(rejection) = precheck(&ingress, forge, headers, SystemTime::now()) {
                let status = rejection.status();
                assert!((400..500).contains(&status), "{status} for {rejection}");
            }
            if let Err(rejection) =
                verify_and_parse(&ingress, forge, headers, body, SystemTime::now())
            {
                let status = rejection.status();
                assert!((400..500).contains(&status), "{status} for {rejection}");
                assert!(!rejection.to_string().contains(SECRET));
            }
        }
    }

    fn signed(event: &str, content_type: &str, body: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        let mut put = |k: &str, v: &str| {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), v);
            }
        };
        put("x-github-event", event);
        put("x-gitlab-event", event);
        put("x-github-delivery", "prop");
        put("x-gitlab-token", SECRET);
        put("content-type", content_type);
        put(
            "x-hub-signature-256",
            &github::signature(SECRET.as_bytes(), body),
        );
        h
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn signed_arbitrary_bytes_never_panic_or_5xx(
            event in event_name(),
            content_type in content_type(),
            body in prop::collection::vec(any::<u8>(), 0..512),
        ) {
            let h = signed(&event, &content_type, &body);
            check(ForgeKind::Github, &h, &body);
            check(ForgeKind::Gitlab, &h, &body);
        }

        #[test]
        fn signed_payload_shaped_json_never_panics_or_5xx(
            event in event_name(),
            doc in json_value(),
        ) {
            let body = serde_json::to_vec(&doc).unwrap();
            let h = signed(&event, "application/json", &body);
            check(ForgeKind::Github, &h, &body);
            check(ForgeKind::Gitlab, &h, &body);
        }

        #[test]
        fn arbitrary_header_values_never_panic_or_5xx(
            headers in prop::collection::vec(
                (
                    prop_oneof![
                        Just("x-hub-signature-256"), Just("x-hub-signature"), Just("x-github-delivery"),
                        Just("x-github-event"), Just("x-gitlab-token"), Just("x-gitlab-event"),
                        Just("webhook-id"), Just("webhook-timestamp"), Just("webhook-signature"),
                        Just("idempotency-key"), Just("content-type"), Just("content-length"),
                    ],
                    prop::collection::vec(any::<u8>(), 0..80),
                ),
                0..8,
            ),
            body in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut h = HeaderMap::new();
            for (name, value) in headers {
                if let Ok(value) = HeaderValue::from_bytes(&value) {
                    h.append(name, value);
                }
            }
            check(ForgeKind::Github, &h, &body);
            check(ForgeKind::Gitlab, &h, &body);
        }
    }
}
