//! `token`: `code`, `system|code`, `|code` (no system), `system|` (any code of the system);
//! `:not` (no matching token, including resources without one), `:text` (normalised display
//! or text, substring), `:of-type` (`system|code|value` of an Identifier's type and value).
//! `:in`, `:not-in` (a stored ValueSet), `:below`, `:above` (a stored CodeSystem's hierarchy):
//! the set resolved beforehand ([`crate::terminology`]) becomes IN-lists per system over the
//! token index; `:not-in` is negated like `:not`.

use super::unsupported_modifier;
use crate::error::SearchError;
use crate::index::OF_TYPE;
use crate::normalize::normalize;
use crate::query::value::{split_unescaped, unescape};
use crate::sql::clause::{Clause, Table, rank};
use crate::sql::fragment::Fragment;
use crate::terminology::{Coding, Expansions};

/// Most codes one `:in`/`:not-in`/`:above`/`:below` criterion may stand for: each code is bound
/// up to twice, which keeps a statement under SQLite's 32,766 bound values.
pub const MAX_CODES: usize = 10_000;

/// The condition matching any of `codes` over `i.system`/`i.code` (`1 = 0` when empty).
///
/// One system: `i.system = s AND i.code IN (...)`. Several: a flat `i.code IN (...)` first, so
/// the `(param, type, code, system)` index is searched by code (an OR of per-system conditions
/// alone makes SQLite scan every row of the parameter), then the exact per-system check.
fn set_condition<'a>(codes: impl IntoIterator<Item = &'a Coding>) -> Fragment {
    let mut by_system: std::collections::BTreeMap<Option<&str>, Vec<&str>> = Default::default();
    for (system, code) in codes {
        by_system
            .entry(system.as_deref())
            .or_default()
            .push(code.as_str());
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
                .push(" AND i.code IN ")
                .bind_list(codes.iter().copied());
            condition
        })
        .collect();
    match per_system.as_slice() {
        [] => Fragment::text("1 = 0"),
        [only] => only.clone(),
        many => {
            let all: std::collections::BTreeSet<&str> =
                by_system.values().flatten().copied().collect();
            let mut condition = Fragment::text("i.code IN ");
            condition.bind_list(all).push(" AND ").join(many, " OR ");
            condition
        }
    }
}

/// The condition of one `system|code` value over `i.system` and `i.code`.
pub fn code_condition(written: &str, raw: &str) -> Result<Fragment, SearchError> {
    let parts = split_unescaped(raw, '|');
    let mut condition = Fragment::new();
    match parts.as_slice() {
        [code] => {
            condition.push("i.code = ").bind(unescape(code));
        }
        ["", code] => {
            condition
                .push("i.system IS NULL AND i.code = ")
                .bind(unescape(code));
        }
        [system, ""] => {
            condition.push("i.system = ").bind(unescape(system));
        }
        [system, code] => {
            condition
                .push("i.code = ")
                .bind(unescape(code))
                .push(" AND i.system = ")
                .bind(unescape(system));
        }
        _ => {
            return Err(SearchError::malformed(
                written,
                format!("'{raw}' is not code, system|code, |code or system|"),
            ));
        }
    }
    Ok(condition)
}

/// The clause of a token parameter.
pub fn clause(
    code: &str,
    written: &str,
    modifier: Option<&str>,
    values: &[&str],
    expansions: &Expansions,
) -> Result<Clause, SearchError> {
    let mut alternatives = Vec::new();
    match modifier {
        None | Some("not") => {
            for raw in values {
                alternatives.push(code_condition(written, raw)?);
            }
            Ok(Clause::index(
                Table::Token,
                code,
                alternatives,
                modifier.is_some(),
                rank::TOKEN,
            ))
        }
        Some("text") => {
            for raw in values {
                let mut condition = Fragment::text("instr(i.text, ");
                condition.bind(normalize(&unescape(raw))).push(") > 0");
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
                vec![set_condition(codes)],
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
        let (sql, values) = set_condition(&codes).finish();
        assert_eq!(sql, "i.system = $1 AND i.code IN ($2, $3)");
        assert_eq!(values.len(), 3);
        let mut mixed = codes.clone();
        mixed.push((Some("urn:b".to_owned()), "c1".to_owned()));
        mixed.push((None, "y".to_owned()));
        let (sql, values) = set_condition(&mixed).finish();
        assert_eq!(
            sql,
            "i.code IN ($1, $2, $3) AND (i.system IS NULL AND i.code IN ($4) OR \
             i.system = $5 AND i.code IN ($6, $7) OR i.system = $8 AND i.code IN ($9))"
        );
        assert_eq!(values.len(), 9);
        assert_eq!(set_condition(&[]).finish().0, "1 = 0");
    }
}
