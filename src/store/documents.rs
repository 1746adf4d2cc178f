//! Document reads and writes, each one SQL statement (updates retry optimistically), so that
//! SQLite never has to upgrade a read transaction to a write one and PostgreSQL never holds a
//! row lock across a round trip.

use sea_orm::FromQueryResult;
use serde_json::Value;

use super::changes::{postgres, Change, ChangeKind};
use super::filter_sql::push_filter;
use super::order_by::push_order_by;
use super::sql::Sql;
use super::tx::Access;
use super::{Store, StoreError, Tx};
use crate::model::clock::now_micros;
use crate::model::document::{Document, DocumentData, UpdateChange};
use crate::model::filter::Filter;
use crate::model::json::parse_stored;
use crate::model::merge_patch;
use crate::model::sort::SortKey;
use crate::model::CollectionName;

/// Largest page `documents` returns.
pub const MAX_LIMIT: u64 = 1000;
/// How often an update re-reads after losing a race before giving up.
pub const UPDATE_ATTEMPTS: usize = 16;

const COLUMNS: &str = "id, collection, data, owner_id, created_at, updated_at, version";
/// The columns as read back: the data as text, parsed by [`parse_stored`] so that rows
/// nested deeper than serde_json reads (stored before the depth limit) still read.
const READ_COLUMNS: &str =
    "id, collection, CAST(data AS TEXT) AS data, owner_id, created_at, updated_at, version";
/// [`READ_COLUMNS`] from the written rows of a notifying write (`e`, see `push_notify`).
const NOTIFY_COLUMNS: &str = "e.id, e.collection, CAST(e.data AS TEXT) AS data, e.owner_id, e.created_at, e.updated_at, e.version";

/// A document row as read: [`READ_COLUMNS`]. Not the entity: the data comes as text.
#[derive(FromQueryResult)]
struct Row {
    id: String,
    collection: String,
    data: String,
    owner_id: Option<String>,
    created_at: i64,
    updated_at: i64,
    version: i32,
}

impl Row {
    fn into_document(self) -> Result<Document, StoreError> {
        let data = parse_stored(&self.data).map_err(|e| {
            StoreError::Database(sea_orm::DbErr::Custom(format!(
                "document {} holds data that is not JSON: {e}",
                self.id
            )))
        })?;
        Ok(Document {
            id: self.id,
            collection: self.collection,
            data,
            owner_id: self.owner_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        })
    }
}

impl Store {
    /// Makes sure an index exists for each data path in `paths` (hooks.yaml's
    /// `collections.<name>.indexes`): one per path, on (collection, the field's text, id), shared
    /// by every collection that declares it. The id makes matches come out in page order, so
    /// the planner prefers it to the (collection, id) index for filtered pages. On PostgreSQL it is built `CONCURRENTLY`, so
    /// writes go on meanwhile. Indexes are never dropped here.
    pub async fn ensure_indexes(&self, paths: &[Vec<String>]) -> Result<(), StoreError> {
        use sea_orm::ConnectionTrait;
        use sha2::Digest as _;
        for path in paths {
            let postgres = self.kind == super::DatabaseKind::Postgres;
            let readable: String = path
                .join("_")
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '_'
                    }
                })
                .take(30)
                .collect();
            let digest = sha2::Sha256::digest(path.join("\u{1}").as_bytes());
            let name = format!(
                "documents_by_{readable}_{}",
                &crate::hex::encode(&digest)[..8]
            );
            let expression = super::sql::indexed_expression(postgres, "data", path);
            let ddl = if postgres {
                format!("CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON documents (collection, ({expression}), id)")
            } else {
                format!(
                    "CREATE INDEX IF NOT EXISTS {name} ON documents (collection, {expression}, id)"
                )
            };
            let _turn = self.write_turn().await;
            self.db.execute_unprepared(&ddl).await?;
        }
        Ok(())
    }
}

/// A page request for `documents`.
#[derive(Clone, Debug)]
pub struct ListQuery {
    /// Which documents (already combined with any rule).
    pub filter: Filter,
    /// Sort keys, most significant first.
    pub sort: Vec<SortKey>,
    /// Page size, 0..=[`MAX_LIMIT`].
    pub limit: u64,
    /// Documents to skip.
    pub offset: u64,
    /// Whether to count every match (a second query; skipped when the client did not ask).
    pub count_total: bool,
    /// The bytes of data the request may still read; charged row by row.
    pub budget: super::budget::ReadBudget,
}

