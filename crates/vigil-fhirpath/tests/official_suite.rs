//! Runs the official FHIRPath R4 conformance suite (`tests-fhir-r4.xml`, read from the shared
//! corpora folder, never copied into the repository) and prints per-group failures and
//! `N passed, N failed`. Tests that are known not to pass are listed, with their reason, in
//! `KNOWN_FAILURES` (mirrored in docs/conformance.md): a newly failing test fails the build,
//! and so does a listed test that now passes (so the list stays honest).

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use vigil_fhirpath::{Context, Expression, Item, Temporal, TemporalKind, to_json};

/// Tests this engine does not pass, with the reason.
const KNOWN_FAILURES: &[(&str, &str)] = &[];

fn shared_dir() -> PathBuf {
    match std::env::var_os("VIGIL_SHARED") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
}

struct Case {
    group: String,
    name: String,
    input: Option<String>,
    expression: String,
    invalid: bool,
    predicate: bool,
    strict: bool,
    outputs: Vec<(Option<String>, String)>,
}

fn load_cases(xml: &str) -> Vec<Case> {
    let doc = roxmltree::Document::parse(xml).expect("suite XML parses");
    let mut cases = Vec::new();
    for group in doc.descendants().filter(|n| n.has_tag_name("group")) {
        let gname = group.attribute("name").unwrap_or("").to_owned();
        for test in group.children().filter(|n| n.has_tag_name("test")) {
            let expr = test
                .children()
                .find(|n| n.has_tag_name("expression"))
                .expect("expression");
            cases.push(Case {
                group: gname.clone(),
                name: test.attribute("name").unwrap_or("").to_owned(),
                input: test.attribute("inputfile").map(str::to_owned),
                expression: expr.text().unwrap_or("").to_owned(),
                invalid: expr.attribute("invalid").is_some(),
                predicate: test.attribute("predicate") == Some("true"),
                strict: test.attribute("mode") == Some("strict"),
                outputs: test
                    .children()
                    .filter(|n| n.has_tag_name("output"))
                    .map(|o| {
                        (
                            o.attribute("type").map(str::to_owned),
                            o.text().unwrap_or("").to_owned(),
                        )
                    })
                    .collect(),
            });
        }
    }
    cases
}

/// Renders an item the way the suite writes outputs.
fn render(item: &Item<'_>) -> String {
    let sys = item.system().unwrap_or_else(|| item.clone());
    match &sys {
        Item::Temporal(t) => t.to_literal(),
        Item::Quantity(q) => {
            if q.is_calendar() {
                format!("{} {}", q.value, &*q.unit)
            } else {
                format!("{} '{}'", q.value, &*q.unit)
            }
        }
        other => match vigil_fhirpath::item_to_json(other) {
            Value::String(s) => s,
            v => v.to_string(),
        },
    }
}

fn same(item: &Item<'_>, ty: Option<&str>, expected: &str) -> bool {
    let got = render(item);
    if got == expected {
        return true;
    }
    // Numbers compare by value ("1" vs "1.0"), dates by their temporal value.
    if let (Ok(a), Ok(b)) = (
        got.parse::<rust_decimal::Decimal>(),
        expected.parse::<rust_decimal::Decimal>(),
    ) {
        return a == b && ty != Some("string");
    }
    if let (Some(Item::Temporal(t)), Some(body)) = (item.system(), expected.strip_prefix('@'))
        && let Some(e) = Temporal::parse_literal(body.trim_end_matches('T'))
    {
        let same_kind = t.kind == e.kind
            || (t.kind == TemporalKind::DateTime && e.kind == TemporalKind::Date && ty.is_none());
        return same_kind && t.to_fhir_string() == e.to_fhir_string();
    }
    false
}

