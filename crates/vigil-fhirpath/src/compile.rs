//! Compiler: turns the syntax tree into a program: function names resolved to [`Func`] with
//! their arity checked, literals parsed once (numbers, dates, quantities), type specifiers split
//! into namespace and name, and signs folded into numeric literals.

use crate::ast::{BinaryOp, Expr, ExprKind, Literal};
use crate::error::{ParseError, ParseErrorKind, Position};
use crate::functions::Func;
use crate::temporal::Temporal;
use rust_decimal::Decimal;
use std::str::FromStr;

/// A literal parsed once at compile time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Bool(bool),
    Int(i64),
    Dec(Decimal),
    Str(String),
    Temporal(Temporal),
    Quantity(Decimal, String),
}

/// Namespace of a type specifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Namespace {
    /// `System.X`
    System,
    /// `FHIR.X`
    Fhir,
    /// Unqualified: FHIR first, then System.
    Any,
}

/// A type named in `is`, `as`, `ofType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypeSpec {
    pub ns: Namespace,
    pub name: String,
}

/// Built-in `%` variables, resolved at compile time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Var {
    Resource,
    RootResource,
    Context,
    Constant(String),
    User(String),
}

/// A compiled node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub op: Op,
    pub pos: Position,
}

/// Compiled operations.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    Lit(Lit),
    Empty,
    This,
    IndexVar,
    Total,
    Var(Var),
    Member(Option<Box<Node>>, String),
    Call(Option<Box<Node>>, Func, Vec<Node>),
    /// `ofType`, `is`, `as` in function form keep their parsed type.
    TypeCall(Option<Box<Node>>, Func, TypeSpec),
    Index(Box<Node>, Box<Node>),
    Neg(Box<Node>),
    Binary(BinaryOp, Box<Node>, Box<Node>),
    Is(Box<Node>, TypeSpec),
    As(Box<Node>, TypeSpec),
}

fn invalid(pos: Position, expected: &str, found: &str) -> ParseError {
    ParseError::new(ParseErrorKind::InvalidLiteral, pos, expected, found)
}

fn number(text: &str, pos: Position) -> Result<Lit, ParseError> {
    if text.contains('.') {
        Decimal::from_str(text)
            .map(Lit::Dec)
            .map_err(|_| invalid(pos, "a decimal within 28 digits", text))
    } else {
        match text.parse::<i64>() {
            Ok(i) => Ok(Lit::Int(i)),
            Err(_) => Err(invalid(pos, "an integer within 64 bits", text)),
        }
    }
}

/// Splits `FHIR.string`, `System.Boolean`, `Quantity` into a type specifier.
pub(crate) fn type_spec(name: &str) -> TypeSpec {
    let name = name.replace('`', "");
    if let Some(n) = name.strip_prefix("System.") {
        TypeSpec {
            ns: Namespace::System,
            name: n.to_owned(),
        }
    } else if let Some(n) = name.strip_prefix("FHIR.") {
        TypeSpec {
            ns: Namespace::Fhir,
            name: n.to_owned(),
        }
    } else {
        TypeSpec {
            ns: Namespace::Any,
            name,
        }
    }
}

/// Reads a type name written as an expression argument (`ofType(FHIR.Patient)`).
fn type_arg(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Identifier(n) => Some(n.clone()),
        ExprKind::Member(t, n) => Some(format!("{}.{n}", type_arg(t)?)),
        _ => None,
    }
}

fn variable(name: &str) -> Var {
    match name {
        "resource" => Var::Resource,
        "rootResource" => Var::RootResource,
        "context" => Var::Context,
        "ucum" => Var::Constant("http://unitsofmeasure.org".into()),
        "sct" => Var::Constant("http://snomed.info/sct".into()),
        "loinc" => Var::Constant("http://loinc.org".into()),
        n => {
            if let Some(vs) = n.strip_prefix("vs-") {
                Var::Constant(format!("http://hl7.org/fhir/ValueSet/{vs}"))
            } else if let Some(ext) = n.strip_prefix("ext-") {
                Var::Constant(format!("http://hl7.org/fhir/StructureDefinition/{ext}"))
            } else {
                Var::User(n.to_owned())
            }
        }
    }
}

