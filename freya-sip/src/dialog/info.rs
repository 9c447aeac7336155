//! Bodies of in-dialog requests: DTMF in SIP INFO (`application/dtmf-relay`, the Cisco
//! format `Signal=5` / `Duration=160`, and `application/dtmf`, a bare digit), and the SDP
//! part of an INVITE body (`application/sdp`, or inside `multipart/mixed` as SIP-I trunks
//! send it with ISUP).

use crate::message::Message;
use crate::sdp::{SdpError, SessionDescription};

/// One DTMF key press carried by a SIP INFO.
///
/// ```
/// use freya_sip::dialog::Dtmf;
/// let d = Dtmf::parse("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n").unwrap();
/// assert_eq!((d.digit, d.duration_ms), ('5', Some(160)));
/// assert_eq!(d.event_code(), 5);
/// let d = Dtmf::parse("application/dtmf", b"#").unwrap();
/// assert_eq!((d.digit, d.duration_ms), ('#', None));
/// assert_eq!(Dtmf::parse("application/dtmf-relay", b"Signal=11\r\n").unwrap().digit, '#');
/// assert!(Dtmf::parse("application/dtmf-relay", b"Duration=160").is_err());
/// assert_eq!(Dtmf::new('7', 250).relay_body(), "Signal=7\r\nDuration=250\r\n");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dtmf {
    /// The key: `0`–`9`, `*`, `#`, `A`–`D`, or `!` for a flash (RFC 4733 event 16).
    pub digit: char,
    /// How long the key was held, in milliseconds, when the body says.
    pub duration_ms: Option<u32>,
}

/// Why a DTMF body was refused (the INFO is answered 400 with this in a Warning).
///
/// ```
/// use freya_sip::dialog::{Dtmf, DtmfError};
/// assert_eq!(Dtmf::parse("application/dtmf", b"Z"), Err(DtmfError::BadSignal("Z".into())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// No `Signal=` line in an `application/dtmf-relay` body.
    #[error("no Signal= line in the dtmf-relay body")]
    NoSignal,
    /// A signal that is no DTMF key (nor an RFC 4733 event code 0–16).
    #[error("{0:?} is not a DTMF key")]
    BadSignal(String),
    /// A Duration that is not a number.
    #[error("Duration {0:?} is not a number of milliseconds")]
    BadDuration(String),
    /// The body is not UTF-8 text.
    #[error("the DTMF body is not text")]
    NotText,
}

const KEYS: [char; 17] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D', '!',
];

fn key(s: &str) -> Result<char, DtmfError> {
    let s = s.trim();
    let mut chars = s.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        let c = c.to_ascii_uppercase();
        if KEYS.contains(&c) {
            return Ok(c);
        }
    }
    // RFC 4733 event codes, as some gateways write them (10 = *, 11 = #, 16 = flash).
    match s.parse::<usize>().ok().and_then(|n| KEYS.get(n)) {
        Some(&c) => Ok(c),
        None => Err(DtmfError::BadSignal(s.chars().take(32).collect())),
    }
}

impl Dtmf {
    /// A key press of `digit` held `duration_ms` milliseconds.
    pub fn new(digit: char, duration_ms: u32) -> Dtmf {
        Dtmf {
            digit,
            duration_ms: Some(duration_ms),
        }
    }

    /// Whether `content_type` (parameters ignored) is a DTMF body type this reads.
    pub fn is_dtmf_type(content_type: &str) -> bool {
        let t = content_type.split(';').next().unwrap_or("").trim();
        t.eq_ignore_ascii_case("application/dtmf-relay")
            || t.eq_ignore_ascii_case("application/dtmf")
    }

    /// Reads an INFO body of type `application/dtmf-relay` (`Signal=` and `Duration=`
    /// lines, any order, any line ends) or `application/dtmf` (the key alone).
    ///
    /// # Errors
    /// A [`DtmfError`] naming what is wrong.
    pub fn parse(content_type: &str, body: &[u8]) -> Result<Dtmf, DtmfError> {
        let text = std::str::from_utf8(body).map_err(|_| DtmfError::NotText)?;
        let t = content_type.split(';').next().unwrap_or("").trim();
        if !t.eq_ignore_ascii_case("application/dtmf-relay") {
            return Ok(Dtmf {
                digit: key(text)?,
                duration_ms: None,
            });
        }
        let mut digit = None;
        let mut duration_ms = None;
        for line in text.lines() {
            let Some((name, value)) = line.split_once('=') else {
                continue;
            };
            let name = name.trim();
            if name.eq_ignore_ascii_case("signal") {
                digit = Some(key(value)?);
            } else if name.eq_ignore_ascii_case("duration") {
                let v = value.trim();
                duration_ms = Some(
                    v.parse::<u32>()
                        .map_err(|_| DtmfError::BadDuration(v.chars().take(32).collect()))?,
                );
            }
        }
        Ok(Dtmf {
            digit: digit.ok_or(DtmfError::NoSignal)?,
            duration_ms,
        })
    }

