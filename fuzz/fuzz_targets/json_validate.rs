//! Fuzz target: any bytes must parse to JSON or give a `ParseError`; any JSON must validate to a
//! list of issues (never a panic). A resource without errors must survive the round trip: its
//! compact and pretty serializations parse back to the same value (numbers as written) and
//! still validate; its `_summary` and `_elements` subsets are valid resources too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use vigil_model::elements::{self, SummaryMode};
use vigil_model::outcome::{has_errors, operation_outcome};
use vigil_model::{json, validate};

const SUMMARIES: [SummaryMode; 4] = [
    SummaryMode::True,
    SummaryMode::Text,
    SummaryMode::Data,
    SummaryMode::Count,
];

fuzz_target!(|data: &[u8]| {
    let Ok(value) = json::parse(data) else {
        return;
    };
    let issues = validate::validate_resource(&value);
    // Rendering the issues (messages, paths) must not panic either.
    let _ = json::to_vec(&operation_outcome(&issues));
    if has_errors(&issues) {
        return;
    }
    round_trip(&value, &json::to_vec(&value));
    round_trip(&value, &json::to_vec_pretty(&value));
    for mode in SUMMARIES {
        assert_valid(&elements::summarize(&value, mode), mode.as_param());
    }
    let names = top_level_names(&value);
    let half: Vec<&str> = names.iter().step_by(2).copied().collect();
    assert_valid(&elements::select_elements(&value, &half), "_elements");
});

/// The serialized bytes parse back to the same value, which is still valid.
fn round_trip(value: &Value, bytes: &[u8]) {
    let again = match json::parse(bytes) {
        Ok(again) => again,
        Err(error) => panic!("serialized resource does not parse: {error}"),
    };
    assert_eq!(&again, value, "round trip changed the resource");
    assert!(
        !has_errors(&validate::validate_resource(&again)),
        "round trip made the resource invalid"
    );
}

/// A subset of a valid resource must be a valid resource.
fn assert_valid(subset: &Value, what: &str) {
    let issues = validate::validate_resource(subset);
    assert!(
        !has_errors(&issues),
        "{what} subset is invalid: {:?}\n{}",
        issues,
        String::from_utf8_lossy(&json::to_vec(subset))
    );
}

fn top_level_names(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .map(|object| object.keys().map(String::as_str).collect())
        .unwrap_or_default()
}
