//! User queries and mutations: sign-up, sign-in, sessions, profile, and admin management.

use async_graphql::{Context, Json, Object, ID};

use super::answers::{answerable, answered, read_budget};
use super::error::resolve;
use super::types::{AuthPayload, UserObject, UserPage};
use super::{caller, state};
use crate::service::users::{self, MeChange};
use crate::store::budget::json_size;

/// User queries.
#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// The signed-in user; null when anonymous.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<UserObject>> {
        let user = match users::me(state(ctx)?, caller(ctx)?).await {
            Ok(Some(user)) => read_budget(ctx)?
                .charge(crate::store::budget::json_size(&user.data))
                .map(|()| Some(user))
                .map_err(Into::into),
            other => other,
        };
        resolve(user.map(|u| u.map(UserObject::from)))
    }

    /// Admin: one user by id; null when there is none.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<UserObject>> {
        let user = users::get(state(ctx)?, caller(ctx)?, &id).await;
        let budget = read_budget(ctx)?;
        let user = user.and_then(|found| {
            if let Some(u) = &found {
                budget.charge(json_size(&u.data))?;
            }
            Ok(found)
        });
        resolve(user.map(|u| u.map(UserObject::from)))
    }

    /// Admin: users matching `filter` (top-level `id email role createdAt updatedAt
    /// lastLoginAt`; other names are profile fields), oldest first.
    async fn users(
        &self,
        ctx: &Context<'_>,
        filter: Option<Json<serde_json::Value>>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> async_graphql::Result<UserPage> {
        let (limit, offset) = (limit.unwrap_or(50), offset.unwrap_or(0));
        let count_total = ctx.look_ahead().field("totalCount").exists();
        let page = users::list(
            state(ctx)?,
            caller(ctx)?,
            filter.map(|f| f.0),
            limit,
            offset,
            count_total,
        )
        .await;
        // Admins only, yet a thousand large profiles are as large as a thousand documents.
        let budget = read_budget(ctx)?;
        let page = page.and_then(|p| {
            let bytes = p.items.iter().map(|u| json_size(&u.data)).sum();
            budget.charge(bytes)?;
            Ok(p)
        });
        resolve(page.map(|p| UserPage::new(p, limit, offset)))
    }
}

/// User mutations.
#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Creates an account (role `user`) and signs it in. `CONFLICT` if the email is taken.
    async fn register(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        data: Option<Json<serde_json::Value>>,
    ) -> async_graphql::Result<AuthPayload> {
        let budget = answerable(ctx)?;
        let session = users::register(state(ctx)?, &email, &password, data.map(|d| d.0)).await;
        answered(&budget, session, |s| &s.user.data)
    }

    /// Signs in. Failures say only "invalid email or password"; repeated failures for one
    /// email are slowed down (`RATE_LIMITED` with `retryAfter`).
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> async_graphql::Result<AuthPayload> {
        let budget = answerable(ctx)?;
        let session = users::login(state(ctx)?, &email, &password).await;
        answered(&budget, session, |s| &s.user.data)
    }

    /// Exchanges a refresh token (once) for a new access and refresh token.
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<AuthPayload> {
        let budget = answerable(ctx)?;
        let session = users::refresh(state(ctx)?, &refresh_token).await;
        answered(&budget, session, |s| &s.user.data)
    }

    /// Ends the session the refresh token belongs to; false if it was not active.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<bool> {
        resolve(users::logout(state(ctx)?, &refresh_token).await)
    }

    /// Changes the signed-in user: `data` is merged into the profile (JSON Merge Patch);
    /// `email` and `password` need `currentPassword`. A new password ends all sessions.
    async fn update_me(
        &self,
        ctx: &Context<'_>,
        data: Option<Json<serde_json::Value>>,
        email: Option<String>,
        password: Option<String>,
        current_password: Option<String>,
    ) -> async_graphql::Result<UserObject> {
        let change = MeChange {
            data: data.map(|d| d.0),
            email,
            password,
            current_password,
        };
        let budget = answerable(ctx)?;
        let user = users::update_me(state(ctx)?, caller(ctx)?, change).await;
        answered(&budget, user, |u| &u.data)
    }

    /// Deletes the signed-in user's account (its documents stay).
    async fn delete_me(&self, ctx: &Context<'_>, password: String) -> async_graphql::Result<bool> {
        resolve(users::delete_me(state(ctx)?, caller(ctx)?, &password).await)
    }

    /// Admin: merges `data` into a user's profile and/or sets its role.
    async fn update_user(
        &self,
        ctx: &Context<'_>,
        id: ID,
        data: Option<Json<serde_json::Value>>,
        role: Option<String>,
    ) -> async_graphql::Result<UserObject> {
        let budget = answerable(ctx)?;
        let user = users::update(state(ctx)?, caller(ctx)?, &id, data.map(|d| d.0), role).await;
        answered(&budget, user, |u| &u.data)
    }

    /// Admin: deletes a user and ends its sessions (its documents stay).
    async fn delete_user(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        resolve(users::delete(state(ctx)?, caller(ctx)?, &id).await)
    }
}
