//! Reading documents: one by id, a page (streamed and charged to the request's budget as
//! rows arrive), a count.

use sea_orm::FromQueryResult;

use super::{ListQuery, Page, Row, READ_COLUMNS};
use crate::model::filter::Filter;
use crate::model::{CollectionName, Document};
use crate::store::filter_sql::push_filter;
use crate::store::order_by::push_order_by;
use crate::store::sql::Sql;
use crate::store::tx::Access;
use crate::store::{Store, StoreError, Tx};

impl Store {
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

    /// Every document row of a read-only `sql`, parsed, each charged to `budget` as it
    /// arrives: a page that would pass the budget stops there, not after it was all read.
    async fn stream_documents(
        &self,
        tx: Option<&Tx>,
        sql: Sql,
        budget: &crate::store::budget::ReadBudget,
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
