//! The evaluation context: the resource (`%resource`, `%context`, the initial focus), the root
//! resource (`%rootResource`), caller-supplied variables, the type model, and the hooks through
//! which the caller resolves references, answers terminology questions and receives `trace()`.

use crate::model::TypeModel;
use crate::temporal::Temporal;
use crate::value::{Collection, Item, Node, Text};
use serde_json::Value;
use std::collections::HashMap;
use typed_arena::Arena;

/// Resolves a reference (`Patient/123`, an absolute URL) that is not inside the evaluated
/// Bundle or among contained resources. The store implements this later.
pub trait ResolveHook {
    /// The resource the reference points to, `Ok(None)` when unknown.
    fn resolve(&self, reference: &str) -> Result<Option<Value>, String>;
}

/// A code as terminology questions see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRef<'x> {
    /// Code system URI, when known.
    pub system: Option<&'x str>,
    /// The code.
    pub code: &'x str,
}

/// Answers terminology questions for `memberOf()`, `subsumes()` and `subsumedBy()`.
pub trait TerminologyHook {
    /// Whether any of `codes` (from one code, Coding or CodeableConcept) is in the value set;
    /// `Ok(None)` when the answer is unknown (the result is then empty).
    fn member_of(&self, codes: &[CodeRef<'_>], value_set: &str) -> Result<Option<bool>, String>;
    /// Whether `a` subsumes `b` in the code system (`Ok(None)` when unknown).
    fn subsumes(&self, _a: CodeRef<'_>, _b: CodeRef<'_>) -> Result<Option<bool>, String> {
        Ok(None)
    }
}

/// Receives `trace(name [, projection])` output.
pub trait TraceHook {
    /// One trace call: its name and the traced collection rendered as JSON.
    fn trace(&self, name: &str, values: &Value);
}

/// Everything an evaluation reads besides the expression.
pub struct Context<'a> {
    pub(crate) resource: Option<&'a Value>,
    pub(crate) root: Option<&'a Value>,
    pub(crate) focus: Option<Node<'a>>,
    pub(crate) vars: HashMap<String, Collection<'a>>,
    pub(crate) model: &'a dyn TypeModel,
    pub(crate) resolver: Option<&'a dyn ResolveHook>,
    pub(crate) terminology: Option<&'a dyn TerminologyHook>,
    pub(crate) tracer: Option<&'a dyn TraceHook>,
    pub(crate) now: Option<Temporal>,
    pub(crate) arena: Arena<Value>,
}

impl<'a> Context<'a> {
    /// A context without a resource: the focus is empty.
    pub fn empty() -> Self {
        Context {
            resource: None,
            root: None,
            focus: None,
            vars: HashMap::new(),
            model: crate::default_model(),
            resolver: None,
            terminology: None,
            tracer: None,
            now: None,
            arena: Arena::with_capacity(0),
        }
    }

    /// A context whose focus, `%resource`, `%context` and `%rootResource` are `resource`.
    /// Any JSON is accepted; objects without `resourceType` are evaluated untyped.
    pub fn new(resource: &'a Value) -> Self {
        let mut c = Self::empty();
        c.resource = Some(resource);
        c.root = Some(resource);
        c
    }

    /// Sets `%rootResource` (e.g. the Bundle or container of `%resource`).
    pub fn root_resource(mut self, root: &'a Value) -> Self {
        self.root = Some(root);
        self
    }

    /// Starts evaluation at an element of `%resource` with a known FHIR type
    /// (e.g. `Patient.contact`), instead of the resource itself.
    pub fn focus(mut self, element: &'a Value, fhir_type: Option<&'a str>) -> Self {
        self.focus = Some(Node {
            value: Some(element),
            ext: None,
            ty: fhir_type,
        });
        self
    }

    /// Defines `%name` as a JSON value (a resource, element or primitive).
    pub fn variable(mut self, name: &str, value: &'a Value) -> Self {
        let items = match value {
            Value::Null => Vec::new(),
            Value::Array(a) => a.iter().map(|v| Item::Node(Node::root(v))).collect(),
            v => vec![Item::Node(Node::root(v))],
        };
        self.vars.insert(name.to_owned(), items);
        self
    }

    /// Defines `%name` as a string.
    pub fn string_variable(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(
            name.to_owned(),
            vec![Item::String(Text::from(value.to_owned()))],
        );
        self
    }

    /// Defines `%name` as an arbitrary collection.
    pub fn collection_variable(mut self, name: &str, items: Collection<'a>) -> Self {
        self.vars.insert(name.to_owned(), items);
        self
    }

    /// Uses another type model (the default is the R4 schema model).
    pub fn model(mut self, model: &'a dyn TypeModel) -> Self {
        self.model = model;
        self
    }

    /// Sets the hook `resolve()` falls back to outside the Bundle / contained resources.
    pub fn resolver(mut self, hook: &'a dyn ResolveHook) -> Self {
        self.resolver = Some(hook);
        self
    }

    /// Sets the terminology hook used by `memberOf()`, `subsumes()`, `subsumedBy()`.
    pub fn terminology(mut self, hook: &'a dyn TerminologyHook) -> Self {
        self.terminology = Some(hook);
        self
    }

    /// Sets the receiver of `trace()` output (by default traces are dropped).
    pub fn tracer(mut self, hook: &'a dyn TraceHook) -> Self {
        self.tracer = Some(hook);
        self
    }

    /// Fixes `now()` / `today()` / `timeOfDay()` (by default the system clock, in UTC).
    pub fn now(mut self, now: Temporal) -> Self {
        self.now = Some(now);
        self
    }

    /// Keeps a JSON value alive for the evaluation (resolved resources).
    pub(crate) fn keep(&'a self, v: Value) -> &'a Value {
        self.arena.alloc(v)
    }
}
