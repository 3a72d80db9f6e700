//! One SQLite file shared by the embedded adapters (state, queue, local forge), each with its own
//! connection; WAL lets readers and the writer work side by side.
//!
//! Each store's schema is a list of migrations, applied in order and recorded per store in the
//! `schema_versions` table: the next schema change is one more migration. (Not `PRAGMA
//! user_version`, nor `rusqlite_migration`, which keys on it: the file has one user_version and
//! three stores, each opened on its own.)

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::model::error::ErrorKind;

/// What can go wrong with the embedded database, for the stores built on it to classify.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// A row that does not convert to or from its JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Creating the database's directory.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(
        "the database's {store} schema is at version {current}, newer than this Slipway's \
         {known}: use the Slipway that wrote it"
    )]
    NewerSchema {
        store: String,
        current: i64,
        known: i64,
    },
    /// Another process holds the database's intake lock (`intake::sqlite`).
    #[error(
        "another Slipway is taking deliveries into {0} (its intake lock is held); one process \
         at a time may"
    )]
    InUse(std::path::PathBuf),
    /// The blocking task that held the connection panicked.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}

impl DbError {
    /// Busy and locked mean another connection holds the file past the busy timeout: a later
    /// try may get it. Anything else repeats.
    pub fn kind(&self) -> ErrorKind {
        use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
        match self {
            DbError::Sqlite(e)
                if matches!(e.sqlite_error_code(), Some(DatabaseBusy | DatabaseLocked)) =>
            {
                ErrorKind::Retryable
            }
            _ => ErrorKind::Permanent,
        }
    }
}

#[derive(Clone)]
pub struct Db(Arc<Mutex<Connection>>);

impl Db {
    /// Open (creating the directory and file as needed) and bring `store`'s schema up to date:
    /// `migrations[n]` takes it from version `n` to `n + 1`. A store at a version this code does
    /// not know (a newer Slipway wrote it) is refused.
    pub fn open(path: &Path, store: &str, migrations: &[&str]) -> Result<Db, DbError> {
        let mut conn = connect(path)?;
        migrate(&mut conn, store, migrations)?;
        Ok(Db(Arc::new(Mutex::new(conn))))
    }

    /// Run `f` on the connection off the async executor: SQLite calls block (fsync).
    pub async fn call<T, E, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        E: Into<DbError> + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let conn = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard).map_err(Into::into)
        })
        .await?
    }
}

/// A connection to the file at `path` (created, with its directory, as needed), in WAL mode so
/// that readers and the one writer work side by side.
pub(crate) fn connect(path: &Path) -> Result<Connection, DbError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// Apply `store`'s migrations past its recorded version, all in one transaction taken for
/// writing up front, so two processes opening the file at once migrate it once.
pub(crate) fn migrate(
    conn: &mut Connection,
    store: &str,
    migrations: &[&str],
) -> Result<(), DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_versions (
            store   TEXT    PRIMARY KEY,
            version INTEGER NOT NULL
        );",
    )?;
    let current: i64 = tx
        .query_row(
            "SELECT version FROM schema_versions WHERE store = ?1",
            [store],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let known = migrations.len() as i64;
    if current > known {
        return Err(DbError::NewerSchema {
            store: store.to_owned(),
            current,
            known,
        });
    }
    for migration in &migrations[current as usize..] {
        tx.execute_batch(migration)?;
    }
    if current < known {
        tx.execute(
            "INSERT INTO schema_versions (store, version) VALUES (?1, ?2)
             ON CONFLICT (store) DO UPDATE SET version = excluded.version",
            rusqlite::params![store, known],
        )?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str =
        "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);";
    const V2: &str = "ALTER TABLE notes ADD COLUMN author TEXT NOT NULL DEFAULT '';";

    fn version(path: &Path, store: &str) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row(
                "SELECT version FROM schema_versions WHERE store = ?1",
                [store],
                |r| r.get(0),
            )
            .unwrap()
    }

    #[test]
    fn a_database_from_before_versions_adopts_migration_one_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slipway.db");
        // What the code before migrations did: the schema, applied as is, no version anywhere.
        let old = Connection::open(&path).unwrap();
        old.execute_batch(V1).unwrap();
        old.execute("INSERT INTO notes (text) VALUES ('kept')", [])
            .unwrap();
        drop(old);

        let db = Db::open(&path, "notes", &[V1]).unwrap();
        assert_eq!(version(&path, "notes"), 1);
        drop(db);
        // The next schema change is a migration: only it runs, and the row is still there.
        Db::open(&path, "notes", &[V1, V2]).unwrap();
        assert_eq!(version(&path, "notes"), 2);
        let conn = Connection::open(&path).unwrap();
        let (text, author): (String, String) = conn
            .query_row("SELECT text, author FROM notes", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((text.as_str(), author.as_str()), ("kept", ""));
        // Opening again applies nothing (V2 twice would fail: the column exists).
        Db::open(&path, "notes", &[V1, V2]).unwrap();
    }

    #[test]
    fn stores_in_one_file_keep_their_own_versions_and_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slipway.db");
        Db::open(&path, "notes", &[V1, V2]).unwrap();
        Db::open(&path, "other", &["CREATE TABLE other (x INTEGER);"]).unwrap();
        assert_eq!(version(&path, "notes"), 2);
        assert_eq!(version(&path, "other"), 1);
        let error = Db::open(&path, "notes", &[V1]).err().unwrap();
        assert_eq!(error.kind(), ErrorKind::Permanent);
        let error = error.to_string();
        assert!(error.contains("version 2, newer"), "{error}");
    }

    #[test]
    fn a_busy_database_is_worth_another_try() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slipway.db");
        let holder = Connection::open(&path).unwrap();
        holder
            .execute_batch("BEGIN EXCLUSIVE; CREATE TABLE t (x INTEGER);")
            .unwrap();
        let other = Connection::open(&path).unwrap();
        other.busy_timeout(Duration::ZERO).unwrap(); // give up at once rather than in 5 s
        let busy = other
            .execute_batch("CREATE TABLE u (x INTEGER);")
            .unwrap_err();
        assert_eq!(DbError::from(busy).kind(), ErrorKind::Retryable);
    }
}
