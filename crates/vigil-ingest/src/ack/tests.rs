//! Table tests of acknowledgements: codes per mode, fields, escaping, ERR layouts, unreadable input.

use super::*;

const HEADER: AckHeader<'static> = AckHeader {
    control_id: "ACK-1",
    timestamp: "20261207200000+0000",
};

fn message(msh_tail: &str) -> Message {
    let text = format!(
        "MSH|^~\\&|LAB^1.2.3^ISO|HOSP|VIGIL|WARD|20261201||ORU^R01^ORU_R01|MSG-9|P|{msh_tail}\rPID|1||123"
    );
    Message::parse_str(&text).expect("valid")
}

fn lines(ack: &Acknowledgement) -> Vec<String> {
    ack.message
        .encode()
        .split('\r')
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn error() -> AckError {
    AckError::new(
        Hl7ErrorCode::DataTypeError,
        "OBX-5 \"abc\" is not a number (NM) | check",
    )
    .at(ErrorLocation {
        segment_id: "OBX".into(),
        sequence: 2,
        field: Some(5),
        ..ErrorLocation::default()
    })
}

#[test]
fn original_mode_accept() {
    let ack = acknowledge(&message("2.5.1"), &Outcome::Accepted, HEADER);
    assert_eq!((ack.code, ack.send), (AckCode::ApplicationAccept, true));
    assert_eq!(
        lines(&ack),
        [
            "MSH|^~\\&|VIGIL|WARD|LAB^1.2.3^ISO|HOSP|20261207200000+0000||ACK^R01^ACK|ACK-1|P|2.5.1",
            "MSA|AA|MSG-9",
        ]
    );
}

#[test]
fn original_mode_error_and_reject_have_err() {
    let ack = acknowledge(&message("2.5.1"), &Outcome::Error(error()), HEADER);
    assert_eq!(ack.code, AckCode::ApplicationError);
    assert_eq!(
        lines(&ack)[1..],
        [
            "MSA|AE|MSG-9",
            "ERR||OBX^2^5|102^Data type error^HL70357|E||||OBX-5 \"abc\" is not a number (NM) \\F\\ check",
        ]
    );
    let reject = AckError::new(
        Hl7ErrorCode::UnsupportedMessageType,
        "BAR^P01 is not supported",
    );
    let ack = acknowledge(&message("2.8"), &Outcome::Rejected(reject), HEADER);
    assert_eq!(ack.code, AckCode::ApplicationReject);
    assert_eq!(
        lines(&ack)[2],
        "ERR|||200^Unsupported message type^HL70357|E||||BAR^P01 is not supported"
            .replace("BAR^P01", "BAR\\S\\P01")
    );
}

#[test]
fn versions_before_2_5_get_err_1_and_msa_3() {
    let ack = acknowledge(&message("2.3"), &Outcome::Error(error()), HEADER);
    let text = "OBX-5 \"abc\" is not a number (NM) \\F\\ check";
    assert_eq!(
        lines(&ack)[1..],
        [
            format!("MSA|AE|MSG-9|{text}"),
            format!(
                "ERR|OBX^2^5^102&Data type error&HL70357|OBX^2^5|102^Data type error^HL70357|E||||{text}"
            ),
        ]
    );
}

#[test]
fn enhanced_mode_codes_and_sending() {
    let cases = [
        ("AL|NE", Outcome::Accepted, AckCode::CommitAccept, true),
        ("NE|AL", Outcome::Accepted, AckCode::CommitAccept, false),
        ("ER|NE", Outcome::Accepted, AckCode::CommitAccept, false),
        ("ER|NE", Outcome::Error(error()), AckCode::CommitError, true),
        ("SU|NE", Outcome::Accepted, AckCode::CommitAccept, true),
        (
            "SU|NE",
            Outcome::Rejected(error()),
            AckCode::CommitReject,
            false,
        ),
        ("|AL", Outcome::Accepted, AckCode::CommitAccept, true),
        ("|", Outcome::Accepted, AckCode::ApplicationAccept, true),
    ];
    for (modes, outcome, code, send) in cases {
        let m = message(&format!("2.5|||{modes}"));
        let ack = acknowledge(&m, &outcome, HEADER);
        assert_eq!((ack.code, ack.send), (code, send), "MSH-15|16 = {modes}");
        assert_eq!(ack.message.get("MSA-1").expect("path"), Some(code.as_str()));
    }
}

#[test]
fn the_message_delimiters_are_kept() {
    let m =
        Message::parse_str("MSH^~|\\&^SEND^FAC^RECV^RFAC^2012^^ADT~A24^CTRL^T^2.4").expect("valid");
    let ack = acknowledge(
        &m,
        &Outcome::Rejected(AckError::new(
            Hl7ErrorCode::UnsupportedEventCode,
            "A24 ^ not mapped",
        )),
        HEADER,
    );
    let text = ack.message.encode();
    assert!(text.starts_with("MSH^~|\\&^RECV^RFAC^SEND^FAC^20261207200000+0000^^ACK~A24~ACK^ACK-1^T^2.4\rMSA^AR^CTRL^A24 \\F\\ not mapped\r"), "{text}");
    let reread = Message::parse_str(&text).expect("the ACK parses");
    assert_eq!(reread.get("ERR-8").expect("path"), Some("A24 ^ not mapped"));
}

#[test]
fn parse_errors_become_errors_with_locations() {
    let err = Message::parse_str("MSH|^A~|x").expect_err("bad delimiters");
    let e = AckError::from_parse_error(&err);
    assert_eq!(e.code, Hl7ErrorCode::DataTypeError);
    assert_eq!(
        e.location
            .as_ref()
            .map(|l| (l.segment_id.as_str(), l.sequence, l.field)),
        Some(("MSH", 1, Some(2)))
    );
    let err = Message::parse_str("PID|1").expect_err("no MSH");
    let e = AckError::from_parse_error(&err);
    assert_eq!(
        (e.code, e.location),
        (Hl7ErrorCode::SegmentSequenceError, None)
    );
}

#[test]
fn unreadable_messages_get_a_best_effort_reject() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"MSH|^A~|LAB|HOSP|VIGIL|WARD|2026||ORU^R01|C-77|P|2.6\rPID|1",
            "MSH|^~\\&|VIGIL|WARD|LAB|HOSP|20261207200000+0000||ACK^R01^ACK|ACK-1|P|2.6\rMSA|AR|C-77\r",
        ),
        (
            b"PID|1||123",
            "MSH|^~\\&|||||20261207200000+0000||ACK|ACK-1||2.5\rMSA|AR|\r",
        ),
        (
            b"",
            "MSH|^~\\&|||||20261207200000+0000||ACK|ACK-1||2.5\rMSA|AR|\r",
        ),
        (
            b"MSH^~|\\&^A^B^C^D^^^ADT~A01^X|Y^P^2.3.1\rPV1|",
            "MSH|^~\\&|C|D|A|B|20261207200000+0000||ACK^A01^ACK|ACK-1|P|2.3.1\rMSA|AR|X\\F\\Y|",
        ),
        (
            // MSH-12 with a country (`2.3^USA`): the version is its first component, so the
            // ACK says 2.3 and writes the pre-2.5 MSA-3.
            b"MSH|^A~|LAB|HOSP|VIGIL|WARD|2026||ORU^R01|C-78|P|2.3^USA\rPID|1",
            "MSH|^~\\&|VIGIL|WARD|LAB|HOSP|20261207200000+0000||ACK^R01^ACK|ACK-1|P|2.3\rMSA|AR|C-78|",
        ),
    ];
    for (raw, start) in cases {
        let error = match Message::parse(raw) {
            Err(err) => AckError::from_parse_error(&err),
            Ok(_) => AckError::new(Hl7ErrorCode::SegmentSequenceError, "forced"),
        };
        let ack = acknowledge_unreadable(raw, &error, HEADER);
        assert_eq!(ack.code, AckCode::ApplicationReject);
        let text = ack.message.encode();
        assert!(
            text.starts_with(start),
            "{:?}\n got {text:?}",
            String::from_utf8_lossy(raw)
        );
        let reread = Message::parse_str(&text).expect("the ACK parses");
        assert_eq!(reread.get("MSA-1").expect("path"), Some("AR"));
        assert!(reread.segment("ERR", 1).is_some());
    }
}

