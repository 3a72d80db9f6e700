use super::*;

#[test]
fn the_manifest_is_the_repositorys_with_this_apps_name_and_urls() {
    let repo: Value =
        serde_json::from_str(include_str!("../../../infra/github-app-manifest.json")).unwrap();
    let m = manifest(
        " Slipway CI ",
        "https://x.on.aws/webhooks/github",
        "http://127.0.0.1:3000/callback",
    )
    .unwrap();
    assert_eq!(m["name"], "Slipway CI");
    assert_eq!(
        m["hook_attributes"]["url"],
        "https://x.on.aws/webhooks/github"
    );
    assert_eq!(m["hook_attributes"]["active"], true);
    assert_eq!(m["redirect_url"], "http://127.0.0.1:3000/callback");
    assert_eq!(m["default_permissions"], repo["default_permissions"]);
    assert_eq!(m["default_events"], repo["default_events"]);
    assert_eq!(m["public"], false);
}

#[test]
fn app_names_github_would_refuse_are_refused_first() {
    for (name, ok) in [
        ("Slipway", true),
        (&"a".repeat(34), true),
        (&"a".repeat(35), false),
        ("  ", false),
    ] {
        assert_eq!(manifest(name, "h", "r").is_ok(), ok, "{name:?}");
    }
}

#[test]
fn webhook_urls_get_the_github_path_once() {
    for (given, expected) in [
        (
            "https://abc.lambda-url.eu-west-1.on.aws/",
            Some("https://abc.lambda-url.eu-west-1.on.aws/webhooks/github"),
        ),
        (
            "https://ci.example.com",
            Some("https://ci.example.com/webhooks/github"),
        ),
        (
            "https://ci.example.com/slipway//",
            Some("https://ci.example.com/slipway/webhooks/github"),
        ),
        (
            "https://ci.example.com/webhooks/github",
            Some("https://ci.example.com/webhooks/github"),
        ),
        (
            "http://10.0.0.5:3000",
            Some("http://10.0.0.5:3000/webhooks/github"),
        ),
        ("ci.example.com", None),
        ("ftp://ci.example.com", None),
        ("https://", None),
        ("https:///path", None),
        ("https://ci.example.com/?x=1", None),
    ] {
        assert_eq!(hook_url(given).ok().as_deref(), expected, "{given}");
    }
}

#[test]
fn the_form_goes_to_the_account_or_the_organization() {
    for (github, org, expected) in [
        (
            "https://github.com",
            None,
            Some("https://github.com/settings/apps/new?state=s1"),
        ),
        (
            "https://github.com/",
            Some("acme-co"),
            Some("https://github.com/organizations/acme-co/settings/apps/new?state=s1"),
        ),
        (
            "https://ghe.example.com",
            Some("Acme2"),
            Some("https://ghe.example.com/organizations/Acme2/settings/apps/new?state=s1"),
        ),
        ("https://github.com", Some("acme/../x"), None),
        ("https://github.com", Some(""), None),
        ("github.com", None, None),
    ] {
        assert_eq!(
            new_app_url(github, org, "s1").ok().as_deref(),
            expected,
            "{github} {org:?}"
        );
    }
}

#[test]
fn the_api_follows_the_github_url_unless_named() {
    for (github, api, expected) in [
        ("https://github.com", None, Some("https://api.github.com")),
        ("https://github.com/", None, Some("https://api.github.com")),
        (
            "https://ghe.example.com",
            None,
            Some("https://ghe.example.com/api/v3"),
        ),
        (
            "https://ghe.example.com",
            Some("https://api.ghe.example.com/"),
            Some("https://api.ghe.example.com"),
        ),
        (
            "https://github.com",
            Some("http://127.0.0.1:9"),
            Some("http://127.0.0.1:9"),
        ),
        ("github.com", None, None),
        ("https://github.com", Some("api.github.com"), None),
    ] {
        assert_eq!(
            api_url(github, api).ok().as_deref(),
            expected,
            "{github} {api:?}"
        );
    }
}

#[test]
fn the_conversion_url_follows_the_api_url() {
    for (api, expected) in [
        (
            "https://api.github.com",
            "https://api.github.com/app-manifests/c0de/conversions",
        ),
        (
            "https://ghe.example.com/api/v3/",
            "https://ghe.example.com/api/v3/app-manifests/c0de/conversions",
        ),
    ] {
        assert_eq!(conversion_url(api, "c0de").unwrap(), expected);
    }
}

#[test]
fn the_callback_address_must_be_one_a_browser_can_open() {
    for (listen, expected) in [
        ("127.0.0.1:3000", Some("http://127.0.0.1:3000")),
        ("[::1]:8080", Some("http://[::1]:8080")),
        ("192.168.1.4:3000", Some("http://192.168.1.4:3000")),
        ("0.0.0.0:3000", None),
        ("[::]:3000", None),
    ] {
        let addr: SocketAddr = listen.parse().unwrap();
        assert_eq!(local_base_url(addr).ok().as_deref(), expected, "{listen}");
    }
}

