//! Authentication (token, App JWT and installation tokens), checks, files and sources.

use super::*;

#[tokio::test]
async fn token_auth_reports_with_commit_statuses() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/repos/Codertocat/Hello-World/statuses/{SHA}"
        )))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
        .expect(2)
        .mount(&server)
        .await;
    let forge = token_forge(&server);
    assert_eq!(
        forge
            .set_check(&repo(), &check(CheckState::InProgress), None)
            .await,
        Ok(None)
    );
    let mut long = check(CheckState::Failure);
    long.title = "é".repeat(300);
    forge.set_check(&repo(), &long, None).await.unwrap();

    let sent = requests(&server).await;
    let first = body(&sent[0]);
    assert_eq!(first["state"], "pending");
    assert_eq!(first["context"], "slipway/build");
    assert_eq!(first["target_url"], "https://slipway.example/runs/1");
    let second = body(&sent[1]);
    assert_eq!(second["state"], "failure");
    assert_eq!(second["description"].as_str().unwrap().chars().count(), 140);
    assert_requests_match_github(&server).await;
}

#[tokio::test]
async fn app_auth_creates_then_updates_one_check_run_with_a_cached_installation_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/app/installations/{INSTALLATION}/access_tokens"
        )))
        .respond_with(TokenEndpoint {
            expires_in: Duration::from_secs(3600),
        })
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/Codertocat/Hello-World/check-runs"))
        .and(header("authorization", "Bearer ghs_installation-token"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({ "id": 4, "name": "slipway/build" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/Codertocat/Hello-World/check-runs/4"))
        .and(header("authorization", "Bearer ghs_installation-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": 4 })))
        .expect(1)
        .mount(&server)
        .await;

    let forge = app_client(&server).forge(Some(INSTALLATION));
    let id = forge
        .set_check(&repo(), &check(CheckState::Queued), None)
        .await
        .unwrap();
    assert_eq!(id, Some(CheckId(4)));
    let mut done = check(CheckState::TimedOut);
    done.summary = "😀".repeat(20_000); // 80,000 bytes
    forge.set_check(&repo(), &done, id).await.unwrap();

    let sent = requests(&server).await;
    let create = body(&sent[1]);
    assert_eq!(create["head_sha"], SHA);
    assert_eq!(create["status"], "queued");
    assert!(create.get("conclusion").is_none());
    assert_eq!(create["started_at"], "2023-11-14T22:13:20Z");
    let update = body(&sent[2]);
    assert!(
        update.get("head_sha").is_none(),
        "an update names the run, not the commit"
    );
    assert_eq!(update["status"], "completed");
    assert_eq!(update["conclusion"], "timed_out");
    assert_eq!(update["completed_at"], "2023-11-14T22:14:20Z");
    let summary = update["output"]["summary"].as_str().unwrap();
    assert!(
        summary.len() <= 65_535 && summary.len() > 65_000,
        "{}",
        summary.len()
    );
    assert_requests_match_github(&server).await;
}

#[tokio::test]
async fn an_installation_token_near_expiry_is_renewed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/app/installations/{INSTALLATION}/access_tokens"
        )))
        .respond_with(TokenEndpoint {
            expires_in: Duration::from_secs(4 * 60),
        })
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/repos/Codertocat/Hello-World/issues/comments/9/reactions",
        ))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({ "id": 1, "content": "eyes" })),
        )
        .expect(2)
        .mount(&server)
        .await;
    let forge = app_client(&server).forge(Some(INSTALLATION));
    for _ in 0..2 {
        forge
            .add_reaction(&repo(), PrNumber(1), CommentId(9), Reaction::Eyes)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_app_needs_an_installation_and_a_valid_key() {
    let server = MockServer::start().await;
    let forge = app_client(&server).forge(None);
    let err = forge
        .set_check(&repo(), &check(CheckState::Queued), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ForgeError::Auth(_)), "{err}");
    assert!(GithubAuth::app(1, b"not a key").is_err());
}

#[tokio::test]
async fn bot_login_is_the_app_slug_or_the_token_user_and_is_asked_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/app"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "id": APP_ID, "slug": "slipway" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "login": "slipway-bot", "id": 5 })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let app = app_client(&server).forge(Some(INSTALLATION));
    assert_eq!(app.bot_login().await.unwrap(), "slipway[bot]");
    assert_eq!(app.bot_login().await.unwrap(), "slipway[bot]");
    let token = token_forge(&server);
    assert_eq!(token.bot_login().await.unwrap(), "slipway-bot");
    assert_eq!(token.bot_login().await.unwrap(), "slipway-bot");
}

#[tokio::test]
async fn read_file_distinguishes_missing_from_failing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/Codertocat/Hello-World/contents/.slipway.yml"))
        .and(query_param("ref", SHA))
        .and(header("accept", "application/vnd.github.raw+json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("version: 1\n"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/Codertocat/Hello-World/contents/missing.yml"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "message": "Not Found" })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/Codertocat/Hello-World/contents/broken.yml"))
        .respond_with(ResponseTemplate::new(502))
        .expect(3)
        .mount(&server)
        .await;
    let forge = token_forge(&server);
    let got = forge
        .read_file(&repo(), &sha(), ".slipway.yml")
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some(&b"version: 1\n"[..]));
    assert_eq!(
        forge.read_file(&repo(), &sha(), "missing.yml").await,
        Ok(None)
    );
    let err = forge
        .read_file(&repo(), &sha(), "broken.yml")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ForgeError::Unavailable { attempts: 3, .. }),
        "{err}"
    );
    assert_requests_match_github(&server).await;
}

#[tokio::test]
async fn download_source_follows_the_redirect_and_unpacks_the_tarball() {
    let server = MockServer::start().await;
    let tarball = slipway_testkit::tar_gz(&[
        ("Codertocat-Hello-World-ec26c3e/README.md", "hello\n"),
        (
            "Codertocat-Hello-World-ec26c3e/.slipway.yml",
            "version: 1\n",
        ),
    ]);
    Mock::given(method("GET"))
        .and(path(format!("/repos/Codertocat/Hello-World/tarball/{SHA}")))
        .respond_with(
            ResponseTemplate::new(302).insert_header(
                "location",
                format!(
                    "{}/codeload/Codertocat/Hello-World/legacy.tar.gz/{SHA}",
                    server.uri()
                )
                .as_str(),
            ),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/codeload/Codertocat/Hello-World/legacy.tar.gz/{SHA}"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(tarball))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("src");
    token_forge(&server)
        .download_source(&repo(), &sha(), &dest)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.join("README.md")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(dest.join(".slipway.yml")).unwrap(),
        "version: 1\n"
    );
}
