//! Access rules (docs/graphql.md, "Access rules") turned into filters for one caller.
//!
//! Every rule becomes either a refusal that does not depend on the document (an anonymous
//! caller where a sign-in is needed; a non-admin where admins are needed) or a [`Filter`] that
//! the store adds to its SQL. So a read rule narrows `documents` inside the query (counts and
//! pages stay exact, nothing extra is loaded), and update/delete rules are checked against the
//! stored row in the same statement that writes it.

use serde_json::Value;

use crate::manifest::Rule;
use crate::model::filter::{Field, Filter, MetaField, Op, Scalar};
use crate::model::Caller;

/// Prefix of a string operand that stands for a value of the caller (`$auth.id`).
pub const AUTH_PREFIX: &str = "$auth.";

/// Why a rule refused a caller before looking at any document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Signing in might help.
    Unauthenticated,
    /// The caller is signed in and still may not.
    Forbidden,
}

/// The filter a document must match for `caller` to pass `rule`.
pub fn rule_filter(rule: &Rule, caller: &Caller) -> Result<Filter, Refusal> {
    if caller.is_admin() {
        return Ok(Filter::always());
    }
    match (rule, caller.user_id()) {
        (Rule::Public, _) => Ok(Filter::always()),
        (Rule::Authenticated | Rule::Owner | Rule::Admin, None) => Err(Refusal::Unauthenticated),
        (Rule::Authenticated, Some(_)) => Ok(Filter::always()),
        (Rule::Owner, Some(id)) => Ok(Filter::Compare(
            Field::Meta(MetaField::OwnerId),
            Op::Eq(Scalar::Str(id.to_string())),
        )),
        (Rule::Admin, Some(_)) => Err(Refusal::Forbidden),
        (Rule::Filter(filter), _) => Ok(bind_caller(filter, caller)),
    }
}

/// Replaces `$auth.<name>` operands with the caller's values. A comparison that needs a value
/// the caller does not have (anonymous, a missing claim, or a value of a type the field can
/// never hold) matches nothing, so under `_not` it matches everything: the filter stays
/// two-valued.
pub fn bind_caller(filter: &Filter, caller: &Caller) -> Filter {
    match filter {
        Filter::And(items) => Filter::And(items.iter().map(|f| bind_caller(f, caller)).collect()),
        Filter::Or(items) => Filter::Or(items.iter().map(|f| bind_caller(f, caller)).collect()),
        Filter::Not(inner) => Filter::Not(Box::new(bind_caller(inner, caller))),
        Filter::Compare(field, op) => bind_comparison(field, op, caller)
            .map(|op| Filter::Compare(field.clone(), op))
            .unwrap_or_else(Filter::never),
    }
}

fn bind_comparison(field: &Field, op: &Op, caller: &Caller) -> Option<Op> {
    let one = |s: &Scalar| bind_scalar(field, s, caller);
    let all = |items: &[Scalar]| items.iter().map(one).collect::<Option<Vec<_>>>();
    Some(match op {
        Op::Eq(s) => Op::Eq(one(s)?),
        Op::Neq(s) => Op::Neq(one(s)?),
        Op::Gt(s) => Op::Gt(one(s)?),
        Op::Gte(s) => Op::Gte(one(s)?),
        Op::Lt(s) => Op::Lt(one(s)?),
        Op::Lte(s) => Op::Lte(one(s)?),
        Op::In(items) => Op::In(all(items)?),
        Op::Nin(items) => Op::Nin(all(items)?),
        Op::Contains(items) => Op::Contains(all(items)?),
        Op::Like(_) | Op::Ilike(_) | Op::IsNull(_) => op.clone(),
    })
}

fn bind_scalar(field: &Field, scalar: &Scalar, caller: &Caller) -> Option<Scalar> {
    let Scalar::Str(text) = scalar else {
        return Some(scalar.clone());
    };
    let Some(name) = text.strip_prefix(AUTH_PREFIX) else {
        return Some(scalar.clone());
    };
    let value = match caller.value(name)? {
        Value::String(s) => Scalar::Str(s),
        Value::Bool(b) => Scalar::Bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Scalar::Int(i),
            None => Scalar::Float(n.as_f64()?),
        },
        _ => return None,
    };
    // A column has one SQL type: binding a value of another type would be an SQL error on
    // PostgreSQL, and could never match anyway.
    match (field, &value) {
        (Field::Data(_), _) => Some(value),
        (Field::Meta(meta), Scalar::Str(_)) if meta.is_text() => Some(value),
        (Field::Meta(MetaField::Version), Scalar::Int(_)) => Some(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::caller::Claims;
    use serde_json::json;

    fn user(id: &str, role: &str) -> Caller {
        Caller::User(std::sync::Arc::new(Claims {
            sub: id.into(),
            email: format!("{id}@x.io"),
            role: role.into(),
            iat: 0,
            exp: 0,
            iss: "hookql".into(),
            jti: None,
            extra: json!({"team": 7}).as_object().unwrap().clone(),
        }))
    }

    fn filter(v: serde_json::Value) -> Filter {
        Filter::parse(&v, "rule").unwrap()
    }

    #[test]
    fn keywords() {
        let anon = Caller::Anonymous;
        let ann = user("ann", "user");
        assert_eq!(rule_filter(&Rule::Public, &anon), Ok(Filter::always()));
        assert_eq!(
            rule_filter(&Rule::Authenticated, &anon),
            Err(Refusal::Unauthenticated)
        );
        assert_eq!(
            rule_filter(&Rule::Authenticated, &ann),
            Ok(Filter::always())
        );
        assert_eq!(
            rule_filter(&Rule::Owner, &ann),
            Ok(filter(json!({"ownerId": "ann"})))
        );
        assert_eq!(rule_filter(&Rule::Admin, &ann), Err(Refusal::Forbidden));
        assert_eq!(
            rule_filter(&Rule::Admin, &anon),
            Err(Refusal::Unauthenticated)
        );
        assert_eq!(
            rule_filter(&Rule::Owner, &user("root", "admin")),
            Ok(Filter::always())
        );
    }

    #[test]
    fn auth_values_are_bound() {
        let rule = Rule::Filter(filter(json!({"_or": [
            {"status": "published"},
            {"ownerId": {"_eq": "$auth.id"}},
            {"team": {"_in": ["$auth.team"]}}
        ]})));
        assert_eq!(
            rule_filter(&rule, &user("ann", "user")).unwrap(),
            filter(
                json!({"_or": [{"status": "published"}, {"ownerId": "ann"}, {"team": {"_in": [7]}}]})
            )
        );
        // Anonymous: the comparisons that need a caller match nothing.
        assert_eq!(
            rule_filter(&rule, &Caller::Anonymous).unwrap(),
            Filter::Or(vec![
                filter(json!({"status": "published"})),
                Filter::never(),
                Filter::never()
            ])
        );
        // A number claim can never equal the text column ownerId.
        let odd = Rule::Filter(filter(json!({"ownerId": "$auth.team"})));
        assert_eq!(
            rule_filter(&odd, &user("ann", "user")).unwrap(),
            Filter::never()
        );
    }
}
