//! `token`: `code`, `system|code`, `|code` (no system), `system|` (any code of the system);
//! `:not` (no matching token, including resources without one), `:text` (normalised display
//! or text, substring), `:of-type` (`system|code|value` of an Identifier's type and value).
//! `:in`, `:not-in`, `:above`, `:below` need a terminology service and are refused.

use super::unsupported_modifier;
use crate::error::SearchError;
use crate::index::OF_TYPE;
use crate::normalize::normalize;
use crate::query::value::{split_unescaped, unescape};
use crate::sql::clause::{Clause, Table, rank};
use crate::sql::fragment::Fragment;

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
        Some(other @ ("in" | "not-in" | "above" | "below")) => Err(SearchError::unsupported(
            written,
            format!("':{other}' needs a terminology service, which this server does not have"),
        )),
        Some(other) => Err(unsupported_modifier(written, other)),
    }
}
