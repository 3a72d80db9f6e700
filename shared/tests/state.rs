//! The SQLite state store's run records, by the contract every state store follows.

mod support;

use slipway::state::StateStore;

#[tokio::test]
async fn sqlite_keeps_runs_by_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let state = slipway::state::sqlite::SqliteState::open(&dir.path().join("slipway.db")).unwrap();
    support::run_store_contract(&state).await;
}

#[tokio::test]
async fn sqlite_keeps_deployments_and_locks_by_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let state = slipway::state::sqlite::SqliteState::open(&dir.path().join("slipway.db")).unwrap();
    support::deployment_store_contract(&state).await;
}

#[tokio::test]
async fn two_racing_deploys_take_one_lock() {
    let dir = tempfile::tempdir().unwrap();
    let state = slipway::state::sqlite::SqliteState::open(&dir.path().join("slipway.db")).unwrap();
    let now = std::time::SystemTime::now();
    let ttl = std::time::Duration::from_secs(60);
    let (a, b) = tokio::join!(
        state.acquire_lock("env", "a", now, ttl),
        state.acquire_lock("env", "b", now, ttl)
    );
    let winners = [a.unwrap(), b.unwrap()]
        .iter()
        .filter(|h| h.is_none())
        .count();
    assert_eq!(winners, 1);
}
