//! Clinical decision support for Vigil: the pure core of NEWS2, the Royal College of
//! Physicians' National Early Warning Score 2 (2017), and the change-feed consumers that run it
//! on committed data and write their results through the service door.
//!
//! Pure core:
//! - [`knowledge`]: the NEWS2 chart as data (`knowledge/news2.json`, embedded), validated;
//! - [`inputs`]: the latest value of each NEWS2 parameter from a patient's vital-sign
//!   Observations (FHIR R4 JSON) inside a time window, remembering every Observation used;
//! - [`news2`]: the score (sub-scores, total, clinical risk, complete or not);
//! - [`output`]: the score Observation and the alert Task as FHIR JSON.
//!
//! ```text
//! Observations ─ inputs::collect_inputs ─> News2Inputs ─ news2::score ─> News2Score
//!                                                       output::score_observation ─> Observation
//!                                                       output::alert_task ─> Option<Task>
//! ```
//!
//! Consumers (I/O through the door only):
//!
//! - [`news2_feed`]: the NEWS2 consumer (score Observation, alert Task) on every committed
//!   vital sign;
//! - [`alerts`]: one open alert Task per patient and kind, raised, never duplicated;
//! - [`rules`]: threshold rules as PlanDefinitions with FHIRPath conditions (consumer
//!   `cds-rules`);
//! - [`medication`]: medication safety (interactions, allergies, duplicates) from a knowledge
//!   file, stored as DetectedIssues on new MedicationRequests (consumer
//!   `cds-medication-safety`);
//! - [`subscriptions`]: R4 Subscriptions (rest-hook, websocket), one durable delivery per
//!   subscription;
//! - [`hooks`]: CDS Hooks services (patient-view, order-sign, order-select), prefetch,
//!   feedback;
//! - [`http`]: the HTTP routes (CDS Hooks, websocket channel) merged beside the FHIR API;
//! - [`start()`]: starts the consumers for `vigil serve`.
//!
//! Architecture invariants: the pure modules (`knowledge`, `inputs`, `news2`, `output`) do no
//! I/O and read no clock (times are arguments). The consumers read and write only through
//! `vigil_service::FhirService` as `system:cds`; the store handle they are started with goes
//! to `ConsumerRunner` and nowhere else. CDS never triggers on its own writes.

#![deny(missing_docs)]

pub mod alerts;
pub mod door;
pub mod hooks;
pub mod http;
pub mod inputs;
pub mod knowledge;
pub mod medication;
pub mod news2;
pub mod news2_feed;
pub mod output;
pub mod rules;
pub mod start;
pub mod subscriptions;

pub use inputs::{
    Consciousness, InputOptions, News2Input, News2Inputs, Parameter, Reading, Skipped,
    collect_inputs,
};
pub use knowledge::News2Knowledge;
pub use news2::{News2Score, SpO2Scale, SubScore, score};
pub use output::{alert_task, score_observation};
pub use start::{Cds, CdsOptions, StartError, start};
/// What went wrong in clinical decision support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CdsError {
    /// A knowledge file (the NEWS2 chart) is malformed or not a usable chart: an internal
    /// fault when it is the embedded file, a user's mistake when an operator supplied it.
    #[error("NEWS2 knowledge: {problem}")]
    Knowledge {
        /// What is wrong, naming the table and values.
        problem: String,
    },
    /// The medication-safety knowledge file is malformed or inconsistent.
    #[error("medication knowledge: {problem}")]
    MedicationKnowledge {
        /// What is wrong.
        problem: String,
    },
    /// A reference given to build an output resource is not `Type/id`.
    #[error("{role} reference {reference:?} is not of the form Type/id")]
    Reference {
        /// Which reference (`subject`, `focus`).
        role: &'static str,
        /// The reference as given.
        reference: String,
    },
    /// An input's reading is not of its parameter's kind (a number for consciousness, ...);
    /// only inputs built by hand can be.
    #[error("the {parameter} input is not a reading of that parameter")]
    InputMismatch {
        /// The parameter's name.
        parameter: &'static str,
    },
    /// The score has no inputs, so it has no effective time and nothing to derive from.
    #[error("a NEWS2 score needs at least one input")]
    NoInputs,
}
