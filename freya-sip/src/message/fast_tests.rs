//! The fast path (`fast.rs`, `scan.rs`) and the quick checks (`quick.rs`) against the
//! byte-by-byte path and the precise parsers: on the RFC 4475 corpus, the bench and example
//! messages, and tens of thousands of mutations of them, `parse` must give exactly what the
//! byte-by-byte path gives (same message, same spans; same error), and every value a quick
//! check calls valid must be valid for the precise parser.

use bytes::Bytes;

use super::addr::{Contact, NameAddr};
use super::parse::{index_with, parse_with, slow_path, Framing, Limits, Parser};
use super::quick;
use super::scalar::CSeq;
use super::uri::Uri;
use super::via::Via;
use super::HeaderKind;
use super::{Message, ParseError};

/// Deterministic xorshift, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [
        root.join("../../shared/corpus/rfc4475"),
        root.join("../benches/data"),
        root.join("../examples/data"),
    ] {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "sip" || x == "dat"))
            .collect();
        files.sort();
        for f in files {
            out.push(std::fs::read(f).unwrap());
        }
    }
    assert!(out.len() > 40, "corpus and bench messages found");
    out
}

/// Pieces a mutation inserts: separators, white space, folds, escapes, non-ASCII bytes and
/// fragments of the grammar.
const PIECES: &[&[u8]] = &[
    b" ",
    b"\t",
    b"\r",
    b"\n",
    b"\r\n",
    b"\r\n ",
    b":",
    b";",
    b",",
    b"<",
    b">",
    b"\"",
    b"\\",
    b"@",
    b"=",
    b"?",
    b"%",
    b"%4",
    b"%41",
    b"[",
    b"]",
    b"/",
    b".",
    b"-",
    b"_",
    b"+",
    b"*",
    b"!",
    b"~",
    b"'",
    b"(",
    b"&",
    b"$",
    b"#",
    b"0",
    b"9",
    b"a",
    b"Z",
    b"\xc3\xa9",
    b"\x80",
    b"\xff",
    b"\x00",
    b"sip:",
    b"sips:",
    b"tel:",
    b"SIP/2.0/UDP ",
    b";branch=z9hG4bK1",
    b";received=",
    b";rport",
    b";rport=70000",
    b";ttl=+5",
    b";ttl=300",
    b"192.0.2.1",
    b"1.2.3.256",
    b"[2001:db8::1]",
    b":5060",
    b":65536",
    b";lr",
    b";tag=1",
    b"..",
    b"-.",
    b"a-",
    b"?h=v",
    b"Via",
    b"v",
    b"From",
    b"f",
    b"To",
    b"Contact",
    b"m",
    b"Route",
    b"Record-Route",
    b"CSeq",
    b"Call-ID",
    b"i",
    b"Max-Forwards",
    b"Content-Length",
    b"l",
    b"Date",
    b"\"x\\\"y\" ",
];

fn mutate(rng: &mut Rng, m: &[u8]) -> Vec<u8> {
    let mut v = m.to_vec();
    for _ in 0..1 + rng.below(3) {
        if v.is_empty() {
            v.extend_from_slice(PIECES[rng.below(PIECES.len())]);
            continue;
        }
        // Mostly in the head, where the grammar is.
        let head = v
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(v.len());
        let at = rng.below(head.max(1));
        match rng.below(4) {
            0 => {
                v.remove(at);
            }
            1 => v[at] = PIECES[rng.below(PIECES.len())][0],
            _ => {
                let p = PIECES[rng.below(PIECES.len())];
                v.splice(at..at, p.iter().copied());
            }
        }
    }
    v
}

fn same_as_slow(data: &[u8], limits: &Limits, framing: Framing) {
    let fast = parse_with(Bytes::copy_from_slice(data), limits, framing);
    let slow = slow_path(Bytes::copy_from_slice(data), limits, framing, true);
    assert_eq!(
        fast,
        slow,
        "fast and byte-by-byte paths differ on {:?}",
        String::from_utf8_lossy(data)
    );
    // `index` then `check` is `parse`, on either path: the same message or the same error.
    let checked = |m: Result<Message, ParseError>| m.and_then(|m| m.check().map(|()| m));
    for (path, indexed) in [
        (
            "fast",
            index_with(Bytes::copy_from_slice(data), limits, framing),
        ),
        (
            "slow",
            slow_path(Bytes::copy_from_slice(data), limits, framing, false),
        ),
    ] {
        assert_eq!(
            checked(indexed),
            fast,
            "index + check ({path} path) differs from parse on {:?}",
            String::from_utf8_lossy(data)
        );
    }
}

#[test]
fn bench_messages_take_the_fast_path() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for name in ["invite", "ringing", "ok_sdp", "bye"] {
        let raw = std::fs::read(root.join(format!("../benches/data/{name}.sip"))).unwrap();
        let limits = Limits::default();
        let p = Parser {
            b: &raw,
            limits: &limits,
            base: 0,
            base_line: 0,
            fast: true,
            check: true,
        };
        let parts = p.run_fast(Framing::Datagram).expect(name);
        let slow = p.run_slow(Framing::Datagram).unwrap();
        assert_eq!(parts, slow, "{name}");
        assert!(parts.1.len() >= 9, "{name}: headers indexed");
    }
}

