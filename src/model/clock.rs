//! The one clock timestamps come from: microseconds since the Unix epoch, as every table
//! stores them.

/// Now, in microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
