//! FHIR R4 (4.0.1) model for Vigil: the generated compact schema, JSON parse/validate/serialize
//! with exact decimals, and OperationOutcome.
