//! Functions that take expressions evaluated per item (`where`, `select`, `repeat`,
//! `repeatAll`, `aggregate`, `sort`) and utilities (`trace`, `now`, `today`, `timeOfDay`).

use super::existence::criterion;
use super::{Call, Func};
use crate::compile::Op;
use crate::error::{EvalError, EvalErrorKind, EvalResult};
use crate::eval::Frame;
use crate::eval::equality::compare;
use crate::eval::ops::contains_item;
use crate::temporal::{Precision, Temporal, TemporalKind};
use crate::value::{Collection, Item};
use std::cmp::Ordering;

/// Upper bound on items `repeat` may produce, so cyclic data cannot run away.
const REPEAT_LIMIT: usize = 100_000;

pub(super) fn lambda<'a>(
    cx: &Call<'_, 'a, '_>,
    func: Func,
    input: Collection<'a>,
) -> EvalResult<Collection<'a>> {
    match func {
        Func::Where => {
            let mut out = Vec::new();
            for (i, item) in input.iter().enumerate() {
                if criterion(cx, item, i)? == Some(true) {
                    out.push(item.clone());
                }
            }
            Ok(out)
        }
        Func::Select => {
            let mut out = Vec::new();
            for (i, item) in input.iter().enumerate() {
                out.extend(project(cx, item, i)?);
            }
            Ok(out)
        }
        Func::Repeat | Func::RepeatAll => {
            let mut out: Collection<'a> = Vec::new();
            let mut queue = input;
            while !queue.is_empty() {
                let mut next = Vec::new();
                for (i, item) in queue.iter().enumerate() {
                    for r in project(cx, item, i)? {
                        if func == Func::RepeatAll || !contains_item(&out, &r) {
                            out.push(r.clone());
                            next.push(r);
                        }
                    }
                }
                if out.len() > REPEAT_LIMIT {
                    return Err(EvalError::new(
                        EvalErrorKind::TooDeep,
                        cx.node.pos,
                        format!("repeat produced more than {REPEAT_LIMIT} items"),
                    ));
                }
                queue = next;
            }
            Ok(out)
        }
        Func::Aggregate => {
            let mut total = cx.arg(1)?;
            let Some(arg) = cx.args.first() else {
                return Ok(total);
            };
            for (i, item) in input.iter().enumerate() {
                let frame = Frame {
                    index: Some(i as i64),
                    total: Some(&total),
                };
                total = cx.ev.eval(arg, std::slice::from_ref(item), &frame)?;
            }
            Ok(total)
        }
        _ => sort(cx, input),
    }
}

fn project<'a>(cx: &Call<'_, 'a, '_>, item: &Item<'a>, i: usize) -> EvalResult<Collection<'a>> {
    let Some(arg) = cx.args.first() else {
        return Ok(Vec::new());
    };
    let frame = Frame {
        index: Some(i as i64),
        total: cx.frame.total,
    };
    cx.ev.eval(arg, std::slice::from_ref(item), &frame)
}

fn sort<'a>(cx: &Call<'_, 'a, '_>, input: Collection<'a>) -> EvalResult<Collection<'a>> {
    let mut keyed = Vec::with_capacity(input.len());
    for (i, item) in input.into_iter().enumerate() {
        let mut keys = Vec::new();
        if cx.args.is_empty() {
            keys.push(item.system());
        }
        for arg in cx.args {
            let (expr, _) = match &arg.op {
                Op::Neg(inner) => (&**inner, true),
                _ => (arg, false),
            };
            let frame = Frame {
                index: Some(i as i64),
                total: cx.frame.total,
            };
            let v = cx.ev.eval(expr, std::slice::from_ref(&item), &frame)?;
            keys.push(cx.ev.singleton(v, arg.pos)?);
        }
        keyed.push((keys, item));
    }
    let desc: Vec<bool> = cx.args.iter().map(|a| matches!(a.op, Op::Neg(_))).collect();
    let mut failed = false;
    keyed.sort_by(|(ka, _), (kb, _)| {
        for (k, (a, b)) in ka.iter().zip(kb).enumerate() {
            let o = match (a, b) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => match compare(x, y) {
                    Ok(o) => o.unwrap_or(Ordering::Equal),
                    Err(_) => {
                        failed = true;
                        Ordering::Equal
                    }
                },
            };
            let o = if desc.get(k).copied().unwrap_or(false) {
                o.reverse()
            } else {
                o
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    if failed {
        return Err(EvalError::new(
            EvalErrorKind::TypeMismatch,
            cx.node.pos,
            "sort keys cannot be compared",
        ));
    }
    Ok(keyed.into_iter().map(|(_, i)| i).collect())
}

/// The current instant (from the context, else the system clock in UTC).
pub(crate) fn now(cx: &Call<'_, '_, '_>) -> Temporal {
    if let Some(n) = cx.ev.ctx.now {
        return n;
    }
    let ms = vigil_model::instant::now_micros().div_euclid(1000);
    let epoch = Temporal {
        kind: TemporalKind::DateTime,
        year: 1970,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        millis: 0,
        precision: Precision::Millisecond,
        tz: Some(0),
    };
    epoch.add_millis(ms)
}

pub(super) fn call<'a>(
    cx: &Call<'_, 'a, '_>,
    func: Func,
    input: Collection<'a>,
) -> EvalResult<Collection<'a>> {
    match func {
        Func::Trace => {
            let name = cx.arg_str(0)?.map(|s| s.to_string()).unwrap_or_default();
            if let Some(tracer) = cx.ev.ctx.tracer {
                let shown = if cx.args.len() > 1 {
                    let mut all = Vec::new();
                    for (i, item) in input.iter().enumerate() {
                        let frame = Frame {
                            index: Some(i as i64),
                            total: cx.frame.total,
                        };
                        all.extend(
                            cx.ev
                                .eval(&cx.args[1], std::slice::from_ref(item), &frame)?,
                        );
                    }
                    all
                } else {
                    input.clone()
                };
                tracer.trace(&name, &crate::output::to_json(&shown));
            }
            Ok(input)
        }
        Func::Now => Ok(vec![Item::Temporal(now(cx))]),
        Func::Today => {
            let mut t = now(cx).truncate(Precision::Day);
            t.kind = TemporalKind::Date;
            Ok(vec![Item::Temporal(t)])
        }
        _ => {
            let n = now(cx);
            let mut t = n;
            t.kind = TemporalKind::Time;
            t.tz = None;
            Ok(vec![Item::Temporal(t)])
        }
    }
}
