//! Stable, cargo-fuzz-free replay of the fuzz checks: every seed (the RFC 4475 torture corpus
//! read from `../shared/`, the bench messages, `regressions/`, and whatever `corpus/` a fuzz run
//! left), then deterministic random mutations of them. Same code as the libFuzzer targets.
//!
//! `cargo test --release --no-default-features` (from fuzz/). `FREYA_FUZZ_MUTATIONS` sets the
//! number of mutated inputs per target (default 20000); `FREYA_FUZZ_SEED` the PRNG seed.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Once;

use freya_fuzz::{check_framer, check_parse, check_rtp, check_sdp};

type Check = fn(&[u8]);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn files_in(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            files_in(&p, out);
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((p.display().to_string(), bytes));
        }
    }
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let fuzz = root();
    let rfc4475 = fuzz.join("../../shared/corpus/rfc4475");
    let before = out.len();
    files_in(&rfc4475, &mut out);
    out.retain(|(name, _)| !name.ends_with(".tsv"));
    if out.len() == before {
        eprintln!("note: no RFC 4475 corpus at {}", rfc4475.display());
    }
    files_in(&fuzz.join("../benches/data"), &mut out);
    out.retain(|(name, _)| !name.ends_with(".gitattributes"));
    files_in(&fuzz.join("regressions"), &mut out);
    files_in(&fuzz.join("corpus"), &mut out);
    // A stream of a whole call with keep-alives, for the framer.
    let call: Vec<u8> = out
        .iter()
        .filter(|(n, _)| n.contains("benches/data"))
        .flat_map(|(_, b)| b"\r\n\r\n".iter().chain(b.iter()).copied())
        .collect();
    out.push(("call-stream".into(), call));
    out
}

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Caught panics print nothing (failures are listed at the end); only on this test's thread,
/// since the hook is global and the tests run in parallel.
fn quiet_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                default(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
}

/// Runs `check` on `input`; on a panic, saves the input and returns it escaped.
fn run(target: &str, check: Check, name: &str, input: &[u8]) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| check(input))) {
        Ok(()) => Ok(()),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            let dir = root().join("artifacts").join(target);
            let file = dir.join(format!("crash-replay-{:016x}", freya_fuzz::fnv1a(input)));
            let saved = std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(&file, input))
                .map_or_else(
                    |e| format!("(not saved: {e})"),
                    |()| file.display().to_string(),
                );
            Err(format!(
                "{target} crashed on {name}: {msg}\n  saved to {saved}\n  input: b\"{}\"",
                input.escape_ascii()
            ))
        }
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Fragments SIP parsers trip on.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b"\r\n\r\n",
    b"\n\n",
    b"\r\n ",
    b"\r\n\t",
    b" ",
    b"\t",
    b":",
    b" :",
    b",",
    b";",
    b"=",
    b"<",
    b">",
    b"\"",
    b"\\",
    b"%",
    b"%00",
    b"@",
    b"[",
    b"]",
    b"\0",
    b"\xff",
    b"\xc4\xb0",
    b"\xe2\x80\x94",
    b"SIP/2.0",
    b"SIP/2.0 ",
    b"Content-Length: ",
    b"l: ",
    b"Content-Length: 4294967296\r\n",
    b"l: 0\r\n",
    b"l: 99999\r\n",
    b"Via: ",
    b"v: ",
    b"CSeq: 1 ",
    b"i: x\r\n",
    b";branch=z9hG4bK",
    b";rport",
    b";received=",
    b"sip:",
    b"sips:",
    b"tel:",
    b"Q.850;cause=",
    b"999999999999999999999",
    b"-1",
    b"65536",
    b"0",
];

fn mutate(rng: &mut Rng, seeds: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut d = seeds[rng.below(seeds.len())].1.clone();
    for _ in 0..=rng.below(4) {
        let at = rng.below(d.len() + 1);
        match rng.below(8) {
            0 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] ^= 1 << rng.below(8);
            }
            1 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] = rng.next() as u8;
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                d.splice(at..at, t.iter().copied());
            }
            3 if at < d.len() => {
                let end = (at + 1 + rng.below(32)).min(d.len());
                d.drain(at..end);
            }
            4 => {
                // Splice in part of another seed.
                let other = &seeds[rng.below(seeds.len())].1;
                let s = rng.below(other.len() + 1);
                let e = (s + rng.below(256)).min(other.len());
                d.splice(at..at, other[s..e].iter().copied());
            }
            5 if at < d.len() => {
                // Duplicate a range (repeated headers, repeated messages).
                let end = (at + 1 + rng.below(128)).min(d.len());
                let piece = d[at..end].to_vec();
                d.splice(end..end, piece);
            }
            6 => d.truncate(at),
            _ => {
                // Swap the case of an ASCII letter.
                if !d.is_empty() {
                    let i = rng.below(d.len());
                    d[i] = if d[i].is_ascii_lowercase() {
                        d[i].to_ascii_uppercase()
                    } else {
                        d[i].to_ascii_lowercase()
                    };
                }
            }
        }
    }
    d
}

fn replay_and_mutate(target: &str, check: Check) {
    let seeds = seeds();
    assert!(!seeds.is_empty(), "no seeds");
    quiet_panics();
    let mut failures = Vec::new();
    for (name, input) in &seeds {
        if let Err(f) = run(target, check, name, input) {
            failures.push(f);
        }
    }
    let n: usize = std::env::var("FREYA_FUZZ_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let seed: u64 = std::env::var("FREYA_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_f4e7a);
    let mut rng = Rng(seed | 1);
    let start = std::time::Instant::now();
    let mut done = 0;
    while done < n && failures.len() < 5 {
        let input = mutate(&mut rng, &seeds);
        if let Err(f) = run(target, check, &format!("mutation {done}"), &input) {
            failures.push(f);
        }
        done += 1;
    }
    QUIET.with(|q| q.set(false));
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{target}: {} seeds + {done} mutations (seed {seed}) in {secs:.1} s, {:.0} execs/s",
        seeds.len(),
        done as f64 / secs.max(1e-9)
    );
    let shown = failures.len().min(10);
    assert!(
        failures.is_empty(),
        "{} failing inputs; the first {shown}:\n\n{}",
        failures.len(),
        failures[..shown].join("\n\n")
    );
}

#[test]
fn parse_target() {
    replay_and_mutate("parse", check_parse);
}

#[test]
fn framer_target() {
    replay_and_mutate("framer", check_framer);
}

#[test]
fn sdp_target() {
    replay_and_mutate("sdp", check_sdp);
}

#[test]
fn rtp_target() {
    replay_and_mutate("rtp", check_rtp);
}

#[test]
fn bridge_target() {
    replay_and_mutate("bridge", freya_fuzz::bridge::check_bridge);
}

#[test]
fn upgrade_target() {
    replay_and_mutate("upgrade", freya_fuzz::upgrade::check_upgrade);
}
