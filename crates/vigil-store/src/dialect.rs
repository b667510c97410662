//! [`SqlDialect`]: what the search layer's SQL needs to know about the backend that runs it.
//!
//! The search layer (`vigil-search`) compiles queries over the index tables described in
//! [`crate::sqlite`] and runs them through [`crate::Store::query_resources`]. Everything in that
//! SQL that differs between SQL engines goes through this trait, which each backend implements
//! next to its schema: the current-row column list, placeholders, how a list of any length is
//! bound as one parameter, substring tests, planner hints, where the content and narrative are,
//! and the limits of one statement.
//!
//! Templates: methods that take a `placeholder` get the text the caller uses for the one bound
//! value the result must contain (exactly once); the caller binds the value it got from the
//! matching `*_value` method.

use crate::SqlValue;

/// The SQL differences between backends, as the search layer needs them.
pub trait SqlDialect: Send + Sync {
    /// The columns a resource query selects, in the order [`crate::Store::query_resources`]
    /// reads them, over the current-row table aliased `r`.
    fn resource_columns(&self) -> &str;

    /// The text of the `number`-th (from 1) bound value.
    fn placeholder(&self, number: usize) -> String {
        format!("${number}")
    }

    /// Most values one statement may bind; a search needing more is refused as too large.
    fn max_bound_values(&self) -> usize;

    /// Lists of at most this many values are written `IN ($1, $2, ...)` (the planner sees the
    /// values); longer ones are bound as one value through [`Self::in_list`].
    fn max_inline_list(&self) -> usize {
        32
    }

    /// "`expression` equals one of the values of the list bound at `placeholder`" (a list of
    /// any length, bound as one value made by [`Self::list_value`]).
    fn in_list(&self, expression: &str, placeholder: &str) -> String;

    /// The one bound value carrying `values` for [`Self::in_list`].
    fn list_value(&self, values: &[SqlValue]) -> SqlValue;

    /// "`needle` (a text expression) occurs in `haystack`".
    fn contains(&self, haystack: &str, needle: &str) -> String;

    /// `column` written so the planner does not choose an index on it (when another condition
    /// drives the query); plain `column` where the engine needs no hint.
    fn without_index(&self, column: &str) -> String {
        column.to_owned()
    }

    /// The stored JSON content of the current version of the resource aliased `alias`, as text.
    fn content(&self, alias: &str) -> String;

    /// The narrative (`text.div`) of the current version of the resource aliased `alias`, as
    /// text (NULL when absent).
    fn narrative(&self, alias: &str) -> String;

    /// "The resource aliased `alias` has a full-text row matching the query bound at
    /// `placeholder`" (the value made by [`Self::full_text_query`]).
    fn full_text_match(&self, alias: &str, placeholder: &str) -> String;

    /// The bound value of a full-text query: any of `phrases` (each a sequence of words as
    /// [`crate::IndexValue::Text`] holds them, the last word a prefix), in the narrative only
    /// or in the whole content.
    fn full_text_query(&self, narrative: bool, phrases: &[Vec<String>]) -> SqlValue;

    /// Lower-cased text (as [`str::to_lowercase`] would for the texts searched).
    fn lower(&self, text: &str) -> String {
        format!("lower({text})")
    }
}

/// The dialect of the embedded backend ([`crate::sqlite::SqliteStore`]), for callers that do not
/// choose a backend.
pub fn embedded() -> std::sync::Arc<dyn SqlDialect> {
    std::sync::Arc::new(crate::sqlite::SqliteDialect)
}
