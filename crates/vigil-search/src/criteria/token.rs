//! `token`: `code`, `system|code`, `|code` (no system), `system|` (any code of the system);
//! `:not` (no matching token, including resources without one), `:text` (normalised display
//! or text, substring), `:of-type` (`system|code|value` of an Identifier's type and value).
//! `:in`, `:not-in` (a stored ValueSet), `:below`, `:above` (a stored CodeSystem's hierarchy):
//! the set resolved beforehand ([`crate::terminology`]) becomes IN-lists per system over the
//! token index; `:not-in` is negated like `:not`.

use std::collections::{BTreeMap, BTreeSet};

use vigil_store::{IndexValue, SqlDialect};

use super::{RowCriterion, RowTest, unsupported_modifier};
use crate::error::SearchError;
use crate::index::OF_TYPE;
use crate::normalize::normalize;
use crate::query::value::{split_unescaped, unescape};
use crate::sql::clause::{Table, rank};
use crate::sql::fragment::Fragment;
use crate::terminology::{Coding, Expansions};

/// Most codes one `:in`/`:not-in`/`:above`/`:below` criterion may stand for (a larger set would
/// make the condition slower than scanning the parameter).
pub const MAX_CODES: usize = 10_000;

/// One `token` search value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum TokenValue {
    /// `code`: any system.
    Code(String),
    /// `system|code` (`|code`: the system is `None`, "no system").
    Coding(Option<String>, String),
    /// `system|`: any code of the system.
    System(String),
}

impl TokenValue {
    fn matches(&self, system: Option<&str>, code: Option<&str>) -> bool {
        match self {
            TokenValue::Code(wanted) => code == Some(wanted.as_str()),
            TokenValue::Coding(wanted_system, wanted) => {
                code == Some(wanted.as_str()) && system == wanted_system.as_deref()
            }
            TokenValue::System(wanted) => system == Some(wanted.as_str()),
        }
    }
}

