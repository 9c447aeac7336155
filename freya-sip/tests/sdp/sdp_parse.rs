//! Parsing, typed read-back, byte-exact serialisation, editing and errors.

use freya_sip::sdp::{
    AddrType, Attribute, Bandwidth, Connection, Direction, Field, Fmtp, LineEnding, MediaLine,
    MediaType, NetType, Origin, Proto, Rtcp, Rtpmap, SdpError, SessionDescription, Timing,
};

use super::sdp_samples::*;

fn parse(s: &str) -> SessionDescription {
    match SessionDescription::parse(s.as_bytes()) {
        Ok(sdp) => sdp,
        Err(e) => panic!("{e}\n{s}"),
    }
}

#[test]
fn every_sample_round_trips_byte_exact() {
    for s in [
        CARRIER,
        ASTERISK,
        BARESIP,
        WEBRTC_AVPF,
        WEBRTC_SAVPF,
        G729_ONLY,
        IPV6,
        RFC8866,
    ] {
        let sdp = parse(s);
        assert_eq!(String::from_utf8(sdp.to_bytes()).unwrap(), s);
        assert_eq!(sdp.to_string(), s);
        assert!(sdp.lines().iter().all(|l| !l.is_modified()));
        // And a second time through.
        assert_eq!(parse(&sdp.to_string()), sdp);
    }
}

#[test]
fn line_ends_lf_crlf_mixed_missing_and_blank_lines_are_kept() {
    for s in [
        CARRIER.replace("\r\n", "\n"),
        CARRIER.replacen("\r\n", "\n", 3),
        CARRIER.trim_end().to_owned(),
        format!("{CARRIER}\r\n"),
        format!("{CARRIER}\r\n\r\n"),
        CARRIER.replace("a=ptime:20\r\n", "a=ptime:20\r\n\r\n"),
    ] {
        let sdp = parse(&s);
        assert_eq!(sdp.to_string(), s, "{s:?}");
        assert_eq!(sdp.media()[0].ptime(), Some(20));
    }
    let unterminated = parse(CARRIER.trim_end());
    let last = unterminated.media()[0].lines().last().unwrap();
    assert_eq!(last.line_ending(), Some(LineEnding::None));
    assert_eq!(last.received_bytes(), Some(&b"a=sendrecv"[..]));
}

#[test]
fn carrier_offer_reads_back_typed() {
    let sdp = parse(CARRIER);
    assert_eq!(sdp.version(), 0);
    assert_eq!(
        sdp.origin(),
        &Origin {
            username: "root".into(),
            session_id: "1391468434".into(),
            session_version: 1391468434,
            net_type: NetType::In,
            addr_type: AddrType::Ip4,
            address: "198.51.100.7".into(),
        }
    );
    assert_eq!(sdp.session_name(), Some("Twilio Media Gateway"));
    assert_eq!(
        sdp.connection(),
        Some(&Connection::new("198.51.100.7".parse().unwrap()))
    );
    assert_eq!(sdp.timings().collect::<Vec<_>>(), vec![&Timing::default()]);
    assert_eq!(sdp.media().len(), 1);
    let m = &sdp.media()[0];
    assert_eq!(
        m.media_line(),
        &MediaLine {
            media: MediaType::Audio,
            port: 13950,
            port_count: None,
            proto: Proto::RtpAvp,
            formats: vec!["0".into(), "8".into(), "101".into()],
        }
    );
    assert_eq!(m.payload_types().collect::<Vec<_>>(), vec![0, 8, 101]);
    assert_eq!(
        m.rtpmaps().cloned().collect::<Vec<_>>(),
        vec![
            Rtpmap::new(0, "PCMU", 8000),
            Rtpmap::new(8, "PCMA", 8000),
            Rtpmap::new(101, "telephone-event", 8000)
        ]
    );
    assert_eq!(m.fmtp("101"), Some(&Fmtp::new("101", "0-16")));
    assert_eq!(m.fmtp("101").unwrap().events(), Some(vec![0..=16]));
    assert_eq!((m.ptime(), m.maxptime()), (Some(20), Some(150)));
    assert_eq!(m.direction(), Some(Direction::SendRecv));
    assert_eq!(sdp.media_connection(0).unwrap().address, "198.51.100.7");
    assert!(!m.rtcp_mux());
    assert_eq!(m.rtcp(), None);
}

