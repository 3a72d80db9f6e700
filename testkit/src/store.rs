//! Sample runs and deployments, and the contracts every `StateStore` must keep.

use std::time::{Duration, SystemTime};

pub fn now() -> SystemTime {
    SystemTime::now()
}

/// A name no other test (or earlier run against the same moto) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid_like())
}

fn uuid_like() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}

/// A run on PR `pr` (or none), created at `created_at`.
pub fn sample_run(id: &str, pr: Option<u64>, created_at: u64) -> slipway::model::run::Run {
    use slipway::model::event::RunId;
    use slipway::model::event::{CommitSha, ForgeKind, PrNumber, Repo, RepoId};
    use slipway::model::run::Run;
    use slipway::model::status::RunStatus;
    Run {
        id: RunId(id.into()),
        forge: ForgeKind::Github,
        repo: Repo {
            id: RepoId("186853002".into()),
            full_name: "Codertocat/Hello-World".into(),
            web_url: "https://github.com/Codertocat/Hello-World".into(),
            clone_url: "https://github.com/Codertocat/Hello-World.git".into(),
        },
        installation_id: Some(7),
        sha: CommitSha::parse(&"c".repeat(40)).unwrap(),
        git_ref: "feature".into(),
        pr: pr.map(PrNumber),
        trigger: slipway::model::status::Trigger::PullRequest,
        check_name: "slipway/build".into(),
        check_id: None,
        status: RunStatus::Queued,
        cancel_reason: None,
        created_at,
        finished_at: None,
        timeout_secs: 600,
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

/// What every StateStore must do with runs.
/// What every state store does with delivery records: once until they expire, and a record
/// its edge never confirmed (it died before queueing) taken over after the grace.
pub async fn delivery_store_contract(state: &dyn slipway::state::StateStore) {
    use slipway::model::event::{DeliveryId, ForgeKind};
    use slipway::state::UNCONFIRMED_GRACE;
    let (github, ttl) = (ForgeKind::Github, Duration::from_secs(3600));
    let t0 = now();
    let at = |secs: u64| t0 + Duration::from_secs(secs);
    let grace = UNCONFIRMED_GRACE.as_secs();
    let crashed = DeliveryId(unique("crashed"));
    assert!(state
        .record_delivery(github, &crashed, t0, ttl)
        .await
        .unwrap());
    assert!(
        !state
            .record_delivery(github, &crashed, at(1), ttl)
            .await
            .unwrap(),
        "in flight"
    );
    assert!(
        state
            .record_delivery(github, &crashed, at(grace + 1), ttl)
            .await
            .unwrap(),
        "never confirmed: the redelivery is taken"
    );
    assert!(!state
        .record_delivery(github, &crashed, at(grace + 2), ttl)
        .await
        .unwrap());

    let queued = DeliveryId(unique("queued"));
    assert!(state
        .record_delivery(github, &queued, t0, ttl)
        .await
        .unwrap());
    state.confirm_delivery(github, &queued).await.unwrap();
    assert!(
        !state
            .record_delivery(github, &queued, at(grace * 10), ttl)
            .await
            .unwrap(),
        "confirmed: a duplicate until it expires"
    );
    assert!(
        state
            .record_delivery(github, &queued, at(3601), ttl)
            .await
            .unwrap(),
        "expired"
    );
}

pub async fn run_store_contract(state: &dyn slipway::state::StateStore) {
    use slipway::model::event::RunId;
    use slipway::model::event::{CommitSha, ForgeKind, PrNumber, RepoId};
    use slipway::model::status::RunStatus;
    let first = sample_run("run-a", Some(7), 100);
    let second = sample_run("run-b", Some(7), 200);
    let push = sample_run("run-c", None, 150);
    let other_pr = sample_run("run-d", Some(8), 120);
    for run in [&first, &second, &push, &other_pr] {
        assert!(state.insert_run(run).await.unwrap(), "{} is new", run.id);
    }
    let mut changed = first.clone();
    changed.status = RunStatus::Failed;
    assert!(
        !state.insert_run(&changed).await.unwrap(),
        "an existing run is not replaced"
    );
    assert_eq!(
        state.get_run(&first.id).await.unwrap().unwrap().status,
        RunStatus::Queued
    );
    assert_eq!(state.get_run(&RunId("nope".into())).await.unwrap(), None);

    let repo = RepoId("186853002".into());
    let of_pr: Vec<_> = state
        .runs_for_pr(ForgeKind::Github, &repo, PrNumber(7))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id.0)
        .collect();
    assert_eq!(of_pr, ["run-a", "run-b"], "oldest first, this PR only");
    assert!(state
        .runs_for_pr(ForgeKind::Gitlab, &repo, PrNumber(7))
        .await
        .unwrap()
        .is_empty());

    let mut done = second.clone();
    done.status = RunStatus::Succeeded;
    done.finished_at = Some(300);
    assert!(state.save_run(&done, RunStatus::Queued).await.unwrap());
    assert_eq!(state.get_run(&done.id).await.unwrap().unwrap(), done);
    // Compare-and-set: a writer that read it earlier cannot move it back, nor over it.
    let mut late = second.clone();
    late.status = RunStatus::Running;
    assert!(!state.save_run(&late, RunStatus::Running).await.unwrap());
    let mut cancelled = second.clone();
    cancelled.status = RunStatus::Cancelled;
    assert!(!state
        .save_run(&cancelled, RunStatus::Running)
        .await
        .unwrap());
    assert!(!state.save_run(&cancelled, RunStatus::Queued).await.unwrap());
    assert_eq!(
        state.get_run(&done.id).await.unwrap().unwrap(),
        done,
        "unchanged"
    );
    let unfinished: Vec<_> = state
        .unfinished_runs()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id.0)
        .collect();
    assert_eq!(
        unfinished,
        ["run-a", "run-d", "run-c"],
        "finished runs leave, oldest first"
    );

    let sha1 = CommitSha::parse(&"1".repeat(40)).unwrap();
    let sha2 = CommitSha::parse(&"2".repeat(40)).unwrap();
    let trusted = |pr| state.trusted_sha(ForgeKind::Github, &repo, PrNumber(pr));
    assert_eq!(trusted(7).await.unwrap(), None);
    state
        .set_trusted_sha(ForgeKind::Github, &repo, PrNumber(7), &sha1)
        .await
        .unwrap();
    state
        .set_trusted_sha(ForgeKind::Github, &repo, PrNumber(7), &sha2)
        .await
        .unwrap();
    assert_eq!(
        trusted(7).await.unwrap(),
        Some(sha2),
        "the latest trust wins"
    );
    assert_eq!(trusted(8).await.unwrap(), None);
}

