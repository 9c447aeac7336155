//! The checks behind freya-sip's fuzz targets, shared by the libFuzzer binaries
//! (`fuzz_targets/`, run with `cargo fuzz run -s none …` on stable) and by the stable replay
//! test (`tests/replay.rs`), so both run exactly the same code.
//!
//! A check panics (which libFuzzer reports as a crash) only when freya breaks a promise:
//! a panic inside the parser, an accepted message that is not byte-exact, a message that
//! does not parse again from its own bytes, accessors that disagree with the parser's own
//! checks, a response freya builds that freya cannot parse, a stream whose framing depends
//! on how it was split into reads.

pub mod bridge;
pub mod upgrade;

use std::sync::OnceLock;

use bytes::Bytes;
use freya_sip::message::{
    check_request, error_response, index, parse, parse_with, Contact, ErrorKind, Framing,
    HeaderKind, Limits, Message, NameAddr, ParseError, StreamFramer, Via,
};

/// Checks named in `FREYA_FUZZ_SKIP` (comma-separated) are not made, so that a long run can
/// look past a known, not yet fixed bug: `response-lines` (the error response's lines),
/// `edit-headerless` (edits of a message without headers), `stream-agrees` (a datagram-valid
/// message frames the same on a stream). The smoke run sets none.
fn skip(check: &str) -> bool {
    static SKIP: OnceLock<Vec<String>> = OnceLock::new();
    SKIP.get_or_init(|| {
        std::env::var("FREYA_FUZZ_SKIP")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
    .iter()
    .any(|s| s == check)
}

/// Datagram target: `parse` on arbitrary bytes, then every promise about what it returns.
pub fn check_parse(data: &[u8]) {
    let parsed = parse(Bytes::copy_from_slice(data));
    // `index` then `Message::check` must give exactly what `parse` gives; a message `index`
    // accepts must also be safe to read before it is checked.
    let indexed = index(Bytes::copy_from_slice(data));
    if let Ok(m) = &indexed {
        touch(m);
    }
    let checked = indexed.and_then(|m| m.check().map(|()| m));
    assert_eq!(checked, parsed, "index + check differs from parse");
    match parsed {
        Ok(m) => check_accepted(data, &m),
        Err(e) => check_refused(data, &e),
    }
}

/// Stream target: the input is a TCP byte stream. It is fed to a [`StreamFramer`] whole, and
/// again cut into reads at points drawn from the input's hash; both must frame the same
/// messages (or fail with the same error), each message must be the stream's next bytes after
/// CRLF keep-alives, and each must parse again from its own bytes as a datagram.
pub fn check_framer(data: &[u8]) {
    let whole = frame(&[data], Limits::default());
    let chunks = split(data, fnv1a(data));
    let pieces = frame(&chunks, Limits::default());
    same_framing(&whole, &pieces, &chunks);
    // Byte by byte: the worst case for the framer's incremental search.
    if data.len() <= 512 {
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        let singles = frame(&bytes, Limits::default());
        same_framing(&whole, &singles, &bytes);
    }

    let mut at = 0usize;
    for outcome in &whole {
        let Ok(m) = outcome else { break };
        // Keep-alives (CRLF runs) may precede a message; nothing else may be skipped.
        while at < data.len() && (data[at] == b'\r' || data[at] == b'\n') {
            at += 1;
        }
        let bytes = m.as_bytes();
        assert!(
            data.get(at..at + bytes.len()) == Some(bytes),
            "framed message is not the stream's next {} bytes at offset {at}",
            bytes.len()
        );
        at += bytes.len();
        assert_eq!(
            m.trailing_octets(),
            0,
            "a framed message has trailing octets"
        );
        assert_eq!(
            m.content_length().map(|n| n as usize),
            Some(m.body().len()),
            "framed body length differs from its Content-Length"
        );
        touch(m);
        check_same(m, &reparse(m, Framing::Stream), "stream re-parse");
        check_same(m, &reparse(m, Framing::Datagram), "datagram re-parse");
    }

    // A framer with small limits reaches its size checks on short inputs.
    let small = Limits {
        max_message_size: 512,
        max_headers: 8,
        max_line_length: 128,
    };
    let whole = frame(&[data], small);
    let pieces = frame(&chunks, small);
    same_framing(&whole, &pieces, &chunks);
    for m in whole.iter().filter_map(|o| o.as_ref().ok()) {
        assert!(
            m.as_bytes().len() <= small.max_message_size,
            "message over the size limit"
        );
    }
}

fn check_accepted(data: &[u8], m: &Message) {
    // Byte-exact: the message is the input minus leading CRLFs and ignored trailing octets.
    let len = m.as_bytes().len();
    let consumed = m.consumed();
    assert!(
        consumed >= len && consumed <= data.len(),
        "consumed() out of range"
    );
    let skipped = consumed - len;
    assert!(
        data[..skipped].iter().all(|&c| c == b'\r' || c == b'\n'),
        "bytes other than CRLF skipped before the start line"
    );
    assert_eq!(&data[skipped..consumed], m.as_bytes(), "not byte-exact");
    assert_eq!(m.to_bytes(), m.as_bytes(), "to_bytes differs from as_bytes");
    assert_eq!(
        consumed + m.trailing_octets(),
        data.len(),
        "octets lost after the body"
    );

    touch(m);
    check_accessors_agree_with_parser(m);
    check_same(m, &reparse(m, Framing::Datagram), "re-parse of to_bytes()");

    // A message whose Content-Length frames it exactly must come out of a stream the same.
    if m.content_length().map(|n| n as usize) == Some(m.body().len()) && !skip("stream-agrees") {
        let framed = frame(&[m.as_bytes()], Limits::default());
        match framed.first() {
            Some(Ok(f)) => check_same(m, f, "framed from a stream"),
            other => panic!("a datagram-valid message does not frame on a stream: {other:?}"),
        }
    }

    check_edits(m);

    if m.is_request() && check_request(m).is_ok() {
        if let Some(resp) = freya_sip::message::response_to(m, 200, "OK", &[]) {
            if let Err(e) = parse(resp.clone()) {
                panic!(
                    "freya cannot parse the 200 it built: {e}\n{}",
                    resp.escape_ascii()
                );
            }
        }
    }
}

fn check_refused(data: &[u8], e: &ParseError) {
    assert!(
        e.offset() <= data.len(),
        "error offset {} past the input",
        e.offset()
    );
    assert!(
        e.offending().len() <= 16,
        "error keeps too many offending bytes"
    );
    let _ = e.to_string();
    let _ = e.offending_hex();
    let _ = e.status();
    if let Some(resp) = error_response(data, e) {
        check_error_response(&resp, e);
    }
}

/// The error response echoes the request's Via/From/To/Call-ID/CSeq as received (RFC 3261
/// §8.2.6.2), so it may hold whatever broke the request; what freya writes itself must be
/// sound: the status line, one header per line (no CR/LF injected from the input into the
/// Warning), the empty line, no body.
fn check_error_response(resp: &[u8], e: &ParseError) {
    let (status, _) = e.status();
    let show = || resp.escape_ascii().to_string();
    let prefix = format!("SIP/2.0 {status} ");
    assert!(
        resp.starts_with(prefix.as_bytes()),
        "error response status line: {}",
        show()
    );
    assert!(
        resp.ends_with(b"\r\n\r\n"),
        "error response must end its head: {}",
        show()
    );
    if skip("response-lines") {
        return;
    }
    let head = &resp[..resp.len() - 2];
    let mut warnings = 0;
    for (i, line) in head.split_inclusive(|&c| c == b'\n').enumerate() {
        let line = line
            .strip_suffix(b"\r\n")
            .unwrap_or_else(|| panic!("bare LF: {}", show()));
        assert!(
            !line.contains(&b'\r'),
            "bare CR in the error response: {}",
            show()
        );
        if i == 0 || (i > 1 && line.first().is_some_and(|&c| c == b' ' || c == b'\t')) {
            continue; // the status line; a folded (continuation) line of an echoed header
        }
        let colon = line.iter().position(|&c| c == b':');
        let name = colon.map(|c| line[..c].trim_ascii_end());
        assert!(
            name.is_some_and(|n| !n.is_empty() && n.iter().all(|&c| freya_sip_token(c))),
            "error response line {i} is not a header: {}",
            show()
        );
        warnings += usize::from(name.is_some_and(|n| n.eq_ignore_ascii_case(b"Warning")));
    }
    assert_eq!(warnings, 1, "error response needs one Warning: {}", show());
    if let Ok(r) = parse(Bytes::copy_from_slice(resp)) {
        assert_eq!(r.status_code(), Some(status), "error response status");
        assert_eq!(r.body(), b"", "error response body");
    }
}

/// RFC 3261 `token` characters (header names).
fn freya_sip_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&c)
}

