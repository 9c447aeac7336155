//! The `upgrade` target: freya-media's WebSocket opening handshake (RFC 6455 §4), on arbitrary
//! HTTP heads from the network (an agent's request in server mode, an agent's answer in client
//! mode).
//!
//! Input layout: byte 0 is a selector: bit 0 picks a request (0) or a response (1), bits 1-4
//! the size of each read (one of [`STEPS`]), bit 5 whether the fixed client request offers
//! subprotocols. The rest is the byte stream, fed to a [`HeadReader`] in reads of that size
//! (never more than the room it hands out); the head it accepts goes to [`parse_request`], or
//! to [`ClientRequest::check_response`] of a fixed request.
//!
//! Holds: nothing panics; the reader never holds more than [`MAX_HEAD`] bytes nor hands out
//! more than [`READ_STEP`] bytes of room; its head plus leftover are exactly the bytes fed
//! (nothing lost, nothing invented, the head ending in the last read); its verdict does not
//! depend on the read size; a request `parse_request` accepts has a 16-byte base64 key, and
//! its `accept_response` is an HTTP/1.1 101 carrying base64(SHA-1(key + GUID)) computed here
//! independently of freya and tungstenite, which freya's own client accepts; a refused
//! request's `status()`, if any, is a 4xx whose `refusal_response` is sound; a response the
//! client accepts is a 101 carrying the right accept value and an offered subprotocol (or none
//! when none was offered); every error is one the function documents.

use base64::Engine;
use freya_media::bridge::upgrade::{
    accept_response, parse_request, refusal_response, ClientRequest, Head, HeadKind, HeadReader,
    Target, UpgradeError, MAX_HEAD, READ_STEP,
};
use sha1::{Digest, Sha1};

/// Read sizes in bytes; `usize::MAX` takes all the room the reader hands out.
pub const STEPS: [usize; 16] = [
    1,
    2,
    3,
    5,
    8,
    13,
    31,
    64,
    100,
    255,
    256,
    511,
    READ_STEP,
    READ_STEP + 1,
    4096,
    usize::MAX,
];

/// RFC 6455 §1.3's sample nonce: the fixed client request's key.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// RFC 6455 §1.3 (and §4.2.2 item 5.4): the GUID appended to the key before hashing.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The subprotocols the fixed client request offers when selector bit 5 is set.
const OFFERED: [&str; 2] = ["audio.jambonz.org", "chat"];

/// The `upgrade` target's check.
pub fn check_upgrade(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let kind = if selector & 1 == 0 {
        HeadKind::Request
    } else {
        HeadKind::Response
    };
    let step = STEPS[usize::from((selector >> 1) & 0x0f)];
    let offer: &[&str] = if selector & 0x20 != 0 { &OFFERED } else { &[] };

    let (outcome, fed) = read(kind, rest, step);
    // The verdict must not depend on how the stream was cut into reads.
    let (whole, whole_fed) = read(kind, rest, usize::MAX);
    same_verdict(&outcome, &whole, fed, whole_fed);

    match (kind, outcome) {
        (HeadKind::Request, Ok(head)) => check_request(&head.bytes),
        (HeadKind::Response, Ok(head)) => check_response(&head.bytes, offer),
        (HeadKind::Request, Err(e)) => check_refusal(&e),
        (HeadKind::Response, Err(_)) => {}
    }
}

