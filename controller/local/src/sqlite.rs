//! The embedded store: one SQLite file, shared safely by every process on
//! the machine (a running controller, `cutover history` and `cutover
//! rollback` in another terminal). WAL mode; every write is one
//! `BEGIN IMMEDIATE` transaction, so checks and writes cannot interleave
//! with another process's.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cutover_core::audit::{self, Record, Trail};
use cutover_core::engine::{CutoverState, Event};
use cutover_core::store::{Lease, Request, Store, StoreError, Stored, TimeScale};
use cutover_core::units::Timestamp;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cutovers (
    id          TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    state       TEXT NOT NULL,
    plan        TEXT NOT NULL,
    speed       REAL NOT NULL,
    anchor_ms   INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    head        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    cutover_id  TEXT NOT NULL REFERENCES cutovers(id),
    version     INTEGER NOT NULL,
    idx         INTEGER NOT NULL,
    body        TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (cutover_id, version, idx)
);
CREATE TRIGGER IF NOT EXISTS events_are_never_changed BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_are_never_removed BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TABLE IF NOT EXISTS leases (
    cutover_id  TEXT PRIMARY KEY REFERENCES cutovers(id),
    holder      TEXT NOT NULL,
    epoch       INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS inbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    cutover_id  TEXT NOT NULL REFERENCES cutovers(id),
    body        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS delivered (
    cutover_id  TEXT NOT NULL,
    webhook     TEXT NOT NULL,
    version     INTEGER NOT NULL,
    idx         INTEGER NOT NULL,
    PRIMARY KEY (cutover_id, webhook)
);
";

#[derive(Clone)]
pub struct SqliteStore {
    /// Every write, and reads inside writes.
    conn: Arc<Mutex<Connection>>,
    /// Reads alone, on connections of their own: in WAL mode a reader sees
    /// the last commit without waiting for a writer, so a daemon's API and
    /// live streams never queue behind its drivers' commits.
    readers: Arc<[Mutex<Connection>]>,
    path: PathBuf,
}

/// Read connections per store.
const READERS: usize = 2;

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`. Its folder must exist.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path.as_ref(), OpenFlags::default())
    }

    /// Opens the store at `path` only if it exists: for commands that read,
    /// which must not leave an empty store behind a mistyped path.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path.as_ref(), OpenFlags::default() - OpenFlags::SQLITE_OPEN_CREATE)
    }

    fn open_with(path: &Path, flags: OpenFlags) -> Result<SqliteStore, StoreError> {
        let path = path.to_path_buf();
        let fail = |e: rusqlite::Error| StoreError::Unavailable {
            message: format!("cannot open the store {}: {e}", path.display()),
            retryable: false,
        };
        let mut conn = Connection::open_with_flags(&path, flags).map_err(fail)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(fail)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(fail)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(fail)?;
        conn.execute_batch(SCHEMA).map_err(fail)?;
        // A store from before the hash chain has tables without its columns.
        if conn.prepare("SELECT hash FROM events LIMIT 0").is_err() {
            seal_old_store(&mut conn).map_err(fail)?;
        }
        let reader = || -> Result<Mutex<Connection>, StoreError> {
            let read_only = (flags - OpenFlags::SQLITE_OPEN_CREATE - OpenFlags::SQLITE_OPEN_READ_WRITE)
                | OpenFlags::SQLITE_OPEN_READ_ONLY;
            let conn = Connection::open_with_flags(&path, read_only).map_err(fail)?;
            conn.busy_timeout(Duration::from_secs(5)).map_err(fail)?;
            Ok(Mutex::new(conn))
        };
        let readers = (0..READERS).map(|_| reader()).collect::<Result<Vec<_>, _>>()?;
        Ok(SqliteStore { conn: Arc::new(Mutex::new(conn)), readers: readers.into(), path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection off the async threads (a write may wait
    /// up to 5 s for another process's transaction).
    async fn with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut conn)
        })
        .await;
        joined.unwrap_or_else(|e| {
            Err(StoreError::Unavailable { message: format!("store task failed: {e}"), retryable: true })
        })
    }

    /// Runs the read `f` on a free read connection (or waits for the first).
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = self.readers.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let mut conn = readers
                .iter()
                .find_map(|r| r.try_lock().ok())
                .unwrap_or_else(|| readers[0].lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
            f(&mut conn)
        })
        .await;
        joined.unwrap_or_else(|e| {
            Err(StoreError::Unavailable { message: format!("store task failed: {e}"), retryable: true })
        })
    }
}

/// Upgrades a store made before the hash chain, in one transaction: adds
/// the columns and seals each cutover's existing events in their order, as
/// if they had been chained when written. From then on the chain shows any
/// change; what happened to those events before the upgrade it cannot.
fn seal_old_store(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "ALTER TABLE cutovers ADD COLUMN head TEXT NOT NULL DEFAULT '';
         ALTER TABLE events ADD COLUMN hash TEXT NOT NULL DEFAULT '';
         DROP TRIGGER events_are_never_changed;",
    )?;
    let ids: Vec<String> =
        tx.prepare("SELECT id FROM cutovers")?.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?;
    for id in ids {
        let events: Vec<(i64, i64, String)> = tx
            .prepare("SELECT version, idx, body FROM events WHERE cutover_id = ?1 ORDER BY version, idx")?
            .query_map([&id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let hashes = audit::seal(audit::GENESIS, events.iter().map(|(_, _, body)| body.as_str()));
        for ((version, index, _), hash) in events.iter().zip(&hashes) {
            tx.execute(
                "UPDATE events SET hash = ?4 WHERE cutover_id = ?1 AND version = ?2 AND idx = ?3",
                params![id, version, index, hash],
            )?;
        }
        let head = hashes.last().map_or(audit::GENESIS, String::as_str);
        tx.execute("UPDATE cutovers SET head = ?2 WHERE id = ?1", params![id, head])?;
    }
    tx.execute_batch(
        "CREATE TRIGGER events_are_never_changed BEFORE UPDATE ON events
             BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;",
    )?;
    tx.commit()
}

fn sql(e: rusqlite::Error) -> StoreError {
    let retryable =
        matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked));
    StoreError::Unavailable { message: format!("store: {e}"), retryable }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn ms(t: Timestamp) -> i64 {
    i64::try_from(t.as_ms()).unwrap_or(i64::MAX)
}

/// Appends `events` chained after `head`; returns the new head.
fn insert_events(
    tx: &rusqlite::Transaction<'_>,
    events: &[(u64, u16, String)],
    id: &str,
    head: &str,
) -> Result<String, StoreError> {
    let mut insert = tx
        .prepare_cached("INSERT INTO events (cutover_id, version, idx, body, hash) VALUES (?1, ?2, ?3, ?4, ?5)")
        .map_err(sql)?;
    let hashes = audit::seal(head, events.iter().map(|(_, _, body)| body.as_str()));
    for ((version, index, body), hash) in events.iter().zip(&hashes) {
        insert.execute(params![id, *version as i64, *index, body, hash]).map_err(sql)?;
    }
    Ok(hashes.last().cloned().unwrap_or_else(|| head.to_owned()))
}

fn encode_events(events: &[Event]) -> Result<Vec<(u64, u16, String)>, StoreError> {
    events.iter().map(|e| Ok((e.version, e.index, to_json(e)?))).collect()
}

/// The current lease epoch of `id`, if any.
fn current_epoch(tx: &rusqlite::Transaction<'_>, id: &str) -> Result<Option<u64>, StoreError> {
    tx.query_row("SELECT epoch FROM leases WHERE cutover_id = ?1", [id], |row| row.get::<_, i64>(0))
        .optional()
        .map(|epoch| epoch.map(|e| e as u64))
        .map_err(sql)
}

fn exists(tx: &rusqlite::Transaction<'_>, id: &str) -> Result<Option<u64>, StoreError> {
    tx.query_row("SELECT version FROM cutovers WHERE id = ?1", [id], |row| row.get::<_, i64>(0))
        .optional()
        .map(|v| v.map(|v| v as u64))
        .map_err(sql)
}

impl Store for SqliteStore {
    async fn create(
        &self,
        plan: &str,
        time: TimeScale,
        state: &CutoverState,
        events: &[Event],
    ) -> Result<(), StoreError> {
        let (id, version, updated) = (state.id.clone(), state.version, ms(state.updated_at));
        let (speed, anchor) = (time.speed, ms(time.anchor));
        let (state, events, plan) = (to_json(state)?, encode_events(events)?, plan.to_owned());
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
            if exists(&tx, &id)?.is_some() {
                return Err(StoreError::Exists(id));
            }
            tx.execute(
                "INSERT INTO cutovers (id, version, state, plan, speed, anchor_ms, updated_at, head)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![id, version as i64, state, plan, speed, anchor, updated, audit::GENESIS],
            )
            .map_err(sql)?;
            let head = insert_events(&tx, &events, &id, audit::GENESIS)?;
            tx.execute("UPDATE cutovers SET head = ?2 WHERE id = ?1", params![id, head]).map_err(sql)?;
            tx.commit().map_err(sql)
        })
        .await
    }

    async fn commit(&self, epoch: u64, state: &CutoverState, events: &[Event]) -> Result<(), StoreError> {
        let (id, version, updated) = (state.id.clone(), state.version, ms(state.updated_at));
        let (state, events) = (to_json(state)?, encode_events(events)?);
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
            let stored = exists(&tx, &id)?.ok_or_else(|| StoreError::NotFound(id.clone()))?;
            let current = current_epoch(&tx, &id)?;
            if current != Some(epoch) {
                return Err(StoreError::Fenced { id, epoch, current });
            }
            let follows = version.saturating_sub(1);
            if stored != follows || version == 0 {
                return Err(StoreError::VersionConflict { id, follows, stored: Some(stored) });
            }
            let head: String =
                tx.query_row("SELECT head FROM cutovers WHERE id = ?1", [&id], |row| row.get(0)).map_err(sql)?;
            let head = insert_events(&tx, &events, &id, &head)?;
            tx.execute(
                "UPDATE cutovers SET version = ?2, state = ?3, updated_at = ?4, head = ?5 WHERE id = ?1",
                params![id, version as i64, state, updated, head],
            )
            .map_err(sql)?;
            tx.commit().map_err(sql)
        })
        .await
    }

    async fn load(&self, id: &str) -> Result<Option<Stored>, StoreError> {
        let id = id.to_owned();
        self.read(move |conn| {
            let row = conn
                .query_row("SELECT state, plan, speed, anchor_ms FROM cutovers WHERE id = ?1", [&id], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, f64>(2)?,
                        row.get::<_, i64>(3)?,
                    ))
                })
                .optional()
                .map_err(sql)?;
            row.map(|(state, plan, speed, anchor)| {
                let time = TimeScale { speed, anchor: Timestamp::from_ms(anchor.max(0) as u64) };
                Ok(Stored { state: from_json(&state)?, plan, time })
            })
            .transpose()
        })
        .await
    }

    async fn list(&self) -> Result<Vec<CutoverState>, StoreError> {
        self.read(|conn| {
            let mut query =
                conn.prepare("SELECT state FROM cutovers ORDER BY updated_at DESC, id DESC").map_err(sql)?;
            let rows = query.query_map([], |row| row.get::<_, String>(0)).map_err(sql)?;
            rows.map(|row| from_json(&row.map_err(sql)?)).collect()
        })
        .await
    }

    async fn history_after(&self, id: &str, after: Option<(u64, u16)>, limit: usize) -> Result<Vec<Event>, StoreError> {
        let id = id.to_owned();
        let (version, index) = after.map_or((0, -1), |(v, i)| (v as i64, i64::from(i)));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut query = conn
                .prepare(
                    "SELECT body FROM events WHERE cutover_id = ?1 AND (version > ?2 OR (version = ?2 AND idx > ?3)) \
                     ORDER BY version, idx LIMIT ?4",
                )
                .map_err(sql)?;
            let rows = query
                .query_map(rusqlite::params![&id, version, index, limit], |row| row.get::<_, String>(0))
                .map_err(sql)?;
            rows.map(|row| from_json(&row.map_err(sql)?)).collect()
        })
        .await
    }

    async fn history(&self, id: &str) -> Result<Vec<Event>, StoreError> {
        let id = id.to_owned();
        self.read(move |conn| {
            let mut query =
                conn.prepare("SELECT body FROM events WHERE cutover_id = ?1 ORDER BY version, idx").map_err(sql)?;
            let rows = query.query_map([&id], |row| row.get::<_, String>(0)).map_err(sql)?;
            rows.map(|row| from_json(&row.map_err(sql)?)).collect()
        })
        .await
    }

    async fn trail(&self, id: &str) -> Result<Option<Trail>, StoreError> {
        let id = id.to_owned();
        self.read(move |conn| {
            let tx = conn.transaction().map_err(sql)?;
            let Some(head) = tx
                .query_row("SELECT head FROM cutovers WHERE id = ?1", [&id], |row| row.get::<_, String>(0))
                .optional()
                .map_err(sql)?
            else {
                return Ok(None);
            };
            let mut query = tx
                .prepare("SELECT version, idx, body, hash FROM events WHERE cutover_id = ?1 ORDER BY version, idx")
                .map_err(sql)?;
            let rows = query
                .query_map([&id], |row| {
                    Ok(Record {
                        version: row.get::<_, i64>(0)? as u64,
                        index: row.get(1)?,
                        body: row.get(2)?,
                        hash: row.get(3)?,
                    })
                })
                .map_err(sql)?;
            let records = rows.collect::<Result<Vec<_>, _>>().map_err(sql)?;
            Ok(Some(Trail { head, records }))
        })
        .await
    }

    async fn acquire(&self, id: &str, holder: &str, now: Timestamp, ttl: Duration) -> Result<Lease, StoreError> {
        let (id, holder) = (id.to_owned(), holder.to_owned());
        let expires_at = now + ttl;
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
            exists(&tx, &id)?.ok_or_else(|| StoreError::NotFound(id.clone()))?;
            let lease = tx
                .query_row("SELECT holder, epoch, expires_at FROM leases WHERE cutover_id = ?1", [&id], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64, row.get::<_, i64>(2)?))
                })
                .optional()
                .map_err(sql)?;
            let epoch = match lease {
                Some((current, epoch, until)) if until > ms(now) => {
                    if current != holder {
                        let expires_at = Timestamp::from_ms(until.max(0) as u64);
                        return Err(StoreError::LeaseHeld { id, holder: current, expires_at });
                    }
                    epoch
                }
                Some((_, epoch, _)) => epoch + 1,
                None => 1,
            };
            tx.execute(
                "INSERT INTO leases (cutover_id, holder, epoch, expires_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (cutover_id) DO UPDATE SET holder = ?2, epoch = ?3, expires_at = ?4",
                params![id, holder, epoch as i64, ms(expires_at)],
            )
            .map_err(sql)?;
            tx.commit().map_err(sql)?;
            Ok(Lease { holder, epoch, expires_at })
        })
        .await
    }

    async fn release(&self, id: &str, lease: &Lease) -> Result<(), StoreError> {
        let (id, epoch) = (id.to_owned(), lease.epoch);
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
            let current = current_epoch(&tx, &id)?;
            if current != Some(epoch) {
                return Err(StoreError::Fenced { id, epoch, current });
            }
            tx.execute("UPDATE leases SET expires_at = 0 WHERE cutover_id = ?1", [&id]).map_err(sql)?;
            tx.commit().map_err(sql)
        })
        .await
    }

    async fn send(&self, id: &str, request: &Request) -> Result<u64, StoreError> {
        let (id, body) = (id.to_owned(), to_json(request)?);
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
            exists(&tx, &id)?.ok_or_else(|| StoreError::NotFound(id.clone()))?;
            tx.execute("INSERT INTO inbox (cutover_id, body) VALUES (?1, ?2)", params![id, body]).map_err(sql)?;
            let seq = tx.last_insert_rowid() as u64;
            tx.commit().map_err(sql)?;
            Ok(seq)
        })
        .await
    }

    async fn commands(&self, id: &str, epoch: u64, handled: u64) -> Result<Vec<Request>, StoreError> {
        let id = id.to_owned();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
            let current = current_epoch(&tx, &id)?;
            if current != Some(epoch) {
                return Err(StoreError::Fenced { id, epoch, current });
            }
            tx.execute("DELETE FROM inbox WHERE cutover_id = ?1 AND seq <= ?2", params![id, handled as i64])
                .map_err(sql)?;
            let queued = {
                let mut query =
                    tx.prepare("SELECT seq, body FROM inbox WHERE cutover_id = ?1 ORDER BY seq").map_err(sql)?;
                let rows = query
                    .query_map([&id], |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, String>(1)?)))
                    .map_err(sql)?;
                rows.map(|row| {
                    let (seq, body) = row.map_err(sql)?;
                    Ok(Request { seq, ..from_json(&body)? })
                })
                .collect::<Result<Vec<Request>, StoreError>>()?
            };
            tx.commit().map_err(sql)?;
            Ok(queued)
        })
        .await
    }

    async fn delivered(&self, id: &str, webhook: &str) -> Result<Option<(u64, u16)>, StoreError> {
        let (id, webhook) = (id.to_owned(), webhook.to_owned());
        self.read(move |conn| {
            conn.query_row(
                "SELECT version, idx FROM delivered WHERE cutover_id = ?1 AND webhook = ?2",
                [&id, &webhook],
                |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u16)),
            )
            .optional()
            .map_err(sql)
        })
        .await
    }

    async fn mark_delivered(&self, id: &str, webhook: &str, (version, index): (u64, u16)) -> Result<(), StoreError> {
        let (id, webhook) = (id.to_owned(), webhook.to_owned());
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO delivered (cutover_id, webhook, version, idx) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (cutover_id, webhook) DO UPDATE SET version = ?3, idx = ?4
                 WHERE (?3, ?4) > (delivered.version, delivered.idx)",
                params![id, webhook, version as i64, i64::from(index)],
            )
            .map(drop)
            .map_err(sql)
        })
        .await
    }
}
