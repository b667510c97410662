//! Syntax tree produced by the parser, before names are resolved by the compiler.

use crate::error::Position;

/// Binary operators, in the spec's groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `div`
    IntDiv,
    /// `mod`
    Mod,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `&`
    Concat,
    /// `|`
    Union,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `~`
    Equiv,
    /// `!~`
    NotEquiv,
    /// `in`
    In,
    /// `contains`
    Contains,
    /// `and`
    And,
    /// `or`
    Or,
    /// `xor`
    Xor,
    /// `implies`
    Implies,
}

/// Literal values as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `true` / `false`
    Boolean(bool),
    /// String literal (unescaped).
    String(String),
    /// Number literal text; `long` for a `L` suffix.
    Number {
        /// Digits as written.
        text: String,
        /// Written with the `L` suffix.
        long: bool,
    },
    /// `@` literal text without the `@`.
    DateTime(String),
    /// Quantity: number text and unit (a UCUM string or a calendar keyword).
    Quantity {
        /// Number as written.
        value: String,
        /// Unit: UCUM code, or calendar word (`days`).
        unit: String,
        /// Whether the unit was a calendar keyword rather than a quoted UCUM unit.
        calendar: bool,
    },
}

/// An expression node with its source position.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What the node is.
    pub kind: ExprKind,
    /// Where it starts.
    pub pos: Position,
    /// Height of the tree below and including this node (bounded by the parser).
    pub depth: usize,
}

impl ExprKind {
    /// Height of a node with this kind: one more than its deepest child.
    pub fn depth(&self) -> usize {
        let child = match self {
            ExprKind::Member(t, _) | ExprKind::Unary(_, t) | ExprKind::TypeOp(_, t, _) => t.depth,
            ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => a.depth.max(b.depth),
            ExprKind::Call { target, args, .. } => {
                let t = target.as_ref().map_or(0, |t| t.depth);
                args.iter().map(|a| a.depth).fold(t, usize::max)
            }
            _ => 0,
        };
        child + 1
    }
}

/// Expression node kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A literal.
    Literal(Literal),
    /// `{}`
    Empty,
    /// An identifier: a member of the focus (or type name at the start of a path).
    Identifier(String),
    /// `target.member`
    Member(Box<Expr>, String),
    /// `[target.]name(args)`
    Call {
        /// Input of the function; `None` means the current focus.
        target: Option<Box<Expr>>,
        /// Function name.
        name: String,
        /// Arguments, unevaluated.
        args: Vec<Expr>,
    },
    /// `target[index]`
    Index(Box<Expr>, Box<Expr>),
    /// Unary `-` (true) or `+` (false).
    Unary(bool, Box<Expr>),
    /// Binary operation.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `expr is Type` (true) or `expr as Type` (false), with a qualified type name.
    TypeOp(bool, Box<Expr>, String),
    /// `$this`
    This,
    /// `$index`
    IndexVar,
    /// `$total`
    Total,
    /// `%name`
    External(String),
}
