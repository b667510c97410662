//! The function library: [`Func`] names every function the compiler accepts with its arity,
//! and `call` dispatches to one module per group of the specification.

mod combining;
mod conversion;
mod existence;
mod fhir;
mod math;
mod strings;
mod subsetting;
mod temporal_fns;
mod types;
mod utility;

pub(crate) use types::{as_type, is_type, known_type};

use crate::compile::Node;
use crate::error::EvalResult;
use crate::eval::{Evaluator, Frame};
use crate::value::{Collection, Item};

macro_rules! functions {
    ($($variant:ident = $name:literal, $min:literal, $max:literal;)*) => {
        /// Every function the compiler knows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Func { $(
            #[doc = concat!("`", $name, "()`")]
            $variant,
        )* }

        impl Func {
            /// Looks a function up by name: the function and its arity range.
            pub(crate) fn lookup(name: &str) -> Option<(Func, usize, usize)> {
                match name {
                    $($name => Some((Func::$variant, $min, $max)),)*
                    _ => None,
                }
            }

            /// The function's FHIRPath name.
            pub fn name(self) -> &'static str {
                match self { $(Func::$variant => $name,)* }
            }
        }
    };
}

functions! {
    Empty = "empty", 0, 0;
    Exists = "exists", 0, 1;
    All = "all", 1, 1;
    AllTrue = "allTrue", 0, 0;
    AnyTrue = "anyTrue", 0, 0;
    AllFalse = "allFalse", 0, 0;
    AnyFalse = "anyFalse", 0, 0;
    SubsetOf = "subsetOf", 1, 1;
    SupersetOf = "supersetOf", 1, 1;
    Count = "count", 0, 0;
    Distinct = "distinct", 0, 0;
    IsDistinct = "isDistinct", 0, 0;
    Where = "where", 1, 1;
    Select = "select", 1, 1;
    Repeat = "repeat", 1, 1;
    RepeatAll = "repeatAll", 1, 1;
    OfType = "ofType", 1, 1;
    Single = "single", 0, 0;
    First = "first", 0, 0;
    Last = "last", 0, 0;
    Tail = "tail", 0, 0;
    Skip = "skip", 1, 1;
    Take = "take", 1, 1;
    Intersect = "intersect", 1, 1;
    Exclude = "exclude", 1, 1;
    Union = "union", 1, 1;
    Combine = "combine", 1, 1;
    Iif = "iif", 2, 3;
    ToBoolean = "toBoolean", 0, 0;
    ConvertsToBoolean = "convertsToBoolean", 0, 0;
    ToInteger = "toInteger", 0, 0;
    ConvertsToInteger = "convertsToInteger", 0, 0;
    ToLong = "toLong", 0, 0;
    ConvertsToLong = "convertsToLong", 0, 0;
    ToDate = "toDate", 0, 0;
    ConvertsToDate = "convertsToDate", 0, 0;
    ToDateTime = "toDateTime", 0, 0;
    ConvertsToDateTime = "convertsToDateTime", 0, 0;
    ToDecimal = "toDecimal", 0, 0;
    ConvertsToDecimal = "convertsToDecimal", 0, 0;
    ToQuantity = "toQuantity", 0, 1;
    ConvertsToQuantity = "convertsToQuantity", 0, 1;
    ToString = "toString", 0, 0;
    ConvertsToString = "convertsToString", 0, 0;
    ToTime = "toTime", 0, 0;
    ConvertsToTime = "convertsToTime", 0, 0;
    IndexOf = "indexOf", 1, 1;
    LastIndexOf = "lastIndexOf", 1, 1;
    Substring = "substring", 1, 2;
    StartsWith = "startsWith", 1, 1;
    EndsWith = "endsWith", 1, 1;
    Contains = "contains", 1, 1;
    Upper = "upper", 0, 0;
    Lower = "lower", 0, 0;
    Replace = "replace", 2, 2;
    Matches = "matches", 1, 2;
    MatchesFull = "matchesFull", 1, 2;
    ReplaceMatches = "replaceMatches", 2, 3;
    Length = "length", 0, 0;
    ToChars = "toChars", 0, 0;
    Trim = "trim", 0, 0;
    Split = "split", 1, 1;
    Join = "join", 0, 1;
    Encode = "encode", 1, 1;
    Decode = "decode", 1, 1;
    Escape = "escape", 1, 1;
    Unescape = "unescape", 1, 1;
    Abs = "abs", 0, 0;
    Ceiling = "ceiling", 0, 0;
    Exp = "exp", 0, 0;
    Floor = "floor", 0, 0;
    Ln = "ln", 0, 0;
    Log = "log", 1, 1;
    Power = "power", 1, 1;
    Round = "round", 0, 1;
    Sqrt = "sqrt", 0, 0;
    Truncate = "truncate", 0, 0;
    Children = "children", 0, 0;
    Descendants = "descendants", 0, 0;
    Trace = "trace", 1, 2;
    Now = "now", 0, 0;
    Today = "today", 0, 0;
    TimeOfDay = "timeOfDay", 0, 0;
    Aggregate = "aggregate", 1, 2;
    Is = "is", 1, 1;
    As = "as", 1, 1;
    Type = "type", 0, 0;
    Not = "not", 0, 0;
    Sort = "sort", 0, 9;
    LowBoundary = "lowBoundary", 0, 1;
    HighBoundary = "highBoundary", 0, 1;
    Precision = "precision", 0, 0;
    Comparable = "comparable", 1, 1;
    Extension = "extension", 1, 1;
    HasValue = "hasValue", 0, 0;
    GetValue = "getValue", 0, 0;
    Resolve = "resolve", 0, 0;
    MemberOf = "memberOf", 1, 1;
    Subsumes = "subsumes", 1, 1;
    SubsumedBy = "subsumedBy", 1, 1;
    HtmlChecks = "htmlChecks", 0, 0;
    ConformsTo = "conformsTo", 1, 1;
}

