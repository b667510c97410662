//! NEWS2 inputs from a patient's vital-sign Observations (FHIR R4 JSON).
//!
//! [`collect_inputs`] looks at every Observation given (all of one patient; the caller selects
//! them), recognises the NEWS2 parameters by LOINC code (system `http://loinc.org`), and keeps,
//! for each parameter, the latest reading inside the window that ends at the newest reading
//! (default 60 minutes, [`InputOptions::window_micros`]). Every reading used is kept with its
//! Observation reference, so the score can name what it was derived from; every recognised
//! Observation that could not be used is listed in [`News2Inputs::skipped`] with the reason.
//!
//! | Parameter | LOINC | Value |
//! |---|---|---|
//! | respiration rate | 9279-1 | `valueQuantity` per minute (`/min`) |
//! | SpO2 | 59408-5, 2708-6 | `valueQuantity` `%` |
//! | systolic blood pressure | 8480-6, alone or as a `component` of 85354-9 / 55284-4 | `mm[Hg]` |
//! | pulse | 8867-4 | `valueQuantity` per minute |
//! | temperature | 8310-5 | `Cel`, or `[degF]` converted to °C |
//! | consciousness | 67775-7 | ACVPU as a SNOMED CT code or as text |
//! | air or oxygen | 3151-8 (flow: > 0 L/min oxygen, 0 air), 3150-0 (FiO2: > 21 % oxygen, 21 % air) | `valueQuantity` |
//!
//! Units: the UCUM `code` when present (else the `unit` text) must be one the parameter accepts
//! (see `UNITS`); a quantity with neither is taken in the chart's unit, except temperature,
//! which needs a unit to tell °C from °F. A quantity with a `comparator` (`<90`) is not an
//! exact reading and is skipped.
//!
//! Consciousness codes accepted (SNOMED CT, `http://snomed.info/sct`), the members of HL7 UK's
//! Care Connect ACVPU value set (`CareConnect-ACVPU-1`): 248234008 Mentally alert, 130987000
//! Acute confusion, 300202002 Responds to voice, 450847001 Responds to pain, 422768004
//! Unresponsive. The FHIR R4 package itself holds no ACVPU value set. Otherwise the text
//! (`valueCodeableConcept.text`, a coding's `display`, or `valueString`) is matched, ignoring
//! case: `alert`/`a`/`mentally alert`, `new confusion`/`confusion`/`confused`/`acute
//! confusion`/`c`, `voice`/`v`/`responds to voice`, `pain`/`p`/`responds to pain`,
//! `unresponsive`/`u`.
//!
//! Effective time: `effectiveDateTime`, else `effectiveInstant`, else `effectivePeriod.end`,
//! else `issued`; an Observation with none is skipped. Status: `final`, `amended`, `corrected`
//! and `preliminary` are used; `entered-in-error`, `cancelled`, `registered` and `unknown` are
//! skipped. Ties at the same effective time go to the Observation later in the given order.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;
use vigil_model::instant::parse_instant_micros;

const LOINC: &str = "http://loinc.org";
const SNOMED: &str = "http://snomed.info/sct";
const UCUM: &str = "http://unitsofmeasure.org";

/// One of the seven NEWS2 parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Parameter {
    /// Respiration rate (breaths per minute).
    RespirationRate,
    /// Oxygen saturation, SpO2 (%), banded on Scale 1 or Scale 2.
    OxygenSaturation,
    /// Air or supplemental oxygen.
    AirOrOxygen,
    /// Systolic blood pressure (mmHg).
    SystolicBloodPressure,
    /// Pulse (per minute).
    Pulse,
    /// Consciousness (ACVPU).
    Consciousness,
    /// Temperature (°C).
    Temperature,
}

impl Parameter {
    /// All seven, in the chart's order.
    pub const ALL: [Parameter; 7] = [
        Parameter::RespirationRate,
        Parameter::OxygenSaturation,
        Parameter::AirOrOxygen,
        Parameter::SystolicBloodPressure,
        Parameter::Pulse,
        Parameter::Consciousness,
        Parameter::Temperature,
    ];

