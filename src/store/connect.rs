//! Opening the database: SQLite (the zero-configuration default) or PostgreSQL, chosen by URL.

use std::str::FromStr;
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{DatabaseConnection, DbErr, SqlxPostgresConnector, SqlxSqliteConnector};

use super::StoreError;

/// The two databases hookql runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    /// One file, one server process.
    Sqlite,
    /// For production and several instances.
    Postgres,
}

impl DatabaseKind {
    /// Which database a URL selects.
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::Connect(
                "unsupported database URL: expected `sqlite://PATH` or `postgres://USER@HOST/DB`"
                    .into(),
            ))
        }
    }
}

/// The URL with any password replaced by `***`, safe to log.
pub fn describe_database_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => url.split('@').next_back().unwrap_or_default().to_string(),
    }
}

/// The two pools of one database: `db` for writes, migrations and index builds, `reads` for
/// reads outside a transaction, whose statements give up after `query_timeout`.
pub(super) struct Pools {
    pub db: DatabaseConnection,
    pub reads: DatabaseConnection,
    pub kind: DatabaseKind,
}

/// How many SQLite virtual-machine steps pass between two looks at the clock. A scan takes
/// about ten steps a row, and one step can be a LIKE over a megabyte-long value that runs for
/// a second, so the clock is read every row or two (a 20 ns read per microsecond or so of
/// work); thousands of steps would let a few large rows run unchecked.
const SQLITE_STEPS_PER_CHECK: i32 = 16;

pub(super) async fn open(
    url: &str,
    max_connections: u32,
    query_timeout: Option<Duration>,
    bound: Duration,
) -> Result<Pools, StoreError> {
    // A wait for a connection ends before the statement's bound, as a pool timeout: then the
    // caller knows nothing was sent (a refused connection is `not_done`, never `unknown`).
    let acquire = bound.mul_f64(0.8);
    let kind = DatabaseKind::of_url(url)?;
    let connect_error = |e: sea_orm::sqlx::Error| {
        StoreError::Connect(format!("{} ({e})", describe_database_url(url)))
    };
    // The setting is shared, so that several instances need no more of PostgreSQL's
    // connections than before there were two pools.
    let read_connections = (max_connections / 2).max(1);
    let max_connections = max_connections.saturating_sub(read_connections).max(1);
    match kind {
        DatabaseKind::Sqlite => {
            // WAL lets readers run beside the writer; the busy timeout makes concurrent writers
            // queue instead of failing; FULL synchronous makes every acknowledged commit
            // survive a power cut, not only a process crash.
            let options = SqliteConnectOptions::from_str(url)
                .map_err(connect_error)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
                // LIKE is case-sensitive, as on PostgreSQL; `_ilike` folds case itself.
                .pragma("case_sensitive_like", "ON");
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections.max(1))
                .acquire_timeout(acquire)
                .after_release(|conn, _| {
                    Box::pin(async move { Ok(outside_transaction(conn).await) })
                })
                .connect_with(options.clone())
                .await
                .map_err(connect_error)?;
            // SQLite has no statement timeout. A progress handler, set afresh each time a read
            // connection is handed out (one statement per hand-out: reads outside a
            // transaction), interrupts the statement once its time is up.
            let mut reads = SqlitePoolOptions::new()
                .max_connections(read_connections)
                .acquire_timeout(acquire);
            if let Some(timeout) = query_timeout {
                reads = reads
                    .after_connect(move |conn, _| {
                        Box::pin(async move { sqlite_deadline(conn, timeout).await })
                    })
                    .before_acquire(move |conn, _| {
                        Box::pin(async move {
                            sqlite_deadline(conn, timeout).await?;
                            Ok(true)
                        })
                    });
            }
            let reads = reads.connect_with(options).await.map_err(connect_error)?;
            Ok(Pools {
                db: SqlxSqliteConnector::from_sqlx_sqlite_pool(pool),
                reads: SqlxSqliteConnector::from_sqlx_sqlite_pool(reads),
                kind,
            })
        }
        DatabaseKind::Postgres => {
            let options = PgConnectOptions::from_str(url).map_err(connect_error)?;
            // The change listener keeps one connection and a migration holds another while it
            // runs, so fewer than three would deadlock.
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(3))
                .acquire_timeout(acquire)
                .connect_with(options.clone())
                .await
                .map_err(connect_error)?;
            // The server enforces it on these connections only, so index builds and
            // migrations on the other pool may take as long as they need. Set once each
            // connection opens rather than as a startup parameter, which connection poolers
            // (PgBouncer) refuse by default.
            let mut reads = PgPoolOptions::new()
                .max_connections(read_connections)
                .acquire_timeout(acquire);
            if let Some(timeout) = query_timeout {
                let set = format!("SET statement_timeout = {}", timeout.as_millis().max(1));
                reads = reads.after_connect(move |conn, _| {
                    let set = set.clone();
                    Box::pin(async move {
                        use sea_orm::sqlx::Executor as _;
                        conn.execute(set.as_str()).await.map(|_| ())
                    })
                });
            }
            let reads = reads.connect_with(options).await.map_err(connect_error)?;
            Ok(Pools {
                db: SqlxPostgresConnector::from_sqlx_postgres_pool(pool),
                reads: SqlxPostgresConnector::from_sqlx_postgres_pool(reads),
                kind,
            })
        }
    }
}

