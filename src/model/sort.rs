//! Sort orders: a list of fields, each ascending or descending. The store compiles them to
//! ORDER BY (`store::order_by`, where the order of mixed JSON types is defined).

use super::filter::{parse_field, Field, Target};

/// Most fields one sort may name.
pub const MAX_SORT_FIELDS: usize = 8;

/// Sort direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Smallest first.
    Asc,
    /// Largest first.
    Desc,
}

/// One parsed sort key.
#[derive(Clone, Debug, PartialEq)]
pub struct SortKey {
    /// What to sort by.
    pub field: Field,
    /// Which way.
    pub direction: Direction,
}

impl SortKey {
    /// Parses a field name for sorting.
    pub fn parse(field: &str, direction: Direction) -> Result<Self, String> {
        Ok(Self {
            field: parse_field(field, Target::Documents)?,
            direction,
        })
    }
}
