//! Parses one bench message N times with one parser: a fixed workload for profilers
//! (`valgrind --tool=callgrind`, `perf`), whose instruction counts do not depend on the load of
//! the machine the way criterion's times do.
//!
//! `cargo build --release -p freya-benches --example parse_loop`
//! `valgrind --tool=callgrind target/release/examples/parse_loop freya invite 20000`
//!
//! Parsers: freya, freya-index (the index without the value grammar check), freya-typed, rsip, rsip-serialize, parsip. Messages: the names in
//! `freya_benches::MESSAGES`.

use std::hint::black_box;
use std::process::ExitCode;

use bytes::Bytes;
use freya_benches::{parsip_parse, rsip_parse, rsip_roundtrip, MESSAGES};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(parser), Some(name)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: parse_loop PARSER MESSAGE [N]");
        return ExitCode::from(2);
    };
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let Some(m) = MESSAGES.iter().find(|m| m.name == name) else {
        eprintln!("unknown message {name}");
        return ExitCode::from(2);
    };
    let data: &'static [u8] = m.bytes;
    let mut ok = 0usize;
    for _ in 0..n {
        let good = match parser.as_str() {
            "freya" => freya_sip::message::parse(Bytes::from_static(black_box(data))).is_ok(),
            "freya-index" => freya_sip::message::index(Bytes::from_static(black_box(data))).is_ok(),
            "freya-typed" => freya_sip::message::parse(Bytes::from_static(black_box(data)))
                .ok()
                .and_then(|m| {
                    let b = m.top_via()?.branch()?.len();
                    Some(b + m.from()?.tag()?.len() + m.call_id()?.len() + m.cseq()?.seq as usize)
                })
                .is_some(),
            "rsip" => rsip_parse(black_box(data)).is_ok(),
            "rsip-serialize" => rsip_roundtrip(black_box(data)).is_ok(),
            "parsip" => parsip_parse(black_box(data)).is_some(),
            other => {
                eprintln!("unknown parser {other}");
                return ExitCode::from(2);
            }
        };
        ok += usize::from(black_box(good));
    }
    println!("{parser} {name}: {ok}/{n} parsed");
    if ok == n {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
