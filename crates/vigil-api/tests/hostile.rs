//! Issue 20: generated hostile requests to the in-process router (methods, paths with
//! traversal and very long ids, query strings with long OR lists, repeated parameters, bad
//! modifiers and prefixes, huge numbers, malformed dates, chains and unknown includes, odd
//! headers, and bodies nested deep, with huge arrays, wrong types, duplicate keys, invalid
//! UTF-8, not JSON at all, or Bundles with duplicate fullUrls). Every answer must be:
//!
//! - never a 5xx;
//! - a FHIR OperationOutcome whenever a 4xx has a body;
//! - bounded work: the work units of every stage (`vigil_model::work`) stay below a bound
//!   proportional to the request's size.
//!
//! The run is deterministic (a fixed seed, no failure persistence) and kept to a few hundred
//! cases so that it finishes in well under a minute in a debug build. One test in this binary,
//! so no other request adds to the process-wide work counters.

#![allow(clippy::unwrap_used)]

mod support;

use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::json;
use support::TestServer;
use vigil_model::work;

/// One generated request.
#[derive(Debug, Clone)]
struct Hostile {
    method: String,
    path: String,
    query: Vec<String>,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
}

/// Work units allowed per byte of request, plus a constant for any request. Measured: no case
/// spends more than 4 units a byte (a valid Patient of many names: 2 parse, 1 validate, 1 to
/// 2 extract and store, 1 serialize, all per byte); the bound leaves twice that.
const UNITS_PER_BYTE: u64 = 8;
const UNITS_PER_REQUEST: u64 = 50_000;

fn methods() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("GET"),
        4 => Just("POST"),
        2 => Just("PUT"),
        2 => Just("PATCH"),
        2 => Just("DELETE"),
        1 => Just("HEAD"),
        1 => Just("OPTIONS"),
        1 => Just("TRACE"),
        1 => Just("FROB"),
    ]
    .prop_map(str::to_owned)
}

