//! RFC 3264 offer/answer for audio: one test per rule, on real-world offers.

use std::net::SocketAddr;

use freya_sip::sdp::{
    answer, apply_answer, parse_codec_list, Answer, Capabilities, Codec, CodecPreference,
    Direction, MediaSession, MediaType, NegotiationError, Proto, SdpBuilder, SessionDescription,
};

use super::sdp_samples::*;

fn sdp(s: &str) -> SessionDescription {
    match SessionDescription::parse(s.as_bytes()) {
        Ok(sdp) => sdp,
        Err(e) => panic!("{e}\n{s}"),
    }
}

fn caps() -> Capabilities {
    Capabilities::new("192.0.2.10".parse().unwrap(), 10000)
}

fn answer_ok(offer: &str, caps: &Capabilities) -> Answer {
    match answer(&sdp(offer), caps, 100, 100) {
        Ok(a) => {
            // The answer is a well-formed SDP that reads back the same.
            assert_eq!(sdp(&a.sdp.to_string()), sdp(&a.sdp.to_string()));
            assert_eq!(a.sdp.media().len(), sdp(offer).media().len());
            a
        }
        Err(e) => panic!("{e}\n{offer}"),
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn carrier_offer_gets_pcmu_with_telephone_event_and_ptime() {
    let a = answer_ok(CARRIER, &caps());
    assert_eq!(
        a.sdp.to_string(),
        "v=0\r\n\
         o=- 100 100 IN IP4 192.0.2.10\r\n\
         s=freya\r\n\
         c=IN IP4 192.0.2.10\r\n\
         t=0 0\r\n\
         m=audio 10000 RTP/AVP 0 101\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n"
    );
    let n = a.negotiated;
    assert_eq!(n.media_index, 0);
    assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 0));
    assert_eq!(n.telephone_event, Some(101));
    assert_eq!(n.remote_rtp, addr("198.51.100.7:13950"));
    assert_eq!(n.remote_rtcp, Some(addr("198.51.100.7:13951")));
    assert_eq!(n.direction, Direction::SendRecv);
    assert_eq!(n.ptime, 20);
    assert!(!n.remote_hold && !n.rtcp_mux);
}

#[test]
fn asterisk_offer_local_preference_picks_our_first_codec() {
    // Asterisk prefers alaw; our order is ulaw,alaw and wins by default.
    let a = answer_ok(ASTERISK, &caps());
    assert_eq!(a.negotiated.codec, Codec::Pcmu);
    assert_eq!(a.sdp.media()[0].formats(), ["0", "101"]);
    // With the offerer's order, alaw.
    let mut c = caps();
    c.preference = CodecPreference::Remote;
    let a = answer_ok(ASTERISK, &c);
    assert_eq!(
        (a.negotiated.codec, a.negotiated.payload_type),
        (Codec::Pcma, 8)
    );
    assert_eq!(a.sdp.media()[0].formats(), ["8", "101"]);
    // A trunk configured alaw-only.
    let mut c = caps();
    c.codecs = parse_codec_list("alaw").unwrap();
    assert_eq!(answer_ok(ASTERISK, &c).negotiated.codec, Codec::Pcma);
}

#[test]
fn baresip_offer_many_codecs_and_telephone_event_at_8khz_pt() {
    let a = answer_ok(BARESIP, &caps());
    let n = &a.negotiated;
    assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 0));
    // 101 is telephone-event/48000 (for opus); the 8 kHz one is 102, echoed.
    assert_eq!(n.telephone_event, Some(102));
    let m = &a.sdp.media()[0];
    assert_eq!(m.formats(), ["0", "102"]);
    assert_eq!(m.rtpmap(102).unwrap().clock_rate, 8000);
    assert_eq!(m.fmtp("102").unwrap().params, "0-15");
    // baresip asks for rtcp-mux; we did not enable it, so RTCP goes to port + 1.
    assert!(!n.rtcp_mux && !m.rtcp_mux());
    assert_eq!(n.remote_rtcp, Some(addr("192.0.2.77:10815")));
    // With rtcp-mux enabled on our side, both agree.
    let mut c = caps();
    c.rtcp_mux = true;
    let a = answer_ok(BARESIP, &c);
    assert!(a.negotiated.rtcp_mux && a.sdp.media()[0].rtcp_mux());
    assert_eq!(a.negotiated.remote_rtcp, Some(addr("192.0.2.77:10814")));
    // The answer is written with CRLF even though the offer used LF.
    assert!(a.sdp.to_string().contains("\r\n"));
}