    /// The RFC 4733 event code of the key (0–9, `*` 10, `#` 11, `A`–`D` 12–15, flash 16).
    pub fn event_code(&self) -> u8 {
        KEYS.iter()
            .position(|&k| k == self.digit.to_ascii_uppercase())
            .and_then(|p| u8::try_from(p).ok())
            .unwrap_or(0)
    }

    /// The `application/dtmf-relay` body for this key press.
    pub fn relay_body(&self) -> String {
        format!(
            "Signal={}\r\nDuration={}\r\n",
            self.digit,
            self.duration_ms.unwrap_or(160)
        )
    }
}

/// The SDP of a message body: `None` when the message has no body or none of SDP type;
/// the parsed description (or why it does not parse) otherwise. `application/sdp` is read
/// directly; in a `multipart/mixed` body (RFC 2046, SIP-I with ISUP) the first
/// `application/sdp` part is read.
pub(crate) fn sdp_of(m: &Message) -> Option<Result<SessionDescription, SdpError>> {
    let body = m.body();
    if body.is_empty() {
        return None;
    }
    let ct = m.content_type().unwrap_or("application/sdp");
    let mut params = ct.split(';');
    let t = params.next().unwrap_or("").trim();
    if t.eq_ignore_ascii_case("application/sdp") {
        return Some(SessionDescription::parse(body));
    }
    if !t.to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    let boundary = params.find_map(|p| {
        let (n, v) = p.split_once('=')?;
        n.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })?;
    multipart_sdp(body, &boundary).map(SessionDescription::parse)
}

/// Whether the message's body is (or holds) something other than SDP that we would have
/// to understand: a body with a Content-Type that is neither SDP nor multipart.
pub(crate) fn has_foreign_body(m: &Message) -> bool {
    if m.body().is_empty() {
        return false;
    }
    let ct = m.content_type().unwrap_or("application/sdp");
    let t = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    t != "application/sdp" && !t.starts_with("multipart/")
}

/// The body of the first `application/sdp` part of a multipart body.
fn multipart_sdp<'b>(body: &'b [u8], boundary: &str) -> Option<&'b [u8]> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    while let Some(p) = memchr::memmem::find(&body[i..], d) {
        starts.push(i + p);
        i += p + d.len();
    }
    for w in starts.windows(2) {
        let (s, e) = (w[0] + d.len(), w[1]);
        let part = body.get(s..e)?;
        let head_end = memchr::memmem::find(part, b"\r\n\r\n")
            .map(|h| (h, h + 4))
            .or_else(|| memchr::memmem::find(part, b"\n\n").map(|h| (h, h + 2)))?;
        let head = String::from_utf8_lossy(&part[..head_end.0]).to_ascii_lowercase();
        let is_sdp = head.lines().any(|l| {
            l.split_once(':').is_some_and(|(n, v)| {
                n.trim() == "content-type" && v.trim().starts_with("application/sdp")
            })
        });
        if is_sdp {
            let content = &part[head_end.1..];
            // The CRLF before the next delimiter belongs to the delimiter.
            let content = content
                .strip_suffix(b"\r\n")
                .or_else(|| content.strip_suffix(b"\n"))
                .unwrap_or(content);
            return Some(content);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::parse;

    #[test]
    fn multipart_sdp_is_found() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        let body = format!(
            "--b1\r\nContent-Type: application/sdp\r\n\r\n{sdp}\r\n--b1\r\nContent-Type: application/isup;version=itu-t92+\r\n\r\n\x01\x02\r\n--b1--\r\n"
        );
        let m = parse(bytes::Bytes::from(format!(
            "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:c@d>;tag=1\r\n\
             To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\
             Content-Type: multipart/mixed;boundary=b1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )))
        .unwrap();
        let d = sdp_of(&m).unwrap().unwrap();
        assert_eq!(d.media()[0].port(), 4000);
        assert!(!has_foreign_body(&m));
    }

    #[test]
    fn dtmf_variants() {
        for (ct, body, digit, dur) in [
            (
                "application/dtmf-relay",
                &b"Signal= *\nDuration= 100"[..],
                '*',
                Some(100),
            ),
            (
                "Application/DTMF-Relay",
                b"duration=90\r\nsignal=a\r\n",
                'A',
                Some(90),
            ),
            ("application/dtmf", b"10", '*', None),
            ("application/dtmf", b" 9 \r\n", '9', None),
        ] {
            let d = Dtmf::parse(ct, body).unwrap();
            assert_eq!((d.digit, d.duration_ms), (digit, dur), "{body:?}");
        }
        assert!(Dtmf::parse("application/dtmf-relay", b"Signal=5\nDuration=x").is_err());
        assert!(Dtmf::parse("application/dtmf", b"\xff").is_err());
        assert!(Dtmf::parse("application/dtmf", b"17").is_err());
    }
}
