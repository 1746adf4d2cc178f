//! Admin fields for hooks: durable deliveries (`hookDeliveries`, `retryDelivery`,
//! `retryDeadDeliveries`), dry runs (`dryRunHooks`), the record of runs (`hookRuns`) and the
//! configuration (`hooksStatus`, `reloadHooks`). The resolvers are here; their types in
//! [`types`].

mod types;

use async_graphql::{Context, Json, Object, ID};
use serde_json::Value;

use super::error::resolve;
use super::types::DateTime;
use super::{caller, state};
use crate::hooks::runs::RunOutcome;
use crate::service::hook_admin;
use crate::store::deliveries::DeliveryPage;
use crate::store::hook_runs::HookRunQuery;
use types::{
    DeliveryStatusObject, DryRunReport, HookDeliveryObject, HookDeliveryPage, HookRunOutcome,
    HookRunPage, HooksStatusObject,
};

/// Admin queries about hooks.
#[derive(Default)]
pub struct HookAdminQuery;

#[Object]
impl HookAdminQuery {
    /// Admin: durable deliveries of URL after-hooks, newest first.
    async fn hook_deliveries(
        &self,
        ctx: &Context<'_>,
        status: Option<DeliveryStatusObject>,
        hook: Option<String>,
        #[graphql(default = 50)] limit: i32,
        #[graphql(default = 0)] offset: i32,
    ) -> async_graphql::Result<HookDeliveryPage> {
        let page = hook_admin::deliveries(
            state(ctx)?,
            caller(ctx)?,
            status.map(Into::into),
            hook,
            limit,
            offset,
        )
        .await;
        resolve(page.map(|p: DeliveryPage| HookDeliveryPage {
            items: p.items.into_iter().map(Into::into).collect(),
            total_count: i64::try_from(p.total).unwrap_or(i64::MAX),
            limit,
            offset,
        }))
    }

    /// Admin: recorded hook runs, newest first, narrowed by hook, event, outcome and start
    /// time.
    #[allow(clippy::too_many_arguments)] // one per GraphQL argument
    async fn hook_runs(
        &self,
        ctx: &Context<'_>,
        hook: Option<String>,
        event: Option<String>,
        outcome: Option<HookRunOutcome>,
        since: Option<DateTime>,
        #[graphql(default = 50)] limit: i32,
        #[graphql(default = 0)] offset: i32,
    ) -> async_graphql::Result<HookRunPage> {
        let query = HookRunQuery {
            hook,
            event,
            outcome: outcome.map(|o| RunOutcome::from(o).as_str().to_string()),
            since: since.map(|s| s.0),
        };
        let page = hook_admin::runs(state(ctx)?, caller(ctx)?, query, limit, offset).await;
        resolve(page.map(|p| HookRunPage {
            items: p.items.into_iter().map(Into::into).collect(),
            total_count: i64::try_from(p.total).unwrap_or(i64::MAX),
            limit,
            offset,
        }))
    }

    /// Admin: the hooks configuration in force (file, load time, hash, bindings) and the
    /// newest refused edit.
    async fn hooks_status(&self, ctx: &Context<'_>) -> async_graphql::Result<HooksStatusObject> {
        resolve(
            hook_admin::status(state(ctx)?, caller(ctx)?)
                .await
                .map(HooksStatusObject::from),
        )
    }
}

/// Admin mutations about hooks.
#[derive(Default)]
pub struct HookAdminMutation;

#[Object]
impl HookAdminMutation {
    /// Admin: sends a delivery again from its first attempt, with the same event id.
    async fn retry_delivery(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<HookDeliveryObject> {
        resolve(hook_admin::retry_delivery(state(ctx)?, caller(ctx)?, &id).await)
    }

    /// Admin: sends every dead delivery (of `hook`, or of all hooks) again; how many.
    async fn retry_dead_deliveries(
        &self,
        ctx: &Context<'_>,
        hook: Option<String>,
    ) -> async_graphql::Result<i64> {
        let count = hook_admin::retry_dead(state(ctx)?, caller(ctx)?, hook).await;
        resolve(count.map(|n| i64::try_from(n).unwrap_or(i64::MAX)))
    }

    /// Admin: runs `event`'s before-chain (`pre_*`, `post_read`) on `payload` (the event's
    /// fields) without writing anything; URL hooks are really called. A mutation because it
    /// reaches out to receivers.
    async fn dry_run_hooks(
        &self,
        ctx: &Context<'_>,
        event: String,
        payload: Json<Value>,
    ) -> async_graphql::Result<DryRunReport> {
        resolve(hook_admin::dry_run(state(ctx)?, caller(ctx)?, &event, payload.0).await)
    }

    /// Admin: loads the hooks files now, validated as the watcher does. A valid file takes
    /// effect at once; an invalid one is refused whole and `lastError` says why (the
    /// configuration in force stays).
    async fn reload_hooks(&self, ctx: &Context<'_>) -> async_graphql::Result<HooksStatusObject> {
        resolve(
            hook_admin::reload(state(ctx)?, caller(ctx)?)
                .await
                .map(HooksStatusObject::from),
        )
    }
}
