//! Property tests: generated messages (random header names, values, order, case, spacing,
//! folding, X- headers with UTF-8 values) round-trip byte-exact, are read back exactly, and
//! survive edits of other headers untouched; arbitrary bytes never panic the parser or the
//! framer.

use bytes::Bytes;
use freya_sip::message::{parse, ErrorKind, StreamFramer};
use proptest::prelude::*;

const TOKEN_CHARS: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~";

fn token() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(TOKEN_CHARS), 1..12)
        .prop_map(|v| String::from_utf8(v).unwrap())
}

/// Header values: printable ASCII and some non-ASCII letters, no leading/trailing blanks.
fn value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ;=<>@:,\"/.İşçğüé中文-]{1,40}".prop_map(|s| {
        let t = s.trim_matches(' ').to_string();
        if t.is_empty() {
            "v".to_string()
        } else {
            t
        }
    })
}

/// How a header is written: the separator between name and value, and whether (and where)
/// the value is folded.
#[derive(Debug, Clone)]
struct Header {
    name: String,
    sep: &'static str,
    value: String,
    fold_at: Option<usize>,
}

impl Header {
    /// The value as it appears in the message (fold included).
    fn raw_value(&self) -> String {
        match self.fold_at {
            Some(i) => {
                // Fold at a space inside the value.
                let spaces: Vec<usize> = self.value.match_indices(' ').map(|(p, _)| p).collect();
                if spaces.is_empty() {
                    return self.value.clone();
                }
                let p = spaces[i % spaces.len()];
                let (a, b) = self.value.split_at(p);
                let a = a.trim_end_matches(' ');
                let b = b.trim_start_matches(' ');
                if a.is_empty() || b.is_empty() {
                    return self.value.clone();
                }
                format!("{a}\r\n \t{b}")
            }
            None => self.value.clone(),
        }
    }

    fn line(&self) -> String {
        format!("{}{}{}\r\n", self.name, self.sep, self.raw_value())
    }
}

fn header() -> impl Strategy<Value = Header> {
    (
        prop_oneof![token(), token().prop_map(|t| format!("X-{t}"))],
        proptest::sample::select(vec![": ", ":", " : ", ":\t", "  :   "]),
        value(),
        proptest::option::of(0usize..8),
    )
        .prop_map(|(name, sep, value, fold_at)| Header {
            name,
            sep,
            value,
            fold_at,
        })
        // Names the parser checks for grammar must not appear with random values.
        .prop_filter("checked headers", |h| {
            use freya_sip::message::HeaderKind as K;
            matches!(
                K::from_name(h.name.as_bytes()),
                K::Other | K::Subject | K::UserAgent | K::Allow | K::Supported | K::Require
            )
        })
}

