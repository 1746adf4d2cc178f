//! Faults injected from outside, as an operator meets them in production (issue 16): a full
//! disk under SQLite, a partition between hookql and PostgreSQL. Each test asserts that every acknowledged write is stored, that the
//! server recovers by itself once the fault ends, and that clients see an error rather than
//! a false success.

mod disk;
mod outage;
mod proxy;
mod small_disk;