#[test]
fn webrtc_avpf_offer_negotiates_and_rejects_the_data_channel() {
    let a = answer_ok(WEBRTC_AVPF, &caps());
    let n = &a.negotiated;
    assert_eq!(
        (n.codec, n.payload_type, n.telephone_event),
        (Codec::Pcmu, 0, Some(126))
    );
    assert_eq!(n.remote_rtp, addr("192.0.2.200:50312"));
    // a=rtcp:9 IN IP4 0.0.0.0 names the RTCP target explicitly (RFC 3605).
    assert_eq!(n.remote_rtcp, Some(addr("0.0.0.0:9")));
    let m = &a.sdp.media()[0];
    assert_eq!(*m.proto(), Proto::RtpAvpf);
    // None of the offer's ICE/DTLS attributes leak into the answer.
    assert!(m.attribute("ice-ufrag").is_none() && m.attribute("fingerprint").is_none());
    let app = &a.sdp.media()[1];
    assert_eq!(*app.media_type(), MediaType::Application);
    assert_eq!(app.port(), 0);
    assert_eq!(app.formats(), ["webrtc-datachannel"]);
    assert!(a
        .sdp
        .to_string()
        .ends_with("m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n"));
}

#[test]
fn srtp_only_offer_is_488_incompatible_transport() {
    let e = answer(&sdp(WEBRTC_SAVPF), &caps(), 1, 1).unwrap_err();
    assert_eq!(
        e,
        NegotiationError::UnsupportedTransport {
            index: 0,
            proto: "UDP/TLS/RTP/SAVPF".into()
        }
    );
    assert_eq!(e.status(), 488);
    assert_eq!(e.warning().0, 302);
}

#[test]
fn g729_only_offer_is_488_no_common_codec() {
    let e = answer(&sdp(G729_ONLY), &caps(), 1, 1).unwrap_err();
    assert_eq!(
        e,
        NegotiationError::NoCommonCodec {
            index: 0,
            offered: "18 G729/8000, 101 telephone-event/8000".into(),
            accepted: "ulaw, alaw".into()
        }
    );
    assert_eq!(e.status(), 488);
    assert_eq!(e.warning(), (305, "Incompatible media format"));
    // Our codecs but none of the offer's: the same.
    let mut c = caps();
    c.codecs = vec![Codec::Pcma];
    let offer = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    assert!(matches!(
        answer(&sdp(offer), &c, 1, 1),
        Err(NegotiationError::NoCommonCodec { .. })
    ));
}

#[test]
fn ipv6_offer_static_payload_types_without_rtpmap() {
    let a = answer_ok(IPV6, &caps());
    assert_eq!(a.negotiated.remote_rtp, addr("[2001:db8::10]:22334"));
    assert_eq!(
        (a.negotiated.codec, a.negotiated.payload_type),
        (Codec::Pcmu, 0)
    );
    // No telephone-event offered: none answered.
    assert_eq!(a.negotiated.telephone_event, None);
    assert_eq!(a.sdp.media()[0].formats(), ["0"]);
    // Our own address may be IPv6 too.
    let c = Capabilities::new("2001:db8::99".parse().unwrap(), 10000);
    let a = answer_ok(IPV6, &c);
    assert!(a.sdp.to_string().contains("c=IN IP6 2001:db8::99\r\n"));
    assert!(a
        .sdp
        .to_string()
        .contains("o=- 100 100 IN IP6 2001:db8::99\r\n"));
}

fn offer_with(media_attrs: &str, session_attrs: &str, conn: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 {conn}\r\nt=0 0\r\n{session_attrs}\
         m=audio 31000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n{media_attrs}"
    )
}

