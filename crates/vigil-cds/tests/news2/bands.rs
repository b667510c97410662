//! Every band edge of every parameter, through real Observations: both sides of each boundary,
//! both SpO2 scales, on air and on oxygen, °C and °F, rounding; then the risk rules.

use serde_json::Value;
use vigil_cds::{Parameter, SpO2Scale};

use crate::fixtures::{AT, acvpu_code, acvpu_text, bp_panel, quantity, scored};

/// One row: what to observe, on which scale, and the expected sub-score of `parameter`.
struct Row {
    parameter: Parameter,
    observations: Vec<Value>,
    scale: SpO2Scale,
    expected: u8,
    label: String,
}

fn single(parameter: Parameter, loinc: &str, unit: &str, values: &[(&str, u8)]) -> Vec<Row> {
    values
        .iter()
        .map(|(value, expected)| Row {
            parameter,
            observations: vec![quantity("x", loinc, value, unit, AT)],
            scale: SpO2Scale::Scale1,
            expected: *expected,
            label: format!("{loinc} {value} {unit}"),
        })
        .collect()
}

fn spo2(scale: SpO2Scale, oxygen: Option<bool>, values: &[(&str, u8)]) -> Vec<Row> {
    values
        .iter()
        .map(|(value, expected)| {
            let mut observations = vec![quantity("s", "59408-5", value, "%", AT)];
            if let Some(on) = oxygen {
                let flow = if on { "2" } else { "0" };
                observations.push(quantity("o", "3151-8", flow, "L/min", AT));
            }
            Row {
                parameter: Parameter::OxygenSaturation,
                observations,
                scale,
                expected: *expected,
                label: format!("SpO2 {value} {scale:?} oxygen={oxygen:?}"),
            }
        })
        .collect()
}

fn respiration_rows() -> Vec<Row> {
    use Parameter::*;
    let mut rows = Vec::new();
    rows.extend(single(
        RespirationRate,
        "9279-1",
        "/min",
        &[
            ("0", 3),
            ("8", 3),
            ("8.4", 3),
            ("8.5", 1),
            ("9", 1),
            ("11", 1),
            ("12", 0),
            ("20", 0),
            ("21", 2),
            ("24", 2),
            ("25", 3),
            ("60", 3),
        ],
    ));
    rows
}

fn spo2_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    let scale_1 = [
        ("50", 3),
        ("91", 3),
        ("92", 2),
        ("93", 2),
        ("94", 1),
        ("95", 1),
        ("96", 0),
        ("100", 0),
    ];
    for oxygen in [None, Some(false), Some(true)] {
        rows.extend(spo2(SpO2Scale::Scale1, oxygen, &scale_1));
    }
    let scale_2_low = [
        ("70", 3),
        ("83", 3),
        ("84", 2),
        ("85", 2),
        ("86", 1),
        ("87", 1),
        ("88", 0),
        ("92", 0),
    ];
    for oxygen in [None, Some(false), Some(true)] {
        rows.extend(spo2(SpO2Scale::Scale2, oxygen, &scale_2_low));
    }
    let scale_2_air = [("93", 0), ("94", 0), ("96", 0), ("97", 0), ("100", 0)];
    rows.extend(spo2(SpO2Scale::Scale2, Some(false), &scale_2_air));
    rows.extend(spo2(SpO2Scale::Scale2, None, &scale_2_air));
    let scale_2_oxygen = [
        ("93", 1),
        ("94", 1),
        ("95", 2),
        ("96", 2),
        ("97", 3),
        ("100", 3),
    ];
    rows.extend(spo2(SpO2Scale::Scale2, Some(true), &scale_2_oxygen));
    rows
}

fn oxygen_and_blood_pressure_rows() -> Vec<Row> {
    use Parameter::*;
    let mut rows = Vec::new();
    rows.extend(single(
        AirOrOxygen,
        "3151-8",
        "L/min",
        &[("0", 0), ("0.0", 0), ("0.1", 2), ("2", 2), ("15", 2)],
    ));
    rows.extend(single(
        AirOrOxygen,
        "3150-0",
        "%",
        &[("21", 0), ("21.0", 0), ("21.5", 2), ("28", 2), ("100", 2)],
    ));
    let systolic = [
        ("60", 3),
        ("90", 3),
        ("91", 2),
        ("100", 2),
        ("101", 1),
        ("110", 1),
        ("111", 0),
        ("219", 0),
        ("220", 3),
        ("260", 3),
    ];
    rows.extend(single(SystolicBloodPressure, "8480-6", "mm[Hg]", &systolic));
    for (value, expected) in systolic {
        rows.push(Row {
            parameter: SystolicBloodPressure,
            observations: vec![bp_panel("bp", value, AT)],
            scale: SpO2Scale::Scale1,
            expected,
            label: format!("85354-9 panel systolic {value}"),
        });
    }
    rows
}

fn pulse_and_temperature_rows() -> Vec<Row> {
    use Parameter::*;
    let mut rows = Vec::new();
    rows.extend(single(
        Pulse,
        "8867-4",
        "/min",
        &[
            ("30", 3),
            ("40", 3),
            ("41", 1),
            ("50", 1),
            ("51", 0),
            ("90", 0),
            ("91", 1),
            ("110", 1),
            ("111", 2),
            ("130", 2),
            ("131", 3),
            ("200", 3),
        ],
    ));
    rows.extend(single(
        Temperature,
        "8310-5",
        "Cel",
        &[
            ("33.0", 3),
            ("35.0", 3),
            ("35.04", 3),
            ("35.05", 1),
            ("35.1", 1),
            ("36.0", 1),
            ("36.04", 1),
            ("36.05", 0),
            ("36.1", 0),
            ("38.0", 0),
            ("38.04", 0),
            ("38.05", 1),
            ("38.1", 1),
            ("39.0", 1),
            ("39.05", 2),
            ("39.1", 2),
            ("41.5", 2),
        ],
    ));
    // °F: 95.0 = 35.0 °C; 95.2 = 35.11; 96.8 = 36.0; 96.9 = 36.06 -> 36.1; 100.4 = 38.0;
    // 100.5 = 38.06 -> 38.1; 102.2 = 39.0; 102.3 = 39.06 -> 39.1.
    rows.extend(single(
        Temperature,
        "8310-5",
        "[degF]",
        &[
            ("95.0", 3),
            ("95.2", 1),
            ("96.8", 1),
            ("96.9", 0),
            ("100.4", 0),
            ("100.5", 1),
            ("102.2", 1),
            ("102.3", 2),
        ],
    ));
    rows
}

