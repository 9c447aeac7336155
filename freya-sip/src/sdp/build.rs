//! Building freya's own SDP: an audio offer (or answer) with G.711 and telephone-event.

use std::net::IpAddr;

use super::address::{Connection, Origin};
use super::attribute::{Attribute, Direction, Fmtp, Rtpmap};
use super::codec::{Codec, DEFAULT_TELEPHONE_EVENT_PT, TELEPHONE_EVENT, TELEPHONE_EVENTS};
use super::media::MediaDescription;
use super::media_line::{MediaLine, MediaType, Proto};
use super::session::SessionDescription;

/// One audio format of a media description freya writes.
pub(crate) struct AudioFormat {
    pub(crate) payload_type: u8,
    pub(crate) codec: Codec,
}

/// What goes in one audio `m=` section freya writes.
pub(crate) struct AudioSection<'a> {
    pub(crate) port: u16,
    pub(crate) proto: Proto,
    pub(crate) formats: &'a [AudioFormat],
    /// Telephone-event payload type and its event list (`0-16`).
    pub(crate) telephone_event: Option<(u8, String)>,
    pub(crate) ptime: Option<u32>,
    pub(crate) direction: Option<Direction>,
    pub(crate) rtcp_mux: bool,
}

impl AudioSection<'_> {
    /// `m=audio <port> <proto> <pts…>`, an `a=rtpmap` per format (static ones too, as most
    /// stacks write them), `a=fmtp` for telephone-event, `a=ptime`, the direction and
    /// `a=rtcp-mux`.
    pub(crate) fn media(&self, clock_rate: u32) -> MediaDescription {
        let mut formats: Vec<String> = self
            .formats
            .iter()
            .map(|f| f.payload_type.to_string())
            .collect();
        if let Some((pt, _)) = &self.telephone_event {
            formats.push(pt.to_string());
        }
        let mut m = MediaDescription::new(MediaLine::new(
            MediaType::Audio,
            self.port,
            self.proto.clone(),
            formats,
        ));
        for f in self.formats {
            m.push_attribute(Attribute::Rtpmap(Rtpmap::new(
                f.payload_type,
                f.codec.encoding_name(),
                f.codec.clock_rate(),
            )));
        }
        if let Some((pt, events)) = &self.telephone_event {
            m.push_attribute(Attribute::Rtpmap(Rtpmap::new(
                *pt,
                TELEPHONE_EVENT,
                clock_rate,
            )));
            m.push_attribute(Attribute::Fmtp(Fmtp::new(pt.to_string(), events.clone())));
        }
        if let Some(p) = self.ptime {
            m.push_attribute(Attribute::Ptime(p));
        }
        if let Some(d) = self.direction {
            m.push_attribute(Attribute::Direction(d));
        }
        if self.rtcp_mux {
            m.push_attribute(Attribute::RtcpMux);
        }
        m
    }
}

/// The session-level part freya writes: `v=0`, `o=`, `s=`, `c=`, `t=0 0`.
pub(crate) fn session(
    username: &str,
    session_id: u64,
    session_version: u64,
    session_name: &str,
    address: IpAddr,
) -> SessionDescription {
    let mut origin = Origin::new(session_id, session_version, address);
    origin.username = username.to_owned();
    let mut sdp = SessionDescription::new(origin);
    sdp.set_session_name(session_name);
    sdp.set_connection(Some(Connection::new(address)));
    sdp
}

/// Builds freya's own audio offer (or the base of an answer): `o=` with session id and
/// version, `c=`, `t=0 0` and one `m=audio` with the codecs at their static payload types
/// (PCMU/0, PCMA/8), telephone-event/8000 with `a=fmtp:<pt> 0-16` (RFC 4733 §7.1.1),
/// `a=ptime` and a direction; serialised with CRLF (RFC 8866 §5).
///
/// ```
/// use freya_sip::sdp::{Direction, SdpBuilder};
/// let sdp = SdpBuilder::new("192.0.2.10".parse().unwrap(), 10000)
///     .session(4711, 4711)
///     .build();
/// assert_eq!(
///     sdp.to_string(),
///     "v=0\r\n\
///      o=- 4711 4711 IN IP4 192.0.2.10\r\n\
///      s=freya\r\n\
///      c=IN IP4 192.0.2.10\r\n\
///      t=0 0\r\n\
///      m=audio 10000 RTP/AVP 0 8 101\r\n\
///      a=rtpmap:0 PCMU/8000\r\n\
///      a=rtpmap:8 PCMA/8000\r\n\
///      a=rtpmap:101 telephone-event/8000\r\n\
///      a=fmtp:101 0-16\r\n\
///      a=ptime:20\r\n\
///      a=sendrecv\r\n"
/// );
/// // Hold (RFC 3264 §8.4): the same offer with a=sendonly.
/// let hold = SdpBuilder::new("192.0.2.10".parse().unwrap(), 10000)
///     .direction(Direction::SendOnly)
///     .build();
/// assert_eq!(hold.media_direction(0), Direction::SendOnly);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpBuilder {
    address: IpAddr,
    port: u16,
    username: String,
    session_id: u64,
    session_version: u64,
    session_name: String,
    codecs: Vec<Codec>,
    telephone_event: Option<u8>,
    ptime: Option<u32>,
    direction: Direction,
    rtcp_mux: bool,
}

