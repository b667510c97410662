//! Every message of the shared HL7 v2 corpus parses; the odd ones read as their notes say.

mod common;

use vigil_ingest::er7::Message;

#[test]
fn every_sample_parses() {
    let Some(samples) = common::samples() else {
        return;
    };
    let mut refused = Vec::new();
    let mut no_control_id = Vec::new();
    for (name, bytes) in &samples {
        match Message::parse(bytes) {
            Ok(message) => {
                let h = message.header();
                assert!(!h.message_code().is_empty(), "{name}: MSH-9.1 empty");
                if h.control_id().is_empty() {
                    no_control_id.push(name.as_str());
                }
                assert_eq!(
                    Message::parse_str(&message.encode()).as_ref(),
                    Ok(&message),
                    "{name}: round trip"
                );
            }
            Err(err) => refused.push(format!("{name}: {err}")),
        }
    }
    println!(
        "{} passed, {} failed",
        samples.len() - refused.len(),
        refused.len()
    );
    println!("parsed without MSH-10 (an ACK cannot echo it): {no_control_id:?}");
    for line in &refused {
        println!("refused {line}");
    }
    assert_eq!(samples.len(), 191, "the corpus has 191 messages");
    assert!(refused.is_empty(), "refused: {refused:#?}");
}

fn sample(name: &str) -> Option<Message> {
    let bytes = common::sample(name)?;
    Some(Message::parse(&bytes).expect(name))
}

#[test]
fn odd_samples_read_as_documented() {
    let Some(m) = sample("hapi_ADT_A24_1.hl7") else {
        return;
    };
    assert_eq!(m.delimiters().field, '^');
    assert_eq!(m.get("PID(2)-3[1].1").expect("path"), Some("22222"));
    assert_eq!(m.get("PID-3[1].4.3").expect("path"), Some("0363"));

    let Some(m) = sample("dotnetcore_ORM_O01_2.hl7") else {
        return;
    };
    assert_eq!(m.get("PID-5.1").expect("path"), Some("Smith|^~\\&"));

    let Some(m) = sample("dotnetcore_ORM_O01_4.hl7") else {
        return;
    };
    assert_eq!(m.delimiters().escape, None);
    assert_eq!(m.get("PID-5.1").expect("path"), Some("Smith F S R E T"));

    let Some(m) = sample("dotnetcore_ADT_A08_1.hl7") else {
        return;
    };
    assert_eq!(m.segments().len(), 2);
    assert_eq!(m.get("ZZ1-9").expect("path"), Some("BSV 4\\5 re."));

    let Some(m) = sample("hapi_BAR_P01_1.hl7") else {
        return;
    };
    assert_eq!(m.delimiters().subcomponent, Some('}'));
    let Some(m) = sample("hapi_BAR_P01_2.hl7") else {
        return;
    };
    assert_eq!(
        (m.delimiters().escape, m.delimiters().subcomponent),
        (None, Some('}'))
    );

    let Some(m) = sample("elixir_ADT_A01_2.hl7") else {
        return;
    };
    assert_eq!(m.delimiters().component, '*');
    assert_eq!(m.header().trigger_event(), "A01");

    for name in ["hl7apy_RSP_K22_2.hl7", "elixir_ORU_R01_1.hl7"] {
        let Some(m) = sample(name) else { return };
        assert_eq!(m.delimiters().truncation, Some('#'), "{name}");
    }
    for (name, count) in [
        ("hapi_ADT_A03_1.hl7", "LF"),
        ("dotnetcore_ORM_O01_1.hl7", "CRLF"),
    ] {
        let Some(m) = sample(name) else { return };
        assert!(
            m.segments().len() > 2,
            "{name} ({count}) splits into segments"
        );
    }
}

#[test]
fn every_sample_gets_an_ack_that_parses_and_echoes_msh_10() {
    use vigil_ingest::ack::{AckHeader, Outcome, acknowledge};
    let Some(samples) = common::samples() else {
        return;
    };
    let header = AckHeader {
        control_id: "VIGIL-1",
        timestamp: "20261207200000+0000",
    };
    for (name, bytes) in &samples {
        let message = Message::parse(bytes).expect(name);
        let ack = acknowledge(&message, &Outcome::Accepted, header);
        let reread = Message::parse_str(&ack.message.encode()).expect(name);
        assert_eq!(reread.delimiters(), message.delimiters(), "{name}");
        assert_eq!(reread.header().message_code(), "ACK", "{name}");
        assert_eq!(
            reread.header().trigger_event(),
            message.header().trigger_event(),
            "{name}"
        );
        assert_eq!(
            reread.header().version(),
            message.header().version(),
            "{name}"
        );
        assert_eq!(
            reread.get("MSA-2").expect("path").unwrap_or_default(),
            message.header().control_id(),
            "{name}"
        );
        assert_eq!(reread.get("MSH-3"), message.get("MSH-5"), "{name}");
        assert_eq!(reread.get("MSH-6"), message.get("MSH-4"), "{name}");
    }
}

