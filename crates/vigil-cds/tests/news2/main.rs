//! The NEWS2 core's tests, one binary: the chart file's validation, a table of every band edge,
//! input selection from Observations, the FHIR outputs, and a property test against an
//! independent implementation of the RCP chart.

#![allow(clippy::unwrap_used)]

mod bands;
mod fixtures;
mod inputs;
mod knowledge;
mod output;
mod property;
mod robustness;