fn run_case(case: &Case, inputs: &BTreeMap<String, Value>) -> Result<(), String> {
    let compiled = Expression::compile(&case.expression);
    let expr = match compiled {
        Ok(e) => e,
        Err(e) if case.invalid => return Ok(()).map(|()| drop(e)),
        Err(e) => return Err(format!("compile error: {e}")),
    };
    let empty = Value::Null;
    let resource = match &case.input {
        Some(f) => inputs.get(f).ok_or_else(|| format!("missing input {f}"))?,
        None => &empty,
    };
    if case.strict
        && let Some(rt) = resource.get("resourceType").and_then(Value::as_str)
    {
        match expr.check(rt) {
            Err(_) if case.invalid => return Ok(()),
            Err(e) => return Err(format!("strict check: {e}")),
            Ok(()) => {}
        }
    }
    let ctx = if resource.is_null() {
        Context::empty()
    } else {
        Context::new(resource)
    };
    let result = match expr.evaluate(&ctx) {
        Ok(r) => r,
        Err(_) if case.invalid => return Ok(()),
        Err(e) => return Err(format!("evaluation error: {e}")),
    };
    // Three invalid tests also list outputs (the result of lenient engines): accept those.
    if case.invalid && case.outputs.is_empty() {
        return Err(format!("expected an error, got {}", to_json(&result)));
    }
    let result: Vec<Item<'_>> = if case.predicate {
        vec![Item::Boolean(!result.is_empty())]
    } else {
        result
    };
    let ok = result.len() == case.outputs.len()
        && result
            .iter()
            .zip(&case.outputs)
            .all(|(item, (ty, text))| same(item, ty.as_deref(), text));
    if ok {
        Ok(())
    } else {
        let want: Vec<&str> = case.outputs.iter().map(|(_, t)| t.as_str()).collect();
        let got: Vec<String> = result.iter().map(render).collect();
        Err(format!("expected {want:?}, got {got:?}"))
    }
}

#[test]
fn official_fhirpath_r4_suite() {
    let dir = shared_dir().join("conformance/fhirpath-r4");
    let suite = dir.join("tests-fhir-r4.xml");
    let Ok(xml) = std::fs::read_to_string(&suite) else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("FHIRPath suite missing at {} (CI=true)", suite.display());
        }
        println!("skipping: FHIRPath suite not found at {}", suite.display());
        return;
    };
    let cases = load_cases(&xml);
    let mut inputs = BTreeMap::new();
    for case in &cases {
        if let Some(f) = &case.input
            && !inputs.contains_key(f)
        {
            let base = f.rsplit_once('.').map_or(f.as_str(), |(b, _)| b);
            let text = std::fs::read_to_string(dir.join("input-json").join(format!("{base}.json")))
                .unwrap_or_else(|e| panic!("input {f}: {e}"));
            inputs.insert(
                f.clone(),
                serde_json::from_str::<Value>(&text).expect("input JSON"),
            );
        }
    }
    let mut failures: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    let mut passed = 0;
    for case in &cases {
        match run_case(case, &inputs) {
            Ok(()) => passed += 1,
            Err(why) => failures.entry(case.group.as_str()).or_default().push((
                case.name.clone(),
                format!("{} => {why}", case.expression.trim()),
            )),
        }
    }
    let failed: usize = failures.values().map(Vec::len).sum();
    for (group, list) in &failures {
        println!("group {group}: {} failed", list.len());
        for (name, why) in list {
            println!("  {name}: {why}");
        }
    }
    println!("{passed} passed, {failed} failed");
    let failing: Vec<&str> = failures
        .values()
        .flatten()
        .map(|(n, _)| n.as_str())
        .collect();
    let unexpected: Vec<&&str> = failing
        .iter()
        .filter(|n| !KNOWN_FAILURES.iter().any(|(k, _)| k == *n))
        .collect();
    let fixed: Vec<&str> = KNOWN_FAILURES
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| !failing.contains(k))
        .collect();
    assert!(
        unexpected.is_empty(),
        "tests failing that are not in KNOWN_FAILURES: {unexpected:?}"
    );
    assert!(
        fixed.is_empty(),
        "tests in KNOWN_FAILURES that now pass: {fixed:?}"
    );
}
