//! freya-media's RTP parser against webrtc-rs `rtp` 0.17 (`Packet::unmarshal` through
//! webrtc-util's `Unmarshal`): same bytes, same criterion group, same run. One group per packet
//! of `freya_benches::rtp_inputs()`; `Throughput::Elements(1)` makes criterion print packets per
//! second.
//!
//! Run: `cargo bench -p freya-benches --bench rtp_parse -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use freya_benches::{freya_rtp_parse, rtp_inputs, webrtc_rtp_unmarshal};

fn bench_rtp(c: &mut Criterion) {
    for input in rtp_inputs() {
        let mut g = c.benchmark_group(format!("rtp/{}", input.name));
        g.throughput(Throughput::Elements(1));
        // Both take `Bytes` (a reference-count increment to clone) and slice the payload out of
        // it without copying; what differs is the work on the header.
        g.bench_function("freya/parse", |b| {
            b.iter(|| freya_rtp_parse(black_box(input.bytes.clone())))
        });
        g.bench_function("webrtc-rs/unmarshal", |b| {
            b.iter(|| webrtc_rtp_unmarshal(black_box(input.bytes.clone())))
        });
        // What the relay reads from every packet: SSRC and sequence number (latching).
        g.bench_function("freya/parse+ssrc_seq", |b| {
            b.iter(|| {
                freya_rtp_parse(black_box(input.bytes.clone()))
                    .map(|p| (p.ssrc(), p.sequence(), p.payload().len()))
            })
        });
        g.bench_function("webrtc-rs/unmarshal+ssrc_seq", |b| {
            b.iter(|| {
                webrtc_rtp_unmarshal(black_box(input.bytes.clone()))
                    .map(|p| (p.header.ssrc, p.header.sequence_number, p.payload.len()))
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench_rtp);
criterion_main!(benches);