#[test]
fn only_requests_naming_this_server_are_answered() {
    let local: SocketAddr = "127.0.0.1:3000".parse().unwrap();
    let port80: SocketAddr = "127.0.0.1:80".parse().unwrap();
    let lan: SocketAddr = "192.168.1.4:3000".parse().unwrap();
    for (host, addr, ok) in [
        (Some("127.0.0.1:3000"), local, true),
        (Some("localhost:3000"), local, true),
        (Some("LOCALHOST:3000"), local, true),
        (Some("127.0.0.1"), port80, true),
        (Some("localhost"), port80, true),
        (Some("127.0.0.1:3001"), local, false),
        (Some("evil.example:3000"), local, false),
        (Some("localhost:3000"), lan, false),
        (Some("192.168.1.4:3000"), lan, true),
        (None, local, false),
    ] {
        assert_eq!(host_allowed(host, addr), ok, "{host:?} at {addr}");
    }
}

#[test]
fn only_this_runs_state_leads_to_an_exchange() {
    let state = Secret::new("5e1f").unwrap();
    for (given_state, code, expected) in [
        (Some("5e1f"), Some("abc123"), Callback::Exchange("abc123")),
        (None, Some("abc123"), Callback::Refuse(NO_STATE)),
        (Some("5e1e"), Some("abc123"), Callback::Refuse(WRONG_STATE)),
        (Some(""), Some("abc123"), Callback::Refuse(WRONG_STATE)),
        (
            Some("5e1f5e1f"),
            Some("abc123"),
            Callback::Refuse(WRONG_STATE),
        ),
        // A wrong state is refused for that, whatever the code.
        (Some("nope"), None, Callback::Refuse(WRONG_STATE)),
        (Some("5e1f"), None, Callback::Refuse(NO_CODE)),
        (Some("5e1f"), Some("../../user"), Callback::Refuse(BAD_CODE)),
        (Some("5e1f"), Some(""), Callback::Refuse(BAD_CODE)),
    ] {
        assert_eq!(
            callback(&state, given_state, code),
            expected,
            "{given_state:?} {code:?}"
        );
    }
}

const PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n";

fn answer(webhook_secret: Value) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": 4242,
        "slug": "slipway-ci",
        "html_url": "https://github.com/apps/slipway-ci",
        "client_id": "Iv1.x",
        "client_secret": "cs",
        "webhook_secret": webhook_secret,
        "pem": PEM,
    }))
    .unwrap()
}

#[test]
fn githubs_answer_becomes_the_app_and_its_secrets() {
    let c = conversion(&answer("whs".into())).unwrap();
    assert_eq!(
        c.app,
        App {
            id: 4242,
            slug: "slipway-ci".into(),
            html_url: "https://github.com/apps/slipway-ci".into()
        }
    );
    assert_eq!(c.pem.expose(), PEM.as_bytes());
    assert_eq!(c.webhook_secret.unwrap().expose(), b"whs");
    assert_eq!(
        c.app.install_url(),
        "https://github.com/apps/slipway-ci/installations/new"
    );
    assert!(conversion(&answer(Value::Null))
        .unwrap()
        .webhook_secret
        .is_none());
}

#[test]
fn an_unusable_answer_is_named_without_echoing_it() {
    let mut no_id: Value = serde_json::from_slice(&answer("whs".into())).unwrap();
    no_id["id"] = "x".into();
    let mut bad_pem = no_id.clone();
    bad_pem["id"] = 1.into();
    bad_pem["pem"] = "not a key but a secret".into();
    for (body, expected) in [
        (b"<html>".to_vec(), "not JSON"),
        (serde_json::to_vec(&no_id).unwrap(), "numeric `id`"),
        (serde_json::to_vec(&bad_pem).unwrap(), "not a PEM key"),
        (b"{\"id\": 1}".to_vec(), "no `pem`"),
    ] {
        let err = conversion(&body).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
        assert!(!err.contains("secret") && !err.contains("MIIE"), "{err}");
    }
}

#[test]
fn a_refusal_says_what_github_said_and_what_to_do() {
    let expired = refusal(422, br#"{"message":"Validation Failed: code expired"}"#);
    assert!(
        expired.starts_with("GitHub answered 422 (Validation Failed: code expired)"),
        "{expired}"
    );
    assert!(
        expired.contains("a code works once, for an hour"),
        "{expired}"
    );
    assert!(
        expired.contains("run `slipway setup github` again"),
        "{expired}"
    );
    let down = refusal(502, b"<html>bad gateway</html>");
    assert!(down.starts_with("GitHub answered 502 when"), "{down}");
}
