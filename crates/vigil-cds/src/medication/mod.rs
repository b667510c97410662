//! Medication safety: drug-drug interactions (the ONC high-priority list, Phansalkar et al.
//! 2012), drug-allergy with class cross-sensitivity, and duplicate therapy, from the knowledge
//! file `knowledge/medications.json`.
//!
//! - [`knowledge`]: the file, loaded and checked;
//! - [`checks`]: the checks (pure);
//! - [`resources`]: medication orders and allergies from FHIR resources;
//! - [`feed`]: the change-feed consumer that stores findings on new MedicationRequests as
//!   DetectedIssue resources.

pub mod checks;
pub mod feed;
pub mod knowledge;
pub mod resources;

pub use checks::{AllergyEntry, Finding, FindingKind, Indicator, MedicationEntry, check};
pub use knowledge::{MedicationKnowledge, RXNORM};
