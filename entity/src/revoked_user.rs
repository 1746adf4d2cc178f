//! A revoked user: a deleted user whose access tokens every instance refuses until they have
//! all expired (access tokens are stateless JWTs, so without this they would work until then).

use sea_orm::entity::prelude::*;

/// One revocation (`revoked_users`), kept until the longest-lived token it could concern has
/// expired, then pruned.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "revoked_users")]
pub struct Model {
    /// The deleted user's id (the `sub` of their tokens).
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// Until when (Unix microseconds) their tokens are refused.
    pub until: i64,
}

/// The user row is gone by the time this exists: no foreign key, nothing to navigate.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
