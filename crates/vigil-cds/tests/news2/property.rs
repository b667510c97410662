//! Property test: random observation sets scored by the crate agree with an independent
//! implementation of the RCP NEWS2 chart written here straight from Chart 1 and Chart 3 (plain
//! `if` ladders on integers in tenths; nothing read from the chart file, no `Decimal`).
//!
//! Each set has each parameter present or not, values in whole numbers or tenths, SpO2 on
//! Scale 1 or 2, air or oxygen by flow rate or FiO2, systolic alone or in a panel,
//! consciousness by SNOMED code or text, temperature in °C (hundredths) or °F (tenths), every
//! reading at its own time inside the hour, plus noise that must not count: stale alarming
//! readings 125 minutes before, and alarming entered-in-error readings after the newest.

use proptest::prelude::*;
use serde_json::{Value, json};
use vigil_cds::{Parameter, SpO2Scale, score_observation};
use vigil_model::validate::validate_resource;

use crate::fixtures::{acvpu_code, acvpu_text, bp_panel, quantity, scored};

// ---- The independent chart (RCP 2017, Chart 1 and Chart 3) ----

fn respiration(per_minute: u32) -> u8 {
    if per_minute <= 8 {
        3
    } else if per_minute <= 11 {
        1
    } else if per_minute <= 20 {
        0
    } else if per_minute <= 24 {
        2
    } else {
        3
    }
}

fn spo2_scale_1(percent: u32) -> u8 {
    if percent <= 91 {
        3
    } else if percent <= 93 {
        2
    } else if percent <= 95 {
        1
    } else {
        0
    }
}

fn spo2_scale_2(percent: u32, on_oxygen: bool) -> u8 {
    if percent <= 83 {
        3
    } else if percent <= 85 {
        2
    } else if percent <= 87 {
        1
    } else if percent <= 92 || !on_oxygen {
        0
    } else if percent <= 94 {
        1
    } else if percent <= 96 {
        2
    } else {
        3
    }
}

fn systolic(mm_hg: u32) -> u8 {
    if mm_hg <= 90 {
        3
    } else if mm_hg <= 100 {
        2
    } else if mm_hg <= 110 {
        1
    } else if mm_hg <= 219 {
        0
    } else {
        3
    }
}

fn pulse(per_minute: u32) -> u8 {
    if per_minute <= 40 {
        3
    } else if per_minute <= 50 {
        1
    } else if per_minute <= 90 {
        0
    } else if per_minute <= 110 {
        1
    } else if per_minute <= 130 {
        2
    } else {
        3
    }
}

/// Temperature in tenths of a degree Celsius.
fn temperature(tenths: u32) -> u8 {
    if tenths <= 350 {
        3
    } else if tenths <= 360 {
        1
    } else if tenths <= 380 {
        0
    } else if tenths <= 390 {
        1
    } else {
        2
    }
}

fn risk(total: u32, sub_scores: &[u8]) -> &'static str {
    if total >= 7 {
        "high"
    } else if total >= 5 {
        "medium"
    } else if sub_scores.contains(&3) {
        "low-medium"
    } else {
        "low"
    }
}

/// Tenths to the nearest whole number, half away from zero (values are positive).
fn whole(tenths: u32) -> u32 {
    (tenths + 5) / 10
}

// ---- Random observation sets ----

#[derive(Debug, Clone)]
enum Oxygen {
    FlowTenths(u32),
    Fio2Tenths(u32),
}

#[derive(Debug, Clone)]
enum Temperature {
    CelsiusHundredths(u32),
    FahrenheitTenths(u32),
}

#[derive(Debug, Clone)]
struct Vitals {
    respiration_tenths: Option<u32>,
    spo2_tenths: Option<u32>,
    oxygen: Option<Oxygen>,
    systolic_tenths: Option<(u32, bool)>,
    pulse_tenths: Option<u32>,
    consciousness: Option<(usize, bool)>,
    temperature: Option<Temperature>,
    scale_2: bool,
    offsets: [u32; 7],
    stale_noise: bool,
    error_noise: bool,
}

