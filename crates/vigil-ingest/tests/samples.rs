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
