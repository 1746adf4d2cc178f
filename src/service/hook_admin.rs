//! Admin operations on hooks: the durable deliveries (list, replay), dry runs, the record of
//! runs, and the configuration's status and reload.

use serde_json::Value;

use super::input;
use super::users::require_admin_to;
use super::ServiceError;
use crate::hooks::dry_run::{self, Report};
use crate::manifest::reload::HooksStatus;
use crate::model::Caller;
use crate::state::AppState;
use crate::store::deliveries::Delivery;
use crate::store::deliveries::{DeliveryPage, DeliveryStatus, Retried};
use crate::store::hook_runs::{HookRunPage, HookRunQuery};

/// Deliveries, newest first, optionally of one status and one hook.
pub async fn deliveries(
    state: &AppState,
    caller: &Caller,
    status: Option<DeliveryStatus>,
    hook: Option<String>,
    limit: i32,
    offset: i32,
) -> Result<DeliveryPage, ServiceError> {
    require_admin_to(state, caller, "see hook deliveries").await?;
    let (limit, offset) = input::page_bounds(limit, offset)?;
    input::text("hook", hook.as_deref())?;
    Ok(state
        .store()
        .list_deliveries(status, hook.as_deref(), limit, offset)
        .await?)
}

/// Sends delivery `id` again from its first attempt, with the same event id.
pub async fn retry_delivery(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Delivery, ServiceError> {
    require_admin_to(state, caller, "retry hook deliveries").await?;
    let number: i64 = id.parse().map_err(|_| {
        ServiceError::bad_input("id", format!("`{id}` is not a delivery id (a number)"))
    })?;
    match state.store().retry_delivery(number).await? {
        Retried::Pending(delivery) => {
            state.runner().outbox().wake();
            Ok(*delivery)
        }
        Retried::InFlight => Err(ServiceError::Conflict(format!(
            "delivery {id} is being attempted right now; retry once the attempt is over"
        ))),
        Retried::Missing => Err(ServiceError::NotFound(format!("no delivery `{id}`"))),
    }
}

/// Sends every dead delivery (of `hook`, or all) again; how many.
pub async fn retry_dead(
    state: &AppState,
    caller: &Caller,
    hook: Option<String>,
) -> Result<u64, ServiceError> {
    require_admin_to(state, caller, "retry hook deliveries").await?;
    input::text("hook", hook.as_deref())?;
    let count = state.store().retry_dead_deliveries(hook.as_deref()).await?;
    if count > 0 {
        state.runner().outbox().wake();
    }
    Ok(count)
}

/// Runs `event`'s before-chain on `payload` without writing anything.
pub async fn dry_run(
    state: &AppState,
    caller: &Caller,
    event: &str,
    payload: Value,
) -> Result<Report, ServiceError> {
    require_admin_to(state, caller, "dry-run hooks").await?;
    let event = dry_run::check_event(event).map_err(|m| ServiceError::bad_input("event", m))?;
    let (payload, target) =
        dry_run::input(event, payload).map_err(|m| ServiceError::bad_input("payload", m))?;
    let config = state.runner().config();
    Ok(state.runner().dry_run(&config, &target, payload).await)
}

/// Recorded hook runs matching `query`, newest first.
pub async fn runs(
    state: &AppState,
    caller: &Caller,
    query: HookRunQuery,
    limit: i32,
    offset: i32,
) -> Result<HookRunPage, ServiceError> {
    require_admin_to(state, caller, "see hook runs").await?;
    let (limit, offset) = input::page_bounds(limit, offset)?;
    input::text("hook", query.hook.as_deref())?;
    if let Some(event) = &query.event {
        if crate::model::Event::from_name(event).is_none() {
            return Err(ServiceError::bad_input(
                "event",
                format!("`{event}` is not an event (pre_save, post_save, …)"),
            ));
        }
    }
    Ok(state.store().list_hook_runs(&query, limit, offset).await?)
}

/// Where the hooks configuration in force came from, and the newest refused edit.
pub async fn status(state: &AppState, caller: &Caller) -> Result<HooksStatus, ServiceError> {
    require_admin_to(state, caller, "see the hooks status").await?;
    Ok(state.hooks().status())
}

/// Loads the hooks file now, with the watcher's validation: a valid file is swapped in, an
/// invalid one is refused whole (the status then shows why).
pub async fn reload(state: &AppState, caller: &Caller) -> Result<HooksStatus, ServiceError> {
    require_admin_to(state, caller, "reload hooks").await?;
    let hooks = state.hooks().clone();
    // File reads and script compilation are blocking work.
    let _ = tokio::task::spawn_blocking(move || hooks.reload())
        .await
        .map_err(|e| ServiceError::Internal(format!("the reload crashed: {e}")))?;
    Ok(state.hooks().status())
}
