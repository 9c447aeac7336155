//! RFC 3264 offer/answer for one audio stream: answering a remote offer, and applying the
//! answer to our own offer.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

use super::attribute::{format_events, parse_events, Direction, Rtpmap};
use super::build::{session, AudioFormat, AudioSection};
use super::codec::{Codec, DEFAULT_TELEPHONE_EVENT_PT, TELEPHONE_EVENT, TELEPHONE_EVENTS};
use super::error::NegotiationError;
use super::media::MediaDescription;
use super::media_line::{MediaLine, MediaType};
use super::session::SessionDescription;
use super::SdpBuilder;

/// Whose codec order wins when both sides support several codecs.
///
/// ```
/// use freya_sip::sdp::CodecPreference;
/// assert_eq!(CodecPreference::default(), CodecPreference::Local);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CodecPreference {
    /// Ours ([`Capabilities::codecs`] order), like Asterisk's default
    /// `incoming_call_offer_pref=local`.
    #[default]
    Local,
    /// The offerer's (its `m=` format order, RFC 3264 §5.1).
    Remote,
}

/// What freya can and wants to do with audio: the input to building an offer and to
/// answering one (RFC 3264 §5, §6).
///
/// ```
/// use freya_sip::sdp::{parse_codec_list, Capabilities, Codec, Direction};
/// let mut caps = Capabilities::new("192.0.2.10".parse().unwrap(), 10000);
/// caps.codecs = parse_codec_list("alaw,ulaw").unwrap();
/// caps.telephone_event = false;
/// assert_eq!(caps.ptime, 20);
/// assert_eq!(caps.direction, Direction::SendRecv);
/// let offer = caps.offer(1, 1);
/// assert_eq!(offer.media()[0].formats(), ["8", "0"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Codecs in preference order (the trunk's `codecs=ulaw,alaw`).
    pub codecs: Vec<Codec>,
    /// Whether RFC 4733 telephone-event (DTMF) is offered and accepted (`dtmf_mode=rfc4733`).
    pub telephone_event: bool,
    /// The payload type our offers carry telephone-event with (101). Answers echo the
    /// offerer's.
    pub telephone_event_pt: u8,
    /// The address we receive RTP on, written in `o=` and `c=`.
    pub address: IpAddr,
    /// The port we receive RTP on.
    pub port: u16,
    /// The packet duration we ask for and send with when the peer names none, in ms.
    pub ptime: u32,
    /// What we want to do: sendrecv normally, sendonly to put the call on hold,
    /// inactive to stop media (RFC 3264 §8.4).
    pub direction: Direction,
    /// Whether we accept RTP/RTCP on one port (RFC 5761).
    pub rtcp_mux: bool,
    /// Whose codec order wins.
    pub preference: CodecPreference,
    /// The `o=` username (`-`).
    pub username: String,
    /// The `s=` session name (`freya`).
    pub session_name: String,
}

impl Capabilities {
    /// freya's defaults for RTP at `address`:`port`: `ulaw,alaw`, telephone-event on at
    /// payload type 101, ptime 20 ms, sendrecv, no rtcp-mux, our codec order.
    pub fn new(address: IpAddr, port: u16) -> Capabilities {
        Capabilities {
            codecs: Codec::ALL.to_vec(),
            telephone_event: true,
            telephone_event_pt: DEFAULT_TELEPHONE_EVENT_PT,
            address,
            port,
            ptime: 20,
            direction: Direction::SendRecv,
            rtcp_mux: false,
            preference: CodecPreference::Local,
            username: "-".to_owned(),
            session_name: "freya".to_owned(),
        }
    }

    /// A builder preloaded with these capabilities.
    pub fn builder(&self, session_id: u64, session_version: u64) -> SdpBuilder {
        SdpBuilder::new(self.address, self.port)
            .username(&self.username)
            .session_name(&self.session_name)
            .session(session_id, session_version)
            .codecs(self.codecs.iter().copied())
            .telephone_event(self.telephone_event.then_some(self.telephone_event_pt))
            .ptime(Some(self.ptime))
            .direction(self.direction)
            .rtcp_mux(self.rtcp_mux)
    }

    /// Our offer (RFC 3264 §5): one `m=audio` with these capabilities.
    pub fn offer(&self, session_id: u64, session_version: u64) -> SessionDescription {
        self.builder(session_id, session_version).build()
    }
}

