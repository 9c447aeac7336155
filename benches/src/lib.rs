//! The benchmark inputs (exact bytes, CRLF line endings, stored in `data/`) and the one call per
//! parser that the criterion bench times. Keeping the calls here lets `cargo test -p
//! freya-benches` check that every input still parses with every parser, so a bench can never
//! silently time an error path.

mod rtp_inputs;
pub use rtp_inputs::{freya_rtp_parse, rtp_inputs, webrtc_rtp_unmarshal, RtpInput};

/// One benchmark message: a short name (the criterion group) and its exact bytes.
#[derive(Debug, Clone, Copy)]
pub struct BenchMessage {
    /// Group name: `invite`, `180_ringing`, `200_ok_sdp`, `bye`.
    pub name: &'static str,
    /// The message as received on the wire.
    pub bytes: &'static [u8],
}

/// The four messages of one carrier call, in call order.
pub const MESSAGES: [BenchMessage; 4] = [
    BenchMessage {
        name: "invite",
        bytes: include_bytes!("../data/invite.sip"),
    },
    BenchMessage {
        name: "180_ringing",
        bytes: include_bytes!("../data/ringing.sip"),
    },
    BenchMessage {
        name: "200_ok_sdp",
        bytes: include_bytes!("../data/ok_sdp.sip"),
    },
    BenchMessage {
        name: "bye",
        bytes: include_bytes!("../data/bye.sip"),
    },
];

/// Header slots handed to parsip, as in its own examples.
pub const PARSIP_MAX_HEADERS: usize = 64;

/// parsip 0.1 (httparse-style): parses the start line and the header section into a
/// caller-provided array of 64 name/value slices; it does not look at the body. Returns the
/// length of the head and the number of headers, or `None` when parsip refuses the input or
/// needs more bytes.
pub fn parsip_parse(data: &[u8]) -> Option<(usize, usize)> {
    let mut headers = [parsip::EMPTY_HEADER; PARSIP_MAX_HEADERS];
    if data.starts_with(b"SIP/") {
        let mut res = parsip::Response::new(&mut headers);
        match res.parse(data) {
            parsip::IResult::Done(_, head_len) => Some((head_len, res.headers.len())),
            _ => None,
        }
    } else {
        let mut req = parsip::Request::new(&mut headers);
        match req.parse(data) {
            parsip::IResult::Done(_, head_len) => Some((head_len, req.headers.len())),
            _ => None,
        }
    }
}

/// rsip 0.4: `SipMessage::try_from(&[u8])`.
pub fn rsip_parse(data: &[u8]) -> Result<rsip::SipMessage, rsip::Error> {
    rsip::SipMessage::try_from(data)
}

/// rsip 0.4 parse, then serialize with `Vec::<u8>::from(msg)`.
pub fn rsip_roundtrip(data: &[u8]) -> Result<Vec<u8>, rsip::Error> {
    rsip_parse(data).map(Vec::<u8>::from)
}