fn consciousness_rows() -> Vec<Row> {
    use Parameter::*;
    let mut rows = Vec::new();
    let levels = [
        ("248234008", "alert", 0),
        ("130987000", "new confusion", 3),
        ("300202002", "voice", 3),
        ("450847001", "pain", 3),
        ("422768004", "unresponsive", 3),
    ];
    for (code, text, expected) in levels {
        for observation in [acvpu_code("c", code, AT), acvpu_text("c", text, AT)] {
            rows.push(Row {
                parameter: Consciousness,
                observations: vec![observation],
                scale: SpO2Scale::Scale1,
                expected,
                label: format!("consciousness {code} / {text}"),
            });
        }
    }
    rows
}

fn rows() -> Vec<Row> {
    [
        respiration_rows(),
        spo2_rows(),
        oxygen_and_blood_pressure_rows(),
        pulse_and_temperature_rows(),
        consciousness_rows(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[test]
fn every_band_edge_of_every_parameter() {
    let rows = rows();
    let mut failures = Vec::new();
    for row in &rows {
        let (_, result) = scored(&row.observations, row.scale);
        let got = result.sub_score(row.parameter);
        if got != Some(row.expected) {
            failures.push(format!(
                "{}: expected {}, got {got:?}",
                row.label, row.expected
            ));
        }
    }
    println!("{} band rows, {} failed", rows.len(), failures.len());
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(rows.len() > 150);
}

/// Respiration rate, pulse, temperature, consciousness text; total, risk code, Task priority.
type RiskCase = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    u32,
    &'static str,
    Option<&'static str>,
);

/// Sub-scores chosen to hit each risk rule; values from the bands above.
#[test]
fn risk_rules() {
    // (respiration rate, pulse, temperature, consciousness text) -> (total, risk, priority)
    let cases: [RiskCase; 11] = [
        ("16", "70", "37.0", "alert", 0, "low", None),
        ("21", "70", "37.0", "alert", 2, "low", None),
        ("21", "111", "37.0", "alert", 4, "low", None),
        ("25", "70", "37.0", "alert", 3, "low-medium", Some("urgent")),
        ("16", "70", "37.0", "voice", 3, "low-medium", Some("urgent")),
        ("25", "91", "37.0", "alert", 4, "low-medium", Some("urgent")),
        ("21", "111", "38.1", "alert", 5, "medium", Some("urgent")),
        ("25", "111", "37.0", "alert", 5, "medium", Some("urgent")),
        ("25", "111", "38.1", "alert", 6, "medium", Some("urgent")),
        ("25", "111", "39.1", "alert", 7, "high", Some("stat")),
        ("25", "131", "39.1", "pain", 11, "high", Some("stat")),
    ];
    for (rr, pulse, temp, avpu, total, risk, priority) in cases {
        let observations = vec![
            quantity("rr", "9279-1", rr, "/min", AT),
            quantity("pulse", "8867-4", pulse, "/min", AT),
            quantity("temp", "8310-5", temp, "Cel", AT),
            acvpu_text("avpu", avpu, AT),
        ];
        let (_, result) = scored(&observations, SpO2Scale::Scale1);
        let label = format!("rr {rr} pulse {pulse} temp {temp} {avpu}");
        assert_eq!(result.total, total, "{label}");
        assert_eq!(result.risk.code, risk, "{label}");
        assert_eq!(result.risk.task_priority.as_deref(), priority, "{label}");
    }
}

#[test]
fn the_highest_total_is_high_risk_and_the_chart_knows_its_maximum() {
    let observations = vec![
        quantity("rr", "9279-1", "30", "/min", AT),
        quantity("spo2", "59408-5", "99", "%", AT),
        quantity("o2", "3150-0", "40", "%", AT),
        quantity("sbp", "8480-6", "80", "mm[Hg]", AT),
        quantity("pulse", "8867-4", "150", "/min", AT),
        acvpu_text("avpu", "unresponsive", AT),
        quantity("temp", "8310-5", "34", "Cel", AT),
    ];
    let (_, result) = scored(&observations, SpO2Scale::Scale2);
    assert_eq!(result.total, 20);
    assert_eq!(crate::fixtures::chart().max_total, 20);
    assert!(result.complete);
    assert_eq!(result.risk.code, "high");
    assert_eq!(
        result.response.monitoring,
        "Continuous monitoring of vital signs"
    );
}

#[test]
fn responses_follow_the_total_within_low_risk() {
    let zero = vec![quantity("rr", "9279-1", "16", "/min", AT)];
    let (_, result) = scored(&zero, SpO2Scale::Scale1);
    assert_eq!(result.response.monitoring, "Minimum 12 hourly");
    let one = vec![quantity("rr", "9279-1", "10", "/min", AT)];
    let (_, result) = scored(&one, SpO2Scale::Scale1);
    assert_eq!(result.total, 1);
    assert_eq!(result.response.monitoring, "Minimum 4-6 hourly");
}
