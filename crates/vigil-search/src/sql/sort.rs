//! `_sort` keys as SQL expressions, and keyset paging over them.
//!
//! Each key is one value per resource: the smallest indexed value of the parameter for an
//! ascending sort, the largest for a descending one (dates: start / end of the range).
//! Resources without a value sort last either way (a sentinel stands in), and `(type, id)`
//! breaks ties, so the order is total and a page boundary is one point in it. A cursor holds the
//! keys of the boundary row; the next page is "strictly after that point", which stays correct
//! while resources are created, changed or deleted between page requests.

use vigil_store::{IndexValue, SqlValue};

use super::clause::Table;
use super::fragment::Fragment;
use crate::criteria::MAX_CHAR;
use crate::criteria::parse::table_of;
use crate::registry::BoundParameter;

/// Where a sort value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum SortSource {
    /// The resource id.
    Id,
    /// The version's `last_updated` column.
    LastUpdated,
    /// Index rows of a parameter.
    Index {
        /// Parameter code.
        param: String,
        /// Its table.
        table: Table,
    },
}

/// One compiled `_sort` key.
#[derive(Debug, Clone, PartialEq)]
pub struct SortColumn {
    /// Where the value comes from.
    pub source: SortSource,
    /// Descending.
    pub descending: bool,
}

fn text_sentinel(descending: bool) -> SqlValue {
    if descending {
        SqlValue::Text(String::new())
    } else {
        SqlValue::Text(MAX_CHAR.to_string())
    }
}

fn integer_sentinel(descending: bool) -> SqlValue {
    SqlValue::Integer(if descending { i64::MIN } else { i64::MAX })
}

fn real_sentinel(descending: bool) -> SqlValue {
    SqlValue::Real(if descending { -f64::MAX } else { f64::MAX })
}

impl SortColumn {
    /// The column for a parameter (`None` for composite/special parameters).
    pub fn for_parameter(bound: &BoundParameter, descending: bool) -> Option<SortColumn> {
        let source = match bound.code() {
            "_id" => SortSource::Id,
            "_lastUpdated" => SortSource::LastUpdated,
            code => SortSource::Index {
                param: code.to_owned(),
                table: table_of(bound.kind())?,
            },
        };
        Some(SortColumn { source, descending })
    }

    /// The SQL expression of the key over resource alias `alias`.
    pub fn expression(&self, alias: &str) -> Fragment {
        let (table, param) = match &self.source {
            SortSource::Id => return Fragment::text(&format!("{alias}.id")),
            SortSource::LastUpdated => return Fragment::text(&format!("{alias}.last_updated")),
            SortSource::Index { param, table } => (*table, param),
        };
        let aggregate = if self.descending { "max" } else { "min" };
        let (column, sentinel) = match (table, self.descending) {
            (Table::Date, false) => ("i.low", integer_sentinel(false)),
            (Table::Date, true) => ("i.high", integer_sentinel(true)),
            (Table::Number, false) => ("i.low", real_sentinel(false)),
            (Table::Number, true) => ("i.high", real_sentinel(true)),
            (Table::Quantity, descending) => ("i.value", real_sentinel(descending)),
            (Table::String, descending) => ("i.normalized", text_sentinel(descending)),
            (Table::Token, descending) => ("i.code", text_sentinel(descending)),
            (Table::Uri, descending) => ("i.uri", text_sentinel(descending)),
            (Table::Reference, descending) => (
                "coalesce(i.target_type || '/' || i.target_id, i.url)",
                text_sentinel(descending),
            ),
        };
        let mut sql = Fragment::text("coalesce((SELECT ");
        sql.push(aggregate)
            .push("(")
            .push(column)
            .push(") FROM ")
            .push(table.name());
        sql.push(" i WHERE i.rid = ")
            .push(alias)
            .push(".rid AND i.param = ")
            .bind(param.as_str())
            .push("), ");
        sql.bind(sentinel).push(")");
        sql
    }

    /// The key of one resource, computed from its index rows exactly as [`Self::expression`]
    /// computes it in SQL (`rows` are the resource's rows of this parameter).
    pub fn value_of(&self, id: &str, last_updated: i64, rows: &[IndexValue]) -> SqlValue {
        let descending = self.descending;
        match &self.source {
            SortSource::Id => SqlValue::Text(id.to_owned()),
            SortSource::LastUpdated => SqlValue::Integer(last_updated),
            SortSource::Index { table, .. } => {
                let values = rows
                    .iter()
                    .filter_map(|row| sort_value(*table, row, descending));
                let best = values.reduce(|a, b| {
                    if (compare(&b, &a) == std::cmp::Ordering::Less) != descending {
                        b
                    } else {
                        a
                    }
                });
                best.unwrap_or_else(|| match table {
                    Table::Date => integer_sentinel(descending),
                    Table::Number | Table::Quantity => real_sentinel(descending),
                    _ => text_sentinel(descending),
                })
            }
        }
    }
}

