//! The medication-safety checks, pure: draft orders against the patient's active medications,
//! the other drafts and the patient's allergies.
//!
//! Medications are identified by ingredient: an RxNorm coding (system [`RXNORM`]) whose code is
//! a known ingredient; failing that, ingredient names found as whole words in the codings'
//! displays and the concept's text (`Amoxicillin 500 MG Oral Capsule` is amoxicillin).
//! Allergies the same way, plus class names (`Penicillin allergy` is the penicillin class).
//!
//! | check | when | indicator |
//! |---|---|---|
//! | drug-drug interaction | one ingredient in an interaction's object class, the other in its precipitant class (either way round) | critical |
//! | drug-allergy | a draft ingredient is the allergen, or in the allergen's class (an allergy to a class member counts as an allergy to the class) | critical |
//! | cross-sensitivity | a draft ingredient is in a class cross-sensitive with the allergen's class | warning |
//! | duplicate therapy | the same ingredient (or the same RxNorm code), or two members of one duplicate class | warning |

use serde_json::Value;

use super::knowledge::{Ingredient, MedicationKnowledge, RXNORM};

/// A medication order (draft or active) to check.
#[derive(Debug, Clone)]
pub struct MedicationEntry {
    /// `MedicationRequest/{id}`.
    pub reference: String,
    /// What to call it in a card.
    pub label: String,
    /// The medication's CodeableConcept.
    pub concept: Value,
}

/// An allergy or intolerance to check against.
#[derive(Debug, Clone)]
pub struct AllergyEntry {
    /// `AllergyIntolerance/{id}`.
    pub reference: String,
    /// What to call it in a card.
    pub label: String,
    /// Its `code`.
    pub concept: Value,
}

/// How serious a finding is (CDS Hooks card indicator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Indicator {
    /// Information.
    Info,
    /// A warning.
    Warning,
    /// Critical.
    Critical,
}

impl Indicator {
    /// The CDS Hooks spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Indicator::Info => "info",
            Indicator::Warning => "warning",
            Indicator::Critical => "critical",
        }
    }

    /// The DetectedIssue severity.
    pub fn severity(self) -> &'static str {
        match self {
            Indicator::Critical => "high",
            Indicator::Warning => "moderate",
            Indicator::Info => "low",
        }
    }
}

/// What kind of problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    /// Drug-drug interaction.
    Interaction,
    /// Drug-allergy.
    Allergy,
    /// Duplicate therapy.
    Duplicate,
}

impl FindingKind {
    /// The v3 ActCode of a DetectedIssue of this kind.
    pub fn act_code(self) -> (&'static str, &'static str) {
        match self {
            FindingKind::Interaction => ("DRG", "Drug Interaction Alert"),
            FindingKind::Allergy => ("ALGY", "Allergy Alert"),
            FindingKind::Duplicate => ("DUPTHPY", "Duplicate Therapy Alert"),
        }
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Kind.
    pub kind: FindingKind,
    /// Indicator.
    pub indicator: Indicator,
    /// Short summary (at most 140 characters).
    pub summary: String,
    /// Detail (markdown).
    pub detail: String,
    /// The draft order.
    pub draft: String,
    /// The other order or the allergy.
    pub other: String,
    /// The rule (`onc-02`, `allergy:penicillins`, `duplicate:ppis`).
    pub rule: String,
}

/// The ingredients of a medication concept.
pub fn ingredients<'k>(knowledge: &'k MedicationKnowledge, concept: &Value) -> Vec<&'k Ingredient> {
    let codings = concept["coding"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let coded: Vec<&Ingredient> = codings
        .iter()
        .filter(|c| c["system"] == RXNORM)
        .filter_map(|c| c["code"].as_str().and_then(|code| knowledge.by_code(code)))
        .collect();
    if !coded.is_empty() {
        return coded;
    }
    let mut found: Vec<&Ingredient> = Vec::new();
    let texts = codings
        .iter()
        .filter_map(|c| c["display"].as_str())
        .chain(concept["text"].as_str());
    for text in texts {
        for ingredient in knowledge.named_in(text) {
            if !found.iter().any(|f| f.rxcui == ingredient.rxcui) {
                found.push(ingredient);
            }
        }
    }
    found
}

