//! Faults injected from outside, as an operator meets them in production (issue 16): a full
//! disk under SQLite. Each test asserts that every acknowledged write is stored, that the
//! server recovers by itself once the fault ends, and that clients see an error rather than
//! a false success.

mod disk;
mod small_disk;