/// The parser checks these headers' grammar, so the accessors must read them.
fn check_accessors_agree_with_parser(m: &Message) {
    let has = |k: HeaderKind| m.headers_of(k).next().is_some();
    for h in m.headers_of(HeaderKind::Via) {
        for v in Via::parse_list(h.value()) {
            assert!(v.is_ok(), "accepted Via does not parse: {:?}", h.value());
        }
    }
    for k in [HeaderKind::Route, HeaderKind::RecordRoute] {
        for h in m.headers_of(k) {
            for a in NameAddr::parse_list(h.value()) {
                assert!(a.is_ok(), "accepted {k:?} does not parse: {:?}", h.value());
            }
        }
    }
    for h in m.headers_of(HeaderKind::Contact) {
        if let Contact::Addresses(it) = Contact::parse(h.value()) {
            for a in it {
                assert!(
                    a.is_ok(),
                    "accepted Contact does not parse: {:?}",
                    h.value()
                );
            }
        }
    }
    if has(HeaderKind::From) {
        let f = m.from();
        assert!(f.is_some(), "accepted From does not parse");
        assert!(
            f.is_some_and(|a| a.parsed_uri().is_ok()),
            "accepted From URI"
        );
    }
    if has(HeaderKind::To) {
        let t = m.to();
        assert!(t.is_some(), "accepted To does not parse");
        assert!(t.is_some_and(|a| a.parsed_uri().is_ok()), "accepted To URI");
    }
    if has(HeaderKind::CSeq) {
        let c = m.cseq();
        assert!(c.is_some(), "accepted CSeq does not parse");
        if let (Some(c), Some(method)) = (c, m.method()) {
            assert_eq!(
                c.method, method,
                "accepted request with a CSeq method mismatch"
            );
        }
    }
    if has(HeaderKind::MaxForwards) {
        assert!(
            m.max_forwards().is_some(),
            "accepted Max-Forwards does not parse"
        );
    }
    if has(HeaderKind::ContentLength) {
        let n = m.content_length();
        assert!(n.is_some(), "accepted Content-Length does not parse");
        assert_eq!(
            n.map(|n| n as usize),
            Some(m.body().len()),
            "body ≠ Content-Length"
        );
    }
    if has(HeaderKind::CallId) {
        assert!(m.call_id().is_some());
    }
    if let Some(code) = m.status_code() {
        assert!((100..=699).contains(&code), "status {code} accepted");
    }
}

