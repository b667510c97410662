//! Existence functions: `empty`, `exists`, `all`, `allTrue`/`anyTrue`/`allFalse`/`anyFalse`,
//! `subsetOf`, `supersetOf`, `count`, `distinct`, `isDistinct`, and `not`.

use super::{Call, Func};
use crate::error::{EvalError, EvalErrorKind, EvalResult};
use crate::eval::Frame;
use crate::eval::ops::{contains_item, union};
use crate::value::{Collection, Item};

fn bools<'a>(cx: &Call<'_, 'a, '_>, input: &[Item<'a>]) -> EvalResult<Vec<bool>> {
    input
        .iter()
        .map(|i| match i.system() {
            Some(Item::Boolean(b)) => Ok(b),
            Some(other) => Err(cx.ev.type_error(cx.node.pos, "Boolean items", &other)),
            None => Err(EvalError::new(
                EvalErrorKind::TypeMismatch,
                cx.node.pos,
                "expected Boolean items, found an element without value",
            )),
        })
        .collect()
}

pub(super) fn call<'a>(
    cx: &Call<'_, 'a, '_>,
    func: Func,
    input: Collection<'a>,
) -> EvalResult<Collection<'a>> {
    let b = |v: bool| Ok(vec![Item::Boolean(v)]);
    match func {
        Func::Empty => b(input.is_empty()),
        Func::Exists => {
            if cx.args.is_empty() {
                return b(!input.is_empty());
            }
            for (i, item) in input.iter().enumerate() {
                if criterion(cx, item, i)? == Some(true) {
                    return b(true);
                }
            }
            b(false)
        }
        Func::All => {
            for (i, item) in input.iter().enumerate() {
                if criterion(cx, item, i)? != Some(true) {
                    return b(false);
                }
            }
            b(true)
        }
        Func::AllTrue => b(bools(cx, &input)?.iter().all(|x| *x)),
        Func::AnyTrue => b(bools(cx, &input)?.iter().any(|x| *x)),
        Func::AllFalse => b(bools(cx, &input)?.iter().all(|x| !*x)),
        Func::AnyFalse => b(bools(cx, &input)?.iter().any(|x| !*x)),
        Func::SubsetOf => {
            let other = cx.arg(0)?;
            b(input.iter().all(|i| contains_item(&other, i)))
        }
        Func::SupersetOf => {
            let other = cx.arg(0)?;
            b(other.iter().all(|i| contains_item(&input, i)))
        }
        Func::Count => Ok(vec![Item::Integer(input.len() as i64)]),
        Func::Distinct => Ok(union(input, Vec::new())),
        Func::IsDistinct => {
            let n = input.len();
            b(union(input, Vec::new()).len() == n)
        }
        _ => {
            // not()
            Ok(match cx.ev.boolean(input, cx.node.pos)? {
                Some(v) => vec![Item::Boolean(!v)],
                None => Vec::new(),
            })
        }
    }
}

/// Evaluates argument 0 with `item` as focus and `$index` = `i`, as a Boolean.
pub(super) fn criterion<'a>(
    cx: &Call<'_, 'a, '_>,
    item: &Item<'a>,
    i: usize,
) -> EvalResult<Option<bool>> {
    let Some(arg) = cx.args.first() else {
        return Ok(None);
    };
    let frame = Frame {
        index: Some(i as i64),
        total: cx.frame.total,
    };
    let v = cx.ev.eval(arg, std::slice::from_ref(item), &frame)?;
    cx.ev.boolean(v, arg.pos)
}
