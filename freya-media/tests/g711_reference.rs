//! G.711 against references computed at test time by tools independent of this crate:
//! `sox` (Debian package `sox`) and Python's `audioop` (CPython ≤ 3.12; CI runs 3.11).
//! Set `FREYA_PYTHON` to choose the interpreter (default `python3`).
//!
//! What the references implement, and how the comparison accounts for it:
//! - Decoding: all agree with G.191 `ulaw_expand`/`alaw_expand`; compared code for code.
//! - A-law encoding: `audioop` (Sun's g711.c) truncates to 13 bits like G.191 and uses the
//!   one's complement of negative samples like G.191: compared sample for sample. `sox`
//!   *rounds* to 13 bits first; fed the G.191-truncated sample (`x & !7`) its rounding is a
//!   no-op, so `sox(x & !7)` is compared.
//! - μ-law encoding: Sun's code negates a negative 14-bit sample (`-(x >> 2)`) where G.191
//!   takes the one's complement (`!x >> 2`), so the two agree on `x >= 0` and G.191 encodes a
//!   negative `x` as the mirror of `!x`: `audioop(!x) ^ 0x80`. That is compared for all
//!   65536 samples, and the 508 samples where plain `audioop(x)` differs are pinned down too.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use freya_media::codec::{alaw_decode, alaw_encode, ulaw_decode, ulaw_encode};

/// Runs `program args`, feeding `input` on stdin, returning stdout; panics with an install
/// hint if the program is missing or fails.
fn run(program: &str, args: &[&str], input: &[u8], hint: &str) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}. {hint}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    // Write from a thread: the tool streams, and both pipes hold only 64 KiB.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut out)
        .expect("read stdout");
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    writer.join().expect("writer").expect("write stdin");
    let status = child.wait().expect("wait");
    assert!(
        status.success(),
        "{program} {args:?} failed: {status}\n{err}\n{hint}"
    );
    out
}

const SOX_HINT: &str = "install the Debian package `sox` (listed in scripts/test.sh APT_PACKAGES)";
const PY_HINT: &str =
    "needs a Python with the `audioop` module (CPython <= 3.12); set FREYA_PYTHON";

/// `sox` converting raw mono 8 kHz audio between two encodings.
fn sox(input: &[u8], from: &[&str], to: &[&str]) -> Vec<u8> {
    let mut args = vec!["-D", "-V1", "-t", "raw", "-r", "8000", "-c", "1"];
    args.extend_from_slice(from);
    args.extend_from_slice(&["-", "-t", "raw", "-r", "8000", "-c", "1"]);
    args.extend_from_slice(to);
    args.push("-");
    run("sox", &args, input, SOX_HINT)
}

const S16: &[&str] = &["-e", "signed-integer", "-b", "16", "-L"];
const ULAW: &[&str] = &["-e", "u-law", "-b", "8"];
const ALAW: &[&str] = &["-e", "a-law", "-b", "8"];

/// `audioop.<function>(stdin, 2)` in Python.
fn audioop(function: &str, input: &[u8]) -> Vec<u8> {
    let python = std::env::var("FREYA_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!(
        "import sys, audioop; sys.stdout.buffer.write(audioop.{function}(sys.stdin.buffer.read(), 2))"
    );
    run(&python, &["-W", "ignore", "-c", &script], input, PY_HINT)
}

fn le_bytes(samples: impl IntoIterator<Item = i16>) -> Vec<u8> {
    samples.into_iter().flat_map(i16::to_le_bytes).collect()
}

fn le_samples(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

fn all_samples() -> impl Iterator<Item = i16> {
    i16::MIN..=i16::MAX
}

#[test]
fn decoding_all_256_codes_matches_sox_and_audioop() {
    let codes: Vec<u8> = (0..=255).collect();
    let ours_u: Vec<i16> = codes.iter().map(|&c| ulaw_decode(c)).collect();
    let ours_a: Vec<i16> = codes.iter().map(|&c| alaw_decode(c)).collect();

    assert_eq!(le_samples(&sox(&codes, ULAW, S16)), ours_u, "μ-law vs sox");
    assert_eq!(le_samples(&sox(&codes, ALAW, S16)), ours_a, "A-law vs sox");
    assert_eq!(
        le_samples(&audioop("ulaw2lin", &codes)),
        ours_u,
        "μ-law vs audioop"
    );
    assert_eq!(
        le_samples(&audioop("alaw2lin", &codes)),
        ours_a,
        "A-law vs audioop"
    );
}

#[test]
fn alaw_encoding_of_all_65536_samples_matches_sox_and_audioop() {
    let by_audioop = audioop("lin2alaw", &le_bytes(all_samples()));
    let by_sox = sox(&le_bytes(all_samples().map(|x| x & !7)), S16, ALAW);
    assert_eq!(by_audioop.len(), 65536);
    assert_eq!(by_sox.len(), 65536);
    for (i, x) in all_samples().enumerate() {
        let ours = alaw_encode(x);
        assert_eq!(ours, by_audioop[i], "A-law {x} vs audioop");
        assert_eq!(ours, by_sox[i], "A-law {x} vs sox");
    }
}

#[test]
fn ulaw_encoding_of_all_65536_samples_matches_sox_and_audioop() {
    // Reference for x >= 0: the tool's code for x; for x < 0: the mirror of its code for !x.
    let reference_input = |x: i16| if x < 0 { !x } else { x };
    let by_audioop = audioop("lin2ulaw", &le_bytes(all_samples().map(reference_input)));
    let by_sox = sox(
        &le_bytes(all_samples().map(|x| reference_input(x) & !3)),
        S16,
        ULAW,
    );
    assert_eq!(by_audioop.len(), 65536);
    assert_eq!(by_sox.len(), 65536);
    for (i, x) in all_samples().enumerate() {
        let mirror = if x < 0 { 0x80 } else { 0 };
        let ours = ulaw_encode(x);
        assert_eq!(ours, by_audioop[i] ^ mirror, "μ-law {x} vs audioop");
        assert_eq!(ours, by_sox[i] ^ mirror, "μ-law {x} vs sox");
    }
}

#[test]
fn sun_ulaw_differs_from_g191_only_on_508_negative_boundary_samples() {
    let plain = audioop("lin2ulaw", &le_bytes(all_samples()));
    let differing: Vec<(i16, u8, u8)> = all_samples()
        .enumerate()
        .filter(|&(i, x)| ulaw_encode(x) != plain[i])
        .map(|(i, x)| (x, ulaw_encode(x), plain[i]))
        .collect();
    assert_eq!(differing.len(), 508);
    for &(x, ours, sun) in &differing {
        assert!(x < 0, "{x}");
        // Neighbouring codes: one quantisation step apart, same sign.
        assert_eq!(ours.abs_diff(sun), 1, "{x}: {ours:#04x} vs {sun:#04x}");
        // G.191 picks the code nearer zero.
        assert!(ulaw_decode(ours) > ulaw_decode(sun), "{x}");
    }
}
