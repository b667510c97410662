//! Search -> SQL. Pure: builds statements and their values; the store runs them.

pub mod clause;
pub mod fragment;
pub mod render;
pub mod sort;
