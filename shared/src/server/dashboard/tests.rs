use super::*;

fn dashboard_with(dir: &std::path::Path, token: &str) -> Dashboard {
    let key = LinkKey::new(vec![9u8; 32]).unwrap();
    let mut context = b"dashboard-session\n".to_vec();
    context.extend_from_slice(&sha2::Sha256::digest(token.as_bytes()));
    Dashboard {
        state: SqliteState::open(&dir.join("state.db")).unwrap(),
        token: Secret::new(token).unwrap(),
        session_key: key.derive(&context),
        key,
    }
}

fn dashboard(dir: &std::path::Path) -> Dashboard {
    dashboard_with(dir, "operator-token-0123456789")
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
    let dir = tempfile::tempdir().unwrap();
    let d = dashboard(dir.path());
    let session = |key: &LinkKey, expires: u64| {
        format!(
            "theme=dark; {SESSION_COOKIE}={}",
            key.sign(SESSION_PATH, expires).replace('&', "!")
        )
    };
    let later = now() + 600;
    let other_key = LinkKey::new(vec![8u8; 32]).unwrap();
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
            vec![(header::COOKIE, session(&d.session_key, later))],
            true,
            "a session",
        ),
        (
            vec![(header::COOKIE, session(&d.key, later))],
            false,
            "signed with the links' key",
        ),
        (
            vec![(header::COOKIE, session(&d.session_key, now() - 1))],
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
        assert_eq!(operator(&d, &headers(&presented)), admitted, "{why}");
    }
    // A new token ends the sessions made under the old one.
    let rotated = dashboard_with(dir.path(), "a-new-operator-token-987");
    let old_session = vec![(header::COOKIE, session(&d.session_key, later))];
    assert!(!operator(&rotated, &headers(&old_session)));
}