#[test]
fn direction_is_answered_per_rfc3264_6_1() {
    let cases = [
        ("", Direction::SendRecv, false),
        ("a=sendrecv\r\n", Direction::SendRecv, false),
        ("a=sendonly\r\n", Direction::RecvOnly, true),
        ("a=recvonly\r\n", Direction::SendOnly, false),
        ("a=inactive\r\n", Direction::Inactive, true),
    ];
    for (attr, want, hold) in cases {
        let a = answer_ok(&offer_with(attr, "", "198.51.100.7"), &caps());
        assert_eq!(a.negotiated.direction, want, "{attr:?}");
        assert_eq!(a.sdp.media_direction(0), want, "{attr:?}");
        assert_eq!(a.negotiated.remote_hold, hold, "{attr:?}");
        // The same at session level.
        let a = answer_ok(&offer_with("", attr, "198.51.100.7"), &caps());
        assert_eq!(a.negotiated.direction, want, "session {attr:?}");
    }
    // A media-level attribute overrides the session-level one.
    let a = answer_ok(
        &offer_with("a=sendrecv\r\n", "a=inactive\r\n", "198.51.100.7"),
        &caps(),
    );
    assert_eq!(a.negotiated.direction, Direction::SendRecv);
}

#[test]
fn our_direction_restricts_the_answer() {
    let mut c = caps();
    c.direction = Direction::SendOnly; // we hold
    let a = answer_ok(&offer_with("", "", "198.51.100.7"), &c);
    assert_eq!(a.negotiated.direction, Direction::SendOnly);
    let a = answer_ok(&offer_with("a=sendonly\r\n", "", "198.51.100.7"), &c);
    assert_eq!(a.negotiated.direction, Direction::Inactive);
    assert_eq!(a.sdp.media_direction(0), Direction::Inactive);
}

#[test]
fn hold_by_connection_address_0_0_0_0() {
    let a = answer_ok(&offer_with("", "", "0.0.0.0"), &caps());
    let n = &a.negotiated;
    assert!(n.remote_hold);
    assert!(!n.sends() && n.receives());
    assert_eq!(n.direction, Direction::RecvOnly);
    assert_eq!(n.remote_rtp, addr("0.0.0.0:31000"));
    // Our answer still carries our real address.
    assert!(a.sdp.to_string().contains("c=IN IP4 192.0.2.10\r\n"));
    // c=0.0.0.0 with a=sendonly: still hold, we only receive.
    let a = answer_ok(&offer_with("a=sendonly\r\n", "", "0.0.0.0"), &caps());
    assert_eq!(a.negotiated.direction, Direction::RecvOnly);
    // c=0.0.0.0 with a=recvonly: nothing flows.
    let a = answer_ok(&offer_with("a=recvonly\r\n", "", "0.0.0.0"), &caps());
    assert_eq!(a.negotiated.direction, Direction::Inactive);
}

#[test]
fn ptime_and_maxptime_are_honoured() {
    let a = answer_ok(&offer_with("a=ptime:30\r\n", "", "198.51.100.7"), &caps());
    assert_eq!(a.negotiated.ptime, 30);
    assert_eq!(a.sdp.media()[0].ptime(), Some(30));
    // No ptime: ours (20), or 10 when so configured.
    let a = answer_ok(&offer_with("", "", "198.51.100.7"), &caps());
    assert_eq!(a.negotiated.ptime, 20);
    let mut c = caps();
    c.ptime = 10;
    assert_eq!(
        answer_ok(&offer_with("", "", "198.51.100.7"), &c)
            .negotiated
            .ptime,
        10
    );
    // Our 30 capped by the offer's maxptime 20.
    c.ptime = 30;
    let a = answer_ok(&offer_with("a=maxptime:20\r\n", "", "198.51.100.7"), &c);
    assert_eq!(a.negotiated.ptime, 20);
    // ptime:0 is ignored.
    let a = answer_ok(&offer_with("a=ptime:0\r\n", "", "198.51.100.7"), &caps());
    assert_eq!(a.negotiated.ptime, 20);
}

#[test]
fn static_payload_types_recognised_without_rtpmap_and_by_name_at_dynamic_pt() {
    let offer = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n";
    assert_eq!(answer_ok(offer, &caps()).negotiated.codec, Codec::Pcma);
    // PCMU announced at a dynamic payload type, lower-case name: recognised, PT echoed.
    let offer = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 4000 RTP/AVP 112\r\na=rtpmap:112 pcmu/8000\r\n";
    let a = answer_ok(offer, &caps());
    assert_eq!(
        (a.negotiated.codec, a.negotiated.payload_type),
        (Codec::Pcmu, 112)
    );
    assert_eq!(a.sdp.media()[0].rtpmap(112).unwrap().encoding, "PCMU");
    // An rtpmap that remaps static PT 0 to something else wins over the static table.
    let offer = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 G729/8000\r\n";
    assert!(answer(&sdp(offer), &caps(), 1, 1).is_err());
    // Stereo PCMU is not what we speak.
    let offer = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 4000 RTP/AVP 97\r\na=rtpmap:97 PCMU/8000/2\r\n";
    assert!(answer(&sdp(offer), &caps(), 1, 1).is_err());
}