fn rxnorm_codes(concept: &Value) -> Vec<&str> {
    concept["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["system"] == RXNORM)
        .filter_map(|c| c["code"].as_str())
        .collect()
}

/// Runs every check: each draft against the active orders, the later drafts and the
/// allergies.
pub fn check(
    knowledge: &MedicationKnowledge,
    drafts: &[MedicationEntry],
    active: &[MedicationEntry],
    allergies: &[AllergyEntry],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (index, draft) in drafts.iter().enumerate() {
        let others = active
            .iter()
            .filter(|a| a.reference != draft.reference)
            .chain(drafts[index + 1..].iter());
        for other in others {
            pair_findings(knowledge, draft, other, &mut findings);
        }
        for allergy in allergies {
            allergy_findings(knowledge, draft, allergy, &mut findings);
        }
    }
    findings
}

fn pair_findings(
    knowledge: &MedicationKnowledge,
    draft: &MedicationEntry,
    other: &MedicationEntry,
    findings: &mut Vec<Finding>,
) {
    let mine = ingredients(knowledge, &draft.concept);
    let theirs = ingredients(knowledge, &other.concept);
    let mut push = |kind, indicator, summary: String, detail: String, rule: String| {
        if !findings.iter().any(|f: &Finding| {
            f.rule == rule && f.draft == draft.reference && f.other == other.reference
        }) {
            findings.push(Finding {
                kind,
                indicator,
                summary: truncate(&summary),
                detail,
                draft: draft.reference.clone(),
                other: other.reference.clone(),
                rule,
            });
        }
    };
    for a in &mine {
        for b in &theirs {
            for interaction in &knowledge.interactions {
                let (object, precipitant) = (&interaction.object, &interaction.precipitant);
                let hit = (knowledge.in_class(&a.rxcui, object)
                    && knowledge.in_class(&b.rxcui, precipitant))
                    || (knowledge.in_class(&b.rxcui, object)
                        && knowledge.in_class(&a.rxcui, precipitant));
                if hit {
                    push(
                        FindingKind::Interaction,
                        Indicator::Critical,
                        format!("{}: {} and {}", interaction.summary, a.name, b.name),
                        format!(
                            "**{}** ordered with **{}** ({}). {}",
                            a.name, b.name, other.label, interaction.detail
                        ),
                        interaction.id.clone(),
                    );
                }
            }
            if a.rxcui == b.rxcui {
                push(
                    FindingKind::Duplicate,
                    Indicator::Warning,
                    format!("Duplicate therapy: {} is already ordered", a.name),
                    format!(
                        "**{}** is already ordered for this patient ({}).",
                        a.name, other.label
                    ),
                    format!("duplicate:{}", a.rxcui),
                );
                continue;
            }
            for class in &knowledge.duplicate_classes {
                if knowledge.in_class(&a.rxcui, class) && knowledge.in_class(&b.rxcui, class) {
                    let display = &knowledge.classes[class].display;
                    push(
                        FindingKind::Duplicate,
                        Indicator::Warning,
                        format!("Duplicate therapy: two {display}"),
                        format!(
                            "**{}** and **{}** ({}) are both {display}.",
                            a.name, b.name, other.label
                        ),
                        format!("duplicate:{class}"),
                    );
                }
            }
        }
    }
    // The same RxNorm code for a medication the knowledge does not know.
    if mine.is_empty() || theirs.is_empty() {
        let theirs_codes = rxnorm_codes(&other.concept);
        if let Some(code) = rxnorm_codes(&draft.concept)
            .into_iter()
            .find(|c| theirs_codes.contains(c))
        {
            push(
                FindingKind::Duplicate,
                Indicator::Warning,
                format!("Duplicate therapy: {} is already ordered", draft.label),
                format!(
                    "The same medication (RxNorm {code}) is already ordered ({}).",
                    other.label
                ),
                format!("duplicate:{code}"),
            );
        }
    }
}

fn allergy_findings(
    knowledge: &MedicationKnowledge,
    draft: &MedicationEntry,
    allergy: &AllergyEntry,
    findings: &mut Vec<Finding>,
) {
    let allergens = ingredients(knowledge, &allergy.concept);
    let mut allergen_classes: Vec<&str> = Vec::new();
    for text in concept_texts(&allergy.concept) {
        for class in knowledge.classes_named_in(text) {
            if !allergen_classes.contains(&class) {
                allergen_classes.push(class);
            }
        }
    }
    for allergy_class in &knowledge.allergy_classes {
        let class = allergy_class.class.as_str();
        if allergens
            .iter()
            .any(|a| knowledge.in_class(&a.rxcui, class))
            && !allergen_classes.contains(&class)
        {
            allergen_classes.push(class);
        }
    }
    for ingredient in ingredients(knowledge, &draft.concept) {
        let mut push = |indicator, summary: String, detail: String, rule: String| {
            if !findings.iter().any(|f: &Finding| {
                f.draft == draft.reference && f.other == allergy.reference && f.rule == rule
            }) {
                findings.push(Finding {
                    kind: FindingKind::Allergy,
                    indicator,
                    summary: truncate(&summary),
                    detail,
                    draft: draft.reference.clone(),
                    other: allergy.reference.clone(),
                    rule,
                });
            }
        };
        if allergens.iter().any(|a| a.rxcui == ingredient.rxcui) {
            push(
                Indicator::Critical,
                format!("Allergy: the patient is allergic to {}", ingredient.name),
                format!(
                    "**{}** is ordered; the patient has a recorded allergy or intolerance: {}.",
                    ingredient.name, allergy.label
                ),
                format!("allergy:{}", ingredient.rxcui),
            );
            continue;
        }
        for class in &allergen_classes {
            if knowledge.in_class(&ingredient.rxcui, class) {
                let display = &knowledge.classes[*class].display;
                push(
                    Indicator::Critical,
                    format!("Allergy: {} is one of the {display}", ingredient.name),
                    format!(
                        "**{}** belongs to the {display}; the patient has a recorded allergy: {}.",
                        ingredient.name, allergy.label
                    ),
                    format!("allergy:{class}"),
                );
            }
            let cross = knowledge
                .allergy_classes
                .iter()
                .filter(|a| a.class == *class)
                .flat_map(|a| &a.cross_sensitive);
            for cross in cross {
                if knowledge.in_class(&ingredient.rxcui, &cross.class) {
                    let display = &knowledge.classes[&cross.class].display;
                    push(
                        Indicator::Warning,
                        format!(
                            "Possible cross-sensitivity: {} ({display}) with a {} allergy",
                            ingredient.name, knowledge.classes[*class].display
                        ),
                        format!(
                            "**{}** is one of the {display}; the patient has a recorded allergy: {}. {}",
                            ingredient.name, allergy.label, cross.detail
                        ),
                        format!("cross:{class}:{}", cross.class),
                    );
                }
            }
        }
    }
}

fn concept_texts(concept: &Value) -> impl Iterator<Item = &str> {
    concept["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["display"].as_str())
        .chain(concept["text"].as_str())
}

/// CDS Hooks limits a summary to 140 characters.
fn truncate(text: &str) -> String {
    if text.chars().count() <= 140 {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(139).collect();
    out.push('…');
    out
}
