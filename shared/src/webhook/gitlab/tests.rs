use super::*;
use crate::webhook::Secret;

/// The Standard Webhooks specification's reference vector.
const SPEC_KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SPEC_TIMESTAMP: u64 = 1614265330;
const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn spec_time(offset_secs: i64) -> SystemTime {
    let t = SPEC_TIMESTAMP as i64 + offset_secs;
    UNIX_EPOCH + Duration::from_secs(t as u64)
}

fn signing_only() -> WebhookSecrets {
    WebhookSecrets {
        gitlab_signing: Some(SigningKey::parse(SPEC_KEY).unwrap()),
        ..Default::default()
    }
}

fn signed_headers(signature: &str, timestamp: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("webhook-id", SPEC_ID.parse().unwrap());
    h.insert("webhook-timestamp", timestamp.parse().unwrap());
    h.insert("webhook-signature", signature.parse().unwrap());
    h
}

#[test]
fn computes_the_standard_webhooks_vector() {
    let key = SigningKey::parse(SPEC_KEY).unwrap();
    assert_eq!(
        signature(&key, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
        SPEC_SIGNATURE
    );
}

#[test]
fn accepts_the_standard_webhooks_vector() {
    let h = signed_headers(SPEC_SIGNATURE, "1614265330");
    assert_eq!(verify(&signing_only(), &h, SPEC_BODY, spec_time(0)), Ok(()));
}

#[test]
fn accepts_when_any_listed_signature_matches() {
    let both = format!("v1,AAAA v1a,xyz {SPEC_SIGNATURE}");
    let h = signed_headers(&both, "1614265330");
    assert_eq!(verify(&signing_only(), &h, SPEC_BODY, spec_time(0)), Ok(()));
}

#[test]
fn refuses_timestamps_more_than_five_minutes_off() {
    let h = signed_headers(SPEC_SIGNATURE, "1614265330");
    let s = signing_only();
    assert_eq!(verify(&s, &h, SPEC_BODY, spec_time(300)), Ok(()));
    assert_eq!(verify(&s, &h, SPEC_BODY, spec_time(-300)), Ok(()));
    for off in [301, -301, 86_400] {
        assert_eq!(
            verify(&s, &h, SPEC_BODY, spec_time(off)),
            Err(AuthFailure::TimestampOutOfTolerance),
            "offset {off}"
        );
    }
}

#[test]
fn refuses_bad_signatures() {
    let s = signing_only();
    let now = spec_time(0);
    let tampered = verify(
        &s,
        &signed_headers(SPEC_SIGNATURE, "1614265330"),
        b"{}",
        now,
    );
    assert_eq!(tampered, Err(AuthFailure::SignatureMismatch));
    let not_b64 = verify(&s, &signed_headers("v1,!!!", "1614265330"), SPEC_BODY, now);
    assert_eq!(not_b64, Err(AuthFailure::SignatureMismatch));
    let bad_ts = verify(&s, &signed_headers(SPEC_SIGNATURE, "soon"), SPEC_BODY, now);
    assert_eq!(bad_ts, Err(AuthFailure::MalformedTimestamp));
    let missing = verify(&s, &HeaderMap::new(), SPEC_BODY, now);
    assert_eq!(missing, Err(AuthFailure::MissingSigningHeaders));
}

#[test]
fn token_is_compared_exactly() {
    let s = WebhookSecrets {
        gitlab_token: Some(Secret::new("s3cret").unwrap()),
        ..Default::default()
    };
    let now = SystemTime::now();
    let mut h = HeaderMap::new();
    assert_eq!(verify(&s, &h, b"{}", now), Err(AuthFailure::MissingToken));
    h.insert("x-gitlab-token", "s3cret!".parse().unwrap());
    assert_eq!(verify(&s, &h, b"{}", now), Err(AuthFailure::TokenMismatch));
    h.insert("x-gitlab-token", "s3cret".parse().unwrap());
    assert_eq!(verify(&s, &h, b"{}", now), Ok(()));
}

#[test]
fn a_configured_signing_token_makes_the_signature_required() {
    let s = WebhookSecrets {
        gitlab_token: Some(Secret::new("s3cret").unwrap()),
        ..signing_only()
    };
    let mut h = HeaderMap::new();
    h.insert("x-gitlab-token", "s3cret".parse().unwrap());
    assert_eq!(
        verify(&s, &h, SPEC_BODY, spec_time(0)),
        Err(AuthFailure::MissingSigningHeaders)
    );
    let mut h = signed_headers(SPEC_SIGNATURE, "1614265330");
    h.insert("x-gitlab-token", "s3cret".parse().unwrap());
    assert_eq!(verify(&s, &h, SPEC_BODY, spec_time(0)), Ok(()));
}

#[test]
fn nothing_configured_trusts_nothing() {
    let h = signed_headers(SPEC_SIGNATURE, "1614265330");
    let none = WebhookSecrets::default();
    assert_eq!(
        verify(&none, &h, SPEC_BODY, spec_time(0)),
        Err(AuthFailure::NotConfigured(ForgeKind::Gitlab))
    );
}

#[test]
fn delivery_id_prefers_idempotency_key_then_webhook_id_then_uuid() {
    let mut h = HeaderMap::new();
    let body_id = delivery_id(&h, b"{}", false).unwrap();
    assert!(body_id.0.starts_with("sha256-"));
    h.insert("x-gitlab-event-uuid", "uuid-1".parse().unwrap());
    assert_eq!(delivery_id(&h, b"{}", false).unwrap().0, "uuid-1");
    h.insert("webhook-id", "msg-1".parse().unwrap());
    assert_eq!(delivery_id(&h, b"{}", false).unwrap().0, "msg-1");
    h.insert("idempotency-key", "key-1".parse().unwrap());
    assert_eq!(delivery_id(&h, b"{}", false).unwrap().0, "key-1");
}

#[test]
fn a_signed_delivery_is_named_by_its_signed_id_only() {
    let mut h = HeaderMap::new();
    h.insert("idempotency-key", "key-1".parse().unwrap());
    h.insert("x-gitlab-event-uuid", "uuid-1".parse().unwrap());
    h.insert("webhook-id", "msg-1".parse().unwrap());
    assert_eq!(delivery_id(&h, b"{}", true).unwrap().0, "msg-1");
}

#[test]
fn headers_alone_refuse_what_cannot_be_authentic() {
    let secrets = signing_only();
    let good = signed_headers(SPEC_SIGNATURE, "1614265330");
    assert!(verify_headers(&secrets, &good, spec_time(0)).is_ok());
    let garbled = signed_headers("v1,not-base64 v2,abc", "1614265330");
    assert_eq!(
        verify_headers(&secrets, &garbled, spec_time(0)).err(),
        Some(AuthFailure::SignatureMismatch)
    );
    let mut missing = good.clone();
    missing.remove("webhook-signature");
    assert_eq!(
        verify_headers(&secrets, &missing, spec_time(0)).err(),
        Some(AuthFailure::MissingSigningHeaders)
    );
    assert_eq!(
        verify_headers(&secrets, &good, spec_time(3600)).err(),
        Some(AuthFailure::TimestampOutOfTolerance)
    );
}
