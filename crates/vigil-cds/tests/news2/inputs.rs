//! Input selection: codes, units, window, status, effective time, ties, and what is remembered.

use serde_json::json;
use vigil_cds::{Consciousness, InputOptions, Parameter, Reading, SpO2Scale, collect_inputs};

use crate::fixtures::{AT, acvpu_code, bp_panel, normal_set, number, quantity, replace, scored};

fn reading(observations: &[serde_json::Value], parameter: Parameter) -> Option<Reading> {
    let inputs = collect_inputs(observations, &InputOptions::default());
    inputs.get(parameter).map(|i| i.reading.clone())
}

fn dec(text: &str) -> rust_decimal::Decimal {
    text.parse().unwrap()
}

#[test]
fn a_full_normal_set_is_complete_with_total_zero_and_seven_inputs() {
    let (inputs, result) = scored(&normal_set(AT), SpO2Scale::Scale1);
    assert!(result.complete);
    assert_eq!(result.total, 0);
    assert_eq!(result.risk.code, "low");
    assert_eq!(inputs.iter().count(), 7);
    assert_eq!(inputs.references().len(), 7);
    assert!(inputs.skipped.is_empty());
}

#[test]
fn the_latest_reading_in_the_window_wins_and_older_ones_fall_outside() {
    let observations = vec![
        quantity("old", "8867-4", "140", "/min", "2026-12-07T08:30:00Z"),
        quantity("earlier", "8867-4", "120", "/min", "2026-12-07T09:30:00Z"),
        quantity("latest", "8867-4", "80", "/min", "2026-12-07T09:50:00Z"),
        quantity("rr", "9279-1", "16", "/min", AT),
        quantity("old-temp", "8310-5", "39.5", "Cel", "2026-12-07T08:59:59Z"),
    ];
    let inputs = collect_inputs(&observations, &InputOptions::default());
    assert_eq!(
        inputs.get(Parameter::Pulse).unwrap().reference,
        "Observation/latest"
    );
    assert!(
        inputs.get(Parameter::Temperature).is_none(),
        "61 minutes before the newest"
    );
    let wide = InputOptions {
        window_micros: 2 * 60 * 60 * 1_000_000,
        ..InputOptions::default()
    };
    let inputs = collect_inputs(&observations, &wide);
    assert_eq!(
        inputs.get(Parameter::Temperature).unwrap().reference,
        "Observation/old-temp"
    );
}

#[test]
fn the_window_edge_is_inclusive() {
    let observations = vec![
        quantity("edge", "8867-4", "80", "/min", "2026-12-07T09:00:00Z"),
        quantity("rr", "9279-1", "16", "/min", AT),
    ];
    let inputs = collect_inputs(&observations, &InputOptions::default());
    assert!(inputs.get(Parameter::Pulse).is_some());
}

#[test]
fn ties_go_to_the_later_observation_in_order() {
    let observations = vec![
        quantity("first", "8867-4", "80", "/min", AT),
        quantity("second", "8867-4", "90", "/min", AT),
    ];
    let inputs = collect_inputs(&observations, &InputOptions::default());
    assert_eq!(
        inputs.get(Parameter::Pulse).unwrap().reference,
        "Observation/second"
    );
}

#[test]
fn entered_in_error_and_cancelled_are_ignored_and_listed() {
    let mut wrong = quantity("wrong", "8867-4", "150", "/min", "2026-12-07T10:05:00Z");
    wrong["status"] = json!("entered-in-error");
    let mut cancelled = quantity("cancelled", "9279-1", "30", "/min", AT);
    cancelled["status"] = json!("cancelled");
    let observations = vec![quantity("ok", "8867-4", "70", "/min", AT), wrong, cancelled];
    let inputs = collect_inputs(&observations, &InputOptions::default());
    assert_eq!(
        inputs.get(Parameter::Pulse).unwrap().reference,
        "Observation/ok"
    );
    assert!(inputs.get(Parameter::RespirationRate).is_none());
    let skipped: Vec<_> = inputs
        .skipped
        .iter()
        .filter_map(|s| s.reference.as_deref())
        .collect();
    assert_eq!(skipped, ["Observation/wrong", "Observation/cancelled"]);
}