#[test]
fn rfc8866_example_reads_every_line_type() {
    let sdp = parse(RFC8866);
    assert_eq!(sdp.origin().username, "jdoe");
    assert_eq!(sdp.origin().session_version, 3724394405);
    assert_eq!(sdp.session_name(), Some("Call to John Smith"));
    assert_eq!(sdp.information(), Some("SDP Offer #1"));
    assert_eq!(sdp.uri(), Some("http://www.jdoe.example.com/home.html"));
    assert_eq!(
        sdp.emails().collect::<Vec<_>>(),
        ["Jane Doe <jane@jdoe.example.com>"]
    );
    assert_eq!(sdp.phones().collect::<Vec<_>>(), ["+1 617 555-6011"]);
    assert_eq!(
        sdp.bandwidths().collect::<Vec<_>>(),
        [&Bandwidth {
            kind: "CT".into(),
            value: 128
        }]
    );
    assert_eq!(sdp.repeats().collect::<Vec<_>>(), ["7d 1h 0 25h"]);
    assert_eq!(sdp.time_zones(), Some("2882844526 -1h 2898848070 0"));
    assert_eq!(sdp.key(), Some("clear:secret"));
    assert_eq!(sdp.direction(), Some(Direction::RecvOnly));
    assert_eq!(sdp.media().len(), 3);
    // Session-level direction and connection apply to media without their own.
    assert_eq!(sdp.media_direction(0), Direction::RecvOnly);
    assert_eq!(sdp.media()[0].information(), Some("voice"));
    assert_eq!(sdp.media()[0].bandwidths().next().unwrap().value, 64);
    assert_eq!(sdp.media_connection(1).unwrap().address, "198.51.100.1");
    let v = sdp.media_connection(2).unwrap();
    assert_eq!(
        (v.addr_type.clone(), v.ip()),
        (AddrType::Ip6, Some("2001:db8::2".parse().unwrap()))
    );
    assert_eq!(*sdp.media()[2].media_type(), MediaType::Video);
    assert_eq!(
        sdp.media()[2].payload_format(99).unwrap(),
        Rtpmap::new(99, "h263-1998", 90000)
    );
}

#[test]
fn baresip_offer_reads_back_many_codecs() {
    let sdp = parse(BARESIP);
    assert_eq!(sdp.lines()[0].line_ending(), Some(LineEnding::Lf));
    let m = &sdp.media()[0];
    let opus = m.rtpmap(96).unwrap();
    assert_eq!(
        (opus.encoding.as_str(), opus.clock_rate, opus.channels),
        ("opus", 48000, Some(2))
    );
    assert_eq!(m.fmtp("96").unwrap().param("sprop-stereo"), Some("1"));
    assert_eq!(m.rtpmap(102).unwrap().clock_rate, 8000);
    assert!(m.rtcp_mux());
    assert_eq!(m.bandwidths().next().unwrap().kind, "AS");
    assert_eq!(
        m.attribute("ssrc").unwrap().value().as_deref(),
        Some("3421394887 cname:ad27b7a8-43cc-4cbf-b6e3-c5bf86d6cb43")
    );
}

