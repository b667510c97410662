//! The chart file: the embedded one loads and is a proper chart; broken charts are refused
//! with a message naming the table and the values.

use serde_json::Value;
use vigil_cds::{CdsError, News2Knowledge};

const EMBEDDED: &str = include_str!("../../knowledge/news2.json");

fn edited(edit: impl FnOnce(&mut Value)) -> Result<News2Knowledge, CdsError> {
    let mut file: Value = serde_json::from_str(EMBEDDED).unwrap();
    edit(&mut file);
    News2Knowledge::from_json(&file.to_string())
}

fn problem(result: Result<News2Knowledge, CdsError>) -> String {
    match result {
        Err(CdsError::Knowledge { problem }) => problem,
        other => panic!("expected a knowledge error, got {other:?}"),
    }
}

#[test]
fn the_embedded_chart_loads_with_its_provenance() {
    let chart = News2Knowledge::embedded().unwrap();
    assert_eq!(chart.provenance.publisher, "Royal College of Physicians");
    assert_eq!(chart.provenance.year, 2017);
    assert!(chart.provenance.url.starts_with("https://www.rcp.ac.uk/"));
    assert_eq!(chart.max_total, 20);
    let codes: Vec<&str> = chart.risk.iter().map(|l| l.code.as_str()).collect();
    assert_eq!(codes, ["high", "medium", "low-medium", "low"]);
}

#[test]
fn every_table_is_contiguous_without_gap_or_overlap() {
    let chart = News2Knowledge::embedded().unwrap();
    let tables = [
        &chart.respiration_rate,
        &chart.spo2_scale_1,
        &chart.spo2_scale_2_air,
        &chart.spo2_scale_2_oxygen,
        &chart.systolic_blood_pressure,
        &chart.pulse,
        &chart.temperature,
    ];
    for table in tables {
        let step = rust_decimal::Decimal::new(1, table.decimals);
        assert!(table.bands[0].min.is_none(), "{}", table.name);
        assert!(table.bands[table.bands.len() - 1].max.is_none());
        for pair in table.bands.windows(2) {
            assert_eq!(
                pair[1].min,
                pair[0].max.map(|m| m + step),
                "{}: bands must meet",
                table.name
            );
        }
    }
}

#[test]
fn a_gap_is_refused() {
    let message = problem(edited(|f| {
        f["bands"]["pulse"]["bands"][1]["min"] = 42.into();
    }));
    assert!(message.contains("pulse: gap"), "{message}");
}

#[test]
fn an_overlap_is_refused() {
    let message = problem(edited(|f| {
        f["bands"]["temperature"]["bands"][2]["min"] = crate::fixtures::number("36.0");
    }));
    assert!(message.contains("temperature: overlap"), "{message}");
}

#[test]
fn a_bound_finer_than_the_table_is_refused() {
    let message = problem(edited(|f| {
        f["bands"]["respiration_rate"]["bands"][0]["max"] = crate::fixtures::number("8.5");
    }));
    assert!(message.contains("more than 0 decimals"), "{message}");
}

#[test]
fn more_decimals_than_a_decimal_holds_is_refused_not_a_panic() {
    let message = problem(edited(|f| {
        f["bands"]["temperature"]["decimals"] = 40.into();
    }));
    assert!(message.contains("temperature: 40 decimals"), "{message}");
}

#[test]
fn a_closed_end_is_refused() {
    let message = problem(edited(|f| {
        f["bands"]["spo2_scale_1"]["bands"][3]["max"] = 100.into();
    }));
    assert!(message.contains("only the last band"), "{message}");
}

#[test]
fn a_missing_table_is_refused() {
    let message = problem(edited(|f| {
        f["bands"]
            .as_object_mut()
            .unwrap()
            .remove("spo2_scale_2_air");
    }));
    assert!(message.contains("spo2_scale_2_air"), "{message}");
}

#[test]
fn a_missing_consciousness_level_is_refused() {
    let message = problem(edited(|f| {
        f["choices"]["consciousness"]["choices"]
            .as_array_mut()
            .unwrap()
            .remove(1);
    }));
    assert!(
        message.contains("consciousness: values must be"),
        "{message}"
    );
}

#[test]
fn risk_levels_must_cover_every_total_once() {
    let gap = problem(edited(|f| {
        f["risk"][1]["total_min"] = 6.into();
        f["risk"][1]["responses"][0]["total_min"] = 6.into();
    }));
    assert!(gap.contains("no level for total 5"), "{gap}");
    let overlap = problem(edited(|f| {
        f["risk"][3]["total_max"] = 5.into();
    }));
    assert!(overlap.contains("overlap at total 5"), "{overlap}");
}

#[test]
fn each_total_has_one_response() {
    let message = problem(edited(|f| {
        f["risk"][3]["responses"][1]["total_min"] = 2.into();
    }));
    assert!(message.contains("0 responses for total 1"), "{message}");
}

#[test]
fn a_priority_must_be_a_fhir_request_priority() {
    let message = problem(edited(|f| {
        f["risk"][0]["task_priority"] = "now".into();
    }));
    assert!(message.contains("not a FHIR request-priority"), "{message}");
}

#[test]
fn not_json_is_refused() {
    let message = problem(News2Knowledge::from_json("{"));
    assert!(message.contains("not a NEWS2 chart file"), "{message}");
}