#[test]
fn effective_time_falls_back_to_period_end_then_issued() {
    let mut by_period = quantity("period", "8867-4", "70", "/min", AT);
    by_period
        .as_object_mut()
        .unwrap()
        .remove("effectiveDateTime");
    by_period["effectivePeriod"] =
        json!({ "start": "2026-12-07T09:00:00Z", "end": "2026-12-07T09:10:00Z" });
    let mut by_issued = quantity("issued", "9279-1", "16", "/min", AT);
    by_issued
        .as_object_mut()
        .unwrap()
        .remove("effectiveDateTime");
    by_issued["issued"] = json!("2026-12-07T10:05:00.000Z");
    let mut timeless = quantity("timeless", "8310-5", "37", "Cel", AT);
    timeless
        .as_object_mut()
        .unwrap()
        .remove("effectiveDateTime");
    let observations = vec![by_period, by_issued, timeless];
    let inputs = collect_inputs(&observations, &InputOptions::default());
    assert_eq!(
        inputs.get(Parameter::Pulse).unwrap().effective,
        "2026-12-07T09:10:00Z"
    );
    assert_eq!(
        inputs.newest().unwrap().effective,
        "2026-12-07T10:05:00.000Z"
    );
    assert!(inputs.get(Parameter::Temperature).is_none());
    assert_eq!(inputs.skipped[0].reason, "no effective time");
}

#[test]
fn spo2_by_either_code_and_one_input_for_a_doubly_coded_observation() {
    let observation = json!({
        "resourceType": "Observation", "id": "sat", "status": "final",
        "code": { "coding": [
            { "system": "http://loinc.org", "code": "2708-6" },
            { "system": "http://loinc.org", "code": "59408-5" },
        ]},
        "effectiveDateTime": AT,
        "valueQuantity": { "value": 95, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%" },
    });
    let inputs = collect_inputs(&[observation], &InputOptions::default());
    let input = inputs.get(Parameter::OxygenSaturation).unwrap();
    assert_eq!(input.loinc, "2708-6");
    assert_eq!(inputs.iter().count(), 1);
}

#[test]
fn systolic_from_a_panel_component() {
    let inputs = collect_inputs(&[bp_panel("bp", "95", AT)], &InputOptions::default());
    let input = inputs.get(Parameter::SystolicBloodPressure).unwrap();
    assert_eq!(input.reading, Reading::Quantity(dec("95")));
    assert_eq!(input.reference, "Observation/bp");
    let mut vital_signs = bp_panel("bp2", "150", AT);
    vital_signs["code"]["coding"][0]["code"] = json!("55284-4");
    assert_eq!(
        reading(&[vital_signs], Parameter::SystolicBloodPressure),
        Some(Reading::Quantity(dec("150")))
    );
    let mut no_systolic = bp_panel("bp3", "150", AT);
    no_systolic["component"].as_array_mut().unwrap().remove(0);
    let inputs = collect_inputs(&[no_systolic], &InputOptions::default());
    assert!(inputs.get(Parameter::SystolicBloodPressure).is_none());
    assert!(inputs.skipped[0].reason.contains("without a systolic"));
}

#[test]
fn fahrenheit_is_converted_and_a_unitless_temperature_is_refused() {
    let read = reading(
        &[quantity("t", "8310-5", "98.6", "[degF]", AT)],
        Parameter::Temperature,
    );
    let Some(Reading::Quantity(celsius)) = read else {
        panic!("no temperature: {read:?}");
    };
    assert_eq!(celsius.round_dp(1), dec("37.0"));
    let mut unitless = quantity("t", "8310-5", "37", "Cel", AT);
    unitless["valueQuantity"] = json!({ "value": number("37") });
    let inputs = collect_inputs(&[unitless], &InputOptions::default());
    assert!(inputs.get(Parameter::Temperature).is_none());
    assert_eq!(inputs.skipped[0].reason, "no unit");
}

#[test]
fn wrong_units_and_comparators_are_skipped() {
    let kilopascal = quantity("bp", "8480-6", "16", "kPa", AT);
    let mut below = quantity("sat", "59408-5", "90", "%", AT);
    below["valueQuantity"]["comparator"] = json!("<");
    let inputs = collect_inputs(&[kilopascal, below], &InputOptions::default());
    assert_eq!(inputs.iter().count(), 0);
    assert!(inputs.skipped[0].reason.contains("\"kPa\""));
    assert!(inputs.skipped[1].reason.contains("comparator"));
}

#[test]
fn air_or_oxygen_from_flow_rate_or_concentration() {
    let cases = [
        ("3151-8", "0", "L/min", Some(false)),
        ("3151-8", "1", "L/min", Some(true)),
        ("3151-8", "-1", "L/min", None),
        ("3150-0", "21", "%", Some(false)),
        ("3150-0", "21.1", "%", Some(true)),
        ("3150-0", "20", "%", None),
        ("3150-0", "101", "%", None),
    ];
    for (code, value, unit, expected) in cases {
        let read = reading(
            &[quantity("o", code, value, unit, AT)],
            Parameter::AirOrOxygen,
        );
        assert_eq!(read, expected.map(Reading::OnOxygen), "{code} {value}");
    }
}

#[test]
fn consciousness_by_code_text_display_or_letter() {
    let by_text = json!({
        "resourceType": "Observation", "id": "c", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "67775-7" }] },
        "effectiveDateTime": AT,
        "valueCodeableConcept": { "text": "  New Confusion " },
    });
    assert_eq!(
        reading(&[by_text], Parameter::Consciousness),
        Some(Reading::Consciousness(Consciousness::NewConfusion))
    );
    let by_display = json!({
        "resourceType": "Observation", "id": "c", "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "67775-7" }] },
        "effectiveDateTime": AT,
        "valueCodeableConcept": { "coding": [{ "system": "http://example.org/local", "code": "x", "display": "Responds to pain" }] },
    });
    assert_eq!(
        reading(&[by_display], Parameter::Consciousness),
        Some(Reading::Consciousness(Consciousness::Pain))
    );
    assert_eq!(
        reading(
            &[crate::fixtures::acvpu_text("c", "U", AT)],
            Parameter::Consciousness
        ),
        Some(Reading::Consciousness(Consciousness::Unresponsive))
    );
    let unknown = acvpu_code("c", "12345", AT);
    let inputs = collect_inputs(&[unknown], &InputOptions::default());
    assert!(inputs.get(Parameter::Consciousness).is_none());
    assert!(inputs.skipped[0].reason.contains("ACVPU"));
}

