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

/// Codes per bound IN-list (well under every backend's parameter limit).
const CHUNK: usize = 500;

/// `(i.system = s AND i.code IN (...))` alternatives covering `codes` (`1 = 0` when empty).
fn set_conditions<'a>(codes: impl IntoIterator<Item = &'a Coding>) -> Vec<Fragment> {
    let mut by_system: std::collections::BTreeMap<Option<&str>, Vec<&str>> = Default::default();
    for (system, code) in codes {
        by_system
            .entry(system.as_deref())
            .or_default()
            .push(code.as_str());
    }
    let mut conditions = Vec::new();
    for (system, codes) in by_system {
        for chunk in codes.chunks(CHUNK) {
            let mut condition = Fragment::new();
            match system {
                Some(system) => condition.push("i.system = ").bind(system),
                None => condition.push("i.system IS NULL"),
            };
            condition
                .push(" AND i.code IN ")
                .bind_list(chunk.iter().copied());
            conditions.push(condition);
        }
    }
    if conditions.is_empty() {
        conditions.push(Fragment::text("1 = 0"));
    }
    conditions
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
            Ok(Clause::index(
                Table::Token,
                code,
                set_conditions(codes),
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
    fn sets_become_per_system_in_lists_in_chunks() {
        let mut codes: Vec<Coding> = (0..1_234)
            .map(|n| (Some("urn:a".to_owned()), format!("c{n}")))
            .collect();
        codes.push((Some("urn:b".to_owned()), "x".to_owned()));
        codes.push((None, "y".to_owned()));
        let conditions = set_conditions(&codes);
        let rendered: Vec<(String, usize)> = conditions
            .iter()
            .map(|c| {
                let (sql, values) = c.finish();
                (
                    sql.split(" IN ").next().unwrap_or_default().to_owned(),
                    values.len(),
                )
            })
            .collect();
        assert_eq!(
            rendered,
            [
                ("i.system IS NULL AND i.code".to_owned(), 1),
                ("i.system = $1 AND i.code".to_owned(), 501),
                ("i.system = $1 AND i.code".to_owned(), 501),
                ("i.system = $1 AND i.code".to_owned(), 235),
                ("i.system = $1 AND i.code".to_owned(), 2),
            ]
        );
        let empty = set_conditions(&[]);
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0].finish().0, "1 = 0");
    }
}
