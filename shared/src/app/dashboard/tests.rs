use http::{header, HeaderMap, HeaderValue};

use super::access::{Operator, SESSION_COOKIE, SESSION_PATH};
use crate::links::LinkKey;
use crate::model::secret::Secret;

const NOW: u64 = 1_800_000_000;

fn operator(token: &str) -> Operator {
    Operator::new(
        Secret::new(token).unwrap(),
        &LinkKey::new(vec![9u8; 32]).unwrap(),
    )
}

fn headers(pairs: &[(header::HeaderName, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.append(name, HeaderValue::from_str(value).unwrap());
    }
    h
}

#[test]
fn only_the_token_or_a_session_this_key_signed_lets_the_operator_in() {
    let links_key = LinkKey::new(vec![9u8; 32]).unwrap();
    let other_key = LinkKey::new(vec![8u8; 32]).unwrap();
    let o = operator("operator-token-0123456789");
    let session = |key: &LinkKey, expires: u64| {
        format!(
            "theme=dark; {SESSION_COOKIE}={}",
            key.sign(SESSION_PATH, expires).replace('&', "!")
        )
    };
    let later = NOW + 600;
    let issued = o.session_cookie(NOW);
    let issued = issued.split(';').next().unwrap().to_owned();
    let cases = [
        (vec![], false, "nothing presented"),
        (
            vec![(
                header::AUTHORIZATION,
                "Bearer operator-token-0123456789".into(),
            )],
            true,
            "the token",
        ),
        (
            vec![(header::AUTHORIZATION, "Bearer operator-token".into())],
            false,
            "a prefix of the token",
        ),
        (
            vec![(
                header::AUTHORIZATION,
                "Basic operator-token-0123456789".into(),
            )],
            false,
            "the token under another scheme",
        ),
        (
            vec![(header::COOKIE, issued)],
            true,
            "the session sign-in set",
        ),
        (
            vec![(header::COOKIE, session(&o.session_key, later))],
            true,
            "a session",
        ),
        (
            vec![(header::COOKIE, session(&links_key, later))],
            false,
            "signed with the links' key",
        ),
        (
            vec![(header::COOKIE, session(&o.session_key, NOW - 1))],
            false,
            "an expired session",
        ),
        (
            vec![(header::COOKIE, session(&other_key, later))],
            false,
            "another key's session",
        ),
        (
            vec![(
                header::COOKIE,
                format!("{SESSION_COOKIE}=expires={later}!sig=AAAA"),
            )],
            false,
            "a made-up signature",
        ),
    ];
    for (presented, admitted, why) in cases {
        assert_eq!(o.admits(&headers(&presented), NOW), admitted, "{why}");
    }
    // A new token ends the sessions made under the old one.
    let rotated = operator("a-new-operator-token-987");
    let old_session = vec![(header::COOKIE, session(&o.session_key, later))];
    assert!(!rotated.admits(&headers(&old_session), NOW));
}

#[test]
fn the_session_cookie_is_http_only_secure_and_strict() {
    let cookie = operator("operator-token-0123456789").session_cookie(NOW);
    for part in [
        "Path=/",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Max-Age=43200",
    ] {
        assert!(cookie.contains(part), "{part} missing from {cookie}");
    }
    assert!(!cookie.contains("operator-token"), "{cookie}");
}