/// Reads one token value.
pub fn parse_value(written: &str, raw: &str) -> Result<TokenValue, SearchError> {
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

/// Reads a list of token values.
pub fn parse_values(written: &str, values: &[&str]) -> Result<BTreeSet<TokenValue>, SearchError> {
    values.iter().map(|raw| parse_value(written, raw)).collect()
}

/// The condition of any of `values` over `i.system` and `i.code`: one IN-list per system
/// however many values there are.
pub fn condition(dialect: &dyn SqlDialect, values: &BTreeSet<TokenValue>) -> Fragment {
    let mut any_system = Vec::new();
    let mut codings = BTreeSet::new();
    let mut systems = Vec::new();
    for value in values {
        match value {
            TokenValue::Code(code) => any_system.push(code.as_str()),
            TokenValue::Coding(system, code) => {
                codings.insert((system.clone(), code.clone()));
            }
            TokenValue::System(system) => systems.push(system.as_str()),
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
    super::any(groups.into_iter())
}

/// Whether a token row matches any of `values` (as [`condition`] decides).
pub fn matches(values: &BTreeSet<TokenValue>, row: &IndexValue) -> bool {
    match row {
        IndexValue::Token { system, code, .. } => values
            .iter()
            .any(|value| value.matches(system.as_deref(), code.as_deref())),
        _ => false,
    }
}

/// The condition matching any of `codes` over `i.system`/`i.code` (`1 = 0` when empty).
///
/// One system: `i.system = s AND i.code IN (...)`. Several: a flat `i.code IN (...)` first, so
/// the `(param, type, code, system)` index is searched by code (an OR of per-system conditions
/// alone makes the planner scan every row of the parameter), then the exact per-system check.
pub fn set_condition(dialect: &dyn SqlDialect, codes: &BTreeSet<Coding>) -> Fragment {
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

/// Whether a token row's `(system, code)` is in `codes` (as [`set_condition`] decides).
pub fn set_matches(codes: &BTreeSet<Coding>, row: &IndexValue) -> bool {
    match row {
        IndexValue::Token {
            system,
            code: Some(code),
            ..
        } => codes.contains(&(system.clone(), code.clone())),
        _ => false,
    }
}

/// One `:of-type` value: the key `type code|value` and the type's system (any when absent).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OfType {
    /// The identifier type's system, when given.
    pub system: Option<String>,
    /// `type code|identifier value`, as the `:of-type` rows store it.
    pub key: String,
}

impl OfType {
    /// The condition over `i.code` and `i.system`.
    pub fn condition(&self) -> Fragment {
        let mut condition = Fragment::text("i.code = ");
        condition.bind(self.key.as_str());
        if let Some(system) = &self.system {
            condition.push(" AND i.system = ").bind(system.as_str());
        }
        condition
    }

    /// Whether a row matches, as [`Self::condition`] decides.
    pub fn matches(&self, row: &IndexValue) -> bool {
        match row {
            IndexValue::Token { system, code, .. } => {
                code.as_deref() == Some(self.key.as_str())
                    && self
                        .system
                        .as_ref()
                        .is_none_or(|wanted| system.as_ref() == Some(wanted))
            }
            _ => false,
        }
    }
}

fn of_type(written: &str, raw: &str) -> Result<OfType, SearchError> {
    let parts = split_unescaped(raw, '|');
    let [system, type_code, value] = parts.as_slice() else {
        return Err(SearchError::malformed(
            written,
            format!("'{raw}' is not system|code|value"),
        ));
    };
    Ok(OfType {
        system: (!system.is_empty()).then(|| unescape(system)),
        key: format!("{}|{}", unescape(type_code), unescape(value)),
    })
}

/// The criterion of a token parameter.
pub fn criterion(
    code: &str,
    written: &str,
    modifier: Option<&str>,
    values: &[&str],
    expansions: &Expansions,
) -> Result<RowCriterion, SearchError> {
    let (param, test, negated, rank) = match modifier {
        None | Some("not") => (
            code.to_owned(),
            RowTest::Token(parse_values(written, values)?),
            modifier.is_some(),
            rank::TOKEN,
        ),
        Some("text") => (
            code.to_owned(),
            RowTest::TokenText(values.iter().map(|raw| normalize(&unescape(raw))).collect()),
            false,
            rank::SCAN,
        ),
        Some("of-type") => {
            let values = values
                .iter()
                .map(|raw| of_type(written, raw))
                .collect::<Result<_, _>>()?;
            let param = format!("{code}{OF_TYPE}");
            (param, RowTest::OfType(values), false, rank::TOKEN)
        }
        Some(other @ ("in" | "not-in" | "above" | "below")) => {
            let mut codes = BTreeSet::new();
            for raw in values {
                let set = expansions.get(written, other, raw).ok_or_else(|| {
                    SearchError::unsupported(
                        written,
                        format!("':{other}' needs the store to read terminology resources"),
                    )
                })??;
                codes.extend(set.iter().cloned());
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
            let negated = other == "not-in";
            (
                code.to_owned(),
                RowTest::TokenSet(codes),
                negated,
                rank::TOKEN,
            )
        }
        Some(other) => return Err(unsupported_modifier(written, other)),
    };
    Ok(RowCriterion::new(Table::Token, &param, test, negated, rank))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_system_is_one_in_list_and_several_lead_with_all_codes() {
        let dialect = vigil_store::dialect::embedded();
        let dialect = dialect.as_ref();
        let codes: BTreeSet<Coding> = [
            (Some("urn:a".to_owned()), "c1".to_owned()),
            (Some("urn:a".to_owned()), "c2".to_owned()),
        ]
        .into();
        let (sql, values) = set_condition(dialect, &codes).finish();
        assert_eq!(sql, "i.system = $1 AND i.code IN ($2, $3)");
        assert_eq!(values.len(), 3);
        let mut mixed = codes.clone();
        mixed.insert((Some("urn:b".to_owned()), "c1".to_owned()));
        mixed.insert((None, "y".to_owned()));
        let (sql, values) = set_condition(dialect, &mixed).finish();
        assert_eq!(
            sql,
            "i.code IN ($1, $2, $3) AND (i.system IS NULL AND i.code = $4 OR \
             i.system = $5 AND i.code IN ($6, $7) OR i.system = $8 AND i.code = $9)"
        );
        assert_eq!(values.len(), 9);
        assert_eq!(set_condition(dialect, &BTreeSet::new()).finish().0, "1 = 0");
        let row = IndexValue::Token {
            system: None,
            code: Some("y".into()),
            text: None,
        };
        assert!(set_matches(&mixed, &row));
        assert!(!set_matches(&codes, &row));
    }
}
