//! A server secret: one that every instance on a database must share (the generated JWT
//! signing secret), kept in the database so that instances agree without configuration.

use sea_orm::entity::prelude::*;

/// One shared secret (`server_secrets`). The first instance to store a name wins; the others
/// read its value. Created on both databases; SQLite deployments keep using the data folder's
/// file.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "server_secrets")]
pub struct Model {
    /// What the secret is for (`jwt`: the access tokens' signing secret).
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// The secret itself.
    pub value: String,
    /// When the first instance stored it, Unix microseconds.
    pub created_at: i64,
}

/// Secrets stand alone.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
