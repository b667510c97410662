//! Bad input never panics: Observations with NEWS2 codes and random shapes (wrong JSON types,
//! odd units, huge or negative numbers, missing parts) go through inputs, score and outputs;
//! whatever is produced is valid FHIR.

use proptest::prelude::*;
use serde_json::{Value, json};
use vigil_cds::{InputOptions, SpO2Scale, alert_task, collect_inputs, score, score_observation};
use vigil_model::validate::validate_resource;

use crate::fixtures::{chart, number};

const CODES: [&str; 12] = [
    "9279-1", "59408-5", "2708-6", "8480-6", "85354-9", "55284-4", "8867-4", "8310-5", "67775-7",
    "3151-8", "3150-0", "0000-0",
];
const UNITS: [&str; 9] = [
    "/min", "%", "mm[Hg]", "Cel", "[degF]", "L/min", "kg", "", "F",
];
const NUMBERS: [&str; 10] = [
    "0",
    "-5",
    "21",
    "36.55",
    "1e3",
    "1e400",
    "79228162514264337593543950335",
    "0.000000000000000000000000000001",
    "97",
    "250",
];

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0..NUMBERS.len()).prop_map(|i| number(NUMBERS[i])),
        Just(json!("12")),
        Just(json!(null)),
        Just(json!({})),
        Just(json!([1, 2])),
        Just(json!(true)),
    ]
}

fn observation() -> impl Strategy<Value = Value> {
    (
        0..CODES.len(),
        prop_oneof![
            Just("final"),
            Just("entered-in-error"),
            Just("amended"),
            Just("bogus")
        ],
        value(),
        0..UNITS.len(),
        prop_oneof![
            Just(json!("2026-12-07T10:00:00Z")),
            Just(json!("2026-12-07T09:00:00")),
            Just(json!("2026")),
            Just(json!("yesterday")),
            Just(json!(42)),
        ],
        any::<bool>(),
        prop_oneof![
            Just(json!({ "text": "Voice" })),
            Just(json!({ "coding": [{ "system": "http://snomed.info/sct", "code": 248234008 }] })),
            Just(json!("alert")),
            Just(json!(null)),
        ],
    )
        .prop_map(|(code, status, value, unit, at, with_id, concept)| {
            let mut o = json!({
                "resourceType": "Observation",
                "status": status,
                "code": { "coding": [{ "system": "http://loinc.org", "code": CODES[code] }] },
                "effectiveDateTime": at,
                "valueQuantity": { "value": value.clone(), "code": UNITS[unit] },
                "valueCodeableConcept": concept,
                "component": [{
                    "code": { "coding": [{ "system": "http://loinc.org", "code": "8480-6" }] },
                    "valueQuantity": value,
                }],
            });
            if with_id {
                o["id"] = json!(format!("o{code}"));
            }
            o
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn odd_observations_never_panic_and_outputs_stay_valid(
        observations in proptest::collection::vec(observation(), 0..12),
        scale_2 in any::<bool>(),
    ) {
        let inputs = collect_inputs(&observations, &InputOptions::default());
        let scale = if scale_2 { SpO2Scale::Scale2 } else { SpO2Scale::Scale1 };
        let result = score(chart(), &inputs, scale).unwrap();
        prop_assert!(result.total <= chart().max_total);
        if let Ok(observation) = score_observation(&result, &inputs, "Patient/p1") {
            prop_assert!(validate_resource(&observation).is_empty(), "{:#}", observation);
        }
        if let Some(task) = alert_task(&result, "Patient/p1", "Observation/s", i64::MAX).unwrap() {
            prop_assert!(validate_resource(&task).is_empty(), "{:#}", task);
        }
    }
}
