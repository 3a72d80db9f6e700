//! The webhook Lambda's handler called with API Gateway HTTP API and Function URL events, as
//! Lambda delivers them, on the embedded adapters.

use std::path::Path;

use base64::Engine as _;
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request};
use serde_json::Value;
use slipway::webhook::github;
use slipway_testkit::{fixture, local_app, GITHUB_SECRET, GITLAB_TOKEN};

fn read(path: &str) -> Vec<u8> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read(base.join(path)).unwrap()
}

/// An event as Lambda would deliver it, with our body and headers spliced in.
fn lambda_request(event_file: &str, body: &[u8], headers: &[(&str, String)]) -> Request {
    let mut event: Value =
        serde_json::from_slice(&read(&format!("tests/events/{event_file}"))).unwrap();
    if event["isBase64Encoded"] == true {
        event["body"] = base64::engine::general_purpose::STANDARD
            .encode(body)
            .into();
    } else {
        event["body"] = String::from_utf8(body.to_vec()).unwrap().into();
    }
    event["headers"]["content-length"] = body.len().to_string().into();
    for (name, value) in headers {
        event["headers"][*name] = value.clone().into();
    }
    let lambda: LambdaRequest = serde_json::from_value(event).unwrap();
    Request::from(lambda)
}

fn json_body(response: &lambda_http::Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).unwrap()
}

#[tokio::test]
async fn api_gateway_http_api_event_with_a_stage_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let app = local_app(dir.path());
    let body = fixture("github/pull_request.opened.1.json");
    let headers = [
        ("x-github-event", "pull_request".to_owned()),
        ("x-github-delivery", "apigw-1".to_owned()),
        (
            "x-hub-signature-256",
            github::signature(GITHUB_SECRET.as_bytes(), &body),
        ),
    ];
    let request = lambda_request("apigw_v2.json", &body, &headers);
    let response = slipway_webhook::handle(&app, None, request).await;
    assert_eq!(response.status(), 202, "{}", json_body(&response));
    assert_eq!(json_body(&response)["delivery"], "apigw-1");
    assert_eq!(app.queue.depth().await.unwrap(), 1);

    let again = lambda_request("apigw_v2.json", &body, &headers);
    let response = slipway_webhook::handle(&app, None, again).await;
    assert_eq!(
        (
            response.status().as_u16(),
            json_body(&response)["status"].clone()
        ),
        (200, "duplicate".into())
    );
    assert_eq!(app.queue.depth().await.unwrap(), 1);
}

#[tokio::test]
async fn function_url_event_with_a_base64_body() {
    let dir = tempfile::tempdir().unwrap();
    let app = local_app(dir.path());
    let body = fixture("gitlab/merge_request_hook.json");
    let headers = [
        ("x-gitlab-event", "Merge Request Hook".to_owned()),
        ("x-gitlab-event-uuid", "url-1".to_owned()),
        ("x-gitlab-token", GITLAB_TOKEN.to_owned()),
    ];
    let response = slipway_webhook::handle(
        &app,
        None,
        lambda_request("function_url.json", &body, &headers),
    )
    .await;
    assert_eq!(response.status(), 202, "{}", json_body(&response));
    assert_eq!(json_body(&response)["event"], "merge_request.open");

    let wrong = [
        ("x-gitlab-event", "Merge Request Hook".to_owned()),
        ("x-gitlab-event-uuid", "url-2".to_owned()),
        ("x-gitlab-token", "wrong".to_owned()),
    ];
    let response = slipway_webhook::handle(
        &app,
        None,
        lambda_request("function_url.json", &body, &wrong),
    )
    .await;
    assert_eq!(response.status(), 401);
    assert_eq!(app.queue.depth().await.unwrap(), 1);
}

#[tokio::test]
async fn unknown_paths_are_404_not_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let app = local_app(dir.path());
    let mut event: Value = serde_json::from_slice(&read("tests/events/function_url.json")).unwrap();
    event["rawPath"] = "/elsewhere".into();
    event["requestContext"]["http"]["path"] = "/elsewhere".into();
    event["body"] = "".into();
    let request = Request::from(serde_json::from_value::<LambdaRequest>(event).unwrap());
    let response = slipway_webhook::handle(&app, None, request).await;
    assert_eq!(response.status(), 404);
}

