//! Document reads and writes, each one SQL statement (updates retry optimistically), so that
//! SQLite never has to upgrade a read transaction to a write one and PostgreSQL never holds a
//! row lock across a round trip.

mod read;
mod write;

use sea_orm::FromQueryResult;

use super::sql::Sql;
use super::tx::Access;
use super::{Store, StoreError, Tx};
use crate::model::document::{Document, DocumentData, UpdateChange};
use crate::model::filter::Filter;
use crate::model::json::parse_stored;
use crate::model::merge_patch;
use crate::model::sort::SortKey;
use crate::model::CollectionName;

impl Store {
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
}

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
    pub budget: crate::store::budget::ReadBudget,
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