#[test]
fn telephone_event_payload_type_echoed_and_events_intersected() {
    let te = |fmtp: &str| {
        let offer = format!(
            "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
             m=audio 4000 RTP/AVP 0 96\r\na=rtpmap:96 telephone-event/8000\r\n{fmtp}"
        );
        let a = answer_ok(&offer, &caps());
        (
            a.negotiated.telephone_event,
            a.sdp.media()[0].fmtp("96").map(|f| f.params.clone()),
        )
    };
    assert_eq!(te("a=fmtp:96 0-16\r\n"), (Some(96), Some("0-16".into())));
    assert_eq!(te("a=fmtp:96 0-15\r\n"), (Some(96), Some("0-15".into())));
    // RFC 4733 §7.1.1: no fmtp means 0-15.
    assert_eq!(te(""), (Some(96), Some("0-15".into())));
    assert_eq!(
        te("a=fmtp:96 0-15,16,32-49\r\n"),
        (Some(96), Some("0-16".into()))
    );
    assert_eq!(
        te("a=fmtp:96 0-3,5,11\r\n"),
        (Some(96), Some("0-3,5,11".into()))
    );
    // Only events we do not handle: no telephone-event in the answer.
    assert_eq!(te("a=fmtp:96 32-49\r\n"), (None, None));
    // DTMF off on our side.
    let mut c = caps();
    c.telephone_event = false;
    let a = answer_ok(CARRIER, &c);
    assert_eq!(a.negotiated.telephone_event, None);
    assert_eq!(a.sdp.media()[0].formats(), ["0"]);
}

#[test]
fn answer_keeps_m_line_count_and_order_rejecting_others_with_port_0() {
    let offer = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
                 m=video 5000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n\
                 m=audio 0 RTP/AVP 0\r\n\
                 m=audio 6000 RTP/AVP 18\r\n\
                 m=audio 7000 RTP/AVP 8\r\n\
                 m=audio 8000 RTP/AVP 0\r\n\
                 m=image 9000 udptl t38\r\n";
    let a = answer_ok(offer, &caps());
    // The disabled (port 0) audio and the G.729 one are skipped; the first that
    // negotiates, index 3, is accepted; the later audio one is rejected too.
    assert_eq!(a.negotiated.media_index, 3);
    assert_eq!(a.negotiated.remote_rtp, addr("198.51.100.7:7000"));
    let ports: Vec<u16> = a.sdp.media().iter().map(|m| m.port()).collect();
    assert_eq!(ports, [0, 0, 0, 10000, 0, 0]);
    let types: Vec<String> = a
        .sdp
        .media()
        .iter()
        .map(|m| m.media_type().to_string())
        .collect();
    assert_eq!(
        types,
        ["video", "audio", "audio", "audio", "audio", "image"]
    );
    assert!(a.sdp.to_string().contains("m=video 0 RTP/AVP 96\r\nm=audio 0 RTP/AVP 0\r\nm=audio 0 RTP/AVP 18\r\nm=audio 10000 RTP/AVP 8\r\n"));
    assert!(a
        .sdp
        .to_string()
        .ends_with("m=audio 0 RTP/AVP 0\r\nm=image 0 udptl t38\r\n"));
}