fn sort_value(table: Table, row: &IndexValue, descending: bool) -> Option<SqlValue> {
    Some(match (table, row) {
        (Table::Date, IndexValue::Date { low, high }) => {
            SqlValue::Integer(if descending { *high } else { *low })
        }
        (Table::Number, IndexValue::Number { low, high }) => {
            SqlValue::Real(if descending { *high } else { *low })
        }
        (Table::Quantity, IndexValue::Quantity { value, .. }) => SqlValue::Real(*value),
        (Table::String, IndexValue::String { normalized, .. }) => {
            SqlValue::Text(normalized.clone())
        }
        (
            Table::Token,
            IndexValue::Token {
                code: Some(code), ..
            },
        ) => SqlValue::Text(code.clone()),
        (Table::Uri, IndexValue::Uri(uri)) => SqlValue::Text(uri.clone()),
        (
            Table::Reference,
            IndexValue::Reference {
                target_type: Some(t),
                target_id: Some(id),
                ..
            },
        ) => SqlValue::Text(format!("{t}/{id}")),
        (Table::Reference, IndexValue::Reference { url: Some(url), .. }) => {
            SqlValue::Text(url.clone())
        }
        _ => return None,
    })
}

/// The SQL order of two values of the same kind (text: byte order, a binary collation).
fn compare(a: &SqlValue, b: &SqlValue) -> std::cmp::Ordering {
    match (a, b) {
        (SqlValue::Integer(a), SqlValue::Integer(b)) => a.cmp(b),
        (SqlValue::Real(a), SqlValue::Real(b)) => a.total_cmp(b),
        (SqlValue::Text(a), SqlValue::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
        _ => std::cmp::Ordering::Equal,
    }
}

/// `ORDER BY` over the keys and the `(type, id)` tie-break; `backward` reverses everything
/// (to read the page before a cursor).
pub fn order_by(alias: &str, columns: &[SortColumn], backward: bool) -> Fragment {
    let mut sql = Fragment::text(" ORDER BY ");
    for column in columns {
        let descending = column.descending != backward;
        sql.append(&column.expression(alias))
            .push(if descending { " DESC, " } else { " ASC, " });
    }
    let direction = if backward { " DESC" } else { " ASC" };
    sql.push(alias)
        .push(".type")
        .push(direction)
        .push(", ")
        .push(alias)
        .push(".id")
        .push(direction);
    sql
}

/// The condition "strictly after (or, `backward`, before) the boundary row" in the order of
/// [`order_by`]. `keys` are the boundary row's key values, `last` its (type, id).
pub fn keyset(
    alias: &str,
    columns: &[SortColumn],
    keys: &[SqlValue],
    last: (&str, &str),
    backward: bool,
) -> Fragment {
    let mut terms = Vec::new();
    for position in 0..=columns.len() {
        let mut term = Fragment::new();
        for (column, key) in columns.iter().zip(keys).take(position) {
            term.append(&column.expression(alias))
                .push(" = ")
                .bind(key.clone())
                .push(" AND ");
        }
        match columns.get(position).zip(keys.get(position)) {
            Some((column, key)) => {
                let greater = column.descending == backward;
                term.append(&column.expression(alias))
                    .push(if greater { " > " } else { " < " })
                    .bind(key.clone());
            }
            None => {
                term.push("(")
                    .push(alias)
                    .push(".type, ")
                    .push(alias)
                    .push(".id)");
                term.push(if backward { " < (" } else { " > (" })
                    .bind(last.0)
                    .push(", ")
                    .bind(last.1)
                    .push(")");
            }
        }
        terms.push(term);
    }
    let mut sql = Fragment::new();
    sql.join(&terms, " OR ");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyset_after_a_boundary() {
        let columns = [SortColumn {
            source: SortSource::Index {
                param: "date".into(),
                table: Table::Date,
            },
            descending: true,
        }];
        let (sql, values) = keyset(
            "r",
            &columns,
            &[SqlValue::Integer(5)],
            ("Encounter", "e1"),
            false,
        )
        .finish();
        assert_eq!(
            sql,
            "(coalesce((SELECT max(i.high) FROM idx_date i WHERE i.rid = r.rid AND i.param = $1), $2) < $3 OR \
             coalesce((SELECT max(i.high) FROM idx_date i WHERE i.rid = r.rid AND i.param = $4), $5) = $6 AND \
             (r.type, r.id) > ($7, $8))"
        );
        assert_eq!(values.len(), 8);
    }

    #[test]
    fn values_match_the_sql_aggregate() {
        let ascending = SortColumn {
            source: SortSource::Index {
                param: "date".into(),
                table: Table::Date,
            },
            descending: false,
        };
        let rows = [
            IndexValue::Date { low: 10, high: 20 },
            IndexValue::Date { low: 5, high: 30 },
        ];
        assert_eq!(ascending.value_of("x", 0, &rows), SqlValue::Integer(5));
        let descending = SortColumn {
            descending: true,
            ..ascending.clone()
        };
        assert_eq!(descending.value_of("x", 0, &rows), SqlValue::Integer(30));
        assert_eq!(ascending.value_of("x", 0, &[]), SqlValue::Integer(i64::MAX));
    }
}