/// Edits a proxy and a B2BUA make; the headers not edited must keep their bytes.
fn check_edits(m: &Message) {
    if m.header_count() == 0 && skip("edit-headerless") {
        return;
    }
    let raws: Vec<&[u8]> = m.headers().map(|h| h.raw()).collect();
    let bounded = |e: &freya_sip::message::EditError| match e {
        freya_sip::message::EditError::Reparse(pe) => matches!(
            pe.kind(),
            ErrorKind::TooManyHeaders | ErrorKind::MessageTooLarge | ErrorKind::LineTooLong
        ),
        _ => false,
    };

    // A proxy's new top Via.
    let mut e = m.edit();
    let ok = e
        .insert_header(0, "Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-fuzz")
        .is_ok();
    assert!(ok, "insert_header refused a valid Via");
    match e.finish() {
        Ok(out) => {
            assert_eq!(
                out.header_count(),
                raws.len() + 1,
                "Via insert: header count"
            );
            assert_eq!(out.top_via().and_then(|v| v.branch()), Some("z9hG4bK-fuzz"));
            for (i, raw) in raws.iter().enumerate() {
                let got = out.header_at(i + 1).map(|h| h.raw());
                assert_eq!(got, Some(*raw), "Via insert changed header {i}");
            }
            assert_eq!(out.body(), m.body(), "Via insert changed the body");
        }
        Err(err) => assert!(bounded(&err), "Via insert broke the message: {err}"),
    }

    // An X- header added at the end, with a UTF-8 value.
    let mut e = m.edit();
    assert!(e.add_header("X-Freya-Workflow-Id", "wf-é").is_ok());
    match e.finish() {
        Ok(out) => {
            for (i, raw) in raws.iter().enumerate() {
                assert_eq!(
                    out.header_at(i).map(|h| h.raw()),
                    Some(*raw),
                    "add changed {i}"
                );
            }
            let added = out.header_at(raws.len()).map(|h| (h.name(), h.value()));
            assert_eq!(added, Some(("X-Freya-Workflow-Id", "wf-é")));
        }
        Err(err) => assert!(bounded(&err), "add_header broke the message: {err}"),
    }

    // Removing the first header keeps the others (unless it was one the parser requires,
    // e.g. the only Content-Length when a body follows, in which case a refusal is fine).
    if !raws.is_empty() {
        let mut e = m.edit();
        assert!(e.remove_header_at(0).is_ok());
        if let Ok(out) = e.finish() {
            for (i, raw) in raws.iter().enumerate().skip(1) {
                assert_eq!(
                    out.header_at(i - 1).map(|h| h.raw()),
                    Some(*raw),
                    "remove changed {i}"
                );
            }
        }
    }
}

