//! `number` parameters: a number covers the range its written precision implies (`100` is
//! [99.5, 100.5], `100.0` is [99.95, 100.05]); search values are read the same way.

use serde_json::Value;
use vigil_store::IndexValue;

use super::Selected;

/// The implied range of a decimal written as `text`: (low, high), `None` when not a number.
pub fn number_range(text: &str) -> Option<(f64, f64)> {
    let text = text.trim();
    let value: f64 = text.parse().ok()?;
    if !value.is_finite() || text.starts_with('+') || text.eq_ignore_ascii_case("inf") {
        return None;
    }
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let decimals = mantissa
        .split_once('.')
        .map_or(0, |(_, fraction)| fraction.len());
    let decimals = i32::try_from(decimals).ok()?;
    let half_step = 0.5 * 10f64.powi(exponent - decimals);
    Some((value - half_step, value + half_step))
}

/// The number index value of an item.
pub fn number_value(item: &Selected<'_>) -> Option<IndexValue> {
    let text = match item {
        Selected::Node {
            value: Value::Number(number),
            ..
        } => number.to_string(),
        Selected::Node {
            value: Value::String(text),
            ..
        }
        | Selected::Number(text) => text.clone(),
        _ => return None,
    };
    number_range(&text).map(|(low, high)| IndexValue::Number { low, high })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_written_precision() {
        let cases: &[(&str, Option<(f64, f64)>)] = &[
            ("100", Some((99.5, 100.5))),
            ("100.0", Some((99.95, 100.05))),
            ("-2.5", Some((-2.55, -2.45))),
            ("1e2", Some((50.0, 150.0))),
            ("abc", None),
            ("NaN", None),
            ("inf", None),
            ("", None),
        ];
        for (text, expected) in cases {
            let got = number_range(text);
            match (got, expected) {
                (Some((low, high)), Some((el, eh))) => {
                    assert!(
                        (low - el).abs() < 1e-9 && (high - eh).abs() < 1e-9,
                        "{text}: {low} {high}"
                    )
                }
                (got, expected) => assert_eq!(got, *expected, "{text}"),
            }
        }
    }
}