/// The outcome of offer/answer for the audio stream: what to send, with which payload
/// types, to where, and whether to send at all.
///
/// ```
/// use freya_sip::sdp::{answer, Capabilities, Codec, Direction, SessionDescription};
/// let offer = SessionDescription::parse(b"v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\n\
///     c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 31000 RTP/AVP 8 101\r\n\
///     a=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n").unwrap();
/// let n = answer(&offer, &Capabilities::new("192.0.2.10".parse().unwrap(), 10000), 7, 7)
///     .unwrap()
///     .negotiated;
/// assert_eq!((n.codec, n.payload_type, n.telephone_event), (Codec::Pcma, 8, Some(101)));
/// assert_eq!(n.remote_rtp, "198.51.100.7:31000".parse().unwrap());
/// assert_eq!(n.remote_rtcp, Some("198.51.100.7:31001".parse().unwrap()));
/// assert_eq!(n.direction, Direction::RecvOnly);
/// assert!(n.remote_hold && !n.sends() && n.receives());
/// assert_eq!((n.ptime, n.clock_rate()), (20, 8000));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Negotiated {
    /// Which `m=` line (0-based) carries the audio.
    pub media_index: usize,
    /// The codec to send and expect.
    pub codec: Codec,
    /// The RTP payload type of the codec in both directions (the offer's number).
    pub payload_type: u8,
    /// The RTP payload type of telephone-event (RFC 4733), when both sides support it.
    pub telephone_event: Option<u8>,
    /// Where to send RTP: the peer's `c=` address and `m=` port. `0.0.0.0` when the peer
    /// holds with the RFC 2543 address (then [`Negotiated::direction`] does not send).
    pub remote_rtp: SocketAddr,
    /// Where to send RTCP: `a=rtcp` (RFC 3605), else the RTP address when muxed, else the
    /// RTP port + 1 (`None` when that overflows).
    pub remote_rtcp: Option<SocketAddr>,
    /// Whether RTP and RTCP share one port (RFC 5761): both sides asked for it.
    pub rtcp_mux: bool,
    /// Our direction: whether we send and receive (RFC 3264 §6.1).
    pub direction: Direction,
    /// The packet duration to send with, in milliseconds: the peer's `a=ptime` (capped by
    /// its `a=maxptime`), else ours.
    pub ptime: u32,
    /// Whether the peer put the call on hold: its SDP says it will not receive (sendonly,
    /// inactive, or connection address `0.0.0.0`; RFC 3264 §8.4).
    pub remote_hold: bool,
}

impl Negotiated {
    /// Whether we send RTP.
    pub fn sends(&self) -> bool {
        self.direction.sends()
    }

    /// Whether we expect RTP.
    pub fn receives(&self) -> bool {
        self.direction.receives()
    }

    /// The RTP clock rate of the codec, in Hz.
    pub fn clock_rate(&self) -> u32 {
        self.codec.clock_rate()
    }
}

/// The result of answering an offer: the answer to send and what it agrees to.
///
/// ```
/// use freya_sip::sdp::{answer, Capabilities, SessionDescription};
/// let offer: SessionDescription = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\n\
///     c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 31000 RTP/AVP 0\r\n".parse().unwrap();
/// let a = answer(&offer, &Capabilities::new("192.0.2.10".parse().unwrap(), 10000), 9, 9).unwrap();
/// assert_eq!(a.sdp.media()[0].formats(), ["0"]);
/// assert_eq!(a.negotiated.payload_type, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The answer SDP (CRLF line ends).
    pub sdp: SessionDescription,
    /// What it agrees to.
    pub negotiated: Negotiated,
}

fn is_audio_rtp(m: &MediaDescription) -> bool {
    *m.media_type() == MediaType::Audio && !m.is_rejected()
}

/// The connection and IP in force for media `index`.
fn remote_ip(sdp: &SessionDescription, index: usize) -> Result<(IpAddr, bool), NegotiationError> {
    let c = sdp
        .media_connection(index)
        .ok_or(NegotiationError::MissingConnection { index })?;
    let ip = c.ip().ok_or_else(|| NegotiationError::UnresolvedAddress {
        index,
        address: c.address.clone(),
    })?;
    Ok((ip, c.is_hold()))
}

/// The direction a side's SDP states for media `index`, with an RFC 2543 hold address
/// (`0.0.0.0`) read as "does not receive" (RFC 3264 §8.4).
fn stated_direction(sdp: &SessionDescription, index: usize, hold_address: bool) -> Direction {
    let d = sdp.media_direction(index);
    if hold_address {
        d.intersect(Direction::SendOnly)
    } else {
        d
    }
}