#[test]
fn versions_are_compared_by_number() {
    for (v, before) in [
        ("2.3", true),
        ("2.3.1", true),
        ("2.4", true),
        ("2.5", false),
        ("2.5.1", false),
        ("2.8", false),
        ("", false),
        ("x", false),
        ("2.10", false),
    ] {
        assert_eq!(is_before_2_5(v), before, "{v}");
    }
}

#[test]
fn every_version_from_2_3_to_2_8_gets_the_err_layout_it_defines() {
    for (version, legacy) in [
        ("2.3", true),
        ("2.3.1", true),
        ("2.4", true),
        ("2.5", false),
        ("2.5.1", false),
        ("2.6", false),
        ("2.7", false),
        ("2.7.1", false),
        ("2.8", false),
        ("2.8.2", false),
    ] {
        let ack = acknowledge(&message(version), &Outcome::Error(error()), HEADER);
        let reread = Message::parse_str(&ack.message.encode()).expect("parses");
        assert_eq!(reread.header().version(), version);
        assert_eq!(
            reread.get("ERR-1.4.1").expect("path").is_some(),
            legacy,
            "{version}: ERR-1"
        );
        assert_eq!(
            reread.get("MSA-3").expect("path").is_some(),
            legacy,
            "{version}: MSA-3"
        );
        assert_eq!(
            reread.get("ERR-3.1").expect("path"),
            Some("102"),
            "{version}: ERR-3"
        );
        assert_eq!(
            reread.get("ERR-2.3").expect("path"),
            Some("5"),
            "{version}: ERR-2"
        );
    }
}
