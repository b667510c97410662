//! Search -> SQL. Pure: builds statements and their values; the store runs them.

pub mod clause;
pub mod compile;
pub mod fragment;
pub mod sort;
pub mod types;
