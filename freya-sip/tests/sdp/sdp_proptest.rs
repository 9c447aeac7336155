//! Property tests: arbitrary bytes never panic the parser (and whatever parses serialises
//! back to exactly the input); generated sessions with random line ends, spacing, case and
//! unknown lines round-trip byte-exact and read back their typed fields; offer/answer on
//! generated offers never panics and agrees with the offerer's view.

use std::net::IpAddr;

use freya_sip::sdp::{
    answer, apply_answer, Attribute, Capabilities, Codec, Direction, Field, MediaType,
    NegotiationError, Proto, Rtpmap, SessionDescription,
};
use proptest::prelude::*;

use super::sdp_samples::*;

/// An rtpmap as (encoding, clock rate, channels).
type Encoding = (String, u32, Option<u16>);

#[derive(Debug, Clone)]
struct GenMedia {
    media: &'static str,
    port: u16,
    proto: &'static str,
    /// Payload types, each with the rtpmap line written for it (none: no rtpmap line).
    formats: Vec<(u8, Option<Encoding>)>,
    fmtp: Option<(u8, String)>,
    ptime: Option<u32>,
    maxptime: Option<u32>,
    direction: Option<Direction>,
    rtcp_mux: bool,
    connection: Option<IpAddr>,
    unknown: Vec<(String, Option<String>)>,
    upper_names: bool,
}

#[derive(Debug, Clone)]
struct GenSdp {
    username: String,
    session_id: u64,
    session_version: u64,
    origin_ip: IpAddr,
    session_name: String,
    connection: Option<IpAddr>,
    bandwidth: Option<(String, u64)>,
    session_direction: Option<Direction>,
    unknown_lines: Vec<(char, String)>,
    session_unknown: Vec<(String, Option<String>)>,
    media: Vec<GenMedia>,
    /// Per line: 0 = CRLF, 1 = LF (indices cycle).
    endings: Vec<u8>,
    final_ending: bool,
    extra_spaces: bool,
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u16; 8]>().prop_map(IpAddr::from),
        Just("0.0.0.0".parse().unwrap()),
    ]
}

fn direction() -> impl Strategy<Value = Option<Direction>> {
    prop_oneof![
        Just(None),
        Just(Some(Direction::SendRecv)),
        Just(Some(Direction::SendOnly)),
        Just(Some(Direction::RecvOnly)),
        Just(Some(Direction::Inactive)),
    ]
}

fn unknown_attr() -> impl Strategy<Value = (String, Option<String>)> {
    (
        "x-[a-z0-9-]{1,10}",
        proptest::option::of("[ -~]{0,30}".prop_map(|s| s.to_string())),
    )
}

fn encoding() -> impl Strategy<Value = Option<Encoding>> {
    prop_oneof![
        Just(None),
        Just(Some(("PCMU".to_string(), 8000, None))),
        Just(Some(("pcma".to_string(), 8000, None))),
        Just(Some(("telephone-event".to_string(), 8000, None))),
        Just(Some(("telephone-event".to_string(), 48000, None))),
        Just(Some(("opus".to_string(), 48000, Some(2)))),
        Just(Some(("G729".to_string(), 8000, None))),
        (
            "[A-Za-z][A-Za-z0-9-]{0,8}",
            1000u32..100_000,
            proptest::option::of(1u16..3)
        )
            .prop_map(|(n, r, c)| Some((n, r, c))),
    ]
}

fn media() -> impl Strategy<Value = GenMedia> {
    (
        prop_oneof![
            Just("audio"),
            Just("video"),
            Just("application"),
            Just("image")
        ],
        prop_oneof![Just(0u16), any::<u16>()],
        prop_oneof![
            Just("RTP/AVP"),
            Just("RTP/AVPF"),
            Just("RTP/SAVP"),
            Just("UDP/TLS/RTP/SAVPF"),
            Just("udptl")
        ],
        proptest::collection::vec((0u8..128, encoding()), 0..6),
        proptest::option::of((0u8..128, "[0-9a-z=;,-]{1,12}")),
        (
            proptest::option::of(0u32..200),
            proptest::option::of(0u32..200),
        ),
        direction(),
        any::<bool>(),
        proptest::option::of(ip()),
        proptest::collection::vec(unknown_attr(), 0..4),
        any::<bool>(),
    )
        .prop_map(
            |(
                media,
                port,
                proto,
                formats,
                fmtp,
                (ptime, maxptime),
                direction,
                rtcp_mux,
                connection,
                unknown,
                upper_names,
            )| {
                // One rtpmap per payload type.
                let mut seen = Vec::new();
                let formats = formats
                    .into_iter()
                    .filter(|(pt, _)| {
                        let new = !seen.contains(pt);
                        seen.push(*pt);
                        new
                    })
                    .collect();
                GenMedia {
                    media,
                    port,
                    proto,
                    formats,
                    fmtp,
                    ptime,
                    maxptime,
                    direction,
                    rtcp_mux,
                    connection,
                    unknown,
                    upper_names,
                }
            },
        )
}