/// Where the side that wrote `m` receives RTCP.
fn rtcp_target(m: &MediaDescription, rtp: SocketAddr, mux: bool) -> Option<SocketAddr> {
    if mux {
        return Some(rtp);
    }
    if let Some(r) = m.rtcp() {
        let ip = r
            .connection
            .as_ref()
            .and_then(|c| c.ip())
            .unwrap_or(rtp.ip());
        return Some(SocketAddr::new(ip, r.port));
    }
    rtp.port()
        .checked_add(1)
        .map(|p| SocketAddr::new(rtp.ip(), p))
}

/// The packet duration to send with: the peer's ptime (else `fallback`), capped by its
/// maxptime; never 0.
fn ptime_for(m: &MediaDescription, fallback: u32) -> u32 {
    let p = m.ptime().filter(|p| *p > 0).unwrap_or(fallback);
    match m.maxptime() {
        Some(max) if max > 0 => p.min(max),
        _ => p,
    }
}

/// The formats of `m` that are RTP payload types, with what each carries.
fn offered_formats(m: &MediaDescription) -> Vec<(u8, Rtpmap)> {
    m.payload_types()
        .filter_map(|pt| m.payload_format(pt).map(|r| (pt, r)))
        .collect()
}

fn describe_formats(m: &MediaDescription) -> String {
    let v: Vec<String> = m
        .formats()
        .iter()
        .map(
            |f| match f.parse::<u8>().ok().and_then(|pt| m.payload_format(pt)) {
                Some(r) => format!("{f} {}/{}", r.encoding, r.clock_rate),
                None => f.clone(),
            },
        )
        .collect();
    if v.is_empty() {
        "nothing".to_owned()
    } else {
        v.join(", ")
    }
}

fn codec_names(codecs: &[Codec]) -> String {
    let v: Vec<&str> = codecs.iter().map(|c| c.name()).collect();
    v.join(", ")
}

/// The telephone-event payload type in `formats` at `clock_rate`.
fn telephone_event_pt(formats: &[(u8, Rtpmap)], clock_rate: u32) -> Option<u8> {
    formats
        .iter()
        .find(|(_, r)| r.is(TELEPHONE_EVENT) && r.clock_rate == clock_rate)
        .map(|(pt, _)| *pt)
}

/// The events both accept: the offer's list (RFC 4733 §7.1.1: 0-15 when absent)
/// intersected with ours; `None` when nothing is left.
fn common_events(m: &MediaDescription, pt: u8) -> Option<String> {
    let offered: Vec<RangeInclusive<u8>> = match m.fmtp(&pt.to_string()) {
        Some(f) => parse_events(&f.params).unwrap_or_else(|| vec![0..=15]),
        None => vec![0..=15],
    };
    let mut set = [false; 256];
    for r in offered {
        for e in r {
            set[usize::from(e)] |= TELEPHONE_EVENTS.contains(&e);
        }
    }
    let mut ranges: Vec<RangeInclusive<u8>> = Vec::new();
    for e in 0..=255u8 {
        if !set[usize::from(e)] {
            continue;
        }
        match ranges.last_mut() {
            Some(r) if r.end().checked_add(1) == Some(e) => *r = *r.start()..=e,
            _ => ranges.push(e..=e),
        }
    }
    (!ranges.is_empty()).then(|| format_events(&ranges))
}

