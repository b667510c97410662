//! Criterion benchmark of the pure core on the issue-17 benchmark message (ORU^R01 with 6 OBX):
//! parse, parse + group + ACK written, and MLLP decoding of 100 framed copies.
//! `tools/bench-hl7v2/peer.py` times python-hl7 on the same message for comparison.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use vigil_ingest::ack::{AckHeader, Outcome, acknowledge};
use vigil_ingest::er7::Message;
use vigil_ingest::groups::group;
use vigil_ingest::mllp::{self, MllpDecoder};

/// The same text as `tools/bench-hl7v2/oru_r01_6obx.hl7`.
const ORU: &str = include_str!("../../../tools/bench-hl7v2/oru_r01_6obx.hl7");

fn bench(c: &mut Criterion) {
    let bytes = ORU.as_bytes();
    let mut g = c.benchmark_group("hl7v2");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_oru_6obx", |b| {
        b.iter(|| Message::parse(black_box(bytes)).map(|m| m.segments().len()))
    });
    let header = AckHeader {
        control_id: "ACK-1",
        timestamp: "20261207200000+0000",
    };
    g.bench_function("parse_group_ack_oru_6obx", |b| {
        b.iter(|| {
            let message = Message::parse(black_box(bytes)).ok()?;
            let (_, grouped) = group(&message).ok()?;
            black_box(grouped.patients.len());
            Some(
                acknowledge(&message, &Outcome::Accepted, header)
                    .message
                    .encode()
                    .len(),
            )
        })
    });
    let mut stream = Vec::new();
    for _ in 0..100 {
        mllp::encode_into(bytes, &mut stream);
    }
    g.throughput(Throughput::Elements(100));
    g.bench_function("mllp_decode_100_frames", |b| {
        b.iter(|| {
            let mut decoder = MllpDecoder::new(1 << 20);
            decoder.feed(black_box(&stream));
            std::iter::from_fn(|| decoder.next_frame()).count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
