//! Searches found to fail from outside (issue 15): OR lists of thousands of values, thousands of
//! ANDed parameters, empty values, and `_revinclude` beyond the include limit. Each must either
//! answer correctly or be refused as the client's mistake (never an internal error).

mod common;

use serde_json::{Value, json};
use vigil_search::{SearchEngine, SearchErrorKind, SearchOptions, SearchRequest, SearchScope};
use vigil_store::sqlite::SqliteStore;

/// Patients `p0..p{n}`, each with one Observation `o{i}` (code `c{i}`, subject `p{i}`,
/// effective on day `i` of 2020, value `i`), and a name `family{i}`.
fn population(n: usize) -> Vec<Value> {
    let mut resources = Vec::new();
    for i in 0..n {
        resources.push(json!({"resourceType": "Patient", "id": format!("p{i}"),
            "name": [{"family": format!("family{i}")}], "gender": if i % 2 == 0 { "female" } else { "male" }}));
        let day = chrono_day(i);
        resources.push(json!({"resourceType": "Observation", "id": format!("o{i}"), "status": "final",
            "meta": {"profile": [format!("http://example.org/profile/{i}")]},
            "code": {"coding": [{"system": "urn:codes", "code": format!("c{i}")}]},
            "subject": {"reference": format!("Patient/p{i}")},
            "effectiveDateTime": day,
            "valueQuantity": {"value": i, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}));
    }
    resources
}

/// `2020-01-01` plus `i` days (modulo a year), as a FHIR date.
fn chrono_day(i: usize) -> String {
    const MONTHS: [usize; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut day = i % 366;
    let mut month = 0;
    while day >= MONTHS[month] {
        day -= MONTHS[month];
        month += 1;
    }
    format!("2020-{:02}-{:02}", month + 1, day + 1)
}

fn search_ids(
    engine: &SearchEngine,
    store: &SqliteStore,
    resource_type: &str,
    query: &str,
) -> Result<Vec<String>, vigil_search::SearchError> {
    let mut ids = engine.matching_ids(store, resource_type, query, 100_000)?;
    ids.sort();
    Ok(ids)
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[test]
fn long_or_lists_answer_correctly() {
    let (_dir, store, engine) = common::loaded(&population(300));
    // Every list names the 300 stored values among thousands of absent ones.
    let tokens: Vec<String> = (0..5_000).map(|i| format!("urn:codes|c{i}")).collect();
    let references: Vec<String> = (0..5_000).map(|i| format!("Patient/p{i}")).collect();
    let plain_ids: Vec<String> = (0..5_000).map(|i| format!("p{i}")).collect();
    let strings: Vec<String> = (0..2_000).map(|i| format!("family{i}x")).collect();
    let exact: Vec<String> = (0..2_000).map(|i| format!("family{i}")).collect();
    let dates: Vec<String> = (0..1_000).map(|i| chrono_day(i % 300 + 400)).collect();
    let numbers: Vec<String> = (0..1_000).map(|i| format!("{}", i * 7)).collect();
    let profiles: Vec<String> = (0..2_000)
        .map(|i| format!("http://example.org/profile/{i}"))
        .collect();
    let below: Vec<String> = (0..1_000)
        .map(|i| format!("http://example.org/profile/{}", i * 10 + 1))
        .collect();
    let observations = |keep: &dyn Fn(usize) -> bool| {
        sorted(
            (0..300)
                .filter(|i| keep(*i))
                .map(|i| format!("o{i}"))
                .collect(),
        )
    };
    let patients = |keep: &dyn Fn(usize) -> bool| {
        sorted(
            (0..300)
                .filter(|i| keep(*i))
                .map(|i| format!("p{i}"))
                .collect(),
        )
    };
    let cases: Vec<(&str, String, Vec<String>)> = vec![
        (
            "Observation",
            format!("code={}", tokens.join(",")),
            observations(&|_| true),
        ),
        (
            "Observation",
            format!("code:not={}", tokens[..150].join(",")),
            observations(&|i| i >= 150),
        ),
        (
            "Observation",
            format!("subject={}", references.join(",")),
            observations(&|_| true),
        ),
        (
            "Observation",
            format!("subject={}", plain_ids.join(",")),
            observations(&|_| true),
        ),
        (
            "Patient",
            format!("_id={}", plain_ids.join(",")),
            patients(&|_| true),
        ),
        // No stored family is followed by an `x`: none of the 2,000 prefixes matches.
        (
            "Patient",
            format!("family={}", strings.join(",")),
            Vec::new(),
        ),
        (
            "Patient",
            format!("family:exact={}", exact.join(",")),
            patients(&|_| true),
        ),
        (
            "Patient",
            format!("family:contains={}", strings[..1_000].join(",")),
            Vec::new(),
        ),
        // Days 400.. of the cycle are days 34.. of 2020 again (366-day cycle).
        (
            "Observation",
            format!("date={}", dates.join(",")),
            observations(&|i| (34..300).contains(&i)),
        ),
        (
            "Observation",
            format!("value-quantity={}", numbers.join(",")),
            observations(&|i| i % 7 == 0),
        ),
        (
            "Observation",
            format!("_profile={}", profiles.join(",")),
            observations(&|_| true),
        ),
        (
            "Observation",
            format!("_profile:below={}", below.join(",")),
            // profile/i starts with some profile/v (v ending in 1) when i has a digit 1.
            observations(&|i| i.to_string().contains('1')),
        ),
    ];
    for (resource_type, query, expected) in cases {
        let got = search_ids(&engine, &store, resource_type, &query)
            .unwrap_or_else(|e| panic!("{resource_type}?{}...: {e}", &query[..60]));
        assert_eq!(got, expected, "{resource_type}?{}...", &query[..60]);
    }
}

#[test]
fn thousands_of_anded_parameters_answer_or_are_refused() {
    let (_dir, store, engine) = common::loaded(&population(20));
    // The same criterion 10,000 times is one criterion.
    let same = vec!["gender=female"; 10_000].join("&");
    let got = search_ids(&engine, &store, "Patient", &same).expect("repeated criterion");
    assert_eq!(
        got,
        sorted((0..20).step_by(2).map(|i| format!("p{i}")).collect())
    );
    // 10,000 different criteria that all hold (`:not` of absent codes).
    let distinct: Vec<String> = (0..10_000).map(|i| format!("code:not=absent{i}")).collect();
    let error = search_ids(&engine, &store, "Observation", &distinct.join("&"))
        .expect_err("more than 1,000 distinct criteria");
    assert!(error.is_client_error(), "{error}");
    assert!(
        error.message().contains("at most 1000"),
        "states the limit: {error}"
    );
    // 500 different criteria are answered.
    let some: Vec<String> = (0..500).map(|i| format!("code:not=absent{i}")).collect();
    let got = search_ids(&engine, &store, "Observation", &some.join("&")).expect("500 ANDs");
    assert_eq!(got.len(), 20);
}

#[test]
fn repeated_result_parameters_are_merged_or_refused() {
    let (_dir, store, engine) = common::loaded(&population(5));
    let scope = || SearchScope::Type("Observation".into());
    let sorts = vec!["_sort=-date"; 10_000].join("&");
    let request = SearchRequest::from_query(scope(), &sorts, false).expect("one sort key");
    assert_eq!(request.sort.len(), 1);
    let result = engine.search(&store, &request).expect("search");
    assert_eq!(result.matches[0].id, "o4");
    let keys = [
        "date",
        "code",
        "status",
        "subject",
        "value-quantity",
        "patient",
        "encounter",
        "category",
        "_lastUpdated",
    ];
    let many: Vec<String> = keys.iter().map(|key| format!("_sort={key}")).collect();
    let error = SearchRequest::from_query(scope(), &many.join("&"), false).expect_err("9 keys");
    assert!(error.is_client_error() && error.message().contains("at most 8"));
    let includes = vec!["_include=Observation:subject"; 10_000].join("&");
    let request = SearchRequest::from_query(scope(), &includes, false).expect("one include");
    assert_eq!(request.include.len(), 1);
    let distinct: Vec<String> = (0..40)
        .map(|i| format!("_revinclude=Provenance:target:T{i}"))
        .collect();
    let error = SearchRequest::from_query(scope(), &distinct.join("&"), false)
        .expect_err("40 distinct includes");
    assert!(error.is_client_error() && error.message().contains("at most 32"));
}

#[test]
fn empty_values_are_ignored() {
    let (_dir, store, engine) = common::loaded(&population(4));
    let search = |query: &str| {
        let request =
            SearchRequest::from_query(SearchScope::Type("Observation".into()), query, false)
                .expect("request");
        let result = engine.search(&store, &request).expect(query);
        sorted(result.matches.into_iter().map(|m| m.id).collect())
    };
    assert_eq!(search("code=c1,,c2"), ["o1", "o2"]);
    assert_eq!(search("code=,c3,"), ["o3"]);
    assert_eq!(search("code="), ["o0", "o1", "o2", "o3"]);
    assert_eq!(search("code=&subject=Patient/p2"), ["o2"]);
    assert_eq!(search("subject.name="), ["o0", "o1", "o2", "o3"]);
    assert_eq!(search("date=&value-quantity=,"), ["o0", "o1", "o2", "o3"]);
    // Conditional criteria that are all empty would match everything: refused.
    let error = engine
        .matching_ids(&store, "Observation", "code=", 2)
        .expect_err("empty conditional criteria");
    assert_eq!(error.kind(), &SearchErrorKind::MalformedValue);
}

#[test]
fn revinclude_shares_the_include_limit_and_reports_what_it_left_out() {
    let mut resources = vec![json!({"resourceType": "Patient", "id": "p"})];
    for i in 0..2_000 {
        resources.push(
            json!({"resourceType": "Observation", "id": format!("o{i}"), "status": "final",
            "code": {"text": "x"}, "subject": {"reference": "Patient/p"}}),
        );
    }
    for i in 0..30 {
        resources.push(json!({"resourceType": "Condition", "id": format!("c{i}"),
            "subject": {"reference": "Patient/p"}}));
    }
    resources.push(
        json!({"resourceType": "Encounter", "id": "e", "status": "finished",
        "class": {"code": "AMB"}, "subject": {"reference": "Patient/p"}}),
    );
    let options = SearchOptions::default();
    let engine = SearchEngine::new(vigil_search::SearchParameterRegistry::r4(), options);
    let (_dir, store) = common::store();
    common::load(&engine, &store, &resources);
    let request = SearchRequest::from_query(
        SearchScope::Type("Patient".into()),
        "_id=p&_revinclude=Observation:subject&_revinclude=Condition:subject&_revinclude=Encounter:subject",
        false,
    )
    .expect("request");
    let result = engine.search(&store, &request).expect("search");
    let count = |t: &str| {
        result
            .included
            .iter()
            .filter(|v| v.resource_type == t)
            .count()
    };
    assert_eq!(count("Condition"), 30, "every Condition");
    assert_eq!(count("Encounter"), 1, "the Encounter");
    assert!(result.included.len() <= 1_000);
    assert_eq!(count("Observation"), result.included.len() - 31);
    let warning = result
        .warnings
        .iter()
        .find(|w| w.parameter == "_revinclude")
        .expect("a warning about the cut");
    let left_out = 2_000 - count("Observation");
    assert!(
        warning.message.contains("Observation:subject")
            && warning.message.contains(&left_out.to_string()),
        "{}",
        warning.message
    );
    // Nothing cut: no warning.
    let request = SearchRequest::from_query(
        SearchScope::Type("Patient".into()),
        "_id=p&_revinclude=Condition:subject",
        false,
    )
    .expect("request");
    let result = engine.search(&store, &request).expect("search");
    assert_eq!(result.included.len(), 30);
    assert!(result.warnings.is_empty());
}

/// The inputs the `search_query` fuzz target reported (docs/fuzzing.md, run 3) against the
/// search before the bounded statements: long comma lists on `_source`, `name`,
/// `family:exact` and a system-level `_tag:text`, mostly empty values, and 600 references.
/// Through the full search (`SearchEngine::search`, as the fuzz target calls it) each now
/// answers or is refused as the client's mistake, never an internal error.
#[test]
fn the_fuzzers_long_lists_are_answered() {
    let (_dir, store, engine) = common::loaded(&population(20));
    let many = |prefix: &str, n: usize, value: &dyn Fn(usize) -> String| -> String {
        let values: Vec<String> = (0..n).map(value).collect();
        format!("{prefix}{}", values.join(","))
    };
    let cases: Vec<(SearchScope, String)> = vec![
        (
            SearchScope::Type("Observation".into()),
            many("subject=", 600, &|i| format!("Patient/p{i}")),
        ),
        (
            SearchScope::Type("Patient".into()),
            many("_source=", 600, &|i| format!("http://x/{i}")),
        ),
        (
            SearchScope::Type("Patient".into()),
            format!("name=family1{}", ",".repeat(700)),
        ),
        (
            SearchScope::Type("Patient".into()),
            many("_source=", 511, &|i| {
                if i % 3 == 0 {
                    format!("s{i}")
                } else {
                    String::new()
                }
            }),
        ),
        (
            SearchScope::Type("Patient".into()),
            many("family:exact=", 617, &|i| {
                if i % 6 == 0 {
                    format!("family{i}")
                } else {
                    String::new()
                }
            }),
        ),
        (
            SearchScope::System(Vec::new()),
            many("_tag:text=", 593, &|i| {
                if i % 4 == 0 {
                    format!("kd{i}")
                } else {
                    String::new()
                }
            }),
        ),
    ];
    for (scope, query) in cases {
        let request = SearchRequest::from_query(scope.clone(), &query, false).expect("parse");
        match engine.search(&store, &request) {
            Ok(_) => {}
            Err(error) => assert!(
                error.is_client_error(),
                "{scope:?} {}...: {error}",
                &query[..40]
            ),
        }
    }
    // And the answers are right where they can be checked.
    let subjects = many("subject=", 600, &|i| format!("Patient/p{i}"));
    assert_eq!(
        search_ids(&engine, &store, "Observation", &subjects).expect("search"),
        sorted((0..20).map(|i| format!("o{i}")).collect())
    );
    let name = format!("name=family1{}", ",".repeat(700));
    let mut expected: Vec<String> = vec!["p1".into()];
    expected.extend((10..20).map(|i| format!("p{i}")));
    assert_eq!(
        search_ids(&engine, &store, "Patient", &name).expect("search"),
        sorted(expected)
    );
}
