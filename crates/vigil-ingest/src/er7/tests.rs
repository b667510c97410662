//! Unit tests of the ER7 parser: delimiters, structure, paths, errors, round trips.

use super::*;

const ADT: &str = "MSH|^~\\&|ADT1|GOOD HEALTH|VIGIL|WARD|20261201120000||ADT^A01^ADT_A01|MSG00001|P|2.5.1\r\
EVN|A01|20261201120000\r\
PID|1||123456^^^HOSP&1.2.3&ISO^MR~987^^^SSA^SS||DOE^JANE^Q\\T\\R||19800101|F\r\
PV1|1|I|WARD^101^A\r\
ZIN|custom|data\r";

fn parse(text: &str) -> Message {
    Message::parse_str(text).expect("sample parses")
}

#[test]
fn reads_structure_and_paths() {
    let m = parse(ADT);
    assert_eq!(m.segments().len(), 5);
    assert_eq!(m.get("PID-3[1].1").expect("path"), Some("123456"));
    assert_eq!(m.get("PID-3[1].4.2").expect("path"), Some("1.2.3"));
    assert_eq!(m.get("PID-3[2].5").expect("path"), Some("SS"));
    assert_eq!(m.get("PID-3[3].1").expect("path"), None);
    assert_eq!(m.get("PID-5.2").expect("path"), Some("JANE"));
    assert_eq!(m.get("PID-5.3").expect("path"), Some("Q&R"));
    assert_eq!(m.get("ZIN-2").expect("path"), Some("data"));
    assert_eq!(m.get("MSH-1").expect("path"), Some("|"));
    assert_eq!(m.get("MSH-2").expect("path"), Some("^~\\&"));
    assert_eq!(m.get("MSH-9.2").expect("path"), Some("A01"));
    let h = m.header();
    assert_eq!(
        (h.message_code(), h.trigger_event(), h.message_structure()),
        ("ADT", "A01", "ADT_A01")
    );
    assert_eq!(
        (h.control_id(), h.processing_id(), h.version()),
        ("MSG00001", "P", "2.5.1")
    );
}

#[test]
fn custom_delimiters_and_truncation() {
    let m = parse("MSH^~|\\&^SENDING^200M^^^2012^^ADT~A24^1^T^2.4\rPID^1^^111~~~FOO&&0363|222");
    assert_eq!(m.get("PID-3[1].4.1").expect("path"), Some("FOO"));
    assert_eq!(m.get("PID-3[1].4.3").expect("path"), Some("0363"));
    assert_eq!(m.get("PID-3[2].1").expect("path"), Some("222"));
    assert_eq!(m.header().trigger_event(), "A24");
    let m = parse("MSH|^~\\&#|A|B|||||ORU^R01|1|P|2.7\rOBX|1|ST|X||cut\\P\\off");
    assert_eq!(m.delimiters().truncation, Some('#'));
    assert_eq!(m.get("OBX-5").expect("path"), Some("cut#off"));
    let m = parse("MSH|*~\\&|A|B|||||ADT*A01|1|P|2.5");
    assert_eq!(m.header().trigger_event(), "A01");
}

#[test]
fn terminators_and_whitespace_are_tolerated() {
    let base = parse(ADT);
    for variant in [
        ADT.replace('\r', "\n"),
        ADT.replace('\r', "\r\n"),
        format!("\n  \r\n{}\n\n", ADT.replace('\r', "\r\n\r\n")),
        ADT.trim_end().to_owned(),
    ] {
        assert_eq!(parse(&variant), base, "{variant:?}");
    }
}

#[test]
fn malformed_input_gives_positioned_errors() {
    let cases: &[(&str, ParseErrorKind, usize, usize)] = &[
        ("", ParseErrorKind::Empty, 1, 0),
        ("  \r\n ", ParseErrorKind::Empty, 1, 0),
        (
            "PID|1",
            ParseErrorKind::NoMsh {
                found: "PID|1".into(),
            },
            1,
            0,
        ),
        (
            "MSH",
            ParseErrorKind::BadDelimiters {
                reason: "no field separator after MSH",
            },
            1,
            1,
        ),
        (
            "MSH||A",
            ParseErrorKind::BadDelimiters {
                reason: "MSH-2 (encoding characters) is empty",
            },
            1,
            2,
        ),
        (
            "MSH|^^~\\&|A",
            ParseErrorKind::BadDelimiters {
                reason: "the delimiters are not distinct",
            },
            1,
            2,
        ),
        (
            "MSH|^A~\\&|A",
            ParseErrorKind::BadDelimiters {
                reason: "a delimiter must be printable ASCII punctuation",
            },
            1,
            2,
        ),
        (
            "MSH|^~\\&#!|A",
            ParseErrorKind::BadDelimiters {
                reason: "MSH-2 (encoding characters) has more than 5 characters",
            },
            1,
            2,
        ),
        (
            "MSH|^~\\&|A\rPID|1\rpv1|2",
            ParseErrorKind::BadSegmentId { id: "pv1".into() },
            3,
            0,
        ),
        (
            "MSH|^~\\&|A\rPIDX|1",
            ParseErrorKind::BadSegmentId { id: "PIDX".into() },
            2,
            0,
        ),
        ("MSH|^~\\&|A\rMSH|^~\\&|B", ParseErrorKind::SecondMsh, 2, 0),
    ];
    for (input, kind, segment, field) in cases {
        let err = Message::parse_str(input).expect_err(input);
        assert_eq!(
            (&err.kind, err.segment, err.field),
            (kind, *segment, *field),
            "{input:?}: {err}"
        );
    }
    let err = Message::parse_str("MSH|^A~\\&|A").expect_err("bad");
    assert_eq!(
        err.to_string(),
        "segment 1 (MSH), field 2: bad delimiters: a delimiter must be printable ASCII punctuation"
    );
}

#[test]
fn latin1_bytes_are_read_as_latin1() {
    let mut bytes = b"MSH|^~\\&|A|B|||||ADT^A01|1|P|2.5\rPID|1||1||M".to_vec();
    bytes.push(0xDC);
    bytes.extend_from_slice(b"LLER");
    let m = Message::parse(&bytes).expect("parses");
    assert_eq!(m.get("PID-5").expect("path"), Some("MÜLLER"));
}

#[test]
fn explicit_null_is_kept() {
    let m = parse("MSH|^~\\&|A|B|||||ADT^A01|1|P|2.3\rPID|1||1||\"\"");
    assert!(is_explicit_null(
        m.get("PID-5").expect("path").unwrap_or_default()
    ));
}

#[test]
fn encode_round_trips() {
    let m = parse(ADT);
    assert_eq!(m.encode(), ADT);
    let odd = parse("MSH|^~&|A|B\rPID|1||x\\y|a&b");
    assert_eq!(parse(&odd.encode()), odd);
}

#[test]
fn a_message_without_msh_has_an_empty_header() {
    let m = Message::from_parts(Delimiters::default(), Vec::new());
    assert_eq!((m.header().control_id(), m.header().version()), ("", ""));
    assert_eq!(m.encode(), "");
}
