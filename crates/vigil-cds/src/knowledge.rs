//! The NEWS2 chart as data: `knowledge/news2.json` (embedded with `include_str!`), parsed and
//! validated once.
//!
//! The file holds every parameter's bands, the categorical parameters (air or oxygen,
//! consciousness), the clinical-risk rules and the clinical response per risk level, with the
//! provenance of all of it (Royal College of Physicians, NEWS2, 2017). Nothing about the chart is
//! written in Rust: [`News2Knowledge::from_json`] checks that the file is a usable chart
//! (numeric bands contiguous at the table's precision with no gap or overlap, open at both
//! ends; every categorical value present once; the unconditional risk levels covering every
//! possible total exactly once; responses covering each level's range) and refuses it otherwise.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::OnceLock;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;

use crate::CdsError;

/// The chart shipped with Vigil.
const EMBEDDED: &str = include_str!("../knowledge/news2.json");

/// Where the chart comes from (kept with the data, shown in docs and card sources).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Title of the publication.
    pub title: String,
    /// Publisher (the Royal College of Physicians).
    pub publisher: String,
    /// Year of publication.
    pub year: u16,
    /// Page publishing the report and its charts.
    pub url: String,
    /// The address printed in the report for the charts (the RCP's former site).
    pub url_in_report: String,
    /// Terms of use, as the report states them.
    pub licence: String,
    /// Which charts of the report the file follows.
    pub charts: String,
    /// How the data was taken from the charts.
    pub note: String,
}

/// One band of a numeric parameter: `min..=max` (either end open) scores `score`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Band {
    /// Lowest value of the band, inclusive; `None` for the lowest band.
    pub min: Option<Decimal>,
    /// Highest value of the band, inclusive; `None` for the highest band.
    pub max: Option<Decimal>,
    /// The sub-score.
    pub score: u8,
}

impl Band {
    fn contains(&self, value: Decimal) -> bool {
        self.min.is_none_or(|min| value >= min) && self.max.is_none_or(|max| value <= max)
    }
}

/// The bands of one numeric parameter (or one SpO2 scale).
#[derive(Debug, Clone)]
pub struct BandTable {
    /// The table's name in the file (`respiration_rate`, `spo2_scale_2_oxygen`, ...).
    pub name: String,
    /// Human-readable name.
    pub display: String,
    /// The unit the bands are written in.
    pub unit: String,
    /// Values are rounded (half away from zero) to this many decimals before banding.
    pub decimals: u32,
    /// The bands, lowest first, contiguous.
    pub bands: Vec<Band>,
}

impl BandTable {
    /// Rounds `value` to the table's precision (half away from zero, as a chart reader would).
    pub fn round(&self, value: Decimal) -> Decimal {
        value.round_dp_with_strategy(self.decimals, RoundingStrategy::MidpointAwayFromZero)
    }

    /// The sub-score of `value` (rounded first). Validated tables cover every value.
    pub fn score(&self, value: Decimal) -> u8 {
        let value = self.round(value);
        self.bands
            .iter()
            .find(|band| band.contains(value))
            .map_or(0, |band| band.score)
    }

    fn max_score(&self) -> u8 {
        self.bands.iter().map(|band| band.score).max().unwrap_or(0)
    }
}

/// One value of a categorical parameter.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// The value's key (`air`, `new-confusion`, ...).
    pub value: String,
    /// Human-readable name.
    pub display: String,
    /// The sub-score.
    pub score: u8,
}

/// A categorical parameter (air or oxygen, consciousness).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceTable {
    /// Human-readable name.
    pub display: String,
    /// Every value, each once.
    pub choices: Vec<Choice>,
}

impl ChoiceTable {
    /// The sub-score of `value`, `None` for a value the table does not know.
    pub fn score(&self, value: &str) -> Option<u8> {
        self.choices
            .iter()
            .find(|choice| choice.value == value)
            .map(|choice| choice.score)
    }