/// Feeds `stream` to a reader in `step`-byte reads: the reader's verdict and the bytes fed.
fn read(kind: HeadKind, stream: &[u8], step: usize) -> (Result<Head, UpgradeError>, usize) {
    let mut reader = HeadReader::new(kind);
    let mut fed = 0usize;
    loop {
        // Until a head comes out, the reader holds exactly what it was fed, within its cap.
        assert_eq!(
            reader.buffered(),
            fed,
            "reader holds other than what it was fed"
        );
        assert!(reader.buffered() <= MAX_HEAD, "reader over its cap");
        let space = match reader.space() {
            Ok(s) => s,
            Err(e) => {
                assert!(
                    matches!(e, UpgradeError::HeadTooLarge { limit: MAX_HEAD }),
                    "space() failed with {e:?}"
                );
                assert_eq!(fed, MAX_HEAD, "head too large after {fed} bytes");
                return (Err(e), fed);
            }
        };
        assert!(
            !space.is_empty() && space.len() <= READ_STEP && fed + space.len() <= MAX_HEAD,
            "room of {} bytes after {fed}",
            space.len()
        );
        let n = step.min(space.len()).min(stream.len() - fed);
        space[..n].copy_from_slice(&stream[fed..fed + n]);
        let before = fed;
        fed += n;
        match reader.filled(n) {
            Ok(None) => assert!(n > 0, "end of stream not reported"),
            Ok(Some(head)) => {
                assert_eq!(reader.buffered(), 0, "reader keeps bytes after the head");
                let mut both = head.bytes.clone();
                both.extend_from_slice(&head.leftover);
                assert!(both == stream[..fed], "head + leftover ≠ the bytes fed");
                assert!(
                    head.bytes.len() > before,
                    "the head was complete before the last read"
                );
                assert!(
                    head.bytes.ends_with(b"\n"),
                    "head not ended by its empty line"
                );
                return (Ok(head), fed);
            }
            Err(e) => {
                match &e {
                    UpgradeError::Closed { read } => {
                        assert_eq!((n, *read), (0, fed), "closed: wrong count");
                    }
                    UpgradeError::Malformed { start, .. } => {
                        assert!(start.chars().count() <= 100, "excerpt too long");
                    }
                    other => panic!("filled() failed with {other:?}"),
                }
                return (Err(e), fed);
            }
        }
    }
}

fn same_verdict(
    a: &Result<Head, UpgradeError>,
    b: &Result<Head, UpgradeError>,
    fed_a: usize,
    fed_b: usize,
) {
    match (a, b) {
        (Ok(x), Ok(y)) => assert!(x.bytes == y.bytes, "the head depends on the read size"),
        (Err(x), Err(y)) => {
            assert_eq!(
                std::mem::discriminant(x),
                std::mem::discriminant(y),
                "the error depends on the read size: {x} / {y}"
            );
            if matches!(
                x,
                UpgradeError::Closed { .. } | UpgradeError::HeadTooLarge { .. }
            ) {
                assert_eq!(fed_a, fed_b, "read {fed_a} / {fed_b} bytes before {x}");
            }
        }
        (x, y) => panic!(
            "the verdict depends on the read size: {:?} / {:?}",
            x.as_ref().map(|h| h.bytes.len()),
            y.as_ref().map(|h| h.bytes.len())
        ),
    }
}

