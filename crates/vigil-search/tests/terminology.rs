//! Token `:in`, `:not-in`, `:below`, `:above` over terminology stored in the server: a
//! CodeSystem with a three-level hierarchy (plus one concept placed by `subsumedBy`), ValueSets
//! of every supported shape, and Observations/Conditions coded with them; one table of
//! (type, query, expected ids) and one of client errors.

mod common;

use serde_json::{Value, json};
use vigil_search::{SearchEngine, SearchErrorKind, SearchRequest, SearchScope};
use vigil_store::sqlite::SqliteStore;
use vigil_store::{NewVersion, ResourceStore, WriteMethod};

const CS: &str = "http://example.org/cs/findings";

fn fixtures() -> Vec<Value> {
    vec![
        // finding > {cardiac > {arrhythmia, murmur}, respiratory > {wheeze}}; tachy subsumedBy arrhythmia
        json!({"resourceType": "CodeSystem", "id": "findings", "url": CS, "status": "active", "content": "complete",
               "concept": [{"code": "finding", "concept": [
                   {"code": "cardiac", "concept": [{"code": "arrhythmia"}, {"code": "murmur"}]},
                   {"code": "respiratory", "concept": [{"code": "wheeze"}]}]},
                   {"code": "tachy", "property": [{"code": "subsumedBy", "valueCode": "arrhythmia"}]}]}),
        json!({"resourceType": "CodeSystem", "id": "notpresent", "url": "http://example.org/cs/empty",
               "status": "active", "content": "not-present"}),
        json!({"resourceType": "ValueSet", "id": "explicit", "url": "http://example.org/vs/explicit", "status": "active",
               "compose": {"include": [{"system": CS, "concept": [{"code": "murmur"}, {"code": "wheeze"}]},
                                        {"system": "http://loinc.org", "concept": [{"code": "8867-4"}]}]}}),
        json!({"resourceType": "ValueSet", "id": "whole", "url": "http://example.org/vs/whole", "status": "active",
               "compose": {"include": [{"system": CS}], "exclude": [{"system": CS, "concept": [{"code": "cardiac"}, {"code": "murmur"}]}]}}),
        json!({"resourceType": "ValueSet", "id": "isa", "url": "http://example.org/vs/isa", "status": "active",
               "compose": {"include": [{"system": CS, "filter": [{"property": "concept", "op": "is-a", "value": "cardiac"}]}]}}),
        json!({"resourceType": "ValueSet", "id": "desc", "url": "http://example.org/vs/desc", "status": "active",
               "compose": {"include": [{"system": CS, "filter": [{"property": "concept", "op": "descendent-of", "value": "cardiac"}]}]}}),
        json!({"resourceType": "ValueSet", "id": "expanded", "url": "http://example.org/vs/expanded", "status": "active",
               "compose": {"include": [{"system": CS, "concept": [{"code": "finding"}]}]},
               "expansion": {"timestamp": "2024-01-01T00:00:00Z", "contains": [
                   {"system": CS, "code": "respiratory", "contains": [{"system": CS, "code": "wheeze"}]},
                   {"system": "http://loinc.org", "code": "29463-7"}]}}),
        json!({"resourceType": "ValueSet", "id": "empty", "url": "http://example.org/vs/empty", "status": "active",
               "compose": {"include": [{"system": CS, "concept": [{"code": "not-used"}]}]}}),
        json!({"resourceType": "ValueSet", "id": "regex", "url": "http://example.org/vs/regex", "status": "active",
               "compose": {"include": [{"system": CS, "filter": [{"property": "code", "op": "regex", "value": "a.*"}]}]}}),
        json!({"resourceType": "ValueSet", "id": "nocs", "url": "http://example.org/vs/nocs", "status": "active",
               "compose": {"include": [{"system": "http://example.org/cs/unknown"}]}}),
        json!({"resourceType": "ValueSet", "id": "imports", "url": "http://example.org/vs/imports", "status": "active",
               "compose": {"include": [{"valueSet": ["http://example.org/vs/whole", "http://example.org/vs/isa"]}]}}),
        json!({"resourceType": "Observation", "id": "ob-murmur", "status": "final",
               "code": {"coding": [{"system": CS, "code": "murmur"}]}}),
        json!({"resourceType": "Observation", "id": "ob-arr", "status": "final",
               "code": {"coding": [{"system": CS, "code": "arrhythmia"}]}}),
        json!({"resourceType": "Observation", "id": "ob-tachy", "status": "final",
               "code": {"coding": [{"system": CS, "code": "tachy"}]}}),
        json!({"resourceType": "Observation", "id": "ob-wheeze", "status": "final",
               "code": {"coding": [{"system": CS, "code": "wheeze"}, {"system": "http://loinc.org", "code": "29463-7"}]}}),
        json!({"resourceType": "Observation", "id": "ob-hr", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}}),
        json!({"resourceType": "Observation", "id": "ob-other", "status": "final",
               "code": {"coding": [{"system": "http://other.org", "code": "murmur"}]}}),
        json!({"resourceType": "Observation", "id": "ob-none", "status": "final", "code": {"text": "no coding"}}),
        json!({"resourceType": "Condition", "id": "c-cardiac", "subject": {"reference": "Patient/p"},
               "code": {"coding": [{"system": CS, "code": "cardiac"}]}}),
        json!({"resourceType": "Condition", "id": "c-finding", "subject": {"reference": "Patient/p"},
               "code": {"coding": [{"system": CS, "code": "finding"}]}}),
        json!({"resourceType": "Condition", "id": "c-resp", "subject": {"reference": "Patient/p"},
               "code": {"coding": [{"system": CS, "code": "respiratory"}]}}),
    ]
}

