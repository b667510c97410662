//! A compiled criterion ([`Clause`]) and how a set of them becomes the WHERE clause over one
//! resource alias.
//!
//! Plan shape (the reason for this file): the most selective clause *drives*: it is written
//! `a.rid IN (SELECT i.rid FROM idx_x i WHERE i.param = .. AND i.type = .. AND ..)`, which
//! the database answers from the covering `(param, type, value.., rid)` index and then fetches
//! resources by rowid. Every other clause is a correlated `EXISTS` probing the `(rid, param)`
//! index for the few candidate rows, and `a.type` is written so the planner does not use its
//! index ([`vigil_store::SqlDialect::without_index`], `+a.type` in SQLite) and prefer scanning
//! every resource of the type. Negated clauses (`:not`, `ne`, `:missing=true`)
//! never drive.

use vigil_store::SqlDialect;

use super::fragment::Fragment;

/// Which index table a clause reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `idx_string`
    String,
    /// `idx_token`
    Token,
    /// `idx_date`
    Date,
    /// `idx_number`
    Number,
    /// `idx_quantity`
    Quantity,
    /// `idx_reference`
    Reference,
    /// `idx_uri`
    Uri,
}

impl Table {
    /// The table name.
    pub fn name(self) -> &'static str {
        match self {
            Table::String => "idx_string",
            Table::Token => "idx_token",
            Table::Date => "idx_date",
            Table::Number => "idx_number",
            Table::Quantity => "idx_quantity",
            Table::Reference => "idx_reference",
            Table::Uri => "idx_uri",
        }
    }
}

/// How selective a clause usually is; the lowest drives the query.
pub mod rank {
    /// `_id`
    pub const ID: u8 = 0;
    /// A reference to one resource (or a compartment).
    pub const REFERENCE: u8 = 1;
    /// A token (code, identifier).
    pub const TOKEN: u8 = 2;
    /// A chain or `_has`.
    pub const NESTED: u8 = 3;
    /// An exact string or uri.
    pub const EXACT: u8 = 3;
    /// A string prefix.
    pub const PREFIX: u8 = 4;
    /// A range over dates, numbers, quantities.
    pub const RANGE: u8 = 5;
    /// A scan (`:contains`, `:text`, `_content`).
    pub const SCAN: u8 = 7;
    /// Presence only (`:missing=false`).
    pub const PRESENCE: u8 = 8;
}

/// One compiled criterion.
#[derive(Debug, Clone, PartialEq)]
pub enum Clause {
    /// "the resource has a row in `table` for one of `params` matching `condition`" (written
    /// over the index alias `i`), or, when `negated`, has none.
    Index {
        /// The table.
        table: Table,
        /// Parameter names of the rows (usually one).
        params: Vec<String>,
        /// Condition over `i.*`; empty for presence only.
        condition: Fragment,
        /// True for "has no such row".
        negated: bool,
        /// Selectivity rank.
        rank: u8,
    },
    /// A condition written directly over the resource alias (`_id`, `_has`, `_content`).
    Direct {
        /// The condition.
        condition: Fragment,
        /// Selectivity rank.
        rank: u8,
    },
}

impl Clause {
    /// An index clause for one parameter whose values are OR'ed.
    pub fn index(
        table: Table,
        param: &str,
        alternatives: Vec<Fragment>,
        negated: bool,
        rank: u8,
    ) -> Clause {
        let mut condition = Fragment::new();
        if !alternatives.is_empty() {
            condition.join(&alternatives, " OR ");
        }
        Clause::Index {
            table,
            params: vec![param.to_owned()],
            condition,
            negated,
            rank,
        }
    }

    /// The selectivity rank (also of negated clauses).
    pub fn rank(&self) -> u8 {
        match self {
            Clause::Index { rank, .. } | Clause::Direct { rank, .. } => *rank,
        }
    }

    fn drive_rank(&self) -> Option<u8> {
        match self {
            Clause::Index {
                negated: false,
                rank,
                ..
            }
            | Clause::Direct { rank, .. } => Some(*rank),
            Clause::Index { negated: true, .. } => None,
        }
    }
}

/// `i.type = $t` or `i.type IN (...)` for the searched types (nothing when all types).
fn type_restriction(column: &str, types: &[String]) -> Fragment {
    let mut fragment = Fragment::new();
    match types {
        [] => {}
        [only] => {
            fragment
                .push(" AND ")
                .push(column)
                .push(" = ")
                .bind(only.as_str());
        }
        many => {
            fragment
                .push(" AND ")
                .push(column)
                .push(" IN ")
                .bind_list(many.iter().map(String::as_str));
        }
    }
    fragment
}