/// One page of documents and how many match in all.
#[derive(Clone, Debug)]
pub struct Page {
    /// The documents of this page.
    pub items: Vec<Document>,
    /// How many documents match the filter in all, when asked for.
    pub total_count: Option<u64>,
}

/// What a write pinned to a version did.
#[derive(Clone, Debug)]
pub enum Written {
    /// It happened; the row as written (or, for a delete, as it was).
    Done(Document),
    /// Another writer changed the document first: read it again and retry.
    Raced,
}

impl Store {
    /// Stores a new document (version 1) with `id` and returns it, if it passes `allowed` (the
    /// create rule, checked on the new row in the same statement); [`StoreError::Denied`] if
    /// not. The id is the caller's so that before-hooks can be told it.
    pub async fn create_document(
        &self,
        tx: Option<&Tx>,
        collection: &CollectionName,
        id: String,
        data: DocumentData,
        owner_id: Option<String>,
        allowed: &Filter,
    ) -> Result<Document, StoreError> {
        let now = now_micros();
        let mut sql = self.change_statement();
        sql.push("INSERT INTO documents (")
            .push(COLUMNS)
            .push(") SELECT ")
            .push(COLUMNS)
            .push(" FROM (SELECT ");
        sql.bind(id).push(" AS id, ");
        sql.bind(collection.as_str().to_string())
            .push(" AS collection, ");
        sql.bind(data.into_value()).push(" AS data, ");
        sql.bind(owner_id).push(" AS owner_id, ");
        sql.bind(now).push(" AS created_at, ");
        sql.bind(now)
            .push(" AS updated_at, 1 AS version) AS documents WHERE ");
        push_filter(&mut sql, allowed);
        sql.push(" RETURNING ").push(self.returning());
        self.write_change(tx, sql, ChangeKind::Created, None)
            .await?
            .ok_or(StoreError::Denied)
    }

    /// The document with `id` in `collection`, if it exists and matches `visible` (the
    /// caller's read rule).
    pub async fn get_document(
        &self,
        tx: Option<&Tx>,
        collection: &CollectionName,
        id: &str,
        visible: &Filter,
    ) -> Result<Option<Document>, StoreError> {
        let mut sql = Sql::new(self.backend());
        sql.push("SELECT ")
            .push(READ_COLUMNS)
            .push(" FROM documents WHERE collection = ");
        sql.bind(collection.as_str().to_string())
            .push(" AND id = ")
            .bind(id.to_string())
            .push(" AND ");
        push_filter(&mut sql, visible);
        self.fetch_document(tx, Access::Read, sql).await
    }

    /// One page of the documents in `collection` matching the query, and the total count.
    pub async fn list_documents(
        &self,
        tx: Option<&Tx>,
        collection: &CollectionName,
        query: &ListQuery,
    ) -> Result<Page, StoreError> {
        let push_where = |sql: &mut Sql| {
            sql.push(" FROM documents WHERE documents.collection = ")
                .bind(collection.as_str().to_string());
            sql.push(" AND ");
            push_filter(sql, &query.filter);
        };
        let mut count = Sql::new(self.backend());
        count.push("SELECT COUNT(*) AS total");
        push_where(&mut count);
        let mut select = Sql::new(self.backend());
        select.push("SELECT ").push(READ_COLUMNS);
        push_where(&mut select);
        push_order_by(&mut select, &query.sort);
        select
            .push(" LIMIT ")
            .bind(query.limit as i64)
            .push(" OFFSET ")
            .bind(query.offset as i64);

        // One turn for the page and its count: a client's lists beyond its turns wait here,
        // before they take read connections others need.
        let _turn = query.budget.read_turn().await;
        let items = async {
            if query.limit == 0 {
                return Ok(Vec::new());
            }
            self.stream_documents(tx, select, &query.budget).await
        };
        let (items, total_count) = tokio::try_join!(items, async {
            Ok::<_, StoreError>(self.count(tx, query.count_total, count).await?)
        })?;
        Ok(Page { items, total_count })
    }

