//! The items a FHIRPath collection holds: System values (Boolean, Integer, Decimal, String,
//! Date/DateTime/Time, Quantity) and FHIR nodes borrowed from the input JSON, which keep their
//! FHIR type when known and the `_element` sibling of primitives (for `extension()` / `id`).

use crate::temporal::{Temporal, TemporalKind};
use rust_decimal::Decimal;
use serde_json::Value;
use std::fmt;
use std::ops::Deref;
use std::rc::Rc;
use std::str::FromStr;

/// A string either borrowed from the input/program or owned and cheaply shared.
#[derive(Clone)]
pub enum Text<'a> {
    /// Borrowed from the JSON input or the compiled program.
    Borrowed(&'a str),
    /// Computed during evaluation.
    Shared(Rc<str>),
}

impl Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Text::Borrowed(s) => s,
            Text::Shared(s) => s,
        }
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq for Text<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Text<'_> {}

impl PartialOrd for Text<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

impl From<String> for Text<'_> {
    fn from(s: String) -> Self {
        Text::Shared(Rc::from(s))
    }
}

/// A quantity: exact decimal value and a UCUM unit or calendar keyword.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity<'a> {
    /// The value.
    pub value: Decimal,
    /// UCUM unit code, or a calendar keyword (`day`, `weeks`).
    pub unit: Text<'a>,
}

impl Quantity<'_> {
    /// Whether the unit is a calendar keyword (printed without quotes).
    pub fn is_calendar(&self) -> bool {
        crate::ucum::calendar_to_ucum(&self.unit).is_some()
    }
}

/// A FHIR element or resource inside the input JSON.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    /// The JSON value (`None` for a primitive that only has an `_element` sibling).
    pub value: Option<&'a Value>,
    /// The `_element` sibling of a primitive (id and extensions).
    pub ext: Option<&'a Value>,
    /// FHIR type when known (`string`, `HumanName`, `Patient.contact`, `Patient`).
    pub ty: Option<&'a str>,
}