/// The target events of issue 17, by MSH-9.
const TARGETS: &[&str] = &[
    "ADT^A01", "ADT^A02", "ADT^A03", "ADT^A04", "ADT^A05", "ADT^A08", "ADT^A11", "ADT^A13",
    "ADT^A28", "ADT^A31", "ADT^A40", "ORU^R01", "ORM^O01", "OML^O21", "SIU^S12", "SIU^S13",
    "SIU^S14", "SIU^S15", "VXU^V04", "MDM^T02",
];

#[test]
fn every_sample_groups_without_losing_a_segment() {
    use vigil_ingest::groups::{GroupError, group};
    let Some(samples) = common::samples() else {
        return;
    };
    let (mut grouped, mut unsupported, mut missing) = (0, Vec::new(), Vec::new());
    for (name, bytes) in &samples {
        let message = Message::parse(bytes).expect(name);
        let h = message.header();
        let msh9 = format!("{}^{}", h.message_code(), h.trigger_event());
        match group(&message) {
            Ok((_, groups)) => {
                grouped += 1;
                let mut held: Vec<*const _> = groups
                    .all_segments()
                    .into_iter()
                    .map(std::ptr::from_ref)
                    .collect();
                let mut all: Vec<*const _> =
                    message.segments().iter().map(std::ptr::from_ref).collect();
                held.sort();
                all.sort();
                assert_eq!(held, all, "{name}: every segment exactly once");
            }
            Err(err @ GroupError::Unsupported { .. }) => {
                assert!(!TARGETS.contains(&msh9.as_str()), "{name}: {err}");
                unsupported.push(msh9);
            }
            Err(err) => missing.push(format!("{name} ({msh9}): {err}")),
        }
    }
    unsupported.sort();
    unsupported.dedup();
    println!(
        "{grouped} grouped, {} unsupported types, {} missing a required segment",
        unsupported.len(),
        missing.len()
    );
    println!("unsupported (AR): {unsupported:?}");
    for line in &missing {
        println!("missing (AE): {line}");
    }
}

#[test]
fn real_samples_group_as_expected() {
    use vigil_ingest::groups::group;
    let grouped = |name: &str| {
        let bytes = common::sample(name)?;
        Some(Message::parse(&bytes).expect(name))
    };
    let Some(m) = grouped("dotnetcore_ORU_R01_1.hl7") else {
        return;
    };
    let (_, g) = group(&m).expect("groups");
    let orders = &g.patients[0].orders;
    assert_eq!(orders.len(), 2);
    assert!(orders[0].orc.is_some() && orders[1].orc.is_none());
    assert!(
        orders
            .iter()
            .all(|o| o.observations.len() == 1 && o.observations[0].notes.len() == 4)
    );

    let Some(m) = grouped("nodehl7_ORU_R01_10.hl7") else {
        return;
    };
    let (_, g) = group(&m).expect("groups");
    let orders = &g.patients[0].orders;
    assert_eq!(orders.len(), 2);
    assert!(
        orders
            .iter()
            .all(|o| o.observations.len() == 1 && o.specimens.len() == 1)
    );

    let Some(m) = grouped("msconv_OML_O21_2.hl7") else {
        return;
    };
    let (_, g) = group(&m).expect("groups");
    let orders = &g.patients[0].orders;
    assert_eq!(orders.len(), 3);
    assert_eq!(orders[0].specimens.len(), 1);
    assert_eq!(orders[0].specimens[0].observations.len(), 6);
    assert_eq!(orders[2].prior_results.len(), 2);

    let Some(m) = grouped("msconv_ADT_A40_2.hl7") else {
        return;
    };
    let (_, g) = group(&m).expect("groups");
    assert_eq!(g.patients.len(), 2);
    assert!(g.patients.iter().all(|p| p.merge.is_some()));

    let Some(m) = grouped("msconv_SIU_S12_2.hl7") else {
        return;
    };
    let (_, g) = group(&m).expect("groups");
    assert_eq!(g.resources.len(), 3);
    assert_eq!(g.resources[0].items.len(), 4);

    let Some(m) = grouped("elixir_VXU_V04_1.hl7") else {
        return;
    };
    let (_, g) = group(&m).expect("groups");
    let orders = &g.patients[0].orders;
    assert_eq!(orders.len(), 3);
    assert_eq!(
        orders
            .iter()
            .map(|o| o.observations.len())
            .collect::<Vec<_>>(),
        [4, 0, 10]
    );

    let Some(m) = grouped("msconv_MDM_T02_1.hl7") else {
        return;
    };
    let (_, g) = group(&m).expect("groups");
    let document = g.document.as_ref().expect("TXA");
    assert_eq!(document.observations.len(), 2);
    assert_eq!(document.observations[0].notes.len(), 1);
}
