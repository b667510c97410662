//! Property tests: no input makes the ER7 parser, the grouping or the FHIR mapping panic, and
//! whatever parses writes back and reads back to the same tree.

mod common;

use proptest::prelude::*;
use vigil_ingest::ack::{AckError, AckHeader, Outcome, acknowledge, acknowledge_unreadable};
use vigil_ingest::er7::Message;
use vigil_ingest::groups::group;
use vigil_ingest::mapper::{self, Ids, MapError};

/// Ids without a store: derived from the identifier.
struct DerivedIds;

impl Ids for DerivedIds {
    fn keyed(&mut self, resource_type: &str, system: &str, value: &str) -> Result<String, String> {
        Ok(mapper::derived_id(&format!(
            "{resource_type}|{system}|{value}"
        )))
    }
}

const BUILT_IN: &[u8] = b"MSH|^~\\&|LAB|HOSP|VIGIL|WARD|20261201||ORU^R01^ORU_R01|42|P|2.5.1\r\
PID|1||123^^^HOSP^MR~456||DOE^JANE\r\
OBR|1||77|8867-4^Heart rate^LN\r\
OBX|1|NM|8867-4^Heart rate^LN||72|/min^^UCUM|60-100|N|||F\r\
NTE|1||a \\T\\ b\\.br\\c\r";

/// The corpus (when present) plus a built-in message, as seeds for mutation.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds = vec![BUILT_IN.to_vec()];
        if let Some(samples) = common::samples() {
            seeds.extend(samples.into_iter().map(|(_, bytes)| bytes));
        }
        seeds
    })
}

const ACK: AckHeader<'static> = AckHeader {
    control_id: "ACK-1",
    timestamp: "20261207200000",
};

/// Parse; whatever parses round-trips, groups without losing a segment and gets an ACK that
/// parses and echoes MSH-10; whatever does not parse gets a best-effort AR that parses.
fn check(bytes: &[u8]) {
    match Message::parse(bytes) {
        Ok(message) => {
            let again = Message::parse_str(&message.encode());
            assert_round_trip(&message, again);
            for path in ["MSH-9.2", "PID-3[2].4.1", "OBX(2)-5", "ZZZ-99[9].9.9"] {
                let _ = message.get(path);
            }
            let outcome = match group(&message) {
                Ok((structure, grouped)) => {
                    assert_eq!(
                        grouped.all_segments().len(),
                        message.segments().len(),
                        "grouping lost a segment"
                    );
                    // The mapping answers every grouped message: resources or an error.
                    match mapper::map(&message, structure, &grouped, "k".into(), &mut DerivedIds) {
                        Ok(planned) => {
                            for p in &planned {
                                assert_eq!(
                                    p.body.get("resourceType").and_then(|v| v.as_str()),
                                    Some(p.resource_type)
                                );
                            }
                            Outcome::Accepted
                        }
                        Err(MapError::Content(error)) => Outcome::Error(*error),
                        Err(MapError::Unsupported(error)) => Outcome::Rejected(*error),
                        Err(MapError::Internal(text)) => {
                            panic!("no store, no internal error: {text}")
                        }
                    }
                }
                Err(err) if err.is_reject() => Outcome::Rejected(err.ack_error()),
                Err(err) => Outcome::Error(err.ack_error()),
            };
            let ack = Message::parse_str(&acknowledge(&message, &outcome, ACK).message.encode())
                .expect("the ACK parses");
            assert_eq!(
                ack.get("MSA-2").ok().flatten().unwrap_or_default(),
                message.header().control_id()
            );
        }
        Err(err) => {
            let ack = acknowledge_unreadable(bytes, &AckError::from_parse_error(&err), ACK);
            let reread = Message::parse_str(&ack.message.encode()).expect("the AR parses");
            assert_eq!(reread.get("MSA-1").ok().flatten(), Some("AR"));
        }
    }
}

fn assert_round_trip(message: &Message, again: Result<Message, vigil_ingest::er7::ParseError>) {
    assert_eq!(
        again.as_ref(),
        Ok(message),
        "encode then parse changes the tree"
    );
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let delimiter_heavy = prop_oneof![
        Just(b'|'),
        Just(b'^'),
        Just(b'~'),
        Just(b'\\'),
        Just(b'&'),
        Just(b'\r'),
        Just(b'\n'),
        Just(b'#'),
        any::<u8>()
    ];
    prop_oneof![
        (any::<usize>(), delimiter_heavy.clone()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), delimiter_heavy).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..20).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len().max(1);
    match *m {
        Mutation::Flip(i, b) => {
            if let Some(x) = bytes.get_mut(i % len) {
                *x = b;
            }
        }
        Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
        Mutation::Delete(i, n) => {
            let start = i % len;
            let end = (start + n).min(bytes.len());
            if start < end {
                bytes.drain(start..end);
            }
        }
        Mutation::Truncate(i) => bytes.truncate(i % len),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check(&bytes);
    }

    #[test]
    fn random_bytes_after_an_msh_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut bytes = b"MSH|".to_vec();
        bytes.extend(tail);
        check(&bytes);
    }

    #[test]
    fn mutated_samples_never_panic(seed in any::<usize>(), mutations in proptest::collection::vec(mutation(), 1..8)) {
        let seeds = seeds();
        let mut bytes = seeds[seed % seeds.len()].clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        check(&bytes);
    }
}