/// Evaluates a function call over its input collection.
pub(crate) fn call<'a>(
    ev: &Evaluator<'a>,
    func: Func,
    input: Collection<'a>,
    args: &'a [Node],
    outer: &[Item<'a>],
    frame: &Frame<'a, '_>,
    node: &'a Node,
) -> EvalResult<Collection<'a>> {
    use Func as F;
    let cx = Call {
        ev,
        args,
        outer,
        frame,
        node,
    };
    match func {
        F::Empty
        | F::Exists
        | F::All
        | F::AllTrue
        | F::AnyTrue
        | F::AllFalse
        | F::AnyFalse
        | F::SubsetOf
        | F::SupersetOf
        | F::Count
        | F::Distinct
        | F::IsDistinct
        | F::Not => existence::call(&cx, func, input),
        F::Where | F::Select | F::Repeat | F::RepeatAll | F::Aggregate | F::Sort => {
            utility::lambda(&cx, func, input)
        }
        F::Single
        | F::First
        | F::Last
        | F::Tail
        | F::Skip
        | F::Take
        | F::Intersect
        | F::Exclude => subsetting::call(&cx, func, input),
        F::Union | F::Combine | F::Iif | F::Children | F::Descendants => {
            combining::call(&cx, func, input)
        }
        F::ToBoolean
        | F::ConvertsToBoolean
        | F::ToInteger
        | F::ConvertsToInteger
        | F::ToLong
        | F::ConvertsToLong
        | F::ToDate
        | F::ConvertsToDate
        | F::ToDateTime
        | F::ConvertsToDateTime
        | F::ToDecimal
        | F::ConvertsToDecimal
        | F::ToQuantity
        | F::ConvertsToQuantity
        | F::ToString
        | F::ConvertsToString
        | F::ToTime
        | F::ConvertsToTime => conversion::call(&cx, func, input),
        F::IndexOf
        | F::LastIndexOf
        | F::Substring
        | F::StartsWith
        | F::EndsWith
        | F::Contains
        | F::Upper
        | F::Lower
        | F::Replace
        | F::Matches
        | F::MatchesFull
        | F::ReplaceMatches
        | F::Length
        | F::ToChars
        | F::Trim
        | F::Split
        | F::Join
        | F::Encode
        | F::Decode
        | F::Escape
        | F::Unescape => strings::call(&cx, func, input),
        F::Abs
        | F::Ceiling
        | F::Exp
        | F::Floor
        | F::Ln
        | F::Log
        | F::Power
        | F::Round
        | F::Sqrt
        | F::Truncate => math::call(&cx, func, input),
        F::Trace | F::Now | F::Today | F::TimeOfDay => utility::call(&cx, func, input),
        F::LowBoundary | F::HighBoundary | F::Precision | F::Comparable => {
            temporal_fns::call(&cx, func, input)
        }
        F::Type | F::Is | F::As | F::OfType => types::call(&cx, func, input),
        F::Extension
        | F::HasValue
        | F::GetValue
        | F::Resolve
        | F::MemberOf
        | F::Subsumes
        | F::SubsumedBy
        | F::HtmlChecks
        | F::ConformsTo => fhir::call(&cx, func, input),
    }
}

/// What a function implementation gets besides its input.
pub(crate) struct Call<'e, 'a, 'f> {
    pub ev: &'e Evaluator<'a>,
    pub args: &'a [Node],
    /// Focus of the enclosing expression: non-lambda arguments are evaluated against it.
    pub outer: &'e [Item<'a>],
    pub frame: &'e Frame<'a, 'f>,
    pub node: &'a Node,
}

impl<'a> Call<'_, 'a, '_> {
    /// Evaluates argument `i` against the enclosing focus.
    pub fn arg(&self, i: usize) -> EvalResult<Collection<'a>> {
        match self.args.get(i) {
            Some(a) => self.ev.eval(a, self.outer, self.frame),
            None => Ok(Vec::new()),
        }
    }

    /// Evaluates argument `i` and requires at most one item, converted to its System value.
    pub fn arg_single(&self, i: usize) -> EvalResult<Option<Item<'a>>> {
        let v = self.arg(i)?;
        self.ev.singleton(v, self.node.pos)
    }

    /// Argument `i` as a string (`None` when empty).
    pub fn arg_str(&self, i: usize) -> EvalResult<Option<crate::value::Text<'a>>> {
        match self.arg_single(i)? {
            None => Ok(None),
            Some(Item::String(s)) => Ok(Some(s)),
            Some(other) => Err(self
                .ev
                .type_error(self.node.pos, "a string argument", &other)),
        }
    }

    /// Argument `i` as an integer (`None` when empty).
    pub fn arg_int(&self, i: usize) -> EvalResult<Option<i64>> {
        match self.arg_single(i)? {
            None => Ok(None),
            Some(Item::Integer(n)) => Ok(Some(n)),
            Some(other) => Err(self
                .ev
                .type_error(self.node.pos, "an integer argument", &other)),
        }
    }
}

impl Call<'_, '_, '_> {
    /// Whether the call was written with an explicit input (`x.f()` rather than `f()`).
    pub fn node_has_target(&self) -> bool {
        matches!(&self.node.op, crate::compile::Op::Call(Some(_), _, _))
    }
}
