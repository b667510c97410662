//! Binary operators: three-valued Boolean logic, (in)equality and equivalence over
//! collections, ordering, membership, union, string concatenation, and arithmetic on numbers,
//! quantities (with UCUM units) and dates (calendar durations).

use super::equality::{compare, equals, equivalent};
use super::{Evaluator, Frame};
use crate::ast::BinaryOp;
use crate::compile::Node;
use crate::error::{EvalError, EvalErrorKind, EvalResult, Position};
use crate::temporal::{Precision, Temporal, TemporalKind};
use crate::ucum;
use crate::value::{Collection, Item, Quantity, Text};
use rust_decimal::Decimal;
use std::cmp::Ordering;

fn one<'a>(b: Option<bool>) -> Collection<'a> {
    b.map(Item::Boolean).into_iter().collect()
}

/// Evaluates `l op r`.
pub(crate) fn binary<'a>(
    ev: &Evaluator<'a>,
    op: BinaryOp,
    l: &'a Node,
    r: &'a Node,
    input: &[Item<'a>],
    frame: &Frame<'a, '_>,
    pos: Position,
) -> EvalResult<Collection<'a>> {
    use BinaryOp as B;
    // Short-circuit logic evaluates the right side only when needed.
    if matches!(op, B::And | B::Or | B::Implies) {
        let a = ev.boolean(ev.eval(l, input, frame)?, l.pos)?;
        let decided = match (op, a) {
            (B::And, Some(false)) => Some(false),
            (B::Or, Some(true)) => Some(true),
            (B::Implies, Some(false)) => Some(true),
            _ => None,
        };
        if decided.is_some() {
            return Ok(one(decided));
        }
        let b = ev.boolean(ev.eval(r, input, frame)?, r.pos)?;
        return Ok(one(match op {
            B::And => match (a, b) {
                (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            B::Or => match (a, b) {
                (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            _ => match (a, b) {
                (_, Some(true)) => Some(true),
                (Some(true), b) => b,
                _ => None,
            },
        }));
    }
    let lv = ev.eval(l, input, frame)?;
    let rv = ev.eval(r, input, frame)?;
    match op {
        B::Xor => {
            let a = ev.boolean(lv, l.pos)?;
            let b = ev.boolean(rv, r.pos)?;
            Ok(one(a.zip(b).map(|(x, y)| x != y)))
        }
        B::Eq => Ok(one(collection_equals(ev, lv, rv))),
        B::Ne => Ok(one(collection_equals(ev, lv, rv).map(|b| !b))),
        B::Equiv => Ok(one(Some(collection_equivalent(lv, rv)))),
        B::NotEquiv => Ok(one(Some(!collection_equivalent(lv, rv)))),
        B::Union => Ok(union(lv, rv)),
        B::In => membership(ev, lv, rv, pos, l.pos),
        B::Contains => membership(ev, rv, lv, pos, r.pos),
        B::Concat => {
            let a = ev.singleton(lv, l.pos)?;
            let b = ev.singleton(rv, r.pos)?;
            let s = |i: Option<Item<'a>>| -> EvalResult<String> {
                match i {
                    None => Ok(String::new()),
                    Some(Item::String(s)) => Ok(s.to_string()),
                    Some(o) => Err(ev.type_error(pos, "strings for '&'", &o)),
                }
            };
            Ok(vec![Item::String(Text::from(s(a)? + &s(b)?))])
        }
        B::Lt | B::Le | B::Gt | B::Ge => {
            let (Some(a), Some(b)) = (ev.singleton(lv, l.pos)?, ev.singleton(rv, r.pos)?) else {
                return Ok(Vec::new());
            };
            let ord = compare(&a, &b).map_err(|_| {
                let (an, at) = a.type_name();
                let (bn, bt) = b.type_name();
                EvalError::new(
                    EvalErrorKind::TypeMismatch,
                    pos,
                    format!("cannot compare {an}.{at} with {bn}.{bt}"),
                )
            })?;
            Ok(one(ord.map(|o| match op {
                B::Lt => o == Ordering::Less,
                B::Le => o != Ordering::Greater,
                B::Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            })))
        }
        _ => {
            let (Some(a), Some(b)) = (ev.singleton(lv, l.pos)?, ev.singleton(rv, r.pos)?) else {
                return Ok(Vec::new());
            };
            arithmetic(ev, op, a, b, pos)
        }
    }
}

fn systems<'a>(v: Collection<'a>) -> Vec<Item<'a>> {
    v.into_iter().filter_map(|i| i.system()).collect()
}