/// A deployment of `sha` (one repeated hex digit) to `environment`.
pub fn sample_deployment(
    id: &str,
    environment: &str,
    sha: char,
    created_ms: u64,
) -> slipway::model::deploy::DeploymentRecord {
    let run = sample_run("unused", Some(1), 0);
    slipway::model::deploy::DeploymentRecord {
        id: id.into(),
        forge: run.forge,
        repo: run.repo,
        installation_id: Some(7),
        environment: environment.into(),
        kind: slipway::model::deploy::DeployKind::Deploy,
        sha: slipway::model::event::CommitSha::parse(&sha.to_string().repeat(40)).unwrap(),
        git_ref: "main".into(),
        image: None,
        artifacts_manifest: None,
        actor: "octocat".into(),
        pr: Some(slipway::model::event::PrNumber(1)),
        status: slipway::model::deploy::DeployStatus::InProgress,
        reason: None,
        previous: None,
        forge_deployment: None,
        run_id: None,
        url: None,
        created_ms,
        finished_at: None,
        applied: false,
    }
}

/// What every StateStore must do with deployments and locks.
pub async fn deployment_store_contract(state: &dyn slipway::state::StateStore) {
    use slipway::model::deploy::DeployStatus;
    let repo = sample_run("unused", None, 0).repo;
    let forge = slipway::model::event::ForgeKind::Github;
    let first = sample_deployment(&unique("d1"), "staging", 'a', 1_000);
    let second = sample_deployment(&unique("d2"), "staging", 'b', 2_000);
    let other = sample_deployment(&unique("d3"), "production", 'a', 1_500);
    for d in [&second, &first, &other] {
        state.save_deployment(d).await.unwrap();
    }
    let mut finished = first.clone();
    finished.status = DeployStatus::Succeeded;
    state.save_deployment(&finished).await.unwrap();
    let staging = state.deployments(forge, &repo.id, "staging").await.unwrap();
    assert_eq!(
        staging,
        [finished.clone(), second.clone()],
        "oldest first, updated in place"
    );
    assert_eq!(
        state
            .deployments(forge, &repo.id, "production")
            .await
            .unwrap(),
        [other]
    );
    assert!(state
        .deployments(forge, &repo.id, "qa")
        .await
        .unwrap()
        .is_empty());

    let key = unique("lock");
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let ttl = Duration::from_secs(60);
    assert_eq!(
        state.acquire_lock(&key, "alice", now, ttl).await.unwrap(),
        None
    );
    assert_eq!(
        state.acquire_lock(&key, "alice", now, ttl).await.unwrap(),
        None,
        "already ours"
    );
    assert_eq!(
        state.acquire_lock(&key, "bob", now, ttl).await.unwrap(),
        Some("alice".into())
    );
    state.release_lock(&key, "bob").await.unwrap();
    assert_eq!(
        state.acquire_lock(&key, "bob", now, ttl).await.unwrap(),
        Some("alice".into()),
        "only the holder releases"
    );
    let later = now + ttl + Duration::from_secs(1);
    assert_eq!(
        state.acquire_lock(&key, "bob", later, ttl).await.unwrap(),
        None,
        "expired"
    );
    state.release_lock(&key, "bob").await.unwrap();
    assert_eq!(
        state.acquire_lock(&key, "carol", later, ttl).await.unwrap(),
        None
    );
}

