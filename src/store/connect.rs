//! Opening the database: SQLite (the zero-configuration default) or PostgreSQL, chosen by URL.

use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{DatabaseConnection, SqlxPostgresConnector, SqlxSqliteConnector};

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

pub(super) async fn open(
    url: &str,
    max_connections: u32,
) -> Result<(DatabaseConnection, DatabaseKind), StoreError> {
    let kind = DatabaseKind::of_url(url)?;
    let connect_error = |e: sea_orm::sqlx::Error| {
        StoreError::Connect(format!("{} ({e})", describe_database_url(url)))
    };
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
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await
                .map_err(connect_error)?;
            Ok((SqlxSqliteConnector::from_sqlx_sqlite_pool(pool), kind))
        }
        DatabaseKind::Postgres => {
            let options = PgConnectOptions::from_str(url).map_err(connect_error)?;
            // The change listener keeps one connection and a migration holds another while it
            // runs, so fewer than three would deadlock.
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(3))
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await
                .map_err(connect_error)?;
            Ok((SqlxPostgresConnector::from_sqlx_postgres_pool(pool), kind))
        }
    }
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
