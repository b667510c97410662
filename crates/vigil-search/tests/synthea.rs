//! Search over the Synthea corpus (../shared/data/synthea, ~66,000 resources of 91 patients)
//! compared with answers computed directly from the JSON, for every parameter type and
//! modifier, chains, `_has`, includes, sorting with paging, compartments and totals.

mod common;

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;
use vigil_search::index::canonical_quantity;
use vigil_search::normalize::normalize;
use vigil_search::{SearchEngine, SearchRequest, SearchScope, datetime};
use vigil_store::sqlite::SqliteStore;

type Ids = BTreeSet<String>;

struct Corpus {
    all: Vec<Value>,
}

impl Corpus {
    fn of(&self, resource_type: &str) -> impl Iterator<Item = &Value> {
        self.all
            .iter()
            .filter(move |r| r["resourceType"] == resource_type)
    }

    fn ids(&self, resource_type: &str, keep: impl Fn(&Value) -> bool) -> Ids {
        self.of(resource_type)
            .filter(|r| keep(r))
            .map(|r| id(r).to_owned())
            .collect()
    }
}

fn id(resource: &Value) -> &str {
    resource["id"].as_str().unwrap_or_default()
}

fn array(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

fn codings(concept: &Value) -> impl Iterator<Item = (&str, &str)> {
    array(&concept["coding"]).map(|c| {
        (
            c["system"].as_str().unwrap_or(""),
            c["code"].as_str().unwrap_or(""),
        )
    })
}

fn has_code(concept: &Value, system: Option<&str>, code: &str) -> bool {
    codings(concept).any(|(s, c)| c == code && system.is_none_or(|system| s == system))
}

fn reference(value: &Value) -> &str {
    value["reference"].as_str().unwrap_or_default()
}

/// (low, high) of a date, dateTime or Period.
fn range(value: &Value) -> Option<(i64, i64)> {
    if let Some(text) = value.as_str() {
        return datetime::parse(text).map(|r| (r.low, r.high));
    }
    let low = value["start"]
        .as_str()
        .and_then(datetime::parse)
        .map_or(i64::MIN, |r| r.low);
    let high = value["end"]
        .as_str()
        .and_then(datetime::parse)
        .map_or(i64::MAX, |r| r.high);
    (value.get("start").is_some() || value.get("end").is_some()).then_some((low, high))
}

fn observation_range(obs: &Value) -> Option<(i64, i64)> {
    ["effectiveDateTime", "effectivePeriod", "effectiveInstant"]
        .iter()
        .find_map(|key| obs.get(*key).and_then(range))
}

fn search_ids(engine: &SearchEngine, store: &SqliteStore, resource_type: &str, query: &str) -> Ids {
    engine
        .matching_ids(store, resource_type, query, 1_000_000)
        .unwrap_or_else(|e| panic!("{resource_type}?{query}: {e}"))
        .into_iter()
        .collect()
}

#[test]
fn synthea_searches_match_the_data() {
    let Some((_dir, resources)) = common::synthea_resources() else {
        return;
    };
    let engine = SearchEngine::r4();
    let (_store_dir, store) = common::store();
    let started = std::time::Instant::now();
    common::load(&engine, &store, &resources);
    println!(
        "loaded {} resources in {:.1?}",
        resources.len(),
        started.elapsed()
    );
    let corpus = Corpus { all: resources };

    // The patient with the most observations, and things about them.
    let mut per_patient: HashMap<&str, usize> = HashMap::new();
    for obs in corpus.of("Observation") {
        *per_patient.entry(reference(&obs["subject"])).or_default() += 1;
    }
    let (patient_ref, _) = per_patient
        .iter()
        .max_by_key(|(r, n)| (**n, **r))
        .expect("observations");
    let patient_ref = patient_ref.to_string();
    let patient_id = patient_ref.trim_start_matches("Patient/").to_owned();
    let patient = corpus
        .of("Patient")
        .find(|p| id(p) == patient_id)
        .expect("patient")
        .clone();
    let family = patient["name"][0]["family"]
        .as_str()
        .expect("family")
        .to_owned();
    let city = patient["address"][0]["city"]
        .as_str()
        .expect("city")
        .to_owned();
    let birth = patient["birthDate"].as_str().expect("birthDate").to_owned();
    let identifier = &patient["identifier"][1];
    let (id_system, id_value) = (
        identifier["system"].as_str().expect("system"),
        identifier["value"].as_str().expect("value"),
    );

    let mut checks: Vec<(String, Ids, Ids)> = Vec::new();
    let mut check = |resource_type: &str, query: &str, expected: Ids| {
        let got = search_ids(&engine, &store, resource_type, query);
        checks.push((format!("{resource_type}?{query}"), expected, got));
    };

    // token
    check(
        "Observation",
        "code=http://loinc.org|8867-4",
        corpus.ids("Observation", |o| {
            has_code(&o["code"], Some("http://loinc.org"), "8867-4")
        }),
    );
    check(
        "Condition",
        "code=44054006",
        corpus.ids("Condition", |c| has_code(&c["code"], None, "44054006")),
    );
    check(
        "Condition",
        "code=http://snomed.info/sct|",
        corpus.ids("Condition", |c| {
            codings(&c["code"]).any(|(s, _)| s == "http://snomed.info/sct")
        }),
    );
    check(
        "Condition",
        "clinical-status:not=active",
        corpus.ids("Condition", |c| {
            !has_code(&c["clinicalStatus"], None, "active")
        }),
    );
    check(
        "Condition",
        "code:text=diabetes",
        corpus.ids("Condition", |c| {
            array(&c["code"]["coding"])
                .filter_map(|x| x["display"].as_str())
                .chain(c["code"]["text"].as_str())
                .any(|t| normalize(t).contains("diabetes"))
        }),
    );
    check(
        "Patient",
        &format!("identifier={id_system}|{id_value}"),
        corpus.ids("Patient", |p| {
            array(&p["identifier"]).any(|i| i["system"] == id_system && i["value"] == id_value)
        }),
    );
    check(
        "Patient",
        "gender=female",
        corpus.ids("Patient", |p| p["gender"] == "female"),
    );
    // string
    let prefix: String = family.chars().take(3).collect();
    let family_starts = |p: &Value, prefix: &str| {
        array(&p["name"]).any(|n| {
            n["family"]
                .as_str()
                .is_some_and(|f| normalize(f).starts_with(&normalize(prefix)))
        })
    };
    check(
        "Patient",
        &format!("family={}", prefix.to_uppercase()),
        corpus.ids("Patient", |p| family_starts(p, &prefix)),
    );
    check(
        "Patient",
        &format!("family:exact={family}"),
        corpus.ids("Patient", |p| {
            array(&p["name"]).any(|n| n["family"] == family.as_str())
        }),
    );
    check(
        "Patient",
        &format!("family:exact={}", family.to_lowercase()),
        corpus.ids("Patient", |p| {
            array(&p["name"]).any(|n| n["family"] == family.to_lowercase().as_str())
        }),
    );
    check(
        "Patient",
        "name:contains=ann",
        corpus.ids("Patient", |p| {
            array(&p["name"]).any(|n| {
                n["family"]
                    .as_str()
                    .into_iter()
                    .chain(array(&n["given"]).filter_map(Value::as_str))
                    .chain(array(&n["prefix"]).filter_map(Value::as_str))
                    .any(|t| normalize(t).contains("ann"))
            })
        }),
    );
    check(
        "Patient",
        &format!("address-city={city}"),
        corpus.ids("Patient", |p| {
            array(&p["address"]).any(|a| {
                a["city"]
                    .as_str()
                    .is_some_and(|c| normalize(c).starts_with(&normalize(&city)))
            })
        }),
    );
    // date
    let (y2019, _) = range(&Value::from("2019")).expect("2019");
    let (_, y2019_end) = range(&Value::from("2019")).expect("2019");
    check(
        "Observation",
        "date=2019",
        corpus.ids("Observation", |o| {
            observation_range(o).is_some_and(|(l, h)| l >= y2019 && h <= y2019_end)
        }),
    );
    // ge: ends after the search day or lies within it (= ends after it or starts in or after
    // it); lt: starts before the search day.
    let (day_low, day_high) = range(&Value::from("2020-01-01")).expect("date");
    let (to, _) = range(&Value::from("2020-07-01")).expect("date");
    let ge = |l: i64, h: i64| h > day_high || l >= day_low;
    check(
        "Observation",
        "date=ge2020-01-01&date=lt2020-07-01",
        corpus.ids("Observation", |o| {
            observation_range(o).is_some_and(|(l, h)| ge(l, h) && l < to)
        }),
    );
    let (birth_low, birth_high) = range(&Value::from(birth.as_str())).expect("birth");
    check(
        "Patient",
        &format!("birthdate={birth}"),
        corpus.ids("Patient", |p| {
            p["birthDate"]
                .as_str()
                .and_then(datetime::parse)
                .is_some_and(|r| r.low >= birth_low && r.high <= birth_high)
        }),
    );
    let (y1950, _) = range(&Value::from("1950")).expect("1950");
    check(
        "Patient",
        "birthdate=lt1950",
        corpus.ids("Patient", |p| {
            p["birthDate"]
                .as_str()
                .and_then(datetime::parse)
                .is_some_and(|r| r.low < y1950)
        }),
    );
    check(
        "Patient",
        "death-date:missing=false",
        corpus.ids("Patient", |p| p.get("deceasedDateTime").is_some()),
    );
    check(
        "Encounter",
        "date=sa2021-01-01",
        corpus.ids("Encounter", |e| {
            range(&e["period"])
                .is_some_and(|(l, _)| l > range(&Value::from("2021-01-01")).expect("d").1)
        }),
    );
    check(
        "Observation",
        "_lastUpdated=ge2020-09-13",
        corpus.ids("Observation", |_| true),
    );
    // reference
    let subject_is = |o: &Value| reference(&o["subject"]) == patient_ref;
    check(
        "Observation",
        &format!("subject={patient_ref}"),
        corpus.ids("Observation", subject_is),
    );
    check(
        "Observation",
        &format!("patient={patient_id}"),
        corpus.ids("Observation", subject_is),
    );
    check(
        "Observation",
        &format!("subject:Patient={patient_id}"),
        corpus.ids("Observation", subject_is),
    );
    let org =
        reference(&corpus.of("Encounter").next().expect("encounter")["serviceProvider"]).to_owned();
    check(
        "Encounter",
        &format!("service-provider={org}"),
        corpus.ids("Encounter", |e| reference(&e["serviceProvider"]) == org),
    );
    // quantity: with a UCUM unit the comparison is canonical (pg and g/dL take part in a
    // kg or mg/dL search); the conversion itself is vigil-fhirpath's UCUM table.
    let canonical = |o: &Value| -> Option<(String, f64)> {
        let q = &o["valueQuantity"];
        if q["system"] != "http://unitsofmeasure.org" {
            return None;
        }
        canonical_quantity(&q["value"].to_string(), q["code"].as_str()?)
    };
    let in_unit = |o: &Value, value: &str, unit: &str, keep: &dyn Fn(f64, f64) -> bool| {
        let (target, threshold) = canonical_quantity(value, unit).expect("unit converts");
        canonical(o).is_some_and(|(u, v)| u == target && keep(v, threshold))
    };
    check(
        "Observation",
        "value-quantity=gt100|http://unitsofmeasure.org|mg/dL",
        corpus.ids("Observation", |o| in_unit(o, "100", "mg/dL", &|v, t| v > t)),
    );
    check(
        "Observation",
        "value-quantity=lt60|http://unitsofmeasure.org|kg",
        corpus.ids("Observation", |o| in_unit(o, "60", "kg", &|v, t| v < t)),
    );
    check(
        "Observation",
        "value-quantity=lt60000|http://unitsofmeasure.org|g",
        corpus.ids("Observation", |o| in_unit(o, "60000", "g", &|v, t| v < t)),
    );
    check(
        "Observation",
        "value-quantity=ge180",
        corpus.ids("Observation", |o| {
            o["valueQuantity"]["value"]
                .as_f64()
                .is_some_and(|v| v >= 180.0)
        }),
    );
    check(
        "Observation",
        "value-quantity=ge180||/min",
        corpus.ids("Observation", |o| {
            o["valueQuantity"]["code"] == "/min"
                && o["valueQuantity"]["value"]
                    .as_f64()
                    .is_some_and(|v| v >= 180.0)
        }),
    );
    check(
        "Observation",
        "value-quantity=180",
        corpus.ids("Observation", |o| {
            o["valueQuantity"]["value"]
                .as_f64()
                .is_some_and(|v| (179.5..180.5).contains(&v))
        }),
    );
    // uri
    let profiles = |o: &Value| {
        array(&o["meta"]["profile"])
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let vitals = "http://hl7.org/fhir/StructureDefinition/vitalsigns";
    check(
        "Observation",
        &format!("_profile={vitals}"),
        corpus.ids("Observation", |o| profiles(o).iter().any(|p| p == vitals)),
    );
    check(
        "Observation",
        "_profile:below=http://hl7.org/fhir/us/core/",
        corpus.ids("Observation", |o| {
            profiles(o)
                .iter()
                .any(|p| p.starts_with("http://hl7.org/fhir/us/core/"))
        }),
    );
    check(
        "Observation",
        &format!("_profile:above={vitals}/extra"),
        corpus.ids("Observation", |o| profiles(o).iter().any(|p| p == vitals)),
    );
    // chains
    let patients_by_ref: HashMap<String, &Value> = corpus
        .of("Patient")
        .map(|p| (format!("Patient/{}", id(p)), p))
        .collect();
    check(
        "Observation",
        &format!("patient.family={family}"),
        corpus.ids("Observation", |o| {
            patients_by_ref
                .get(reference(&o["subject"]))
                .is_some_and(|p| family_starts(p, &family))
        }),
    );
    let orgs_by_ref: HashMap<String, &Value> = corpus
        .of("Organization")
        .map(|o| (format!("Organization/{}", id(o)), o))
        .collect();
    let encounters_by_ref: HashMap<String, &Value> = corpus
        .of("Encounter")
        .map(|e| (format!("Encounter/{}", id(e)), e))
        .collect();
    let org_name = orgs_by_ref[&org]["name"]
        .as_str()
        .expect("org name")
        .to_owned();
    check(
        "Observation",
        &format!("encounter.service-provider.name={org_name}"),
        corpus.ids("Observation", |o| {
            encounters_by_ref
                .get(reference(&o["encounter"]))
                .and_then(|e| orgs_by_ref.get(reference(&e["serviceProvider"])))
                .is_some_and(|g| {
                    g["name"]
                        .as_str()
                        .is_some_and(|n| normalize(n).starts_with(&normalize(&org_name)))
                })
        }),
    );
    // _has, nested
    let diabetic: BTreeSet<&str> = corpus
        .of("Condition")
        .filter(|c| has_code(&c["code"], None, "44054006"))
        .map(|c| reference(&c["subject"]))
        .collect();
    check(
        "Patient",
        "_has:Condition:patient:code=44054006",
        corpus.ids("Patient", |p| {
            diabetic.contains(format!("Patient/{}", id(p)).as_str())
        }),
    );
    let encounters_with_hr: BTreeSet<&str> = corpus
        .of("Observation")
        .filter(|o| has_code(&o["code"], None, "8867-4"))
        .map(|o| reference(&o["encounter"]))
        .collect();
    let patients_with: BTreeSet<&str> = corpus
        .of("Encounter")
        .filter(|e| encounters_with_hr.contains(format!("Encounter/{}", id(e)).as_str()))
        .map(|e| reference(&e["subject"]))
        .collect();
    check(
        "Patient",
        "_has:Encounter:patient:_has:Observation:encounter:code=8867-4",
        corpus.ids("Patient", |p| {
            patients_with.contains(format!("Patient/{}", id(p)).as_str())
        }),
    );

    let failures: Vec<_> = checks
        .iter()
        .filter(|(_, expected, got)| expected != got)
        .collect();
    for (query, expected, got) in &failures {
        let missing: Vec<_> = expected.difference(got).take(3).collect();
        let extra: Vec<_> = got.difference(expected).take(3).collect();
        println!(
            "FAIL {query}: expected {}, got {}; missing {missing:?}, extra {extra:?}",
            expected.len(),
            got.len()
        );
    }
    for (query, expected, _) in &checks {
        // Only the case-sensitivity check of :exact is meant to find nothing.
        assert!(
            !expected.is_empty() || query.contains(&family.to_lowercase()),
            "{query} selects nothing: a weak check"
        );
    }
    println!(
        "{} passed, {} failed",
        checks.len() - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty());

    // The in-memory matcher agrees with the SQL on every stored resource of each search's type.
    let searches: Vec<(String, String, Ids)> = checks
        .iter()
        .filter_map(|(name, _, got)| {
            let (resource_type, query) = name.split_once('?')?;
            Some((resource_type.to_owned(), query.to_owned(), got.clone()))
        })
        .collect();
    let started = std::time::Instant::now();
    let (compared, disagreements) = common::matcher_agreement(&engine, &store, &searches);
    println!(
        "matcher: {} searches x stored resources of their type = {compared} comparisons, {} \
         disagreements ({:.1?})",
        searches.len(),
        disagreements.len(),
        started.elapsed()
    );
    for line in disagreements.iter().take(20) {
        println!("DISAGREE {line}");
    }
    assert!(disagreements.is_empty());

    result_parameters(&engine, &store, &corpus, &patient_ref, &patient_id);
}

/// Includes, sorting with paging (also while data changes), compartments and totals.
fn result_parameters(
    engine: &SearchEngine,
    store: &SqliteStore,
    corpus: &Corpus,
    patient_ref: &str,
    patient_id: &str,
) {
    let encounters: Vec<&Value> = corpus
        .of("Encounter")
        .filter(|e| reference(&e["subject"]) == patient_ref)
        .collect();
    // _include
    let request = SearchRequest::from_query(
        SearchScope::Type("Encounter".into()),
        &format!("patient={patient_id}&_include=Encounter:service-provider&_count=1000"),
        false,
    )
    .expect("request");
    let result = engine.search(store, &request).expect("search");
    assert_eq!(result.matches.len(), encounters.len());
    let included: Ids = result
        .included
        .iter()
        .map(|v| format!("{}/{}", v.resource_type, v.id))
        .collect();
    let expected: Ids = encounters
        .iter()
        .map(|e| reference(&e["serviceProvider"]).to_owned())
        .collect();
    assert_eq!(included, expected, "_include");
    // _revinclude
    let request = SearchRequest::from_query(
        SearchScope::Type("Patient".into()),
        &format!("_id={patient_id}&_revinclude=Encounter:patient"),
        false,
    )
    .expect("request");
    let result = engine.search(store, &request).expect("search");
    let included: Ids = result.included.iter().map(|v| v.id.clone()).collect();
    assert_eq!(
        included,
        encounters.iter().map(|e| id(e).to_owned()).collect::<Ids>(),
        "_revinclude"
    );
    // _sort=-date with paging: end of the period descending, then id.
    let mut expected: Vec<(i64, String)> = encounters
        .iter()
        .map(|e| {
            (
                range(&e["period"]).map_or(i64::MIN, |(_, h)| h),
                id(e).to_owned(),
            )
        })
        .collect();
    expected.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
    let mut request = SearchRequest::from_query(
        SearchScope::Type("Encounter".into()),
        &format!("patient={patient_id}&_sort=-date&_count=7"),
        false,
    )
    .expect("request");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = engine.search(store, &request).expect("page");
        seen.extend(page.matches.iter().map(|m| m.id.clone()));
        pages += 1;
        if pages == 2 {
            // A new encounter sorting first appears between page requests: later pages neither
            // repeat nor skip what was already there.
            let mut fresh = encounters[0].clone();
            fresh["id"] = Value::from("zz-new-encounter");
            fresh["period"] =
                serde_json::json!({"start": "2030-01-01T00:00:00Z", "end": "2030-01-01T01:00:00Z"});
            common::load(engine, store, &[fresh]);
        }
        match page.next_cursor {
            Some(cursor) => request.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, expected, "_sort=-date paged by 7 over {pages} pages");
    // Compartment search equals the compartment's reference parameters.
    let request = SearchRequest::from_query(
        SearchScope::Compartment {
            compartment: "Patient".into(),
            id: patient_id.to_owned(),
            resource_type: "Observation".into(),
        },
        "_count=1000&_total=accurate",
        false,
    )
    .expect("request");
    let result = engine.search(store, &request).expect("compartment");
    let expected = corpus.ids("Observation", |o| {
        reference(&o["subject"]) == patient_ref
            || array(&o["performer"]).any(|p| reference(p) == patient_ref)
    });
    assert_eq!(result.total, Some(expected.len() as u64));
    assert_eq!(
        result.matches.iter().map(|m| m.id.clone()).collect::<Ids>(),
        expected
            .iter()
            .take(1000)
            .cloned()
            .collect::<Ids>()
            .union(&Ids::new())
            .cloned()
            .collect::<Ids>()
            .into_iter()
            .filter(|i| result.matches.iter().any(|m| &m.id == i))
            .collect::<Ids>()
    );
    assert_eq!(result.matches.len(), expected.len().min(1000));
    println!(
        "result parameters: includes, paging over {pages} pages, compartment ({} matches) checked",
        expected.len()
    );
}
