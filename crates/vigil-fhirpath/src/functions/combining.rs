//! Combining (`union`, `combine`), `iif`, and tree navigation (`children`, `descendants`).

use super::{Call, Func};
use crate::error::{EvalError, EvalErrorKind, EvalResult};
use crate::eval::children;
use crate::eval::ops::union;
use crate::value::{Collection, Item};

/// Upper bound on `descendants()` output.
const DESCENDANT_LIMIT: usize = 1_000_000;

pub(super) fn call<'a>(
    cx: &Call<'_, 'a, '_>,
    func: Func,
    input: Collection<'a>,
) -> EvalResult<Collection<'a>> {
    let model = cx.ev.ctx.model;
    match func {
        Func::Union => Ok(union(input, cx.arg(0)?)),
        Func::Combine => {
            let mut out = input;
            out.extend(cx.arg(0)?);
            Ok(out)
        }
        Func::Iif => {
            if input.len() > 1 {
                return Err(EvalError::new(
                    EvalErrorKind::SingletonExpected,
                    cx.node.pos,
                    "iif() applies to at most one item",
                ));
            }
            let focus: &[_] = if cx.node_has_target() {
                &input
            } else {
                cx.outer
            };
            let Some(cond_node) = cx.args.first() else {
                return Ok(Vec::new());
            };
            let cond = cx.ev.eval(cond_node, focus, cx.frame)?;
            let branch = match cx.ev.singleton(cond, cond_node.pos)? {
                Some(Item::Boolean(true)) => cx.args.get(1),
                None | Some(Item::Boolean(false)) => cx.args.get(2),
                Some(other) => {
                    return Err(cx.ev.type_error(
                        cond_node.pos,
                        "a Boolean criterion for iif()",
                        &other,
                    ));
                }
            };
            match branch {
                Some(b) => cx.ev.eval(b, focus, cx.frame),
                None => Ok(Vec::new()),
            }
        }
        Func::Children => {
            let mut out = Vec::new();
            for item in &input {
                children(model, item, &mut out);
            }
            Ok(out)
        }
        _ => {
            let mut out = Vec::new();
            let mut frontier = input;
            while !frontier.is_empty() {
                let mut next = Vec::new();
                for item in &frontier {
                    children(model, item, &mut next);
                }
                out.extend(next.iter().cloned());
                if out.len() > DESCENDANT_LIMIT {
                    return Err(EvalError::new(
                        EvalErrorKind::TooDeep,
                        cx.node.pos,
                        "descendants() produced too many items",
                    ));
                }
                frontier = next;
            }
            Ok(out)
        }
    }
}
