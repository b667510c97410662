//! Optional static checking ("strict mode") of a compiled expression against the type it will
//! be evaluated on: every path step must name an element of the type (`name.given1` is an
//! error, `Encounter.name` on a Patient too), choice elements must be used by their name
//! (`value`, not `valueQuantity`), `as` must name a type the operand can have, and functions
//! that depend on order (`skip`, `first`, `[0]`, ...) may not follow `children()` or
//! `descendants()`, whose order is not defined. Evaluation itself stays lenient.

use crate::compile::{Node, Op, TypeSpec};
use crate::error::{ParseError, ParseErrorKind};
use crate::functions::Func;
use crate::model::{ElementType, TypeModel};

/// What the checker knows about a collection: its possible FHIR types (`None`: unknown, so no
/// checks apply) and whether its order is defined.
#[derive(Clone)]
struct Shape {
    types: Option<Vec<&'static str>>,
    unordered: bool,
}

impl Shape {
    fn unknown() -> Self {
        Shape {
            types: None,
            unordered: false,
        }
    }
}

fn semantic(node: &Node, expected: impl Into<String>, found: impl Into<String>) -> ParseError {
    ParseError::new(ParseErrorKind::Semantic, node.pos, expected, found)
}

pub(crate) struct Checker<'m> {
    pub model: &'m dyn TypeModel,
}

impl Checker<'_> {
    pub(crate) fn check(&self, node: &Node, input: &Shape0) -> Result<(), ParseError> {
        let shape = Shape {
            types: input.0.clone(),
            unordered: false,
        };
        self.infer(node, &shape).map(|_| ())
    }

    fn target(&self, t: &Option<Box<Node>>, input: &Shape) -> Result<Shape, ParseError> {
        match t {
            Some(t) => self.infer(t, input),
            None => Ok(input.clone()),
        }
    }

    fn member(&self, node: &Node, base: &Shape, name: &str) -> Result<Shape, ParseError> {
        let Some(types) = &base.types else {
            return Ok(Shape::unknown());
        };
        let mut out = Vec::new();
        for t in types {
            if name.starts_with(|c: char| c.is_ascii_uppercase()) && self.model.is_resource(t) {
                if self.model.is_subtype(t, name) {
                    out.push(*t);
                    continue;
                }
                return Err(semantic(
                    node,
                    format!("a path on {t}"),
                    format!("'{name}'"),
                ));
            }
            match self.model.element(t, name) {
                Some(ElementType::Single(c)) => out.push(c),
                Some(ElementType::Choice) => out.extend(self.model.choice_types(t, name)),
                Some(ElementType::ChoiceVariant | ElementType::Absent) | None => {}
            }
        }
        if out.is_empty() && !types.is_empty() {
            return Err(semantic(
                node,
                format!("an element of {}", types.join(" | ")),
                format!("'{name}'"),
            ));
        }
        let known = out.iter().all(|t| self.model.fhir_type(t).is_some());
        Ok(Shape {
            types: known.then_some(out),
            unordered: base.unordered,
        })
    }

    fn infer(&self, node: &Node, input: &Shape) -> Result<Shape, ParseError> {
        match &node.op {
            Op::This => Ok(input.clone()),
            Op::Member(t, name) => {
                let base = self.target(t, input)?;
                self.member(node, &base, name)
            }
            Op::Index(t, i) => {
                let base = self.infer(t, input)?;
                self.infer(i, input)?;
                if base.unordered {
                    return Err(semantic(
                        node,
                        "an ordered collection for '[]'",
                        "children()/descendants()",
                    ));
                }
                Ok(base)
            }
            Op::TypeCall(t, func, ty) => {
                let base = self.target(t, input)?;
                if *func == Func::As {
                    self.check_as(node, &base, ty)?;
                }
                Ok(match func {
                    Func::Is => Shape::unknown(),
                    _ => Shape {
                        types: self.model.fhir_type(&ty.name).map(|t| vec![t]),
                        unordered: base.unordered,
                    },
                })
            }
            Op::As(x, ty) => {
                let base = self.infer(x, input)?;
                self.check_as(node, &base, ty)?;
                Ok(Shape {
                    types: self.model.fhir_type(&ty.name).map(|t| vec![t]),
                    unordered: false,
                })
            }
            Op::Is(x, _) | Op::Neg(x) => {
                self.infer(x, input)?;
                Ok(Shape::unknown())
            }
            Op::Binary(_, l, r) => {
                self.infer(l, input)?;
                self.infer(r, input)?;
                Ok(Shape::unknown())
            }
            Op::Call(t, func, args) => {
                let base = self.target(t, input)?;
                let item = Shape {
                    types: base.types.clone(),
                    unordered: false,
                };
                for a in args {
                    let focus = if lambda(*func) { &item } else { input };
                    self.infer(a, focus)?;
                }
                let ordered_only = matches!(
                    func,
                    Func::First | Func::Last | Func::Tail | Func::Skip | Func::Take | Func::Single
                );
                if ordered_only && base.unordered {
                    return Err(semantic(
                        node,
                        format!("an ordered collection for {}()", func.name()),
                        "the output of children()/descendants()",
                    ));
                }
                Ok(match func {
                    Func::Where
                    | Func::First
                    | Func::Last
                    | Func::Tail
                    | Func::Skip
                    | Func::Take
                    | Func::Single
                    | Func::Distinct
                    | Func::Intersect
                    | Func::Exclude
                    | Func::Trace => base,
                    Func::Children | Func::Descendants => Shape {
                        types: None,
                        unordered: true,
                    },
                    Func::Select => match args.first() {
                        Some(a) => self.infer(a, &item)?,
                        None => Shape::unknown(),
                    },
                    _ => Shape::unknown(),
                })
            }
            _ => Ok(Shape::unknown()),
        }
    }

    fn check_as(&self, node: &Node, base: &Shape, ty: &TypeSpec) -> Result<(), ParseError> {
        let Some(types) = &base.types else {
            return Ok(());
        };
        if types.is_empty() || self.model.fhir_type(&ty.name).is_none() {
            return Ok(());
        }
        let possible = types
            .iter()
            .any(|t| self.model.is_subtype(t, &ty.name) || self.model.is_subtype(&ty.name, t));
        if possible {
            Ok(())
        } else {
            Err(semantic(
                node,
                format!("a type among {}", types.join(" | ")),
                format!("'{}'", ty.name),
            ))
        }
    }
}

/// Functions whose arguments are evaluated per input item.
fn lambda(f: Func) -> bool {
    matches!(
        f,
        Func::Where
            | Func::Select
            | Func::All
            | Func::Exists
            | Func::Repeat
            | Func::RepeatAll
            | Func::Sort
            | Func::Aggregate
    )
}

/// The input of a check: the context's possible types.
pub(crate) struct Shape0(pub Option<Vec<&'static str>>);
