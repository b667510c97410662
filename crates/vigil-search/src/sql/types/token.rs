//! `token`: `code`, `system|code`, `|code` (no system), `system|` (any code of the system);
//! `:not` (no matching token, including resources without one), `:text` (normalised display
//! or text, substring), `:of-type` (`system|code|value` of an Identifier's type and value).
//! `:in`, `:not-in` (a stored ValueSet), `:below`, `:above` (a stored CodeSystem's hierarchy):
//! the set resolved beforehand ([`crate::terminology`]) becomes IN-lists per system over the
//! token index; `:not-in` is negated like `:not`.

use std::collections::{BTreeMap, BTreeSet};

use vigil_store::SqlDialect;

use super::unsupported_modifier;
use crate::error::SearchError;
use crate::index::OF_TYPE;
use crate::normalize::normalize;
use crate::query::value::{split_unescaped, unescape};
use crate::sql::clause::{Clause, Table, rank};
use crate::sql::fragment::Fragment;
use crate::terminology::{Coding, Expansions};

/// Most codes one `:in`/`:not-in`/`:above`/`:below` criterion may stand for (a larger set would
/// make the condition slower than scanning the parameter).
pub const MAX_CODES: usize = 10_000;

/// The condition matching any of `codes` over `i.system`/`i.code` (`1 = 0` when empty).
///
/// One system: `i.system = s AND i.code IN (...)`. Several: a flat `i.code IN (...)` first, so
/// the `(param, type, code, system)` index is searched by code (an OR of per-system conditions
/// alone makes SQLite scan every row of the parameter), then the exact per-system check.
fn set_condition<'a>(
    dialect: &dyn SqlDialect,
    codes: impl IntoIterator<Item = &'a Coding>,
) -> Fragment {
    let mut by_system: BTreeMap<Option<&str>, BTreeSet<&str>> = BTreeMap::new();
    for (system, code) in codes {
        by_system
            .entry(system.as_deref())
            .or_default()
            .insert(code.as_str());
    }
    let per_system: Vec<Fragment> = by_system
        .iter()
        .map(|(system, codes)| {
            let mut condition = Fragment::new();
            match system {
                Some(system) => condition.push("i.system = ").bind(*system),
                None => condition.push("i.system IS NULL"),
            };
            condition
                .push(" AND ")
                .in_list(dialect, "i.code", codes.iter().copied());
            condition
        })
        .collect();
    match per_system.as_slice() {
        [] => Fragment::text("1 = 0"),
        [only] => only.clone(),
        many => {
            let all: BTreeSet<&str> = by_system.values().flatten().copied().collect();
            let mut condition = Fragment::new();
            condition
                .in_list(dialect, "i.code", all)
                .push(" AND ")
                .join(many, " OR ");
            condition
        }
    }
}

/// One `token` search value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TokenValue {
    /// `code`: any system.
    Code(String),
    /// `system|code` (`|code`: the system is `None`, "no system").
    Coding(Option<String>, String),
    /// `system|`: any code of the system.
    System(String),
}

fn parse_value(written: &str, raw: &str) -> Result<TokenValue, SearchError> {
    let parts = split_unescaped(raw, '|');
    Ok(match parts.as_slice() {
        [code] => TokenValue::Code(unescape(code)),
        ["", code] => TokenValue::Coding(None, unescape(code)),
        [system, ""] => TokenValue::System(unescape(system)),
        [system, code] => TokenValue::Coding(Some(unescape(system)), unescape(code)),
        _ => {
            return Err(SearchError::malformed(
                written,
                format!("'{raw}' is not code, system|code, |code or system|"),
            ));
        }
    })
}

/// The condition of any of `values` (code, `system|code`, `|code`, `system|`) over `i.system`
/// and `i.code`: one IN-list per system however many values there are.
pub fn codes_condition(
    dialect: &dyn SqlDialect,
    written: &str,
    values: &[&str],
) -> Result<Fragment, SearchError> {
    let parsed = values
        .iter()
        .map(|raw| parse_value(written, raw))
        .collect::<Result<BTreeSet<_>, _>>()?;
    let mut any_system = Vec::new();
    let mut codings = Vec::new();
    let mut systems = Vec::new();
    for value in parsed {
        match value {
            TokenValue::Code(code) => any_system.push(code),
            TokenValue::Coding(system, code) => codings.push((system, code)),
            TokenValue::System(system) => systems.push(system),
        }
    }
    let mut groups = Vec::new();
    if !any_system.is_empty() {
        let mut condition = Fragment::new();
        condition.in_list(dialect, "i.code", any_system);
        groups.push(condition);
    }
    if !codings.is_empty() {
        groups.push(set_condition(dialect, &codings));
    }
    if !systems.is_empty() {
        let mut condition = Fragment::new();
        condition.in_list(dialect, "i.system", systems);
        groups.push(condition);
    }
    Ok(match groups.as_slice() {
        [only] => only.clone(),
        _ => {
            let mut condition = Fragment::new();
            condition.join(&groups, " OR ");
            condition
        }
    })
}

