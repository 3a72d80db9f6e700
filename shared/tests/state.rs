//! The SQLite state store's run records, by the contract every state store follows.

use slipway::state::StateStore;

#[tokio::test]
async fn sqlite_keeps_runs_by_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let state = slipway::state::sqlite::SqliteState::open(&dir.path().join("slipway.db")).unwrap();
    slipway_testkit::run_store_contract(&state).await;
}

#[tokio::test]
async fn sqlite_records_deliveries_by_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let state = slipway::state::sqlite::SqliteState::open(&dir.path().join("slipway.db")).unwrap();
    slipway_testkit::delivery_store_contract(&state).await;
}

#[tokio::test]
async fn sqlite_keeps_deployments_and_locks_by_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let state = slipway::state::sqlite::SqliteState::open(&dir.path().join("slipway.db")).unwrap();
    slipway_testkit::deployment_store_contract(&state).await;
}

#[tokio::test]
async fn sqlite_keeps_the_dashboards_records_by_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let state = slipway::state::sqlite::SqliteState::open(&dir.path().join("slipway.db")).unwrap();
    slipway_testkit::records_contract(&state).await;
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

/// The statements the store ran on every open before its schema had versions, as they were.
const SCHEMA_BEFORE_MIGRATIONS: &str = "
CREATE TABLE IF NOT EXISTS deliveries (
    forge      TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (forge, id)
);
CREATE INDEX IF NOT EXISTS deliveries_expiry ON deliveries (expires_at);
CREATE TABLE IF NOT EXISTS runs (
    id         TEXT    PRIMARY KEY,
    pr_key     TEXT,
    unfinished INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    data       TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_pr ON runs (pr_key, created_at);
CREATE INDEX IF NOT EXISTS runs_unfinished ON runs (unfinished);
CREATE TABLE IF NOT EXISTS trust (
    pr_key TEXT PRIMARY KEY,
    sha    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS heads_seen (
    pr_key  TEXT    NOT NULL,
    sha     TEXT    NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (pr_key, sha)
);
CREATE TABLE IF NOT EXISTS deployments (
    id         TEXT    PRIMARY KEY,
    env_key    TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    data       TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS deployments_by_env ON deployments (env_key, created_ms);
CREATE TABLE IF NOT EXISTS locks (
    key        TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
";

#[tokio::test]
async fn a_database_made_before_migrations_opens_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slipway.db");
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch(SCHEMA_BEFORE_MIGRATIONS).unwrap();
    old.execute(
        "INSERT INTO locks (key, holder, expires_at) VALUES ('env', 'a', 4102444800)",
        [],
    )
    .unwrap();
    drop(old);

    let state = slipway::state::sqlite::SqliteState::open(&path).unwrap();
    let now = std::time::SystemTime::now();
    let ttl = std::time::Duration::from_secs(60);
    let holder = state.acquire_lock("env", "b", now, ttl).await.unwrap();
    assert_eq!(holder.as_deref(), Some("a"), "the old row is still there");
    slipway_testkit::deployment_store_contract(&state).await;
    drop(state);

    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT version FROM schema_versions WHERE store = 'state'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        version, 3,
        "the old schema is migration 1, then delivery confirmation, then the intake's own keys"
    );
    // And it opens again, migrated, with nothing to apply.
    slipway::state::sqlite::SqliteState::open(&path).unwrap();
}
