//! RFC 5118 (SIP torture test messages for IPv6), reconstructed: IPv6 references must be in
//! brackets in URIs and Via sent-by; `received` may be written with or without brackets.

use bytes::Bytes;
use freya_sip::message::{parse, ErrorKind, Uri};

fn msg(start: &str, via: &str, extra: &str) -> Bytes {
    let method = start.split(' ').next().unwrap_or("");
    Bytes::from(format!(
        "{start}\r\nTo: sip:user@example.com\r\nFrom: sip:user@example.com;tag=81x2\r\n\
         Via: {via}\r\nCall-ID: SSG9559905523997077@hlau_4100\r\nMax-Forwards: 70\r\n{extra}\
         CSeq: 98176 {method}\r\nContent-Length: 0\r\n\r\n"
    ))
}

const VIA: &str = "SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111";

#[test]
fn ipv6_good() {
    let m = parse(msg(
        "REGISTER sip:[2001:db8::10] SIP/2.0",
        VIA,
        "Contact: \"Caller\" <sip:caller@[2001:db8::1]>\r\n",
    ))
    .unwrap();
    assert_eq!(m.top_via().unwrap().host, "[2001:db8::9:1]");
    let c = m.contacts().next().unwrap();
    let u = Uri::parse(c.uri).unwrap();
    assert_eq!(u.as_sip().unwrap().host_unbracketed(), "2001:db8::1");
}

#[test]
fn ipv6_bad_without_brackets() {
    let e = parse(msg("REGISTER sip:2001:db8::10 SIP/2.0", VIA, "")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequestUri);
    let e = parse(msg(
        "REGISTER sip:[2001:db8::10] SIP/2.0",
        VIA,
        "Contact: \"Caller\" <sip:caller@2001:db8::1>\r\n",
    ))
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidHeader);
    assert_eq!(e.header(), Some("Contact"));
}

#[test]
fn port_ambiguous_and_unambiguous() {
    let m = parse(msg("REGISTER sip:[2001:db8::10:5070] SIP/2.0", VIA, "")).unwrap();
    let u = Uri::parse(m.request_uri().unwrap()).unwrap();
    assert_eq!(u.as_sip().unwrap().port, None);
    let m = parse(msg("REGISTER sip:[2001:db8::10]:5070 SIP/2.0", VIA, "")).unwrap();
    let u = Uri::parse(m.request_uri().unwrap()).unwrap();
    assert_eq!(u.as_sip().unwrap().port, Some(5070));
}

#[test]
fn via_received_with_and_without_delimiters() {
    for received in ["[2001:db8::9:255]", "2001:db8::9:255"] {
        let via = format!("SIP/2.0/UDP [2001:db8::9:1];received={received};branch=z9hG4bKas3-111");
        let m = parse(msg("BYE sip:[2001:db8::10] SIP/2.0", &via, ""))
            .unwrap_or_else(|e| panic!("{received}: {e}"));
        let v = m.top_via().unwrap();
        assert_eq!(v.received(), Some(received));
        assert_eq!(v.branch(), Some("z9hG4bKas3-111"));
    }
}

#[test]
fn multiple_addresses_and_ipv4_mapped() {
    let via = "SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111, SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKjhja8781hjuaij65144, SIP/2.0/TCP [::ffff:192.0.2.10]:19823;branch=z9hG4bKa2";
    let m = parse(msg(
        "BYE sip:user@host.example.net SIP/2.0",
        via,
        "Contact: \"T. desk phone\" <sip:ted@[::ffff:192.0.2.10]:19823>\r\n",
    ))
    .unwrap();
    let vias: Vec<_> = m.vias().collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].sent_by(), ("[2001:db8::9:1]", Some(6050)));
    assert_eq!(vias[1].sent_by(), ("192.0.2.1", None));
    assert_eq!(vias[2].sent_by(), ("[::ffff:192.0.2.10]", Some(19823)));
}

#[test]
fn abnf_colons() {
    let e = parse(msg(
        "OPTIONS sip:user@[2001:db8:::192.0.2.1] SIP/2.0",
        VIA,
        "",
    ))
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequestUri);
    assert!(parse(msg(
        "OPTIONS sip:user@[2001:db8::192.0.2.1] SIP/2.0",
        VIA,
        ""
    ))
    .is_ok());
}

/// Not RFC 5118, but start-line hygiene found by fuzzing: a reason phrase holds no control
/// characters other than HTAB (RFC 3261 §25.1), while UTF-8 text is fine.
#[test]
fn reason_phrase_refuses_control_characters() {
    let e = parse(Bytes::from_static(
        b"SIP/2.0 180 Ring\x00ing\r\nContent-Length: 0\r\n\r\n",
    ))
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidStartLine);
    assert_eq!(e.offset(), 16);
    let m = parse(Bytes::from(
        "SIP/2.0 180 Звонок\tidet\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n",
    ))
    .unwrap();
    assert_eq!(m.reason_phrase(), Some("Звонок\tidet"));
}
