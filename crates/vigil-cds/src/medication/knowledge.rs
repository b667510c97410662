//! The medication-safety knowledge file (`knowledge/medications.json`), loaded and checked:
//! every class member is a known ingredient, every interaction, allergy class, duplicate class
//! and negative pair names things that exist.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use crate::CdsError;

/// The RxNorm code system.
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

const EMBEDDED: &str = include_str!("../../knowledge/medications.json");

/// One ingredient.
#[derive(Debug, Clone, Deserialize)]
pub struct Ingredient {
    /// RxNorm ingredient code.
    pub rxcui: String,
    /// Its name (lower case, as RxNorm spells it).
    pub name: String,
    /// Other names matched in text (international names).
    #[serde(default)]
    pub synonyms: Vec<String>,
}

/// A class of ingredients.
#[derive(Debug, Clone, Deserialize)]
pub struct DrugClass {
    /// Its display name.
    pub display: String,
    /// RxNorm codes of its members.
    pub members: Vec<String>,
    /// Words that name the class itself in an allergy (`penicillin`).
    #[serde(default)]
    pub names: Vec<String>,
}

/// A drug-drug interaction between two classes (symmetric in use).
#[derive(Debug, Clone, Deserialize)]
pub struct Interaction {
    /// Stable id (`onc-02`).
    pub id: String,
    /// Object class.
    pub object: String,
    /// Precipitant class.
    pub precipitant: String,
    /// Card summary.
    pub summary: String,
    /// Card detail.
    pub detail: String,
}

/// A class one can be allergic to, and the classes it cross-reacts with.
#[derive(Debug, Clone, Deserialize)]
pub struct AllergyClass {
    /// The class.
    pub class: String,
    /// Cross-sensitive classes.
    #[serde(default)]
    pub cross_sensitive: Vec<CrossSensitivity>,
}

/// One cross-sensitivity.
#[derive(Debug, Clone, Deserialize)]
pub struct CrossSensitivity {
    /// The other class.
    pub class: String,
    /// Why it matters.
    pub detail: String,
}

/// A pair that must raise no warning or critical card.
#[derive(Debug, Clone, Deserialize)]
pub struct NegativePair {
    /// One ingredient's RxNorm code.
    pub a: String,
    /// The other's.
    pub b: String,
    /// Why they are safe together, with the source.
    pub note: String,
}

#[derive(Debug, Deserialize)]
struct File {
    provenance: Value,
    ingredients: Vec<Ingredient>,
    classes: HashMap<String, DrugClass>,
    interactions: Vec<Interaction>,
    allergy_classes: Vec<AllergyClass>,
    duplicate_classes: Vec<String>,
    negative_set: Vec<NegativePair>,
}

/// The loaded knowledge.
#[derive(Debug)]
pub struct MedicationKnowledge {
    /// The file's provenance block, as written.
    pub provenance: Value,
    /// Every ingredient.
    pub ingredients: Vec<Ingredient>,
    /// Classes by key.
    pub classes: HashMap<String, DrugClass>,
    /// Interactions.
    pub interactions: Vec<Interaction>,
    /// Allergy classes.
    pub allergy_classes: Vec<AllergyClass>,
    /// Classes whose members duplicate each other.
    pub duplicate_classes: Vec<String>,
    /// The documented negative set.
    pub negative_set: Vec<NegativePair>,
    by_code: HashMap<String, usize>,
    /// (normalised name with a space either side, ingredient index)
    names: Vec<(String, usize)>,
    members: HashMap<String, HashSet<String>>,
}