/// Whether a write connection coming back to the pool is outside any transaction. A commit
/// or a statement that failed on a full disk can leave SQLite's transaction open, or gone
/// while the driver still counts it; such a connection would hold the write lock and every
/// later writer would wait for it ("database is locked") until a restart (issue 16). `BEGIN`
/// succeeds only outside a transaction; a connection where it fails is closed, which ends
/// whatever it held.
async fn outside_transaction(conn: &mut sea_orm::sqlx::SqliteConnection) -> bool {
    use sea_orm::sqlx::Executor as _;
    if let Err(e) = conn.execute("BEGIN").await {
        tracing::warn!("a database connection was left inside a transaction; closing it: {e}");
        return false;
    }
    conn.execute("ROLLBACK").await.is_ok()
}

/// Gives the next statement on `conn` until `timeout` from now.
async fn sqlite_deadline(
    conn: &mut sea_orm::sqlx::SqliteConnection,
    timeout: Duration,
) -> Result<(), sea_orm::sqlx::Error> {
    let deadline = Instant::now() + timeout;
    conn.lock_handle()
        .await?
        .set_progress_handler(SQLITE_STEPS_PER_CHECK, move || Instant::now() < deadline);
    Ok(())
}

/// Whether `error` says the database's disk is full (SQLite's `SQLITE_FULL`, PostgreSQL's
/// `disk_full`).
pub(super) fn is_disk_full(error: &DbErr) -> bool {
    database_code(error).is_some_and(|code| code == "13" || code == "53100")
}

/// The database's own error code, if `error` carries one.
fn database_code(error: &DbErr) -> Option<String> {
    use sea_orm::RuntimeErr;
    match error {
        DbErr::Query(RuntimeErr::SqlxError(sea_orm::sqlx::Error::Database(e)))
        | DbErr::Exec(RuntimeErr::SqlxError(sea_orm::sqlx::Error::Database(e)))
        | DbErr::Conn(RuntimeErr::SqlxError(sea_orm::sqlx::Error::Database(e))) => {
            e.code().map(|c| c.into_owned())
        }
        _ => None,
    }
}

/// Whether `error` says the database did not answer (a pool wait or a statement past its
/// bound, a broken connection, a server shutting down) rather than refusing the statement.
pub(super) fn is_unreachable(error: &DbErr) -> bool {
    use sea_orm::sqlx::Error;
    use sea_orm::RuntimeErr;
    match error {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e)) => {
            matches!(e, Error::PoolTimedOut | Error::PoolClosed) || is_broken(error)
        }
        _ => false,
    }
}

/// Whether `error` says a connection broke under a statement (so a write may have been
/// made): I/O failures, and PostgreSQL ending the session (`admin_shutdown`,
/// `crash_shutdown`, `cannot_connect_now`: a restart or a failover). A wait for a connection
/// that timed out is not one: nothing was sent.
pub(super) fn is_broken(error: &DbErr) -> bool {
    use sea_orm::sqlx::Error;
    use sea_orm::RuntimeErr;
    match error {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e)) => {
            matches!(e, Error::Io(_) | Error::WorkerCrashed | Error::Tls(_))
                || database_code(error)
                    .is_some_and(|code| matches!(code.as_str(), "57P01" | "57P02" | "57P03"))
        }
        _ => false,
    }
}

/// Whether `error` is the database giving up on a statement at the read deadline
/// (PostgreSQL's `query_canceled`, SQLite's `SQLITE_INTERRUPT`).
pub(super) fn is_timeout(error: &DbErr) -> bool {
    database_code(error).is_some_and(|code| code == "57014" || code == "9")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        let shown = describe_database_url("postgres://app:s3cret@db.example:5432/prod");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("db.example"), "{shown}");
    }
}
