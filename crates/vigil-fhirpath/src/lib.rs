//! FHIRPath N1 over FHIR R4 JSON: parser, compiler, evaluator. Pure: no I/O.
