//! Turns at the read connections, per client: how many filtered lists one client address may
//! run at once. The rest of its lists wait for its own turns, never for another client's.
//!
//! Why: the read pool is small (half of `HOOKQL_DB_MAX_CONNECTIONS`) and a costly list holds a
//! connection up to `HOOKQL_QUERY_TIMEOUT_MS`. Eight concurrent costly lists from one client
//! held all eight read connections, and every other client's reads waited 5 s (issue 15).
//! Clients are told apart by the server layer (an address, an IPv6 /64); the store only
//! sees the key.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Semaphore;

/// Each client's turns; shared by every request of a server.
#[derive(Debug)]
pub struct ReadTurns {
    most: usize,
    clients: Mutex<HashMap<IpAddr, Arc<Semaphore>>>,
}

/// One turn of one client, given back when dropped. It exists from the moment the client
/// starts waiting, so a wait that is given up (a WebSocket `complete`) cleans up too.
#[derive(Debug)]
pub struct ReadTurn {
    semaphore: Option<Arc<Semaphore>>,
    held: bool,
    turns: Arc<ReadTurns>,
    client: IpAddr,
}

impl ReadTurns {
    /// `most` turns per client (at least one).
    pub fn new(most: usize) -> Arc<Self> {
        Arc::new(Self {
            most: most.clamp(1, Semaphore::MAX_PERMITS),
            clients: Mutex::default(),
        })
    }

    /// Waits for one of `client`'s turns.
    pub async fn take(self: &Arc<Self>, client: IpAddr) -> ReadTurn {
        let semaphore = self
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(client)
            .or_insert_with(|| Arc::new(Semaphore::new(self.most)))
            .clone();
        let mut turn = ReadTurn {
            semaphore: Some(semaphore),
            held: false,
            turns: self.clone(),
            client,
        };
        if let Some(semaphore) = &turn.semaphore {
            // Never closed, so `acquire` cannot fail; a failure would only skip the wait. The
            // permit is given back by hand in `drop`, which owns the semaphore.
            if let Ok(permit) = semaphore.acquire().await {
                permit.forget();
                turn.held = true;
            }
        }
        turn
    }

    /// How many clients hold or wait for turns now.
    #[cfg(test)]
    fn clients(&self) -> usize {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for ReadTurn {
    fn drop(&mut self) {
        let mut clients = self
            .turns
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(semaphore) = self.semaphore.take() {
            if self.held {
                semaphore.add_permits(1);
            }
        }
        // Forget a client nobody holds or waits for (the map's own reference is the last),
        // so the map stays as small as the live set.
        if clients
            .get(&self.client)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            clients.remove(&self.client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_client_waits_for_its_own_turns_only() {
        let turns = ReadTurns::new(2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = turns.take(a).await;
        let _second = turns.take(a).await;
        let third = tokio::time::timeout(std::time::Duration::from_millis(50), turns.take(a));
        assert!(third.await.is_err(), "a third turn waits");
        let other = turns.take(b).await;
        drop(first);
        let _third = turns.take(a).await;
        drop(other);
        assert_eq!(turns.clients(), 1, "a client holding nothing is forgotten");
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        let _held = turns.take(c).await;
        let _held_too = turns.take(c).await;
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(20), turns.take(c));
        assert!(gave_up.await.is_err());
        drop((_held, _held_too));
        assert_eq!(turns.clients(), 1, "a wait given up leaves nothing behind");
    }
}