fn rows_subquery(
    table: Table,
    params: &[String],
    condition: &Fragment,
    types: &[String],
) -> Fragment {
    let mut sql = Fragment::text("SELECT i.rid FROM ");
    sql.push(table.name()).push(" i WHERE ");
    push_params(&mut sql, params);
    sql.append(&type_restriction("i.type", types));
    if !condition.is_empty() {
        sql.push(" AND ").append(condition);
    }
    sql
}

fn push_params(sql: &mut Fragment, params: &[String]) {
    match params {
        [only] => {
            sql.push("i.param = ").bind(only.as_str());
        }
        many => {
            sql.push("i.param IN ")
                .bind_list(many.iter().map(String::as_str));
        }
    }
}

/// The conditions selecting current, non-deleted resources of `types` (all when empty) under
/// `alias` that satisfy every clause (grouped in parentheses when there are many, so the
/// expression stays shallow).
pub fn render_where(
    dialect: &dyn SqlDialect,
    alias: &str,
    types: &[String],
    clauses: &[Clause],
) -> Fragment {
    let driving = clauses
        .iter()
        .enumerate()
        .filter_map(|(at, clause)| clause.drive_rank().map(|rank| (rank, at)))
        .min()
        .map(|(_, at)| at);
    let index_drives = matches!(driving.map(|at| &clauses[at]), Some(Clause::Index { .. }));
    let mut scope = Fragment::new();
    scope.push(alias).push(".deleted = 0");
    let type_column = if index_drives {
        dialect.without_index(&format!("{alias}.type"))
    } else {
        format!("{alias}.type")
    };
    scope.append(&type_restriction(&type_column, types));
    let mut terms = Vec::with_capacity(clauses.len());
    for (at, clause) in clauses.iter().enumerate() {
        terms.push(clause_term(alias, types, clause, Some(at) == driving));
    }
    if terms.len() > super::fragment::MAX_FLAT {
        let mut grouped = Fragment::new();
        grouped.join(&terms, " AND ");
        terms = vec![grouped];
    }
    for term in terms {
        scope.push(" AND ").append(&term);
    }
    scope
}

/// One clause as a condition over the resource alias; the driving clause as an IN over its
/// index rows, the others as correlated EXISTS.
fn clause_term(alias: &str, types: &[String], clause: &Clause, drives: bool) -> Fragment {
    let mut sql = Fragment::new();
    match clause {
        Clause::Direct { condition, .. } => {
            sql.push("(").append(condition).push(")");
        }
        Clause::Index {
            table,
            params,
            condition,
            negated,
            ..
        } => {
            if *negated || drives {
                let keyword = if *negated {
                    ".rid NOT IN ("
                } else {
                    ".rid IN ("
                };
                sql.push(alias)
                    .push(keyword)
                    .append(&rows_subquery(*table, params, condition, types))
                    .push(")");
            } else {
                sql.push("EXISTS (SELECT 1 FROM ")
                    .push(table.name())
                    .push(" i WHERE i.rid = ")
                    .push(alias);
                sql.push(".rid AND ");
                push_params(&mut sql, params);
                if !condition.is_empty() {
                    sql.push(" AND ").append(condition);
                }
                sql.push(")");
            }
        }
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_selective_clause_drives() {
        let mut code = Fragment::text("i.code = ");
        code.bind("8867-4");
        let mut subject = Fragment::text("i.target_id = ");
        subject.bind("p1");
        let clauses = vec![
            Clause::index(Table::Token, "code", vec![code], false, rank::TOKEN),
            Clause::index(
                Table::Reference,
                "subject",
                vec![subject],
                false,
                rank::REFERENCE,
            ),
        ];
        let dialect = vigil_store::dialect::embedded();
        let (sql, values) =
            render_where(dialect.as_ref(), "r", &["Observation".into()], &clauses).finish();
        assert_eq!(
            sql,
            "r.deleted = 0 AND +r.type = $1 AND EXISTS (SELECT 1 FROM idx_token i WHERE i.rid = r.rid AND i.param = $2 \
             AND (i.code = $3)) AND r.rid IN (SELECT i.rid FROM idx_reference i WHERE i.param = $4 AND i.type = $5 \
             AND (i.target_id = $6))"
        );
        assert_eq!(values.len(), 6);
    }
}
