//! An app user: someone who signs in to the apps built on hookql.

use sea_orm::entity::prelude::*;

/// One stored app user. The password hash lives here and nowhere else: GraphQL's `User` is
/// built from this by an explicit conversion that leaves it out.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// UUID v7 in its hyphenated lower-case form.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The email address, lower-cased, so uniqueness is case-insensitive on both databases.
    #[sea_orm(unique)]
    pub email: String,
    /// argon2id PHC string (`$argon2id$v=19$…`).
    pub password_hash: String,
    /// `user`, `admin`, or another role named in rules.
    pub role: String,
    /// The profile: always a JSON object.
    #[sea_orm(column_type = "JsonBinary")]
    pub data: Json,
    /// Creation time, Unix microseconds.
    pub created_at: i64,
    /// Last change, Unix microseconds.
    pub updated_at: i64,
    /// Last successful sign-in, Unix microseconds.
    pub last_login_at: Option<i64>,
}

/// Users own refresh tokens; the link is kept in SQL (foreign key), not navigated here.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