/// Calls every accessor, so a panic in any of them is found.
fn touch(m: &Message) -> usize {
    let mut n = 0usize;
    n += m.start_line().len() + m.version().len();
    n += m.method().map_or(0, str::len) + m.request_uri().map_or(0, str::len);
    n += m.status_code().map_or(0, usize::from) + m.reason_phrase().map_or(0, str::len);
    for h in m.headers() {
        n += h.name().len() + h.value().len() + h.unfolded().len() + h.raw().len();
        n += usize::from(h.is_folded()) + h.index();
        let _ = m.header(h.name());
        n += m.headers_named(h.name()).count();
    }
    for v in m.vias() {
        n += v.branch().map_or(0, str::len) + v.received().map_or(0, str::len);
        n += v.maddr().map_or(0, str::len) + v.sent_by().0.len();
        n += usize::from(v.has_rfc3261_branch()) + v.rport().flatten().map_or(0, usize::from);
        n += v.params.iter().count();
    }
    for a in [m.from(), m.to()].into_iter().flatten().chain(m.contacts()) {
        n += name_addr(&a);
    }
    n += usize::from(m.contact_wildcard());
    for a in m.routes().chain(m.record_routes()) {
        n += name_addr(&a);
    }
    for a in m
        .p_asserted_identities()
        .chain(m.remote_party_ids())
        .chain(m.diversions())
        .flatten()
    {
        n += name_addr(&a);
    }
    for r in m.reasons().flatten() {
        n += r.text().map_or(0, |t| t.len()) + usize::from(r.is_q850());
    }
    n += m.q850_cause().map_or(0, usize::from);
    n += m.call_id().map_or(0, str::len) + m.content_type().map_or(0, str::len);
    n += m.cseq().map_or(0, |c| c.seq as usize + c.method.len());
    n += m.max_forwards().map_or(0, usize::from) + m.content_length().unwrap_or(0) as usize;
    n += m.body().len();
    // Read as the NOTIFY of a transfer (RFC 3515 §2.4.5): a report's status is a real one.
    if let Ok(p) = freya_sip::dialog::ReferProgress::from_notify(m) {
        assert!(
            p.status.is_none_or(|s| (100..=699).contains(&s)),
            "sipfrag status {:?}",
            p.status
        );
        n += usize::from(p.succeeded()) + usize::from(p.failed());
    }
    // The rsip conversion (interop partner) must refuse with an error, never panic.
    if let Ok(r) = rsip::SipMessage::try_from(m) {
        n += r.to_string().len();
    }
    std::hint::black_box(n)
}

