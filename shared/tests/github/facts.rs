//! Pull request facts and deployments.

use super::*;
use slipway::model::forge::Verdict;

const OLD: &str = "0000000000000000000000000000000000000001";

#[tokio::test]
async fn pull_request_facts_with_review_verdicts() {
    let server = MockServer::start().await;
    let mut pull: Value =
        slipway_testkit::json_fixture("github/pull_request.opened.1.json")["pull_request"].clone();
    pull["head"]["repo"]["id"] = 999.into();
    Mock::given(method("GET"))
        .and(path("/repos/Codertocat/Hello-World/pulls/2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(pull))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/Codertocat/Hello-World/pulls/2/reviews"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "id": 1, "user": { "login": "ann", "id": 11 }, "state": "CHANGES_REQUESTED", "commit_id": OLD },
            { "id": 2, "user": { "login": "bob", "id": 12, "type": "User" }, "state": "APPROVED", "commit_id": OLD },
            { "id": 3, "user": { "login": "ann", "id": 11 }, "state": "APPROVED", "commit_id": SHA },
            { "id": 4, "user": { "login": "cat", "id": 13 }, "state": "CHANGES_REQUESTED", "commit_id": SHA },
        ])))
        .mount(&server)
        .await;
    let facts = token_forge(&server)
        .pull_request(&repo(), PrNumber(2))
        .await
        .unwrap();
    assert_eq!(facts.head_sha, sha());
    assert_eq!(
        (facts.head_branch.as_str(), facts.base_branch.as_str()),
        ("changes", "master")
    );
    assert!(facts.from_fork);
    assert!(facts.open && !facts.merged && !facts.draft);
    assert_eq!(facts.author.login.as_deref(), Some("Codertocat"));
    let reviews: Vec<_> = facts
        .reviews
        .iter()
        .map(|r| {
            let commit = r.commit.as_ref().map(|c| c.as_str().to_owned());
            (r.reviewer.id, r.verdict, commit.unwrap())
        })
        .collect();
    assert_eq!(
        reviews,
        [
            (11, Verdict::Approved, SHA.to_owned()),
            (12, Verdict::Approved, OLD.to_owned()),
            (13, Verdict::ChangesRequested, SHA.to_owned()),
        ]
    );
    assert_requests_match_github(&server).await;
}

#[tokio::test]
async fn deployments_and_their_statuses() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/Codertocat/Hello-World/deployments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 42, "sha": SHA })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/repos/Codertocat/Hello-World/deployments/42/statuses",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
        .expect(2)
        .mount(&server)
        .await;
    let forge = token_forge(&server);
    let deployment = NewDeployment {
        environment: "staging".into(),
        sha: sha(),
        git_ref: "main".into(),
        description: "Deploy ec26c3e by @Codertocat".into(),
        transient: false,
        production: false,
    };
    let id = forge.create_deployment(&repo(), &deployment).await.unwrap();
    assert_eq!(id, DeploymentId(42));
    for state in [DeploymentState::InProgress, DeploymentState::Success] {
        let status = DeploymentStatus {
            state,
            environment_url: Some("https://staging.example.com".into()),
            log_url: Some("https://slipway.example/runs/1".into()),
            description: "x".repeat(200),
        };
        forge
            .set_deployment_status(&repo(), id, &status)
            .await
            .unwrap();
    }
    let sent = requests(&server).await;
    let create = body(&sent[0]);
    assert_eq!(create["ref"], SHA);
    assert_eq!(create["auto_merge"], false);
    assert_eq!(create["required_contexts"], json!([]));
    assert_eq!(create["transient_environment"], false);
    assert_eq!(create["environment"], "staging");
    let statuses: Vec<Value> = sent[1..].iter().map(body).collect();
    assert_eq!(statuses[0]["state"], "in_progress");
    assert_eq!(statuses[1]["state"], "success");
    assert_eq!(
        statuses[1]["environment_url"],
        "https://staging.example.com"
    );
    assert_eq!(
        statuses[1]["description"].as_str().unwrap().chars().count(),
        140
    );
    assert_requests_match_github(&server).await;
}

#[tokio::test]
async fn the_pull_requests_a_commit_belongs_to() {
    let server = MockServer::start().await;
    let pull =
        slipway_testkit::json_fixture("github/pull_request.opened.1.json")["pull_request"].clone();
    Mock::given(method("GET"))
        .and(path(format!(
            "/repos/Codertocat/Hello-World/commits/{}/pulls",
            sha()
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([pull])))
        .mount(&server)
        .await;
    let pulls = token_forge(&server)
        .pulls_for_commit(&repo(), &sha())
        .await
        .unwrap();
    assert_eq!(pulls, [PrNumber(2)]);
    assert_requests_match_github(&server).await;
}
