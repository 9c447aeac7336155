//! The audio codecs freya negotiates and the RFC 3551 static payload types.

use std::fmt;

use super::attribute::Rtpmap;

/// The encoding name of RFC 4733 DTMF events (`telephone-event`).
pub const TELEPHONE_EVENT: &str = "telephone-event";

/// The dynamic payload type freya offers telephone-event with (as Asterisk does).
pub const DEFAULT_TELEPHONE_EVENT_PT: u8 = 101;

/// The telephone events freya sends and receives: DTMF 0–9, `*`, `#`, A–D and flash
/// (RFC 4733 §3.2, events 0–16), offered as `a=fmtp:101 0-16`.
pub const TELEPHONE_EVENTS: std::ops::RangeInclusive<u8> = 0..=16;

/// An audio codec freya's media layer encodes and decodes. Named as Asterisk names them in
/// `allow=` (`ulaw`, `alaw`), which is what the trunk config's `codecs` knob holds.
///
/// ```
/// use freya_sip::sdp::{parse_codec_list, Codec};
/// assert_eq!(parse_codec_list("ulaw,alaw").unwrap(), vec![Codec::Pcmu, Codec::Pcma]);
/// assert_eq!("PCMA".parse::<Codec>(), Ok(Codec::Pcma));
/// assert_eq!(Codec::Pcmu.static_payload_type(), 0);
/// assert_eq!(Codec::Pcma.encoding_name(), "PCMA");
/// assert_eq!(Codec::Pcma.clock_rate(), 8000);
/// assert_eq!(Codec::Pcmu.to_string(), "ulaw");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// G.711 µ-law, `PCMU/8000`, static payload type 0 (RFC 3551 §4.5.14). Asterisk: `ulaw`.
    Pcmu,
    /// G.711 A-law, `PCMA/8000`, static payload type 8 (RFC 3551 §4.5.14). Asterisk: `alaw`.
    Pcma,
}

impl Codec {
    /// Every codec, in freya's default preference order.
    pub const ALL: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

    /// The RFC 3551 §6 static payload type (0 for PCMU, 8 for PCMA).
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The RTP encoding name used in `a=rtpmap` (`PCMU`, `PCMA`).
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The RTP clock rate, in Hz (8000 for G.711).
    pub fn clock_rate(self) -> u32 {
        8000
    }

    /// The Asterisk name (`ulaw`, `alaw`).
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "ulaw",
            Codec::Pcma => "alaw",
        }
    }

    /// The `a=rtpmap` for this codec at its static payload type.
    pub fn rtpmap(self) -> Rtpmap {
        Rtpmap::new(
            self.static_payload_type(),
            self.encoding_name(),
            self.clock_rate(),
        )
    }

    /// The codec an rtpmap (or static payload type) describes: the encoding name ignoring
    /// ASCII case, the clock rate, and one channel.
    pub fn from_rtpmap(r: &Rtpmap) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| {
            r.is(c.encoding_name())
                && r.clock_rate == c.clock_rate()
                && r.channels.unwrap_or(1) == 1
        })
    }
}

impl fmt::Display for Codec {
    /// The Asterisk name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A codec name that is not one freya knows.
///
/// ```
/// use freya_sip::sdp::{parse_codec_list, UnknownCodec};
/// assert_eq!(parse_codec_list("ulaw,g729"), Err(UnknownCodec("g729".into())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown codec {0:?} (known: ulaw, alaw)")]
pub struct UnknownCodec(pub String);

impl std::str::FromStr for Codec {
    type Err = UnknownCodec;
    /// Parses an Asterisk name (`ulaw`, `alaw`) or an RTP encoding name (`PCMU`, `PCMA`),
    /// ASCII case ignored; also `g711u`/`g711a`, `mulaw`.
    fn from_str(s: &str) -> Result<Codec, UnknownCodec> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ulaw" | "pcmu" | "g711u" | "mulaw" => Ok(Codec::Pcmu),
            "alaw" | "pcma" | "g711a" => Ok(Codec::Pcma),
            _ => Err(UnknownCodec(s.trim().to_owned())),
        }
    }
}

/// Parses a `,`-separated codec list in preference order, as Asterisk's `allow=` and the
/// trunk config's `codecs` knob write it (`ulaw,alaw`). Blanks around names are ignored;
/// a repeated codec is kept once.
pub fn parse_codec_list(s: &str) -> Result<Vec<Codec>, UnknownCodec> {
    let mut out = Vec::new();
    for name in s.split(',').filter(|n| !n.trim().is_empty()) {
        let c: Codec = name.parse()?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

/// The RFC 3551 §6 (Tables 4 and 5) static payload type assignments: what a payload type
/// without `a=rtpmap` carries (0 → PCMU/8000, 8 → PCMA/8000, 9 → G722/8000,
/// 18 → G729/8000, …). `None` for unassigned and dynamic types.
///
/// ```
/// use freya_sip::sdp::static_payload;
/// assert_eq!(static_payload(0).unwrap().encoding, "PCMU");
/// assert_eq!(static_payload(18).unwrap().encoding, "G729");
/// assert_eq!(static_payload(101), None);
/// ```
pub fn static_payload(pt: u8) -> Option<Rtpmap> {
    let (name, rate, channels) = match pt {
        0 => ("PCMU", 8000, None),
        3 => ("GSM", 8000, None),
        4 => ("G723", 8000, None),
        5 => ("DVI4", 8000, None),
        6 => ("DVI4", 16000, None),
        7 => ("LPC", 8000, None),
        8 => ("PCMA", 8000, None),
        9 => ("G722", 8000, None),
        10 => ("L16", 44100, Some(2)),
        11 => ("L16", 44100, None),
        12 => ("QCELP", 8000, None),
        13 => ("CN", 8000, None),
        14 => ("MPA", 90000, None),
        15 => ("G728", 8000, None),
        16 => ("DVI4", 11025, None),
        17 => ("DVI4", 22050, None),
        18 => ("G729", 8000, None),
        25 => ("CelB", 90000, None),
        26 => ("JPEG", 90000, None),
        28 => ("nv", 90000, None),
        31 => ("H261", 90000, None),
        32 => ("MPV", 90000, None),
        33 => ("MP2T", 90000, None),
        34 => ("H263", 90000, None),
        _ => return None,
    };
    Some(Rtpmap {
        payload_type: pt,
        encoding: name.to_owned(),
        clock_rate: rate,
        channels,
    })
}