fn name_addr(a: &NameAddr<'_>) -> usize {
    let mut n = a.display_name().map_or(0, |d| d.len()) + a.tag().map_or(0, str::len);
    n += a.user().map_or(0, str::len) + a.params.iter().count();
    if let Ok(u) = a.parsed_uri() {
        n += u.scheme().len();
        if let Some(s) = u.as_sip() {
            n += s.host_unbracketed().len() + s.params().iter().count();
        }
    }
    n
}

fn reparse(m: &Message, framing: Framing) -> Message {
    match parse_with(m.to_bytes(), &Limits::default(), framing) {
        Ok(again) => again,
        Err(e) => panic!("{framing:?} re-parse of an accepted message fails: {e}"),
    }
}

/// Two parses of the same message bytes must agree on everything.
fn check_same(a: &Message, b: &Message, what: &str) {
    assert_eq!(a.as_bytes(), b.as_bytes(), "{what}: bytes differ");
    assert_eq!(a.start_line(), b.start_line(), "{what}: start line differs");
    assert_eq!(
        a.header_count(),
        b.header_count(),
        "{what}: header count differs"
    );
    for (x, y) in a.headers().zip(b.headers()) {
        assert_eq!(
            (x.name(), x.value(), x.raw(), x.kind(), x.is_folded()),
            (y.name(), y.value(), y.raw(), y.kind(), y.is_folded()),
            "{what}: header differs"
        );
    }
    assert_eq!(a.body(), b.body(), "{what}: body differs");
    assert_eq!(b.trailing_octets(), 0, "{what}: trailing octets");
}

