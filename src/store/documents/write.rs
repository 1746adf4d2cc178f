//! Writing documents, each one statement (updates retry optimistically): on PostgreSQL the
//! statement also notifies the change feed, so the notification commits with the write.

use serde_json::Value;

use super::{
    busy, not_found, Guard, Written, COLUMNS, NOTIFY_COLUMNS, READ_COLUMNS, UPDATE_ATTEMPTS,
};
use crate::model::clock::now_micros;
use crate::model::filter::Filter;
use crate::model::{CollectionName, Document, DocumentData, UpdateChange};
use crate::store::changes::{postgres, Change, ChangeKind};
use crate::store::filter_sql::push_filter;
use crate::store::sql::Sql;
use crate::store::tx::Access;
use crate::store::{Store, StoreError, Tx};

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
}
