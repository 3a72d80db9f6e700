use super::*;
use crate::model::deploy::Previous;
use crate::model::event::{CommitSha, ForgeKind, Repo, RepoId};

const DAY: u64 = SECS_PER_DAY;
const END: u64 = 1_800_000_000;

fn sha(n: u8) -> CommitSha {
    CommitSha::parse(&format!("{n:02x}").repeat(20)).unwrap()
}

/// A deploy `id` of `kind` that started `at - 60` and ended at `at` (Unix seconds).
fn record(id: &str, kind: DeployKind, status: DeployStatus, at: u64) -> DeploymentRecord {
    DeploymentRecord {
        id: id.into(),
        forge: ForgeKind::Github,
        repo: Repo {
            id: RepoId("1".into()),
            full_name: "octo/app".into(),
            web_url: String::new(),
            clone_url: String::new(),
        },
        installation_id: None,
        environment: "production".into(),
        kind,
        sha: sha(id.len() as u8),
        git_ref: "main".into(),
        image: None,
        artifacts_manifest: None,
        actor: "writer".into(),
        pr: None,
        status,
        reason: None,
        previous: None,
        forge_deployment: None,
        run_id: None,
        url: None,
        created_ms: (at - 60) * 1000,
        finished_at: (status != DeployStatus::InProgress).then_some(at),
        applied: false,
    }
}

fn ok(id: &str, at: u64) -> DeploymentRecord {
    record(id, DeployKind::Deploy, DeployStatus::Succeeded, at)
}

fn failed(id: &str, at: u64) -> DeploymentRecord {
    record(id, DeployKind::Deploy, DeployStatus::Failed, at)
}

fn rollback_of(id: &str, undone: &str, at: u64) -> DeploymentRecord {
    let mut r = record(id, DeployKind::Rollback, DeployStatus::Succeeded, at);
    r.previous = Some(Previous {
        sha: sha(1),
        image: None,
        deployment_id: undone.into(),
    });
    r
}

fn week() -> Window {
    Window { end: END, days: 7 }
}

#[test]
fn nothing_deployed_measures_nothing() {
    let d = dora(&[], |_| None, week());
    assert_eq!(d.deploys, 0);
    assert_eq!(d.deploys_per_day, 0.0);
    assert_eq!(d.lead_time_secs, None);
    assert_eq!(d.change_failure_rate, None);
    assert_eq!(d.time_to_restore_secs, None);
    assert_eq!(d.deploys_by_day, vec![0; 7]);
}

#[test]
fn each_measure_from_a_week_of_records() {
    // Day by day: two good deploys, a failed one fixed an hour later, a deploy rolled back
    // half an hour after it went live, one outside the window, one still running.
    let records = vec![
        ok("old", END - 30 * DAY),
        ok("a", END - 6 * DAY),
        ok("b", END - 5 * DAY),
        failed("c", END - 4 * DAY),
        ok("d", END - 4 * DAY + 3600),
        ok("e", END - 2 * DAY),
        rollback_of("r", "e", END - 2 * DAY + 1800),
        record("f", DeployKind::Deploy, DeployStatus::InProgress, END - 10),
        ok("now", END),
    ];
    // Each change started two hours before its deploy ended.
    let d = dora(&records, |r| Some(r.finished_at.unwrap() - 7200), week());
    assert_eq!(
        d.deploys, 5,
        "a, b, d, e, now: the rollback and the failure are not deploys"
    );
    assert!((d.deploys_per_day - 5.0 / 7.0).abs() < 1e-9);
    assert_eq!(d.lead_time_secs, Some(7200));
    assert_eq!(
        (d.failed_deploys, d.finished_deploys),
        (2, 6),
        "c failed, e rolled back"
    );
    assert_eq!(d.change_failure_rate, Some(2.0 / 6.0));
    // c: restored by d an hour later; e: restored by its rollback half an hour later.
    assert_eq!(d.time_to_restore_secs, Some((3600 + 1800) / 2));
    assert_eq!(d.unrestored, 0);
    assert_eq!(
        d.deploys_by_day,
        vec![0, 1, 1, 1, 0, 1, 1],
        "one finished this second"
    );
}

#[test]
fn a_failure_not_yet_followed_by_a_good_deploy_is_unrestored() {
    let records = vec![ok("a", END - 3 * DAY), failed("b", END - DAY)];
    let d = dora(&records, |_| None, week());
    assert_eq!(d.time_to_restore_secs, None);
    assert_eq!(d.unrestored, 1);
    assert_eq!(
        d.lead_time_secs, None,
        "no change start known, no lead time"
    );
}

#[test]
fn an_applied_deploy_whose_bookkeeping_failed_counts_as_live() {
    let mut applied = failed("a", END - DAY);
    applied.applied = true;
    let d = dora(&[applied], |_| None, week());
    assert_eq!((d.deploys, d.failed_deploys), (1, 0));
}

#[test]
fn medians_of_even_and_odd_counts() {
    let cases: [(&[u64], Option<u64>); 4] = [
        (&[], None),
        (&[5], Some(5)),
        (&[1, 9, 5], Some(5)),
        (&[10, 2, 4, 8], Some(6)),
    ];
    for (values, want) in cases {
        assert_eq!(median(values.to_vec()), want, "{values:?}");
    }
}

#[test]
fn only_the_windows_live_deploys_have_a_lead_time_to_read() {
    let cases = [
        (ok("in", END - 60), true, "a live deploy in the window"),
        (ok("old", END - 8 * DAY), false, "before the window"),
        (failed("failed", END - 60), false, "a failed deploy"),
        (rollback_of("back", "in", END - 30), false, "a rollback"),
    ];
    for (record, expected, why) in cases {
        assert_eq!(has_lead_time(&record, week()), expected, "{why}");
    }
    // Each record dora gives a lead time is one of them.
    let records: Vec<_> = [
        ok("a", END - 60),
        failed("b", END - 50),
        ok("c", END - 9 * DAY),
    ]
    .into();
    let asked = std::cell::RefCell::new(Vec::new());
    dora(
        &records,
        |r| {
            asked.borrow_mut().push(r.id.clone());
            Some(0)
        },
        week(),
    );
    for id in asked.into_inner() {
        let record = records.iter().find(|r| r.id == id).unwrap();
        assert!(has_lead_time(record, week()), "{id}");
    }
}
