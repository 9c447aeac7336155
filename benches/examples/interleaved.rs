//! Interleaved timing: parsers take turns in short rounds (a few milliseconds each), so a change
//! in the load of a shared machine hits all of them alike; the per-round ratios' median is the
//! figure to trust when criterion's medians (taken one benchmark after the other) drift.
//!
//! `cargo run --release -p freya-benches --example interleaved [ROUNDS]`

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use freya_benches::{parsip_parse, rsip_parse, rsip_roundtrip, MESSAGES};
use freya_sip::message::{index, parse};

type Run = fn(&'static [u8]) -> bool;

// `index` does the work rsip's and parsip's parse do (no grammar check of header values);
// `parse` is `index` plus that check (`Message::check`).
const PARSERS: [(&str, Run); 7] = [
    ("freya parse", |d| parse(Bytes::from_static(d)).is_ok()),
    ("freya index", |d| index(Bytes::from_static(d)).is_ok()),
    ("rsip parse", |d| rsip_parse(d).is_ok()),
    ("parsip parse", |d| parsip_parse(d).is_some()),
    ("freya parse+to_vec", |d| {
        parse(Bytes::from_static(d)).is_ok_and(|m| !m.as_bytes().to_vec().is_empty())
    }),
    ("freya index+to_vec", |d| {
        index(Bytes::from_static(d)).is_ok_and(|m| !m.as_bytes().to_vec().is_empty())
    }),
    ("rsip parse+serialize", |d| rsip_roundtrip(d).is_ok()),
];

/// For each row, the two freya rows it is compared with: (parse, index) for the parse rows,
/// (parse+to_vec, index+to_vec) for the serialize rows.
const BASES: [(usize, usize); 7] = [(0, 1), (0, 1), (0, 1), (0, 1), (4, 5), (4, 5), (4, 5)];

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    println!(
        "| message | parser | median ns/msg | msgs/s | freya parse ÷ this | freya index ÷ this |"
    );
    println!("|---|---|---|---|---|---|");
    for m in MESSAGES {
        let data: &'static [u8] = m.bytes;
        // 200 iterations: 0.3 to 4 ms per parser per round on this machine kind.
        let iters = 200;
        let mut ns: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); PARSERS.len()];
        for _ in 0..rounds {
            for (i, (_, run)) in PARSERS.iter().enumerate() {
                let t = Instant::now();
                for _ in 0..iters {
                    black_box(run(black_box(data)));
                }
                ns[i].push(t.elapsed().as_nanos() as f64 / iters as f64);
            }
        }
        // Ratios in msgs/s (this row's time over freya's), the median of the per-round ratios.
        for (i, (name, _)) in PARSERS.iter().enumerate() {
            let ratio = |base: usize| {
                let mut r: Vec<f64> = ns[i].iter().zip(&ns[base]).map(|(x, f)| x / f).collect();
                median(&mut r)
            };
            let (full, idx) = BASES[i];
            let med = median(&mut ns[i].clone());
            println!(
                "| {} | {name} | {med:.0} | {:.0} k | {:.2}× | {:.2}× |",
                m.name,
                1e6 / med,
                ratio(full),
                ratio(idx)
            );
        }
    }
}