#[test]
fn webrtc_offer_keeps_unknown_attributes_and_reads_known_ones() {
    let sdp = parse(WEBRTC_AVPF);
    assert_eq!(sdp.connection(), None);
    assert_eq!(
        sdp.attribute("group"),
        Some(&Attribute::Other {
            name: "group".into(),
            value: Some("BUNDLE 0 1".into())
        })
    );
    assert_eq!(
        sdp.attribute("extmap-allow-mixed"),
        Some(&Attribute::Other {
            name: "extmap-allow-mixed".into(),
            value: None
        })
    );
    let m = &sdp.media()[0];
    assert_eq!(*m.proto(), Proto::RtpAvpf);
    assert_eq!(
        m.rtcp(),
        Some(&Rtcp {
            port: 9,
            connection: Some(Connection::new("0.0.0.0".parse().unwrap()))
        })
    );
    assert!(m.rtcp_mux());
    assert_eq!(
        m.attribute("ice-pwd").unwrap().value().as_deref(),
        Some("asd88fgpdd777uzjYhagZg")
    );
    assert_eq!(m.attribute("fingerprint").unwrap().name(), "fingerprint");
    assert_eq!(m.fmtp("63").unwrap().params, "111/111");
    let app = &sdp.media()[1];
    assert_eq!(*app.media_type(), MediaType::Application);
    assert_eq!(*app.proto(), Proto::Other("UDP/DTLS/SCTP".into()));
    assert_eq!(app.formats(), ["webrtc-datachannel"]);
    assert_eq!(app.payload_types().count(), 0);
}

#[test]
fn ipv6_connection_and_hold_addresses() {
    let sdp = parse(IPV6);
    let c = sdp.connection().unwrap();
    assert_eq!(c.addr_type, AddrType::Ip6);
    assert_eq!(c.ip(), Some("2001:db8::10".parse().unwrap()));
    assert_eq!(sdp.origin().addr_type, AddrType::Ip6);
    for (line, hold) in [
        ("IN IP4 0.0.0.0", true),
        ("IN IP6 ::", true),
        ("IN IP4 192.0.2.1", false),
        ("IN IP4 pbx.example.com", false),
    ] {
        assert_eq!(
            line.parse::<Connection>().unwrap().is_hold(),
            hold,
            "{line}"
        );
    }
    // A domain name is kept; it has no IP.
    let fqdn: Connection = "IN IP4 pbx.example.com".parse().unwrap();
    assert_eq!(
        (fqdn.address.as_str(), fqdn.ip()),
        ("pbx.example.com", None)
    );
    // The address type must match the literal.
    assert_eq!(
        "IN IP4 2001:db8::1".parse::<Connection>().unwrap().ip(),
        None
    );
    let mc6: Connection = "IN IP6 ff15::101/3".parse().unwrap();
    assert_eq!((mc6.ttl, mc6.count), (None, Some(3)));
    assert_eq!(mc6.to_string(), "IN IP6 ff15::101/3");
}

#[test]
fn attribute_variants_parse_and_render() {
    let cases: &[(&str, Attribute)] = &[
        (
            "rtpmap:0 PCMU/8000",
            Attribute::Rtpmap(Rtpmap::new(0, "PCMU", 8000)),
        ),
        ("fmtp:101 0-16", Attribute::Fmtp(Fmtp::new("101", "0-16"))),
        ("ptime:20", Attribute::Ptime(20)),
        ("maxptime:150", Attribute::MaxPtime(150)),
        ("sendrecv", Attribute::Direction(Direction::SendRecv)),
        ("sendonly", Attribute::Direction(Direction::SendOnly)),
        ("recvonly", Attribute::Direction(Direction::RecvOnly)),
        ("inactive", Attribute::Direction(Direction::Inactive)),
        (
            "rtcp:53021",
            Attribute::Rtcp(Rtcp {
                port: 53021,
                connection: None,
            }),
        ),
        ("rtcp-mux", Attribute::RtcpMux),
        (
            "x-custom:a:b",
            Attribute::Other {
                name: "x-custom".into(),
                value: Some("a:b".into()),
            },
        ),
        (
            "empty:",
            Attribute::Other {
                name: "empty".into(),
                value: Some(String::new()),
            },
        ),
    ];
    for (text, want) in cases {
        let got: Attribute = text.parse().unwrap();
        assert_eq!(&got, want, "{text}");
        assert_eq!(got.to_string(), *text);
        let line = Field::Attribute(got);
        assert_eq!(line.to_string(), format!("a={text}"));
    }
    // Lenient forms read as the typed value; the received bytes are kept.
    let sdp = parse(&CARRIER.replace("a=ptime:20", "a=PTIME:20.0"));
    assert_eq!(sdp.media()[0].ptime(), Some(20));
    assert!(sdp.to_string().contains("a=PTIME:20.0\r\n"));
    // A known name used as a property or with a value it does not take stays "other".
    assert_eq!(
        "sendonly:yes".parse::<Attribute>().unwrap().name(),
        "sendonly"
    );
    assert!(matches!(
        "sendonly:yes".parse::<Attribute>().unwrap(),
        Attribute::Other { .. }
    ));
}