fn collection_equals<'a>(
    _ev: &Evaluator<'a>,
    a: Collection<'a>,
    b: Collection<'a>,
) -> Option<bool> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    if let ([x], [y]) = (a.as_slice(), b.as_slice()) {
        return match (x.system(), y.system()) {
            (Some(x), Some(y)) => equals(&x, &y),
            _ => None,
        };
    }
    let (a, b) = (systems(a), systems(b));
    if a.len() != b.len() {
        return Some(false);
    }
    let mut undecided = false;
    for (x, y) in a.iter().zip(&b) {
        match equals(x, y) {
            Some(false) => return Some(false),
            None => undecided = true,
            Some(true) => {}
        }
    }
    (!undecided).then_some(true)
}

fn collection_equivalent(a: Collection<'_>, b: Collection<'_>) -> bool {
    let (a, b) = (systems(a), systems(b));
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        let found = b
            .iter()
            .enumerate()
            .find(|(i, y)| !used[*i] && equivalent(x, y));
        match found {
            Some((i, _)) => {
                used[i] = true;
                true
            }
            None => false,
        }
    })
}

/// Whether `item` equals some member of `coll` (both as System values).
pub(crate) fn contains_item(coll: &[Item<'_>], item: &Item<'_>) -> bool {
    let Some(x) = item.system() else { return false };
    coll.iter()
        .any(|y| y.system().is_some_and(|y| equals(&x, &y) == Some(true)))
}

/// Union: items of both, without duplicates.
pub(crate) fn union<'a>(a: Collection<'a>, b: Collection<'a>) -> Collection<'a> {
    let mut out: Collection<'a> = Vec::with_capacity(a.len() + b.len());
    for i in a.into_iter().chain(b) {
        if !contains_item(&out, &i) {
            out.push(i);
        }
    }
    out
}

fn membership<'a>(
    ev: &Evaluator<'a>,
    needle: Collection<'a>,
    hay: Collection<'a>,
    pos: Position,
    needle_pos: Position,
) -> EvalResult<Collection<'a>> {
    let _ = pos;
    match ev.singleton(needle, needle_pos)? {
        None => Ok(Vec::new()),
        Some(x) => Ok(vec![Item::Boolean(contains_item(&hay, &x))]),
    }
}

fn overflow(pos: Position) -> EvalError {
    EvalError::new(EvalErrorKind::Overflow, pos, "arithmetic overflow")
}

fn arithmetic<'a>(
    _ev: &Evaluator<'a>,
    op: BinaryOp,
    a: Item<'a>,
    b: Item<'a>,
    pos: Position,
) -> EvalResult<Collection<'a>> {
    use BinaryOp as B;
    let d = |i: i64| Decimal::from(i);
    let item = match (op, &a, &b) {
        (B::Add, Item::String(x), Item::String(y)) => {
            Item::String(Text::from(format!("{}{}", &**x, &**y)))
        }
        (_, Item::Integer(x), Item::Integer(y)) => {
            let (x, y) = (*x, *y);
            match op {
                B::Add => Item::Integer(x.checked_add(y).ok_or_else(|| overflow(pos))?),
                B::Sub => Item::Integer(x.checked_sub(y).ok_or_else(|| overflow(pos))?),
                B::Mul => Item::Integer(x.checked_mul(y).ok_or_else(|| overflow(pos))?),
                B::Div => match d(x).checked_div(d(y)) {
                    Some(q) => Item::Decimal(q.normalize()),
                    None => return Ok(Vec::new()),
                },
                B::IntDiv => match x.checked_div_euclid(y) {
                    Some(_) if y == 0 => return Ok(Vec::new()),
                    Some(_) => Item::Integer(x.checked_div(y).ok_or_else(|| overflow(pos))?),
                    None => return Ok(Vec::new()),
                },
                _ => match x.checked_rem(y) {
                    Some(r) => Item::Integer(r),
                    None => return Ok(Vec::new()),
                },
            }
        }
        (_, Item::Integer(_) | Item::Decimal(_), Item::Integer(_) | Item::Decimal(_)) => {
            let x = as_decimal(&a);
            let y = as_decimal(&b);
            let r = match op {
                B::Add => x.checked_add(y),
                B::Sub => x.checked_sub(y),
                B::Mul => x.checked_mul(y),
                B::Div => {
                    if y.is_zero() {
                        return Ok(Vec::new());
                    }
                    x.checked_div(y).map(|q| q.normalize())
                }
                B::IntDiv => {
                    if y.is_zero() {
                        return Ok(Vec::new());
                    }
                    let q = x.checked_div(y).ok_or_else(|| overflow(pos))?.trunc();
                    return Ok(vec![Item::Integer(
                        i64::try_from(q.mantissa() / 10i128.pow(q.scale()))
                            .map_err(|_| overflow(pos))?,
                    )]);
                }
                _ => {
                    if y.is_zero() {
                        return Ok(Vec::new());
                    }
                    x.checked_rem(y)
                }
            };
            Item::Decimal(r.ok_or_else(|| overflow(pos))?)
        }
        (B::Add | B::Sub, Item::Temporal(t), Item::Quantity(q)) => {
            let sign = if op == B::Add { 1 } else { -1 };
            match add_duration(*t, q, sign) {
                Some(r) => Item::Temporal(r),
                None => {
                    return Err(EvalError::new(
                        EvalErrorKind::TypeMismatch,
                        pos,
                        format!("cannot add '{}' to a date/time", &*q.unit),
                    ));
                }
            }
        }
        (_, Item::Quantity(_), _) | (_, _, Item::Quantity(_)) => match quantity_arith(op, &a, &b) {
            Some(q) => Item::Quantity(q),
            None => return Ok(Vec::new()),
        },
        _ => {
            let (an, at) = a.type_name();
            let (bn, bt) = b.type_name();
            return Err(EvalError::new(
                EvalErrorKind::TypeMismatch,
                pos,
                format!("operator not defined for {an}.{at} and {bn}.{bt}"),
            ));
        }
    };
    Ok(vec![item])
}

