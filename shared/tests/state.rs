//! The SQLite state store's run records, by the contract every state store follows.

mod support;

#[tokio::test]
async fn sqlite_keeps_runs_by_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let state = slipway::state::sqlite::SqliteState::open(&dir.path().join("slipway.db")).unwrap();
    support::run_store_contract(&state).await;
}
