//! App users: one row each, with the email stored lower-cased and unique.

use entity::user;
use sea_orm::SqlErr;
use serde_json::Value;

use super::filter_sql::push_filter;
use super::sql::Sql;
use super::tx::Access;
use super::{Store, StoreError, Tx};
use crate::model::clock::now_micros;
use crate::model::filter::Filter;
use crate::model::json::parse_stored;

/// A stored user as the rest of hookql sees it (the hash included: never convert it to output
/// without leaving that out).
pub type User = user::Model;

/// A user to create.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Lower-cased, checked email.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Role name.
    pub role: String,
    /// Profile object.
    pub data: Value,
    /// Whether this creation is also a sign-in (sets `lastLoginAt`).
    pub signed_in: bool,
}

/// Fields to change on a user; `None` keeps the stored value.
#[derive(Clone, Debug, Default)]
pub struct UserChange {
    /// New email.
    pub email: Option<String>,
    /// New password hash.
    pub password_hash: Option<String>,
    /// New role.
    pub role: Option<String>,
    /// New profile (already merged by the caller).
    pub data: Option<Value>,
}

const COLUMNS: &str = "id, email, password_hash, role, data, created_at, updated_at, last_login_at";
/// The columns as read back: the profile as text, parsed by [`parse_stored`] so that
/// profiles nested deeper than serde_json reads (stored before the depth limit) still read.
const READ_COLUMNS: &str = "id, email, password_hash, role, CAST(data AS TEXT) AS data, created_at, updated_at, last_login_at";

/// A user row as read: [`READ_COLUMNS`]. Not the entity: the profile comes as text.
#[derive(sea_orm::FromQueryResult)]
struct Row {
    id: String,
    email: String,
    password_hash: String,
    role: String,
    data: String,
    created_at: i64,
    updated_at: i64,
    last_login_at: Option<i64>,
}

impl Row {
    fn into_user(self) -> Result<User, StoreError> {
        let data = parse_stored(&self.data).map_err(|e| {
            StoreError::Database(sea_orm::DbErr::Custom(format!(
                "user {} holds a profile that is not JSON: {e}",
                self.id
            )))
        })?;
        Ok(User {
            id: self.id,
            email: self.email,
            password_hash: self.password_hash,
            role: self.role,
            data,
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_login_at: self.last_login_at,
        })
    }
}

fn email_taken(error: sea_orm::DbErr) -> StoreError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::EmailTaken,
        _ => StoreError::from(error),
    }
}

impl Store {
    /// Stores a new user; [`StoreError::EmailTaken`] if the email is in use.
    pub async fn create_user(&self, tx: Option<&Tx>, new: NewUser) -> Result<User, StoreError> {
        let now = now_micros();
        let mut sql = Sql::new(self.backend());
        sql.push("INSERT INTO users (")
            .push(COLUMNS)
            .push(") VALUES (");
        sql.bind(uuid::Uuid::now_v7().to_string()).push(", ");
        sql.bind(new.email).push(", ");
        sql.bind(new.password_hash).push(", ");
        sql.bind(new.role).push(", ");
        sql.bind(new.data).push(", ");
        sql.bind(now).push(", ").bind(now).push(", ");
        sql.bind(new.signed_in.then_some(now));
        sql.push(") RETURNING ").push(READ_COLUMNS);
        self.write_user(tx, sql)
            .await?
            .ok_or_else(|| StoreError::Invalid("the new user was not stored".into()))
    }

    /// The user with `id`.
    pub async fn user_by_id(&self, tx: Option<&Tx>, id: &str) -> Result<Option<User>, StoreError> {
        let mut sql = Sql::new(self.backend());
        sql.push("SELECT ")
            .push(READ_COLUMNS)
            .push(" FROM users WHERE id = ");
        sql.bind(id.to_string());
        self.fetch_user(tx, Access::Read, sql).await
    }