fn setup() -> (tempfile::TempDir, SqliteStore, SearchEngine) {
    common::loaded(&fixtures())
}

use common::ids;

#[test]
fn in_not_in_below_above() {
    let (_dir, store, engine) = setup();
    let cases: &[(&str, &str, &[&str])] = &[
        // explicit concepts across two systems; the same code in another system does not match
        (
            "Observation",
            "code:in=http://example.org/vs/explicit",
            &["ob-hr", "ob-murmur", "ob-wheeze"],
        ),
        (
            "Observation",
            "code:in=ValueSet/explicit",
            &["ob-hr", "ob-murmur", "ob-wheeze"],
        ),
        (
            "Observation",
            "code:in=http://example.org/vs/explicit|1.0",
            &["ob-hr", "ob-murmur", "ob-wheeze"],
        ),
        // whole system minus excluded codes
        (
            "Observation",
            "code:in=http://example.org/vs/whole",
            &["ob-arr", "ob-tachy", "ob-wheeze"],
        ),
        (
            "Condition",
            "code:in=http://example.org/vs/whole",
            &["c-finding", "c-resp"],
        ),
        // is-a (with the subsumedBy child) and descendent-of
        (
            "Observation",
            "code:in=http://example.org/vs/isa",
            &["ob-arr", "ob-murmur", "ob-tachy"],
        ),
        (
            "Condition",
            "code:in=http://example.org/vs/isa",
            &["c-cardiac"],
        ),
        ("Condition", "code:in=http://example.org/vs/desc", &[]),
        // the expansion wins over the compose, nested contains included
        (
            "Observation",
            "code:in=http://example.org/vs/expanded",
            &["ob-wheeze"],
        ),
        (
            "Condition",
            "code:in=http://example.org/vs/expanded",
            &["c-resp"],
        ),
        ("Condition", "code:in=http://example.org/vs/empty", &[]),
        // imported ValueSets intersect
        (
            "Observation",
            "code:in=http://example.org/vs/imports",
            &["ob-arr", "ob-tachy"],
        ),
        // OR over several ValueSets
        (
            "Condition",
            "code:in=http://example.org/vs/isa,http://example.org/vs/expanded",
            &["c-cardiac", "c-resp"],
        ),
        // :not-in includes resources with no token at all, like :not
        (
            "Observation",
            "code:not-in=http://example.org/vs/explicit",
            &["ob-arr", "ob-none", "ob-other", "ob-tachy"],
        ),
        (
            "Observation",
            "code:not-in=http://example.org/vs/empty",
            &[
                "ob-arr",
                "ob-hr",
                "ob-murmur",
                "ob-none",
                "ob-other",
                "ob-tachy",
                "ob-wheeze",
            ],
        ),
        (
            "Condition",
            "code:not-in=http://example.org/vs/isa",
            &["c-finding", "c-resp"],
        ),
        // :below = the code and its descendants (nested concepts and subsumedBy)
        (
            "Observation",
            &format!("code:below={CS}|cardiac"),
            &["ob-arr", "ob-murmur", "ob-tachy"],
        ),
        (
            "Observation",
            &format!("code:below={CS}|arrhythmia"),
            &["ob-arr", "ob-tachy"],
        ),
        (
            "Condition",
            &format!("code:below={CS}|finding"),
            &["c-cardiac", "c-finding", "c-resp"],
        ),
        ("Condition", &format!("code:below={CS}|wheeze"), &[]),
        // :above = the code and its ancestors
        (
            "Condition",
            &format!("code:above={CS}|tachy"),
            &["c-cardiac", "c-finding"],
        ),
        (
            "Condition",
            &format!("code:above={CS}|wheeze"),
            &["c-finding", "c-resp"],
        ),
        (
            "Observation",
            &format!("code:above={CS}|tachy"),
            &["ob-arr", "ob-tachy"],
        ),
        // combined with other criteria
        (
            "Observation",
            "code:in=http://example.org/vs/isa&status=final",
            &["ob-arr", "ob-murmur", "ob-tachy"],
        ),
        // uri :below is untouched by terminology
        (
            "ValueSet",
            "url:below=http://example.org/vs/e",
            &["empty", "expanded", "explicit"],
        ),
    ];
    let mut failures = Vec::new();
    let mut searches = Vec::new();
    for (resource_type, query, expected) in cases {
        let got = ids(&engine, &store, resource_type, query);
        if got != *expected {
            failures.push(format!(
                "{resource_type}?{query}: got {got:?}, expected {expected:?}"
            ));
        }
        let found = got.into_iter().collect();
        searches.push((resource_type.to_string(), query.to_string(), found));
    }
    println!(
        "{} passed, {} failed",
        cases.len() - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The in-memory matcher (terminology resolved from the store when compiled) agrees.
    let (compared, disagreements) = common::matcher_agreement(&engine, &store, &searches);
    println!(
        "matcher: {compared} comparisons, {} disagreements",
        disagreements.len()
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn terminology_mistakes_are_client_errors_naming_the_parameter() {
    let (_dir, store, engine) = setup();
    let cases: &[(&str, SearchErrorKind, &str)] = &[
        (
            "code:in=http://example.org/vs/nope",
            SearchErrorKind::MalformedValue,
            "not known",
        ),
        (
            "code:in=ValueSet/nope",
            SearchErrorKind::MalformedValue,
            "not known",
        ),
        (
            "code:not-in=http://example.org/vs/nope",
            SearchErrorKind::MalformedValue,
            "not known",
        ),
        (
            "code:in=http://example.org/vs/regex",
            SearchErrorKind::Unsupported,
            "uses a filter this server cannot expand",
        ),
        (
            "code:in=http://example.org/vs/nocs",
            SearchErrorKind::Unsupported,
            "not stored",
        ),
        (
            "code:below=http://example.org/cs/unknown|x",
            SearchErrorKind::Unsupported,
            "no CodeSystem",
        ),
        (
            "code:above=http://example.org/cs/empty|x",
            SearchErrorKind::Unsupported,
            "no CodeSystem",
        ),
        (
            &format!("code:below={CS}|nope"),
            SearchErrorKind::MalformedValue,
            "not in CodeSystem",
        ),
        (
            "code:below=cardiac",
            SearchErrorKind::MalformedValue,
            "system|code",
        ),
        (
            "code:above=|cardiac",
            SearchErrorKind::MalformedValue,
            "system|code",
        ),
    ];
    for (query, kind, fragment) in cases {
        let error = engine
            .matching_ids(&store, "Observation", query, 10)
            .expect_err(query);
        assert_eq!(error.kind(), kind, "{query}: {error}");
        assert!(error.is_client_error(), "{query}");
        let written = query.split('=').next().unwrap_or_default();
        assert_eq!(error.parameter(), Some(written), "{query}");
        assert!(error.message().contains(fragment), "{query}: {error}");
    }
    // Without a store at hand (EXPLAIN), the modifiers are refused rather than guessed.
    let request = SearchRequest::from_query(
        SearchScope::Type("Observation".into()),
        "code:in=http://example.org/vs/explicit",
        false,
    )
    .unwrap();
    let error = engine.page_sql(&request).expect_err("no store");
    assert_eq!(error.kind(), &SearchErrorKind::Unsupported);
}

#[test]
fn large_and_multi_system_value_sets() {
    let engine = SearchEngine::r4();
    let (_dir, store) = common::store();
    let concepts: Vec<Value> = (0..1_234)
        .map(|n| json!({"code": format!("c{n}")}))
        .collect();
    let mut resources = vec![
        json!({"resourceType": "CodeSystem", "id": "big", "url": "http://example.org/cs/big", "status": "active",
               "content": "complete", "concept": concepts}),
        json!({"resourceType": "ValueSet", "id": "big", "url": "http://example.org/vs/big", "status": "active",
               "compose": {"include": [{"system": "http://example.org/cs/big"}],
                           "exclude": [{"system": "http://example.org/cs/big", "concept": [{"code": "c7"}]}]}}),
    ];
    for n in [0, 7, 600, 1_233, 5_000] {
        resources.push(json!({"resourceType": "Observation", "id": format!("o{n}"), "status": "final",
            "code": {"coding": [{"system": "http://example.org/cs/big", "code": format!("c{n}")}]}}));
    }
    common::load(&engine, &store, &resources);
    assert_eq!(
        ids(
            &engine,
            &store,
            "Observation",
            "code:in=http://example.org/vs/big"
        ),
        ["o0", "o1233", "o600"]
    );
    assert_eq!(
        ids(
            &engine,
            &store,
            "Observation",
            "code:not-in=http://example.org/vs/big"
        ),
        ["o5000", "o7"]
    );
    // Two systems: the same code in another system is told apart.
    common::load(
        &engine,
        &store,
        &[
            fixtures()[2].clone(),
            json!({"resourceType": "Observation", "id": "o-hr", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}}),
            json!({"resourceType": "Observation", "id": "o-other-c0", "status": "final",
               "code": {"coding": [{"system": "http://other.org", "code": "c0"}]}}),
        ],
    );
    let both = "code:in=http://example.org/vs/big,http://example.org/vs/explicit";
    assert_eq!(
        ids(&engine, &store, "Observation", both),
        ["o-hr", "o0", "o1233", "o600"]
    );
    // Past 10,000 codes the criterion is refused (bound values are limited per statement).
    let huge: Vec<Value> = (0..10_001)
        .map(|n| json!({"code": format!("h{n}")}))
        .collect();
    common::load(
        &engine,
        &store,
        &[
            json!({"resourceType": "CodeSystem", "id": "huge", "url": "http://example.org/cs/huge", "status": "active",
               "content": "complete", "concept": huge}),
            json!({"resourceType": "ValueSet", "id": "huge", "url": "http://example.org/vs/huge", "status": "active",
               "compose": {"include": [{"system": "http://example.org/cs/huge"}]}}),
        ],
    );
    let error = engine
        .matching_ids(
            &store,
            "Observation",
            "code:in=http://example.org/vs/huge",
            10,
        )
        .expect_err("too many codes");
    assert_eq!(error.kind(), &SearchErrorKind::Unsupported);
    assert_eq!(error.parameter(), Some("code:in"));
}

#[test]
fn a_value_set_written_in_the_same_transaction_is_seen() {
    let engine = SearchEngine::r4();
    let (_dir, store) = common::store();
    common::load(&engine, &store, &fixtures()[11..12]);
    let value_set = json!({"resourceType": "ValueSet", "id": "tx", "url": "http://example.org/vs/tx", "status": "active",
        "compose": {"include": [{"system": CS, "concept": [{"code": "murmur"}]}]}});
    let index = engine
        .index_rows("ValueSet", &value_set)
        .expect("index rows");
    let engine_in_tx = &engine;
    store
        .write(Box::new(move |tx| {
            tx.put(NewVersion {
                resource_type: "ValueSet".into(),
                id: "tx".into(),
                version_id: 1,
                last_updated_micros: 1_600_000_000_000_000,
                method: WriteMethod::Create,
                content: value_set.to_string(),
                index,
            })?;
            let found = engine_in_tx
                .matching_ids_in(
                    tx,
                    "Observation",
                    "code:in=http://example.org/vs/tx",
                    10,
                    None,
                )
                .map_err(|e| {
                    vigil_store::StoreError::new(
                        vigil_store::StoreErrorKind::Unsupported,
                        e.to_string(),
                    )
                })?;
            assert_eq!(found, ["ob-murmur"]);
            Ok(())
        }))
        .expect("write");
}