#[test]
fn offers_without_usable_audio() {
    let video = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n";
    let e = answer(&sdp(video), &caps(), 1, 1).unwrap_err();
    assert_eq!(e, NegotiationError::NoAudio);
    assert_eq!((e.status(), e.warning().0), (488, 304));
    let no_media = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nt=0 0\r\n";
    assert_eq!(
        answer(&sdp(no_media), &caps(), 1, 1),
        Err(NegotiationError::NoAudio)
    );
    let no_c = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    assert_eq!(
        answer(&sdp(no_c), &caps(), 1, 1),
        Err(NegotiationError::MissingConnection { index: 0 })
    );
    let fqdn = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 media.example.com\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let e = answer(&sdp(fqdn), &caps(), 1, 1).unwrap_err();
    assert_eq!(
        e,
        NegotiationError::UnresolvedAddress {
            index: 0,
            address: "media.example.com".into()
        }
    );
    assert_eq!(e.status(), 488);
    // A media-level c= overrides a missing session-level one.
    let media_c = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 198.51.100.9\r\n";
    assert_eq!(
        answer_ok(media_c, &caps()).negotiated.remote_rtp,
        addr("198.51.100.9:4000")
    );
}

#[test]
fn answer_repeats_the_offer_timing() {
    let offer = CARRIER.replace("t=0 0", "t=3034423619 3042462419");
    let a = answer_ok(&offer, &caps());
    assert!(a
        .sdp
        .to_string()
        .contains("\r\nt=3034423619 3042462419\r\n"));
}

// --- offerer side -------------------------------------------------------------------

fn our_offer() -> SessionDescription {
    caps().offer(7, 7)
}

fn answer_body(m: &str, conn: &str) -> String {
    format!("v=0\r\no=- 9 9 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 {conn}\r\nt=0 0\r\n{m}")
}

#[test]
fn apply_answer_reads_codec_payload_types_address_direction_ptime() {
    let ans = answer_body(
        "m=audio 40000 RTP/AVP 8 96\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\na=ptime:30\r\na=sendrecv\r\n",
        "198.51.100.7",
    );
    let n = apply_answer(&our_offer(), &sdp(&ans)).unwrap();
    assert_eq!(n.media_index, 0);
    assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 8));
    // The answerer's telephone-event number is the one we send with (§5.1).
    assert_eq!(n.telephone_event, Some(96));
    assert_eq!(n.remote_rtp, addr("198.51.100.7:40000"));
    assert_eq!(n.remote_rtcp, Some(addr("198.51.100.7:40001")));
    assert_eq!(n.direction, Direction::SendRecv);
    assert_eq!(n.ptime, 30);
    assert!(!n.remote_hold);
}

#[test]
fn apply_answer_direction_hold_and_defaults() {
    // We offered sendonly (hold); the answer says recvonly.
    let offer = SdpBuilder::new("192.0.2.10".parse().unwrap(), 10000)
        .direction(Direction::SendOnly)
        .build();
    let n = apply_answer(
        &offer,
        &sdp(&answer_body(
            "m=audio 40000 RTP/AVP 0\r\na=recvonly\r\n",
            "198.51.100.7",
        )),
    )
    .unwrap();
    assert_eq!(n.direction, Direction::SendOnly);
    assert!(!n.remote_hold);
    // The answerer holds in its answer with c=0.0.0.0.
    let n = apply_answer(
        &our_offer(),
        &sdp(&answer_body("m=audio 40000 RTP/AVP 0\r\n", "0.0.0.0")),
    )
    .unwrap();
    assert_eq!(n.direction, Direction::RecvOnly);
    assert!(n.remote_hold);
    // No ptime in the answer: ours (20). No telephone-event answered: none.
    let n = apply_answer(
        &our_offer(),
        &sdp(&answer_body("m=audio 40000 RTP/AVP 0\r\n", "198.51.100.7")),
    )
    .unwrap();
    assert_eq!((n.ptime, n.telephone_event), (20, None));
}

#[test]
fn apply_answer_errors() {
    let offer = our_offer();
    let rejected = answer_body("m=audio 0 RTP/AVP 0\r\n", "198.51.100.7");
    assert_eq!(
        apply_answer(&offer, &sdp(&rejected)),
        Err(NegotiationError::Rejected { index: 0 })
    );
    let two = answer_body(
        "m=audio 4000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n",
        "198.51.100.7",
    );
    assert_eq!(
        apply_answer(&offer, &sdp(&two)),
        Err(NegotiationError::MediaCountMismatch {
            offer: 1,
            answer: 2
        })
    );
    // A codec we did not offer.
    let g729 = answer_body("m=audio 4000 RTP/AVP 18\r\n", "198.51.100.7");
    let e = apply_answer(&offer, &sdp(&g729)).unwrap_err();
    assert!(
        matches!(e, NegotiationError::NoCommonCodec { index: 0, .. }),
        "{e}"
    );
    // Only alaw offered, answer names ulaw first then alaw: alaw.
    let alaw_offer = SdpBuilder::new("192.0.2.10".parse().unwrap(), 10000)
        .codecs([Codec::Pcma])
        .build();
    let both = answer_body("m=audio 4000 RTP/AVP 0 8\r\n", "198.51.100.7");
    assert_eq!(
        apply_answer(&alaw_offer, &sdp(&both)).unwrap().codec,
        Codec::Pcma
    );
}

