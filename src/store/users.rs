//! App users: one row each, with the email stored lower-cased and unique.

use entity::user;
use sea_orm::{ActiveModelTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use sea_orm::{ColumnTrait, SqlErr};
use serde_json::Value;

use super::filter::sql::push_filter;
use super::filter::Filter;
use super::sql::Sql;
use super::{Store, StoreError};

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

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn email_taken(error: sea_orm::DbErr) -> StoreError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::EmailTaken,
        _ => StoreError::Database(error),
    }
}

impl Store {
    /// Stores a new user; [`StoreError::EmailTaken`] if the email is in use.
    pub async fn create_user(&self, new: NewUser) -> Result<User, StoreError> {
        let now = now_micros();
        let model = user::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            email: Set(new.email),
            password_hash: Set(new.password_hash),
            role: Set(new.role),
            data: Set(new.data),
            created_at: Set(now),
            updated_at: Set(now),
            last_login_at: Set(new.signed_in.then_some(now)),
        };
        let _turn = self.write_turn().await;
        model.insert(&self.db).await.map_err(email_taken)
    }

    /// The user with `id`.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        Ok(user::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await?)
    }

    /// The user with `email` (lower-cased).
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        Ok(user::Entity::find()
            .filter(user::Column::Email.eq(email))
            .one(&self.db)
            .await?)
    }

    /// Records a successful sign-in.
    pub async fn touch_login(&self, id: &str) -> Result<Option<User>, StoreError> {
        let now = now_micros();
        let mut sql = Sql::new(self.backend());
        sql.push("UPDATE users SET last_login_at = ").bind(now);
        sql.push(" WHERE id = ").bind(id.to_string());
        sql.push(" RETURNING ").push(COLUMNS);
        self.write_user(sql).await
    }

    /// Changes a user, unless it changed since `seen` (then `Ok(None)`: read again and retry),
    /// so that two concurrent profile edits never silently drop one another.
    pub async fn update_user(
        &self,
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
        sql.push(" RETURNING ").push(COLUMNS);
        self.write_user(sql).await
    }

    async fn write_user(&self, sql: Sql) -> Result<Option<User>, StoreError> {
        let _turn = self.write_turn().await;
        user::Entity::find()
            .from_raw_sql(sql.into_statement())
            .one(&self.db)
            .await
            .map_err(email_taken)
    }

    /// Deletes a user and every refresh token it holds, in one transaction. Its documents
    /// stay (their `ownerId` keeps the old id).
    pub async fn delete_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let _turn = self.write_turn().await;
        let tx = self.db.begin().await?;
        entity::refresh_token::Entity::delete_many()
            .filter(entity::refresh_token::Column::UserId.eq(id))
            .exec(&tx)
            .await?;
        let mut sql = Sql::new(self.backend());
        sql.push("DELETE FROM users WHERE id = ")
            .bind(id.to_string())
            .push(" RETURNING ")
            .push(COLUMNS);
        let deleted = user::Entity::find()
            .from_raw_sql(sql.into_statement())
            .one(&tx)
            .await?;
        tx.commit().await?;
        Ok(deleted)
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
            .push(COLUMNS)
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
            user::Entity::find()
                .from_raw_sql(select.into_statement())
                .all(&self.db)
                .await
        };
        Ok(tokio::try_join!(items, self.count_if(count_total, count))?)
    }
}
