//! Recursive-descent parser with precedence climbing, following the FHIRPath N1 grammar.
//!
//! Precedence, from tightest to loosest: invocation `.` and indexer `[]`; unary `+ -`;
//! `* / div mod`; `+ - &`; `is as`; `|`; `< > <= >=`; `= ~ != !~`; `in contains`; `and`;
//! `xor or`; `implies`. All binary operators are left-associative.

use crate::ast::{BinaryOp, Expr, ExprKind, Literal};
use crate::error::{ParseError, ParseErrorKind};
use crate::lexer::{Tok, Token, tokenize};

/// Deepest syntax tree accepted (nesting, path steps and operator chains all count), so hostile
/// input cannot overflow the stack of the compiler or the evaluator.
const MAX_DEPTH: usize = 128;

/// Bound on the parser's own recursion (several steps per tree level), checked before the tree
/// height so that the parser cannot overflow its stack either.
const MAX_PARSE_STACK: usize = 100;

const CALENDAR_UNITS: [&str; 16] = [
    "year",
    "years",
    "month",
    "months",
    "week",
    "weeks",
    "day",
    "days",
    "hour",
    "hours",
    "minute",
    "minutes",
    "second",
    "seconds",
    "millisecond",
    "milliseconds",
];

/// Parses a whole expression.
pub(crate) fn parse(src: &str) -> Result<Expr, ParseError> {
    let tokens = tokenize(src)?;
    let mut p = Parser {
        tokens,
        i: 0,
        depth: 0,
    };
    let e = p.expression(0)?;
    let t = p.peek();
    if t.tok != Tok::Eof {
        return Err(p.error_at(p.i, "an operator or end of input"));
    }
    Ok(e)
}

struct Parser {
    tokens: Vec<Token>,
    i: usize,
    depth: usize,
}

fn binary_op(tok: &Tok) -> Option<(BinaryOp, u8)> {
    let op = match tok {
        Tok::Punct(p) => match *p {
            "*" => (BinaryOp::Mul, 10),
            "/" => (BinaryOp::Div, 10),
            "+" => (BinaryOp::Add, 9),
            "-" => (BinaryOp::Sub, 9),
            "&" => (BinaryOp::Concat, 9),
            "|" => (BinaryOp::Union, 7),
            "<" => (BinaryOp::Lt, 6),
            "<=" => (BinaryOp::Le, 6),
            ">" => (BinaryOp::Gt, 6),
            ">=" => (BinaryOp::Ge, 6),
            "=" => (BinaryOp::Eq, 5),
            "!=" => (BinaryOp::Ne, 5),
            "~" => (BinaryOp::Equiv, 5),
            "!~" => (BinaryOp::NotEquiv, 5),
            _ => return None,
        },
        Tok::Ident {
            name,
            delimited: false,
        } => match name.as_str() {
            "div" => (BinaryOp::IntDiv, 10),
            "mod" => (BinaryOp::Mod, 10),
            "in" => (BinaryOp::In, 4),
            "contains" => (BinaryOp::Contains, 4),
            "and" => (BinaryOp::And, 3),
            "or" => (BinaryOp::Or, 2),
            "xor" => (BinaryOp::Xor, 2),
            "implies" => (BinaryOp::Implies, 1),
            _ => return None,
        },
        _ => return None,
    };
    Some(op)
}

/// Binding power of `is` / `as`.
const TYPE_OP_BP: u8 = 8;

impl Parser {
    fn peek(&self) -> &Token {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[self.i.min(last)]
    }

    fn peek_at(&self, k: usize) -> &Tok {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[(self.i + k).min(last)].tok
    }

    fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.tokens.len() {
            self.i += 1;
        }
        t
    }

    fn error_at(&self, i: usize, expected: &str) -> ParseError {
        let last = self.tokens.len().saturating_sub(1);
        let t = &self.tokens[i.min(last)];
        ParseError::new(ParseErrorKind::Syntax, t.pos, expected, t.tok.describe())
    }

    fn expect_punct(&mut self, p: &'static str) -> Result<(), ParseError> {
        if self.peek().tok == Tok::Punct(p) {
            self.advance();
            Ok(())
        } else {
            Err(self.error_at(self.i, &format!("'{p}'")))
        }
    }

    /// Builds a node, refusing trees deeper than [`MAX_DEPTH`].
    fn node(&self, kind: ExprKind, pos: crate::error::Position) -> Result<Expr, ParseError> {
        let depth = kind.depth();
        if depth > MAX_DEPTH {
            return Err(ParseError::new(
                ParseErrorKind::Syntax,
                pos,
                format!("an expression at most {MAX_DEPTH} levels deep"),
                "a deeper expression",
            ));
        }
        Ok(Expr { kind, pos, depth })
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_PARSE_STACK {
            let pos = self.peek().pos;
            return Err(ParseError::new(
                ParseErrorKind::Syntax,
                pos,
                format!("at most {MAX_DEPTH} levels of nesting"),
                "deeper nesting",
            ));
        }
        Ok(())
    }

    fn expression(&mut self, min_bp: u8) -> Result<Expr, ParseError> {
        let entry_depth = self.depth;
        self.enter()?;
        let mut lhs = self.unary()?;
        loop {
            let tok = &self.peek().tok;
            if let Tok::Ident {
                name,
                delimited: false,
            } = tok
                && (name == "is" || name == "as")
                && TYPE_OP_BP > min_bp
            {
                let is = name == "is";
                let pos = self.advance().pos;
                let ty = self.type_specifier()?;
                lhs = self.node(ExprKind::TypeOp(is, Box::new(lhs), ty), pos)?;
                continue;
            }
            let Some((op, bp)) = binary_op(tok) else {
                break;
            };
            if bp <= min_bp {
                break;
            }
            let pos = self.advance().pos;
            let rhs = self.expression(bp)?;
            lhs = self.node(ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), pos)?;
        }
        self.depth = entry_depth;
        Ok(lhs)
    }

    fn type_specifier(&mut self) -> Result<String, ParseError> {
        let mut name = self.identifier("a type name")?;
        while self.peek().tok == Tok::Punct(".") && matches!(self.peek_at(1), Tok::Ident { .. }) {
            self.advance();
            name.push('.');
            name.push_str(&self.identifier("a type name")?);
        }
        Ok(name)
    }

    fn identifier(&mut self, what: &str) -> Result<String, ParseError> {
        match &self.peek().tok {
            Tok::Ident { name, .. } => {
                let n = name.clone();
                self.advance();
                Ok(n)
            }
            _ => Err(self.error_at(self.i, what)),
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if let Tok::Punct(p @ ("-" | "+")) = self.peek().tok {
            let pos = self.advance().pos;
            self.enter()?;
            let operand = self.unary()?;
            self.depth -= 1;
            return self.node(ExprKind::Unary(p == "-", Box::new(operand)), pos);
        }
        let entry_depth = self.depth;
        let mut e = self.term()?;
        loop {
            match self.peek().tok {
                Tok::Punct(".") => {
                    self.advance();
                    let pos = self.peek().pos;
                    let name = self.identifier("a member or function name after '.'")?;
                    if self.peek().tok == Tok::Punct("(") {
                        let args = self.arguments()?;
                        e = self.node(
                            ExprKind::Call {
                                target: Some(Box::new(e)),
                                name,
                                args,
                            },
                            pos,
                        )?;
                    } else {
                        e = self.node(ExprKind::Member(Box::new(e), name), pos)?;
                    }
                }
                Tok::Punct("[") => {
                    let pos = self.advance().pos;
                    let index = self.expression(0)?;
                    self.expect_punct("]")?;
                    e = self.node(ExprKind::Index(Box::new(e), Box::new(index)), pos)?;
                }
                _ => {
                    self.depth = entry_depth;
                    return Ok(e);
                }
            }
        }
    }

    fn arguments(&mut self) -> Result<Vec<Expr>, ParseError> {
        self.expect_punct("(")?;
        let mut args = Vec::new();
        if self.peek().tok == Tok::Punct(")") {
            self.advance();
            return Ok(args);
        }
        loop {
            args.push(self.expression(0)?);
            match self.peek().tok {
                Tok::Punct(",") => {
                    self.advance();
                }
                Tok::Punct(")") => {
                    self.advance();
                    return Ok(args);
                }
                _ => return Err(self.error_at(self.i, "',' or ')'")),
            }
        }
    }

    fn term(&mut self) -> Result<Expr, ParseError> {
        let t = self.advance();
        let pos = t.pos;
        let kind = match t.tok {
            Tok::Number { text, long } => self.number_or_quantity(text, long),
            Tok::Str(s) => ExprKind::Literal(Literal::String(s)),
            Tok::DateTime(s) => ExprKind::Literal(Literal::DateTime(s)),
            Tok::External(n) => ExprKind::External(n),
            Tok::Special(s) => match s.as_str() {
                "this" => ExprKind::This,
                "index" => ExprKind::IndexVar,
                _ => ExprKind::Total,
            },
            Tok::Punct("(") => {
                let inner = self.expression(0)?;
                self.expect_punct(")")?;
                return Ok(inner);
            }
            Tok::Punct("{") => {
                self.expect_punct("}")?;
                ExprKind::Empty
            }
            Tok::Ident { name, delimited } => {
                if self.peek().tok == Tok::Punct("(") && !delimited {
                    let args = self.arguments()?;
                    ExprKind::Call {
                        target: None,
                        name,
                        args,
                    }
                } else if !delimited && (name == "true" || name == "false") {
                    ExprKind::Literal(Literal::Boolean(name == "true"))
                } else if !delimited && is_reserved(&name) {
                    return Err(self.error_at(self.i - 1, "an expression"));
                } else {
                    ExprKind::Identifier(name)
                }
            }
            _ => return Err(self.error_at(self.i - 1, "an expression")),
        };
        self.node(kind, pos)
    }

    fn number_or_quantity(&mut self, text: String, long: bool) -> ExprKind {
        if long {
            return ExprKind::Literal(Literal::Number { text, long });
        }
        match &self.peek().tok {
            Tok::Str(unit) => {
                let unit = unit.clone();
                self.advance();
                ExprKind::Literal(Literal::Quantity {
                    value: text,
                    unit,
                    calendar: false,
                })
            }
            Tok::Ident {
                name,
                delimited: false,
            } if CALENDAR_UNITS.contains(&name.as_str()) => {
                let unit = name.clone();
                self.advance();
                ExprKind::Literal(Literal::Quantity {
                    value: text,
                    unit,
                    calendar: true,
                })
            }
            _ => ExprKind::Literal(Literal::Number { text, long }),
        }
    }
}

/// Operator keywords that cannot start a term (they may still follow a `.`).
fn is_reserved(name: &str) -> bool {
    matches!(
        name,
        "and" | "or" | "xor" | "implies" | "div" | "mod" | "is" | "as"
    )
}