impl SdpBuilder {
    /// An offer for RTP received at `address`:`port`, with the defaults: username `-`,
    /// session id and version 0, `s=freya`, PCMU then PCMA, telephone-event at payload type
    /// 101, ptime 20 ms, sendrecv, no rtcp-mux.
    pub fn new(address: IpAddr, port: u16) -> SdpBuilder {
        SdpBuilder {
            address,
            port,
            username: "-".to_owned(),
            session_id: 0,
            session_version: 0,
            session_name: "freya".to_owned(),
            codecs: Codec::ALL.to_vec(),
            telephone_event: Some(DEFAULT_TELEPHONE_EVENT_PT),
            ptime: Some(20),
            direction: Direction::SendRecv,
            rtcp_mux: false,
        }
    }

    /// The `o=` username (`-` by default).
    pub fn username(mut self, username: &str) -> SdpBuilder {
        self.username = username.to_owned();
        self
    }

    /// The `o=` session id and version (RFC 8866 §5.2; RFC 3264 §8: the version grows by
    /// one with each changed description).
    pub fn session(mut self, id: u64, version: u64) -> SdpBuilder {
        self.session_id = id;
        self.session_version = version;
        self
    }

    /// The `s=` session name (`freya` by default).
    pub fn session_name(mut self, name: &str) -> SdpBuilder {
        self.session_name = name.to_owned();
        self
    }

    /// The codecs, in preference order (first is preferred).
    pub fn codecs(mut self, codecs: impl IntoIterator<Item = Codec>) -> SdpBuilder {
        self.codecs = codecs.into_iter().collect();
        self
    }

    /// The telephone-event payload type (96–127 by convention), or `None` to offer no
    /// RFC 4733 DTMF.
    pub fn telephone_event(mut self, payload_type: Option<u8>) -> SdpBuilder {
        self.telephone_event = payload_type;
        self
    }

    /// The `a=ptime` in milliseconds, or `None` to leave it out.
    pub fn ptime(mut self, ms: Option<u32>) -> SdpBuilder {
        self.ptime = ms;
        self
    }

    /// The direction written as `a=sendrecv` / `a=sendonly` (hold) / `a=recvonly` /
    /// `a=inactive`.
    pub fn direction(mut self, direction: Direction) -> SdpBuilder {
        self.direction = direction;
        self
    }

    /// Whether to offer RTP/RTCP multiplexing (`a=rtcp-mux`, RFC 5761).
    pub fn rtcp_mux(mut self, on: bool) -> SdpBuilder {
        self.rtcp_mux = on;
        self
    }

    /// The `m=audio` section alone.
    pub fn audio_media(&self) -> MediaDescription {
        let formats: Vec<AudioFormat> = self
            .codecs
            .iter()
            .map(|c| AudioFormat {
                payload_type: c.static_payload_type(),
                codec: *c,
            })
            .collect();
        let clock = self.codecs.first().map_or(8000, |c| c.clock_rate());
        AudioSection {
            port: self.port,
            proto: Proto::RtpAvp,
            formats: &formats,
            telephone_event: self.telephone_event.map(|pt| {
                (
                    pt,
                    format!("{}-{}", TELEPHONE_EVENTS.start(), TELEPHONE_EVENTS.end()),
                )
            }),
            ptime: self.ptime,
            direction: Some(self.direction),
            rtcp_mux: self.rtcp_mux,
        }
        .media(clock)
    }

    /// The whole description.
    pub fn build(&self) -> SessionDescription {
        let mut sdp = session(
            &self.username,
            self.session_id,
            self.session_version,
            &self.session_name,
            self.address,
        );
        sdp.push_media(self.audio_media());
        sdp
    }
}