    fn max_score(&self) -> u8 {
        self.choices.iter().map(|c| c.score).max().unwrap_or(0)
    }
}

/// The clinical response for a range of totals within a risk level.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// Lowest total, inclusive.
    pub total_min: u32,
    /// Highest total, inclusive; `None` for no upper bound.
    pub total_max: Option<u32>,
    /// Frequency of monitoring.
    pub monitoring: String,
    /// What the clinical team must do.
    pub response: String,
}

/// One clinical-risk level and the rule that selects it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskLevel {
    /// Key (`low`, `low-medium`, `medium`, `high`).
    pub code: String,
    /// Human-readable name.
    pub display: String,
    /// The rule in words, as the chart says it.
    pub rule: String,
    /// Lowest total, inclusive.
    pub total_min: u32,
    /// Highest total, inclusive; `None` for no upper bound.
    pub total_max: Option<u32>,
    /// When set, the level applies only if some parameter scores exactly this.
    pub any_parameter_score: Option<u8>,
    /// Priority of the alert Task (`stat`, `urgent`); `None`: no alert.
    pub task_priority: Option<String>,
    /// Clinical responses by total.
    pub responses: Vec<Response>,
}

impl RiskLevel {
    fn covers(&self, total: u32) -> bool {
        total >= self.total_min && self.total_max.is_none_or(|max| total <= max)
    }

    /// Whether this level applies to `total` with these sub-scores.
    pub fn applies(&self, total: u32, sub_scores: &[u8]) -> bool {
        self.covers(total)
            && self
                .any_parameter_score
                .is_none_or(|wanted| sub_scores.contains(&wanted))
    }

    /// The clinical response for `total` (validated levels always have one).
    pub fn response(&self, total: u32) -> Option<&Response> {
        self.responses
            .iter()
            .find(|r| total >= r.total_min && r.total_max.is_none_or(|max| total <= max))
    }
}

