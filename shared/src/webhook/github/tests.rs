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

fn secrets(values: &[&str]) -> Vec<Secret> {
    values.iter().map(|v| Secret::new(*v).unwrap()).collect()
}

/// GitHub's documented example ("Validating webhook deliveries").
const VECTOR_SECRET: &str = "It's a Secret to Everybody";
const VECTOR_BODY: &[u8] = b"Hello, World!";
const VECTOR_SIGNATURE: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

/// The vector's digest as bytes: what `verify` returns, whatever the case of the header's hex.
fn vector_digest() -> [u8; 32] {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(&VECTOR_SIGNATURE[7..], &mut digest).unwrap();
    digest
}

#[test]
fn computes_githubs_published_vector() {
    assert_eq!(
        signature(VECTOR_SECRET.as_bytes(), VECTOR_BODY),
        VECTOR_SIGNATURE
    );
}

#[test]
fn accepts_githubs_published_vector() {
    let h = headers(&[("x-hub-signature-256", VECTOR_SIGNATURE)]);
    assert_eq!(
        verify(&secrets(&[VECTOR_SECRET]), &h, VECTOR_BODY),
        Ok(vector_digest())
    );
}

#[test]
fn accepts_any_active_secret_during_rotation() {
    let h = headers(&[("x-hub-signature-256", VECTOR_SIGNATURE)]);
    let rotating = secrets(&["old-secret", VECTOR_SECRET]);
    assert_eq!(verify(&rotating, &h, VECTOR_BODY), Ok(vector_digest()));
    let rotating = secrets(&[VECTOR_SECRET, "new-secret"]);
    assert_eq!(verify(&rotating, &h, VECTOR_BODY), Ok(vector_digest()));
}

#[test]
fn uppercase_hex_is_accepted() {
    let upper = format!("sha256={}", VECTOR_SIGNATURE[7..].to_ascii_uppercase());
    let h = headers(&[("x-hub-signature-256", &upper)]);
    assert_eq!(
        verify(&secrets(&[VECTOR_SECRET]), &h, VECTOR_BODY),
        Ok(vector_digest())
    );
}

#[test]
fn refuses_each_kind_of_bad_signature() {
    let s = secrets(&[VECTOR_SECRET]);
    let good_hex = &VECTOR_SIGNATURE[7..];
    let cases: Vec<(Vec<(&str, String)>, AuthFailure)> = vec![
        (vec![], AuthFailure::MissingSignature),
        (
            vec![(
                "x-hub-signature",
                "sha1=0123456789abcdef0123456789abcdef01234567".into(),
            )],
            AuthFailure::OnlyLegacySha1Signature,
        ),
        (
            vec![("x-hub-signature-256", good_hex.to_string())],
            AuthFailure::MalformedSignature,
        ),
        (
            vec![("x-hub-signature-256", format!("sha1={good_hex}"))],
            AuthFailure::MalformedSignature,
        ),
        (
            vec![("x-hub-signature-256", format!("sha256={}", &good_hex[..62]))],
            AuthFailure::MalformedSignature,
        ),
        (
            vec![("x-hub-signature-256", format!("sha256={good_hex}00"))],
            AuthFailure::MalformedSignature,
        ),
        (
            vec![(
                "x-hub-signature-256",
                format!("sha256=zz{}", &good_hex[2..]),
            )],
            AuthFailure::MalformedSignature,
        ),
        (
            vec![(
                "x-hub-signature-256",
                format!("sha256=00{}", &good_hex[2..]),
            )],
            AuthFailure::SignatureMismatch,
        ),
    ];
    for (pairs, expected) in cases {
        let mut h = HeaderMap::new();
        for (k, v) in &pairs {
            h.insert(*k, v.parse().unwrap());
        }
        assert_eq!(verify(&s, &h, VECTOR_BODY), Err(expected), "{pairs:?}");
    }
}

#[test]
fn refuses_a_tampered_body_and_a_wrong_secret() {
    let h = headers(&[("x-hub-signature-256", VECTOR_SIGNATURE)]);
    assert_eq!(
        verify(&secrets(&[VECTOR_SECRET]), &h, b"Hello, World?"),
        Err(AuthFailure::SignatureMismatch)
    );
    assert_eq!(
        verify(&secrets(&["wrong"]), &h, VECTOR_BODY),
        Err(AuthFailure::SignatureMismatch)
    );
}

#[test]
fn refuses_everything_without_a_secret() {
    let h = headers(&[("x-hub-signature-256", VECTOR_SIGNATURE)]);
    assert_eq!(
        verify(&[], &h, VECTOR_BODY),
        Err(AuthFailure::NotConfigured(ForgeKind::Github))
    );
}
