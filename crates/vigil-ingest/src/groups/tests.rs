//! Grouping tests on hand-written messages; the shared samples are grouped in tests/samples.rs.

use super::*;

fn parse(segments: &[&str]) -> Message {
    Message::parse_str(&segments.join("\r")).expect("valid")
}

fn ids(segments: &[&Segment]) -> Vec<String> {
    segments.iter().map(|s| s.id.clone()).collect()
}

#[test]
fn oru_orders_with_observations_notes_and_specimens() {
    let m = parse(&[
        "MSH|^~\\&|LAB|H|||2026||ORU^R01|1|P|2.5.1",
        "SFT|x",
        "PID|1||123",
        "PV1|1|I",
        "ORC|RE",
        "OBR|1||A|1^a^LN",
        "NTE|1||order note",
        "OBX|1|NM|8867-4^HR^LN||72",
        "NTE|1||obs note",
        "PRT|1",
        "OBX|2|NM|8310-5^T^LN||37",
        "SPM|1|S1",
        "OBX|3|ST|x||spec obs",
        "OBR|2||B|2^b^LN",
        "OBX|1|ST|y||z",
        "ZXT|custom",
    ]);
    let (structure, g) = group(&m).expect("groups");
    assert_eq!(structure, Structure::Oru);
    assert_eq!(ids(&g.header), ["MSH", "SFT"]);
    assert_eq!(g.patients.len(), 1);
    let p = &g.patients[0];
    assert!(p.pid.is_some() && p.visit.is_some());
    assert_eq!(p.orders.len(), 2);
    let first = &p.orders[0];
    assert!(first.orc.is_some());
    assert_eq!(first.notes.len(), 1);
    assert_eq!(first.observations.len(), 2);
    assert_eq!(first.observations[0].notes.len(), 1);
    assert_eq!(ids(&first.observations[0].others), ["PRT"]);
    assert_eq!(first.specimens.len(), 1);
    assert_eq!(first.specimens[0].observations.len(), 1);
    let second = &p.orders[1];
    assert!(second.orc.is_none());
    assert_eq!(second.observations.len(), 1);
    assert_eq!(ids(&second.others), ["ZXT"]);
}

#[test]
fn oru_with_several_patients_and_no_orc() {
    let m = parse(&[
        "MSH|^~\\&|LAB|H|||2026||ORU^R01|1|P|2.3",
        "PID|1||A",
        "OBR|1",
        "OBX|1|NM|x||1",
        "PID|2||B",
        "OBR|1",
        "OBX|1|NM|x||2",
    ]);
    let (_, g) = group(&m).expect("groups");
    assert_eq!(g.patients.len(), 2);
    assert!(
        g.patients
            .iter()
            .all(|p| p.orders.len() == 1 && p.orders[0].observations.len() == 1)
    );
}

#[test]
fn adt_patient_level_segments_and_merges() {
    let m = parse(&[
        "MSH|^~\\&|ADT|H|||2026||ADT^A01|1|P|2.8",
        "EVN|A01",
        "PID|1||1",
        "PD1|",
        "NK1|1",
        "PV1|1|I",
        "PV2|",
        "OBX|1|NM|x||1",
        "NTE|1",
        "AL1|1",
        "DG1|1",
        "ZIN|z",
    ]);
    let (structure, g) = group(&m).expect("groups");
    assert_eq!(structure, Structure::Adt);
    assert_eq!(ids(&g.header), ["MSH", "EVN"]);
    let p = &g.patients[0];
    assert!(p.pd1.is_some() && p.visit.is_some() && p.visit_detail.is_some());
    assert_eq!(p.observations.len(), 1);
    assert_eq!(p.observations[0].notes.len(), 1);
    assert_eq!(ids(&p.others), ["NK1", "AL1", "DG1", "ZIN"]);

    let merge = parse(&[
        "MSH|^~\\&|A|H|||2026||ADT^A40|1|P|2.5",
        "EVN|A40",
        "PID|1||1",
        "MRG|9",
        "PID|2||2",
        "MRG|8",
    ]);
    let (_, g) = group(&merge).expect("groups");
    assert_eq!(g.patients.len(), 2);
    assert!(g.patients.iter().all(|p| p.merge.is_some()));
    let broken = parse(&[
        "MSH|^~\\&|A|H|||2026||ADT^A40|1|P|2.5",
        "EVN|A40",
        "PID|1||1",
    ]);
    assert_eq!(
        group(&broken).err(),
        Some(GroupError::MissingSegment {
            segment: "MRG",
            group: "PATIENT"
        })
    );
}

#[test]
fn oml_prior_results_nest_under_the_order() {
    let m = parse(&[
        "MSH|^~\\&|A|H|||2026||OML^O21|1|P|2.5",
        "PID|1||1",
        "ORC|NW",
        "TQ1|1",
        "OBR|1",
        "SPM|1",
        "SAC|1",
        "OBX|1|ST|c||d",
        "FT1|1",
        "PV1|1|O",
        "AL1|1",
        "ORC|SC",
        "OBR|1",
        "OBX|1|NM|x||1",
    ]);
    let (_, g) = group(&m).expect("groups");
    let p = &g.patients[0];
    assert_eq!(p.orders.len(), 1);
    let order = &p.orders[0];
    assert_eq!(ids(&order.timing), ["TQ1"]);
    assert_eq!(ids(&order.specimens[0].others), ["SAC"]);
    assert_eq!(order.specimens[0].observations.len(), 1);
    assert_eq!(ids(&order.others), ["FT1"]);
    assert_eq!(order.prior_results.len(), 1);
    let prior = &order.prior_results[0];
    assert!(prior.visit.is_some());
    assert_eq!(ids(&prior.others), ["AL1"]);
    assert_eq!(prior.orders.len(), 1);
    assert_eq!(prior.orders[0].observations.len(), 1);
}

