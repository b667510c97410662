//! MLLP property tests: chunking never changes the frames; many frames in one buffer.

use proptest::prelude::*;
use vigil_ingest::mllp::{self, MllpDecoder, MllpError};

type Frames = Vec<mllp::Frame>;

fn decode_chunks(stream: &[u8], cuts: &[usize], max: usize) -> Frames {
    let mut decoder = MllpDecoder::new(max);
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    points.sort_unstable();
    let mut start = 0;
    let mut out = Vec::new();
    for point in points.into_iter().chain([stream.len()]) {
        decoder.feed(&stream[start..point]);
        start = point;
        out.extend(std::iter::from_fn(|| decoder.next_frame()));
    }
    out
}

/// Message bodies never contain the framing bytes (HL7 text cannot).
fn body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        any::<u8>().prop_filter("no framing bytes", |b| *b != 0x0B && *b != 0x1C),
        0..300,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_chunking_decodes_identically(
        bodies in proptest::collection::vec(body(), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let mut stream = Vec::new();
        for b in &bodies {
            mllp::encode_into(b, &mut stream);
        }
        let expected: Frames = bodies.iter().cloned().map(Ok).collect();
        prop_assert_eq!(decode_chunks(&stream, &[], 1 << 20), expected.clone());
        prop_assert_eq!(decode_chunks(&stream, &cuts, 1 << 20), expected);
    }

    #[test]
    fn arbitrary_streams_decode_the_same_in_any_chunking(
        stream in proptest::collection::vec(prop_oneof![Just(0x0Bu8), Just(0x1C), Just(0x0D), any::<u8>()], 0..400),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
        max in 1usize..64,
    ) {
        prop_assert_eq!(decode_chunks(&stream, &cuts, max), decode_chunks(&stream, &[], max));
    }

    #[test]
    fn oversized_frames_resynchronise(big in 65usize..500, small in body().prop_filter("small", |b| b.len() <= 64)) {
        let mut stream = Vec::new();
        mllp::encode_into(&vec![b'A'; big], &mut stream);
        mllp::encode_into(&small, &mut stream);
        prop_assert_eq!(decode_chunks(&stream, &[], 64), vec![Err(MllpError::TooLarge { max: 64 }), Ok(small)]);
    }
}

#[test]
fn many_frames_in_one_buffer() {
    let mut stream = Vec::new();
    for i in 0..1000 {
        mllp::encode_into(
            format!("MSH|^~\\&|A|B|||||ADT^A01|{i}|P|2.5").as_bytes(),
            &mut stream,
        );
    }
    let mut decoder = MllpDecoder::new(1024);
    decoder.feed(&stream);
    let frames: Vec<_> = std::iter::from_fn(|| decoder.next_frame()).collect();
    assert_eq!(frames.len(), 1000);
    assert_eq!(
        frames[999],
        Ok(b"MSH|^~\\&|A|B|||||ADT^A01|999|P|2.5".to_vec())
    );
}