/// The whole chart, validated.
#[derive(Debug, Clone)]
pub struct News2Knowledge {
    /// Where it comes from.
    pub provenance: Provenance,
    /// Respiration rate.
    pub respiration_rate: BandTable,
    /// SpO2 Scale 1.
    pub spo2_scale_1: BandTable,
    /// SpO2 Scale 2, patient on air.
    pub spo2_scale_2_air: BandTable,
    /// SpO2 Scale 2, patient on oxygen.
    pub spo2_scale_2_oxygen: BandTable,
    /// Systolic blood pressure.
    pub systolic_blood_pressure: BandTable,
    /// Pulse.
    pub pulse: BandTable,
    /// Temperature (°C).
    pub temperature: BandTable,
    /// Air or oxygen (`air`, `oxygen`).
    pub air_or_oxygen: ChoiceTable,
    /// Consciousness (`alert`, `new-confusion`, `voice`, `pain`, `unresponsive`).
    pub consciousness: ChoiceTable,
    /// Risk levels in the order they are tried; the first that applies wins.
    pub risk: Vec<RiskLevel>,
    /// The highest total the chart can give.
    pub max_total: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    provenance: Provenance,
    bands: RawBands,
    choices: RawChoices,
    risk: Vec<RiskLevel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBands {
    respiration_rate: RawTable,
    spo2_scale_1: RawTable,
    spo2_scale_2_air: RawTable,
    spo2_scale_2_oxygen: RawTable,
    systolic_blood_pressure: RawTable,
    pulse: RawTable,
    temperature: RawTable,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChoices {
    air_or_oxygen: ChoiceTable,
    consciousness: ChoiceTable,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    display: String,
    unit: String,
    decimals: u32,
    bands: Vec<RawBand>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    min: Option<serde_json::Number>,
    max: Option<serde_json::Number>,
    score: u8,
}

impl News2Knowledge {
    /// The chart shipped with Vigil, parsed and validated on first use.
    pub fn embedded() -> Result<&'static News2Knowledge, CdsError> {
        static LOADED: OnceLock<Result<News2Knowledge, CdsError>> = OnceLock::new();
        LOADED
            .get_or_init(|| News2Knowledge::from_json(EMBEDDED))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Parses and validates a chart file.
    pub fn from_json(text: &str) -> Result<News2Knowledge, CdsError> {
        let raw: RawFile = serde_json::from_str(text).map_err(|err| CdsError::Knowledge {
            problem: format!("not a NEWS2 chart file: {err}"),
        })?;
        let b = raw.bands;
        let mut knowledge = News2Knowledge {
            provenance: raw.provenance,
            respiration_rate: table("respiration_rate", b.respiration_rate)?,
            spo2_scale_1: table("spo2_scale_1", b.spo2_scale_1)?,
            spo2_scale_2_air: table("spo2_scale_2_air", b.spo2_scale_2_air)?,
            spo2_scale_2_oxygen: table("spo2_scale_2_oxygen", b.spo2_scale_2_oxygen)?,
            systolic_blood_pressure: table("systolic_blood_pressure", b.systolic_blood_pressure)?,
            pulse: table("pulse", b.pulse)?,
            temperature: table("temperature", b.temperature)?,
            air_or_oxygen: raw.choices.air_or_oxygen,
            consciousness: raw.choices.consciousness,
            risk: raw.risk,
            max_total: 0,
        };
        check_choices(
            "air_or_oxygen",
            &knowledge.air_or_oxygen,
            &["air", "oxygen"],
        )?;
        check_choices(
            "consciousness",
            &knowledge.consciousness,
            &["alert", "new-confusion", "voice", "pain", "unresponsive"],
        )?;
        knowledge.max_total = knowledge.compute_max_total();
        check_risk(&knowledge.risk, knowledge.max_total)?;
        Ok(knowledge)
    }

    fn compute_max_total(&self) -> u32 {
        let spo2 = [
            &self.spo2_scale_1,
            &self.spo2_scale_2_air,
            &self.spo2_scale_2_oxygen,
        ]
        .iter()
        .map(|t| t.max_score())
        .max()
        .unwrap_or(0);
        [
            self.respiration_rate.max_score(),
            spo2,
            self.air_or_oxygen.max_score(),
            self.systolic_blood_pressure.max_score(),
            self.pulse.max_score(),
            self.consciousness.max_score(),
            self.temperature.max_score(),
        ]
        .iter()
        .map(|&s| u32::from(s))
        .sum()
    }

    /// The risk level for a total and its sub-scores: the first level (in file order) that
    /// applies. Validated charts always have one.
    pub fn risk_level(&self, total: u32, sub_scores: &[u8]) -> Option<&RiskLevel> {
        self.risk
            .iter()
            .find(|level| level.applies(total, sub_scores))
    }
}

fn invalid(problem: String) -> CdsError {
    CdsError::Knowledge { problem }
}

fn decimal(name: &str, number: &serde_json::Number, decimals: u32) -> Result<Decimal, CdsError> {
    let value = Decimal::from_str(&number.to_string())
        .map_err(|_| invalid(format!("{name}: {number} is not a decimal")))?;
    if value.normalize().scale() > decimals {
        return Err(invalid(format!(
            "{name}: {number} has more than {decimals} decimals"
        )));
    }
    Ok(value)
}

/// Builds a band table and checks it: open below and above, each band `min <= max`, and each
/// band starting exactly one step (10^-decimals) after the previous one ends.
fn table(name: &str, raw: RawTable) -> Result<BandTable, CdsError> {
    if raw.bands.is_empty() {
        return Err(invalid(format!("{name}: no bands")));
    }
    let step = Decimal::try_new(1, raw.decimals).map_err(|_| {
        invalid(format!(
            "{name}: {} decimals is more than a decimal can hold (28)",
            raw.decimals
        ))
    })?;
    let mut bands = Vec::with_capacity(raw.bands.len());
    for band in &raw.bands {
        let min = band
            .min
            .as_ref()
            .map(|n| decimal(name, n, raw.decimals))
            .transpose()?;
        let max = band
            .max
            .as_ref()
            .map(|n| decimal(name, n, raw.decimals))
            .transpose()?;
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            return Err(invalid(format!("{name}: band {min}..{max} is empty")));
        }
        bands.push(Band {
            min,
            max,
            score: band.score,
        });
    }
    let last = bands.len() - 1;
    for (index, band) in bands.iter().enumerate() {
        if (index == 0) != band.min.is_none() {
            return Err(invalid(format!(
                "{name}: only the first band has no lower bound (band {index})"
            )));
        }
        if (index == last) != band.max.is_none() {
            return Err(invalid(format!(
                "{name}: only the last band has no upper bound (band {index})"
            )));
        }
    }
    for pair in bands.windows(2) {
        let (Some(end), Some(start)) = (pair[0].max, pair[1].min) else {
            continue; // reported above
        };
        if end.checked_add(step) != Some(start) {
            let what = if start <= end { "overlap" } else { "gap" };
            return Err(invalid(format!(
                "{name}: {what} between a band ending at {end} and the next starting at {start}"
            )));
        }
    }
    Ok(BandTable {
        name: name.to_owned(),
        display: raw.display,
        unit: raw.unit,
        decimals: raw.decimals,
        bands,
    })
}

fn check_choices(name: &str, table: &ChoiceTable, expected: &[&str]) -> Result<(), CdsError> {
    let present: Vec<&str> = table.choices.iter().map(|c| c.value.as_str()).collect();
    let unique: BTreeSet<&str> = present.iter().copied().collect();
    if unique.len() != present.len() {
        return Err(invalid(format!("{name}: a value is listed twice")));
    }
    let wanted: BTreeSet<&str> = expected.iter().copied().collect();
    if unique != wanted {
        return Err(invalid(format!(
            "{name}: values must be exactly {expected:?}, found {present:?}"
        )));
    }
    Ok(())
}

/// Every total 0..=max_total is covered by exactly one unconditional level; conditional levels
/// lie inside the possible totals; codes are unique; each level's responses cover its range.
fn check_risk(levels: &[RiskLevel], max_total: u32) -> Result<(), CdsError> {
    let codes: BTreeSet<&str> = levels.iter().map(|l| l.code.as_str()).collect();
    if codes.len() != levels.len() {
        return Err(invalid("risk: a level code is listed twice".to_owned()));
    }
    for total in 0..=max_total {
        let covering = levels
            .iter()
            .filter(|l| l.any_parameter_score.is_none() && l.covers(total))
            .count();
        match covering {
            1 => {}
            0 => return Err(invalid(format!("risk: no level for total {total}"))),
            _ => return Err(invalid(format!("risk: levels overlap at total {total}"))),
        }
        for level in levels.iter().filter(|l| l.covers(total)) {
            let responses = level
                .responses
                .iter()
                .filter(|r| total >= r.total_min && r.total_max.is_none_or(|max| total <= max))
                .count();
            if responses != 1 {
                return Err(invalid(format!(
                    "risk {}: {responses} responses for total {total} (want 1)",
                    level.code
                )));
            }
        }
    }
    for level in levels {
        if level.total_min > max_total || level.total_max.is_some_and(|m| m < level.total_min) {
            return Err(invalid(format!(
                "risk {}: range outside 0..={max_total}",
                level.code
            )));
        }
        if let Some(priority) = &level.task_priority
            && !matches!(priority.as_str(), "routine" | "urgent" | "asap" | "stat")
        {
            return Err(invalid(format!(
                "risk {}: task_priority {priority:?} is not a FHIR request-priority",
                level.code
            )));
        }
    }
    Ok(())
}
