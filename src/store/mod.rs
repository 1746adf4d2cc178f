//! Storage: every table in SQLite or PostgreSQL (documents, users, sessions, the outbox, hook
//! runs, revocations, the change feed), and the compilers that turn filters and sorts into
//! SQL. Nothing here imports the layers above it (GraphQL, the service, hooks).

pub mod budget;
pub mod changes;
mod connect;
pub mod deliveries;
pub mod documents;
pub mod filter_sql;
pub mod hook_runs;
pub mod order_by;
pub mod read_turns;
pub mod refresh_tokens;
pub mod revoked_users;
pub mod sql;
mod tx;
pub mod users;

pub use connect::{describe_database_url, DatabaseKind};
pub use documents::{Guard, ListQuery, Page};
pub use tx::Tx;

use migration::MigratorTrait;
use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbBackend, DbErr};

/// Errors of the storage layer. Database failures stay opaque to clients (`INTERNAL`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No document with that id in that collection.
    #[error("no document `{id}` in collection `{collection}`")]
    NotFound {
        /// The collection searched.
        collection: String,
        /// The id asked for.
        id: String,
    },
    /// `expectedVersion` did not match the stored version.
    #[error("document `{id}` is at version {actual}, not the expected {expected}; read it again and retry")]
    VersionConflict {
        /// The document id.
        id: String,
        /// What the client expected.
        expected: i32,
        /// What is stored.
        actual: i32,
    },
    /// An access rule refused the operation on the stored document.
    #[error("the collection's access rule does not allow this")]
    Denied,
    /// Another user has this email.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The request read more document data than its [`budget::ReadBudget`] allows.
    #[error("the response would hold more than {limit} bytes of document data (HOOKQL_MAX_RESPONSE_BYTES); ask for fewer documents (`limit`), fewer aliases or smaller pages")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The operations of one WebSocket connection, with the answers waiting to be sent,
    /// would hold more document data than its [`budget::ConnectionBudget`] allows.
    #[error("the answers on this WebSocket connection would hold more than {limit} bytes of document data at once (HOOKQL_MAX_RESPONSE_BYTES, shared by the operations running on one connection and the answers waiting to be sent); run fewer large queries at once on this connection, or ask for fewer or smaller documents")]
    ConnectionTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The caller's input cannot be stored (too large, not an object, …).
    #[error("{0}")]
    Invalid(String),
    /// A read ran past the statement deadline (`HOOKQL_QUERY_TIMEOUT_MS`) and was stopped.
    #[error("the query ran longer than the server allows (HOOKQL_QUERY_TIMEOUT_MS) and was stopped; narrow the filter with `_eq` on an indexed field (`collections.<name>.indexes`) or on `id`/`ownerId`, ask for fewer rows, or use shorter `_like` patterns")]
    TimedOut,
    /// The database's disk is full: the write was not made (a commit that failed is never
    /// acknowledged) and may be retried once space is freed.
    #[error("the server's disk is full, so nothing was written; try again later")]
    Full,
    /// The database did not answer in time (`HOOKQL_DB_TIMEOUT_MS`), or could not be reached:
    /// nothing was written, and the same request may be sent again shortly.
    #[error("the database did not answer in time, so nothing was done; try again shortly")]
    Unreachable,
    /// The database stopped answering while a write was being committed: it may or may not
    /// have been saved. A client should read it back before sending it again.
    #[error("the database gave no answer while the write was being committed: it may or may not have been made; read it back before trying it again")]
    OutcomeUnknown,
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(DbErr),
    /// The database URL or file could not be used.
    #[error("cannot open database: {0}")]
    Connect(String),
}

impl From<DbErr> for StoreError {
    fn from(error: DbErr) -> Self {
        if connect::is_timeout(&error) {
            Self::TimedOut
        } else if matches!(&error, DbErr::Custom(text) if text == tx::OUTCOME_UNKNOWN) {
            tracing::warn!(
                "the database did not answer a write in time; whether it was made is unknown"
            );
            Self::OutcomeUnknown
        } else if connect::is_unreachable(&error) || tx::is_no_answer(&error) {
            tracing::warn!("the database did not answer: {error}");
            Self::Unreachable
        } else if connect::is_disk_full(&error) {
            tracing::error!("the database's disk is full: writes are refused until space is freed");
            Self::Full
        } else {
            Self::Database(error)
        }
    }
}

/// Only the value of a `server_secrets` row (the name is asked for): not the entity.
#[derive(sea_orm::FromQueryResult)]
struct SecretRow {
    value: String,
}