    /// A stable key, used as the component code of the score Observation.
    pub fn key(self) -> &'static str {
        match self {
            Parameter::RespirationRate => "respiration-rate",
            Parameter::OxygenSaturation => "spo2",
            Parameter::AirOrOxygen => "air-or-oxygen",
            Parameter::SystolicBloodPressure => "systolic-blood-pressure",
            Parameter::Pulse => "pulse",
            Parameter::Consciousness => "consciousness",
            Parameter::Temperature => "temperature",
        }
    }

    /// The chart's name for it.
    pub fn display(self) -> &'static str {
        match self {
            Parameter::RespirationRate => "Respiration rate",
            Parameter::OxygenSaturation => "SpO2",
            Parameter::AirOrOxygen => "Air or oxygen",
            Parameter::SystolicBloodPressure => "Systolic blood pressure",
            Parameter::Pulse => "Pulse",
            Parameter::Consciousness => "Consciousness",
            Parameter::Temperature => "Temperature",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// ACVPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consciousness {
    /// Alert.
    Alert,
    /// New confusion (new-onset or worsening).
    NewConfusion,
    /// Responds to voice.
    Voice,
    /// Responds to pain.
    Pain,
    /// Unresponsive.
    Unresponsive,
}

impl Consciousness {
    /// The value's key in the chart file (`alert`, `new-confusion`, ...).
    pub fn key(self) -> &'static str {
        match self {
            Consciousness::Alert => "alert",
            Consciousness::NewConfusion => "new-confusion",
            Consciousness::Voice => "voice",
            Consciousness::Pain => "pain",
            Consciousness::Unresponsive => "unresponsive",
        }
    }

    /// The SNOMED CT code accepted for it (Care Connect ACVPU value set).
    pub fn snomed_code(self) -> &'static str {
        match self {
            Consciousness::Alert => "248234008",
            Consciousness::NewConfusion => "130987000",
            Consciousness::Voice => "300202002",
            Consciousness::Pain => "450847001",
            Consciousness::Unresponsive => "422768004",
        }
    }

    const ALL: [Consciousness; 5] = [
        Consciousness::Alert,
        Consciousness::NewConfusion,
        Consciousness::Voice,
        Consciousness::Pain,
        Consciousness::Unresponsive,
    ];

    fn from_text(text: &str) -> Option<Consciousness> {
        match text.trim().to_ascii_lowercase().as_str() {
            "alert" | "a" | "mentally alert" => Some(Consciousness::Alert),
            "new confusion" | "new-confusion" | "confusion" | "confused" | "acute confusion"
            | "c" => Some(Consciousness::NewConfusion),
            "voice" | "v" | "responds to voice" => Some(Consciousness::Voice),
            "pain" | "p" | "responds to pain" => Some(Consciousness::Pain),
            "unresponsive" | "u" => Some(Consciousness::Unresponsive),
            _ => None,
        }
    }
}

/// A reading, in the chart's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// A number in the chart's unit (temperature already in °C), not yet rounded.
    Quantity(Decimal),
    /// Air or oxygen: `true` when on supplemental oxygen.
    OnOxygen(bool),
    /// ACVPU.
    Consciousness(Consciousness),
}

/// One reading used as a NEWS2 input, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct News2Input {
    /// Which parameter.
    pub parameter: Parameter,
    /// The value.
    pub reading: Reading,
    /// `Observation/{id}` of the source.
    pub reference: String,
    /// The source's `meta.versionId`, when it has one.
    pub version_id: Option<String>,
    /// The LOINC code that identified the reading (`8480-6` for a blood-pressure panel's
    /// systolic component).
    pub loinc: &'static str,
    /// The effective time as written in the source.
    pub effective: String,
    /// The effective time in microseconds since the Unix epoch (UTC).
    pub effective_micros: i64,
}

/// A recognised Observation that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// `Observation/{id}` when it has an id.
    pub reference: Option<String>,
    /// Why it was not used.
    pub reason: String,
}

/// How inputs are selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputOptions {
    /// Length of the window ending at the newest reading, in microseconds (default 60 minutes).
    pub window_micros: i64,
    /// Readings dated after this instant (microseconds since the Unix epoch) are skipped, so
    /// that one mistyped future date cannot end the window and hide every real reading. The
    /// caller passes its clock (plus a tolerance); `None` (the default) accepts any date.
    pub not_after_micros: Option<i64>,
}

