//! PostgreSQL's part of the change feed: write statements that notify, and the listener that
//! turns notifications back into changes.
//!
//! A write becomes `WITH w AS (<write> RETURNING …) … SELECT …, pg_notify(channel, change)`,
//! one statement and one round trip as before. The change is built from the row the write
//! returned (`row_to_json`), so it is exactly what was stored. NOTIFY payloads must stay under
//! 8000 bytes: a larger change is written to `realtime_spill` by the same statement and the
//! notification carries its id; listeners read it back before handling the next one, which
//! keeps the order.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgListener, PgPool};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::watch;

use super::{Change, ChangeFeed, ChangeKind};
use crate::model::Document;
use crate::store::sql::Sql;

/// Largest change sent inline (PostgreSQL refuses NOTIFY payloads of 8000 bytes or more).
const INLINE_LIMIT: usize = 7900;
/// How long spilled changes are kept (every listener reads them within moments).
pub const SPILL_RETENTION: Duration = Duration::from_secs(3600);

/// The notification channel of the schema `schema`: instances notify and listen on the one of
/// the schema they store in, so deployments sharing a database in different schemas do not
/// hear each other.
pub fn channel_for(schema: &str) -> String {
    let mut channel = format!("hookql_changes:{schema}");
    // Channel names are identifiers: at most 63 bytes.
    while channel.len() > 63 {
        channel.pop();
    }
    channel
}

/// Opens a write statement whose change will be notified: call before the write itself.
pub fn push_start(sql: &mut Sql) {
    sql.push("WITH w AS (");
}

/// Closes a statement opened by [`push_start`] (the write must end in `RETURNING` the stored columns):
/// the statement then returns the written row and, if some instance watches the collection
/// (`hookql_watched`, see the `realtime_interest` migration), notifies `channel` of the change. `select` is the select list over the written rows `e`.
pub fn push_notify(
    sql: &mut Sql,
    select: &str,
    channel: &str,
    kind: ChangeKind,
    old_data: Option<&Value>,
) {
    sql.push("), v AS (SELECT hookql_watched(w.collection) AS watched FROM w), ");
    sql.push("e AS (SELECT w.*, CASE WHEN v.watched THEN '{\"kind\":\"")
        .push(kind.as_str())
        .push("\",\"oldData\":' || ");
    sql.bind(old_data.map_or_else(|| "null".to_string(), Value::to_string));
    sql.push(" || ',\"document\":' || row_to_json(w)::text || '}' END AS change FROM w, v), ");
    sql.push("s AS (INSERT INTO realtime_spill (payload, created_at) SELECT change, ");
    sql.bind(chrono::Utc::now().timestamp_micros());
    sql.push(" FROM e WHERE octet_length(change) > ")
        .push(&INLINE_LIMIT.to_string())
        .push(" RETURNING id) SELECT ");
    sql.push(select);
    sql.push(", (CASE WHEN e.change IS NOT NULL THEN pg_notify(");
    sql.bind(channel.to_string());
    sql.push(", COALESCE((SELECT '{\"spill\":' || s.id || '}' FROM s), e.change)) END)::text AS notified FROM e");
}

/// How long a registration of interest lasts; instances renew theirs every
/// [`INTEREST_RENEWAL`] while they have subscribers, so a crashed instance's lapse soon.
const INTEREST_TTL: Duration = Duration::from_secs(600);
/// How often an instance renews its interest.
pub const INTEREST_RENEWAL: Duration = Duration::from_secs(60);

/// Registers (or renews) `instance`'s interest in `collection`. Once this returns, every write
/// to the collection that commits afterwards notifies (see the migration for why).
pub async fn register_interest(
    pool: &PgPool,
    instance: &str,
    collection: &str,
) -> Result<(), sea_orm::sqlx::Error> {
    let mut tx = pool.begin().await?;
    sea_orm::sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':' || $1))")
        .bind(collection)
        .execute(&mut *tx)
        .await?;
    sea_orm::sqlx::query(
        "INSERT INTO realtime_interest (instance_id, collection, until) \
         VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint + $3) \
         ON CONFLICT (instance_id, collection) DO UPDATE SET until = EXCLUDED.until",
    )
    .bind(instance)
    .bind(collection)
    .bind(INTEREST_TTL.as_micros() as i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// A notification as sent.
#[derive(Deserialize)]
#[serde(untagged)]
enum Notice {
    Spilled { spill: i64 },
    Inline(Wire),
}

/// A change as [`push_notify`] writes it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    kind: ChangeKind,
    old_data: Option<Value>,
    document: WireDocument,
}

/// A row as `row_to_json` writes it.
#[derive(Deserialize)]
struct WireDocument {
    id: String,
    collection: String,
    data: Value,
    owner_id: Option<String>,
    created_at: i64,
    updated_at: i64,
    version: i32,
}

