//! How many bytes of document data one request may still read.
//!
//! Why: twenty 1 MB documents and one query with 50 aliases of `documents(limit: 1000)` made
//! a 953 MB response and 3 GB of server memory (issue 15). Complexity bounds how many rows a
//! query asks for; this bounds the bytes, shared by every field of the request (aliases run
//! concurrently, so the count is atomic) and charged while rows stream in, so a page stops as
//! soon as it would pass the limit instead of after it was all read.

//!
//! A WebSocket connection runs up to a hundred operations at once and queues their answers
//! for a client that may not read: there the budget is the connection's, shared by every
//! operation that runs or whose answer waits to be sent, and given back as answers leave.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use super::read_turns::{ReadTurn, ReadTurns};
use super::StoreError;

/// The bytes of document data a request may still read; clones share the count. Dropping the
/// last clone gives what it took back to the connection's budget, if it has one.
#[derive(Clone, Debug)]
pub struct ReadBudget(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    left: AtomicI64,
    limit: usize,
    /// The connection's budget, and how much of it this request holds.
    shared: Option<(ConnectionBudget, AtomicI64)>,
    /// The client's turns at the read connections, and who the client is.
    client: Option<(Arc<ReadTurns>, std::net::IpAddr)>,
}

/// The bytes of document data one WebSocket connection's operations may hold at once.
#[derive(Clone, Debug)]
pub struct ConnectionBudget {
    left: Arc<AtomicI64>,
    limit: usize,
    client: Option<(Arc<ReadTurns>, std::net::IpAddr)>,
}

fn signed(bytes: usize) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

/// Adds `bytes` (negative: takes) without wrapping around, however much is asked.
fn add(count: &AtomicI64, bytes: i64) {
    let _ = count.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
        Some(n.saturating_add(bytes))
    });
}

impl ConnectionBudget {
    /// A budget of `limit` bytes for everything one connection holds.
    pub fn new(limit: usize) -> Self {
        Self {
            left: Arc::new(AtomicI64::new(signed(limit))),
            limit,
            client: None,
        }
    }

    /// The same, its operations reading in `client`'s turns.
    pub fn for_client(mut self, turns: Arc<ReadTurns>, client: std::net::IpAddr) -> Self {
        self.client = Some((turns, client));
        self
    }

    /// Whether what the connection holds has passed its limit.
    pub fn is_spent(&self) -> bool {
        self.left.load(Ordering::Relaxed) < 0
    }

    /// The budget of one operation on this connection: `limit` bytes of its own, within what
    /// the connection has left.
    pub fn operation(&self, limit: usize) -> ReadBudget {
        let shared = Some((self.clone(), AtomicI64::new(0)));
        ReadBudget::with(limit, shared, self.client.clone())
    }
}

impl ReadBudget {
    fn with(
        limit: usize,
        shared: Option<(ConnectionBudget, AtomicI64)>,
        client: Option<(Arc<ReadTurns>, std::net::IpAddr)>,
    ) -> Self {
        Self(Arc::new(Inner {
            left: AtomicI64::new(signed(limit)),
            limit,
            shared,
            client,
        }))
    }

    /// A budget of `limit` bytes for one request.
    pub fn new(limit: usize) -> Self {
        Self::with(limit, None, None)
    }

    /// A budget of `limit` bytes for one request of `client`, whose lists read in its turns.
    pub fn for_client(limit: usize, turns: Arc<ReadTurns>, client: std::net::IpAddr) -> Self {
        Self::with(limit, None, Some((turns, client)))
    }

    /// Waits for one of the client's turns at the read connections (none to wait for when
    /// the client is not known: hooks' reads, internal work, caps turned off).
    pub async fn read_turn(&self) -> Option<ReadTurn> {
        match &self.0.client {
            Some((turns, client)) => Some(turns.take(*client).await),
            None => None,
        }
    }

    /// No limit: for hooks' own reads and internal work.
    pub fn unlimited() -> Self {
        Self::new(usize::MAX)
    }

    /// Takes `bytes` from the budget; [`StoreError::TooLarge`] once it is spent.
    pub fn charge(&self, bytes: usize) -> Result<(), StoreError> {
        self.take(bytes);
        self.left()
    }

    /// [`StoreError::TooLarge`] if the budget is spent: a mutation asks before it writes, and
    /// then [`Self::take`]s its answer, so no change is made that cannot be answered, and the
    /// one that crosses the limit still is.
    pub fn left(&self) -> Result<(), StoreError> {
        let inner = &self.0;
        if inner.left.load(Ordering::Relaxed) < 0 {
            return Err(StoreError::TooLarge { limit: inner.limit });
        }
        match &inner.shared {
            Some((connection, _)) if connection.left.load(Ordering::Relaxed) < 0 => {
                Err(StoreError::ConnectionTooLarge {
                    limit: connection.limit,
                })
            }
            _ => Ok(()),
        }
    }

    /// Gives back to the connection what this request holds of its budget: once the answer
    /// is written out, the answer holds its own size instead.
    pub fn release(&self) {
        if let Some((connection, held)) = &self.0.shared {
            add(&connection.left, held.swap(0, Ordering::Relaxed));
        }
    }

    /// Takes `bytes` even past the limit (see [`Self::left`]).
    pub fn take(&self, bytes: usize) {
        let bytes = signed(bytes);
        let inner = &self.0;
        add(&inner.left, -bytes);
        if let Some((connection, held)) = &inner.shared {
            add(&connection.left, -bytes);
            add(held, bytes);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some((connection, held)) = &self.shared {
            add(&connection.left, held.load(Ordering::Relaxed));
        }
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
        assert!(ReadBudget::unlimited().charge(usize::MAX).is_ok());
        assert_eq!(json_size(&serde_json::json!({"a": [1, "x"]})), 13);
    }

    #[test]
    fn a_connections_operations_share_its_budget_until_they_end() {
        let connection = ConnectionBudget::new(10);
        let first = connection.operation(8);
        let second = connection.operation(8);
        assert!(first.charge(6).is_ok());
        assert!(matches!(
            second.charge(6),
            Err(StoreError::ConnectionTooLarge { limit: 10 })
        ));
        drop((first, second));
        let third = connection.operation(8);
        assert!(third.charge(8).is_ok());
        assert!(third.left().is_ok());
        third.take(1);
        assert!(matches!(
            third.left(),
            Err(StoreError::TooLarge { limit: 8 })
        ));
    }
}
