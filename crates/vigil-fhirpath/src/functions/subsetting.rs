//! Subsetting: `single`, `first`, `last`, `tail`, `skip`, `take`, `intersect`, `exclude`.

use super::{Call, Func};
use crate::error::{EvalError, EvalErrorKind, EvalResult};
use crate::eval::ops::{contains_item, union};
use crate::value::Collection;

pub(super) fn call<'a>(
    cx: &Call<'_, 'a, '_>,
    func: Func,
    mut input: Collection<'a>,
) -> EvalResult<Collection<'a>> {
    Ok(match func {
        Func::Single => {
            if input.len() > 1 {
                return Err(EvalError::new(
                    EvalErrorKind::SingletonExpected,
                    cx.node.pos,
                    format!("single() found {} items", input.len()),
                ));
            }
            input
        }
        Func::First => {
            input.truncate(1);
            input
        }
        Func::Last => input.pop().into_iter().collect(),
        Func::Tail => input.into_iter().skip(1).collect(),
        Func::Skip => {
            let n = cx.arg_int(0)?.unwrap_or(0).max(0);
            input
                .into_iter()
                .skip(usize::try_from(n).unwrap_or(usize::MAX))
                .collect()
        }
        Func::Take => {
            let n = cx.arg_int(0)?.unwrap_or(0).max(0);
            input.truncate(usize::try_from(n).unwrap_or(usize::MAX));
            input
        }
        Func::Intersect => {
            let other = cx.arg(0)?;
            let common: Collection<'a> = input
                .into_iter()
                .filter(|i| contains_item(&other, i))
                .collect();
            union(common, Vec::new())
        }
        _ => {
            let other = cx.arg(0)?;
            input
                .into_iter()
                .filter(|i| !contains_item(&other, i))
                .collect()
        }
    })
}