#[test]
fn offerer_and_answerer_agree() {
    // freya calls freya: both sides derive the same codec, payload types and ptime.
    let offer = caps().offer(1, 1);
    let mut b = Capabilities::new("192.0.2.20".parse().unwrap(), 20000);
    b.codecs = vec![Codec::Pcma, Codec::Pcmu];
    let a = answer(&offer, &b, 2, 2).unwrap();
    let n = apply_answer(&offer, &a.sdp).unwrap();
    assert_eq!(
        (n.codec, n.payload_type),
        (a.negotiated.codec, a.negotiated.payload_type)
    );
    assert_eq!(n.telephone_event, a.negotiated.telephone_event);
    assert_eq!(n.ptime, a.negotiated.ptime);
    assert_eq!(n.remote_rtp, addr("192.0.2.20:20000"));
    assert_eq!(a.negotiated.remote_rtp, addr("192.0.2.10:10000"));
}

// --- a call's media session ------------------------------------------------------------

#[test]
fn media_session_outbound_call_then_hold_and_resume() {
    let mut ms = MediaSession::new(caps(), 3_900_000_000);
    let offer = ms.create_offer();
    assert!(ms.has_pending_offer());
    assert_eq!(offer.origin().session_id, "3900000000");
    assert_eq!(offer.origin().session_version, 3_900_000_000);
    let ans = answer_body(
        "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
        "198.51.100.7",
    );
    let n = ms.receive_answer(&sdp(&ans)).unwrap().clone();
    assert_eq!((n.codec, n.telephone_event), (Codec::Pcmu, Some(101)));
    assert!(!ms.has_pending_offer());

    // Hold: re-INVITE with a=sendonly, version + 1 (RFC 3264 §8.4, §8).
    ms.set_direction(Direction::SendOnly);
    let hold = ms.create_offer();
    assert_eq!(hold.media_direction(0), Direction::SendOnly);
    assert_eq!(hold.origin().session_version, 3_900_000_001);
    assert_eq!(hold.origin().session_id, "3900000000");
    let ans = answer_body("m=audio 40000 RTP/AVP 0\r\na=recvonly\r\n", "198.51.100.7");
    assert_eq!(
        ms.receive_answer(&sdp(&ans)).unwrap().direction,
        Direction::SendOnly
    );

    // Resume.
    ms.set_direction(Direction::SendRecv);
    let resume = ms.create_offer();
    assert_eq!(resume.media_direction(0), Direction::SendRecv);
    assert_eq!(resume.origin().session_version, 3_900_000_002);
    // The same offer again (e.g. a session refresh): the version does not change.
    ms.cancel_offer();
    assert_eq!(ms.create_offer().origin().session_version, 3_900_000_002);
}

#[test]
fn media_session_inbound_reoffer_for_hold_yields_hold_state() {
    let mut ms = MediaSession::new(caps(), 55);
    let first = ms.receive_offer(&sdp(CARRIER)).unwrap();
    assert_eq!(first.origin().session_version, 55);
    assert!(!ms.negotiated().unwrap().remote_hold);

    // re-INVITE with a=sendonly: hold.
    let hold = CARRIER
        .replace("1391468434 1391468434", "1391468434 1391468435")
        .replace("a=sendrecv", "a=sendonly");
    let ans = ms.receive_offer(&sdp(&hold)).unwrap();
    assert_eq!(ans.media_direction(0), Direction::RecvOnly);
    assert_eq!(ans.origin().session_version, 56);
    let n = ms.negotiated().unwrap();
    assert!(n.remote_hold && !n.sends() && n.receives());

    // re-INVITE with the RFC 2543 c=0.0.0.0: hold too.
    let old_hold = CARRIER.replace("c=IN IP4 198.51.100.7", "c=IN IP4 0.0.0.0");
    ms.receive_offer(&sdp(&old_hold)).unwrap();
    assert!(ms.negotiated().unwrap().remote_hold);

    // Unhold, then a refresh with the identical offer: our version changes only when our
    // description does.
    let a1 = ms.receive_offer(&sdp(CARRIER)).unwrap();
    let a2 = ms.receive_offer(&sdp(CARRIER)).unwrap();
    assert!(!ms.negotiated().unwrap().remote_hold);
    assert_eq!(a1.origin().session_version, a2.origin().session_version);
    assert_eq!(a1.to_bytes(), a2.to_bytes());
}

