//! Mapping tests per message type live in `tests/mapping.rs` (they go through the door); here
//! the pure mapping without a store.

use super::*;
use crate::er7::Message;
use crate::groups::group;

struct FixedIds;

impl Ids for FixedIds {
    fn keyed(&mut self, resource_type: &str, system: &str, value: &str) -> Result<String, String> {
        Ok(derived_id(&format!("{resource_type}|{system}|{value}")))
    }
}

fn mapped(text: &str) -> Result<Vec<Planned>, MapError> {
    let message = Message::parse_str(text).map_err(|e| MapError::Internal(e.to_string()))?;
    let (structure, grouped) = group(&message).map_err(|e| MapError::Internal(e.to_string()))?;
    map(&message, structure, &grouped, "k".into(), &mut FixedIds)
}

#[test]
fn oru_maps_patient_observations_and_report() {
    let planned = mapped("MSH|^~\\&|LAB|H|VIGIL|W|20261201||ORU^R01|42|P|2.5.1\rPID|1||123^^^HOSP||Doe^Jane||19800101|F\rOBR|1||F1|85354-9^BP^LN|||20261201031400\rOBX|1|NM|8867-4^HR^LN||72|/min^/min^UCUM|60-100|N|||F\rOBX|2|ST|X^note^L||hello\r")
        .unwrap_or_else(|e| panic!("{e:?}"));
    let types: Vec<&str> = planned.iter().map(|p| p.resource_type).collect();
    assert_eq!(
        types,
        ["Patient", "Observation", "Observation", "DiagnosticReport"]
    );
    let hr = &planned[1].body;
    assert_eq!(hr["valueQuantity"]["value"].to_string(), "72");
    assert_eq!(hr["valueQuantity"]["system"], "http://unitsofmeasure.org");
    assert_eq!(hr["category"][0]["coding"][0]["code"], "vital-signs");
    assert_eq!(hr["effectiveDateTime"], "2026-12-01T03:14:00Z");
    assert_eq!(hr["referenceRange"][0]["low"]["value"].to_string(), "60");
    assert_eq!(
        planned[2].body["code"]["coding"][0]["system"],
        "urn:vigil:hl7v2:code-system:L"
    );
    assert_eq!(
        planned[0].body["identifier"][0]["system"],
        "urn:vigil:hl7v2:assigner:HOSP"
    );
}

#[test]
fn non_numeric_nm_is_a_data_type_error_at_obx_5() {
    let err = mapped(
        "MSH|^~\\&|LAB|H|VIGIL|W|20261201||ORU^R01|42|P|2.5.1\rPID|1||123\rOBR|1||F1|X^Y^L\rOBX|1|NM|8867-4^HR^LN||7x2\rOBX|2|NM|8867-4^HR^LN||abc\r",
    );
    let Err(MapError::Content(error)) = err else {
        panic!("{err:?}")
    };
    assert_eq!(error.code, crate::ack::Hl7ErrorCode::DataTypeError);
    let location = error.location.unwrap_or_default();
    assert_eq!(
        (
            location.segment_id.as_str(),
            location.sequence,
            location.field
        ),
        ("OBX", 1, Some(5))
    );
}