/// How long a statement may take, with its wait for a connection, unless set otherwise.
pub const DEFAULT_BOUND: std::time::Duration = std::time::Duration::from_secs(30);

/// The advisory lock key instances take turns migrating under ("hookql" in ASCII).
const MIGRATION_LOCK: i64 = 0x686f_6f6b_716c;

/// The document store; cheap to clone (it holds a connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
    /// Reads outside a transaction: the same database, on connections whose statements are
    /// stopped at the read deadline, so one costly filter cannot hold a core for minutes.
    reads: DatabaseConnection,
    kind: DatabaseKind,
    /// SQLite allows one writer at a time. Queueing writers here, in FIFO order, is far
    /// fairer and faster than letting them collide in SQLite's busy handler, which sleeps
    /// and retries (measured: p99 of concurrent creates fell from ~0.5 s). `None` on
    /// PostgreSQL, where writers run in parallel.
    write_queue: Option<Arc<tokio::sync::Mutex<()>>>,
    /// Committed document changes, for realtime subscriptions.
    changes: changes::ChangeFeed,
    /// PostgreSQL: the channel writes notify (one per schema).
    notify_channel: Option<Arc<str>>,
    /// PostgreSQL: the channel user deletions notify (one per schema).
    revoked_channel: Option<Arc<str>>,
    /// PostgreSQL: this process's name in `realtime_interest`.
    instance: Arc<str>,
    /// The longest one statement may take, waiting for its connection included.
    bound: std::time::Duration,
}

impl Store {
    /// Opens (and for SQLite, creates) the database at `url`.
    /// Reads outside a transaction stop after `query_timeout` (`None`: never).
    pub async fn connect(
        url: &str,
        max_connections: u32,
        query_timeout: Option<std::time::Duration>,
    ) -> Result<Self, StoreError> {
        Self::connect_bounded(url, max_connections, query_timeout, DEFAULT_BOUND).await
    }

    /// [`Store::connect`], with every statement (its wait for a connection included) given
    /// up after `bound` (`HOOKQL_DB_TIMEOUT_MS`): a partition must not hang requests for as
    /// long as it lasts (issue 16).
    pub async fn connect_bounded(
        url: &str,
        max_connections: u32,
        query_timeout: Option<std::time::Duration>,
        bound: std::time::Duration,
    ) -> Result<Self, StoreError> {
        let connect::Pools { db, reads, kind } =
            connect::open(url, max_connections, query_timeout, bound).await?;
        let write_queue =
            (kind == DatabaseKind::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
        let schema = match kind {
            DatabaseKind::Sqlite => None,
            DatabaseKind::Postgres => {
                let (schema,): (String,) = sea_orm::sqlx::query_as("SELECT current_schema()")
                    .fetch_one(db.get_postgres_connection_pool())
                    .await
                    .map_err(|e| StoreError::Connect(format!("cannot read the schema: {e}")))?;
                Some(schema)
            }
        };
        let notify_channel = schema
            .as_deref()
            .map(|schema| changes::postgres::channel_for(schema).into());
        let revoked_channel = schema
            .as_deref()
            .map(|schema| revoked_users::channel_for(schema).into());
        Ok(Self {
            db,
            reads,
            kind,
            write_queue,
            changes: changes::ChangeFeed::default(),
            notify_channel,
            revoked_channel,
            instance: uuid::Uuid::new_v4().to_string().into(),
            bound,
        })
    }

    /// Brings the schema up to date; safe to run at every start, and from several instances
    /// starting at once (on PostgreSQL they take turns under an advisory lock, so two of them
    /// never race to create the same table).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        use sea_orm::{ConnectionTrait, TransactionTrait};
        if self.kind == DatabaseKind::Postgres {
            let turn = self.db.begin().await?;
            turn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
                .await?;
            migration::Migrator::up(&self.db, None).await?;
            turn.commit().await?;
        } else {
            migration::Migrator::up(&self.db, None).await?;
        }
        Ok(())
    }

    /// The feed of committed document changes (fed by this process's writes on SQLite, by the
    /// database's notifications on PostgreSQL).
    pub fn changes(&self) -> &changes::ChangeFeed {
        &self.changes
    }