    /// Replaces or merges a document's data, bumping its version. The document must match
    /// `guard.visible` (else it is "not found") and `guard.allowed` as stored, checked in the
    /// UPDATE itself (else [`StoreError::Denied`]).
    pub async fn update_document(
        &self,
        tx: Option<&Tx>,
        collection: &CollectionName,
        id: &str,
        change: UpdateChange,
        guard: &Guard,
    ) -> Result<Document, StoreError> {
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self
                .get_document(tx, collection, id, &guard.visible)
                .await?
                .ok_or_else(|| not_found(collection, id))?;
            let data = change.apply_to(&current)?;
            if let Written::Done(updated) = self
                .write_version(tx, collection, &current, data, guard)
                .await?
            {
                return Ok(updated);
            }
        }
        Err(busy(id))
    }

    /// Writes `data` over `current`, provided the stored row is still at `current.version`
    /// and passes `guard.allowed`. [`Written::Raced`] when another writer came first.
    pub async fn write_version(
        &self,
        tx: Option<&Tx>,
        collection: &CollectionName,
        current: &Document,
        data: DocumentData,
        guard: &Guard,
    ) -> Result<Written, StoreError> {
        let mut sql = self.change_statement();
        sql.push("UPDATE documents SET data = ")
            .bind(data.into_value());
        sql.push(", updated_at = ")
            .bind(now_micros().max(current.updated_at));
        sql.push(", version = version + 1 WHERE collection = ")
            .bind(collection.as_str().to_string());
        sql.push(" AND id = ").bind(current.id.clone());
        sql.push(" AND version = ").bind(current.version);
        sql.push(" AND ");
        push_filter(&mut sql, &guard.allowed);
        sql.push(" RETURNING ").push(self.returning());
        let old = Some(&current.data);
        match self.write_change(tx, sql, ChangeKind::Updated, old).await? {
            Some(updated) => Ok(Written::Done(updated)),
            None => self.why_unwritten(tx, collection, current, guard).await,
        }
    }

    /// Deletes a document and returns its last state. Like updates, the document must match
    /// `guard.visible` and `guard.allowed`; with `pinned`, it must also still be that version
    /// (else [`Written::Raced`]).
    pub async fn delete_document(
        &self,
        tx: Option<&Tx>,
        collection: &CollectionName,
        id: &str,
        guard: &Guard,
        pinned: Option<&Document>,
    ) -> Result<Written, StoreError> {
        let mut sql = self.change_statement();
        sql.push("DELETE FROM documents WHERE collection = ")
            .bind(collection.as_str().to_string());
        sql.push(" AND id = ").bind(id.to_string()).push(" AND ");
        if let Some(current) = pinned {
            sql.push("version = ").bind(current.version).push(" AND ");
        }
        push_filter(&mut sql, &guard.visible);
        sql.push(" AND ");
        push_filter(&mut sql, &guard.allowed);
        sql.push(" RETURNING ").push(self.returning());
        if let Some(deleted) = self
            .write_change(tx, sql, ChangeKind::Deleted, None)
            .await?
        {
            return Ok(Written::Done(deleted));
        }
        match (
            pinned,
            self.get_document(tx, collection, id, &guard.visible)
                .await?,
        ) {
            (_, None) => Err(not_found(collection, id)),
            (Some(pinned), Some(now)) if now.version != pinned.version => Ok(Written::Raced),
            (_, Some(_)) => Err(StoreError::Denied),
        }
    }

    /// A statement that will write one document: on PostgreSQL it opens the CTE
    /// [`Self::write_change`] closes with the change's notification.
    fn change_statement(&self) -> Sql {
        let mut sql = Sql::new(self.backend());
        if self.notify_channel.is_some() {
            postgres::push_start(&mut sql);
        }
        sql
    }

    /// What a write from [`Self::change_statement`] returns: the stored columns where the
    /// notifying statement (PostgreSQL) reads them on, else the columns as read.
    fn returning(&self) -> &'static str {
        match self.notify_channel {
            Some(_) => COLUMNS,
            None => READ_COLUMNS,
        }
    }

    /// One document row of `sql`, parsed.
    async fn fetch_document(
        &self,
        tx: Option<&Tx>,
        access: Access,
        sql: Sql,
    ) -> Result<Option<Document>, StoreError> {
        let row: Option<Row> = self.fetch_one(tx, access, sql).await?;
        row.map(Row::into_document).transpose()
    }

    /// Every document row of a read-only `sql`, parsed, each charged to `budget` as it
    /// arrives: a page that would pass the budget stops there, not after it was all read.
    async fn stream_documents(
        &self,
        tx: Option<&Tx>,
        sql: Sql,
        budget: &super::budget::ReadBudget,
    ) -> Result<Vec<Document>, StoreError> {
        use futures_util::TryStreamExt;
        let statement = sql.into_statement();
        let mut documents = Vec::new();
        let mut take = |row: Row| -> Result<(), StoreError> {
            budget.charge(row.data.len())?;
            documents.push(row.into_document()?);
            Ok(())
        };
        self.within(StoreError::Unreachable, async {
            match tx {
                Some(tx) => {
                    let mut rows = Row::find_by_statement(statement).stream(tx.conn()).await?;
                    while let Some(row) = rows.try_next().await? {
                        take(row)?;
                    }
                }
                None => {
                    let mut rows = Row::find_by_statement(statement)
                        .stream(&self.reads)
                        .await?;
                    while let Some(row) = rows.try_next().await? {
                        take(row)?;
                    }
                }
            }
            Ok(())
        })
        .await?;
        Ok(documents)
    }

    /// Runs a write from [`Self::change_statement`] ending in `RETURNING` the columns, and
    /// reports the change to the feed in commit order: PostgreSQL notifies within the
    /// statement; SQLite publishes before the write turn is released (at commit, inside `tx`).
    async fn write_change(
        &self,
        tx: Option<&Tx>,
        mut sql: Sql,
        kind: ChangeKind,
        old_data: Option<&Value>,
    ) -> Result<Option<Document>, StoreError> {
        if let Some(channel) = &self.notify_channel {
            postgres::push_notify(&mut sql, NOTIFY_COLUMNS, channel, kind, old_data);
            return self.fetch_document(tx, Access::Write, sql).await;
        }
        let _turn = match tx {
            Some(_) => None,
            None => self.write_turn().await,
        };
        let written = self.fetch_document(tx, Access::WriteInTurn, sql).await?;
        if let Some(document) = &written {
            if self.changes.is_watched(&document.collection) {
                let change = Change {
                    kind,
                    document: document.clone(),
                    old_data: old_data.cloned(),
                };
                match tx {
                    Some(tx) => tx.publish_on_commit(change),
                    None => self.changes.publish(change),
                }
            }
        }
        Ok(written)
    }

    /// After a pinned write matched no row: the document is gone (not found), unchanged (so
    /// the rule refused it), or changed by another writer (raced).
    async fn why_unwritten(
        &self,
        tx: Option<&Tx>,
        collection: &CollectionName,
        current: &Document,
        guard: &Guard,
    ) -> Result<Written, StoreError> {
        match self
            .get_document(tx, collection, &current.id, &guard.visible)
            .await?
        {
            None => Err(not_found(collection, &current.id)),
            Some(now) if now.version == current.version => Err(StoreError::Denied),
            Some(_) => Ok(Written::Raced),
        }
    }

    /// How many documents in `collection` match `filter`.
    pub async fn count_documents(
        &self,
        tx: Option<&Tx>,
        collection: &CollectionName,
        filter: &Filter,
    ) -> Result<u64, StoreError> {
        let mut sql = Sql::new(self.backend());
        sql.push("SELECT COUNT(*) AS total FROM documents WHERE documents.collection = ")
            .bind(collection.as_str().to_string())
            .push(" AND ");
        push_filter(&mut sql, filter);
        Ok(self.count(tx, true, sql).await?.unwrap_or(0))
    }
}