impl MedicationKnowledge {
    /// The embedded file, loaded once.
    pub fn embedded() -> Result<&'static MedicationKnowledge, CdsError> {
        static LOADED: OnceLock<Result<MedicationKnowledge, CdsError>> = OnceLock::new();
        LOADED
            .get_or_init(|| MedicationKnowledge::from_json(EMBEDDED))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Loads and checks a knowledge file.
    pub fn from_json(text: &str) -> Result<MedicationKnowledge, CdsError> {
        let file: File = serde_json::from_str(text).map_err(|e| problem(format!("{e}")))?;
        let mut by_code = HashMap::new();
        let mut names = Vec::new();
        for (index, ingredient) in file.ingredients.iter().enumerate() {
            if by_code.insert(ingredient.rxcui.clone(), index).is_some() {
                return Err(problem(format!(
                    "ingredient {} listed twice",
                    ingredient.rxcui
                )));
            }
            for name in std::iter::once(&ingredient.name).chain(&ingredient.synonyms) {
                names.push((format!(" {} ", normalise(name).trim()), index));
            }
        }
        // Longer names first, so "penicillin g" is tried before any shorter name inside it.
        names.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
        let mut members = HashMap::new();
        for (key, class) in &file.classes {
            for member in &class.members {
                if !by_code.contains_key(member) {
                    return Err(problem(format!("class {key}: unknown ingredient {member}")));
                }
            }
            members.insert(key.clone(), class.members.iter().cloned().collect());
        }
        let known = |class: &str, what: &str| {
            if file.classes.contains_key(class) {
                Ok(())
            } else {
                Err(problem(format!("{what} names unknown class {class}")))
            }
        };
        for interaction in &file.interactions {
            known(&interaction.object, &interaction.id)?;
            known(&interaction.precipitant, &interaction.id)?;
        }
        for allergy in &file.allergy_classes {
            known(&allergy.class, "an allergy class")?;
            for cross in &allergy.cross_sensitive {
                known(&cross.class, &allergy.class)?;
            }
        }
        for class in &file.duplicate_classes {
            known(class, "duplicate_classes")?;
        }
        for pair in &file.negative_set {
            for code in [&pair.a, &pair.b] {
                if !by_code.contains_key(code) {
                    return Err(problem(format!("negative pair: unknown ingredient {code}")));
                }
            }
        }
        Ok(MedicationKnowledge {
            provenance: file.provenance,
            ingredients: file.ingredients,
            classes: file.classes,
            interactions: file.interactions,
            allergy_classes: file.allergy_classes,
            duplicate_classes: file.duplicate_classes,
            negative_set: file.negative_set,
            by_code,
            names,
            members,
        })
    }

    /// The ingredient with this RxNorm code.
    pub fn by_code(&self, rxcui: &str) -> Option<&Ingredient> {
        self.by_code.get(rxcui).map(|&i| &self.ingredients[i])
    }

    /// Ingredients named in free text (whole words, any case).
    pub fn named_in(&self, text: &str) -> Vec<&Ingredient> {
        let text = format!(" {} ", normalise(text));
        let mut found: Vec<&Ingredient> = Vec::new();
        for (name, index) in &self.names {
            let ingredient = &self.ingredients[*index];
            if text.contains(name.as_str()) && !found.iter().any(|f| f.rxcui == ingredient.rxcui) {
                found.push(ingredient);
            }
        }
        found
    }

    /// Whether `rxcui` is a member of `class`.
    pub fn in_class(&self, rxcui: &str, class: &str) -> bool {
        self.members.get(class).is_some_and(|m| m.contains(rxcui))
    }

    /// Classes named in free text by their own names (`penicillin allergy`).
    pub fn classes_named_in(&self, text: &str) -> Vec<&str> {
        let text = format!(" {} ", normalise(text));
        let mut found: Vec<&str> = self
            .classes
            .iter()
            .filter(|(_, class)| {
                class
                    .names
                    .iter()
                    .any(|name| text.contains(&format!(" {} ", normalise(name).trim())))
            })
            .map(|(key, _)| key.as_str())
            .collect();
        found.sort_unstable();
        found
    }
}

/// Lower case, every character that is not a letter or digit a space.
fn normalise(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect()
}

fn problem(problem: String) -> CdsError {
    CdsError::MedicationKnowledge { problem }
}