/// base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2 item 5.4), computed without freya or tungstenite.
fn expected_accept(key: &str) -> String {
    let digest = Sha1::digest(format!("{key}{GUID}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&digest[..])
}

/// Header lines of a head (status line and empty line excluded): `(name, trimmed value)`;
/// panics on a line that is not `name: value` or ends otherwise than in CRLF.
fn header_lines(head: &str) -> Vec<(String, String)> {
    let body = head
        .strip_suffix("\r\n\r\n")
        .unwrap_or_else(|| panic!("head not ended by CRLF CRLF: {head:?}"));
    body.split("\r\n")
        .skip(1)
        .map(|line| {
            assert!(!line.contains(['\r', '\n']), "bare CR/LF in {head:?}");
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("not a header line {line:?}"));
            (name.to_owned(), value.trim_matches([' ', '\t']).to_owned())
        })
        .collect()
}

fn value<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn check_request(head: &[u8]) {
    let req = match parse_request(head) {
        Ok(r) => r,
        Err(e) => {
            assert!(
                matches!(
                    e,
                    UpgradeError::Malformed { .. }
                        | UpgradeError::Method { .. }
                        | UpgradeError::HttpVersion { .. }
                        | UpgradeError::Target { .. }
                        | UpgradeError::MissingHeader { .. }
                        | UpgradeError::BadHeader { .. }
                ),
                "parse_request: undocumented error {e:?}"
            );
            return check_refusal(&e);
        }
    };
    let decoded = base64::engine::general_purpose::STANDARD.decode(&req.key);
    assert!(
        req.key.len() == 24 && decoded.is_ok_and(|k| k.len() == 16),
        "accepted key {:?} is not 16 bytes in base64",
        req.key
    );

    // The 101, checked here by hand.
    let chosen = req.subprotocols.first().map(String::as_str);
    let answer = accept_response(&req.key, chosen);
    let text = std::str::from_utf8(&answer).expect("the 101 is ASCII");
    assert!(
        text.starts_with("HTTP/1.1 101 "),
        "not an HTTP/1.1 101: {text:?}"
    );
    let headers = header_lines(text);
    let expected = expected_accept(&req.key);
    assert_eq!(
        value(&headers, "Sec-WebSocket-Accept"),
        Some(expected.as_str()),
        "wrong accept value for key {:?}",
        req.key
    );
    assert_eq!(value(&headers, "Upgrade"), Some("websocket"));
    assert_eq!(value(&headers, "Connection"), Some("Upgrade"));
    assert_eq!(value(&headers, "Sec-WebSocket-Protocol"), chosen);

    // And by freya's own client, offering what this request offered.
    let target = Target::parse("ws://freya.example/").expect("a valid URL");
    let offered: Vec<&str> = req.subprotocols.iter().map(String::as_str).collect();
    let client = ClientRequest::new(&target, &req.key, &[], &offered).expect("no extra headers");
    let back = match read(HeadKind::Response, &answer, usize::MAX) {
        (Ok(head), _) => head,
        (Err(e), _) => panic!("freya's 101 does not read as a head: {e}"),
    };
    assert!(
        back.bytes == answer && back.leftover.is_empty(),
        "the 101 is not one head"
    );
    match client.check_response(&back.bytes) {
        Ok(got) => assert_eq!(got.as_deref(), chosen, "the client saw another subprotocol"),
        Err(e) => panic!("freya's client refuses freya's 101: {e}"),
    }
}

/// A refusal is a 4xx (or no answer at all) and its bytes are a sound HTTP response.
fn check_refusal(e: &UpgradeError) {
    let why = e.to_string();
    assert!(!why.is_empty(), "empty error message");
    let Some(status) = e.status() else {
        return;
    };
    let code = status.as_u16();
    assert!((400..500).contains(&code), "refusal status {code} for {e}");
    let answer = refusal_response(status, &why);
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a refusal ends its head")
        + 4;
    let head = std::str::from_utf8(&answer[..end]).expect("the refusal head is ASCII");
    assert!(
        head.starts_with(&format!("HTTP/1.1 {code} ")),
        "refusal status line: {head:?}"
    );
    let headers = header_lines(head);
    let body = &answer[end..];
    assert_eq!(body, why.as_bytes(), "refusal body");
    assert_eq!(
        value(&headers, "Content-Length"),
        Some(body.len().to_string().as_str()),
        "refusal Content-Length"
    );
}

fn check_response(head: &[u8], offer: &[&str]) {
    let target = Target::parse("ws://agent.example:8765/ws?call=fuzz").expect("a valid URL");
    let auth = [("Authorization".to_owned(), "Bearer fuzz".to_owned())];
    let client = ClientRequest::new(&target, KEY, &auth, offer).expect("valid headers");
    let expected = expected_accept(KEY);
    match client.check_response(head) {
        Ok(chosen) => {
            // Checked by hand: a 101 over HTTP/1.1 carrying the key's accept value.
            let text = String::from_utf8_lossy(head);
            let text = text.trim_start_matches(['\r', '\n']);
            assert!(
                text.starts_with("HTTP/1.1 101"),
                "accepted a non-101: {text:?}"
            );
            let accept = text
                .split('\n')
                .skip(1)
                .filter_map(|l| l.trim_end_matches('\r').split_once(':'))
                .find(|(n, _)| n.eq_ignore_ascii_case("Sec-WebSocket-Accept"))
                .map(|(_, v)| v.trim_matches([' ', '\t']));
            assert_eq!(
                accept,
                Some(expected.as_str()),
                "accepted a wrong accept value"
            );
            match chosen {
                None => assert!(offer.is_empty(), "no subprotocol chosen of {offer:?}"),
                Some(p) => assert!(offer.contains(&p.as_str()), "unoffered {p:?} accepted"),
            }
        }
        Err(e) => {
            match &e {
                UpgradeError::Status { code, .. } => assert_ne!(*code, 101, "a 101 refused"),
                UpgradeError::AcceptMismatch { expected: x, .. } => {
                    assert_eq!(x, &expected, "the client expects a wrong accept value")
                }
                UpgradeError::NoSubprotocol { .. } => assert!(!offer.is_empty()),
                UpgradeError::Malformed { .. }
                | UpgradeError::HttpVersion { .. }
                | UpgradeError::MissingHeader { .. }
                | UpgradeError::BadHeader { .. }
                | UpgradeError::UnofferedSubprotocol { .. } => {}
                other => panic!("check_response: undocumented error {other:?}"),
            }
            assert!(!e.to_string().is_empty());
        }
    }
}
