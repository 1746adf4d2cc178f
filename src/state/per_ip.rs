//! Per-client caps: how many of something (HTTP connections, WebSocket connections, running
//! WebSocket operations) one client address may hold at once, so that one client cannot take
//! every slot a server-wide cap leaves (issue 15: one address held all 10,000 WebSocket
//! slots, and 100,000 subscriptions).
//!
//! A client is its TCP peer's address; IPv6 peers count per /64, the block one subscriber
//! usually gets (counting single IPv6 addresses would cap nothing). Behind a reverse proxy
//! every client shares the proxy's address: such deployments turn these caps off (0) and
//! enforce per-client limits at the proxy.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};

use crate::store::budget::{ConnectionBudget, ReadBudget};
use crate::store::read_turns::ReadTurns;

/// A client's address, as requests carry it (put there by the listener, `server::listen`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer(pub IpAddr);

/// Counts what each client address holds, for one kind of thing (clones share the counts).
#[derive(Clone, Debug, Default)]
pub struct PerIp(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One slot held by a client; given back when dropped.
#[derive(Debug)]
pub struct Held {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    client: IpAddr,
}

impl PerIp {
    /// Takes a slot for `peer` unless it already holds `cap` (0: no cap, always granted).
    pub fn try_hold(&self, peer: IpAddr, cap: usize) -> Option<Held> {
        let client = client(peer);
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let held = counts.entry(client).or_insert(0);
        if cap > 0 && *held >= cap {
            return None;
        }
        *held += 1;
        Some(Held {
            counts: self.0.clone(),
            client,
        })
    }

    /// Slots `peer` holds now.
    pub fn held_by(&self, peer: IpAddr) -> usize {
        let counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        counts.get(&client(peer)).copied().unwrap_or(0)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = counts.get_mut(&self.client) {
            *held = held.saturating_sub(1);
            // Forget clients holding nothing, so the map stays as small as the live set.
            if *held == 0 {
                counts.remove(&self.client);
            }
        }
    }
}

/// The client an address belongs to: itself for IPv4 (and IPv4-mapped IPv6), its /64 for
/// IPv6.
fn client(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The per-client counts a server keeps.
#[derive(Debug, Default)]
pub struct Clients {
    /// Turns at the read connections for document lists (`None`: no per-client cap).
    pub reads: Option<Arc<ReadTurns>>,
    /// HTTP connections (until upgraded to a WebSocket).
    pub http: PerIp,
    /// WebSocket connections.
    pub websockets: PerIp,
    /// Operations (subscriptions, and queries or mutations in flight) on WebSockets.
    pub operations: PerIp,
}

impl Clients {
    /// The caps `settings` asks for.
    pub fn new(settings: &crate::settings::Settings) -> Self {
        Self {
            reads: (settings.reads_per_ip > 0).then(|| ReadTurns::new(settings.reads_per_ip)),
            ..Self::default()
        }
    }

    /// The read budget of one request of `limit` bytes from `peer`, its lists in the
    /// client's turns.
    pub fn read_budget(&self, limit: usize, peer: Option<IpAddr>) -> ReadBudget {
        match (&self.reads, peer) {
            (Some(turns), Some(peer)) => ReadBudget::for_client(limit, turns.clone(), client(peer)),
            _ => ReadBudget::new(limit),
        }
    }

    /// The read budget of one WebSocket connection from `peer`, likewise.
    pub fn connection_budget(&self, limit: usize, peer: Option<IpAddr>) -> ConnectionBudget {
        let budget = ConnectionBudget::new(limit);
        match (&self.reads, peer) {
            (Some(turns), Some(peer)) => budget.for_client(turns.clone(), client(peer)),
            _ => budget,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_holds_up_to_its_cap_and_gets_slots_back() {
        let counts = PerIp::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = counts.try_hold(a, 2);
        let second = counts.try_hold(a, 2);
        assert!(first.is_some() && second.is_some());
        assert!(counts.try_hold(a, 2).is_none(), "a is at its cap");
        assert!(counts.try_hold(b, 2).is_some(), "b is another client");
        drop(first);
        assert_eq!(counts.held_by(a), 1);
        assert!(counts.try_hold(a, 2).is_some());
        assert!(counts.try_hold(a, 0).is_some(), "0 means no cap");
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        let counts = PerIp::default();
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_block: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_block: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let _held = counts.try_hold(one, 1);
        assert!(counts.try_hold(same_block, 1).is_none());
        assert!(counts.try_hold(other_block, 1).is_some());
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let _v4 = counts.try_hold("10.0.0.1".parse().unwrap(), 1);
        assert!(counts.try_hold(mapped, 1).is_none(), "mapped IPv4 is IPv4");
    }
}
