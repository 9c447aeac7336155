//! The bench inputs must stay valid for every parser the bench times: otherwise a bench would
//! silently time an error path.

use bytes::Bytes;
use freya_benches::{parsip_parse, rsip_parse, rsip_roundtrip, MESSAGES};
use freya_sip::message::parse;

#[test]
fn inputs_are_crlf_sip_messages() {
    for m in MESSAGES {
        let text = std::str::from_utf8(m.bytes).expect("bench input is UTF-8");
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        assert!(
            !head.replace("\r\n", "").contains('\n'),
            "{}: bare LF in the header section (data/ must keep CRLF)",
            m.name
        );
        assert!(text.contains("\r\n\r\n"), "{}: no end of headers", m.name);
    }
}

#[test]
fn freya_parses_and_round_trips_byte_exact() {
    for m in MESSAGES {
        let raw = Bytes::from_static(m.bytes);
        let msg =
            parse(raw.clone()).unwrap_or_else(|e| panic!("{}: freya refused it: {e}", m.name));
        assert_eq!(msg.to_bytes(), raw, "{}: not byte-exact", m.name);
        assert_eq!(msg.trailing_octets(), 0, "{}", m.name);
        // The typed fields the bench reads.
        assert!(
            msg.top_via().and_then(|v| v.branch()).is_some(),
            "{}: via branch",
            m.name
        );
        assert!(
            msg.from().and_then(|f| f.tag()).is_some(),
            "{}: from tag",
            m.name
        );
        assert!(msg.call_id().is_some(), "{}: call-id", m.name);
        assert!(msg.cseq().is_some(), "{}: cseq", m.name);
        assert_eq!(
            msg.content_length().map(|n| n as usize),
            Some(msg.body().len()),
            "{}: Content-Length",
            m.name
        );
    }
}

#[test]
fn invite_carries_what_a_carrier_sends() {
    let msg = parse(Bytes::from_static(MESSAGES[0].bytes)).expect("invite parses");
    for name in [
        "P-Asserted-Identity",
        "Diversion",
        "Record-Route",
        "X-Freya-Direction",
        "X-Freya-Call-Id",
        "X-Freya-Workflow-Id",
    ] {
        assert!(msg.header(name).is_some(), "invite lacks {name}");
    }
    let x_headers = msg.headers().filter(|h| h.name().starts_with("X-")).count();
    assert!(x_headers >= 5, "{x_headers} X- headers");
    assert!(
        msg.headers().any(|h| !h.value().is_ascii()),
        "no UTF-8 header value"
    );
    let sdp = std::str::from_utf8(msg.body()).expect("SDP is text");
    for codec in ["PCMU/8000", "PCMA/8000", "telephone-event/8000"] {
        assert!(sdp.contains(codec), "SDP lacks {codec}");
    }
    let bye = parse(Bytes::from_static(MESSAGES[3].bytes)).expect("bye parses");
    assert_eq!(bye.q850_cause(), Some(16));
}

#[test]
fn rsip_parses_every_input() {
    for m in MESSAGES {
        rsip_parse(m.bytes).unwrap_or_else(|e| panic!("{}: rsip refused it: {e:?}", m.name));
        rsip_roundtrip(m.bytes).unwrap_or_else(|e| panic!("{}: rsip round trip: {e:?}", m.name));
    }
}

#[test]
fn parsip_parses_every_head() {
    for m in MESSAGES {
        let (head_len, headers) =
            parsip_parse(m.bytes).unwrap_or_else(|| panic!("{}: parsip refused it", m.name));
        let freya = parse(Bytes::from_static(m.bytes)).expect("freya parses");
        assert_eq!(headers, freya.header_count(), "{}: header count", m.name);
        assert_eq!(
            head_len + freya.body().len(),
            m.bytes.len(),
            "{}: head length",
            m.name
        );
    }
}