fn random_case(s: &str, mask: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

#[derive(Debug, Clone)]
struct Msg {
    bytes: Vec<u8>,
    /// (name, raw value) for every header in order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn message() -> impl Strategy<Value = Msg> {
    (
        proptest::collection::vec(header(), 0..12),
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
        0usize..20,
    )
        .prop_map(|(extra, case, body, response, pos)| {
            let method = "INVITE";
            let start = if response {
                "SIP/2.0 183 Session Progress\r\n".to_string()
            } else {
                format!("{method} sip:+14155550100@127.0.0.1:5060 SIP/2.0\r\n")
            };
            let mut headers: Vec<(String, String)> = vec![
                (
                    random_case("Via", case),
                    "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKab12".into(),
                ),
                (
                    random_case("From", case >> 3),
                    "\"Ada\" <sip:ada@example.com>;tag=77".into(),
                ),
                (
                    random_case("To", case >> 5),
                    "<sip:+14155550100@127.0.0.1>".into(),
                ),
                (
                    random_case("Call-ID", case >> 7),
                    "f81d4fae@192.0.2.1".into(),
                ),
                (random_case("CSeq", case >> 11), format!("4711 {method}")),
            ];
            let mut lines: Vec<String> = headers
                .iter()
                .map(|(n, v)| format!("{n}: {v}\r\n"))
                .collect();
            // Insert the random headers at random places among the mandatory ones.
            for (k, h) in extra.iter().enumerate() {
                let at = (pos + k * 7) % (lines.len() + 1);
                lines.insert(at, h.line());
                headers.insert(at, (h.name.clone(), h.raw_value()));
            }
            lines.push(format!("Content-Length: {}\r\n", body.len()));
            headers.push(("Content-Length".into(), body.len().to_string()));
            let mut bytes = start.into_bytes();
            for l in &lines {
                bytes.extend_from_slice(l.as_bytes());
            }
            bytes.extend_from_slice(b"\r\n");
            bytes.extend_from_slice(&body);
            Msg {
                bytes,
                headers,
                body,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_messages_round_trip(m in message()) {
        let raw = Bytes::from(m.bytes.clone());
        let parsed = parse(raw.clone()).map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&m.bytes))))?;
        prop_assert_eq!(parsed.to_bytes(), raw);
        let got: Vec<(String, String)> = parsed.headers().map(|h| (h.name().to_owned(), h.value().to_owned())).collect();
        prop_assert_eq!(&got, &m.headers);
        prop_assert_eq!(parsed.body(), &m.body[..]);
        for (name, value) in &m.headers {
            // Case-insensitive lookup finds a header of that name (the first one).
            let found = parsed.header(&name.to_ascii_lowercase()).unwrap();
            prop_assert!(found.name().eq_ignore_ascii_case(name) || freya_sip::message::same_header(found.name(), name));
            if found.name() == name { let _ = value; }
        }
        prop_assert_eq!(parsed.call_id(), Some("f81d4fae@192.0.2.1"));
        prop_assert_eq!(parsed.top_via().unwrap().branch(), Some("z9hG4bKab12"));
    }

    #[test]
    fn edits_leave_other_headers_untouched(m in message(), which in any::<prop::sample::Index>(), new in value()) {
        let parsed = parse(Bytes::from(m.bytes.clone())).unwrap();
        let i = which.index(parsed.header_count());
        let target = parsed.header_at(i).unwrap();
        let mut e = parsed.edit();
        // Change one header's value (Content-Length and the checked headers keep valid values).
        let new_value = match target.kind() {
            freya_sip::message::HeaderKind::Other => new.clone(),
            _ => target.value().replace("\r\n \t", " "),
        };
        e.set_header_at(i, &new_value).unwrap();
        e.add_header("X-Freya-Call-Id", "0b6f6a3e-4c1d-4f8e-9a57-2d8c1e4b7f10").unwrap();
        let out = e.finish().unwrap();
        prop_assert_eq!(out.header_count(), parsed.header_count() + 1);
        for (k, h) in parsed.headers().enumerate() {
            let o = out.header_at(k).unwrap();
            if k == i {
                prop_assert_eq!(o.value(), new_value.as_str());
                prop_assert_eq!(o.name(), h.name());
            } else {
                prop_assert_eq!(o.raw(), h.raw());
            }
        }
        prop_assert_eq!(out.body(), parsed.body());
        prop_assert_eq!(out.start_line(), parsed.start_line());
    }

    #[test]
    fn non_token_name_byte_is_reported_where_it_is(m in message(), bad in prop_oneof![
        Just("\u{130}".to_string()), Just("é".to_string()), Just("\u{1}".to_string()), Just("(".to_string()), Just("\"".to_string())
    ]) {
        // Put a bad name right after the start line.
        let first_nl = m.bytes.iter().position(|&c| c == b'\n').unwrap() + 1;
        let mut bytes = m.bytes[..first_nl].to_vec();
        let line = format!("X-{bad}d: 1\r\n");
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(&m.bytes[first_nl..]);
        let err = parse(Bytes::from(bytes)).unwrap_err();
        prop_assert_eq!(err.kind(), ErrorKind::InvalidHeaderName);
        prop_assert_eq!(err.line(), Some(2));
        prop_assert_eq!(err.offset(), first_nl + 2);
        prop_assert!(err.offending().starts_with(&bad.as_bytes()[..1]));
    }

    #[test]
    fn framer_yields_the_same_messages_for_any_split(ms in proptest::collection::vec(message(), 1..4), cuts in proptest::collection::vec(1usize..200, 1..20), keepalive in any::<bool>()) {
        let mut stream = Vec::new();
        for m in &ms {
            if keepalive { stream.extend_from_slice(b"\r\n\r\n"); }
            stream.extend_from_slice(&m.bytes);
        }
        let mut f = StreamFramer::new();
        let mut got = Vec::new();
        let mut pos = 0;
        let mut k = 0;
        while pos < stream.len() {
            let n = cuts[k % cuts.len()].min(stream.len() - pos);
            k += 1;
            f.push(&stream[pos..pos + n]);
            pos += n;
            while let Some(msg) = f.next_message().unwrap() {
                got.push(msg);
            }
        }
        prop_assert_eq!(got.len(), ms.len());
        for (g, m) in got.iter().zip(&ms) {
            prop_assert_eq!(g.as_bytes(), &m.bytes[..]);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse(Bytes::from(data.clone()));
        let mut f = StreamFramer::new();
        f.push(&data);
        let _ = f.next_message();
    }

    #[test]
    fn mutated_messages_never_panic(m in message(), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut bytes = m.bytes.clone();
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        if let Ok(msg) = parse(Bytes::from(bytes.clone())) {
            // Whatever parses must serialise back to what it consumed.
            let start = msg.consumed() - msg.as_bytes().len();
            prop_assert_eq!(msg.as_bytes(), &bytes[start..msg.consumed()]);
        } else if let Err(e) = parse(Bytes::from(bytes.clone())) {
            prop_assert!(e.offset() <= bytes.len());
        }
    }
}