/// The clause of a token parameter.
pub fn clause(
    code: &str,
    written: &str,
    modifier: Option<&str>,
    values: &[&str],
    expansions: &Expansions,
    dialect: &dyn SqlDialect,
) -> Result<Clause, SearchError> {
    let mut alternatives = Vec::new();
    match modifier {
        None | Some("not") => {
            alternatives.push(codes_condition(dialect, written, values)?);
            Ok(Clause::index(
                Table::Token,
                code,
                alternatives,
                modifier.is_some(),
                rank::TOKEN,
            ))
        }
        Some("text") => {
            let distinct: BTreeSet<String> =
                values.iter().map(|raw| normalize(&unescape(raw))).collect();
            for text in distinct {
                let mut condition = Fragment::new();
                condition.push_bound(|needle| dialect.contains("i.text", needle), text);
                alternatives.push(condition);
            }
            Ok(Clause::index(
                Table::Token,
                code,
                alternatives,
                false,
                rank::SCAN,
            ))
        }
        Some("of-type") => {
            for raw in values {
                let parts = split_unescaped(raw, '|');
                let [system, type_code, value] = parts.as_slice() else {
                    return Err(SearchError::malformed(
                        written,
                        format!("'{raw}' is not system|code|value"),
                    ));
                };
                let mut condition = Fragment::text("i.code = ");
                condition.bind(format!("{}|{}", unescape(type_code), unescape(value)));
                if !system.is_empty() {
                    condition.push(" AND i.system = ").bind(unescape(system));
                }
                alternatives.push(condition);
            }
            Ok(Clause::index(
                Table::Token,
                &format!("{code}{OF_TYPE}"),
                alternatives,
                false,
                rank::TOKEN,
            ))
        }
        Some(other @ ("in" | "not-in" | "above" | "below")) => {
            let mut codes = std::collections::BTreeSet::new();
            for raw in values {
                let set = expansions.get(written, other, raw).ok_or_else(|| {
                    SearchError::unsupported(
                        written,
                        format!("':{other}' needs the store to read terminology resources"),
                    )
                })??;
                codes.extend(set.iter());
            }
            if codes.len() > MAX_CODES {
                return Err(SearchError::unsupported(
                    written,
                    format!(
                        "':{other}' stands for {} codes, more than the {MAX_CODES} this server \
                         searches by",
                        codes.len()
                    ),
                ));
            }
            Ok(Clause::index(
                Table::Token,
                code,
                vec![set_condition(dialect, codes)],
                other == "not-in",
                rank::TOKEN,
            ))
        }
        Some(other) => Err(unsupported_modifier(written, other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_system_is_one_in_list_and_several_lead_with_all_codes() {
        let codes: Vec<Coding> = vec![
            (Some("urn:a".to_owned()), "c1".to_owned()),
            (Some("urn:a".to_owned()), "c2".to_owned()),
        ];
        let dialect = vigil_store::dialect::embedded();
        let dialect = dialect.as_ref();
        let (sql, values) = set_condition(dialect, &codes).finish();
        assert_eq!(sql, "i.system = $1 AND i.code IN ($2, $3)");
        assert_eq!(values.len(), 3);
        let mut mixed = codes.clone();
        mixed.push((Some("urn:b".to_owned()), "c1".to_owned()));
        mixed.push((None, "y".to_owned()));
        let (sql, values) = set_condition(dialect, &mixed).finish();
        assert_eq!(
            sql,
            "i.code IN ($1, $2, $3) AND (i.system IS NULL AND i.code = $4 OR \
             i.system = $5 AND i.code IN ($6, $7) OR i.system = $8 AND i.code = $9)"
        );
        assert_eq!(values.len(), 9);
        assert_eq!(set_condition(dialect, &[]).finish().0, "1 = 0");
    }
}