/// One item of a FHIRPath collection.
#[derive(Debug, Clone)]
pub enum Item<'a> {
    /// System.Boolean
    Boolean(bool),
    /// System.Integer (and Long)
    Integer(i64),
    /// System.Decimal (exact)
    Decimal(Decimal),
    /// System.String
    String(Text<'a>),
    /// System.Date, System.DateTime or System.Time
    Temporal(Temporal),
    /// System.Quantity
    Quantity(Quantity<'a>),
    /// A FHIR node from the input.
    Node(Node<'a>),
}

/// A FHIRPath collection.
pub type Collection<'a> = Vec<Item<'a>>;

/// Parses a JSON number's written text as Integer or Decimal.
pub(crate) fn number_item<'a>(n: &serde_json::Number) -> Option<Item<'a>> {
    let s = n.to_string();
    if !s.contains(['.', 'e', 'E'])
        && let Ok(i) = s.parse::<i64>()
    {
        return Some(Item::Integer(i));
    }
    Decimal::from_str(&s)
        .or_else(|_| Decimal::from_scientific(&s))
        .ok()
        .map(Item::Decimal)
}

const QUANTITY_TYPES: [&str; 7] = [
    "Quantity",
    "Age",
    "Count",
    "Distance",
    "Duration",
    "MoneyQuantity",
    "SimpleQuantity",
];

impl<'a> Node<'a> {
    /// A resource or untyped object node.
    pub fn root(value: &'a Value) -> Self {
        let ty = value.get("resourceType").and_then(Value::as_str);
        Node {
            value: Some(value),
            ext: None,
            ty,
        }
    }

    /// The resource type if this node is a resource.
    pub fn resource_type(&self) -> Option<&'a str> {
        self.value?.get("resourceType")?.as_str()
    }

    /// The System value of a primitive node (by FHIR type when known, else by JSON kind).
    pub fn primitive(&self) -> Option<Item<'a>> {
        let v = self.value?;
        match (v, self.ty) {
            (Value::String(s), Some("date")) => Temporal::parse_date(s).map(Item::Temporal),
            (Value::String(s), Some("dateTime" | "instant")) => {
                Temporal::parse_datetime(s).map(Item::Temporal)
            }
            (Value::String(s), Some("time")) => Temporal::parse_time(s).map(Item::Temporal),
            (Value::String(s), Some("decimal")) => Decimal::from_str(s).ok().map(Item::Decimal),
            (Value::String(s), Some("integer" | "positiveInt" | "unsignedInt")) => {
                s.parse().ok().map(Item::Integer)
            }
            (Value::String(s), _) => Some(Item::String(Text::Borrowed(s))),
            (Value::Bool(b), _) => Some(Item::Boolean(*b)),
            (Value::Number(n), Some("decimal")) => {
                Decimal::from_str(&n.to_string()).ok().map(Item::Decimal)
            }
            (Value::Number(n), _) => number_item(n),
            _ => None,
        }
    }

    /// Whether the node is a FHIR Quantity (or untyped object that looks like one).
    pub fn quantity(&self) -> Option<Quantity<'a>> {
        let obj = self.value?.as_object()?;
        match self.ty {
            Some(t) if QUANTITY_TYPES.contains(&t) => {}
            Some(_) => return None,
            None if obj.contains_key("resourceType") => return None,
            None => {}
        }
        let value = match obj.get("value")? {
            Value::Number(n) => Decimal::from_str(&n.to_string()).ok()?,
            Value::String(s) => Decimal::from_str(s).ok()?,
            _ => return None,
        };
        let ucum = obj.get("system").and_then(Value::as_str) == Some("http://unitsofmeasure.org");
        let unit = match (obj.get("code").and_then(Value::as_str), obj.get("unit")) {
            (Some(code), _) if ucum => code,
            (_, Some(Value::String(u))) => u,
            (Some(code), None) => code,
            _ => "1",
        };
        Some(Quantity {
            value,
            unit: Text::Borrowed(unit),
        })
    }
}

impl<'a> Item<'a> {
    /// The System value this item stands for: primitives become System values, FHIR Quantities
    /// become System.Quantity, other nodes stay nodes.
    pub fn system(&self) -> Option<Item<'a>> {
        match self {
            Item::Node(n) => match n.value {
                Some(Value::Object(_)) => n.quantity().map(Item::Quantity).or(Some(self.clone())),
                Some(_) => n.primitive(),
                None => None,
            },
            other => Some(other.clone()),
        }
    }

    /// The item as a string if it is a string (System or FHIR primitive).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Item::String(s) => Some(s),
            Item::Node(Node {
                value: Some(Value::String(s)),
                ..
            }) => Some(s),
            _ => None,
        }
    }

    /// System type name (`Boolean`, `Integer`, ...) or FHIR type for nodes.
    pub fn type_name(&self) -> (&'static str, String) {
        match self {
            Item::Boolean(_) => ("System", "Boolean".into()),
            Item::Integer(_) => ("System", "Integer".into()),
            Item::Decimal(_) => ("System", "Decimal".into()),
            Item::String(_) => ("System", "String".into()),
            Item::Quantity(_) => ("System", "Quantity".into()),
            Item::Temporal(t) => (
                "System",
                match t.kind {
                    TemporalKind::Date => "Date",
                    TemporalKind::DateTime => "DateTime",
                    TemporalKind::Time => "Time",
                }
                .into(),
            ),
            Item::Node(n) => match n.ty {
                Some(t) if t.contains('.') => ("FHIR", "BackboneElement".into()),
                Some(t) => ("FHIR", t.into()),
                None => match n.value {
                    Some(Value::Object(_)) => ("FHIR", "Element".into()),
                    _ => match n.primitive() {
                        Some(p) => p.type_name(),
                        None => ("FHIR", "Element".into()),
                    },
                },
            },
        }
    }
}
