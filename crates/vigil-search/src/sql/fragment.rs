//! SQL text with its bound values, assembled piece by piece. Values never enter the text: each
//! is a marker replaced by `$n` when the statement is finished, numbered in the order the
//! markers appear, so fragments can be nested and reordered freely.

use vigil_store::SqlValue;

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

    /// Appends another fragment.
    pub fn append(&mut self, other: &Fragment) -> &mut Self {
        self.text.push_str(&other.text);
        self.values.extend(other.values.iter().cloned());
        self
    }

    /// Appends `( a OR b OR ... )` (or `joiner` instead of OR).
    pub fn join(&mut self, parts: &[Fragment], joiner: &str) -> &mut Self {
        self.push("(");
        for (at, part) in parts.iter().enumerate() {
            if at > 0 {
                self.push(joiner);
            }
            self.append(part);
        }
        self.push(")")
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
        let mut sql = String::with_capacity(self.text.len() + self.values.len() * 3);
        let mut number = 0;
        for c in self.text.chars() {
            if c == MARK {
                number += 1;
                sql.push('$');
                sql.push_str(&number.to_string());
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
}