#[test]
fn unknown_line_types_and_non_utf8_text_are_kept() {
    // s= in Latin-1 (a=charset:ISO-8859-1 era), not UTF-8, and an unknown x= line.
    let body = {
        let mut b = b"v=0\r\n".to_vec();
        b.extend_from_slice(b"o=- 1 1 IN IP4 192.0.2.1\r\ns=Caf\xe9\r\nx=extension line\r\n");
        b.extend_from_slice(b"t=0 0\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\n");
        b
    };
    let sdp = SessionDescription::parse(&body).unwrap();
    assert_eq!(sdp.to_bytes(), body);
    assert_eq!(sdp.session_name(), Some("Caf\u{fffd}"));
    assert!(sdp.lines().iter().any(|l| l.field()
        == &Field::Unknown {
            kind: 'x',
            value: "extension line".into()
        }));
}

#[test]
fn edits_rewrite_only_the_edited_lines() {
    let mut sdp = parse(CARRIER);
    sdp.set_connection(Some(Connection::new("192.0.2.1".parse().unwrap())));
    sdp.media_mut()[0].set_port(10002);
    sdp.media_mut()[0].set_direction(Some(Direction::SendOnly));
    let mut o = sdp.origin().clone();
    o.session_version += 1;
    sdp.set_origin(o);
    let want = CARRIER
        .replace("c=IN IP4 198.51.100.7", "c=IN IP4 192.0.2.1")
        .replace("m=audio 13950", "m=audio 10002")
        .replace("a=sendrecv", "a=sendonly")
        .replace("1391468434 1391468434", "1391468434 1391468435");
    assert_eq!(sdp.to_string(), want);
    let changed: Vec<String> = sdp
        .lines()
        .iter()
        .chain(sdp.media()[0].lines())
        .filter(|l| l.is_modified())
        .map(|l| l.field().to_string())
        .collect();
    assert_eq!(
        changed,
        [
            "o=root 1391468434 1391468435 IN IP4 198.51.100.7",
            "c=IN IP4 192.0.2.1",
            "a=sendonly"
        ]
    );

    // Setting a value back to what was received writes the received bytes again.
    let mut sdp = parse(&CARRIER.replace("a=ptime:20", "a=ptime:20.0"));
    for l in sdp.media_mut()[0].lines_mut() {
        if let Field::Attribute(Attribute::Ptime(p)) = l.field_mut() {
            *p = 30;
        }
    }
    assert!(sdp.to_string().contains("a=ptime:30\r\n"));
    for l in sdp.media_mut()[0].lines_mut() {
        if let Field::Attribute(Attribute::Ptime(p)) = l.field_mut() {
            *p = 20;
        }
    }
    assert!(sdp.to_string().contains("a=ptime:20.0\r\n"));
}

#[test]
fn added_lines_go_in_rfc_order_with_the_body_line_ends() {
    let lf = CARRIER
        .replace("\r\n", "\n")
        .replace("c=IN IP4 198.51.100.7\n", "");
    let mut sdp = parse(&lf);
    sdp.set_connection(Some(Connection::new("192.0.2.1".parse().unwrap())));
    sdp.media_mut()[0].push_attribute("x-new:1".parse().unwrap());
    sdp.push_attribute(Attribute::Direction(Direction::Inactive));
    sdp.media_mut()[0].retain_attributes(|a| a.name() != "maxptime");
    let out = sdp.to_string();
    assert!(
        out.contains("s=Twilio Media Gateway\nc=IN IP4 192.0.2.1\nt=0 0\na=inactive\nm=audio"),
        "{out}"
    );
    assert!(out.ends_with("a=sendrecv\na=x-new:1\n"), "{out}");
    assert!(!out.contains("maxptime") && !out.contains('\r'));

    // A body without a final line end gets one before an appended line.
    let mut sdp = parse(CARRIER.trim_end());
    sdp.media_mut()[0].push_attribute(Attribute::RtcpMux);
    assert!(sdp.to_string().ends_with("a=sendrecv\r\na=rtcp-mux\r\n"));
}