/// Feeds `chunks` to a framer, draining it after each read; stops at the first error.
fn frame(chunks: &[&[u8]], limits: Limits) -> Vec<Result<Message, ParseError>> {
    let mut f = StreamFramer::with_limits(limits);
    let mut out = Vec::new();
    for c in chunks {
        f.push(c);
        loop {
            match f.next_message() {
                Ok(Some(m)) => out.push(Ok(m)),
                Ok(None) => break,
                Err(e) => {
                    assert!(f.is_poisoned(), "framer error without poisoning");
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }
    out
}

/// The same messages must come out however the stream was cut into reads, and the stream must
/// fail at the same point. The error's kind may differ only by `MessageTooLarge`: a head that
/// outgrows the limit before its end has arrived is refused for its size, while the same head
/// read at once may first be refused for what it holds.
fn same_framing(
    whole: &[Result<Message, ParseError>],
    split: &[Result<Message, ParseError>],
    chunks: &[&[u8]],
) {
    let (a, b) = (summary(whole), summary(split));
    let same = a.len() == b.len()
        && a.iter().zip(&b).all(|(x, y)| match (x, y) {
            (Ok(x), Ok(y)) => x == y,
            (Err(x), Err(y)) => {
                x == y || *x == ErrorKind::MessageTooLarge || *y == ErrorKind::MessageTooLarge
            }
            _ => false,
        });
    assert!(
        same,
        "framing depends on how the stream was split into reads:\n  at once: {a:?}\n  in {} reads: {b:?}\n  read sizes: {:?}",
        chunks.len(),
        chunks.iter().map(|c| c.len()).collect::<Vec<_>>()
    );
}

/// What must not depend on the split: each message's bytes, or the error's kind.
fn summary(outcomes: &[Result<Message, ParseError>]) -> Vec<Result<Bytes, ErrorKind>> {
    outcomes
        .iter()
        .map(|o| match o {
            Ok(m) => Ok(m.to_bytes()),
            Err(e) => Err(e.kind()),
        })
        .collect()
}

/// Cuts `data` into reads of 1 to 2^k bytes, drawn from `seed`.
fn split(data: &[u8], seed: u64) -> Vec<&[u8]> {
    let mut rng = seed | 1;
    let max = [1usize, 3, 16, 64, 512][(seed % 5) as usize];
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let n = (1 + (rng as usize) % max).min(rest.len());
        let (a, b) = rest.split_at(n);
        out.push(a);
        rest = b;
    }
    out
}

/// FNV-1a: a split pattern that follows the input, so libFuzzer can reproduce it.
pub fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The `sdp` target: SDP bodies as offers and answers arrive in INVITEs and 200s.
///
/// Holds: parsing never panics; an accepted body serializes back to exactly its bytes and
/// re-parses to the same; answering it as an offer, and applying our answer back to it, never
/// panic, and an answer produced parses and round-trips.
pub fn check_sdp(data: &[u8]) {
    use freya_sip::sdp::{answer, apply_answer, Capabilities, SessionDescription};
    let Ok(sdp) = SessionDescription::parse(data) else {
        return;
    };
    let out = sdp.to_bytes();
    assert_eq!(out, data, "SDP not byte-exact after parse");
    let again = SessionDescription::parse(&out).expect("a serialized SDP must re-parse");
    assert_eq!(again.to_bytes(), out, "SDP re-parse differs");
    let caps = Capabilities::new(std::net::IpAddr::from([127, 0, 0, 1]), 10000);
    if let Ok(a) = answer(&sdp, &caps, 1, 1) {
        let text = a.sdp.to_bytes();
        let parsed = SessionDescription::parse(&text).expect("our answer must parse");
        assert_eq!(parsed.to_bytes(), text, "our answer not byte-exact");
        let _ = apply_answer(&sdp, &parsed);
    }
}

/// The `rtp` target: one UDP payload on a media port — RTP, RTCP (rtcp-mux) or an RFC 4733
/// telephone-event payload.
///
/// Holds: no parser panics; an accepted RTP packet's payload is a slice of the input; an
/// accepted RTCP compound re-encodes to a compound that parses again.
pub fn check_rtp(data: &[u8]) {
    use freya_media::rtp::rtcp::{parse_compound, write_compound};
    use freya_media::rtp::RtpPacket;
    let raw = bytes::Bytes::copy_from_slice(data);
    if let Ok(p) = RtpPacket::parse(raw.clone()) {
        let payload = p.payload();
        let inside = payload.is_empty()
            || (payload.as_ptr() >= raw.as_ptr()
                && payload.as_ptr() as usize + payload.len() <= raw.as_ptr() as usize + raw.len());
        assert!(inside, "RTP payload is not a view of the input");
        let _ = freya_media::dtmf::TelephoneEvent::parse(payload);
    }
    if let Ok(packets) = parse_compound(raw) {
        let mut out = bytes::BytesMut::new();
        if write_compound(&packets, &mut out).is_ok() {
            parse_compound(out.freeze()).expect("a re-encoded RTCP compound must parse");
        }
    }
}
