//! What answers take from the request's read budget ([`ReadBudget`]): lists charge it row
//! by row in the store; single answers (`document`, `me`) and mutation answers here.

use async_graphql::Context;
use serde_json::Value;

use super::error::resolve;
use super::state;
use crate::service::ServiceError;
use crate::store::budget::{json_size, ReadBudget};

/// The request's read budget (shared by its fields), or a fresh one where the transport
/// gave none. Lists charge it row by row; `document` (and `me`) once they have their answer:
/// fifty aliases of one large document are as large as a list.
pub(super) fn read_budget(ctx: &Context<'_>) -> async_graphql::Result<ReadBudget> {
    Ok(match ctx.data_opt::<ReadBudget>() {
        Some(budget) => budget.clone(),
        None => ReadBudget::new(state(ctx)?.settings().max_response_bytes),
    })
}

/// The request's read budget, if it is not spent: a mutation asks before it writes, so that
/// fifty aliased mutations of a large document or profile cannot make an answer past the
/// limit, and no change is made that cannot be answered.
pub(super) fn answerable(ctx: &Context<'_>) -> async_graphql::Result<ReadBudget> {
    let budget = read_budget(ctx)?;
    resolve::<(), ()>(budget.left().map_err(Into::into))?;
    Ok(budget)
}

/// A mutation's answer, the size of its `data` taken from `budget` (even past the limit:
/// the change is made, and the next mutation of the request is refused).
pub(super) fn answered<T, U: From<T>>(
    budget: &ReadBudget,
    result: Result<T, ServiceError>,
    data: impl Fn(&T) -> &Value,
) -> async_graphql::Result<U> {
    if let Ok(answer) = &result {
        budget.take(json_size(data(answer)));
    }
    resolve(result)
}