/// The function reads its SDK configuration from the variables Lambda sets (`AWS_REGION`, the
/// role's keys), not only from Slipway's settings: started as Lambda starts it, it gets past its
/// cold start to the runtime API (absent here, so the runtime stops it, naming what is missing).
#[test]
fn the_cold_start_reads_the_region_and_credentials_lambda_sets() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slipway-webhook"))
        .env_clear()
        .envs([
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("SLIPWAY_TABLE", "slipway"),
            ("SLIPWAY_QUEUE_URL", "http://127.0.0.1:9/queue"),
            ("SLIPWAY_GITHUB_WEBHOOK_SECRET", "secret"),
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!said.contains("AWS_REGION is not set"), "{said}");
    assert!(said.contains("AWS_LAMBDA_FUNCTION_NAME"), "{said}");
}

/// A Function URL request for `path` (with `query`), as Lambda delivers it.
fn page_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Request {
    let mut event: Value = serde_json::from_slice(&read("tests/events/function_url.json")).unwrap();
    event["rawPath"] = path.into();
    event["rawQueryString"] = query.into();
    event["requestContext"]["http"]["method"] = method.into();
    event["requestContext"]["http"]["path"] = path.into();
    event["headers"] = serde_json::json!({});
    for (name, value) in headers {
        event["headers"][*name] = (*value).into();
    }
    event["body"] = base64::engine::general_purpose::STANDARD
        .encode(body)
        .into();
    event["isBase64Encoded"] = true.into();
    Request::from(serde_json::from_value::<LambdaRequest>(event).unwrap())
}

/// The dashboard answers its own paths only, to the operator only, with the pages' headers;
/// the webhook and the run pages keep theirs.
#[tokio::test]
async fn the_dashboard_routes_beside_the_webhook_and_the_run_pages() {
    use slipway::state::StateStore as _;
    const TOKEN: &str = "lambda-dashboard-token-0123";
    let dir = tempfile::tempdir().unwrap();
    let app = local_app(dir.path());
    let state = std::sync::Arc::new(
        slipway::state::sqlite::SqliteState::open(&dir.path().join("pages.db")).unwrap(),
    );
    let run = slipway_testkit::sample_run("0123456789abcdef", Some(2), 1_800_000_000);
    state.insert_run(&run).await.unwrap();
    let key = slipway::links::LinkKey::new(vec![7u8; 32]).unwrap();
    let pages = slipway_webhook::Pages {
        state: Box::new(slipway::state::sqlite::SqliteState::clone(&state)),
        store: Box::new(slipway::artifacts::fs::FsStore::new(
            dir.path().join("artifacts"),
            None,
        )),
        key: key.clone(),
        dashboard: Some(slipway::app::dashboard::Dashboard::new(
            state.clone() as std::sync::Arc<dyn slipway::state::Records>,
            slipway::model::secret::Secret::new(TOKEN).unwrap(),
            key,
        )),
    };
    let answer = |request| slipway_webhook::handle(&app, Some(&pages), request);

    let refused = answer(page_request("GET", "/runs", "", &[], "")).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    assert_eq!(refused.headers()["x-content-type-options"], "nosniff");
    let browser = answer(page_request(
        "GET",
        "/metrics",
        "",
        &[("accept", "text/html")],
        "",
    ))
    .await;
    assert_eq!(browser.status(), 303);
    assert_eq!(browser.headers()["location"], "/login");
    assert_eq!(browser.headers()["cache-control"], "no-store");

    let form = answer(page_request("GET", "/login", "", &[], "")).await;
    assert_eq!(form.status(), 200);
    let policy = form.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("form-action 'self'"),
        "the form keeps its own policy: {policy}"
    );
    let typed = format!("token={TOKEN}");
    let signed_in = answer(page_request("POST", "/login", "", &[], &typed)).await;
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    let session = cookie.split(';').next().unwrap().to_owned();
    let listed = answer(page_request(
        "GET",
        "/runs",
        "",
        &[("cookie", &session)],
        "",
    ))
    .await;
    assert_eq!(listed.status(), 200);
    assert_eq!(
        listed.headers()["content-security-policy"],
        slipway::render::CONTENT_SECURITY_POLICY
    );
    let html = String::from_utf8(listed.body().to_vec()).unwrap();
    assert!(html.contains("/runs/0123456789abcdef?expires="), "{html}");

    // A run page without its link is the run page's 404, not the dashboard's.
    let unsigned = answer(page_request("GET", "/runs/0123456789abcdef", "", &[], "")).await;
    assert_eq!(unsigned.status(), 404);
    // A webhook still reaches the webhook handler.
    let ping = answer(page_request("POST", "/webhooks/github", "", &[], "{}")).await;
    assert_eq!(
        ping.status(),
        401,
        "unsigned: refused by the webhook's verification"
    );
    assert!(
        json_body(&ping)["error"].is_string(),
        "{}",
        json_body(&ping)
    );
}