impl Default for InputOptions {
    fn default() -> Self {
        InputOptions {
            window_micros: 60 * 60 * 1_000_000,
            not_after_micros: None,
        }
    }
}

/// The inputs of one NEWS2 score: at most one reading per parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct News2Inputs {
    by_parameter: [Option<News2Input>; 7],
    /// Recognised Observations that were not used (bad status, no time, unusable value).
    pub skipped: Vec<Skipped>,
}

impl News2Inputs {
    /// The reading of `parameter`, if there is one in the window.
    pub fn get(&self, parameter: Parameter) -> Option<&News2Input> {
        self.by_parameter[parameter.index()].as_ref()
    }

    /// Sets (or clears) the reading of `parameter`; for callers building inputs by hand.
    pub fn set(&mut self, parameter: Parameter, input: Option<News2Input>) {
        self.by_parameter[parameter.index()] = input;
    }

    /// The readings present, in the chart's order.
    pub fn iter(&self) -> impl Iterator<Item = &News2Input> {
        self.by_parameter.iter().flatten()
    }

    /// The parameters without a reading.
    pub fn missing(&self) -> Vec<Parameter> {
        Parameter::ALL
            .into_iter()
            .filter(|p| self.get(*p).is_none())
            .collect()
    }

    /// The newest reading (the end of the window), if any.
    pub fn newest(&self) -> Option<&News2Input> {
        self.iter().max_by_key(|input| input.effective_micros)
    }

    /// The distinct source references, in the chart's order of first use.
    pub fn references(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for input in self.iter() {
            if !seen.contains(&input.reference.as_str()) {
                seen.push(&input.reference);
            }
        }
        seen
    }
}

/// Selects the NEWS2 inputs from one patient's Observations (see the module docs).
pub fn collect_inputs(observations: &[Value], options: &InputOptions) -> News2Inputs {
    let mut inputs = News2Inputs::default();
    let mut candidates: Vec<News2Input> = Vec::new();
    for observation in observations {
        match candidates_of(observation) {
            Ok(found) => candidates.extend(found),
            Err(skipped) => inputs.skipped.push(skipped),
        }
    }
    if let Some(limit) = options.not_after_micros {
        candidates.retain(|candidate| {
            let future = candidate.effective_micros > limit;
            if future {
                inputs.skipped.push(Skipped {
                    reference: Some(candidate.reference.clone()),
                    reason: format!("effective time {} is in the future", candidate.effective),
                });
            }
            !future
        });
    }
    let Some(end) = candidates.iter().map(|c| c.effective_micros).max() else {
        return inputs;
    };
    let start = end.saturating_sub(options.window_micros.max(0));
    for candidate in candidates {
        if candidate.effective_micros < start {
            continue;
        }
        let slot = &mut inputs.by_parameter[candidate.parameter.index()];
        if slot
            .as_ref()
            .is_none_or(|kept| candidate.effective_micros >= kept.effective_micros)
        {
            *slot = Some(candidate);
        }
    }
    inputs
}

