//! The evaluator: walks a compiled program over a focus collection. Paths evaluate their
//! target then navigate; functions get their input collection and unevaluated arguments (so
//! lambdas such as `where` can evaluate them per item); operators live in [`ops`].

pub(crate) mod equality;
mod navigate;
pub(crate) mod ops;

pub(crate) use navigate::{children, member};

use crate::compile::{Lit, Node, Op, Var};
use crate::context::Context;
use crate::error::{EvalError, EvalErrorKind, EvalResult, Position};
use crate::functions::{self, Func};
use crate::value::{Collection, Item, Node as JsonNode, Quantity, Text};
use std::cell::Cell;

/// Deepest evaluation nesting (function arguments inside lambdas inside paths...).
const MAX_DEPTH: u32 = 256;

/// Lambda variables: `$index`, `$total`.
#[derive(Default)]
pub(crate) struct Frame<'a, 'f> {
    pub index: Option<i64>,
    pub total: Option<&'f [Item<'a>]>,
}

/// Evaluation state for one `evaluate` call.
pub(crate) struct Evaluator<'a> {
    pub ctx: &'a Context<'a>,
    regexes: &'a crate::RegexCache,
    depth: Cell<u32>,
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(ctx: &'a Context<'a>, regexes: &'a crate::RegexCache) -> Self {
        Evaluator {
            ctx,
            regexes,
            depth: Cell::new(0),
        }
    }

    /// A compiled regular expression (cached per expression).
    pub(crate) fn regex(
        &self,
        pattern: &str,
        full: bool,
        pos: Position,
    ) -> EvalResult<regex::Regex> {
        self.regexes.get(pattern, full).map_err(|e| {
            EvalError::new(
                EvalErrorKind::InvalidArgument,
                pos,
                format!("invalid regular expression: {e}"),
            )
        })
    }

    /// The initial focus: the explicit focus, else the resource, else empty.
    pub(crate) fn initial_focus(&self) -> Collection<'a> {
        if let Some(f) = self.ctx.focus {
            return vec![Item::Node(f)];
        }
        self.ctx
            .resource
            .map(|r| vec![Item::Node(JsonNode::root(r))])
            .unwrap_or_default()
    }

    pub(crate) fn type_error(&self, pos: Position, expected: &str, found: &Item<'a>) -> EvalError {
        let (ns, name) = found.type_name();
        EvalError::new(
            EvalErrorKind::TypeMismatch,
            pos,
            format!("expected {expected}, found {ns}.{name}"),
        )
    }

    /// At most one item, as its System value (`None` when empty).
    pub(crate) fn singleton(
        &self,
        v: Collection<'a>,
        pos: Position,
    ) -> EvalResult<Option<Item<'a>>> {
        match v.len() {
            0 => Ok(None),
            1 => Ok(v.into_iter().next().and_then(|i| i.system())),
            n => Err(EvalError::new(
                EvalErrorKind::SingletonExpected,
                pos,
                format!("expected a single item, found a collection of {n}"),
            )),
        }
    }

    /// Singleton evaluation as a Boolean: empty -> None, a non-Boolean single item -> true.
    pub(crate) fn boolean(&self, v: Collection<'a>, pos: Position) -> EvalResult<Option<bool>> {
        Ok(match self.singleton(v, pos)? {
            None => None,
            Some(Item::Boolean(b)) => Some(b),
            Some(_) => Some(true),
        })
    }

    pub(crate) fn eval(
        &self,
        node: &'a Node,
        input: &[Item<'a>],
        frame: &Frame<'a, '_>,
    ) -> EvalResult<Collection<'a>> {
        let d = self.depth.get() + 1;
        if d > MAX_DEPTH {
            return Err(EvalError::new(
                EvalErrorKind::TooDeep,
                node.pos,
                "evaluation nested too deeply",
            ));
        }
        self.depth.set(d);
        let r = self.eval_inner(node, input, frame);
        self.depth.set(d - 1);
        r
    }

    fn target(
        &self,
        t: &'a Option<Box<Node>>,
        input: &[Item<'a>],
        frame: &Frame<'a, '_>,
    ) -> EvalResult<Collection<'a>> {
        match t {
            Some(t) => self.eval(t, input, frame),
            None => Ok(input.to_vec()),
        }
    }

    fn eval_inner(
        &self,
        node: &'a Node,
        input: &[Item<'a>],
        frame: &Frame<'a, '_>,
    ) -> EvalResult<Collection<'a>> {
        Ok(match &node.op {
            Op::Lit(l) => vec![literal(l)],
            Op::Empty => Vec::new(),
            Op::This => input.to_vec(),
            Op::IndexVar => frame.index.map(Item::Integer).into_iter().collect(),
            Op::Total => frame.total.map(<[Item<'a>]>::to_vec).unwrap_or_default(),
            Op::Var(v) => self.variable(v, node.pos)?,
            Op::Member(target, name) => {
                let base = self.target(target, input, frame)?;
                let mut out = Vec::with_capacity(base.len());
                for item in &base {
                    member(self.ctx.model, item, name, &mut out);
                }
                out
            }
            Op::Call(target, func, args) => {
                let base = self.target(target, input, frame)?;
                functions::call(self, *func, base, args, input, frame, node)?
            }
            Op::TypeCall(target, func, ty) => {
                self.check_type(ty, node.pos)?;
                let base = self.target(target, input, frame)?;
                let model = self.ctx.model;
                match func {
                    Func::OfType => base
                        .into_iter()
                        .filter(|i| functions::as_type(model, i, ty))
                        .collect(),
                    Func::Is => self.is_op(base, ty, node.pos)?,
                    _ => self.as_op(base, ty, node.pos)?,
                }
            }
            Op::Index(target, index) => {
                let base = self.eval(target, input, frame)?;
                let idx = self.eval(index, input, frame)?;
                match self.singleton(idx, index.pos)? {
                    None => Vec::new(),
                    Some(Item::Integer(i)) => usize::try_from(i)
                        .ok()
                        .and_then(|i| base.into_iter().nth(i))
                        .into_iter()
                        .collect(),
                    Some(other) => {
                        return Err(self.type_error(index.pos, "an integer index", &other));
                    }
                }
            }
            Op::Neg(inner) => {
                let v = self.eval(inner, input, frame)?;
                match self.singleton(v, node.pos)? {
                    None => Vec::new(),
                    Some(Item::Integer(i)) => {
                        vec![Item::Integer(i.checked_neg().ok_or_else(|| {
                            EvalError::new(EvalErrorKind::Overflow, node.pos, "integer overflow")
                        })?)]
                    }
                    Some(Item::Decimal(d)) => vec![Item::Decimal(-d)],
                    Some(Item::Quantity(q)) => {
                        vec![Item::Quantity(Quantity {
                            value: -q.value,
                            unit: q.unit,
                        })]
                    }
                    Some(other) => {
                        return Err(self.type_error(node.pos, "a number to negate", &other));
                    }
                }
            }
            Op::Binary(op, l, r) => ops::binary(self, *op, l, r, input, frame, node.pos)?,
            Op::Is(x, ty) => {
                self.check_type(ty, node.pos)?;
                let v = self.eval(x, input, frame)?;
                self.is_op(v, ty, node.pos)?
            }
            Op::As(x, ty) => {
                self.check_type(ty, node.pos)?;
                let v = self.eval(x, input, frame)?;
                self.as_op(v, ty, node.pos)?
            }
        })
    }

    fn check_type(&self, ty: &crate::compile::TypeSpec, pos: Position) -> EvalResult<()> {
        if functions::known_type(self.ctx.model, ty) {
            Ok(())
        } else {
            Err(EvalError::new(
                EvalErrorKind::TypeMismatch,
                pos,
                format!("unknown type '{}'", ty.name),
            ))
        }
    }

    fn is_op(
        &self,
        v: Collection<'a>,
        ty: &crate::compile::TypeSpec,
        pos: Position,
    ) -> EvalResult<Collection<'a>> {
        if v.len() > 1 {
            return Err(EvalError::new(
                EvalErrorKind::SingletonExpected,
                pos,
                format!("'is' expects a single item, found {}", v.len()),
            ));
        }
        Ok(v.first()
            .map(|i| Item::Boolean(functions::is_type(self.ctx.model, i, ty)))
            .into_iter()
            .collect())
    }

    fn as_op(
        &self,
        v: Collection<'a>,
        ty: &crate::compile::TypeSpec,
        pos: Position,
    ) -> EvalResult<Collection<'a>> {
        if v.len() > 1 {
            return Err(EvalError::new(
                EvalErrorKind::SingletonExpected,
                pos,
                format!("'as' expects a single item, found {}", v.len()),
            ));
        }
        Ok(v.into_iter()
            .filter(|i| functions::as_type(self.ctx.model, i, ty))
            .collect())
    }

    fn variable(&self, v: &'a Var, pos: Position) -> EvalResult<Collection<'a>> {
        let ctx = self.ctx;
        let node = |r: Option<&'a serde_json::Value>| -> Collection<'a> {
            r.map(|r| vec![Item::Node(JsonNode::root(r))])
                .unwrap_or_default()
        };
        Ok(match v {
            Var::Resource => node(ctx.resource),
            Var::RootResource => node(ctx.root),
            Var::Context => self.initial_focus(),
            Var::Constant(s) => vec![Item::String(Text::Borrowed(s))],
            Var::User(name) => match ctx.vars.get(name) {
                Some(items) => items.clone(),
                None => {
                    return Err(EvalError::new(
                        EvalErrorKind::UndefinedVariable(name.clone()),
                        pos,
                        format!("undefined variable %{name}"),
                    ));
                }
            },
        })
    }
}

fn literal(l: &Lit) -> Item<'_> {
    match l {
        Lit::Bool(b) => Item::Boolean(*b),
        Lit::Int(i) => Item::Integer(*i),
        Lit::Dec(d) => Item::Decimal(*d),
        Lit::Str(s) => Item::String(Text::Borrowed(s)),
        Lit::Temporal(t) => Item::Temporal(*t),
        Lit::Quantity(v, u) => Item::Quantity(Quantity {
            value: *v,
            unit: Text::Borrowed(u),
        }),
    }
}