#[test]
fn siu_schedule_patient_and_resources() {
    let m = parse(&[
        "MSH|^~\\&|A|H|||2026||SIU^S12|1|P|2.5",
        "SCH|1",
        "TQ1|1",
        "NTE|1",
        "PID|1||1",
        "PV1|1",
        "OBX|1|ST|x||y",
        "DG1|1",
        "RGS|1",
        "AIS|1",
        "NTE|1",
        "NTE|2",
        "AIL|1",
        "AIP|1",
        "RGS|2",
        "AIG|1",
    ]);
    let (structure, g) = group(&m).expect("groups");
    assert_eq!(structure, Structure::Siu);
    let schedule = g.schedule.as_ref().expect("SCH");
    assert_eq!((schedule.timing.len(), schedule.notes.len()), (1, 1));
    assert_eq!(g.patients[0].observations.len(), 1);
    assert_eq!(ids(&g.patients[0].others), ["DG1"]);
    assert_eq!(g.resources.len(), 2);
    assert_eq!(g.resources[0].items.len(), 3);
    assert_eq!(g.resources[0].items[0].notes.len(), 2);
    assert_eq!(g.resources[1].items[0].segment.id, "AIG");
}

#[test]
fn vxu_and_mdm() {
    let m = parse(&[
        "MSH|^~\\&|A|H|||2026||VXU^V04|1|P|2.5.1",
        "PID|1||1",
        "ORC|RE",
        "RXA|0|1",
        "RXR|IM",
        "OBX|1|CE|x||y",
        "ORC|RE",
        "RXA|0|1",
    ]);
    let (_, g) = group(&m).expect("groups");
    let orders = &g.patients[0].orders;
    assert_eq!(orders.len(), 2);
    assert_eq!(ids(&orders[0].others), ["RXR"]);
    assert_eq!(orders[0].observations.len(), 1);

    let m = parse(&[
        "MSH|^~\\&|A|H|||2026||MDM^T02|1|P|2.5",
        "EVN|T02",
        "PID|1||1",
        "PV1|1",
        "ORC|NW",
        "OBR|1",
        "TXA|1|CN",
        "CON|1",
        "OBX|1|TX|x||line 1",
        "NTE|1",
        "OBX|2|TX|x||line 2",
    ]);
    let (_, g) = group(&m).expect("groups");
    let document = g.document.as_ref().expect("TXA");
    assert_eq!(document.observations.len(), 2);
    assert_eq!(document.observations[0].notes.len(), 1);
    assert_eq!(ids(&document.others), ["CON"]);
    assert_eq!(g.patients[0].orders.len(), 1);
}

#[test]
fn unsupported_and_missing_segments() {
    let cases = [
        (
            "BAR^P01",
            "PID|1",
            GroupError::Unsupported {
                message_code: "BAR".into(),
                trigger: "P01".into(),
                known_code: false,
            },
        ),
        (
            "ORU^R30",
            "PID|1",
            GroupError::Unsupported {
                message_code: "ORU".into(),
                trigger: "R30".into(),
                known_code: true,
            },
        ),
        (
            "ORU^R01",
            "PID|1",
            GroupError::MissingSegment {
                segment: "OBR",
                group: "ORDER_OBSERVATION",
            },
        ),
        (
            "ORM^O01",
            "PID|1",
            GroupError::MissingSegment {
                segment: "ORC",
                group: "ORDER",
            },
        ),
        (
            "ORM^O01",
            "PID|1\rOBR|1",
            GroupError::MissingSegment {
                segment: "ORC",
                group: "ORDER",
            },
        ),
        (
            "ADT^A01",
            "EVN|A01",
            GroupError::MissingSegment {
                segment: "PID",
                group: "PATIENT",
            },
        ),
        (
            "SIU^S12",
            "PID|1",
            GroupError::MissingSegment {
                segment: "SCH",
                group: "SIU",
            },
        ),
        (
            "MDM^T02",
            "PID|1",
            GroupError::MissingSegment {
                segment: "TXA",
                group: "MDM",
            },
        ),
        (
            "VXU^V04",
            "PID|1\rORC|RE",
            GroupError::MissingSegment {
                segment: "RXA",
                group: "ORDER",
            },
        ),
    ];
    for (msh9, body, expected) in cases {
        let m = Message::parse_str(&format!("MSH|^~\\&|A|H|||2026||{msh9}|1|P|2.5\r{body}"))
            .expect("valid");
        let err = group(&m).expect_err(msh9);
        assert_eq!(err, expected, "{msh9}");
        let ack = err.ack_error();
        assert_eq!(
            err.is_reject(),
            matches!(expected, GroupError::Unsupported { .. })
        );
        assert!(!ack.message.is_empty());
    }
}
