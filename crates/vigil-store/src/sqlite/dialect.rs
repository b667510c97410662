//! The SQLite [`SqlDialect`]: lists bound as one JSON array read with `json_each`, `instr` for
//! substrings, `+column` to keep the planner off an index, full text from the FTS5 table
//! `resource_text`, content fetched from `resource_version` by `seq` (a rowid lookup).

use crate::SqlValue;
use crate::dialect::SqlDialect;

use super::RESOURCE_COLUMNS;

/// SQLite's limit on bound values per statement (`SQLITE_MAX_VARIABLE_NUMBER` of the bundled
/// library), less a margin for the values a search adds around its criteria.
const MAX_BOUND_VALUES: usize = 32_000;

/// The SQL dialect of [`super::SqliteStore`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteDialect;

impl SqlDialect for SqliteDialect {
    fn resource_columns(&self) -> &str {
        RESOURCE_COLUMNS
    }

    fn max_bound_values(&self) -> usize {
        MAX_BOUND_VALUES
    }

    fn in_list(&self, expression: &str, placeholder: &str) -> String {
        format!("{expression} IN (SELECT value FROM json_each({placeholder}))")
    }

    fn list_value(&self, values: &[SqlValue]) -> SqlValue {
        let items: Vec<serde_json::Value> = values
            .iter()
            .map(|value| match value {
                SqlValue::Null => serde_json::Value::Null,
                SqlValue::Integer(number) => serde_json::Value::from(*number),
                SqlValue::Real(number) => serde_json::Value::from(*number),
                SqlValue::Text(text) => serde_json::Value::from(text.as_str()),
            })
            .collect();
        SqlValue::Text(serde_json::Value::Array(items).to_string())
    }

    fn contains(&self, haystack: &str, needle: &str) -> String {
        format!("instr({haystack}, {needle}) > 0")
    }

    fn without_index(&self, column: &str) -> String {
        format!("+{column}")
    }

    fn content(&self, alias: &str) -> String {
        format!("(SELECT c.content FROM resource_version c WHERE c.seq = {alias}.seq)")
    }

    fn full_text_match(&self, alias: &str, placeholder: &str) -> String {
        format!(
            "{alias}.rid IN (SELECT rowid FROM resource_text WHERE resource_text MATCH \
             {placeholder})"
        )
    }

    fn full_text_query(&self, narrative: bool, phrases: &[Vec<String>]) -> SqlValue {
        let column = if narrative { "narrative" } else { "content" };
        let alternatives: Vec<String> = phrases
            .iter()
            .map(|words| format!("\"{}\" *", words.join(" ").replace('"', "\"\"")))
            .collect();
        SqlValue::Text(format!("{{{column}}} : ({})", alternatives.join(" OR ")))
    }

    fn narrative(&self, alias: &str) -> String {
        format!("json_extract({}, '$.text.div')", self.content(alias))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_any_length_is_one_json_value() {
        let dialect = SqliteDialect;
        let value = dialect.list_value(&[SqlValue::from("a\"b"), SqlValue::Integer(3)]);
        assert_eq!(value, SqlValue::from(r#"["a\"b",3]"#));
        assert_eq!(
            dialect.in_list("i.code", "$1"),
            "i.code IN (SELECT value FROM json_each($1))"
        );
        let phrases = [
            vec!["heart".to_owned(), "ra".to_owned()],
            vec!["x".to_owned()],
        ];
        assert_eq!(
            dialect.full_text_query(true, &phrases),
            SqlValue::from(r#"{narrative} : ("heart ra" * OR "x" *)"#)
        );
    }
}
