//! Equality (`=`), equivalence (`~`) and ordering of single items, on their System values.
//! `None` means "empty": the operands' precisions (dates) or units (quantities) cannot decide.

use crate::temporal::Temporal;
use crate::ucum;
use crate::value::{Item, Quantity};
use rust_decimal::Decimal;
use serde_json::Value;
use std::cmp::Ordering;

/// Why two items cannot be ordered.
pub(crate) struct Incomparable;

fn temporal_of(i: &Item<'_>, like: &Temporal) -> Option<Temporal> {
    match i {
        Item::Temporal(t) => Some(*t),
        Item::String(s) => match like.kind {
            crate::temporal::TemporalKind::Time => Temporal::parse_time(s),
            _ => Temporal::parse_datetime(s),
        },
        _ => None,
    }
}

/// Both quantities in the same canonical unit: `(a, b)` values, when comparable.
pub(crate) fn quantity_pair(a: &Quantity<'_>, b: &Quantity<'_>) -> Option<(Decimal, Decimal)> {
    if a.unit == b.unit {
        return Some((a.value, b.value));
    }
    ucum::common_values(a.value, &a.unit, b.value, &b.unit)
}

/// Calendar `year`/`month` and UCUM `a`/`mo` differ in length: `=` between them is empty.
fn calendar_mismatch(a: &Quantity<'_>, b: &Quantity<'_>) -> bool {
    let big = |u: &str| matches!(u, "year" | "years" | "month" | "months");
    let ucum_big = |u: &str| matches!(u, "a" | "mo");
    (big(&a.unit) && ucum_big(&b.unit)) || (ucum_big(&a.unit) && big(&b.unit))
}

/// `a = b` for two System values; `None` when undecidable.
pub(crate) fn equals(a: &Item<'_>, b: &Item<'_>) -> Option<bool> {
    match (a, b) {
        (Item::Boolean(x), Item::Boolean(y)) => Some(x == y),
        (Item::Integer(x), Item::Integer(y)) => Some(x == y),
        (Item::Integer(x), Item::Decimal(y)) => Some(Decimal::from(*x) == *y),
        (Item::Decimal(x), Item::Integer(y)) => Some(*x == Decimal::from(*y)),
        (Item::Decimal(x), Item::Decimal(y)) => Some(x == y),
        (Item::String(x), Item::String(y)) => Some(**x == **y),
        (Item::Temporal(x), other) | (other, Item::Temporal(x)) => {
            let Some(y) = temporal_of(other, x) else {
                return Some(false);
            };
            let time = crate::temporal::TemporalKind::Time;
            if (x.kind == time) != (y.kind == time) {
                return Some(false);
            }
            x.as_datetime().equals(&y.as_datetime())
        }
        (Item::Quantity(x), Item::Quantity(y)) => {
            if calendar_mismatch(x, y) {
                return None;
            }
            quantity_pair(x, y).map(|(p, q)| p == q).or(Some(false))
        }
        (Item::Node(x), Item::Node(y)) => Some(json_equal(x.value, y.value)),
        _ => Some(false),
    }
}

fn json_equal(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let dx: Option<Decimal> = x.to_string().parse().ok();
            let dy: Option<Decimal> = y.to_string().parse().ok();
            dx.is_some() && dx == dy
        }
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            x.len() == y.len() && x.iter().all(|(k, v)| json_equal(Some(v), y.get(k)))
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(Some(p), Some(q)))
        }
        (x, y) => x == y,
    }
}

/// Normalises a string for `~`: case-insensitive, whitespace runs collapsed.
fn fold(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Decimal equivalence: equal when rounded to the precision of the less precise operand.
pub(crate) fn decimal_equivalent(x: Decimal, y: Decimal) -> bool {
    let scale = x.scale().min(y.scale());
    x.round_dp(scale) == y.round_dp(scale)
}

/// `a ~ b` for two System values.
pub(crate) fn equivalent(a: &Item<'_>, b: &Item<'_>) -> bool {
    match (a, b) {
        (Item::Integer(x), Item::Decimal(y)) | (Item::Decimal(y), Item::Integer(x)) => {
            decimal_equivalent(Decimal::from(*x), *y)
        }
        (Item::Decimal(x), Item::Decimal(y)) => decimal_equivalent(*x, *y),
        (Item::String(x), Item::String(y)) => fold(x) == fold(y),
        (Item::Temporal(x), other) | (other, Item::Temporal(x)) => temporal_of(other, x)
            .is_some_and(|y| x.as_datetime().equals(&y.as_datetime()) == Some(true)),
        (Item::Quantity(x), Item::Quantity(y)) => {
            let unify = |q: &Quantity<'_>| -> String {
                match q.unit.as_ref() {
                    "year" | "years" => "a".into(),
                    "month" | "months" => "mo".into(),
                    u => u.to_owned(),
                }
            };
            let xu = unify(x);
            let yu = unify(y);
            if xu == yu {
                return decimal_equivalent(x.value, y.value);
            }
            match ucum::convert(y.value, &yu, &xu) {
                Some(v) => {
                    decimal_equivalent(x.value, v.round_dp(y.value.scale().max(x.value.scale())))
                }
                None => false,
            }
        }
        _ => equals(a, b) == Some(true),
    }
}

/// Orders two System values; `Ok(None)` when precision cannot decide, `Err` when the types
/// cannot be ordered at all.
pub(crate) fn compare(a: &Item<'_>, b: &Item<'_>) -> Result<Option<Ordering>, Incomparable> {
    Ok(match (a, b) {
        (Item::Integer(x), Item::Integer(y)) => Some(x.cmp(y)),
        (Item::Integer(x), Item::Decimal(y)) => Some(Decimal::from(*x).cmp(y)),
        (Item::Decimal(x), Item::Integer(y)) => Some(x.cmp(&Decimal::from(*y))),
        (Item::Decimal(x), Item::Decimal(y)) => Some(x.cmp(y)),
        (Item::String(x), Item::String(y)) => Some(x.cmp(y)),
        (Item::Temporal(x), other) => {
            let y = temporal_of(other, x).ok_or(Incomparable)?;
            if (x.kind == crate::temporal::TemporalKind::Time)
                != (y.kind == crate::temporal::TemporalKind::Time)
            {
                return Err(Incomparable);
            }
            x.as_datetime().compare(&y.as_datetime())
        }
        (other, Item::Temporal(y)) => {
            let x = temporal_of(other, y).ok_or(Incomparable)?;
            if (x.kind == crate::temporal::TemporalKind::Time)
                != (y.kind == crate::temporal::TemporalKind::Time)
            {
                return Err(Incomparable);
            }
            x.as_datetime().compare(&y.as_datetime())
        }
        (Item::Quantity(x), Item::Quantity(y)) => {
            if calendar_mismatch(x, y) {
                return Ok(None);
            }
            quantity_pair(x, y).map(|(p, q)| p.cmp(&q))
        }
        _ => return Err(Incomparable),
    })
}
