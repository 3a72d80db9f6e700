//! Sticky comments, truncation, reactions and permissions.

use super::*;

fn comment(id: u64, login: &str, body: &str) -> Value {
    json!({ "id": id, "body": body, "user": { "login": login, "id": id, "type": "User" } })
}

async fn mount_login(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "login": "slipway-bot" })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn the_sticky_comment_is_updated_in_place_and_never_someone_elses() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    let marker = "<!-- slipway:build -->";
    Mock::given(method("GET"))
        .and(path("/repos/Codertocat/Hello-World/issues/2/comments"))
        .and(query_param("per_page", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            comment(3, "mallory", &format!("{marker}\nfake")),
            comment(8, "slipway-bot", &format!("{marker}\nold")),
        ])))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/Codertocat/Hello-World/issues/comments/8"))
        .respond_with(ResponseTemplate::new(200).set_body_json(comment(8, "slipway-bot", "new")))
        .expect(1)
        .mount(&server)
        .await;
    let forge = token_forge(&server);
    let id = upsert_sticky_comment(
        &forge,
        &repo(),
        PrNumber(2),
        marker,
        "new body",
        &slipway::render::comment_cut_note(None),
    )
    .await
    .unwrap();
    assert_eq!(id, CommentId(8));
    let sent = requests(&server).await;
    let patch = sent.iter().find(|r| r.method.as_str() == "PATCH").unwrap();
    assert_eq!(body(patch)["body"], format!("{marker}\nnew body"));
    assert!(
        sent.iter().all(|r| r.method.as_str() != "POST"),
        "no second comment"
    );
    assert_requests_match_github(&server).await;
}

#[tokio::test]
async fn a_raced_sticky_comment_converges_on_the_oldest() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    let marker = "<!-- slipway:build -->";
    let list = "/repos/Codertocat/Hello-World/issues/2/comments";
    // First listing: nothing yet. After our create, a concurrent call's comment (5) is older.
    Mock::given(method("GET"))
        .and(path(list))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(list))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            comment(5, "slipway-bot", &format!("{marker}\ntheirs")),
            comment(9, "slipway-bot", &format!("{marker}\nours")),
        ])))
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(list))
        .respond_with(ResponseTemplate::new(201).set_body_json(comment(9, "slipway-bot", "ours")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/Codertocat/Hello-World/issues/comments/5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(comment(5, "slipway-bot", "ours")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/repos/Codertocat/Hello-World/issues/comments/9"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let forge = token_forge(&server);
    let id = upsert_sticky_comment(
        &forge,
        &repo(),
        PrNumber(2),
        marker,
        "ours",
        &slipway::render::comment_cut_note(None),
    )
    .await
    .unwrap();
    assert_eq!(id, CommentId(5));
    assert_requests_match_github(&server).await;
}

#[tokio::test]
async fn comments_over_the_limit_are_cut_at_a_line_with_a_link() {
    let server = MockServer::start().await;
    mount_login(&server).await;
    Mock::given(method("GET"))
        .and(path("/repos/Codertocat/Hello-World/issues/2/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/Codertocat/Hello-World/issues/2/comments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(comment(1, "slipway-bot", "x")))
        .mount(&server)
        .await;
    let long: String = (0..10_000)
        .map(|i| format!("| step {i} | passed |\n"))
        .collect();
    let forge = token_forge(&server);
    upsert_sticky_comment(
        &forge,
        &repo(),
        PrNumber(2),
        "<!-- slipway:build -->",
        &long,
        &slipway::render::comment_cut_note(Some("https://slipway.example/runs/1")),
    )
    .await
    .unwrap();
    let sent = requests(&server).await;
    let post = sent.iter().find(|r| r.method.as_str() == "POST").unwrap();
    let text = body(post)["body"].as_str().unwrap().to_owned();
    assert!(text.chars().count() <= 65_536);
    assert!(text.starts_with("<!-- slipway:build -->\n"));
    assert!(text.contains("https://slipway.example/runs/1"));
    assert!(
        text.contains("| passed |\n\n_This comment was cut"),
        "cut after a whole line"
    );
}

#[tokio::test]
async fn reactions_use_githubs_content_names() {
    let server = MockServer::start().await;
    for (content, status) in [("eyes", 201), ("rocket", 201), ("confused", 200)] {
        Mock::given(method("POST"))
            .and(path(
                "/repos/Codertocat/Hello-World/issues/comments/9/reactions",
            ))
            .and(body_partial_json(json!({ "content": content })))
            .respond_with(
                ResponseTemplate::new(status).set_body_json(json!({ "id": 1, "content": content })),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let forge = token_forge(&server);
    for reaction in [Reaction::Eyes, Reaction::Rocket, Reaction::Confused] {
        forge
            .add_reaction(&repo(), PrNumber(2), CommentId(9), reaction)
            .await
            .unwrap();
    }
    assert_requests_match_github(&server).await;
}

#[tokio::test]
async fn permission_for_every_role() {
    let server = MockServer::start().await;
    let cases = [
        ("ann", "admin", Some("admin"), Permission::Admin),
        ("max", "write", Some("maintain"), Permission::Maintain),
        ("wil", "write", Some("write"), Permission::Write),
        ("tri", "read", Some("triage"), Permission::Triage),
        ("rea", "read", Some("read"), Permission::Read),
        ("non", "none", None, Permission::None),
        ("cus", "write", Some("custom-deployer"), Permission::Write),
    ];
    for (login, permission, role, _) in cases {
        let mut answer = json!({ "permission": permission, "user": { "login": login } });
        if let Some(role) = role {
            answer["role_name"] = role.into();
        }
        Mock::given(method("GET"))
            .and(path(format!(
                "/repos/Codertocat/Hello-World/collaborators/{login}/permission"
            )))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path(
            "/repos/Codertocat/Hello-World/collaborators/ghost/permission",
        ))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "message": "Not Found" })))
        .mount(&server)
        .await;
    let forge = token_forge(&server);
    let user = |login: &str| User {
        id: 1,
        login: Some(login.into()),
        is_bot: false,
    };
    for (login, _, _, expected) in cases {
        assert_eq!(
            forge.permission(&repo(), &user(login)).await.unwrap(),
            expected,
            "{login}"
        );
    }
    assert_eq!(
        forge.permission(&repo(), &user("ghost")).await.unwrap(),
        Permission::None
    );
    assert_requests_match_github(&server).await;
}