fn session() -> impl Strategy<Value = GenSdp> {
    (
        (
            "[a-zA-Z0-9_.-]{1,12}",
            any::<u64>(),
            any::<u64>(),
            ip(),
            "[ -~]{0,30}",
        ),
        (
            proptest::option::of(ip()),
            proptest::option::of((
                prop_oneof![Just("AS"), Just("CT"), Just("TIAS")],
                any::<u64>(),
            )),
            direction(),
            proptest::collection::vec(
                (prop_oneof![Just('x'), Just('y'), Just('q')], "[ -~]{0,20}"),
                0..3,
            ),
            proptest::collection::vec(unknown_attr(), 0..3),
        ),
        proptest::collection::vec(media(), 0..4),
        proptest::collection::vec(0u8..2, 1..8),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                (username, session_id, session_version, origin_ip, session_name),
                (connection, bandwidth, session_direction, unknown_lines, session_unknown),
                media,
                endings,
                final_ending,
                extra_spaces,
            )| GenSdp {
                username,
                session_id,
                session_version,
                origin_ip,
                session_name,
                connection,
                bandwidth: bandwidth.map(|(k, v)| (k.to_string(), v)),
                session_direction,
                unknown_lines,
                session_unknown,
                media,
                endings,
                final_ending,
                extra_spaces,
            },
        )
}

fn addr_type(ip: &IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IP4"
    } else {
        "IP6"
    }
}

fn attr_line(name: &str, value: &Option<String>) -> String {
    match value {
        Some(v) => format!("a={name}:{v}"),
        None => format!("a={name}"),
    }
}

impl GenSdp {
    fn lines(&self) -> Vec<String> {
        let sp = if self.extra_spaces { "  " } else { " " };
        let mut l = vec![
            "v=0".to_string(),
            format!(
                "o={} {} {} IN {} {}",
                self.username,
                self.session_id,
                self.session_version,
                addr_type(&self.origin_ip),
                self.origin_ip
            ),
            format!("s={}", self.session_name),
        ];
        if let Some(c) = &self.connection {
            l.push(format!("c=IN{sp}{}{sp}{c}", addr_type(c)));
        }
        if let Some((k, v)) = &self.bandwidth {
            l.push(format!("b={k}:{v}"));
        }
        l.push("t=0 0".into());
        for (c, v) in &self.unknown_lines {
            l.push(format!("{c}={v}"));
        }
        if let Some(d) = self.session_direction {
            l.push(format!("a={d}"));
        }
        for (n, v) in &self.session_unknown {
            l.push(attr_line(n, v));
        }
        for m in &self.media {
            let fmts: Vec<String> = m.formats.iter().map(|(pt, _)| pt.to_string()).collect();
            let mut mline = format!("m={} {} {}", m.media, m.port, m.proto);
            for f in &fmts {
                mline.push_str(sp);
                mline.push_str(f);
            }
            l.push(mline);
            if let Some(c) = &m.connection {
                l.push(format!("c=IN {} {c}", addr_type(c)));
            }
            let rtpmap = if m.upper_names { "RTPMAP" } else { "rtpmap" };
            for (pt, enc) in &m.formats {
                if let Some((name, rate, ch)) = enc {
                    let mut s = format!("a={rtpmap}:{pt}{sp}{name}/{rate}");
                    if let Some(c) = ch {
                        s.push_str(&format!("/{c}"));
                    }
                    l.push(s);
                }
            }
            if let Some((pt, p)) = &m.fmtp {
                l.push(format!("a=fmtp:{pt} {p}"));
            }
            if let Some(p) = m.ptime {
                l.push(format!("a=ptime:{p}"));
            }
            if let Some(p) = m.maxptime {
                l.push(format!("a=maxptime:{p}"));
            }
            if let Some(d) = m.direction {
                l.push(format!("a={d}"));
            }
            if m.rtcp_mux {
                l.push("a=rtcp-mux".into());
            }
            for (n, v) in &m.unknown {
                l.push(attr_line(n, v));
            }
        }
        l
    }