#[test]
fn unrelated_and_malformed_resources_are_ignored_without_panicking() {
    let observations = vec![
        json!({ "resourceType": "Patient", "id": "p1" }),
        json!("not an object"),
        json!({ "resourceType": "Observation", "id": "hr", "status": "final",
                "code": { "coding": [{ "system": "http://loinc.org", "code": "8867-4" }] },
                "effectiveDateTime": "not a date", "valueQuantity": { "value": 70 } }),
        json!({ "resourceType": "Observation", "status": "final",
                "code": { "coding": [{ "system": "http://loinc.org", "code": "8867-4" }] },
                "effectiveDateTime": AT, "valueQuantity": { "value": 70 } }),
        json!({ "resourceType": "Observation", "id": "big", "status": "final",
                "code": { "coding": [{ "system": "http://loinc.org", "code": "8310-5" }] },
                "effectiveDateTime": AT,
                "valueQuantity": { "value": number("1e300"), "code": "[degF]" } }),
        json!({ "resourceType": "Observation", "id": "huge", "status": "final",
                "code": { "coding": [{ "system": "http://loinc.org", "code": "8310-5" }] },
                "effectiveDateTime": AT,
                "valueQuantity": { "value": number("79228162514264337593543950335"), "code": "[degF]" } }),
        json!({ "resourceType": "Observation", "id": "weight", "status": "final",
                "code": { "coding": [{ "system": "http://loinc.org", "code": "29463-7" }] },
                "effectiveDateTime": AT, "valueQuantity": { "value": 70 } }),
    ];
    let inputs = collect_inputs(&observations, &InputOptions::default());
    assert_eq!(inputs.iter().count(), 0);
    assert_eq!(inputs.skipped.len(), 4, "{:#?}", inputs.skipped);
}

#[test]
fn the_version_and_reference_of_each_input_are_remembered() {
    let mut pulse = quantity("pulse", "8867-4", "70", "/min", AT);
    pulse["meta"] = json!({ "versionId": "3" });
    let set = replace(normal_set(AT), "pulse", pulse);
    let inputs = collect_inputs(&set, &InputOptions::default());
    let input = inputs.get(Parameter::Pulse).unwrap();
    assert_eq!(input.version_id.as_deref(), Some("3"));
    assert_eq!(input.loinc, "8867-4");
    let references = inputs.references();
    assert!(references.contains(&"Observation/pulse"));
    assert_eq!(references.len(), 7);
}

#[test]
fn a_future_reading_is_skipped_when_the_caller_gives_its_clock() {
    let observations = vec![
        quantity("typo", "8867-4", "70", "/min", "2027-12-07T10:00:00Z"),
        quantity("rr", "9279-1", "16", "/min", AT),
    ];
    let inputs = collect_inputs(&observations, &InputOptions::default());
    assert!(
        inputs.get(Parameter::RespirationRate).is_none(),
        "the typo ends the window"
    );
    let now = vigil_model::instant::parse_instant_micros("2026-12-07T10:01:00Z").unwrap();
    let clocked = InputOptions {
        not_after_micros: Some(now),
        ..InputOptions::default()
    };
    let inputs = collect_inputs(&observations, &clocked);
    assert!(inputs.get(Parameter::RespirationRate).is_some());
    assert!(inputs.get(Parameter::Pulse).is_none());
    assert!(inputs.skipped[0].reason.contains("in the future"));
}
