//! Terminology for token `:in`, `:not-in`, `:above` and `:below`, answered from the ValueSet and
//! CodeSystem resources stored in this server (there is no external terminology service).
//!
//! Before a search is compiled, [`resolve`] reads every such filter value through the
//! [`QueryRunner`] (so it also sees what a transaction already wrote) and turns it into a set of
//! `(system, code)` pairs ([`Expansions`]); compilation then writes that set as token IN-lists
//! over the token index. A value that cannot be resolved (unknown ValueSet, unsupported filter,
//! no stored CodeSystem) is kept as an error and reported, naming the parameter, only if a token
//! parameter actually uses it (uri `:above`/`:below` never look here).
//!
//! What a ValueSet means here: its `expansion.contains` (nested entries included) when present;
//! otherwise `compose.include` (explicit `concept`s, a whole stored CodeSystem, or the `is-a` /
//! `descendent-of` filters over a stored CodeSystem's hierarchy) minus `compose.exclude`.
//! Hierarchies come from nested `concept`s and the `subsumedBy` / `parent` / `child` properties.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::Value;
use vigil_store::{SqlDialect, SqlValue, StoredVersion};

use crate::error::{SearchError, SearchErrorKind};
use crate::query::value::{split_unescaped, unescape};
use crate::runner::QueryRunner;

/// A `(system, code)` pair; the system is absent only for expansion entries written without one.
pub type Coding = (Option<String>, String);

/// The modifiers answered from stored terminology.
pub const MODIFIERS: [&str; 4] = ["in", "not-in", "above", "below"];

/// Why a value could not be resolved: the error kind and a message (the parameter is added by
/// the compiler, which knows how the client wrote it).
type Failure = (SearchErrorKind, String);

/// The resolved sets of one search, by (modifier, value as written).
#[derive(Debug, Clone, Default)]
pub struct Expansions {
    sets: HashMap<(String, String), Result<BTreeSet<Coding>, Failure>>,
}

impl Expansions {
    /// The codes of `raw` under `modifier`, or the client error (naming `written`) explaining why
    /// there are none; `None` when the value was not resolved beforehand.
    pub fn get(
        &self,
        written: &str,
        modifier: &str,
        raw: &str,
    ) -> Option<Result<&BTreeSet<Coding>, SearchError>> {
        let entry = self.sets.get(&(modifier.to_owned(), raw.to_owned()))?;
        Some(
            entry
                .as_ref()
                .map_err(|(kind, message)| SearchError::new(kind.clone(), Some(written), message)),
        )
    }
}

/// Resolves every `:in`/`:not-in`/`:above`/`:below` value among `filters`.
pub fn resolve(
    runner: &mut dyn QueryRunner,
    dialect: &dyn SqlDialect,
    filters: &[(String, String)],
) -> Result<Expansions, SearchError> {
    let mut expansions = Expansions::default();
    for (name, value) in filters {
        let last = name.rsplit('.').next().unwrap_or(name);
        let Some((_, modifier)) = last.rsplit_once(':') else {
            continue;
        };
        if !MODIFIERS.contains(&modifier) {
            continue;
        }
        for raw in split_unescaped(value, ',') {
            if raw.is_empty() {
                continue;
            }
            let key = (modifier.to_owned(), raw.to_owned());
            if expansions.sets.contains_key(&key) {
                continue;
            }
            let mut lookup = Lookup {
                runner,
                columns: dialect.resource_columns(),
            };
            let set = match modifier {
                "in" | "not-in" => lookup.value_set(&unescape(raw), 0)?,
                _ => lookup.subsumption(raw, modifier == "below")?,
            };
            expansions.sets.insert(key, set);
        }
    }
    Ok(expansions)
}

/// Deepest chain of ValueSets importing ValueSets.
const MAX_IMPORT_DEPTH: usize = 8;

struct Lookup<'a> {
    runner: &'a mut dyn QueryRunner,
    /// The backend's current-row columns.
    columns: &'a str,
}

fn client(kind: SearchErrorKind, message: String) -> Result<BTreeSet<Coding>, Failure> {
    Err((kind, message))
}

