//! Faults injected from outside, as an operator meets them in production (issue 16): a full
//! disk under SQLite, a partition between hookql and PostgreSQL, receivers that are slow or
//! flap. Each test asserts that every acknowledged write (and each of its deliveries) is
//! stored, that the server recovers by itself once the fault ends, and that clients see an
//! error rather than a false success.

mod behind;
mod disk;
mod links;
mod outage;
mod proxy;
mod receivers;
mod shutdown;
mod small_disk;
mod stopped;
