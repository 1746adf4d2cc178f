//! How many bytes of document data one request may still read.
//!
//! Why: twenty 1 MB documents and one query with 50 aliases of `documents(limit: 1000)` made
//! a 953 MB response and 3 GB of server memory (issue 15). Complexity bounds how many rows a
//! query asks for; this bounds the bytes, shared by every field of the request (aliases run
//! concurrently, so the count is atomic) and charged while rows stream in, so a page stops as
//! soon as it would pass the limit instead of after it was all read.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use super::StoreError;

/// The bytes of document data a request may still read; clones share the count.
#[derive(Clone, Debug)]
pub struct ReadBudget {
    left: Arc<AtomicI64>,
    limit: usize,
}

impl ReadBudget {
    /// A budget of `limit` bytes for one request.
    pub fn new(limit: usize) -> Self {
        Self {
            left: Arc::new(AtomicI64::new(i64::try_from(limit).unwrap_or(i64::MAX))),
            limit,
        }
    }

    /// No limit: for hooks' own reads and internal work.
    pub fn unlimited() -> Self {
        Self::new(usize::MAX)
    }

    /// Takes `bytes` from the budget; [`StoreError::TooLarge`] once it is spent.
    pub fn charge(&self, bytes: usize) -> Result<(), StoreError> {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        if self.left.fetch_sub(bytes, Ordering::Relaxed) < bytes {
            return Err(StoreError::TooLarge { limit: self.limit });
        }
        Ok(())
    }
}

/// How many bytes `value` takes as JSON, without building the text.
pub fn json_size(value: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_budget() {
        let budget = ReadBudget::new(10);
        let other = budget.clone();
        assert!(budget.charge(6).is_ok());
        assert!(other.charge(4).is_ok());
        assert!(matches!(
            other.charge(1),
            Err(StoreError::TooLarge { limit: 10 })
        ));
        assert!(ReadBudget::unlimited().charge(usize::MAX / 2).is_ok());
        assert_eq!(json_size(&serde_json::json!({"a": [1, "x"]})), 13);
    }
}
