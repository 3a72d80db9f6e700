//! ChatOps and deploys over the fake GitHub, driven as GitHub would: comments, pull requests
//! and pushes dispatched to a pipeline with real local builds.

use std::path::Path;

use serde_json::{json, Value};
use slipway::app::pipeline::Pipeline;
use slipway::model::event::{
    Comment, CommentAction, CommitSha, DeliveryId, Event, EventKind, ForgeKind, PrAction, PrNumber,
    PullRequest, QueuedEvent, Repo, RepoId, User,
};
use slipway::runner::local::{Completion, LocalRunner};
use slipway::state::sqlite::SqliteState;
use tokio::sync::mpsc::UnboundedReceiver;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

use crate::github::{FakeGithub, REPO};

pub const AUTHOR_ID: u64 = 21031067;

/// A stable user id per login (the pull request's author has the fixture's).
pub fn user_id(login: &str) -> u64 {
    if login == "Codertocat" {
        return AUTHOR_ID;
    }
    login
        .bytes()
        .fold(5_000u64, |id, b| id.wrapping_mul(31).wrapping_add(b as u64))
}

pub struct Harness {
    pub gh: FakeGithub,
    pub pipeline: Pipeline<SqliteState, LocalRunner>,
    pub completions: UnboundedReceiver<Completion>,
    /// The edge's clock: each delivery is received a second after the one before.
    clock: std::sync::atomic::AtomicU64,
}

pub fn repo() -> Repo {
    Repo {
        id: RepoId("186853002".into()),
        full_name: "Codertocat/Hello-World".into(),
        web_url: String::new(),
        clone_url: String::new(),
    }
}

impl Harness {
    /// The scenario on a fresh fake GitHub, building with `agent` (the `slipway` binary).
    pub async fn new(agent: impl AsRef<Path>) -> Harness {
        Harness::start(agent.as_ref(), None).await
    }

    /// As [`Harness::new`], with run links under `public_url`.
    pub async fn with_public_url(agent: impl AsRef<Path>, public_url: &str) -> Harness {
        Harness::start(agent.as_ref(), Some(public_url)).await
    }

    async fn start(agent: &Path, public_url: Option<&str>) -> Harness {
        let gh = FakeGithub::start().await;
        let users = [
            ("Codertocat", "read"),
            ("nobody", "none"),
            ("reader", "read"),
            ("triager", "triage"),
            ("writer", "write"),
            ("maintainer", "maintain"),
            ("admin", "admin"),
        ];
        for (login, role) in users {
            let permission = if role == "triage" {
                "read"
            } else if role == "maintain" {
                "write"
            } else {
                role
            };
            Mock::given(method("GET"))
                .and(path(format!("{REPO}/collaborators/{login}/permission")))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_json(json!({ "permission": permission, "role_name": role })),
                )
                .mount(&gh.server)
                .await;
        }
        Mock::given(method("POST"))
            .and(path_regex(
                r"^/repos/Codertocat/Hello-World/issues/comments/\d+/reactions$",
            ))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
            .mount(&gh.server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{REPO}/pulls/2/reviews")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .mount(&gh.server)
            .await;
        let (pipeline, completions) = crate::github::local_pipeline(&gh, agent, public_url).await;
        Harness {
            gh,
            pipeline,
            completions,
            clock: std::sync::atomic::AtomicU64::new(1_000),
        }
    }

    /// GitHub answers `GET /pulls/2` with this head (highest priority wins, so the latest call counts).
    pub async fn pull_request_head(&self, sha: &CommitSha, fork: bool, priority: u8) {
        let mut pull = crate::fixtures::json_fixture("github/pull_request.opened.1.json");
        let mut pull = pull["pull_request"].take();
        pull["head"]["sha"] = sha.as_str().into();
        if fork {
            pull["head"]["repo"]["id"] = 999.into();
        }
        Mock::given(method("GET"))
            .and(path(format!("{REPO}/pulls/2")))
            .respond_with(ResponseTemplate::new(200).set_body_json(pull))
            .with_priority(priority)
            .mount(&self.gh.server)
            .await;
    }

    pub async fn comment(&self, id: u64, login: &str, body: &str) {
        let user_id = if login == "Codertocat" {
            AUTHOR_ID
        } else {
            1000 + id
        };
        let queued = QueuedEvent {
            delivery: DeliveryId(format!("comment-{id}")),
            received_at: self.tick(),
            event: Event {
                forge: ForgeKind::Github,
                repo: Some(repo()),
                installation_id: None,
                sender: None,
                name: "issue_comment.created".into(),
                kind: EventKind::Comment {
                    action: CommentAction::Created,
                    pr: PrNumber(2),
                    pr_head_sha: None,
                    comment: Comment {
                        id,
                        author: User {
                            id: user_id,
                            login: Some(login.into()),
                            is_bot: false,
                        },
                        body: Some(body.into()),
                        written_at: None,
                    },
                },
            },
        };
        self.pipeline.dispatch(&queued).await.unwrap();
    }