impl Lookup<'_> {
    /// The current resource of `resource_type` whose `url` is `url` (the first, by id).
    fn by_url(&mut self, resource_type: &str, url: &str) -> Result<Option<Value>, SearchError> {
        let sql = format!(
            "SELECT {} FROM resource r WHERE r.deleted = 0 AND r.type = $1 AND r.rid IN \
             (SELECT i.rid FROM idx_uri i WHERE i.param = 'url' AND i.type = $2 AND i.uri = $3) \
             ORDER BY r.id LIMIT 1",
            self.columns
        );
        let params = [
            SqlValue::from(resource_type),
            SqlValue::from(resource_type),
            SqlValue::from(url),
        ];
        let rows = self.runner.resources(&sql, &params)?;
        rows.first().map(parse).transpose()
    }

    fn by_id(&mut self, resource_type: &str, id: &str) -> Result<Option<Value>, SearchError> {
        let sql = format!(
            "SELECT {} FROM resource r WHERE r.deleted = 0 AND r.type = $1 AND r.id = $2",
            self.columns
        );
        let params = [SqlValue::from(resource_type), SqlValue::from(id)];
        let rows = self.runner.resources(&sql, &params)?;
        rows.first().map(parse).transpose()
    }

    /// The codes of the ValueSet named by `reference` (canonical url, optionally `|version`, or
    /// `ValueSet/<id>`).
    fn value_set(
        &mut self,
        reference: &str,
        depth: usize,
    ) -> Result<Result<BTreeSet<Coding>, Failure>, SearchError> {
        if depth > MAX_IMPORT_DEPTH {
            return Ok(client(
                SearchErrorKind::Unsupported,
                format!(
                    "ValueSet '{reference}' imports ValueSets more than {MAX_IMPORT_DEPTH} deep"
                ),
            ));
        }
        let found = match reference.strip_prefix("ValueSet/") {
            Some(id) => self.by_id("ValueSet", id)?,
            None => {
                let url = reference.split('|').next().unwrap_or(reference);
                self.by_url("ValueSet", url)?
            }
        };
        let Some(value_set) = found else {
            return Ok(client(
                SearchErrorKind::MalformedValue,
                format!("ValueSet '{reference}' is not known to this server"),
            ));
        };
        if let Some(contains) = value_set
            .pointer("/expansion/contains")
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
        {
            let mut set = BTreeSet::new();
            collect_contains(contains, &mut set);
            return Ok(Ok(set));
        }
        let Some(compose) = value_set.get("compose") else {
            return Ok(client(
                SearchErrorKind::Unsupported,
                format!("ValueSet '{reference}' has neither an expansion nor a compose"),
            ));
        };
        let mut set = BTreeSet::new();
        for include in array(compose, "include") {
            match self.component(reference, include, depth)? {
                Ok(codes) => set.extend(codes),
                Err(failure) => return Ok(Err(failure)),
            }
        }
        for exclude in array(compose, "exclude") {
            match self.component(reference, exclude, depth)? {
                Ok(codes) => set.retain(|coding| !codes.contains(coding)),
                Err(failure) => return Ok(Err(failure)),
            }
        }
        Ok(Ok(set))
    }

    /// The codes of one `compose.include` or `compose.exclude` entry.
    fn component(
        &mut self,
        reference: &str,
        component: &Value,
        depth: usize,
    ) -> Result<Result<BTreeSet<Coding>, Failure>, SearchError> {
        let system = component.get("system").and_then(Value::as_str);
        // Imported ValueSets intersect with each other and with the system part.
        let mut result: Option<BTreeSet<Coding>> = None;
        for import in array(component, "valueSet")
            .iter()
            .filter_map(Value::as_str)
        {
            match self.value_set(import, depth + 1)? {
                Ok(codes) => result = Some(intersect(result, codes)),
                Err(failure) => return Ok(Err(failure)),
            }
        }
        let Some(system) = system else {
            return Ok(match result {
                Some(codes) => Ok(codes),
                None => client(
                    SearchErrorKind::Unsupported,
                    format!(
                        "ValueSet '{reference}' has a compose entry with no system or valueSet"
                    ),
                ),
            });
        };
        let concepts = array(component, "concept");
        let filters = array(component, "filter");
        let codes: BTreeSet<Coding> = if !concepts.is_empty() {
            concepts
                .iter()
                .filter_map(|c| c.get("code").and_then(Value::as_str))
                .map(|code| (Some(system.to_owned()), code.to_owned()))
                .collect()
        } else {
            let Some(hierarchy) = self.hierarchy(system)? else {
                return Ok(client(
                    SearchErrorKind::Unsupported,
                    format!(
                        "ValueSet '{reference}' includes system '{system}', whose CodeSystem \
                         (with its concepts) is not stored in this server"
                    ),
                ));
            };
            let mut selected: Option<BTreeSet<String>> = None;
            for filter in filters {
                let text = |key: &str| filter.get(key).and_then(Value::as_str).unwrap_or("");
                let (property, op, value) = (text("property"), text("op"), text("value"));
                let codes = match (property, op) {
                    ("concept", "is-a") => hierarchy.closure(value, Direction::Down, true),
                    ("concept", "descendent-of") => {
                        hierarchy.closure(value, Direction::Down, false)
                    }
                    _ => {
                        return Ok(client(
                            SearchErrorKind::Unsupported,
                            format!(
                                "ValueSet '{reference}' uses a filter this server cannot expand \
                                 ({property} {op} {value})"
                            ),
                        ));
                    }
                };
                selected = Some(match selected {
                    Some(before) => before.intersection(&codes).cloned().collect(),
                    None => codes,
                });
            }
            selected
                .unwrap_or_else(|| hierarchy.codes.iter().cloned().collect())
                .into_iter()
                .map(|code| (Some(system.to_owned()), code))
                .collect()
        };
        Ok(Ok(intersect(result, codes)))
    }

    /// `system|code` and its descendants (`below`) or ancestors (`above`).
    fn subsumption(
        &mut self,
        raw: &str,
        below: bool,
    ) -> Result<Result<BTreeSet<Coding>, Failure>, SearchError> {
        let parts = split_unescaped(raw, '|');
        let [system, code] = parts.as_slice() else {
            return Ok(client(
                SearchErrorKind::MalformedValue,
                format!("'{raw}' is not system|code"),
            ));
        };
        let (system, code) = (unescape(system), unescape(code));
        if system.is_empty() || code.is_empty() {
            return Ok(client(
                SearchErrorKind::MalformedValue,
                format!("'{raw}' is not system|code"),
            ));
        }
        let Some(hierarchy) = self.hierarchy(&system)? else {
            return Ok(client(
                SearchErrorKind::Unsupported,
                format!("no CodeSystem '{system}' with concepts is stored in this server"),
            ));
        };
        if !hierarchy.codes.contains(&code) {
            return Ok(client(
                SearchErrorKind::MalformedValue,
                format!("code '{code}' is not in CodeSystem '{system}'"),
            ));
        }
        let direction = if below {
            Direction::Down
        } else {
            Direction::Up
        };
        Ok(Ok(hierarchy
            .closure(&code, direction, true)
            .into_iter()
            .map(|c| (Some(system.clone()), c))
            .collect()))
    }

    /// The concept hierarchy of the stored CodeSystem `system` (none when absent or empty).
    fn hierarchy(&mut self, system: &str) -> Result<Option<Hierarchy>, SearchError> {
        let Some(code_system) = self.by_url("CodeSystem", system)? else {
            return Ok(None);
        };
        let hierarchy = Hierarchy::of(&code_system);
        Ok((!hierarchy.codes.is_empty()).then_some(hierarchy))
    }
}