fn paths() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("/Patient".to_owned()),
        2 => Just("/Observation".to_owned()),
        2 => Just("/".to_owned()),
        2 => Just("/Patient/p1".to_owned()),
        1 => Just("/Patient/_search".to_owned()),
        1 => Just("/Patient/p1/_history".to_owned()),
        1 => Just("/Patient/p1/_history/1".to_owned()),
        1 => Just("/Patient/p1/_history/99999999999999999999999".to_owned()),
        1 => Just("/_history".to_owned()),
        1 => Just("/metadata".to_owned()),
        1 => Just("/Bogus".to_owned()),
        1 => Just("/Bogus/1".to_owned()),
        1 => Just("/patient/p1".to_owned()),
        1 => Just("/Patient/..%2F..%2Fetc%2Fpasswd".to_owned()),
        1 => Just("/Patient/%2e%2e/%2e%2e/Observation".to_owned()),
        1 => Just("/Patient/p1/$everything".to_owned()),
        1 => Just("/Patient/$validate".to_owned()),
        1 => Just("/Patient/p1/$bogus".to_owned()),
        1 => Just("/Patient/a%00b".to_owned()),
        1 => Just("//Patient///p1".to_owned()),
        1 => (1usize..5_000).prop_map(|n| format!("/Patient/{}", "a".repeat(n))),
        1 => "[A-Za-z0-9._%$-]{1,30}".prop_map(|segment| format!("/Patient/{segment}")),
    ]
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn list(prefix: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("{prefix}{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn query_parameters() -> impl Strategy<Value = String> {
    prop_oneof![
        (1usize..800).prop_map(|n| format!("name={}", list("n", n))),
        (1usize..800).prop_map(|n| format!("_id={}", list("id", n))),
        (1usize..300).prop_map(|n| format!("birthdate={}", list("ge2020-01-0", n))),
        (1usize..300).prop_map(|n| vec!["name=a"; n].join("&")),
        (1usize..300).prop_map(|n| vec!["_sort=name"; n].join("&")),
        Just("name:bogus=x".to_owned()),
        Just("name:exact:missing=x".to_owned()),
        Just("birthdate=xx2020".to_owned()),
        Just("birthdate=0000-00-00".to_owned()),
        Just("birthdate=2020-13-45T99:99".to_owned()),
        Just("birthdate=ge99999999999999999999".to_owned()),
        Just("_count=99999999999999999999".to_owned()),
        Just("_count=-1".to_owned()),
        Just("_count=0".to_owned()),
        Just("value-quantity=gt1e400".to_owned()),
        Just("value-quantity=lt-1e-400|http://unitsofmeasure.org|mg".to_owned()),
        Just("subject:Patient.name=x".to_owned()),
        Just("subject.name.family.given=x".to_owned()),
        Just("subject:Bogus.name=x".to_owned()),
        Just("_has:Observation:patient:code=x".to_owned()),
        Just("_has:Bogus:x:y=z".to_owned()),
        Just("_include=Patient:bogus".to_owned()),
        Just("_include=*".to_owned()),
        Just("_include:iterate=Observation:subject".to_owned()),
        Just("_revinclude=Bogus:x".to_owned()),
        Just("_sort=-bogus".to_owned()),
        Just("_elements=,,,.".to_owned()),
        Just("_summary=bogus".to_owned()),
        Just("_total=accurate".to_owned()),
        Just("_format=xml".to_owned()),
        Just("_text=x".to_owned()),
        Just("_filter=name eq x".to_owned()),
        Just("_cursor=garbage".to_owned()),
        Just("%ZZ=%ZZ".to_owned()),
        Just("name=%C3%28".to_owned()),
        Just("=x&&&=".to_owned()),
        ("[a-z_:.-]{1,20}", "[ -~]{0,40}").prop_map(|(k, v)| format!("{k}={}", encode(&v))),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    let header = prop_oneof![
        prop_oneof![
            Just("application/fhir+json"),
            Just("application/json"),
            Just("application/fhir+xml"),
            Just("text/html"),
            Just("*/*"),
            Just("application/fhir+json; fhirVersion=3.0"),
            Just("garbage;;;q=x"),
            Just(""),
        ]
        .prop_map(|v| ("accept", v.to_owned())),
        prop_oneof![
            Just("application/fhir+json"),
            Just("application/json"),
            Just("application/json-patch+json"),
            Just("application/x-www-form-urlencoded"),
            Just("text/plain"),
            Just("multipart/form-data; boundary=x"),
            Just("application/fhir+json; charset=latin1"),
            Just(""),
        ]
        .prop_map(|v| ("content-type", v.to_owned())),
        prop_oneof![
            Just("W/\"1\""),
            Just("W/\"1"),
            Just("*"),
            Just("\"\""),
            Just("garbage"),
            Just("W/\"99999999999999999999999\""),
        ]
        .prop_map(|v| ("if-match", v.to_owned())),
        prop_oneof![Just("*"), Just("W/\"1\""), Just("W/\""), Just("x")]
            .prop_map(|v| ("if-none-match", v.to_owned())),
        prop_oneof![Just("garbage"), Just("Mon, 01 Jan 3000 00:00:00 GMT")]
            .prop_map(|v| ("if-modified-since", v.to_owned())),
        prop_oneof![
            Just("return=representation"),
            Just("return=OperationOutcome"),
            Just("return=minimal"),
            Just("handling=strict"),
            Just("handling=lenient"),
            Just("respond-async"),
            Just("garbage=;;"),
        ]
        .prop_map(|v| ("prefer", v.to_owned())),
        prop_oneof![Just("name=x"), Just("bogus=1"), Just(""), Just("%ZZ")]
            .prop_map(|v| ("if-none-exist", v.to_owned())),
        prop_oneof![Just("gzip"), Just("br"), Just("identity"), Just("x-bogus")]
            .prop_map(|v| ("content-encoding", v.to_owned())),
        "[ -~]{0,60}".prop_map(|v| ("x-request-id", v)),
    ];
    prop::collection::vec(header, 1..4)
}

/// A Patient whose first name has `n` given names.
fn given_names(n: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({"resourceType": "Patient", "name": [{"given": vec!["G"; n]}]}))
        .unwrap()
}

/// A Patient with `n` names (about six index rows each).
fn names(n: usize) -> Vec<u8> {
    let names: Vec<_> = (0..n)
        .map(|i| json!({"family": format!("F{i}"), "given": [format!("G{i}")]}))
        .collect();
    serde_json::to_vec(&json!({"resourceType": "Patient", "name": names})).unwrap()
}

/// A Bundle of `kind` with `n` entries, all of one fullUrl when `same_url`.
fn bundle(kind: &str, n: usize, same_url: bool, url: &str) -> Vec<u8> {
    let entries: Vec<_> = (0..n)
        .map(|i| {
            let full_url = format!(
                "urn:uuid:6f0c6a8e-8d0e-4a53-9b3f-{:012}",
                if same_url { 0 } else { i }
            );
            json!({"fullUrl": full_url, "resource": {"resourceType": "Patient", "active": true},
                "request": {"method": "POST", "url": url}})
        })
        .collect();
    serde_json::to_vec(&json!({"resourceType": "Bundle", "type": kind, "entry": entries})).unwrap()
}

/// Patients that are large, deep or over a limit (PUT to `Patient/p2`, so with that id).
fn patient_bodies() -> impl Strategy<Value = Vec<u8>> {
    let with_id = |mut body: Vec<u8>| {
        // `{"resourceType":...` becomes `{"id":"p2","resourceType":...`.
        body.splice(1..1, br#""id":"p2","#.iter().copied());
        body
    };
    prop_oneof![
        prop_oneof![Just(10usize), Just(10_000), Just(10_001), 0usize..12_000]
            .prop_map(given_names),
        prop_oneof![Just(1usize), Just(3_000), Just(4_000), 0usize..5_000].prop_map(names),
        (1usize..80).prop_map(|d| {
            let mut value = json!({"url": "http://x/leaf", "valueString": "x"});
            for _ in 0..d {
                value = json!({"url": "http://x/e", "extension": [value]});
            }
            serde_json::to_vec(&json!({"resourceType": "Patient", "extension": [value]})).unwrap()
        }),
    ]
    .prop_map(with_id)
}

fn bodies() -> impl Strategy<Value = Option<Vec<u8>>> {
    let text = |s: &str| Some(s.as_bytes().to_vec());
    prop_oneof![
        2 => Just(None),
        3 => Just(text(r#"{"resourceType": "Patient", "id": "p1", "name": [{"family": "F"}]}"#)),
        2 => (1usize..400).prop_map(|d| Some(format!("{}{}", "[".repeat(d), "]".repeat(d)).into_bytes())),
        2 => (1usize..200).prop_map(|d| {
            let mut value = json!({"url": "http://x/leaf", "valueString": "x"});
            for _ in 0..d {
                value = json!({"url": "http://x/e", "extension": [value]});
            }
            Some(serde_json::to_vec(&json!({"resourceType": "Patient", "extension": [value]})).unwrap())
        }),
        3 => prop_oneof![Just(10usize), Just(10_000), Just(10_001), 0usize..12_000]
            .prop_map(|n| Some(given_names(n))),
        3 => prop_oneof![Just(1usize), Just(3_000), Just(4_000), 0usize..5_000]
            .prop_map(|n| Some(names(n))),
        1 => Just(text(r#"{"resourceType": "Patient", "name": "x", "birthDate": 5}"#)),
        1 => Just(text(r#"{"resourceType": 5}"#)),
        1 => Just(text(r#"{"resourceType": "Patient", "id": "a", "id": "b"}"#)),
        1 => Just(text("[]")),
        1 => Just(text("null")),
        1 => Just(text("1e400")),
        1 => Just(text("<Patient xmlns=\"http://hl7.org/fhir\"/>")),
        1 => Just(Some(b"{\"resourceType\": \"Patient\", \"id\": \"\xff\xfe\"}".to_vec())),
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Some),
        1 => "[ -~]{0,200}".prop_map(|s| Some(s.into_bytes())),
        1 => Just(text(r#"[{"op": "add", "path": "/name", "value": [{"family": "X"}]}]"#)),
        1 => Just(text(r#"[{"op": "move", "from": "/a/b/c", "path": "/a/b/c/d"}]"#)),
        3 => (prop_oneof![Just("transaction"), Just("batch"), Just("collection"), Just("bogus")],
              0usize..50, any::<bool>(),
              prop_oneof![Just("Patient"), Just("Bogus"), Just("Patient/..%2F.."), Just("")])
            .prop_map(|(kind, n, same, url)| Some(bundle(kind, n, same, url))),
    ]
}

fn hostile() -> impl Strategy<Value = Hostile> {
    let types = prop_oneof![3 => Just("Patient"), 1 => Just("Observation"), 1 => Just("Bogus")];
    let shaped = prop_oneof![
        // large Patients through create and update
        4 => (patient_bodies(), any::<bool>()).prop_map(|(body, put)| if put {
            ("PUT".to_owned(), "/Patient/p2".to_owned(), Some(body))
        } else {
            ("POST".to_owned(), "/Patient".to_owned(), Some(body))
        }),
        // create, update and conditional writes
        3 => (types.clone(), bodies()).prop_map(|(t, body)| ("POST".to_owned(), format!("/{t}"), body)),
        2 => (paths(), bodies()).prop_map(|(path, body)| ("PUT".to_owned(), path, body)),
        // transaction and batch
        3 => bodies().prop_map(|body| ("POST".to_owned(), "/".to_owned(), body)),
        // searches, reads and history
        3 => paths().prop_map(|path| ("GET".to_owned(), path, None)),
        1 => (types, bodies()).prop_map(|(t, body)| ("POST".to_owned(), format!("/{t}/_search"), body)),
        1 => (paths(), bodies()).prop_map(|(path, body)| ("PATCH".to_owned(), path, body)),
        // anything with anything
        2 => (methods(), paths(), bodies()),
    ];
    (
        shaped,
        prop_oneof![
            2 => Just(Vec::new()),
            1 => prop::collection::vec(query_parameters(), 1..4),
        ],
        prop_oneof![2 => Just(Vec::new()), 1 => headers()],
    )
        .prop_map(|((method, path, body), query, headers)| Hostile {
            method,
            path,
            query,
            headers,
            body,
        })
}

fn check(
    runtime: &tokio::runtime::Runtime,
    server: &TestServer,
    case: Hostile,
) -> Result<(), TestCaseError> {
    let uri = if case.query.is_empty() {
        case.path.clone()
    } else {
        format!("{}?{}", case.path, case.query.join("&"))
    };
    let mut builder = Request::builder()
        .method(case.method.as_str())
        .uri(uri.as_str())
        .header("host", "localhost");
    let mut size = uri.len() + case.method.len();
    // FHIR JSON unless the case says otherwise (a JSON Patch body as such).
    if !case.headers.iter().any(|(name, _)| *name == "content-type") {
        let json_patch = case
            .body
            .as_ref()
            .is_some_and(|b| b.starts_with(b"[{\"op\""));
        let content_type = if json_patch {
            "application/json-patch+json"
        } else {
            "application/fhir+json"
        };
        builder = builder.header("content-type", content_type);
    }
    for (name, value) in &case.headers {
        builder = builder.header(*name, value.as_str());
        size += name.len() + value.len();
    }
    let body = case.body.clone().unwrap_or_default();
    size += body.len();
    // What no HTTP connection could carry (a URI or header the http crate refuses) never
    // reaches the router.
    let Ok(request) = builder.body(Body::from(body)) else {
        return Ok(());
    };
    let before: u64 = work::global_all().iter().sum();
    let answer = runtime.block_on(server.send(request));
    let spent = work::global_all().iter().sum::<u64>() - before;
    let status = answer.status;
    // HOSTILE_VERBOSE=1 prints every case, to see what the generator reaches.
    if std::env::var_os("HOSTILE_VERBOSE").is_some() {
        eprintln!(
            "{status} {spent} units, {size} bytes: {} {} {:?} -> {}",
            case.method,
            &uri[..uri.len().min(80)],
            case.headers,
            &answer.text()[..answer.text().len().min(160)]
        );
    }
    let what = format!(
        "{} {} ({} body bytes, headers {:?}) -> {status}: {}",
        case.method,
        &uri[..uri.len().min(200)],
        case.body.as_ref().map_or(0, Vec::len),
        case.headers,
        &answer.text()[..answer.text().len().min(300)]
    );
    prop_assert!(!status.is_server_error(), "a 5xx: {}", what);
    if status.is_client_error() && !answer.body.is_empty() {
        prop_assert_eq!(
            &answer.json()["resourceType"],
            "OperationOutcome",
            "a 4xx body that is not an OperationOutcome: {}",
            what
        );
    }
    let bound = UNITS_PER_BYTE * size as u64 + UNITS_PER_REQUEST;
    prop_assert!(
        spent <= bound,
        "{} work units for a request of {} bytes: {}",
        spent,
        size,
        what
    );
    Ok(())
}

#[test]
fn hostile_requests_get_bounded_work_and_an_operation_outcome_never_a_5xx() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = TestServer::new();
    // A little data for searches, reads, chains and includes to find.
    runtime.block_on(server.put_all(vec![
        json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "F", "given": ["G"]}],
            "birthDate": "2000-01-01"}),
        json!({"resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "x"}]},
            "subject": {"reference": "Patient/p1"}, "valueQuantity": {"value": 1.5}}),
    ]));
    let config = Config {
        cases: 256,
        failure_persistence: None,
        max_shrink_iters: 64,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let result = runner.run(&hostile(), |case| check(&runtime, &server, case));
    if let Err(error) = result {
        panic!("{error}");
    }
}