    /// A pull request event for PR 2 with head `sha`, received now (by the edge's clock).
    pub fn pull_request_event(
        &self,
        delivery: &str,
        action: PrAction,
        sha: &CommitSha,
        fork: bool,
    ) -> QueuedEvent {
        QueuedEvent {
            delivery: DeliveryId(delivery.into()),
            received_at: self.tick(),
            event: Event {
                forge: ForgeKind::Github,
                repo: Some(repo()),
                installation_id: None,
                sender: None,
                name: "pull_request".into(),
                kind: EventKind::PullRequest {
                    action,
                    pr: PullRequest {
                        number: PrNumber(2),
                        head_sha: sha.clone(),
                        head_branch: "changes".into(),
                        base_branch: "master".into(),
                        from_fork: fork,
                        draft: false,
                        author: User {
                            id: AUTHOR_ID,
                            login: Some("Codertocat".into()),
                            is_bot: false,
                        },
                    },
                },
            },
        }
    }

    pub async fn pull_request(
        &self,
        delivery: &str,
        action: PrAction,
        sha: &CommitSha,
        fork: bool,
    ) {
        let queued = self.pull_request_event(delivery, action, sha, fork);
        self.pipeline.dispatch(&queued).await.unwrap();
    }

    /// The reactions put on comment `id`, in order.
    pub async fn reactions(&self, id: u64) -> Vec<String> {
        self.gh
            .requests(&format!("{REPO}/issues/comments/{id}/reactions"), "POST")
            .await
            .iter()
            .map(|b| b["content"].as_str().unwrap().to_owned())
            .collect()
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }

    /// Wait for the next local build to end and report it, as `slipway serve` does.
    pub async fn report_next(&mut self) -> slipway::model::event::RunId {
        crate::github::report_next(&self.pipeline, &mut self.completions).await
    }
}

impl Harness {
    /// GitHub answers `GET /pulls/2/reviews` with these (login, state) pairs, given on
    /// commit `on`, from now on.
    pub async fn reviews(&self, reviews: &[(&str, &str)], on: &CommitSha, priority: u8) {
        let body: Vec<Value> = reviews
            .iter()
            .map(|(login, state)| {
                let user = json!({ "login": login, "id": user_id(login), "type": "User" });
                json!({ "user": user, "state": state, "commit_id": on.as_str() })
            })
            .collect();
        Mock::given(method("GET"))
            .and(path(format!("{REPO}/pulls/2/reviews")))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .with_priority(priority)
            .mount(&self.gh.server)
            .await;
    }

    /// GitHub takes deployments (id 42) and their statuses.
    pub async fn accept_deployments(&self) {
        Mock::given(method("POST"))
            .and(path(format!("{REPO}/deployments")))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 42 })))
            .mount(&self.gh.server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("{REPO}/deployments/42/statuses")))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
            .mount(&self.gh.server)
            .await;
    }

    /// A push of `sha` to `branch`, as GitHub's push event says it.
    pub async fn push(&self, delivery: &str, branch: &str, before: &CommitSha, sha: &CommitSha) {
        let queued = QueuedEvent {
            delivery: DeliveryId(delivery.into()),
            received_at: self.tick(),
            event: Event {
                forge: ForgeKind::Github,
                repo: Some(repo()),
                installation_id: None,
                sender: None,
                name: "push".into(),
                kind: EventKind::Push {
                    git_ref: format!("refs/heads/{branch}"),
                    before: before.clone(),
                    after: sha.clone(),
                    deleted: false,
                },
            },
        };
        self.pipeline.dispatch(&queued).await.unwrap();
    }
}

/// A finished green build of `sha` on pull request 2, as the state would hold it.
pub fn green_build(sha: &CommitSha) -> slipway::model::run::Run {
    slipway::model::run::Run {
        id: slipway::model::event::RunId(format!("green-{}", sha.short())),
        forge: ForgeKind::Github,
        repo: repo(),
        installation_id: None,
        sha: sha.clone(),
        git_ref: "changes".into(),
        pr: Some(PrNumber(2)),
        trigger: slipway::model::status::Trigger::PullRequest,
        check_name: "slipway/build".into(),
        check_id: None,
        status: slipway::model::status::RunStatus::Succeeded,
        cancel_reason: None,
        created_at: 1_000,
        finished_at: Some(1_010),
        timeout_secs: 60,
        runner_ref: None,
        artifacts: Vec::new(),
        image: None,
        deployment: None,
        policy_changed: false,
        sweep_attempts: 0,
        actor: None,
        artifact_count: 0,
    }
}
