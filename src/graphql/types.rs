//! GraphQL object types, built from store models by explicit conversions (never derived on
//! the entities, so a new column cannot leak).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_graphql::{
    ComplexObject, Context, Enum, InputObject, InputValueError, InputValueResult, Json, Scalar,
    ScalarType, SimpleObject, Value, ID,
};
use chrono::{DateTime as ChronoDateTime, SecondsFormat};

use crate::model::sort::Direction;
use crate::model::Document;
use crate::service::users::{self, User};
use crate::store::budget::{json_size, ReadBudget};
use crate::store::Page;

/// An instant, as an RFC 3339 string in UTC with microseconds
/// (`2026-11-25T14:52:53.123456Z`), the precision timestamps are stored in, so a value read
/// back can be used in a filter exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime(pub i64);

#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => crate::model::filter::parse_timestamp(s)
                .map(DateTime)
                .map_err(InputValueError::custom),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        let text = ChronoDateTime::from_timestamp_micros(self.0)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
            .unwrap_or_default();
        Value::String(text)
    }
}

/// A stored document.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Document", complex)]
pub struct DocumentObject {
    /// UUID v7 (time-ordered).
    pub id: ID,
    /// The collection it belongs to.
    pub collection: String,
    /// Its data (see the `data` resolver).
    #[graphql(skip)]
    pub data: Json<serde_json::Value>,
    /// Whether `data` went into the answer once already (see [`repeat_charged`]).
    #[graphql(skip)]
    pub served: Arc<AtomicBool>,
    /// The app user who created it.
    pub owner_id: Option<ID>,
    /// When it was created.
    pub created_at: DateTime,
    /// When it last changed.
    pub updated_at: DateTime,
    /// 1 when created, +1 on every update.
    pub version: i32,
}

impl From<Document> for DocumentObject {
    fn from(d: Document) -> Self {
        Self {
            id: ID(d.id),
            collection: d.collection,
            data: Json(d.data),
            served: Arc::default(),
            owner_id: d.owner_id.map(ID),
            created_at: DateTime(d.created_at),
            updated_at: DateTime(d.updated_at),
            version: d.version,
        }
    }
}

#[ComplexObject]
impl DocumentObject {
    /// Its data: a JSON object.
    async fn data(&self, ctx: &Context<'_>) -> async_graphql::Result<&Json<serde_json::Value>> {
        repeat_charged(ctx, &self.served, &self.data.0)?;
        Ok(&self.data)
    }
}

/// Charges `data` to the request's read budget when the answer already holds it once: reads
/// and mutations charge each document or profile once, but aliases (`d1: data d2: data`,
/// spread through fragments) would copy it hundreds of times into the answer for free.
fn repeat_charged(
    ctx: &Context<'_>,
    served: &AtomicBool,
    data: &serde_json::Value,
) -> async_graphql::Result<()> {
    if !served.swap(true, Ordering::Relaxed) {
        return Ok(());
    }
    if let Some(budget) = ctx.data_opt::<ReadBudget>() {
        let charged = budget.charge(json_size(data));
        super::error::resolve::<(), ()>(charged.map_err(Into::into))?;
    }
    Ok(())
}

/// What happened to a document.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeType {
    /// It was created.
    Created,
    /// Its data changed.
    Updated,
    /// It was deleted.
    Deleted,
}

/// One committed change, as `documentChanged` sends it.
#[derive(SimpleObject, Clone, Debug)]
pub struct DocumentEvent {
    /// Created, updated or deleted.
    #[graphql(name = "type")]
    pub change_type: ChangeType,
    /// The document after the change; for a delete, its last state.
    pub document: DocumentObject,
    /// For an update, the data before it (null when your read rule did not let you read it).
    pub old_data: Option<Json<serde_json::Value>>,
}

impl From<crate::service::subscriptions::ChangeEvent> for DocumentEvent {
    fn from(event: crate::service::subscriptions::ChangeEvent) -> Self {
        use crate::store::changes::ChangeKind;
        Self {
            change_type: match event.kind {
                ChangeKind::Created => ChangeType::Created,
                ChangeKind::Updated => ChangeType::Updated,
                ChangeKind::Deleted => ChangeType::Deleted,
            },
            document: event.document.into(),
            old_data: event.old_data.map(Json),
        }
    }
}

