//! Retries, rate limits, and the REST description check itself.

use super::*;

const REACTIONS: &str = "/repos/Codertocat/Hello-World/issues/comments/9/reactions";

/// The reaction endpoint answers `first` once, then succeeds.
async fn first_then_created(server: &MockServer, first: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(REACTIONS))
        .respond_with(first)
        .up_to_n_times(1)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(REACTIONS))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
        .with_priority(2)
        .mount(server)
        .await;
}

async fn react(server: &MockServer) {
    token_forge(server)
        .add_reaction(&repo(), PrNumber(1), CommentId(9), Reaction::Eyes)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_5xx_then_success_is_retried() {
    let server = MockServer::start().await;
    first_then_created(&server, ResponseTemplate::new(502)).await;
    react(&server).await;
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn rate_limits_are_waited_out_as_the_forge_says() {
    let cases = [
        // 429 with Retry-After.
        ResponseTemplate::new(429).insert_header("retry-after", "1"),
        // Secondary rate limit: 403 with Retry-After.
        ResponseTemplate::new(403)
            .insert_header("retry-after", "1")
            .set_body_json(json!({ "message": "You have exceeded a secondary rate limit." })),
    ];
    for limited in cases {
        let server = MockServer::start().await;
        first_then_created(&server, limited).await;
        let started = Instant::now();
        react(&server).await;
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "waited as told"
        );
        assert_eq!(requests(&server).await.len(), 2);
    }
}

#[tokio::test]
async fn an_exhausted_primary_limit_waits_for_the_reset() {
    let server = MockServer::start().await;
    let reset = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let exhausted = ResponseTemplate::new(403)
        .insert_header("x-ratelimit-remaining", "0")
        .insert_header("x-ratelimit-reset", reset.to_string().as_str())
        .set_body_json(json!({ "message": "API rate limit exceeded" }));
    first_then_created(&server, exhausted).await;
    react(&server).await;
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn retries_stop_at_the_bound_and_other_4xx_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(
            "/repos/Codertocat/Hello-World/issues/comments/1/reactions",
        ))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/repos/Codertocat/Hello-World/issues/comments/2/reactions",
        ))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/repos/Codertocat/Hello-World/issues/comments/3/reactions",
        ))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({ "message": "Resource not accessible by integration" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/repos/Codertocat/Hello-World/issues/comments/4/reactions",
        ))
        .respond_with(
            ResponseTemplate::new(422).set_body_json(json!({ "message": "Validation Failed" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let forge = token_forge(&server);
    let repo = repo();
    let react = |id| forge.add_reaction(&repo, PrNumber(1), CommentId(id), Reaction::Eyes);
    assert!(matches!(
        react(1).await,
        Err(ForgeError::Unavailable { attempts: 3, .. })
    ));
    let started = Instant::now();
    let limited = react(2).await.unwrap_err();
    assert!(
        matches!(
            limited,
            ForgeError::RateLimited {
                retry_after_secs: Some(3600),
                ..
            }
        ),
        "{limited}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a wait past the budget gives up at once"
    );
    let refused = react(3).await.unwrap_err();
    assert!(
        matches!(&refused, ForgeError::Api { status: 403, message, .. } if message.contains("not accessible"))
    );
    assert!(matches!(
        react(4).await,
        Err(ForgeError::Api { status: 422, .. })
    ));
    assert!(
        !refused.to_string().contains(TOKEN),
        "errors never carry the token"
    );
}

#[test]
fn the_description_check_catches_bad_requests() {
    let spec = slipway_testkit::openapi::spec();
    let good = json!({ "state": "success", "context": "slipway/build" });
    assert!(spec
        .problems(
            "POST",
            &format!("/repos/o/r/statuses/{SHA}"),
            "",
            Some(&good)
        )
        .is_empty());
    let bad = json!({ "state": "passed", "contexts": "x" });
    let problems = spec.problems(
        "POST",
        &format!("/repos/o/r/statuses/{SHA}"),
        "",
        Some(&bad),
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    let missing = json!({ "name": "x" });
    assert!(
        !spec
            .problems("POST", "/repos/o/r/check-runs", "", Some(&missing))
            .is_empty(),
        "head_sha is required"
    );
    assert!(!spec
        .problems("POST", "/repos/o/r/no-such-thing", "", None)
        .is_empty());
    assert!(!spec
        .problems("GET", "/repos/o/r/pulls/1/reviews", "bogus=1", None)
        .is_empty());
}