#[test]
fn fast_path_equals_byte_by_byte_path_on_seeds_and_mutations() {
    let limits = Limits::default();
    let tight = Limits {
        max_headers: 8,
        max_line_length: 60,
        max_message_size: 700,
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    let mut total = 0;
    for seed in seeds() {
        for framing in [Framing::Datagram, Framing::Stream] {
            same_as_slow(&seed, &limits, framing);
            same_as_slow(&seed, &tight, framing);
        }
        for _ in 0..600 {
            let m = mutate(&mut rng, &seed);
            same_as_slow(&m, &limits, Framing::Datagram);
            total += 1;
            accepted +=
                usize::from(slow_path(Bytes::from(m), &limits, Framing::Datagram, true).is_ok());
        }
    }
    // The mutations must exercise both outcomes.
    assert!(
        accepted > total / 10 && accepted < total * 9 / 10,
        "{accepted} of {total}"
    );
}

#[test]
fn header_names_fold_case_exactly() {
    // Known names in any case, compact forms, and near misses (a CR, a space, '_' for '-').
    let mut rng = Rng(7);
    for _ in 0..20_000 {
        let base: &[u8] = PIECES[40 + rng.below(PIECES.len() - 40)];
        let mut n: Vec<u8> = base
            .iter()
            .map(|&c| {
                if rng.below(2) == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        if rng.below(3) == 0 && !n.is_empty() {
            let at = rng.below(n.len());
            n[at] = [b'_', b'\r', b' ', b'-', b'm', 0x0d | 0x40][rng.below(6)];
        }
        if n.contains(&b'\r') {
            continue; // never inside a line the scan accepted
        }
        assert_eq!(
            HeaderKind::from_token(&n),
            HeaderKind::from_name(&n),
            "{:?}",
            String::from_utf8_lossy(&n)
        );
    }
}

/// The values the parser checks, taken from the seeds.
fn seed_values() -> Vec<(HeaderKind, Vec<u8>)> {
    let mut out = Vec::new();
    for seed in seeds() {
        if let Ok(m) = slow_path(
            Bytes::from(seed),
            &Limits::default(),
            Framing::Datagram,
            true,
        ) {
            for h in m.headers() {
                out.push((h.kind(), h.value().as_bytes().to_vec()));
            }
            if let Some(u) = m.request_uri() {
                out.push((HeaderKind::Other, u.as_bytes().to_vec()));
            }
        }
    }
    out
}

/// `quick` true ⇒ precise true, for one value of a kind (`Other` = a Request-URI).
fn quick_implies_precise(kind: HeaderKind, v: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(v) else {
        return true; // the head is UTF-8 before any check runs
    };
    fn all(it: &mut dyn Iterator<Item = bool>) -> bool {
        let mut ok = true;
        for x in it {
            ok &= x;
        }
        ok
    }
    match kind {
        HeaderKind::Via => !quick::via_list(v) || all(&mut Via::parse_list(s).map(|r| r.is_ok())),
        HeaderKind::From | HeaderKind::To => {
            !quick::name_addr_single(v) || NameAddr::parse(s).is_ok()
        }
        HeaderKind::Contact => {
            !quick::contact(v)
                || match Contact::parse(s) {
                    Contact::Wildcard => true,
                    Contact::Addresses(mut it) => all(&mut it.by_ref().map(|r| r.is_ok())),
                }
        }
        HeaderKind::Route | HeaderKind::RecordRoute => {
            !quick::name_addr_list(v) || all(&mut NameAddr::parse_list(s).map(|r| r.is_ok()))
        }
        HeaderKind::CSeq => match quick::cseq_method(v) {
            None => true,
            Some(m) => CSeq::parse(s).is_ok_and(|c| c.method.as_bytes() == m),
        },
        HeaderKind::CallId => {
            !quick::call_id(v) || !(s.is_empty() || s.bytes().any(|c| c.is_ascii_whitespace()))
        }
        _ => !quick::sip_uri(v) || matches!(Uri::parse(s), Ok(Uri::Sip(u)) if u.headers.is_empty()),
    }
}

/// The header kinds whose values the quick checks judge (`Other` stands for a plain URI).
const CHECKED_KINDS: [HeaderKind; 7] = [
    HeaderKind::Via,
    HeaderKind::From,
    HeaderKind::Contact,
    HeaderKind::Route,
    HeaderKind::CSeq,
    HeaderKind::CallId,
    HeaderKind::Other,
];

#[test]
fn quick_checks_imply_the_precise_grammar() {
    let values = seed_values();
    assert!(values.len() > 300);
    let kinds = CHECKED_KINDS;
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut quick_yes = 0;
    for (kind, v) in &values {
        for _ in 0..200 {
            let m = mutate(&mut rng, v);
            // Each mutation is tried as its own kind and as another, so that URIs meet the
            // Via check, addresses the URI check, and so on.
            for k in [*kind, kinds[rng.below(kinds.len())]] {
                assert!(
                    quick_implies_precise(k, &m),
                    "{k:?}: quick check accepts what the precise parser refuses: {:?}",
                    String::from_utf8_lossy(&m)
                );
            }
            quick_yes += usize::from(quick::via_list(&m) || quick::name_addr_single(&m));
        }
    }
    assert!(
        quick_yes > 1000,
        "mutations the quick checks accept: {quick_yes}"
    );
}

#[test]
fn quick_checks_imply_the_precise_grammar_on_generated_values() {
    // Values assembled from grammar fragments, so that most are nearly valid.
    let mut rng = Rng(42);
    let kinds = CHECKED_KINDS;
    let mut sure = 0;
    for _ in 0..200_000 {
        let mut v = Vec::new();
        for _ in 0..1 + rng.below(12) {
            v.extend_from_slice(PIECES[rng.below(PIECES.len())]);
        }
        let k = kinds[rng.below(kinds.len())];
        assert!(
            quick_implies_precise(k, &v),
            "{k:?}: quick check accepts what the precise parser refuses: {:?}",
            String::from_utf8_lossy(&v)
        );
        sure += usize::from(quick::sip_uri(&v) || quick::via_list(&v) || quick::contact(&v));
    }
    assert!(
        sure > 100,
        "generated values the quick checks accept: {sure}"
    );
}