/// What every store of the dashboard's records must do, on a store nothing else writes to.
pub async fn records_contract(state: &dyn slipway::state::Records) {
    use slipway::model::deploy::DeployStatus;
    use slipway::model::event::CommitSha;
    let ids = |runs: &[slipway::model::run::Run]| -> Vec<String> {
        runs.iter().map(|r| r.id.0.clone()).collect()
    };
    let opened = sample_run(&unique("r1"), Some(3), 100);
    let pushed = sample_run(&unique("r2"), None, 200);
    let synchronized = sample_run(&unique("r3"), Some(3), 300);
    for run in [&synchronized, &opened, &pushed] {
        assert!(state.insert_run(run).await.unwrap());
    }
    assert_eq!(
        ids(&state.recent_runs(2).await.unwrap()),
        ids(&[synchronized.clone(), pushed.clone()]),
        "newest first, no more than asked"
    );
    assert_eq!(state.recent_runs(10).await.unwrap().len(), 3);
    // The pull request's runs build the same commit: they are not the pushed commit's.
    assert_eq!(opened.sha, pushed.sha);
    let forge = pushed.forge;
    assert_eq!(
        ids(&state
            .runs_for_commit(forge, &pushed.repo.id, &pushed.sha)
            .await
            .unwrap()),
        ids(std::slice::from_ref(&pushed))
    );
    let elsewhere = CommitSha::parse(&"f".repeat(40)).unwrap();
    assert!(state
        .runs_for_commit(forge, &pushed.repo.id, &elsewhere)
        .await
        .unwrap()
        .is_empty());

    let first = sample_deployment(&unique("d1"), "staging", 'a', 1_000_000);
    let newest = sample_deployment(&unique("d2"), "production", 'a', 3_000_000);
    let middle = sample_deployment(&unique("d3"), "staging", 'b', 2_000_000);
    for d in [&first, &newest, &middle] {
        state.save_deployment(d).await.unwrap();
    }
    let mut finished = first.clone();
    finished.status = DeployStatus::Succeeded;
    state.save_deployment(&finished).await.unwrap();
    let recent = state.recent_deployments(2).await.unwrap();
    assert_eq!(recent, [newest.clone(), middle.clone()], "newest first");
    assert_eq!(
        state.recent_deployments(10).await.unwrap(),
        [newest, middle, finished],
        "updated in place"
    );

    let key = unique("ENV#lock");
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    assert_eq!(state.lock_holder(&key, 1_000_000).await.unwrap(), None);
    state
        .acquire_lock(&key, "alice", now, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        state.lock_holder(&key, 1_000_000).await.unwrap().as_deref(),
        Some("alice")
    );
    assert_eq!(
        state.lock_holder(&key, 1_000_060).await.unwrap(),
        None,
        "expired, though still stored"
    );
}