pub(crate) fn as_decimal(i: &Item<'_>) -> Decimal {
    match i {
        Item::Integer(x) => Decimal::from(*x),
        Item::Decimal(x) => *x,
        _ => Decimal::ZERO,
    }
}

fn quantity_of<'a>(i: &Item<'a>) -> Option<Quantity<'a>> {
    match i {
        Item::Quantity(q) => Some(q.clone()),
        Item::Integer(_) | Item::Decimal(_) => Some(Quantity {
            value: as_decimal(i),
            unit: Text::Borrowed("1"),
        }),
        _ => None,
    }
}

fn quantity_arith<'a>(op: BinaryOp, a: &Item<'a>, b: &Item<'a>) -> Option<Quantity<'a>> {
    let x = quantity_of(a)?;
    let y = quantity_of(b)?;
    match op {
        BinaryOp::Add | BinaryOp::Sub => {
            let yv = if x.unit == y.unit {
                y.value
            } else {
                ucum::convert(y.value, &y.unit, &x.unit)?
            };
            let v = if op == BinaryOp::Add {
                x.value.checked_add(yv)?
            } else {
                x.value.checked_sub(yv)?
            };
            Some(Quantity {
                value: v,
                unit: x.unit,
            })
        }
        BinaryOp::Mul | BinaryOp::Div => {
            let cx = ucum::parse(&x.unit)?;
            let cy = ucum::parse(&y.unit)?;
            let vx = ucum::to_base(x.value, &x.unit, &cx)?;
            let vy = ucum::to_base(y.value, &y.unit, &cy)?;
            let mut dims = cx.dims;
            let sign = if op == BinaryOp::Mul { 1 } else { -1 };
            for (d, e) in dims.iter_mut().zip(cy.dims) {
                *d = d.checked_add(e.checked_mul(sign)?)?;
            }
            let value = if op == BinaryOp::Mul {
                vx.checked_mul(vy)?
            } else {
                vx.checked_div(vy)?
            };
            let unit = ucum::Canonical {
                factor: Decimal::ONE,
                divisor: Decimal::ONE,
                dims,
            }
            .unit_string();
            Some(Quantity {
                value: value.normalize(),
                unit: Text::from(unit),
            })
        }
        _ => None,
    }
}

/// `date + quantity`: calendar arithmetic; the quantity is truncated to whole units and the
/// result keeps the value's precision.
pub(crate) fn add_duration(t: Temporal, q: &Quantity<'_>, sign: i64) -> Option<Temporal> {
    let unit = ucum::calendar_to_ucum(&q.unit).unwrap_or(&q.unit);
    let whole =
        i64::try_from(q.value.trunc().mantissa() / 10i128.pow(q.value.trunc().scale())).ok()?;
    let n = whole.checked_mul(sign)?;
    let time = t.kind == TemporalKind::Time;
    let r = match unit {
        "a" if !time => {
            ucum::calendar_to_ucum(&q.unit)?;
            t.add_months(n.checked_mul(12)?)?
        }
        "mo" if !time => {
            ucum::calendar_to_ucum(&q.unit)?;
            t.add_months(n)?
        }
        "wk" if !time => t.add_millis(n.checked_mul(7 * 86_400_000)?),
        "d" if !time => t.add_millis(n.checked_mul(86_400_000)?),
        "h" if t.precision >= Precision::Day || time => t.add_millis(n.checked_mul(3_600_000)?),
        "min" => t.add_millis(n.checked_mul(60_000)?),
        "s" => t.add_millis(n.checked_mul(1000)?),
        "ms" => t.add_millis(n),
        "h" => t.add_millis(n.checked_mul(3_600_000)?),
        _ => return None,
    };
    let mut r = r.truncate(t.precision);
    r.precision = t.precision;
    r.in_range().then_some(r)
}
