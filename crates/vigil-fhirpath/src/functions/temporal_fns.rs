//! Precision functions: `lowBoundary`, `highBoundary`, `precision` for decimals, quantities,
//! dates, dateTimes and times, and `comparable` for quantities.

use super::{Call, Func};
use crate::error::EvalResult;
use crate::temporal::{Precision, Temporal, TemporalKind, days_in_month};
use crate::ucum;
use crate::value::{Collection, Item, Quantity};
use rust_decimal::{Decimal, RoundingStrategy};

pub(super) fn call<'a>(
    cx: &Call<'_, 'a, '_>,
    func: Func,
    input: Collection<'a>,
) -> EvalResult<Collection<'a>> {
    let pos = cx.node.pos;
    let Some(x) = cx.ev.singleton(input, pos)? else {
        return Ok(Vec::new());
    };
    match func {
        Func::Precision => Ok(match &x {
            Item::Decimal(d) => vec![Item::Integer(i64::from(d.scale()))],
            Item::Integer(_) => vec![Item::Integer(0)],
            Item::Temporal(t) => vec![Item::Integer(temporal_digits(t))],
            _ => Vec::new(),
        }),
        Func::Comparable => {
            let Some(other) = cx.arg_single(0)? else {
                return Ok(Vec::new());
            };
            match (&x, &other) {
                (Item::Quantity(a), Item::Quantity(b)) => {
                    let ok = match (ucum::parse(&a.unit), ucum::parse(&b.unit)) {
                        (Some(p), Some(q)) => p.comparable(&q),
                        _ => false,
                    };
                    Ok(vec![Item::Boolean(ok)])
                }
                _ => Err(cx.ev.type_error(pos, "two quantities", &other)),
            }
        }
        _ => {
            let high = func == Func::HighBoundary;
            let digits = cx.arg_int(0)?;
            let out = match x {
                Item::Integer(i) => {
                    decimal_boundary(Decimal::from(i), digits, high).map(Item::Decimal)
                }
                Item::Decimal(d) => decimal_boundary(d, digits, high).map(Item::Decimal),
                Item::Quantity(q) => decimal_boundary(q.value, digits, high).map(|value| {
                    Item::Quantity(Quantity {
                        value,
                        unit: q.unit,
                    })
                }),
                Item::Temporal(t) => temporal_boundary(t, digits, high).map(Item::Temporal),
                other => return Err(cx.ev.type_error(pos, "a decimal, quantity or date", &other)),
            };
            Ok(out.into_iter().collect())
        }
    }
}

fn temporal_digits(t: &Temporal) -> i64 {
    let base = match t.precision {
        Precision::Year => 4,
        Precision::Month => 6,
        Precision::Day => 8,
        Precision::Hour => 10,
        Precision::Minute => 12,
        Precision::Second => 14,
        Precision::Millisecond => 17,
    };
    if t.kind == TemporalKind::Time {
        base - 8
    } else {
        base
    }
}

/// The interval a decimal written with its precision stands for, at `digits` digits.
fn decimal_boundary(d: Decimal, digits: Option<i64>, high: bool) -> Option<Decimal> {
    let digits = u32::try_from(digits.unwrap_or(8))
        .ok()
        .filter(|p| *p <= 28)?;
    // Half a unit of the last written digit; below 10^-28 it vanishes at any output precision.
    let half = Decimal::try_new(5, d.scale() + 1).unwrap_or(Decimal::ZERO);
    let bound = if high {
        d.checked_add(half)?
    } else {
        d.checked_sub(half)?
    };
    let unit = Decimal::new(1, digits);
    if d.abs() < unit && digits < d.scale() {
        let mut z = Decimal::ZERO;
        z.rescale(digits);
        if d.is_sign_negative() && !high {
            z.set_sign_negative(true);
        }
        return Some(z);
    }
    let strategy = if high {
        RoundingStrategy::ToPositiveInfinity
    } else {
        RoundingStrategy::ToNegativeInfinity
    };
    let mut r = bound.round_dp_with_strategy(digits, strategy);
    r.rescale(digits);
    Some(r)
}

fn temporal_boundary(t: Temporal, digits: Option<i64>, high: bool) -> Option<Temporal> {
    let time = t.kind == TemporalKind::Time;
    let target = match (digits, time) {
        (None, true) => Precision::Millisecond,
        (None, false) => Precision::Millisecond,
        (Some(2), true) => Precision::Hour,
        (Some(4), true) | (Some(12), false) => Precision::Minute,
        (Some(6), true) | (Some(14), false) => Precision::Second,
        (Some(9), true) | (Some(17), false) => Precision::Millisecond,
        (Some(4), false) => Precision::Year,
        (Some(6), false) => Precision::Month,
        (Some(8), false) => Precision::Day,
        (Some(10), false) => Precision::Hour,
        _ => return None,
    };
    let target = if t.kind == TemporalKind::Date {
        target.min(Precision::Day)
    } else {
        target
    };
    let mut r = t;
    // An hour alone is read as hh:00 (FHIR has no hour-only times).
    let known = if t.precision == Precision::Hour {
        Precision::Minute
    } else {
        t.precision
    };
    if known < Precision::Month {
        r.month = if high { 12 } else { 1 };
    }
    if known < Precision::Day {
        r.day = if high {
            days_in_month(r.year, r.month)
        } else {
            1
        };
    }
    if known < Precision::Hour {
        r.hour = if high { 23 } else { 0 };
    }
    if known < Precision::Minute {
        r.minute = if high { 59 } else { 0 };
    }
    if known < Precision::Second {
        r.second = if high { 59 } else { 0 };
    }
    if known < Precision::Millisecond {
        r.millis = if high { 999 } else { 0 };
    }
    if !time && target >= Precision::Hour && r.tz.is_none() {
        r.tz = Some(if high { -12 * 60 } else { 14 * 60 });
    }
    r.precision = target;
    Some(r.truncate(target))
}