/// Negotiates offered media `index` against `caps`; also returns the telephone-event list
/// to answer with.
fn answer_stream(
    offer: &SessionDescription,
    index: usize,
    caps: &Capabilities,
) -> Result<(Negotiated, Option<String>), NegotiationError> {
    let m = &offer.media()[index];
    if !m.proto().is_plain_rtp() {
        return Err(NegotiationError::UnsupportedTransport {
            index,
            proto: m.proto().to_string(),
        });
    }
    let (ip, hold_address) = remote_ip(offer, index)?;
    let formats = offered_formats(m);
    let codec_at = |c: Codec| {
        formats
            .iter()
            .find(|(_, r)| Codec::from_rtpmap(r) == Some(c))
            .map(|(pt, _)| (*pt, c))
    };
    let pick = match caps.preference {
        CodecPreference::Local => caps.codecs.iter().find_map(|c| codec_at(*c)),
        CodecPreference::Remote => formats.iter().find_map(|(pt, r)| {
            Codec::from_rtpmap(r)
                .filter(|c| caps.codecs.contains(c))
                .map(|c| (*pt, c))
        }),
    };
    let Some((payload_type, codec)) = pick else {
        return Err(NegotiationError::NoCommonCodec {
            index,
            offered: describe_formats(m),
            accepted: codec_names(&caps.codecs),
        });
    };
    let te = if caps.telephone_event {
        telephone_event_pt(&formats, codec.clock_rate())
            .and_then(|pt| common_events(m, pt).map(|ev| (pt, ev)))
    } else {
        None
    };
    let offered_dir = stated_direction(offer, index, hold_address);
    let rtcp_mux = caps.rtcp_mux && m.rtcp_mux();
    let remote_rtp = SocketAddr::new(ip, m.port());
    let n = Negotiated {
        media_index: index,
        codec,
        payload_type,
        telephone_event: te.as_ref().map(|(pt, _)| *pt),
        remote_rtp,
        remote_rtcp: rtcp_target(m, remote_rtp, rtcp_mux),
        rtcp_mux,
        direction: offered_dir.reverse().intersect(caps.direction),
        ptime: ptime_for(m, caps.ptime),
        remote_hold: !offered_dir.receives(),
    };
    Ok((n, te.map(|(_, ev)| ev)))
}