/// Tenths in `range`, half of the time a whole number.
fn tenths(range: std::ops::RangeInclusive<u32>) -> impl Strategy<Value = u32> {
    (range, any::<bool>()).prop_map(|(t, round)| if round { t / 10 * 10 } else { t })
}

fn present<T: std::fmt::Debug + Clone>(
    strategy: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    proptest::option::weighted(0.85, strategy)
}

fn vitals() -> impl Strategy<Value = Vitals> {
    let oxygen = prop_oneof![
        (0..=150u32).prop_map(|t| Oxygen::FlowTenths(if t % 3 == 0 { 0 } else { t })),
        (210..=1000u32).prop_map(|t| Oxygen::Fio2Tenths(if t % 3 == 0 { 210 } else { t })),
    ];
    let temperature = prop_oneof![
        (3200..=4300u32).prop_map(Temperature::CelsiusHundredths),
        (880..=1100u32).prop_map(Temperature::FahrenheitTenths),
    ];
    (
        (
            present(tenths(0..=600)),
            present(tenths(650..=1000)),
            present(oxygen),
            present((tenths(500..=2800), any::<bool>())),
            present(tenths(200..=2000)),
            present((0..5usize, any::<bool>())),
            present(temperature),
        ),
        any::<bool>(),
        proptest::array::uniform7(0..60u32),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |((rr, spo2, oxygen, sbp, pulse, avpu, temp), scale_2, offsets, stale, error)| Vitals {
                respiration_tenths: rr,
                spo2_tenths: spo2,
                oxygen,
                systolic_tenths: sbp,
                pulse_tenths: pulse,
                consciousness: avpu,
                temperature: temp,
                scale_2,
                offsets,
                stale_noise: stale,
                error_noise: error,
            },
        )
}

