//! Deleted users, whose access tokens are refused before they expire.
//!
//! Access tokens are stateless JWTs: without this, a deleted user's token kept working for up
//! to its whole lifetime (15 minutes). Every authenticated request asks this set, so it lives
//! in memory (a read lock and, while anyone is revoked, one hash lookup; no database round
//! trip). It is filled at start from the `revoked_users` table and kept current by the
//! deletions of this instance and, on PostgreSQL, by the other instances' notifications
//! (`store::revoked_users`). An entry lasts until every token issued before the deletion has
//! expired; user ids are never reused, so nothing else needs to be compared.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

/// Revoked user ids, each with when its entry may be dropped (Unix microseconds).
#[derive(Debug, Default)]
pub struct RevokedUsers {
    until: RwLock<HashMap<Box<str>, i64>>,
    /// Whether the map has entries: the usual case, nobody revoked, then costs one load.
    any: AtomicBool,
}

impl RevokedUsers {
    /// Whether `user_id`'s tokens are refused at `now` (Unix microseconds).
    pub fn contains(&self, user_id: &str, now: i64) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let until = self.until.read().unwrap_or_else(PoisonError::into_inner);
        until.get(user_id).is_some_and(|until| *until > now)
    }

    /// Refuses `user_id`'s tokens until `until`; drops entries that have run out.
    pub fn insert(&self, user_id: &str, until: i64, now: i64) {
        let mut map = self.until.write().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, until| *until > now);
        let entry = map.entry(user_id.into()).or_insert(until);
        *entry = (*entry).max(until);
        self.any.store(true, Ordering::Release);
    }

    /// Adds every entry of `rows` (as read from the table) still in force at `now`.
    pub fn extend(&self, rows: impl IntoIterator<Item = (String, i64)>, now: i64) {
        for (user_id, until) in rows {
            if until > now {
                self.insert(&user_id, until, now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_user_is_refused_until_its_entry_runs_out() {
        let revoked = RevokedUsers::default();
        assert!(!revoked.contains("u1", 0));
        revoked.insert("u1", 100, 0);
        assert!(revoked.contains("u1", 99));
        assert!(!revoked.contains("u2", 99));
        assert!(!revoked.contains("u1", 100));
        revoked.extend([("u2".to_string(), 50), ("u3".to_string(), 10)], 20);
        assert!(revoked.contains("u2", 20));
        assert!(
            !revoked.contains("u3", 5),
            "rows already run out are not loaded"
        );
        revoked.insert("u4", 300, 200);
        assert!(!revoked.until.read().unwrap().contains_key("u1"), "pruned");
    }
}
