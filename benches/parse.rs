//! freya-sip's parser against rsip 0.4 and parsip 0.1: same bytes, same criterion group, same
//! run. One group per message of a carrier call (see `data/`); `Throughput::Elements(1)` makes
//! criterion print messages per second.
//!
//! Run: `cargo bench -p freya-benches --bench parse -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use freya_benches::{parsip_parse, rsip_parse, rsip_roundtrip, MESSAGES};
use freya_sip::message::{index, parse};

fn bench_messages(c: &mut Criterion) {
    for m in MESSAGES {
        let data: &'static [u8] = m.bytes;
        let mut g = c.benchmark_group(m.name);
        g.throughput(Throughput::Elements(1));

        // Parse. freya takes `Bytes`: a receive path freezes its buffer into `Bytes` without a
        // copy, which `from_static` models. `freya/parse_copy` adds a copy of the datagram
        // into a fresh `Bytes`, for a receive path that cannot hand its buffer over.
        g.bench_function("freya/parse", |b| {
            b.iter(|| parse(Bytes::from_static(black_box(data))))
        });
        g.bench_function("freya/parse_copy", |b| {
            b.iter(|| parse(Bytes::copy_from_slice(black_box(data))))
        });
        // `index`: the same work as rsip's and parsip's parse, which check no header value;
        // `parse` is `index` plus the grammar check of the values the stack relies on.
        g.bench_function("freya/index", |b| {
            b.iter(|| index(Bytes::from_static(black_box(data))))
        });
        g.bench_function("rsip/parse", |b| b.iter(|| rsip_parse(black_box(data))));
        g.bench_function("parsip/parse", |b| b.iter(|| parsip_parse(black_box(data))));

        // Parse, then serialize. freya's `to_bytes` of an unmodified message is the received
        // bytes (a reference-count increment); `to_vec` copies them into a `Vec<u8>`, the
        // output type rsip's `Vec::<u8>::from(msg)` produces.
        g.bench_function("freya/parse+to_bytes", |b| {
            b.iter(|| parse(Bytes::from_static(black_box(data))).map(|m| m.to_bytes()))
        });
        g.bench_function("freya/parse+to_vec", |b| {
            b.iter(|| parse(Bytes::from_static(black_box(data))).map(|m| m.as_bytes().to_vec()))
        });
        g.bench_function("freya/index+to_bytes", |b| {
            b.iter(|| index(Bytes::from_static(black_box(data))).map(|m| m.to_bytes()))
        });
        g.bench_function("rsip/parse+serialize", |b| {
            b.iter(|| rsip_roundtrip(black_box(data)))
        });

        // What the transaction layer reads from every message.
        g.bench_function("freya/parse+typed", |b| {
            b.iter(|| {
                let msg = parse(Bytes::from_static(black_box(data))).ok()?;
                let branch = msg.top_via()?.branch()?.len();
                let tag = msg.from()?.tag()?.len();
                let call_id = msg.call_id()?.len();
                let cseq = msg.cseq()?.seq;
                Some(branch + tag + call_id + cseq as usize)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench_messages);
criterion_main!(benches);