/// Answers a remote offer (RFC 3264 §6): the first `m=audio` line that negotiates is
/// accepted with one codec (in [`Capabilities::preference`] order, at the offer's payload
/// type; PCMU/PCMA recognised by static payload type 0/8 without rtpmap) and, when both
/// support it, telephone-event at the offer's payload type and clock rate; every other
/// `m=` line is rejected with port 0, so the answer has the offer's `m=` lines in the
/// offer's order. The direction mirrors the offer's (§6.1: sendonly → recvonly, recvonly
/// → sendonly, inactive → inactive), restricted by [`Capabilities::direction`]; a
/// `c=0.0.0.0` offer is read as "does not receive" (§8.4). The answer's `a=ptime` is the
/// offer's when it has one (capped by its `a=maxptime`), else ours, and its `t=` is the
/// offer's (§6).
///
/// `session_id` and `session_version` go in our `o=` line: keep the id for the whole
/// call and grow the version by one with each changed description (§8), which
/// [`MediaSession`](super::MediaSession) does.
///
/// ```
/// use freya_sip::sdp::{answer, Capabilities, SessionDescription};
/// let offer: SessionDescription = "v=0\r\no=carrier 1 1 IN IP4 198.51.100.7\r\ns=-\r\n\
///     c=IN IP4 198.51.100.7\r\nt=0 0\r\n\
///     m=audio 31000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n\
///     a=ptime:20\r\nm=video 31002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n".parse().unwrap();
/// let a = answer(&offer, &Capabilities::new("192.0.2.10".parse().unwrap(), 10000), 42, 42).unwrap();
/// assert_eq!(
///     a.sdp.to_string(),
///     "v=0\r\no=- 42 42 IN IP4 192.0.2.10\r\ns=freya\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
///      m=audio 10000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
///      a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n\
///      m=video 0 RTP/AVP 96\r\n"
/// );
/// ```
pub fn answer(
    offer: &SessionDescription,
    caps: &Capabilities,
    session_id: u64,
    session_version: u64,
) -> Result<Answer, NegotiationError> {
    let mut first_error = None;
    let mut chosen = None;
    for (i, m) in offer.media().iter().enumerate() {
        if !is_audio_rtp(m) {
            continue;
        }
        match answer_stream(offer, i, caps) {
            Ok(r) => {
                chosen = Some(r);
                break;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let Some((negotiated, events)) = chosen else {
        return Err(first_error.unwrap_or(NegotiationError::NoAudio));
    };
    let mut sdp = session(
        &caps.username,
        session_id,
        session_version,
        &caps.session_name,
        caps.address,
    );
    if let Some(t) = offer.timings().next() {
        sdp.set_timing(*t);
    }
    for (i, m) in offer.media().iter().enumerate() {
        if i == negotiated.media_index {
            let formats = [AudioFormat {
                payload_type: negotiated.payload_type,
                codec: negotiated.codec,
            }];
            sdp.push_media(
                AudioSection {
                    port: caps.port,
                    proto: m.proto().clone(),
                    formats: &formats,
                    telephone_event: negotiated.telephone_event.zip(events.clone()),
                    ptime: Some(negotiated.ptime),
                    direction: Some(negotiated.direction),
                    rtcp_mux: negotiated.rtcp_mux,
                }
                .media(negotiated.codec.clock_rate()),
            );
        } else {
            sdp.push_media(rejected(m));
        }
    }
    Ok(Answer { sdp, negotiated })
}

/// The answer to an `m=` line we do not accept: same media type, protocol and formats,
/// port 0 (RFC 3264 §6).
pub(crate) fn rejected(m: &MediaDescription) -> MediaDescription {
    let l = m.media_line();
    MediaDescription::new(MediaLine::new(
        l.media.clone(),
        0,
        l.proto.clone(),
        l.formats.clone(),
    ))
}

/// Applies the answer to our offer (RFC 3264 §5, §6): the audio stream is the first
/// `m=audio` line of the offer with a port other than 0; the codec is the first format of
/// the answer's `m=` line that we offered (the answerer's order, at the answer's payload
/// type, which is the one to send with, §5.1); telephone-event likewise when we offered it.
/// Our direction is what our offer said restricted by the mirror of the answer's, and the
/// ptime the answer's `a=ptime` (else ours, else 20 ms).
///
/// ```
/// use freya_sip::sdp::{apply_answer, Capabilities, Codec, SessionDescription};
/// let offer = Capabilities::new("192.0.2.10".parse().unwrap(), 10000).offer(5, 5);
/// let ans: SessionDescription = "v=0\r\no=- 9 9 IN IP6 2001:db8::9\r\ns=-\r\n\
///     c=IN IP6 2001:db8::9\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 96\r\n\
///     a=rtpmap:96 telephone-event/8000\r\na=ptime:30\r\n".parse().unwrap();
/// let n = apply_answer(&offer, &ans).unwrap();
/// assert_eq!((n.codec, n.payload_type, n.telephone_event), (Codec::Pcma, 8, Some(96)));
/// assert_eq!(n.remote_rtp, "[2001:db8::9]:40000".parse().unwrap());
/// assert_eq!(n.ptime, 30);
/// ```
pub fn apply_answer(
    offer: &SessionDescription,
    answer: &SessionDescription,
) -> Result<Negotiated, NegotiationError> {
    if offer.media().len() != answer.media().len() {
        return Err(NegotiationError::MediaCountMismatch {
            offer: offer.media().len(),
            answer: answer.media().len(),
        });
    }
    let index = offer
        .media()
        .iter()
        .position(is_audio_rtp)
        .ok_or(NegotiationError::NoAudio)?;
    let (om, am) = (&offer.media()[index], &answer.media()[index]);
    if !is_audio_rtp(am) {
        return Err(NegotiationError::Rejected { index });
    }
    if !am.proto().is_plain_rtp() {
        return Err(NegotiationError::UnsupportedTransport {
            index,
            proto: am.proto().to_string(),
        });
    }
    let (ip, hold_address) = remote_ip(answer, index)?;
    let ours: Vec<Codec> = offered_formats(om)
        .iter()
        .filter_map(|(_, r)| Codec::from_rtpmap(r))
        .collect();
    let answered = offered_formats(am);
    let Some((payload_type, codec)) = answered.iter().find_map(|(pt, r)| {
        Codec::from_rtpmap(r)
            .filter(|c| ours.contains(c))
            .map(|c| (*pt, c))
    }) else {
        return Err(NegotiationError::NoCommonCodec {
            index,
            offered: describe_formats(am),
            accepted: codec_names(&ours),
        });
    };
    let offered_te = telephone_event_pt(&offered_formats(om), codec.clock_rate()).is_some();
    let telephone_event = if offered_te {
        telephone_event_pt(&answered, codec.clock_rate())
    } else {
        None
    };
    let answered_dir = stated_direction(answer, index, hold_address);
    let rtcp_mux = om.rtcp_mux() && am.rtcp_mux();
    let remote_rtp = SocketAddr::new(ip, am.port());
    Ok(Negotiated {
        media_index: index,
        codec,
        payload_type,
        telephone_event,
        remote_rtp,
        remote_rtcp: rtcp_target(am, remote_rtp, rtcp_mux),
        rtcp_mux,
        direction: offer
            .media_direction(index)
            .intersect(answered_dir.reverse()),
        ptime: ptime_for(am, om.ptime().filter(|p| *p > 0).unwrap_or(20)),
        remote_hold: !answered_dir.receives(),
    })
}