/// A page of documents.
#[derive(SimpleObject, Clone, Debug)]
pub struct DocumentPage {
    /// The documents of this page.
    pub items: Vec<DocumentObject>,
    /// How many documents match the filter in all.
    pub total_count: i64,
    /// The page size asked for.
    pub limit: i32,
    /// How many matching documents were skipped.
    pub offset: i32,
}

impl DocumentPage {
    /// Builds the GraphQL page from a store page and the request's bounds.
    pub fn new(page: Page, limit: i32, offset: i32) -> Self {
        Self {
            items: page.items.into_iter().map(Into::into).collect(),
            total_count: total(page.total_count),
            limit,
            offset,
        }
    }
}

/// A page's `totalCount` (0 when it was not asked for, as then it is not selected either).
fn total(count: Option<u64>) -> i64 {
    count.map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// Sort direction.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SortDirection {
    /// Smallest first.
    Asc,
    /// Largest first.
    Desc,
}

impl From<SortDirection> for Direction {
    fn from(d: SortDirection) -> Self {
        match d {
            SortDirection::Asc => Direction::Asc,
            SortDirection::Desc => Direction::Desc,
        }
    }
}

/// One sort key: a data field (dotted paths allowed) or `id`, `createdAt`, `updatedAt`,
/// `ownerId`, `version`.
#[derive(InputObject, Clone, Debug)]
pub struct SortField {
    /// The field to sort by.
    pub field: String,
    /// The direction (ascending by default).
    #[graphql(default_with = "Some(SortDirection::Asc)")]
    pub direction: Option<SortDirection>,
}

/// An app user, as clients see it (never the password hash).
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "User", complex)]
pub struct UserObject {
    /// UUID v7.
    pub id: ID,
    /// The email address (lower-cased).
    pub email: String,
    /// `user`, `admin`, or another role named in rules.
    pub role: String,
    /// The profile (see the `data` resolver).
    #[graphql(skip)]
    pub data: Json<serde_json::Value>,
    /// Whether `data` went into the answer once already.
    #[graphql(skip)]
    pub served: Arc<AtomicBool>,
    /// When the account was created.
    pub created_at: DateTime,
    /// When it last changed.
    pub updated_at: DateTime,
    /// The last successful sign-in.
    pub last_login_at: Option<DateTime>,
}

impl From<User> for UserObject {
    fn from(u: User) -> Self {
        Self {
            id: ID(u.id),
            email: u.email,
            role: u.role,
            data: Json(u.data),
            served: Arc::default(),
            created_at: DateTime(u.created_at),
            updated_at: DateTime(u.updated_at),
            last_login_at: u.last_login_at.map(DateTime),
        }
    }
}

#[ComplexObject]
impl UserObject {
    /// The profile: a JSON object.
    async fn data(&self, ctx: &Context<'_>) -> async_graphql::Result<&Json<serde_json::Value>> {
        repeat_charged(ctx, &self.served, &self.data.0)?;
        Ok(&self.data)
    }
}

/// A page of users.
#[derive(SimpleObject, Clone, Debug)]
pub struct UserPage {
    /// The users of this page, oldest first.
    pub items: Vec<UserObject>,
    /// How many users match the filter in all.
    pub total_count: i64,
    /// The page size asked for.
    pub limit: i32,
    /// How many matching users were skipped.
    pub offset: i32,
}

impl UserPage {
    /// Builds the GraphQL page from the service's page and the request's bounds.
    pub fn new(page: users::UserPage, limit: i32, offset: i32) -> Self {
        Self {
            items: page.items.into_iter().map(Into::into).collect(),
            total_count: total(page.total_count),
            limit,
            offset,
        }
    }
}

/// A signed-in session: send `accessToken` as `Authorization: Bearer …`; before it expires
/// (`expiresIn` seconds), exchange `refreshToken` for a new pair with `refreshToken`.
#[derive(SimpleObject, Clone, Debug)]
pub struct AuthPayload {
    /// A short-lived JWT (HS256).
    pub access_token: String,
    /// An opaque, single-use token for `refreshToken`.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i32,
    /// The signed-in user.
    pub user: UserObject,
}

impl From<users::Session> for AuthPayload {
    fn from(s: users::Session) -> Self {
        Self {
            access_token: s.access_token,
            refresh_token: s.refresh_token,
            expires_in: i32::try_from(s.expires_in).unwrap_or(i32::MAX),
            user: s.user.into(),
        }
    }
}