impl From<Wire> for Change {
    fn from(wire: Wire) -> Self {
        let d = wire.document;
        Change {
            kind: wire.kind,
            document: Document {
                id: d.id,
                collection: d.collection,
                data: d.data,
                owner_id: d.owner_id,
                created_at: d.created_at,
                updated_at: d.updated_at,
                version: d.version,
            },
            old_data: wire.old_data,
        }
    }
}

/// This instance's ear on the database: LISTENing before the server accepts anyone, so no
/// subscriber can miss a change committed after it subscribed.
pub struct Listener {
    listener: PgListener,
    pool: PgPool,
    instance: Arc<str>,
}

impl Listener {
    /// Connects and starts listening on `channel`, for `instance`.
    pub async fn start(
        pool: &PgPool,
        channel: &str,
        instance: Arc<str>,
    ) -> Result<Self, sea_orm::sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(channel).await?;
        Ok(Self {
            listener,
            pool: pool.clone(),
            instance,
        })
    }

    /// Renews this instance's interest in every collection it watches. A renewal that fails
    /// ends the subscriptions (their interest might lapse unnoticed); clients resubscribe,
    /// which registers again.
    async fn renew(&self, feed: &ChangeFeed) {
        for collection in feed.watched() {
            if let Err(e) = register_interest(&self.pool, &self.instance, &collection).await {
                tracing::warn!("cannot renew the interest in `{collection}`: {e}; ending subscriptions so clients resubscribe");
                feed.interrupt();
                return;
            }
        }
    }

    /// Publishes every change heard to `feed`, until `stopped` turns true. When the connection
    /// drops, changes committed meanwhile are lost to this instance: its subscriptions are
    /// ended ([`ChangeFeed::interrupt`]) so that their clients resubscribe and re-read.
    pub async fn run(mut self, feed: ChangeFeed, mut stopped: watch::Receiver<bool>) {
        let mut renewal = tokio::time::interval(INTEREST_RENEWAL);
        loop {
            let heard = tokio::select! {
                heard = self.listener.try_recv() => heard,
                _ = renewal.tick() => {
                    self.renew(&feed).await;
                    continue;
                }
                _ = stopped.changed() => return,
            };
            match heard {
                Ok(Some(notification)) => match self.decode(notification.payload()).await {
                    Ok(change) => feed.publish(change),
                    Err(e) => {
                        tracing::error!("an unreadable change notification: {e}; ending subscriptions so clients re-read");
                        feed.interrupt();
                    }
                },
                Ok(None) => {
                    tracing::warn!("the change listener lost its database connection; reconnecting, and ending subscriptions that may have missed changes");
                    feed.interrupt();
                }
                Err(e) => {
                    tracing::warn!("the change listener failed: {e}; retrying in 1 s");
                    feed.interrupt();
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stopped.changed() => return,
                    }
                }
            }
        }
    }

    async fn decode(&self, payload: &str) -> Result<Change, String> {
        match parse_notice::<Notice>(payload)? {
            Notice::Inline(wire) => Ok(wire.into()),
            Notice::Spilled { spill } => {
                // Only the payload, on the listener's plain sqlx pool: a tuple, not the entity.
                let (payload,): (String,) =
                    sea_orm::sqlx::query_as("SELECT payload FROM realtime_spill WHERE id = $1")
                        .bind(spill)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(|e| format!("cannot read spilled change {spill}: {e}"))?;
                parse_notice::<Wire>(&payload).map(Change::from)
            }
        }
    }
}

/// A notice's JSON: data of rows stored before the depth limit may nest deeper than serde_json
/// reads, so it goes through the same tolerant reading as rows.
fn parse_notice<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    crate::model::json::parse_stored(text)
        .and_then(serde_json::from_value)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_reads_back_as_the_change() {
        let payload = r#"{"kind":"updated","oldData":{"n":1},"document":{"id":"a","collection":"posts","data":{"n":2},"owner_id":null,"created_at":1,"updated_at":2,"version":2}}"#;
        let Notice::Inline(wire) = serde_json::from_str(payload).expect("parses") else {
            panic!("inline");
        };
        let change = Change::from(wire);
        assert_eq!(change.kind, ChangeKind::Updated);
        assert_eq!(change.old_data, Some(serde_json::json!({"n": 1})));
        assert_eq!(change.document.version, 2);
        assert!(matches!(
            serde_json::from_str::<Notice>(r#"{"spill":7}"#),
            Ok(Notice::Spilled { spill: 7 })
        ));
    }

    #[test]
    fn channel_names_fit_an_identifier() {
        assert_eq!(channel_for("public"), "hookql_changes:public");
        assert_eq!(channel_for(&"x".repeat(100)).len(), 63);
    }
}