impl UpdateChange {
    /// The data `current` would have after this change; a pinned version that does not match
    /// is a conflict.
    pub fn apply_to(&self, current: &Document) -> Result<DocumentData, StoreError> {
        if let Some(expected) = self.expected_version {
            if expected != current.version {
                return Err(StoreError::VersionConflict {
                    id: current.id.clone(),
                    expected,
                    actual: current.version,
                });
            }
        }
        if self.merge {
            let mut merged = current.data.clone();
            merge_patch::apply(&mut merged, &self.data.clone().into_value());
            DocumentData::parse(merged).map_err(StoreError::Invalid)
        } else {
            Ok(self.data.clone())
        }
    }
}

/// Every attempt lost a race with another writer.
pub fn busy(id: &str) -> StoreError {
    StoreError::Invalid(format!(
        "document `{id}` is being updated by many writers at once; retry"
    ))
}

/// What the caller's access rules let it touch, as filters on the stored row.
#[derive(Clone, Debug)]
pub struct Guard {
    /// The read rule: a document outside it does not exist for the caller.
    pub visible: Filter,
    /// The rule of the operation itself (update or delete).
    pub allowed: Filter,
}

fn not_found(collection: &CollectionName, id: &str) -> StoreError {
    StoreError::NotFound {
        collection: collection.to_string(),
        id: id.to_string(),
    }
}