/// Compiles a syntax tree.
pub(crate) fn compile(e: &Expr) -> Result<Node, ParseError> {
    let pos = e.pos;
    let op = match &e.kind {
        ExprKind::Literal(l) => Op::Lit(literal(l, pos)?),
        ExprKind::Empty => Op::Empty,
        ExprKind::Identifier(n) => Op::Member(None, n.clone()),
        ExprKind::Member(t, n) => Op::Member(Some(Box::new(compile(t)?)), n.clone()),
        ExprKind::Call { target, name, args } => return call(target.as_deref(), name, args, pos),
        ExprKind::Index(t, i) => Op::Index(Box::new(compile(t)?), Box::new(compile(i)?)),
        ExprKind::Unary(neg, operand) => {
            let inner = compile(operand)?;
            if !neg {
                return Ok(inner);
            }
            match inner.op {
                Op::Lit(Lit::Int(i)) if matches!(operand.kind, ExprKind::Literal(_)) => {
                    Op::Lit(Lit::Int(-i))
                }
                Op::Lit(Lit::Dec(d)) if matches!(operand.kind, ExprKind::Literal(_)) => {
                    Op::Lit(Lit::Dec(-d))
                }
                Op::Lit(Lit::Quantity(d, u)) if matches!(operand.kind, ExprKind::Literal(_)) => {
                    Op::Lit(Lit::Quantity(-d, u))
                }
                _ => Op::Neg(Box::new(inner)),
            }
        }
        ExprKind::Binary(op, l, r) => Op::Binary(*op, Box::new(compile(l)?), Box::new(compile(r)?)),
        ExprKind::TypeOp(is, operand, ty) => {
            let inner = Box::new(compile(operand)?);
            if *is {
                Op::Is(inner, type_spec(ty))
            } else {
                Op::As(inner, type_spec(ty))
            }
        }
        ExprKind::This => Op::This,
        ExprKind::IndexVar => Op::IndexVar,
        ExprKind::Total => Op::Total,
        ExprKind::External(n) => Op::Var(variable(n)),
    };
    Ok(Node { op, pos })
}

fn literal(l: &Literal, pos: Position) -> Result<Lit, ParseError> {
    Ok(match l {
        Literal::Boolean(b) => Lit::Bool(*b),
        Literal::String(s) => Lit::Str(s.clone()),
        Literal::Number { text, .. } => number(text, pos)?,
        Literal::DateTime(s) => Lit::Temporal(
            Temporal::parse_literal(s)
                .ok_or_else(|| invalid(pos, "a valid date, dateTime or time", &format!("@{s}")))?,
        ),
        Literal::Quantity {
            value,
            unit,
            calendar,
        } => {
            let v =
                Decimal::from_str(value).map_err(|_| invalid(pos, "a quantity value", value))?;
            if !calendar && crate::ucum::parse(unit).is_none() && !unit.is_empty() {
                // Unknown UCUM units are kept: comparison with them is simply empty.
            }
            Lit::Quantity(v, unit.clone())
        }
    })
}

fn call(
    target: Option<&Expr>,
    name: &str,
    args: &[Expr],
    pos: Position,
) -> Result<Node, ParseError> {
    let Some((func, min, max)) = Func::lookup(name) else {
        return Err(ParseError::new(
            ParseErrorKind::UnknownFunction,
            pos,
            "a FHIRPath function name",
            format!("unknown function '{name}'"),
        ));
    };
    if args.len() < min || args.len() > max {
        let expected = if min == max {
            format!("{min} argument(s) to {name}()")
        } else {
            format!("{min} to {max} arguments to {name}()")
        };
        return Err(ParseError::new(
            ParseErrorKind::WrongArity,
            pos,
            expected,
            format!("{} argument(s)", args.len()),
        ));
    }
    let target = match target {
        Some(t) => Some(Box::new(compile(t)?)),
        None => None,
    };
    if matches!(func, Func::OfType | Func::Is | Func::As) {
        let ty = args.first().and_then(type_arg).ok_or_else(|| {
            ParseError::new(
                ParseErrorKind::InvalidTypeSpecifier,
                args.first().map_or(pos, |a| a.pos),
                "a type name",
                "an expression",
            )
        })?;
        return Ok(Node {
            op: Op::TypeCall(target, func, type_spec(&ty)),
            pos,
        });
    }
    let args = args.iter().map(compile).collect::<Result<Vec<_>, _>>()?;
    Ok(Node {
        op: Op::Call(target, func, args),
        pos,
    })
}