fn decimal_text(tenths: u32) -> String {
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// 10:00 minus `minutes` (0..=179) on the test day.
fn at(minutes_before_ten: u32) -> String {
    let total = 10 * 60 - minutes_before_ten;
    format!("2026-12-07T{:02}:{:02}:00Z", total / 60, total % 60)
}

const SNOMED: [&str; 5] = [
    "248234008",
    "130987000",
    "300202002",
    "450847001",
    "422768004",
];
const TEXT: [&str; 5] = ["alert", "new confusion", "voice", "pain", "unresponsive"];

fn observations(v: &Vitals) -> Vec<Value> {
    let mut out = Vec::new();
    let o = v.offsets;
    if let Some(t) = v.respiration_tenths {
        out.push(quantity(
            "rr",
            "9279-1",
            &decimal_text(t),
            "/min",
            &at(o[0]),
        ));
    }
    if let Some(t) = v.spo2_tenths {
        out.push(quantity("sat", "59408-5", &decimal_text(t), "%", &at(o[1])));
    }
    match &v.oxygen {
        Some(Oxygen::FlowTenths(t)) => out.push(quantity(
            "o2",
            "3151-8",
            &decimal_text(*t),
            "L/min",
            &at(o[2]),
        )),
        Some(Oxygen::Fio2Tenths(t)) => {
            out.push(quantity("o2", "3150-0", &decimal_text(*t), "%", &at(o[2])))
        }
        None => {}
    }
    match v.systolic_tenths {
        Some((t, true)) => out.push(bp_panel("bp", &decimal_text(t), &at(o[3]))),
        Some((t, false)) => out.push(quantity(
            "bp",
            "8480-6",
            &decimal_text(t),
            "mm[Hg]",
            &at(o[3]),
        )),
        None => {}
    }
    if let Some(t) = v.pulse_tenths {
        out.push(quantity(
            "hr",
            "8867-4",
            &decimal_text(t),
            "/min",
            &at(o[4]),
        ));
    }
    match v.consciousness {
        Some((level, true)) => out.push(acvpu_code("avpu", SNOMED[level], &at(o[5]))),
        Some((level, false)) => out.push(acvpu_text("avpu", TEXT[level], &at(o[5]))),
        None => {}
    }
    match &v.temperature {
        Some(Temperature::CelsiusHundredths(h)) => {
            let text = format!("{}.{:02}", h / 100, h % 100);
            out.push(quantity("temp", "8310-5", &text, "Cel", &at(o[6])));
        }
        Some(Temperature::FahrenheitTenths(t)) => {
            out.push(quantity(
                "temp",
                "8310-5",
                &decimal_text(*t),
                "[degF]",
                &at(o[6]),
            ));
        }
        None => {}
    }
    if v.stale_noise {
        out.push(quantity("stale-rr", "9279-1", "40", "/min", &at(125)));
        out.push(acvpu_text("stale-avpu", "unresponsive", &at(125)));
    }
    if v.error_noise {
        let mut wrong = quantity("wrong-hr", "8867-4", "170", "/min", "2026-12-07T10:01:00Z");
        wrong["status"] = json!("entered-in-error");
        out.push(wrong);
    }
    out
}

/// The chart's sub-scores for `v`, by parameter, independently.
fn expected(v: &Vitals) -> Vec<(Parameter, u8)> {
    let on_oxygen = match v.oxygen {
        Some(Oxygen::FlowTenths(t)) => Some(t > 0),
        Some(Oxygen::Fio2Tenths(t)) => Some(t > 210),
        None => None,
    };
    let mut subs = Vec::new();
    if let Some(t) = v.respiration_tenths {
        subs.push((Parameter::RespirationRate, respiration(whole(t))));
    }
    if let Some(t) = v.spo2_tenths {
        let score = if v.scale_2 {
            spo2_scale_2(whole(t), on_oxygen.unwrap_or(false))
        } else {
            spo2_scale_1(whole(t))
        };
        subs.push((Parameter::OxygenSaturation, score));
    }
    if let Some(on) = on_oxygen {
        subs.push((Parameter::AirOrOxygen, if on { 2 } else { 0 }));
    }
    if let Some((t, _)) = v.systolic_tenths {
        subs.push((Parameter::SystolicBloodPressure, systolic(whole(t))));
    }
    if let Some(t) = v.pulse_tenths {
        subs.push((Parameter::Pulse, pulse(whole(t))));
    }
    if let Some((level, _)) = v.consciousness {
        subs.push((Parameter::Consciousness, if level == 0 { 0 } else { 3 }));
    }
    match v.temperature {
        Some(Temperature::CelsiusHundredths(h)) => {
            subs.push((Parameter::Temperature, temperature((h + 5) / 10)));
        }
        Some(Temperature::FahrenheitTenths(f)) => {
            // (f/10 - 32) * 5/9 degrees = (f - 320) * 5 / 9 tenths, rounded half up.
            let n = (f - 320) * 5;
            subs.push((Parameter::Temperature, temperature((2 * n + 9) / 18)));
        }
        None => {}
    }
    subs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn agrees_with_an_independent_implementation_of_the_chart(v in vitals()) {
        let set = observations(&v);
        let scale = if v.scale_2 { SpO2Scale::Scale2 } else { SpO2Scale::Scale1 };
        let (inputs, result) = scored(&set, scale);
        let subs = expected(&v);
        for (parameter, sub) in &subs {
            prop_assert_eq!(result.sub_score(*parameter), Some(*sub), "{:?}", parameter);
        }
        prop_assert_eq!(result.sub_scores.len(), subs.len());
        let scores: Vec<u8> = subs.iter().map(|(_, s)| *s).collect();
        let total: u32 = scores.iter().map(|&s| u32::from(s)).sum();
        prop_assert_eq!(result.total, total);
        prop_assert_eq!(result.risk.code.as_str(), risk(total, &scores));
        prop_assert_eq!(result.complete, subs.len() == 7);
        if subs.is_empty() {
            return Ok(());
        }
        let observation = score_observation(&result, &inputs, "Patient/p1").unwrap();
        prop_assert!(validate_resource(&observation).is_empty());
        prop_assert_eq!(observation["derivedFrom"].as_array().map(Vec::len), Some(subs.len()));
        let status = if subs.len() == 7 { "final" } else { "preliminary" };
        prop_assert_eq!(observation["status"].as_str(), Some(status));
    }
}
