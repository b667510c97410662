//! Math functions: `abs`, `ceiling`, `exp`, `floor`, `ln`, `log`, `power`, `round`, `sqrt`,
//! `truncate`. Exact decimal arithmetic where the result is exact; `exp`, `ln`, `log`, `sqrt`
//! and fractional powers go through binary floating point, as no exact result exists.

use super::{Call, Func};
use crate::error::{EvalError, EvalErrorKind, EvalResult};
use crate::value::{Collection, Item, Quantity};
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};

fn to_int(d: Decimal) -> Option<i64> {
    d.to_i64()
}

fn float_result<'a>(f: f64) -> Collection<'a> {
    if !f.is_finite() {
        return Vec::new();
    }
    Decimal::from_f64(f)
        .map(|d| Item::Decimal(d.normalize()))
        .into_iter()
        .collect()
}

pub(super) fn call<'a>(
    cx: &Call<'_, 'a, '_>,
    func: Func,
    input: Collection<'a>,
) -> EvalResult<Collection<'a>> {
    let pos = cx.node.pos;
    let Some(x) = cx.ev.singleton(input, pos)? else {
        return Ok(Vec::new());
    };
    let overflow = || EvalError::new(EvalErrorKind::Overflow, pos, "numeric overflow");
    let d = match &x {
        Item::Integer(i) => Decimal::from(*i),
        Item::Decimal(d) => *d,
        Item::Quantity(q) if func == Func::Abs => {
            return Ok(vec![Item::Quantity(Quantity {
                value: q.value.abs(),
                unit: q.unit.clone(),
            })]);
        }
        other => return Err(cx.ev.type_error(pos, "a number", other)),
    };
    let f = d.to_f64().unwrap_or(f64::NAN);
    Ok(match func {
        Func::Abs => match x {
            Item::Integer(i) => vec![Item::Integer(i.checked_abs().ok_or_else(overflow)?)],
            _ => vec![Item::Decimal(d.abs())],
        },
        Func::Ceiling => vec![Item::Integer(to_int(d.ceil()).ok_or_else(overflow)?)],
        Func::Floor => vec![Item::Integer(to_int(d.floor()).ok_or_else(overflow)?)],
        Func::Truncate => vec![Item::Integer(to_int(d.trunc()).ok_or_else(overflow)?)],
        Func::Exp => float_result(f.exp()),
        Func::Ln => {
            if f <= 0.0 {
                return Ok(Vec::new());
            }
            float_result(f.ln())
        }
        Func::Sqrt => {
            if f < 0.0 {
                return Ok(Vec::new());
            }
            float_result(f.sqrt())
        }
        Func::Log => {
            let base = match cx.arg_single(0)? {
                None => return Ok(Vec::new()),
                Some(Item::Integer(b)) => b as f64,
                Some(Item::Decimal(b)) => b.to_f64().unwrap_or(f64::NAN),
                Some(other) => return Err(cx.ev.type_error(pos, "a numeric base", &other)),
            };
            if f <= 0.0 || base <= 0.0 || base == 1.0 {
                return Ok(Vec::new());
            }
            float_result(f.ln() / base.ln())
        }
        Func::Power => {
            let exp = match cx.arg_single(0)? {
                None => return Ok(Vec::new()),
                Some(e @ (Item::Integer(_) | Item::Decimal(_))) => e,
                Some(other) => return Err(cx.ev.type_error(pos, "a numeric exponent", &other)),
            };
            match (&x, &exp) {
                (Item::Integer(b), Item::Integer(e)) if *e >= 0 => {
                    let e = u32::try_from(*e).map_err(|_| overflow())?;
                    vec![Item::Integer(b.checked_pow(e).ok_or_else(overflow)?)]
                }
                (_, Item::Integer(e)) if (0..=64).contains(e) => {
                    let mut acc = Decimal::ONE;
                    for _ in 0..*e {
                        acc = acc.checked_mul(d).ok_or_else(overflow)?;
                    }
                    vec![Item::Decimal(acc)]
                }
                _ => {
                    let e = match exp {
                        Item::Integer(i) => i as f64,
                        Item::Decimal(e) => e.to_f64().unwrap_or(f64::NAN),
                        _ => f64::NAN,
                    };
                    float_result(f.powf(e))
                }
            }
        }
        _ => {
            let digits = cx.arg_int(0)?.unwrap_or(0);
            if !(0..=28).contains(&digits) {
                return Err(EvalError::new(
                    EvalErrorKind::InvalidArgument,
                    pos,
                    "round() precision must be between 0 and 28",
                ));
            }
            vec![Item::Decimal(d.round_dp_with_strategy(
                digits as u32,
                rust_decimal::RoundingStrategy::MidpointAwayFromZero,
            ))]
        }
    })
}
