//! SQL text with its bound values, assembled piece by piece. Values never enter the text: each
//! is a marker replaced by `$n` when the statement is finished, numbered in the order the
//! markers appear, so fragments can be nested and reordered freely.
//!
//! Statements stay bounded whatever the input's length: long AND/OR lists are grouped in
//! parentheses [`MAX_FLAT`] terms at a time (the expression tree grows with the logarithm of
//! the list, not its length), and long value lists are bound as one value through the
//! backend's [`SqlDialect::in_list`].

use vigil_store::{SqlDialect, SqlValue};

/// Most terms of one AND or OR written flat; longer lists are grouped.
pub const MAX_FLAT: usize = 64;

/// The placeholder marker; SQL assembled here never contains NUL otherwise.
const MARK: char = '\u{0}';

/// A piece of SQL and the values of its placeholders, in text order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fragment {
    text: String,
    values: Vec<SqlValue>,
}

impl Fragment {
    /// An empty fragment.
    pub fn new() -> Self {
        Fragment::default()
    }

    /// A fragment of constant text.
    pub fn text(text: &str) -> Self {
        Fragment {
            text: text.to_owned(),
            values: Vec::new(),
        }
    }

    /// Appends constant SQL text (never input).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<SqlValue>) -> &mut Self {
        self.text.push(MARK);
        self.values.push(value.into());
        self
    }

    /// Appends the text `template` makes around the placeholder it is given, bound to `value`
    /// (for a dialect's SQL around one value).
    pub fn push_bound(
        &mut self,
        template: impl FnOnce(&str) -> String,
        value: impl Into<SqlValue>,
    ) -> &mut Self {
        let text = template(&MARK.to_string());
        self.text.push_str(&text);
        self.values.push(value.into());
        self
    }

    /// Appends another fragment.
    pub fn append(&mut self, other: &Fragment) -> &mut Self {
        self.text.push_str(&other.text);
        self.values.extend(other.values.iter().cloned());
        self
    }

    /// Appends `( a OR b OR ... )` (or `joiner` instead of OR); more than [`MAX_FLAT`] parts
    /// are grouped in nested parentheses.
    pub fn join(&mut self, parts: &[Fragment], joiner: &str) -> &mut Self {
        if parts.len() <= MAX_FLAT {
            self.push("(");
            for (at, part) in parts.iter().enumerate() {
                if at > 0 {
                    self.push(joiner);
                }
                self.append(part);
            }
            return self.push(")");
        }
        let groups: Vec<Fragment> = parts
            .chunks(MAX_FLAT)
            .map(|chunk| {
                let mut group = Fragment::new();
                group.join(chunk, joiner);
                group
            })
            .collect();
        self.join(&groups, joiner)
    }

    /// Appends "`expression` is one of `values`": `expression = $1` for one value,
    /// `expression IN ($1, ...)` for a short list, the
    /// dialect's one-value list otherwise (an empty list is `1 = 0`).
    pub fn in_list<V: Into<SqlValue>>(
        &mut self,
        dialect: &dyn SqlDialect,
        expression: &str,
        values: impl IntoIterator<Item = V>,
    ) -> &mut Self {
        let values: Vec<SqlValue> = values.into_iter().map(Into::into).collect();
        if values.is_empty() {
            return self.push("1 = 0");
        }
        if let [only] = values.as_slice() {
            return self.push(expression).push(" = ").bind(only.clone());
        }
        if values.len() <= dialect.max_inline_list() {
            return self.push(expression).push(" IN ").bind_list(values);
        }
        let list = dialect.list_value(&values);
        self.push_bound(|placeholder| dialect.in_list(expression, placeholder), list)
    }

    /// Number of bound values.
    pub fn bound_values(&self) -> usize {
        self.values.len()
    }

    /// Appends a parenthesised list of placeholders: `($1, $2, ...)`.
    pub fn bind_list<V: Into<SqlValue>>(
        &mut self,
        values: impl IntoIterator<Item = V>,
    ) -> &mut Self {
        self.push("(");
        for (at, value) in values.into_iter().enumerate() {
            if at > 0 {
                self.push(", ");
            }
            self.bind(value);
        }
        self.push(")")
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The finished statement: SQL with `$1, $2, ...` and the values in that order.
    pub fn finish(&self) -> (String, Vec<SqlValue>) {
        self.render(|number| format!("${number}"))
    }

    /// The finished statement with the dialect's placeholders.
    pub fn finish_for(&self, dialect: &dyn SqlDialect) -> (String, Vec<SqlValue>) {
        self.render(|number| dialect.placeholder(number))
    }

    fn render(&self, placeholder: impl Fn(usize) -> String) -> (String, Vec<SqlValue>) {
        let mut sql = String::with_capacity(self.text.len() + self.values.len() * 3);
        let mut number = 0;
        for c in self.text.chars() {
            if c == MARK {
                number += 1;
                sql.push_str(&placeholder(number));
            } else {
                sql.push(c);
            }
        }
        (sql, self.values.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_text_order() {
        let mut inner = Fragment::text("b = ");
        inner.bind(2i64);
        let mut outer = Fragment::text("a = ");
        outer
            .bind(1i64)
            .push(" AND ")
            .append(&inner)
            .push(" AND c IN ")
            .bind_list(["x", "y"]);
        let (sql, values) = outer.finish();
        assert_eq!(sql, "a = $1 AND b = $2 AND c IN ($3, $4)");
        assert_eq!(
            values,
            [
                SqlValue::Integer(1),
                SqlValue::Integer(2),
                SqlValue::from("x"),
                SqlValue::from("y")
            ]
        );
    }

    #[test]
    fn long_lists_are_grouped_and_bound_once() {
        let parts: Vec<Fragment> = (0..MAX_FLAT * MAX_FLAT + 1)
            .map(|_| Fragment::text("x"))
            .collect();
        let mut joined = Fragment::new();
        joined.join(&parts, " OR ");
        let (sql, _) = joined.finish();
        let deepest = sql
            .chars()
            .scan(0i32, |depth, c| {
                *depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                Some(*depth)
            })
            .max();
        assert_eq!(deepest, Some(3));
        let dialect = vigil_store::dialect::embedded();
        let mut list = Fragment::new();
        list.in_list(dialect.as_ref(), "i.code", (0..1000).map(|n| n.to_string()));
        assert_eq!(list.bound_values(), 1);
        let mut short = Fragment::new();
        short.in_list(dialect.as_ref(), "i.code", ["a", "b"]);
        assert_eq!(short.finish().0, "i.code IN ($1, $2)");
    }
}
