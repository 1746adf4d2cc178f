//! Refresh tokens: issued, rotated (single use), revoked by session or by user.

use entity::refresh_token;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};

use super::tx::committing;
use super::{Store, StoreError};
use crate::model::clock::now_micros;

/// A stored refresh token (its hash, never the token).
pub type RefreshToken = refresh_token::Model;

/// What presenting a refresh token led to.
#[derive(Clone, Debug, PartialEq)]
pub enum Rotation {
    /// The token was valid: it is now used, and this new one (same session) replaces it.
    Rotated {
        /// The user it signs in.
        user_id: String,
    },
    /// Unknown, expired or revoked.
    Invalid,
    /// Already used: someone holds a copy. The whole session was revoked.
    Reused,
}

impl Store {
    /// Stores a token hash for `user_id` in session `family_id` (a new session when `None`).
    pub async fn insert_refresh_token(
        &self,
        user_id: &str,
        family_id: Option<&str>,
        token_hash: String,
        ttl: std::time::Duration,
    ) -> Result<(), StoreError> {
        self.within(StoreError::OutcomeUnknown, async {
            let _turn = self.write_turn().await;
            insert(&self.db, user_id, family_id, token_hash, ttl).await
        })
        .await
    }

    /// Exchanges the token with hash `old_hash` for `new_hash`, atomically: the old one is
    /// marked used and the new one stored in one transaction, and a token can be exchanged
    /// once only even when two requests race with it.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: String,
        ttl: std::time::Duration,
    ) -> Result<Rotation, StoreError> {
        self.within(StoreError::OutcomeUnknown, async {
            let now = now_micros();
            let _turn = self.write_turn().await;
            let Some(old) = refresh_token::Entity::find()
                .filter(refresh_token::Column::TokenHash.eq(old_hash))
                .one(&self.db)
                .await?
            else {
                return Ok(Rotation::Invalid);
            };
            if old.revoked_at.is_some() || old.expires_at <= now {
                return Ok(Rotation::Invalid);
            }
            if old.used_at.is_some() {
                self.revoke_family_now(&old.family_id, now).await?;
                return Ok(Rotation::Reused);
            }
            let tx = self.db.begin().await?;
            let marked = refresh_token::Entity::update_many()
                .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
                .filter(refresh_token::Column::Id.eq(old.id.clone()))
                .filter(refresh_token::Column::UsedAt.is_null())
                .filter(refresh_token::Column::RevokedAt.is_null())
                .exec(&tx)
                .await?;
            if marked.rows_affected != 1 {
                // Another request exchanged it a moment ago: treat as reuse.
                tx.rollback().await?;
                self.revoke_family_now(&old.family_id, now).await?;
                return Ok(Rotation::Reused);
            }
            insert(&tx, &old.user_id, Some(&old.family_id), new_hash, ttl).await?;
            tx.commit().await.map_err(committing)?;
            Ok(Rotation::Rotated {
                user_id: old.user_id,
            })
        })
        .await
    }

    /// Ends the session of the token with `token_hash`; whether one was active.
    pub async fn revoke_refresh_session(&self, token_hash: &str) -> Result<bool, StoreError> {
        self.within(StoreError::OutcomeUnknown, async {
            let _turn = self.write_turn().await;
            let Some(token) = refresh_token::Entity::find()
                .filter(refresh_token::Column::TokenHash.eq(token_hash))
                .one(&self.db)
                .await?
            else {
                return Ok(false);
            };
            Ok(self
                .revoke_family_now(&token.family_id, now_micros())
                .await?
                > 0)
        })
        .await
    }

    /// Ends every session of `user_id` (password change).
    pub async fn revoke_user_sessions(&self, user_id: &str) -> Result<u64, StoreError> {
        self.within(StoreError::OutcomeUnknown, async {
            let _turn = self.write_turn().await;
            let result = refresh_token::Entity::update_many()
                .col_expr(refresh_token::Column::RevokedAt, Expr::value(now_micros()))
                .filter(refresh_token::Column::UserId.eq(user_id))
                .filter(refresh_token::Column::RevokedAt.is_null())
                .exec(&self.db)
                .await
                .map_err(committing)?;
            Ok(result.rows_affected)
        })
        .await
    }

    /// Deletes tokens past their expiry, used or not: an expired token is refused whatever its
    /// state, so its row has nothing left to prove. Returns how many went.
    pub async fn prune_expired_refresh_tokens(&self) -> Result<u64, StoreError> {
        self.within(StoreError::OutcomeUnknown, async {
            let _turn = self.write_turn().await;
            let result = refresh_token::Entity::delete_many()
                .filter(refresh_token::Column::ExpiresAt.lt(now_micros()))
                .exec(&self.db)
                .await
                .map_err(committing)?;
            Ok(result.rows_affected)
        })
        .await
    }

    /// Revokes a session; the caller holds the write turn.
    async fn revoke_family_now(&self, family_id: &str, now: i64) -> Result<u64, StoreError> {
        let result = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
            .filter(refresh_token::Column::FamilyId.eq(family_id))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(committing)?;
        Ok(result.rows_affected)
    }
}

async fn insert(
    db: &impl sea_orm::ConnectionTrait,
    user_id: &str,
    family_id: Option<&str>,
    token_hash: String,
    ttl: std::time::Duration,
) -> Result<(), StoreError> {
    let now = now_micros();
    let id = uuid::Uuid::new_v4().to_string();
    let model = refresh_token::ActiveModel {
        family_id: Set(family_id.map_or_else(|| id.clone(), str::to_string)),
        id: Set(id),
        user_id: Set(user_id.to_string()),
        token_hash: Set(token_hash),
        created_at: Set(now),
        expires_at: Set(now.saturating_add(ttl.as_micros().min(i64::MAX as u128) as i64)),
        used_at: Set(None),
        revoked_at: Set(None),
    };
    // Without RETURNING: an insert read with `RETURNING` is acknowledged at its first row,
    // before its commit (see `Store::fetch_one`).
    refresh_token::Entity::insert(model)
        .exec_without_returning(db)
        .await
        .map_err(committing)?;
    Ok(())
}