    fn text(&self) -> String {
        let lines = self.lines();
        let mut s = String::new();
        for (i, line) in lines.iter().enumerate() {
            s.push_str(line);
            let last = i + 1 == lines.len();
            if last && !self.final_ending {
                break;
            }
            s.push_str(if self.endings[i % self.endings.len()] == 0 {
                "\r\n"
            } else {
                "\n"
            });
        }
        s
    }
}

fn caps() -> Capabilities {
    Capabilities::new("192.0.2.10".parse().unwrap(), 10000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sdp_arbitrary_bytes_never_panic_and_what_parses_is_kept_exactly(
        input in proptest::collection::vec(any::<u8>(), 0..400)
    ) {
        if let Ok(sdp) = SessionDescription::parse(&input) {
            prop_assert_eq!(sdp.to_bytes(), input);
            let _ = answer(&sdp, &caps(), 1, 1);
        }
    }

    #[test]
    fn sdp_arbitrary_text_lines_never_panic(
        lines in proptest::collection::vec("[a-z]=[ -~]{0,40}", 0..12)
    ) {
        let body = format!("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n{}", lines.join("\r\n"));
        if let Ok(sdp) = SessionDescription::parse(body.as_bytes()) {
            prop_assert_eq!(sdp.to_string(), body);
            let _ = answer(&sdp, &caps(), 1, 1);
            let ours = caps().offer(1, 1);
            let _ = apply_answer(&ours, &sdp);
        }
        for l in &lines {
            let _ = l.parse::<Field>();
        }
    }

    #[test]
    fn sdp_mutated_real_bodies_never_panic(
        which in 0usize..8,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6)
    ) {
        let samples = [CARRIER, ASTERISK, BARESIP, WEBRTC_AVPF, WEBRTC_SAVPF, G729_ONLY, IPV6, RFC8866];
        let mut body = samples[which].as_bytes().to_vec();
        for (at, byte, op) in edits {
            let i = at.index(body.len() + 1);
            match op {
                0 => body.insert(i, byte),
                1 if i < body.len() => body[i] = byte,
                _ if i < body.len() => { body.remove(i); }
                _ => {}
            }
        }
        if let Ok(sdp) = SessionDescription::parse(&body) {
            prop_assert_eq!(sdp.to_bytes(), body);
            let _ = answer(&sdp, &caps(), 1, 1);
        }
    }

    #[test]
    fn sdp_generated_sessions_round_trip_and_read_back(g in session()) {
        let text = g.text();
        let sdp = match SessionDescription::parse(text.as_bytes()) {
            Ok(s) => s,
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n{text}"))),
        };
        prop_assert_eq!(sdp.to_string(), text.clone());
        // Typed fields read back.
        let o = sdp.origin();
        prop_assert_eq!(&o.username, &g.username);
        prop_assert_eq!(&o.session_id, &g.session_id.to_string());
        prop_assert_eq!(o.session_version, g.session_version);
        prop_assert_eq!(&o.address, &g.origin_ip.to_string());
        prop_assert_eq!(sdp.session_name(), Some(g.session_name.as_str()));
        prop_assert_eq!(sdp.connection().and_then(|c| c.ip()), g.connection);
        prop_assert_eq!(
            sdp.bandwidths().next().map(|b| (b.kind.clone(), b.value)),
            g.bandwidth.clone()
        );
        prop_assert_eq!(sdp.direction(), g.session_direction);
        for (c, v) in &g.unknown_lines {
            let want = Field::Unknown { kind: *c, value: v.clone() };
            prop_assert!(sdp.lines().iter().any(|l| l.field() == &want));
        }
        for (n, v) in &g.session_unknown {
            let want = Attribute::Other { name: n.clone(), value: v.clone() };
            prop_assert!(sdp.attributes().any(|a| a == &want));
        }
        prop_assert_eq!(sdp.media().len(), g.media.len());
        for (m, gm) in sdp.media().iter().zip(&g.media) {
            prop_assert_eq!(m.media_type().to_string(), gm.media);
            prop_assert_eq!(m.port(), gm.port);
            prop_assert_eq!(m.proto().to_string(), gm.proto.parse::<Proto>().unwrap().to_string());
            let pts: Vec<u8> = gm.formats.iter().map(|(pt, _)| *pt).collect();
            prop_assert_eq!(m.payload_types().collect::<Vec<_>>(), pts);
            for (pt, enc) in &gm.formats {
                let want = enc.as_ref().map(|(n, r, c)| Rtpmap {
                    payload_type: *pt,
                    encoding: n.clone(),
                    clock_rate: *r,
                    channels: *c,
                });
                prop_assert_eq!(m.rtpmap(*pt).cloned(), want);
            }
            if let Some((pt, p)) = &gm.fmtp {
                prop_assert_eq!(m.fmtp(&pt.to_string()).map(|f| f.params.clone()), Some(p.clone()));
            }
            prop_assert_eq!(m.ptime(), gm.ptime);
            prop_assert_eq!(m.maxptime(), gm.maxptime);
            prop_assert_eq!(m.direction(), gm.direction);
            prop_assert_eq!(m.rtcp_mux(), gm.rtcp_mux);
            prop_assert_eq!(m.connection().and_then(|c| c.ip()), gm.connection);
            for (n, v) in &gm.unknown {
                let want = Attribute::Other { name: n.clone(), value: v.clone() };
                prop_assert!(m.attributes().any(|a| a == &want));
            }
        }
        // Re-parsing the serialisation gives the same description.
        prop_assert_eq!(SessionDescription::parse(&sdp.to_bytes()).unwrap(), sdp);
    }

    #[test]
    fn sdp_offer_answer_on_generated_offers(g in session()) {
        let offer = SessionDescription::parse(g.text().as_bytes()).unwrap();
        // An audio stream we can take: audio, port > 0, plain RTP, an IP connection, and a
        // G.711 format.
        let acceptable = offer.media().iter().enumerate().any(|(i, m)| {
            *m.media_type() == MediaType::Audio
                && m.port() != 0
                && m.proto().is_plain_rtp()
                && offer.media_connection(i).and_then(|c| c.ip()).is_some()
                && m.payload_types().any(|pt| m.payload_format(pt).as_ref().and_then(Codec::from_rtpmap).is_some())
        });
        match answer(&offer, &caps(), 5, 5) {
            Ok(a) => {
                prop_assert!(acceptable);
                let n = &a.negotiated;
                prop_assert_eq!(a.sdp.media().len(), offer.media().len());
                for (i, m) in a.sdp.media().iter().enumerate() {
                    prop_assert_eq!(m.port() != 0, i == n.media_index);
                    prop_assert_eq!(m.media_type(), offer.media()[i].media_type());
                }
                let om = &offer.media()[n.media_index];
                prop_assert_eq!(om.payload_format(n.payload_type).as_ref().and_then(Codec::from_rtpmap), Some(n.codec));
                if let Some(te) = n.telephone_event {
                    prop_assert!(om.rtpmap(te).is_some_and(|r| r.is("telephone-event") && r.clock_rate == 8000));
                }
                let offered = offer.media_direction(n.media_index);
                prop_assert!(!n.direction.sends() || offered.receives());
                prop_assert!(!n.direction.receives() || offered.sends());
                prop_assert!(n.ptime > 0);
                // The answer reads back as what was agreed.
                let back = SessionDescription::parse(&a.sdp.to_bytes()).unwrap();
                prop_assert_eq!(back.to_bytes(), a.sdp.to_bytes());
                prop_assert_eq!(back.media_direction(n.media_index), n.direction);
                // When the accepted stream is the offer's first live audio one, the offerer
                // applying our answer agrees on codec, payload types and ptime.
                let first_live = offer.media().iter().position(|m| *m.media_type() == MediaType::Audio && m.port() != 0);
                if first_live == Some(n.media_index) {
                    let o = apply_answer(&offer, &a.sdp).unwrap();
                    prop_assert_eq!((o.codec, o.payload_type), (n.codec, n.payload_type));
                    prop_assert_eq!(o.telephone_event, n.telephone_event);
                    prop_assert_eq!(o.remote_rtp.port(), 10000);
                    prop_assert_eq!(o.direction, n.direction.reverse().intersect(offered));
                }
            }
            Err(e) => {
                prop_assert_eq!(e.status(), 488);
                prop_assert!(!acceptable || !matches!(e, NegotiationError::NoCommonCodec { .. } | NegotiationError::NoAudio), "{}", e);
            }
        }
    }
}
