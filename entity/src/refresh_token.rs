//! A refresh token: the long-lived half of a session, stored only as a hash.

use sea_orm::entity::prelude::*;

/// One issued refresh token. Tokens issued by rotating one another share a `family_id` (one
/// sign-in session), so that a stolen token used twice can end the whole session.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// UUID v4.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The user it signs in.
    pub user_id: String,
    /// The session: the id of the first token of the rotation chain.
    pub family_id: String,
    /// SHA-256 of the token, hex. The token itself is never stored.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// Issue time, Unix microseconds.
    pub created_at: i64,
    /// After this (Unix microseconds) the token is refused.
    pub expires_at: i64,
    /// When it was exchanged for a new pair; a second use is a theft signal.
    pub used_at: Option<i64>,
    /// When it was revoked (logout, reuse, password change, user deleted).
    pub revoked_at: Option<i64>,
}

/// See [`super::user::Relation`].
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
