//! Conversion functions: `toBoolean`, `toInteger`, `toLong`, `toDecimal`, `toString`, `toDate`,
//! `toDateTime`, `toTime`, `toQuantity`, and their `convertsTo...` tests.

use super::{Call, Func};
use crate::error::EvalResult;
use crate::temporal::{Temporal, TemporalKind};
use crate::ucum;
use crate::value::{Collection, Item, Quantity, Text};
use rust_decimal::Decimal;
use std::str::FromStr;

pub(super) fn call<'a>(
    cx: &Call<'_, 'a, '_>,
    func: Func,
    input: Collection<'a>,
) -> EvalResult<Collection<'a>> {
    let Some(item) = cx.ev.singleton(input, cx.node.pos)? else {
        return Ok(Vec::new());
    };
    let unit = if matches!(func, Func::ToQuantity | Func::ConvertsToQuantity) {
        cx.arg_str(0)?
    } else {
        None
    };
    let converted = match func {
        Func::ToBoolean | Func::ConvertsToBoolean => to_boolean(&item).map(Item::Boolean),
        Func::ToInteger | Func::ConvertsToInteger | Func::ToLong | Func::ConvertsToLong => {
            to_integer(&item).map(Item::Integer)
        }
        Func::ToDecimal | Func::ConvertsToDecimal => to_decimal(&item).map(Item::Decimal),
        Func::ToString | Func::ConvertsToString => {
            to_string(&item).map(|s| Item::String(Text::from(s)))
        }
        Func::ToDate | Func::ConvertsToDate => to_temporal(&item, TemporalKind::Date),
        Func::ToDateTime | Func::ConvertsToDateTime => to_temporal(&item, TemporalKind::DateTime),
        Func::ToTime | Func::ConvertsToTime => to_temporal(&item, TemporalKind::Time),
        _ => to_quantity(&item, unit.as_deref()).map(Item::Quantity),
    };
    let is_test = matches!(
        func,
        Func::ConvertsToBoolean
            | Func::ConvertsToInteger
            | Func::ConvertsToLong
            | Func::ConvertsToDecimal
            | Func::ConvertsToString
            | Func::ConvertsToDate
            | Func::ConvertsToDateTime
            | Func::ConvertsToTime
            | Func::ConvertsToQuantity
    );
    Ok(if is_test {
        vec![Item::Boolean(converted.is_some())]
    } else {
        converted.into_iter().collect()
    })
}

pub(crate) fn to_boolean(i: &Item<'_>) -> Option<bool> {
    match i {
        Item::Boolean(b) => Some(*b),
        Item::Integer(1) => Some(true),
        Item::Integer(0) => Some(false),
        Item::Decimal(d) if *d == Decimal::ONE => Some(true),
        Item::Decimal(d) if d.is_zero() => Some(false),
        Item::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(true),
            "false" | "f" | "no" | "n" | "0" | "0.0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn is_integer_text(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn to_integer(i: &Item<'_>) -> Option<i64> {
    match i {
        Item::Integer(n) => Some(*n),
        Item::Boolean(b) => Some(i64::from(*b)),
        Item::String(s) if is_integer_text(s) => s.parse().ok(),
        _ => None,
    }
}

fn is_decimal_text(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int, frac) = match body.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (body, None),
    };
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

pub(crate) fn to_decimal(i: &Item<'_>) -> Option<Decimal> {
    match i {
        Item::Integer(n) => Some(Decimal::from(*n)),
        Item::Decimal(d) => Some(*d),
        Item::Boolean(b) => Some(if *b {
            Decimal::new(10, 1)
        } else {
            Decimal::new(0, 1)
        }),
        Item::String(s) if is_decimal_text(s) => Decimal::from_str(s).ok(),
        _ => None,
    }
}

/// Formats a quantity as FHIRPath writes it: `1 'wk'`, `4 days`.
pub(crate) fn quantity_string(q: &Quantity<'_>) -> String {
    if q.is_calendar() {
        format!("{} {}", q.value, &*q.unit)
    } else {
        format!("{} '{}'", q.value, &*q.unit)
    }
}

pub(crate) fn to_string(i: &Item<'_>) -> Option<String> {
    Some(match i {
        Item::String(s) => s.to_string(),
        Item::Integer(n) => n.to_string(),
        Item::Decimal(d) => d.to_string(),
        Item::Boolean(b) => b.to_string(),
        Item::Quantity(q) => quantity_string(q),
        Item::Temporal(t) => t.to_fhir_string(),
        Item::Node(_) => return None,
    })
}

fn to_temporal<'a>(i: &Item<'a>, kind: TemporalKind) -> Option<Item<'a>> {
    let t = match (i, kind) {
        (Item::Temporal(t), TemporalKind::Time) => (t.kind == TemporalKind::Time).then_some(*t)?,
        (Item::Temporal(t), _) if t.kind == TemporalKind::Time => return None,
        (Item::Temporal(t), TemporalKind::Date) => {
            let mut d = t.truncate(crate::temporal::Precision::Day);
            d.kind = TemporalKind::Date;
            d.tz = None;
            d
        }
        (Item::Temporal(t), _) => t.as_datetime(),
        (Item::String(s), TemporalKind::Time) => {
            Temporal::parse_time(s.strip_prefix('T').unwrap_or(s))?
        }
        (Item::String(s), TemporalKind::Date) => Temporal::parse_date(s).or_else(|| {
            let dt = Temporal::parse_datetime(s)?;
            let mut d = dt.truncate(crate::temporal::Precision::Day);
            d.kind = TemporalKind::Date;
            d.tz = None;
            Some(d)
        })?,
        (Item::String(s), _) => Temporal::parse_datetime(s)?,
        _ => return None,
    };
    Some(Item::Temporal(t))
}

/// Parses `"4 days"`, `"10 'mg'"`, `"1.5"` as a quantity.
fn parse_quantity(s: &str) -> Option<(Decimal, String)> {
    let s = s.trim();
    let (num, rest) = match s.find(' ') {
        Some(k) => (&s[..k], s[k..].trim()),
        None => (s, ""),
    };
    if !is_decimal_text(num) {
        return None;
    }
    let v = Decimal::from_str(num).ok()?;
    if rest.is_empty() {
        return Some((v, "1".into()));
    }
    if let Some(u) = rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Some((v, u.to_owned()));
    }
    ucum::calendar_to_ucum(rest).map(|_| (v, rest.to_owned()))
}

fn to_quantity<'a>(i: &Item<'a>, unit: Option<&str>) -> Option<Quantity<'a>> {
    let q = match i {
        Item::Integer(_) | Item::Decimal(_) => Quantity {
            value: to_decimal(i)?,
            unit: Text::Borrowed("1"),
        },
        Item::Boolean(b) => Quantity {
            value: if *b {
                Decimal::new(10, 1)
            } else {
                Decimal::new(0, 1)
            },
            unit: Text::Borrowed("1"),
        },
        Item::Quantity(q) => q.clone(),
        Item::String(s) => {
            let (v, u) = parse_quantity(s)?;
            Quantity {
                value: v,
                unit: Text::from(u),
            }
        }
        _ => return None,
    };
    match unit {
        None => Some(q),
        Some(u) if u == &*q.unit => Some(q),
        Some(u) => {
            let v = ucum::convert(q.value, &q.unit, u)?;
            Some(Quantity {
                value: v,
                unit: Text::from(u.to_owned()),
            })
        }
    }
}