#[test]
fn media_session_refused_reoffer_keeps_the_previous_agreement() {
    let mut ms = MediaSession::new(caps(), 1);
    ms.receive_offer(&sdp(CARRIER)).unwrap();
    let before = ms.negotiated().cloned();
    let version = ms.local_description().unwrap().origin().session_version;
    let e = ms.receive_offer(&sdp(G729_ONLY)).unwrap_err();
    assert_eq!(e.status(), 488);
    assert_eq!(ms.negotiated().cloned(), before);
    assert_eq!(
        ms.local_description().unwrap().origin().session_version,
        version
    );
}

#[test]
fn media_session_early_answer_then_final_answer() {
    let mut ms = MediaSession::new(caps(), 1);
    ms.create_offer();
    // 183 Session Progress with SDP (early media), then the 200 from the same or another
    // fork: both apply to our offer.
    let early = answer_body("m=audio 40000 RTP/AVP 0\r\n", "198.51.100.7");
    assert_eq!(ms.receive_answer(&sdp(&early)).unwrap().codec, Codec::Pcmu);
    let fork = answer_body("m=audio 42000 RTP/AVP 8\r\n", "198.51.100.8");
    let n = ms.receive_answer(&sdp(&fork)).unwrap();
    assert_eq!(
        (n.codec, n.remote_rtp),
        (Codec::Pcma, addr("198.51.100.8:42000"))
    );
    // Once a remote offer was answered, a stray answer has nothing to apply to.
    ms.receive_offer(&sdp(CARRIER)).unwrap();
    assert_eq!(
        ms.receive_answer(&sdp(&fork)).unwrap_err(),
        NegotiationError::NoPendingOffer
    );
}

#[test]
fn media_session_glare_and_stray_answer() {
    let mut ms = MediaSession::new(caps(), 1);
    assert_eq!(
        ms.receive_answer(&sdp(CARRIER)).unwrap_err(),
        NegotiationError::NoPendingOffer
    );
    ms.create_offer();
    let e = ms.receive_offer(&sdp(CARRIER)).unwrap_err();
    assert_eq!(e, NegotiationError::Glare);
    assert_eq!(e.status(), 491);
    // A rejected answer drops the pending offer.
    let rejected = answer_body("m=audio 0 RTP/AVP 0\r\n", "198.51.100.7");
    assert!(ms.receive_answer(&sdp(&rejected)).is_err());
    assert!(!ms.has_pending_offer());
    assert!(ms.receive_offer(&sdp(CARRIER)).is_ok());
}

#[test]
fn media_session_reoffer_keeps_the_m_lines_of_the_previous_answer() {
    let mut ms = MediaSession::new(caps(), 1);
    let first = ms.receive_offer(&sdp(WEBRTC_AVPF)).unwrap();
    assert_eq!(first.media().len(), 2);
    ms.set_direction(Direction::SendOnly);
    let reoffer = ms.create_offer();
    assert_eq!(reoffer.media().len(), 2);
    assert_eq!(reoffer.media()[0].port(), 10000);
    assert_eq!(*reoffer.media()[0].proto(), Proto::RtpAvpf);
    assert_eq!(reoffer.media_direction(0), Direction::SendOnly);
    assert_eq!(reoffer.media()[1].port(), 0);
    assert_eq!(*reoffer.media()[1].media_type(), MediaType::Application);
    // The peer answers with the same two lines.
    let ans = "v=0\r\no=- 4611731400430051336 3 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
               m=audio 50312 RTP/AVPF 0\r\nc=IN IP4 192.0.2.200\r\na=recvonly\r\n\
               m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n";
    let n = ms.receive_answer(&sdp(ans)).unwrap();
    assert_eq!(n.direction, Direction::SendOnly);
}
