//! Search behaviour over small hand-written resources: one table of (query, expected ids) per
//! parameter type, plus paging, includes, chains, `_has`, errors and warnings.

mod common;

use serde_json::{Value, json};
use vigil_search::{SearchEngine, SearchErrorKind, SearchRequest, SearchScope};
use vigil_store::sqlite::SqliteStore;

fn fixtures() -> Vec<Value> {
    vec![
        json!({"resourceType": "Patient", "id": "p1", "meta": {"lastUpdated": "2020-01-01T00:00:00Z", "tag": [{"system": "urn:t", "code": "vip"}]},
               "identifier": [{"system": "urn:mrn", "value": "MRN-1", "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}}],
               "name": [{"family": "Müller", "given": ["Anna"]}], "gender": "female", "birthDate": "1970-05-01", "active": true,
               "telecom": [{"system": "phone", "value": "555-0101"}], "address": [{"city": "Boston", "postalCode": "02101"}]}),
        json!({"resourceType": "Patient", "id": "p2", "name": [{"family": "Muller", "given": ["Bob"]}], "gender": "male", "birthDate": "1985",
               "managingOrganization": {"reference": "Organization/o1"}}),
        json!({"resourceType": "Patient", "id": "p3", "name": [{"family": "Smith", "given": ["Carol"]}], "gender": "female", "birthDate": "2001-12-31"}),
        json!({"resourceType": "Organization", "id": "o1", "name": "Acme Hospital", "identifier": [{"system": "urn:org", "value": "ACME"}]}),
        json!({"resourceType": "Observation", "id": "o-hr1", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
               "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2021-03-04T10:00:00Z",
               "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}}),
        json!({"resourceType": "Observation", "id": "o-hr2", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
               "subject": {"reference": "Patient/p2"}, "effectivePeriod": {"start": "2021-03-05T10:00:00Z", "end": "2021-03-05T11:00:00Z"},
               "valueQuantity": {"value": 130, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}}),
        json!({"resourceType": "Observation", "id": "o-wt", "status": "amended",
               "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}], "text": "Weight"},
               "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2019-06-01",
               "valueQuantity": {"value": 70500, "unit": "g", "system": "http://unitsofmeasure.org", "code": "g"}}),
        json!({"resourceType": "Observation", "id": "o-text", "status": "final",
               "code": {"text": "free text only"}, "subject": {"reference": "http://other.org/fhir/Patient/x",
               "identifier": {"system": "urn:mrn", "value": "EXT-9"}}, "valueString": "abc"}),
        json!({"resourceType": "Observation", "id": "o-bp", "status": "preliminary", "subject": {"reference": "Patient/p3"},
               "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
               "component": [
                   {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                    "valueQuantity": {"value": 150, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
                   {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                    "valueQuantity": {"value": 95, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]}),
        json!({"resourceType": "Observation", "id": "o-smoke", "status": "preliminary", "subject": {"reference": "Patient/p3"},
               "code": {"coding": [{"system": "http://loinc.org", "code": "72166-2"}]},
               "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "266919005", "display": "Never smoker"}]}}),
        json!({"resourceType": "RiskAssessment", "id": "ra1", "status": "final", "subject": {"reference": "Patient/p1"},
               "prediction": [{"probabilityDecimal": 0.35}]}),
    ]
}

fn setup() -> (tempfile::TempDir, SqliteStore, SearchEngine) {
    common::loaded(&fixtures())
}

use common::ids;

#[test]
fn the_matcher_agrees_with_sql_on_every_case() {
    let (_dir, store, engine) = setup();
    let searches: Vec<_> = cases()
        .into_iter()
        .map(|(resource_type, query, _)| {
            let found = ids(&engine, &store, resource_type, query);
            (
                resource_type.to_owned(),
                query.to_owned(),
                found.into_iter().collect(),
            )
        })
        .collect();
    let (compared, disagreements) = common::matcher_agreement(&engine, &store, &searches);
    println!(
        "{} searches x stored resources of their type: {compared} comparisons, {} disagreements",
        searches.len(),
        disagreements.len()
    );
    assert!(compared > searches.len());
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// (type, query, expected ids) for every parameter type and modifier.
fn cases() -> Vec<(&'static str, &'static str, &'static [&'static str])> {
    vec![
        // string
        ("Patient", "name=muller", &["p1", "p2"]),
        ("Patient", "name=MÜL", &["p1", "p2"]),
        ("Patient", "name:exact=Müller", &["p1"]),
        ("Patient", "name:contains=ULL", &["p1", "p2"]),
        ("Patient", "family=smith,muller", &["p1", "p2", "p3"]),
        ("Patient", "address-city=bos", &["p1"]),
        ("Patient", "given=anna&family=muller", &["p1"]),
        // token
        ("Patient", "gender=female", &["p1", "p3"]),
        ("Patient", "gender:not=female", &["p2"]),
        ("Patient", "identifier=urn:mrn|MRN-1", &["p1"]),
        ("Patient", "identifier=MRN-1", &["p1"]),
        ("Patient", "identifier=urn:other|MRN-1", &[]),
        ("Patient", "identifier=urn:mrn|", &["p1"]),
        (
            "Patient",
            "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|MRN-1",
            &["p1"],
        ),
        ("Patient", "phone=555-0101", &["p1"]),
        ("Patient", "active=true", &["p1"]),
        (
            "Observation",
            "code=http://loinc.org|8867-4",
            &["o-hr1", "o-hr2"],
        ),
        ("Observation", "code=|8867-4", &[]),
        ("Observation", "code:text=heart", &["o-hr1", "o-hr2"]),
        ("Observation", "code:text=free text", &["o-text"]),
        (
            "Observation",
            "status=final,amended",
            &["o-hr1", "o-hr2", "o-text", "o-wt"],
        ),
        ("Patient", "_tag=urn:t|vip", &["p1"]),
        // date
        ("Patient", "birthdate=1970", &["p1"]),
        ("Patient", "birthdate=1970-05-01", &["p1"]),
        ("Patient", "birthdate=1985-06", &[]),
        ("Patient", "birthdate=ge1985", &["p2", "p3"]),
        ("Patient", "birthdate=lt1985", &["p1"]),
        ("Patient", "birthdate=gt1970&birthdate=lt2001", &["p2"]),
        ("Patient", "birthdate=ne1985", &["p1", "p3"]),
        ("Patient", "birthdate=sa1985", &["p3"]),
        ("Patient", "birthdate=eb1985", &["p1"]),
        ("Observation", "date=2021-03", &["o-hr1", "o-hr2"]),
        ("Observation", "date=2021-03-05T10:30:00Z", &[]),
        ("Observation", "date=ge2021-03-05T10:30:00Z", &["o-hr2"]),
        ("Observation", "date=le2019-06-01", &["o-wt"]),
        // quantity
        ("Observation", "value-quantity=72", &["o-hr1"]),
        ("Observation", "value-quantity=gt100", &["o-hr2", "o-wt"]),
        (
            "Observation",
            "value-quantity=gt100|http://unitsofmeasure.org|/min",
            &["o-hr2"],
        ),
        (
            "Observation",
            "value-quantity=70.5|http://unitsofmeasure.org|kg",
            &["o-wt"],
        ),
        ("Observation", "value-quantity=ap72", &["o-hr1"]),
        ("Observation", "value-quantity=lt71", &[]),
        // reference
        ("Observation", "subject=Patient/p1", &["o-hr1", "o-wt"]),
        ("Observation", "subject=p1", &["o-hr1", "o-wt"]),
        ("Observation", "subject:Patient=p2", &["o-hr2"]),
        ("Observation", "patient=p2", &["o-hr2"]),
        (
            "Observation",
            "subject=http://other.org/fhir/Patient/x",
            &["o-text"],
        ),
        (
            "Observation",
            "subject:identifier=urn:mrn|EXT-9",
            &["o-text"],
        ),
        // chains and _has
        (
            "Observation",
            "subject:Patient.name=smith",
            &["o-bp", "o-smoke"],
        ),
        (
            "Observation",
            "subject:Patient.name=muller",
            &["o-hr1", "o-hr2", "o-wt"],
        ),
        ("Observation", "patient.gender=male", &["o-hr2"]),
        ("Observation", "patient.organization.name=acme", &["o-hr2"]),
        (
            "Observation",
            "patient.organization.identifier=urn:org|ACME",
            &["o-hr2"],
        ),
        (
            "Patient",
            "_has:Observation:patient:code=8867-4",
            &["p1", "p2"],
        ),
        ("Patient", "_has:Observation:patient:code=29463-7", &["p1"]),
        (
            "Organization",
            "_has:Patient:organization:_has:Observation:patient:code=8867-4",
            &["o1"],
        ),
        // composite: token$quantity (per element, never pairing one component's code with
        // another's value) and token$token
        (
            "Observation",
            "code-value-quantity=http://loinc.org|8867-4$gt100",
            &["o-hr2"],
        ),
        ("Observation", "code-value-quantity=8867-4$72", &["o-hr1"]),
        (
            "Observation",
            "code-value-quantity=8867-4$72|http://unitsofmeasure.org|/min",
            &["o-hr1"],
        ),
        (
            "Observation",
            "component-code-value-quantity=http://loinc.org|8480-6$gt140",
            &["o-bp"],
        ),
        (
            "Observation",
            "component-code-value-quantity=8480-6$lt100",
            &[],
        ),
        (
            "Observation",
            "component-code-value-quantity=8462-4$lt100,8867-4$72",
            &["o-bp"],
        ),
        (
            "Observation",
            "combo-code-value-quantity=8480-6$150",
            &["o-bp"],
        ),
        (
            "Observation",
            "code-value-concept=http://loinc.org|72166-2$http://snomed.info/sct|266919005",
            &["o-smoke"],
        ),
        (
            "Observation",
            "code-value-concept=72166-2$266919005",
            &["o-smoke"],
        ),
        ("Observation", "code-value-concept=|72166-2$266919005", &[]),
        // number (the written precision is the search range)
        ("RiskAssessment", "probability=0.35", &["ra1"]),
        ("RiskAssessment", "probability=0.3", &[]),
        ("RiskAssessment", "probability=gt0.3", &["ra1"]),
        ("RiskAssessment", "probability=lt0.3", &[]),
        ("RiskAssessment", "probability=ap0.34", &["ra1"]),
        // :missing, _id, _content
        ("Patient", "birthdate:missing=true", &[]),
        ("Patient", "organization:missing=false", &["p2"]),
        ("Patient", "organization:missing=true", &["p1", "p3"]),
        ("Patient", "_id=p1,p3", &["p1", "p3"]),
        ("Patient", "_content=carol", &["p3"]),
        ("Patient", "_content=CAR", &["p3"]),
        ("Patient", "_content=arol", &[]),
        ("Patient", "_content=muller anna,carol", &["p1", "p3"]),
        ("Patient", "_content=anna muller", &[]),
        ("Patient", "_content=555", &["p1"]),
        (
            "Patient",
            "_has:Observation:patient:_content=heart rate",
            &["p1", "p2"],
        ),
        (
            "Observation",
            "_content=never smo&status=preliminary",
            &["o-smoke"],
        ),
    ]
}

#[test]
fn every_parameter_type_and_modifier() {
    let (_dir, store, engine) = setup();
    let cases = cases();
    let mut failures = Vec::new();
    for (resource_type, query, expected) in &cases {
        let got = ids(&engine, &store, resource_type, query);
        if got != *expected {
            failures.push(format!(
                "{resource_type}?{query}: expected {expected:?}, got {got:?}"
            ));
        }
    }
    println!(
        "{} passed, {} failed",
        cases.len() - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn client_mistakes_are_typed_errors() {
    let (_dir, store, engine) = setup();
    let cases: &[(&str, SearchErrorKind)] = &[
        ("birthdate=1970-13", SearchErrorKind::MalformedValue),
        ("birthdate=xx1970", SearchErrorKind::MalformedValue),
        ("birthdate:exact=1970", SearchErrorKind::Unsupported),
        ("gender:in=http://x", SearchErrorKind::MalformedValue),
        ("nonsense=1", SearchErrorKind::UnknownParameter),
        ("_content=--", SearchErrorKind::MalformedValue),
        ("_content:missing=true", SearchErrorKind::Unsupported),
        ("_text=%3C%3E", SearchErrorKind::MalformedValue),
        (
            "organization:missing=maybe",
            SearchErrorKind::MalformedValue,
        ),
        ("_has:Observation:patient", SearchErrorKind::MalformedValue),
        (
            "_has:Observation:patient:code-value-quantity=8480-6",
            SearchErrorKind::MalformedValue,
        ),
    ];
    for (query, kind) in cases {
        let error = engine
            .matching_ids(&store, "Patient", query, 10)
            .expect_err(query);
        assert_eq!(error.kind(), kind, "{query}: {error}");
        assert!(error.is_client_error());
        assert!(error.parameter().is_some(), "{query} names its parameter");
    }
}

#[test]
fn unknown_parameters_warn_unless_strict() {
    let (_dir, store, engine) = setup();
    let request = SearchRequest::from_query(
        SearchScope::Type("Patient".into()),
        "nonsense=1&gender=male",
        false,
    )
    .unwrap();
    let result = engine.search(&store, &request).unwrap();
    assert_eq!(result.matches.len(), 1);
    assert_eq!(result.warnings.len(), 1);
    assert_eq!(result.warnings[0].parameter, "nonsense");
    let strict =
        SearchRequest::from_query(SearchScope::Type("Patient".into()), "nonsense=1", true).unwrap();
    assert!(engine.search(&store, &strict).is_err());
}

#[test]
fn sorting_paging_totals_and_includes() {
    let (_dir, store, engine) = setup();
    let scope = SearchScope::Type("Patient".into());
    let request = SearchRequest::from_query(
        scope.clone(),
        "_sort=-birthdate&_count=2&_total=accurate",
        false,
    )
    .unwrap();
    let first = engine.search(&store, &request).unwrap();
    let page_ids: Vec<_> = first.matches.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(page_ids, ["p3", "p2"]);
    assert_eq!(first.total, Some(3));
    assert!(first.previous_cursor.is_none());
    let mut next = request.clone();
    next.cursor = first.next_cursor.clone();
    let second = engine.search(&store, &next).unwrap();
    let page_ids: Vec<_> = second.matches.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(page_ids, ["p1"]);
    assert!(second.next_cursor.is_none());
    let mut back = request.clone();
    back.cursor = second.previous_cursor.clone();
    let again = engine.search(&store, &back).unwrap();
    assert_eq!(again.matches, first.matches);

    let request = SearchRequest::from_query(
        SearchScope::Type("Observation".into()),
        "code=8867-4&_include=Observation:subject&_include:iterate=Patient:organization&_sort=date",
        false,
    )
    .unwrap();
    let result = engine.search(&store, &request).unwrap();
    let matched: Vec<_> = result.matches.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(matched, ["o-hr1", "o-hr2"]);
    let mut included: Vec<_> = result
        .included
        .iter()
        .map(|m| format!("{}/{}", m.resource_type, m.id))
        .collect();
    included.sort();
    assert_eq!(included, ["Organization/o1", "Patient/p1", "Patient/p2"]);

    let request = SearchRequest::from_query(
        SearchScope::Type("Patient".into()),
        "_id=p1&_revinclude=Observation:subject",
        false,
    )
    .unwrap();
    let result = engine.search(&store, &request).unwrap();
    assert_eq!(result.included.len(), 2);

    let request = SearchRequest::from_query(
        SearchScope::Compartment {
            compartment: "Patient".into(),
            id: "p1".into(),
            resource_type: "Observation".into(),
        },
        "_sort=_id",
        false,
    )
    .unwrap();
    let result = engine.search(&store, &request).unwrap();
    let matched: Vec<_> = result.matches.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(matched, ["o-hr1", "o-wt"]);

    let request = SearchRequest::from_query(
        SearchScope::System(vec![]),
        "_type=Patient,Organization&_id=p1,o1",
        false,
    )
    .unwrap();
    assert_eq!(engine.search(&store, &request).unwrap().matches.len(), 2);
}

#[test]
fn the_matcher_refuses_what_it_cannot_answer() {
    let (_dir, store, engine) = setup();
    let observation = fixtures()
        .into_iter()
        .find(|r| r["id"] == "o-hr2")
        .expect("o-hr2");
    // Without a store: terminology modifiers are refused when compiled, chains when matched.
    let error = engine
        .compile_criteria("Observation", "code:in=http://x/vs")
        .err()
        .expect(":in without a store");
    assert_eq!(error.kind(), &SearchErrorKind::Unsupported);
    let chain = engine
        .compile_criteria("Observation", "patient.gender=male")
        .expect("chain");
    assert!(
        chain
            .matches(&observation, &mut vigil_search::NoContext)
            .is_err()
    );
    // With a store they are answered.
    let mut context = vigil_search::StoreMatchContext::new(&engine, &store);
    assert!(chain.matches(&observation, &mut context).expect("chain"));
    // Unknown parameters are errors; empty ones are ignored; other types never match.
    assert!(
        engine
            .compile_criteria("Observation", "nonsense=1")
            .is_err()
    );
    let empty = engine
        .compile_criteria("Observation", "code=&status=final")
        .expect("empty value");
    assert_eq!(empty.criteria().len(), 1);
    assert!(
        empty
            .matches(&observation, &mut vigil_search::NoContext)
            .expect("match")
    );
    let patient = json!({"resourceType": "Patient", "id": "x"});
    assert!(
        !empty
            .matches(&patient, &mut vigil_search::NoContext)
            .expect("other type")
    );
}

/// Queries generated from the fixtures' own index values (every parameter, every modifier and
/// prefix, fixed probes for the ordered types): the matcher and the SQL agree on each.
#[test]
fn generated_searches_agree_with_the_matcher() {
    let (_dir, store, engine) = setup();
    let mut queries: std::collections::BTreeSet<(String, String)> = Default::default();
    let escape = |text: &str| {
        text.replace('\\', "\\\\")
            .replace(',', "\\,")
            .replace('|', "\\|")
            .replace('$', "\\$")
    };
    for resource in fixtures() {
        let resource_type = resource["resourceType"].as_str().expect("type").to_owned();
        for row in engine.index_rows(&resource_type, &resource).expect("rows") {
            let (param, value) = (row.param.clone(), row.value);
            let mut add = |query: String| {
                queries.insert((resource_type.clone(), query));
            };
            if let Some((code, "identifier" | "of-type")) = param.split_once(':') {
                add(format!("{code}:missing=false"));
                continue;
            }
            add(format!("{param}:missing=true"));
            let composite = engine
                .registry()
                .get(&resource_type, &param)
                .is_some_and(|bound| bound.kind() == vigil_search::ParamType::Composite);
            if composite {
                match &value {
                    vigil_store::IndexValue::Token {
                        system: Some(first),
                        code: Some(second),
                        ..
                    } => add(format!("{param}={}${}", escape(first), escape(second))),
                    vigil_store::IndexValue::Quantity {
                        system: Some(first),
                        value,
                        code,
                        ..
                    } => {
                        for prefix in ["", "gt", "lt", "ap"] {
                            add(format!("{param}={}${prefix}{value}", escape(first)));
                        }
                        if let Some(unit) = code {
                            let unit = escape(unit);
                            add(format!("{param}={}${value}||{unit}", escape(first)));
                        }
                    }
                    _ => {}
                }
                continue;
            }
            match value {
                vigil_store::IndexValue::String { normalized, exact } => {
                    let head: String = normalized.chars().take(3).collect();
                    let middle: String = normalized.chars().skip(1).take(3).collect();
                    add(format!("{param}={}", escape(&head)));
                    add(format!("{param}:exact={}", escape(&exact)));
                    add(format!("{param}:exact={}", escape(&normalized)));
                    add(format!("{param}:contains={}", escape(&middle)));
                }
                vigil_store::IndexValue::Token { system, code, text } => {
                    if let Some(code) = &code {
                        let code = escape(code);
                        add(format!("{param}={code}"));
                        add(format!("{param}:not={code}"));
                        add(format!("{param}=|{code}"));
                        if let Some(system) = &system {
                            add(format!("{param}={}|{code},other", escape(system)));
                        }
                    }
                    if let Some(system) = &system {
                        add(format!("{param}={}|", escape(system)));
                    }
                    if let Some(text) = text {
                        let word: String = text.chars().take(4).collect();
                        add(format!("{param}:text={}", escape(&word)));
                    }
                }
                vigil_store::IndexValue::Date { .. } => {
                    for probe in ["2021", "2021-03-05", "1985", "2019-06-01T00:00:00Z"] {
                        for prefix in ["", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"] {
                            add(format!("{param}={prefix}{probe}"));
                        }
                    }
                }
                vigil_store::IndexValue::Number { .. }
                | vigil_store::IndexValue::Quantity { .. } => {
                    for probe in [
                        "0.35",
                        "72",
                        "100",
                        "70.5|http://unitsofmeasure.org|kg",
                        "130||/min",
                    ] {
                        for prefix in ["", "ne", "gt", "lt", "ge", "le", "ap"] {
                            add(format!("{param}={prefix}{probe}"));
                        }
                    }
                }
                vigil_store::IndexValue::Reference {
                    target_type,
                    target_id,
                    url,
                } => {
                    if let (Some(t), Some(id)) = (&target_type, &target_id) {
                        add(format!("{param}={t}/{id}"));
                        add(format!("{param}={id}"));
                        add(format!("{param}:{t}={id}"));
                    }
                    if let Some(url) = url {
                        add(format!("{param}={}", escape(&url)));
                    }
                }
                vigil_store::IndexValue::Text { content, narrative } => {
                    for (code, text) in [("_content", Some(content)), ("_text", narrative)] {
                        let words: Vec<&str> = text.iter().flat_map(|t| t.split(' ')).collect();
                        for start in [0, words.len() / 2] {
                            let phrase = words.iter().skip(start).take(3).copied();
                            let mut phrase: Vec<String> = phrase.map(str::to_owned).collect();
                            if let Some(last) = phrase.last_mut() {
                                last.truncate(last.chars().take(2).map(char::len_utf8).sum());
                                add(format!("{code}={}&_id=p1,p2,p3,o1", phrase.join(" ")));
                                add(format!("{code}={}", phrase.join(" ")));
                            }
                        }
                    }
                    continue;
                }
                vigil_store::IndexValue::Uri(uri) => {
                    add(format!("{param}={}", escape(&uri)));
                    add(format!("{param}:below={}", escape(&uri[..uri.len() / 2])));
                    add(format!("{param}:above={}/x/y", escape(&uri)));
                }
            }
        }
    }
    let mut searches = Vec::new();
    let mut refused = 0;
    for (resource_type, query) in &queries {
        match engine.matching_ids(&store, resource_type, query, 1_000) {
            Ok(found) => searches.push((
                resource_type.clone(),
                query.clone(),
                found.into_iter().collect(),
            )),
            Err(error) => {
                assert!(error.is_client_error(), "{resource_type}?{query}: {error}");
                if std::env::var_os("SHOW_REFUSED").is_some() {
                    println!("refused {resource_type}?{query}: {error}");
                }
                // What the SQL side refuses, the matcher refuses too.
                assert!(
                    engine.compile_criteria(resource_type, query).is_err(),
                    "{resource_type}?{query}"
                );
                refused += 1;
            }
        }
    }
    let (compared, disagreements) = common::matcher_agreement(&engine, &store, &searches);
    println!(
        "{} generated searches ({refused} refused by both), {compared} comparisons, {} disagreements",
        searches.len(),
        disagreements.len()
    );
    assert!(searches.len() > 300);
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn full_text_rows_follow_the_current_version() {
    let (_dir, store, engine) = setup();
    let found = |query: &str| ids(&engine, &store, "Patient", query);
    assert_eq!(found("_content=anna"), ["p1"]);
    assert_eq!(found("_text=anna"), Vec::<String>::new());
    let mut changed = fixtures()[0].clone();
    changed["name"][0]["given"] = json!(["Berta"]);
    changed["text"] = json!({"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Berta <b>Müller</b></div>"});
    common::load(&engine, &store, &[changed]);
    assert_eq!(found("_content=anna"), Vec::<String>::new());
    assert_eq!(found("_content=berta"), ["p1"]);
    assert_eq!(found("_text=berta mul"), ["p1"]);
    assert_eq!(found("_text=xhtml"), Vec::<String>::new());
    let store_ref: &dyn vigil_store::Store = &store;
    store_ref
        .write(Box::new(|tx| {
            tx.put(vigil_store::NewVersion {
                resource_type: "Patient".into(),
                id: "p1".into(),
                version_id: 3,
                last_updated_micros: 1_600_000_000_000_001,
                method: vigil_store::WriteMethod::Delete,
                content: String::new(),
                index: Vec::new(),
            })?;
            Ok(())
        }))
        .expect("delete");
    assert_eq!(found("_content=berta"), Vec::<String>::new());
}

#[test]
fn without_the_full_text_index_content_and_text_are_refused() {
    let engine = SearchEngine::r4();
    assert!(
        !engine.options().full_text,
        "off unless the database says on"
    );
    let (_dir, store) = common::store();
    common::load(&engine, &store, &fixtures());
    let rows = engine
        .index_rows("Patient", &fixtures()[0])
        .expect("extract");
    assert!(
        rows.iter()
            .all(|row| !matches!(row.value, vigil_store::IndexValue::Text { .. })),
        "no full-text row is extracted"
    );
    for query in ["_content=anna", "_text=anna", "name=anna&_content=anna"] {
        let error = engine
            .matching_ids(&store, "Patient", query, 10)
            .expect_err(query);
        assert!(error.is_client_error(), "{query}: {error}");
        assert!(
            error.to_string().contains("not enabled"),
            "{query}: {error}"
        );
        assert!(
            engine.compile_criteria("Patient", query).is_err(),
            "{query}"
        );
    }
    // Other searches are unaffected.
    assert_eq!(ids(&engine, &store, "Patient", "name=carol"), ["p3"]);
}