/// The readings one Observation provides (none when it carries no NEWS2 code), or why a
/// recognised one cannot be used.
fn candidates_of(observation: &Value) -> Result<Vec<News2Input>, Skipped> {
    let codes = loinc_codes(observation.get("code"));
    if observation.get("resourceType").and_then(Value::as_str) != Some("Observation")
        || !codes.iter().any(|code| is_news2_code(code))
    {
        return Ok(Vec::new());
    }
    let id = observation.get("id").and_then(Value::as_str);
    let reference = id.map(|id| format!("Observation/{id}"));
    let skip = |reason: String| Skipped {
        reference: reference.clone(),
        reason,
    };
    let Some(reference_text) = reference.clone() else {
        return Err(skip("no id, so it cannot be referenced".to_owned()));
    };
    let status = observation.get("status").and_then(Value::as_str);
    if !matches!(
        status,
        Some("final" | "amended" | "corrected" | "preliminary")
    ) {
        return Err(skip(format!("status {status:?} is not a result to score")));
    }
    let Some((effective, effective_micros)) = effective_time(observation) else {
        return Err(skip("no effective time".to_owned()));
    };
    let version_id = observation
        .pointer("/meta/versionId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut found: Vec<News2Input> = Vec::new();
    for code in codes {
        let (parameter, loinc, reading) = reading_for(code, observation).map_err(&skip)?;
        if found.iter().any(|f| f.parameter == parameter) {
            continue; // e.g. SpO2 coded both 59408-5 and 2708-6
        }
        found.push(News2Input {
            parameter,
            reading,
            reference: reference_text.clone(),
            version_id: version_id.clone(),
            loinc,
            effective: effective.clone(),
            effective_micros,
        });
    }
    Ok(found)
}

/// Every LOINC code that carries a NEWS2 reading (panels included: 85354-9 and 55284-4 hold
/// the systolic pressure as a component).
pub const NEWS2_LOINC_CODES: [&str; 11] = [
    "9279-1", "59408-5", "2708-6", "8480-6", "85354-9", "55284-4", "8867-4", "8310-5", "67775-7",
    "3151-8", "3150-0",
];

fn is_news2_code(code: &str) -> bool {
    NEWS2_LOINC_CODES.contains(&code)
}

/// Whether `resource` is an Observation coded with a NEWS2 LOINC code (whatever its status or
/// value): the change that should make a patient's score be computed again.
pub fn is_news2_observation(resource: &Value) -> bool {
    resource.get("resourceType").and_then(Value::as_str) == Some("Observation")
        && !loinc_codes(resource.get("code")).is_empty()
}

/// The LOINC codes of a CodeableConcept, NEWS2 codes only, in order.
fn loinc_codes(concept: Option<&Value>) -> Vec<&str> {
    concept
        .and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|coding| coding.get("system").and_then(Value::as_str) == Some(LOINC))
        .filter_map(|coding| coding.get("code").and_then(Value::as_str))
        .filter(|code| is_news2_code(code))
        .collect()
}

fn effective_time(observation: &Value) -> Option<(String, i64)> {
    [
        "/effectiveDateTime",
        "/effectiveInstant",
        "/effectivePeriod/end",
        "/issued",
    ]
    .iter()
    .filter_map(|pointer| observation.pointer(pointer).and_then(Value::as_str))
    .find_map(|text| parse_instant_micros(text).map(|micros| (text.to_owned(), micros)))
}

type Found = (Parameter, &'static str, Reading);

/// Reads the value an Observation coded `code` carries.
fn reading_for(code: &str, observation: &Value) -> Result<Found, String> {
    use Parameter::*;
    let number = |parameter, loinc, units: &[&str]| -> Result<Found, String> {
        let value = quantity(observation.get("valueQuantity"), units, true)?;
        Ok((parameter, loinc, Reading::Quantity(value)))
    };
    match code {
        "9279-1" => number(RespirationRate, "9279-1", PER_MINUTE),
        "59408-5" => number(OxygenSaturation, "59408-5", PERCENT),
        "2708-6" => number(OxygenSaturation, "2708-6", PERCENT),
        "8480-6" => number(SystolicBloodPressure, "8480-6", MM_HG),
        "8867-4" => number(Pulse, "8867-4", PER_MINUTE),
        "85354-9" | "55284-4" => systolic_component(observation),
        "8310-5" => temperature(observation.get("valueQuantity")),
        "67775-7" => consciousness(observation),
        "3151-8" => {
            let flow = quantity(observation.get("valueQuantity"), LITRES_PER_MINUTE, true)?;
            if flow < Decimal::ZERO {
                return Err(format!("negative oxygen flow rate {flow}"));
            }
            Ok((
                AirOrOxygen,
                "3151-8",
                Reading::OnOxygen(flow > Decimal::ZERO),
            ))
        }
        "3150-0" => {
            let fio2 = quantity(observation.get("valueQuantity"), PERCENT, true)?;
            if fio2 < Decimal::from(21) || fio2 > Decimal::from(100) {
                return Err(format!(
                    "inhaled oxygen concentration {fio2}% is not 21-100%"
                ));
            }
            Ok((
                AirOrOxygen,
                "3150-0",
                Reading::OnOxygen(fio2 > Decimal::from(21)),
            ))
        }
        other => Err(format!("LOINC {other} is not a NEWS2 parameter")),
    }
}

fn systolic_component(observation: &Value) -> Result<Found, String> {
    let component = observation
        .get("component")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| loinc_codes(c.get("code")).contains(&"8480-6"))
        .ok_or_else(|| "blood pressure panel without a systolic (8480-6) component".to_owned())?;
    let value = quantity(component.get("valueQuantity"), MM_HG, true)?;
    Ok((
        Parameter::SystolicBloodPressure,
        "8480-6",
        Reading::Quantity(value),
    ))
}