fn parse(row: &StoredVersion) -> Result<Value, SearchError> {
    serde_json::from_str(&row.content).map_err(|error| {
        SearchError::internal(
            SearchErrorKind::Store,
            format!(
                "stored content of {}/{}: {error}",
                row.resource_type, row.id
            ),
        )
    })
}

fn array<'v>(value: &'v Value, key: &str) -> &'v [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn intersect(before: Option<BTreeSet<Coding>>, codes: BTreeSet<Coding>) -> BTreeSet<Coding> {
    match before {
        Some(before) => before.intersection(&codes).cloned().collect(),
        None => codes,
    }
}

fn collect_contains(contains: &[Value], set: &mut BTreeSet<Coding>) {
    for entry in contains {
        if let Some(code) = entry.get("code").and_then(Value::as_str) {
            let system = entry.get("system").and_then(Value::as_str);
            set.insert((system.map(str::to_owned), code.to_owned()));
        }
        collect_contains(array(entry, "contains"), set);
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Up,
    Down,
}

/// A CodeSystem's concepts and their is-a edges.
#[derive(Debug, Default)]
struct Hierarchy {
    codes: BTreeSet<String>,
    children: HashMap<String, Vec<String>>,
    parents: HashMap<String, Vec<String>>,
}

impl Hierarchy {
    fn of(code_system: &Value) -> Hierarchy {
        let mut hierarchy = Hierarchy::default();
        hierarchy.add(array(code_system, "concept"), None);
        hierarchy
    }

    fn add(&mut self, concepts: &[Value], parent: Option<&str>) {
        for concept in concepts {
            let Some(code) = concept.get("code").and_then(Value::as_str) else {
                continue;
            };
            self.codes.insert(code.to_owned());
            if let Some(parent) = parent {
                self.edge(parent, code);
            }
            for property in array(concept, "property") {
                let value = property.get("valueCode").and_then(Value::as_str);
                match (property.get("code").and_then(Value::as_str), value) {
                    (Some("subsumedBy" | "parent"), Some(parent)) => self.edge(parent, code),
                    (Some("child"), Some(child)) => self.edge(code, child),
                    _ => {}
                }
            }
            self.add(array(concept, "concept"), Some(code));
        }
    }

    fn edge(&mut self, parent: &str, child: &str) {
        self.children
            .entry(parent.to_owned())
            .or_default()
            .push(child.to_owned());
        self.parents
            .entry(child.to_owned())
            .or_default()
            .push(parent.to_owned());
    }

    /// The codes reachable from `start` (cycle-safe), with `start` itself when `inclusive`.
    fn closure(&self, start: &str, direction: Direction, inclusive: bool) -> BTreeSet<String> {
        let edges = match direction {
            Direction::Up => &self.parents,
            Direction::Down => &self.children,
        };
        let mut seen: HashSet<&str> = HashSet::new();
        let mut pending = vec![start];
        let mut out = BTreeSet::new();
        while let Some(code) = pending.pop() {
            for next in edges.get(code).map_or(&[][..], Vec::as_slice) {
                if seen.insert(next) {
                    out.insert(next.clone());
                    pending.push(next);
                }
            }
        }
        // Without `inclusive`, `start` is still in the set when a cycle leads back to it.
        if inclusive {
            out.insert(start.to_owned());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hierarchy_from_nesting_and_properties_is_cycle_safe() {
        let code_system = json!({"concept": [
            {"code": "a", "concept": [{"code": "b", "concept": [{"code": "c"}]}]},
            {"code": "d", "property": [{"code": "subsumedBy", "valueCode": "b"}]},
            {"code": "x", "property": [{"code": "parent", "valueCode": "y"}]},
            {"code": "y", "property": [{"code": "parent", "valueCode": "x"}]}
        ]});
        let hierarchy = Hierarchy::of(&code_system);
        let down = hierarchy.closure("a", Direction::Down, true);
        assert_eq!(down, ["a", "b", "c", "d"].map(String::from).into());
        let strict = hierarchy.closure("a", Direction::Down, false);
        assert_eq!(strict, ["b", "c", "d"].map(String::from).into());
        let up = hierarchy.closure("d", Direction::Up, true);
        assert_eq!(up, ["a", "b", "d"].map(String::from).into());
        let cycle = hierarchy.closure("x", Direction::Down, true);
        assert_eq!(cycle, ["x", "y"].map(String::from).into());
    }
}