fn err(s: &[u8]) -> SdpError {
    match SessionDescription::parse(s) {
        Ok(sdp) => panic!("parsed: {sdp:?}"),
        Err(e) => e,
    }
}

#[test]
fn errors_name_the_line_its_text_and_what_is_wrong() {
    assert_eq!(err(b""), SdpError::Empty);
    assert_eq!(
        err(b"o=- 1 1 IN IP4 192.0.2.1\r\n"),
        SdpError::MissingVersion {
            line: 1,
            text: "o=- 1 1 IN IP4 192.0.2.1".into()
        }
    );
    assert_eq!(err(b"v=0\r\ns=-\r\n"), SdpError::Missing { field: "o=" });
    let cases: &[(&str, usize, &str, &str)] = &[
        ("v=1", 1, "v=", "the version must be 0"),
        (
            "o=- 1 IN IP4 192.0.2.1",
            2,
            "o=",
            "expected <username> <sess-id> <sess-version> <nettype> <addrtype> <address>",
        ),
        (
            "o=- 1 x IN IP4 192.0.2.1",
            2,
            "o=",
            "the sess-version is not a number below 2^64",
        ),
        (
            "c=IN IP4",
            3,
            "c=",
            "expected <nettype> <addrtype> <connection-address>",
        ),
        (
            "c=IN IP4 224.2.1.1/ttl",
            3,
            "c=",
            "the multicast TTL is not a number from 0 to 255",
        ),
        ("b=AS", 3, "b=", "expected <bwtype>:<bandwidth>"),
        ("b=AS:fast", 3, "b=", "the bandwidth is not a number"),
        ("t=0", 3, "t=", "expected <start-time> <stop-time>"),
        (
            "m=audio",
            3,
            "m=",
            "expected <media> <port> <proto> <fmt> ...",
        ),
        (
            "m=audio 70000 RTP/AVP 0",
            3,
            "m=",
            "the port is not a number from 0 to 65535",
        ),
        (
            "m=audio -1 RTP/AVP 0",
            3,
            "m=",
            "the port is not a number from 0 to 65535",
        ),
        (
            "a=rtpmap:200 X/8000",
            3,
            "a=rtpmap",
            "the payload type is not a number from 0 to 127",
        ),
        (
            "a=rtpmap:96 opus",
            3,
            "a=rtpmap",
            "the clock rate is not a number",
        ),
        (
            "a=rtpmap:96",
            3,
            "a=rtpmap",
            "expected <payload type> <encoding>/<clock rate>",
        ),
        (
            "a=rtpmap:96 opus/48000/two",
            3,
            "a=rtpmap",
            "the encoding parameters are not a number",
        ),
        (
            "a=ptime:twenty",
            3,
            "a=ptime",
            "not a number of milliseconds",
        ),
        (
            "a=maxptime:",
            3,
            "a=maxptime",
            "not a number of milliseconds",
        ),
        (
            "a=rtcp:x",
            3,
            "a=rtcp",
            "the port is not a number from 0 to 65535",
        ),
        ("a=fmtp:", 3, "a=fmtp", "expected <format> <parameters>"),
    ];
    for (bad, line, field, reason) in cases {
        if let Some(attr) = bad.strip_prefix("a=") {
            // A malformed attribute does not sink the SDP (RFC 3264 §6, RFC 4475
            // §3.1.1.3's `a=rtpmap:31 LPC`): kept as an opaque attribute, byte-exact; the
            // typed parse still names what is wrong.
            let body = format!("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n{bad}\r\n");
            let sdp = SessionDescription::parse(body.as_bytes()).expect("lenient parse");
            assert_eq!(sdp.to_string(), body);
            let e = attr.parse::<Attribute>().unwrap_err().to_string();
            assert!(e.contains(reason) && e.contains(field), "{bad}: {e}");
            continue;
        }
        let body = if *line == 1 {
            format!("{bad}\r\no=- 1 1 IN IP4 192.0.2.1\r\n")
        } else if *line == 2 {
            format!("v=0\r\n{bad}\r\n")
        } else {
            format!("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n{bad}\r\n")
        };
        let e = err(body.as_bytes());
        assert_eq!(
            e,
            SdpError::InvalidField {
                line: *line,
                field,
                reason,
                text: bad.to_string()
            },
            "{bad}"
        );
        assert_eq!(e.line(), Some(*line));
        assert_eq!(e.text(), Some(*bad));
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains(bad) && e.to_string().contains(reason));
    }
    for bad in ["foo", "a = b", "1=x", "=x", " v=0", "aa=1"] {
        let e = err(format!("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n{bad}\r\n").as_bytes());
        assert_eq!(
            e,
            SdpError::MalformedLine {
                line: 3,
                text: bad.into()
            },
            "{bad}"
        );
    }
    assert_eq!(
        err(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=a\rb\r\n"),
        SdpError::InvalidCharacter {
            line: 3,
            text: "s=a\rb".into()
        }
    );
    assert!(matches!(
        err(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=a\0\r\n"),
        SdpError::InvalidCharacter { line: 3, .. }
    ));
    assert_eq!(
        err(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nv=0\r\n"),
        SdpError::Duplicate {
            line: 3,
            field: "v=",
            text: "v=0".into()
        }
    );
    assert!(matches!(
        err(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\no=- 1 1 IN IP4 192.0.2.1\r\n"),
        SdpError::Duplicate {
            line: 3,
            field: "o=",
            ..
        }
    ));
    assert!(matches!(
        err(b"v=0\r\nm=audio 1 RTP/AVP 0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"),
        SdpError::Duplicate {
            line: 3,
            field: "o=",
            ..
        }
    ));
    // A long line is cut in the error, on a character boundary.
    let long = format!(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nm={}\r\n",
        "é".repeat(300)
    );
    let e = err(long.as_bytes());
    assert_eq!(e.text().unwrap().chars().count(), 121);
    // Lenient: an m= without formats, and an empty s=, are accepted.
    let sdp = parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=\r\nm=audio 0 RTP/AVP\r\n");
    assert!(sdp.media()[0].formats().is_empty());
    assert_eq!(sdp.session_name(), Some(""));
}

#[test]
fn typed_values_from_str() {
    let o: Origin = "alice 2890844526 2890844527 IN IP4 host.atlanta.example.com"
        .parse()
        .unwrap();
    assert_eq!(o.address, "host.atlanta.example.com");
    assert_eq!(
        o.to_string(),
        "alice 2890844526 2890844527 IN IP4 host.atlanta.example.com"
    );
    let big: Origin = "- 123456789012345678901234 1 IN IP4 192.0.2.1"
        .parse()
        .unwrap();
    assert_eq!(big.session_id, "123456789012345678901234");
    let m: MediaLine = "video 49170/2 RTP/AVP 31".parse().unwrap();
    assert_eq!((m.port, m.port_count), (49170, Some(2)));
    assert_eq!(m.to_string(), "video 49170/2 RTP/AVP 31");
    let t: Timing = "3034423619 3042462419".parse().unwrap();
    assert_eq!((t.start, t.stop), (3034423619, 3042462419));
    let b: Bandwidth = "TIAS:64000".parse().unwrap();
    assert_eq!(b.value, 64000);
    assert!("AS:x".parse::<Bandwidth>().is_err());
    let f: Field = "m=audio 0 RTP/SAVP 0".parse().unwrap();
    assert!(matches!(
        f,
        Field::Media(MediaLine {
            proto: Proto::RtpSavp,
            ..
        })
    ));
    assert_eq!(Field::Blank.type_char(), None);
    assert!("nope".parse::<Field>().is_err());
}
