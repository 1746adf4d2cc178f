//! Deleted users' access tokens, refused on every instance: the `revoked_users` table (read at
//! start, so a restart forgets nothing) and, on PostgreSQL, a notification to every instance
//! when a deletion commits.
//!
//! Why a listener of its own rather than the change feed's: the feed is about documents and
//! ends subscriptions when it loses the database; revocations need neither, only a re-read
//! of the table after a reconnection (notifications sent meanwhile are lost). It costs one
//! pooled connection per instance.

use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use tokio::sync::watch;

use super::sql::Sql;
use super::tx::Access;
use super::{Store, StoreError, Tx};

/// The notification channel of the schema `schema` (see `changes::postgres::channel_for`).
pub fn channel_for(schema: &str) -> String {
    let mut channel = format!("hookql_revoked:{schema}");
    while channel.len() > 63 {
        channel.pop();
    }
    channel
}

impl Store {
    /// Records, in the deletion's transaction, that `user_id`'s tokens are refused until
    /// `until` (Unix microseconds); on PostgreSQL every instance is told when it commits.
    pub async fn revoke_user_tokens(
        &self,
        tx: &Tx,
        user_id: &str,
        until: i64,
    ) -> Result<(), StoreError> {
        let mut sql = Sql::new(self.backend());
        sql.push("INSERT INTO revoked_users (user_id, until) VALUES (")
            .bind(user_id.to_string())
            .push(", ")
            .bind(until)
            .push(") ON CONFLICT (user_id) DO UPDATE SET until = EXCLUDED.until");
        self.execute(Some(tx), sql).await?;
        if let Some(channel) = &self.revoked_channel {
            let mut notify = Sql::new(self.backend());
            notify
                .push("SELECT pg_notify(")
                .bind(channel.to_string())
                .push(", ")
                .bind(format!("{until} {user_id}"))
                .push(")");
            self.execute(Some(tx), notify).await?;
        }
        Ok(())
    }

    /// Every revocation (user id, until) not yet run out.
    pub async fn revoked_users(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut sql = Sql::new(self.backend());
        sql.push("SELECT user_id, until FROM revoked_users WHERE until > ")
            .bind(chrono::Utc::now().timestamp_micros());
        let rows: Vec<entity::revoked_user::Model> =
            self.fetch_all(None, Access::Read, sql).await?;
        Ok(rows.into_iter().map(|r| (r.user_id, r.until)).collect())
    }

    /// Deletes the revocations that have run out (their tokens have all expired).
    pub async fn prune_revoked_users(&self) -> Result<u64, StoreError> {
        let mut sql = Sql::new(self.backend());
        sql.push("DELETE FROM revoked_users WHERE until <= ")
            .bind(chrono::Utc::now().timestamp_micros());
        Ok(self.execute(None, sql).await?)
    }

    /// PostgreSQL: starts listening for other instances' revocations (call before reading
    /// [`Store::revoked_users`], so that none falls between). `None` on SQLite, where one
    /// process makes every deletion.
    pub async fn listen_for_revocations(&self) -> Result<Option<RevocationListener>, StoreError> {
        let Some(channel) = &self.revoked_channel else {
            return Ok(None);
        };
        let connect = async {
            let mut listener =
                PgListener::connect_with(self.db.get_postgres_connection_pool()).await?;
            listener.listen(channel).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        };
        connect
            .await
            .map(|listener| Some(RevocationListener { listener }))
            .map_err(|e| StoreError::Connect(format!("cannot listen for revocations: {e}")))
    }
}

/// This instance's ear on the other instances' deletions.
pub struct RevocationListener {
    listener: PgListener,
}

impl RevocationListener {
    /// Hands every revocation heard to `revoke`, until `stopped` turns true. After losing the
    /// connection it reconnects and hands over the whole table, as notifications sent
    /// meanwhile are lost.
    pub async fn run(
        mut self,
        revoke: impl Fn(Vec<(String, i64)>),
        mut stopped: watch::Receiver<bool>,
    ) {
        loop {
            let heard = tokio::select! {
                heard = self.listener.try_recv() => heard,
                _ = stopped.changed() => return,
            };
            match heard {
                Ok(Some(notification)) => match parse(notification.payload()) {
                    Some(revocation) => revoke(vec![revocation]),
                    None => {
                        tracing::error!(
                            payload = notification.payload(),
                            "an unreadable revocation notification; reading them all again"
                        );
                        self.reload(&revoke, &mut stopped).await;
                    }
                },
                Ok(None) => {
                    tracing::warn!(
                        "the revocation listener lost its database connection; reconnecting"
                    );
                    self.reload(&revoke, &mut stopped).await;
                }
                Err(e) => {
                    tracing::warn!("the revocation listener failed: {e}; retrying in 1 s");
                    self.reload(&revoke, &mut stopped).await;
                }
            }
        }
    }

    /// Reconnects (listening again) and hands over every revocation in force, retrying each
    /// second until it works or `stopped`.
    async fn reload(
        &mut self,
        revoke: &impl Fn(Vec<(String, i64)>),
        stopped: &mut watch::Receiver<bool>,
    ) {
        loop {
            // On the listener's own connection: it reconnects and listens before this runs.
            // A plain sqlx query there, so the row is a tuple rather than the entity.
            let rows = sea_orm::sqlx::query_as::<_, (String, i64)>(
                "SELECT user_id, until FROM revoked_users",
            )
            .fetch_all(&mut self.listener)
            .await;
            match rows {
                Ok(rows) => return revoke(rows),
                Err(e) => tracing::warn!("cannot read the revoked users: {e}; retrying in 1 s"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stopped.changed() => return,
            }
        }
    }
}

/// `"<until> <user id>"`, as [`Store::revoke_user_tokens`] sends it.
fn parse(payload: &str) -> Option<(String, i64)> {
    let (until, user_id) = payload.split_once(' ')?;
    Some((user_id.to_string(), until.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_reads_back() {
        assert_eq!(parse("17 u-1"), Some(("u-1".to_string(), 17)));
        assert_eq!(parse("u-1"), None);
        assert_eq!(parse("x u-1"), None);
        assert_eq!(channel_for(&"x".repeat(100)).len(), 63);
    }
}
