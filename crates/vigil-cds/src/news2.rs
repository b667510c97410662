//! The NEWS2 score: a sub-score per parameter present, the total, the clinical risk and the
//! clinical response, all looked up in the chart ([`News2Knowledge`]).
//!
//! SpO2 is banded on Scale 1 unless the patient has a documented Scale 2 setting
//! (hypercapnic respiratory failure, target 88-92 %), passed here as [`SpO2Scale::Scale2`]. How
//! that setting is stored is decided with the change-feed consumer; the intended FHIR
//! representation is a `Flag` (or a `Goal` with `target.detailRange` 88-92 % for LOINC
//! 59408-5) on the patient, active while the setting applies, that the consumer reads before
//! scoring. On Scale 2 a saturation of 93 % or more scores differently on air and on oxygen;
//! when there is no air-or-oxygen reading the patient is banded as on air and the score is
//! incomplete anyway ([`News2Score::assumed_air`] says so).
//!
//! The score is `complete` when all seven parameters are present. A partial total is still
//! scored and its risk still raises alerts; it is just never shown as a complete score.

use rust_decimal::Decimal;

use crate::CdsError;
use crate::inputs::{News2Inputs, Parameter, Reading};
use crate::knowledge::{BandTable, News2Knowledge, Response, RiskLevel};

/// Which SpO2 scale the patient is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpO2Scale {
    /// Scale 1, the default.
    #[default]
    Scale1,
    /// Scale 2: hypercapnic respiratory failure with a prescribed target of 88-92 %.
    Scale2,
}

/// One parameter's contribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubScore {
    /// Which parameter.
    pub parameter: Parameter,
    /// Its sub-score.
    pub score: u8,
    /// The chart table used (`spo2_scale_2_oxygen`, `consciousness`, ...).
    pub table: String,
    /// For numeric parameters, the value banded (rounded to the table's precision).
    pub banded_value: Option<Decimal>,
}

/// A NEWS2 score.
#[derive(Debug, Clone, PartialEq)]
pub struct News2Score {
    /// The aggregate score.
    pub total: u32,
    /// Sub-scores of the parameters present, in the chart's order.
    pub sub_scores: Vec<SubScore>,
    /// Parameters without a reading.
    pub missing: Vec<Parameter>,
    /// All seven parameters present.
    pub complete: bool,
    /// The SpO2 scale used.
    pub spo2_scale: SpO2Scale,
    /// SpO2 was banded on Scale 2 as if on air because there was no air-or-oxygen reading.
    pub assumed_air: bool,
    /// The clinical risk level.
    pub risk: RiskLevel,
    /// The clinical response for this total at this level.
    pub response: Response,
}

impl News2Score {
    /// The sub-score of `parameter`, if present.
    pub fn sub_score(&self, parameter: Parameter) -> Option<u8> {
        self.sub_scores
            .iter()
            .find(|s| s.parameter == parameter)
            .map(|s| s.score)
    }
}

/// Scores `inputs` on `knowledge` with the patient's SpO2 scale.
pub fn score(
    knowledge: &News2Knowledge,
    inputs: &News2Inputs,
    spo2_scale: SpO2Scale,
) -> Result<News2Score, CdsError> {
    let on_oxygen = match inputs.get(Parameter::AirOrOxygen).map(|i| &i.reading) {
        Some(Reading::OnOxygen(on)) => Some(*on),
        Some(_) => return Err(mismatch(Parameter::AirOrOxygen)),
        None => None,
    };
    let mut sub_scores = Vec::new();
    for input in inputs.iter() {
        let parameter = input.parameter;
        let sub = match (&input.reading, parameter) {
            (Reading::Quantity(value), Parameter::OxygenSaturation) => {
                let table = spo2_table(knowledge, spo2_scale, on_oxygen.unwrap_or(false));
                banded(parameter, table, *value)
            }
            (Reading::Quantity(value), _) => {
                let table = numeric_table(knowledge, parameter).ok_or(mismatch(parameter))?;
                banded(parameter, table, *value)
            }
            (Reading::OnOxygen(on), Parameter::AirOrOxygen) => {
                let key = if *on { "oxygen" } else { "air" };
                choice(
                    parameter,
                    "air_or_oxygen",
                    knowledge.air_or_oxygen.score(key),
                )?
            }
            (Reading::Consciousness(level), Parameter::Consciousness) => choice(
                parameter,
                "consciousness",
                knowledge.consciousness.score(level.key()),
            )?,
            _ => return Err(mismatch(parameter)),
        };
        sub_scores.push(sub);
    }
    let total: u32 = sub_scores.iter().map(|s| u32::from(s.score)).sum();
    let scores: Vec<u8> = sub_scores.iter().map(|s| s.score).collect();
    let risk = knowledge
        .risk_level(total, &scores)
        .ok_or_else(|| knowledge_gap(format!("no risk level for total {total}")))?;
    let response = risk
        .response(total)
        .ok_or_else(|| knowledge_gap(format!("no response for total {total}")))?;
    let missing = inputs.missing();
    Ok(News2Score {
        total,
        complete: missing.is_empty(),
        assumed_air: spo2_scale == SpO2Scale::Scale2
            && on_oxygen.is_none()
            && inputs.get(Parameter::OxygenSaturation).is_some(),
        missing,
        sub_scores,
        spo2_scale,
        risk: risk.clone(),
        response: response.clone(),
    })
}

fn mismatch(parameter: Parameter) -> CdsError {
    CdsError::InputMismatch {
        parameter: parameter.display(),
    }
}

fn knowledge_gap(problem: String) -> CdsError {
    CdsError::Knowledge { problem }
}

/// The SpO2 table for a scale and oxygen state.
pub fn spo2_table(knowledge: &News2Knowledge, scale: SpO2Scale, on_oxygen: bool) -> &BandTable {
    match (scale, on_oxygen) {
        (SpO2Scale::Scale1, _) => &knowledge.spo2_scale_1,
        (SpO2Scale::Scale2, false) => &knowledge.spo2_scale_2_air,
        (SpO2Scale::Scale2, true) => &knowledge.spo2_scale_2_oxygen,
    }
}

/// The table of a numeric parameter other than SpO2.
fn numeric_table(knowledge: &News2Knowledge, parameter: Parameter) -> Option<&BandTable> {
    match parameter {
        Parameter::RespirationRate => Some(&knowledge.respiration_rate),
        Parameter::SystolicBloodPressure => Some(&knowledge.systolic_blood_pressure),
        Parameter::Pulse => Some(&knowledge.pulse),
        Parameter::Temperature => Some(&knowledge.temperature),
        _ => None,
    }
}

fn banded(parameter: Parameter, table: &BandTable, value: Decimal) -> SubScore {
    SubScore {
        parameter,
        score: table.score(value),
        table: table.name.clone(),
        banded_value: Some(table.round(value)),
    }
}

fn choice(parameter: Parameter, table: &str, score: Option<u8>) -> Result<SubScore, CdsError> {
    let score = score.ok_or_else(|| knowledge_gap(format!("{table}: value missing")))?;
    Ok(SubScore {
        parameter,
        score,
        table: table.to_owned(),
        banded_value: None,
    })
}