fn temperature(value: Option<&Value>) -> Result<Found, String> {
    let celsius = match quantity(value, CELSIUS, false) {
        Ok(celsius) => celsius,
        Err(not_celsius) => {
            let fahrenheit = quantity(value, FAHRENHEIT, false).map_err(|_| not_celsius)?;
            fahrenheit
                .checked_sub(Decimal::from(32))
                .and_then(|d| d.checked_mul(Decimal::from(5)))
                .and_then(|d| d.checked_div(Decimal::from(9)))
                .ok_or_else(|| format!("temperature {fahrenheit} °F is out of range"))?
        }
    };
    Ok((Parameter::Temperature, "8310-5", Reading::Quantity(celsius)))
}

fn consciousness(observation: &Value) -> Result<Found, String> {
    let concept = observation.get("valueCodeableConcept");
    let codings: Vec<&Value> = concept
        .and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let by_code = codings.iter().find_map(|coding| {
        let system = coding.get("system").and_then(Value::as_str);
        let code = coding.get("code").and_then(Value::as_str)?;
        (system == Some(SNOMED))
            .then(|| {
                Consciousness::ALL
                    .into_iter()
                    .find(|c| c.snomed_code() == code)
            })
            .flatten()
    });
    let mut texts = concept
        .and_then(|c| c.get("text"))
        .into_iter()
        .chain(codings.iter().filter_map(|c| c.get("display")))
        .chain(observation.get("valueString"))
        .filter_map(Value::as_str);
    let level = by_code
        .or_else(|| texts.find_map(Consciousness::from_text))
        .ok_or_else(|| "level of consciousness is not an ACVPU code or text".to_owned())?;
    Ok((
        Parameter::Consciousness,
        "67775-7",
        Reading::Consciousness(level),
    ))
}

/// Accepted units: UCUM codes first, then unit texts seen in the wild.
const PER_MINUTE: &[&str] = &[
    "/min",
    "{breaths}/min",
    "{beats}/min",
    "breaths/min",
    "beats/min",
    "bpm",
    "per minute",
];
const PERCENT: &[&str] = &["%"];
const MM_HG: &[&str] = &["mm[Hg]", "mmHg", "mm Hg"];
const CELSIUS: &[&str] = &["Cel", "°C", "degC", "C"];
const FAHRENHEIT: &[&str] = &["[degF]", "°F", "degF", "F"];
const LITRES_PER_MINUTE: &[&str] = &["L/min", "l/min"];

/// The exact decimal value of a Quantity whose unit is one of `units`; `unitless_ok` accepts a
/// quantity with neither `code` nor `unit`.
fn quantity(value: Option<&Value>, units: &[&str], unitless_ok: bool) -> Result<Decimal, String> {
    let value = value.ok_or_else(|| "no valueQuantity".to_owned())?;
    if let Some(comparator) = value.get("comparator").and_then(Value::as_str) {
        return Err(format!("value with comparator {comparator:?} is not exact"));
    }
    let system = value.get("system").and_then(Value::as_str);
    let code = value
        .get("code")
        .and_then(Value::as_str)
        .filter(|_| system.is_none_or(|s| s == UCUM));
    let unit = code.or_else(|| value.get("unit").and_then(Value::as_str));
    match unit {
        Some(unit) if !units.contains(&unit) => {
            return Err(format!("unit {unit:?} is not one of {units:?}"));
        }
        None if !unitless_ok => return Err("no unit".to_owned()),
        _ => {}
    }
    let number = value
        .get("value")
        .and_then(Value::as_number)
        .ok_or_else(|| "no numeric value".to_owned())?;
    let text = number.to_string();
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| format!("value {text} is out of range"))
}
