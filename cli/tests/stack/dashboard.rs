//! The operator's dashboard through the webhook function's URL: the lists come from DynamoDB,
//! behind the dashboard token (issue #17).

use reqwest::header::{ACCEPT, AUTHORIZATION, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;

/// What the operator sees after one build of `sha` and its deploy to staging.
pub async fn the_operator_sees_the_build_and_the_deploy(
    function_url: &str,
    token: &str,
    run_id: &str,
    sha: &str,
    log: impl Fn() -> String,
) {
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let get = |page: &str| client.get(format!("{function_url}{page}"));

    // Nobody else: a script gets 401, a browser the sign-in form.
    let script = get("runs").send().await.unwrap();
    assert_eq!(script.status(), StatusCode::UNAUTHORIZED, "{}", log());
    assert_eq!(script.headers()["www-authenticate"], "Bearer");
    let browser = get("runs")
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), StatusCode::SEE_OTHER);
    assert_eq!(browser.headers()[LOCATION], "/login");
    let wrong = get("environments")
        .header(AUTHORIZATION, format!("Bearer {token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    // Signing in sets a session cookie (through the Function URL's cookie fields).
    let form = format!("token={token}");
    let signed_in = client
        .post(format!("{function_url}login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER, "{}", log());
    let cookie = signed_in.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Secure"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();

    let runs = get("runs").header(COOKIE, &session).send().await.unwrap();
    assert_eq!(runs.status(), StatusCode::OK, "{}", log());
    assert_eq!(
        runs.headers()["content-security-policy"],
        slipway::render::CONTENT_SECURITY_POLICY
    );
    let runs = runs.text().await.unwrap();
    assert!(
        runs.contains(&format!("/runs/{run_id}?expires=")),
        "the list links the build's page: {runs}"
    );
    assert!(runs.contains(&sha[..7]), "{runs}");
    assert!(
        runs.contains("@Codertocat"),
        "who opened the pull request: {runs}"
    );

    let bearer = format!("Bearer {token}");
    let environments = get("environments")
        .header(AUTHORIZATION, &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(environments.status(), StatusCode::OK, "{}", log());
    let environments = environments.text().await.unwrap();
    assert!(
        environments.contains("staging") && environments.contains(&sha[..7]),
        "{environments}"
    );

    let metrics = get("metrics?days=7")
        .header(AUTHORIZATION, &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::OK, "{}", log());
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("staging"), "{metrics}");
    assert!(
        metrics.contains("1 deploy(s) in 7d"),
        "one deploy counted: {metrics}"
    );
    assert!(
        !metrics.contains("lead time —"),
        "the pull request's build, read back from the by_pr index, starts the lead time: {metrics}"
    );
}