    /// The user with `email` (lower-cased).
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let mut sql = Sql::for_rows(self.backend(), "users");
        sql.push("SELECT ")
            .push(READ_COLUMNS)
            .push(" FROM users WHERE email = ")
            .bind(email.to_string());
        self.fetch_user(None, Access::Read, sql).await
    }

    /// Records a successful sign-in.
    pub async fn touch_login(&self, tx: Option<&Tx>, id: &str) -> Result<Option<User>, StoreError> {
        let now = now_micros();
        let mut sql = Sql::new(self.backend());
        sql.push("UPDATE users SET last_login_at = ").bind(now);
        sql.push(" WHERE id = ").bind(id.to_string());
        sql.push(" RETURNING ").push(READ_COLUMNS);
        self.write_user(tx, sql).await
    }

    /// Changes a user, unless it changed since `seen` (then `Ok(None)`: read again and retry),
    /// so that two concurrent profile edits never silently drop one another.
    pub async fn update_user(
        &self,
        tx: Option<&Tx>,
        seen: &User,
        change: UserChange,
    ) -> Result<Option<User>, StoreError> {
        let mut sql = Sql::new(self.backend());
        sql.push("UPDATE users SET updated_at = ")
            .bind(now_micros().max(seen.updated_at + 1));
        if let Some(email) = change.email {
            sql.push(", email = ").bind(email);
        }
        if let Some(hash) = change.password_hash {
            sql.push(", password_hash = ").bind(hash);
        }
        if let Some(role) = change.role {
            sql.push(", role = ").bind(role);
        }
        if let Some(data) = change.data {
            sql.push(", data = ").bind(data);
        }
        sql.push(" WHERE id = ").bind(seen.id.clone());
        sql.push(" AND updated_at = ").bind(seen.updated_at);
        sql.push(" RETURNING ").push(READ_COLUMNS);
        self.write_user(tx, sql).await
    }

    async fn write_user(&self, tx: Option<&Tx>, sql: Sql) -> Result<Option<User>, StoreError> {
        let row: Option<Row> = self
            .fetch_one(tx, Access::Write, sql)
            .await
            .map_err(email_taken)?;
        row.map(Row::into_user).transpose()
    }

    /// Deletes a user and every refresh token it holds, in one transaction (`tx`, or one of
    /// its own). Its documents stay (their `ownerId` keeps the old id).
    pub async fn delete_user(&self, tx: Option<&Tx>, id: &str) -> Result<Option<User>, StoreError> {
        match tx {
            Some(tx) => self.delete_user_in(tx, id).await,
            None => {
                let own = self.begin().await?;
                let deleted = self.delete_user_in(&own, id).await?;
                own.commit().await?;
                Ok(deleted)
            }
        }
    }

    async fn delete_user_in(&self, tx: &Tx, id: &str) -> Result<Option<User>, StoreError> {
        let mut tokens = Sql::new(self.backend());
        tokens
            .push("DELETE FROM refresh_tokens WHERE user_id = ")
            .bind(id.to_string());
        self.execute(Some(tx), tokens).await?;
        let mut sql = Sql::new(self.backend());
        sql.push("DELETE FROM users WHERE id = ")
            .bind(id.to_string())
            .push(" RETURNING ")
            .push(READ_COLUMNS);
        self.fetch_user(Some(tx), Access::Write, sql).await
    }

    /// One user row of `sql`, parsed.
    async fn fetch_user(
        &self,
        tx: Option<&Tx>,
        access: Access,
        sql: Sql,
    ) -> Result<Option<User>, StoreError> {
        let row: Option<Row> = self.fetch_one(tx, access, sql).await?;
        row.map(Row::into_user).transpose()
    }

    /// A page of users matching `filter` (parsed for users), oldest first, and the total.
    pub async fn list_users(
        &self,
        filter: &Filter,
        limit: u64,
        offset: u64,
        count_total: bool,
    ) -> Result<(Vec<User>, Option<u64>), StoreError> {
        let mut select = Sql::for_rows(self.backend(), "users");
        select
            .push("SELECT ")
            .push(READ_COLUMNS)
            .push(" FROM users WHERE ");
        push_filter(&mut select, filter);
        select
            .push(" ORDER BY users.id ASC LIMIT ")
            .bind(limit as i64)
            .push(" OFFSET ")
            .bind(offset as i64);
        let mut count = Sql::for_rows(self.backend(), "users");
        count.push("SELECT COUNT(*) AS total FROM users WHERE ");
        push_filter(&mut count, filter);
        let items = async {
            if limit == 0 {
                return Ok(Vec::new());
            }
            let rows: Vec<Row> = self.fetch_all(None, Access::Read, select).await?;
            rows.into_iter().map(Row::into_user).collect()
        };
        let count = async { Ok::<_, StoreError>(self.count(None, count_total, count).await?) };
        tokio::try_join!(items, count)
    }
}