    /// Subscribes to the changes of `collection` committed from now on. On PostgreSQL the
    /// first subscriber of a collection on this instance first registers the instance's
    /// interest, without which writes do not notify.
    pub async fn watch(&self, collection: &str) -> Result<changes::FeedSubscription, StoreError> {
        let subscription = self.changes.subscribe(collection);
        if self.notify_channel.is_some() {
            let pool = self.db.get_postgres_connection_pool();
            subscription
                .registration()
                .get_or_try_init(|| {
                    changes::postgres::register_interest(pool, &self.instance, collection)
                })
                .await
                .map_err(|e| {
                    StoreError::Database(DbErr::Custom(format!("cannot watch `{collection}`: {e}")))
                })?;
        }
        Ok(subscription)
    }

    /// PostgreSQL: starts listening for the changes every instance commits (call before
    /// serving, run the listener until shutdown). `None` on SQLite, where writes publish
    /// directly.
    pub async fn listen_for_changes(
        &self,
    ) -> Result<Option<changes::postgres::Listener>, StoreError> {
        let Some(channel) = &self.notify_channel else {
            return Ok(None);
        };
        let pool = self.db.get_postgres_connection_pool();
        changes::postgres::Listener::start(pool, channel, self.instance.clone())
            .await
            .map(Some)
            .map_err(|e| StoreError::Connect(format!("cannot listen for changes: {e}")))
    }

    /// The secret called `name` every instance on this database shares: `generated` if there
    /// was none yet (the first instance's wins a race).
    pub async fn shared_secret(&self, name: &str, generated: String) -> Result<String, StoreError> {
        let mut insert = sql::Sql::new(self.backend());
        insert
            .push("INSERT INTO server_secrets (name, value, created_at) VALUES (")
            .bind(name.to_string())
            .push(", ")
            .bind(generated)
            .push(", ")
            .bind(chrono::Utc::now().timestamp_micros())
            .push(") ON CONFLICT (name) DO NOTHING");
        self.execute(None, insert).await?;
        let mut select = sql::Sql::new(self.backend());
        select
            .push("SELECT value FROM server_secrets WHERE name = ")
            .bind(name.to_string());
        let row: Option<SecretRow> = self.fetch_one(None, tx::Access::Read, select).await?;
        row.map(|r| r.value)
            .ok_or_else(|| StoreError::Invalid(format!("the shared secret `{name}` vanished")))
    }

    /// Deletes large changes every listener has long since read back.
    pub async fn prune_spilled_changes(&self) -> Result<u64, StoreError> {
        if self.kind != DatabaseKind::Postgres {
            return Ok(0);
        }
        let cutoff = chrono::Utc::now().timestamp_micros()
            - changes::postgres::SPILL_RETENTION.as_micros() as i64;
        let mut sql = sql::Sql::new(self.backend());
        sql.push("DELETE FROM realtime_spill WHERE created_at < ")
            .bind(cutoff);
        let spilled = self.execute(None, sql).await?;
        // Interest of instances that stopped renewing it (they crashed).
        let mut sql = sql::Sql::new(self.backend());
        sql.push("DELETE FROM realtime_interest WHERE until < ")
            .bind(chrono::Utc::now().timestamp_micros());
        self.execute(None, sql).await?;
        Ok(spilled)
    }

    /// Which kind of database this is.
    pub fn kind(&self) -> DatabaseKind {
        self.kind
    }

    fn backend(&self) -> DbBackend {
        match self.kind {
            DatabaseKind::Sqlite => DbBackend::Sqlite,
            DatabaseKind::Postgres => DbBackend::Postgres,
        }
    }

    /// Waits for this process's turn to write (SQLite only; immediate on PostgreSQL).
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.write_queue {
            Some(queue) => Some(queue.lock().await),
            None => None,
        }
    }

    /// Checks that the database answers (for `/healthz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await?;
        Ok(())
    }

    /// The (open, idle, most) connections of both pools together, for `/metrics`.
    pub fn pool_figures(&self) -> (u64, u64, u64) {
        let figures = |db: &DatabaseConnection| {
            let (size, idle, max) = match self.kind {
                DatabaseKind::Sqlite => {
                    let pool = db.get_sqlite_connection_pool();
                    (
                        pool.size(),
                        pool.num_idle(),
                        pool.options().get_max_connections(),
                    )
                }
                DatabaseKind::Postgres => {
                    let pool = db.get_postgres_connection_pool();
                    (
                        pool.size(),
                        pool.num_idle(),
                        pool.options().get_max_connections(),
                    )
                }
            };
            (u64::from(size), idle as u64, u64::from(max))
        };
        let (writes, reads) = (figures(&self.db), figures(&self.reads));
        (writes.0 + reads.0, writes.1 + reads.1, writes.2 + reads.2)
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(self) {
        let _ = self.reads.close().await;
        let _ = self.db.close().await;
    }
}
