//! One SQLite file shared by the embedded adapters (state, queue, local forge), each with its own
//! connection; WAL lets readers and the writer work side by side.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use crate::BoxError;

#[derive(Clone)]
pub struct Db(Arc<Mutex<Connection>>);

impl Db {
    /// Open (creating the directory and file as needed) and apply `schema`.
    pub fn open(path: &Path, schema: &str) -> Result<Db, BoxError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(schema)?;
        Ok(Db(Arc::new(Mutex::new(conn))))
    }

    /// Run `f` on the connection off the async executor: SQLite calls block (fsync).
    pub async fn call<T, E, F>(&self, f: F) -> Result<T, BoxError>
    where
        T: Send + 'static,
        E: Into<BoxError> + 'static,
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
