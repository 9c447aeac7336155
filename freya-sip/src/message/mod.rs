//! SIP messages (RFC 3261 §7), kept as the bytes received plus an index of spans.
//!
//! A [`Message`] holds the received [`Bytes`] and, per header, where its name, value and
//! line are; nothing is copied or normalised. Serialising an unmodified message gives back
//! exactly the bytes received ([`Message::to_bytes`]); the [`Editor`] rewrites only the
//! headers it touches. Typed accessors ([`Message::vias`], [`Message::from`],
//! [`Message::cseq`], …) are slices of the same bytes.
//!
//! Refused input never disappears: [`parse`] returns a [`ParseError`] naming the kind, line,
//! byte offset and offending bytes, and [`error_response`] builds the 400/505/513 a UAS sends
//! back (RFC 3261 §8.2) when the request's essentials can be recovered.

mod addr;
mod check;
mod edit;
mod error;
mod fast;
#[cfg(test)]
mod fast_tests;
mod framer;
mod grammar;
mod names;
mod params;
mod parse;
mod quick;
mod rejects;
mod response;
mod rsip_interop;
mod scalar;
mod scan;
mod slow;
mod uri;
mod via;

use std::borrow::Cow;

use bytes::Bytes;

pub use addr::{Contact, NameAddr, NameAddrIter};
pub use edit::{EditError, Editor};
pub use error::{ErrorKind, ParseError};
pub use framer::StreamFramer;
pub use grammar::GrammarError;
pub use names::{same_header, HeaderKind};
pub use params::{unquote, ParamIter, Params};
pub use parse::{index, index_with, parse, parse_with, Framing, Limits};
pub use rejects::RejectLog;
pub use response::{check_request, error_response, response_to, Rejection};
pub use rsip_interop::RsipError;
pub use scalar::{parse_content_length, parse_max_forwards, CSeq, Reason};
pub use uri::{SipUri, Uri};
pub use via::{Via, ViaIter, MAGIC_COOKIE};

/// A byte range into the message buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub(crate) s: u32,
    pub(crate) e: u32,
}

impl Span {
    #[inline]
    pub(crate) fn new(s: usize, e: usize) -> Span {
        // Messages are bounded by Limits::max_message_size, far below 4 GiB.
        Span {
            s: s as u32,
            e: e as u32,
        }
    }

    #[inline]
    pub(crate) fn bytes<'b>(&self, b: &'b [u8]) -> &'b [u8] {
        &b[self.s as usize..self.e as usize]
    }

    /// The span as text. Only called on spans inside a message's head, which the parser
    /// checked to be UTF-8 in one pass, and which start and end next to ASCII delimiters
    /// (SP, HTAB, ':', CR, LF), hence on char boundaries.
    #[inline]
    pub(crate) fn str<'b>(&self, b: &'b [u8]) -> &'b str {
        let bytes = self.bytes(b);
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: see above; re-validating here cost a fifth of the parse time (callgrind).
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartLine {
    Request {
        method: Span,
        uri: Span,
        version: Span,
    },
    Response {
        version: Span,
        code: u16,
        reason: Span,
    },
}

/// One header line's spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) name: Span,
    /// From the first non-blank byte after the colon to the last non-blank byte of the last
    /// continuation line (folds inside).
    pub(crate) value: Span,
    /// The whole line(s), terminators included.
    pub(crate) line: Span,
    pub(crate) kind: HeaderKind,
    pub(crate) folded: bool,
}

/// A parsed SIP request or response: the received bytes and an index of spans.
///
/// ```
/// use freya_sip::message::parse;
/// let m = parse(bytes::Bytes::from_static(
///     b"INVITE sip:+14155550100@trunk.example.com SIP/2.0\r\n\
///       v: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKa1,SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKb2\r\n\
///       f: \"Carrier\" <sip:+442071838750@carrier.example>;tag=9fx\r\n\
///       t: <sip:+14155550100@trunk.example.com>\r\ni: 4f2a@198.51.100.7\r\n\
///       CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nX-Freya-Workflow-Id: wf-42\r\nl: 0\r\n\r\n",
/// )).unwrap();
/// assert_eq!(m.method(), Some("INVITE"));
/// assert_eq!(m.vias().count(), 2);
/// assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bKa1"));
/// assert_eq!(m.from().unwrap().tag(), Some("9fx"));
/// assert_eq!(m.call_id(), Some("4f2a@198.51.100.7"));
/// assert_eq!(m.header("X-FREYA-WORKFLOW-ID").unwrap().value(), "wf-42");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub(crate) buf: Bytes,
    pub(crate) start: StartLine,
    pub(crate) headers: Vec<Entry>,
    pub(crate) body_start: u32,
    /// Octets after the body that the datagram held (RFC 3261 §18.3: ignored).
    pub(crate) trailing: u32,
    /// Bytes of CRLFs skipped before the start line.
    pub(crate) skipped: u32,
    /// Lines those skipped bytes held (for error line numbers in [`Message::check`]).
    pub(crate) skipped_lines: u32,
}

/// One header as received: name and value are slices of the message bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderField<'a> {
    name: &'a str,
    value: &'a str,
    raw: &'a [u8],
    kind: HeaderKind,
    folded: bool,
    index: usize,
}

impl<'a> HeaderField<'a> {
    /// The name exactly as received (case kept; compact forms kept).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The value exactly as received, from its first non-blank byte to its last: a folded
    /// value keeps its CRLF and leading white space (see [`HeaderField::unfolded`]).
    pub fn value(&self) -> &'a str {
        self.value
    }

    /// The value with each fold (CRLF + white space) replaced by one SP, as RFC 3261 §7.3.1
    /// says it means. Borrowed unless the header was folded.
    pub fn unfolded(&self) -> Cow<'a, str> {
        if !self.folded {
            return Cow::Borrowed(self.value);
        }
        let mut out = String::with_capacity(self.value.len());
        let mut lines = self.value.split('\n');
        if let Some(first) = lines.next() {
            out.push_str(first.strip_suffix('\r').unwrap_or(first));
        }
        for l in lines {
            let l = l.strip_suffix('\r').unwrap_or(l);
            while out.ends_with([' ', '\t']) {
                out.pop();
            }
            out.push(' ');
            out.push_str(l.trim_start_matches([' ', '\t']));
        }
        Cow::Owned(out)
    }

    /// Which known header this is ([`HeaderKind::Other`] for unknown and `X-` headers).
    pub fn kind(&self) -> HeaderKind {
        self.kind
    }

    /// Whether the value spans several lines (obsolete line folding).
    pub fn is_folded(&self) -> bool {
        self.folded
    }

    /// The whole header line(s) as received, line terminators included.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Position among the message's headers (0-based), as the [`Editor`] counts them.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Message {
    #[inline]
    fn b(&self) -> &[u8] {
        &self.buf
    }

    /// Whether this is a request (else a response).
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method, case kept (methods are case-sensitive, RFC 3261 §7.1).
    pub fn method(&self) -> Option<&str> {
        match self.start {
            StartLine::Request { method, .. } => Some(method.str(self.b())),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI as received.
    pub fn request_uri(&self) -> Option<&str> {
        match self.start {
            StartLine::Request { uri, .. } => Some(uri.str(self.b())),
            StartLine::Response { .. } => None,
        }
    }

    /// The SIP version as received (`SIP/2.0`, any case).
    pub fn version(&self) -> &str {
        match self.start {
            StartLine::Request { version, .. } | StartLine::Response { version, .. } => {
                version.str(self.b())
            }
        }
    }

    /// The status code of a response (100–699).
    pub fn status_code(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase of a response, as received (may be empty, may be UTF-8).
    pub fn reason_phrase(&self) -> Option<&str> {
        match self.start {
            StartLine::Response { reason, .. } => Some(reason.str(self.b())),
            StartLine::Request { .. } => None,
        }
    }

    /// The start line without its terminator.
    pub fn start_line(&self) -> &str {
        let line = &self.b()[..self.head_start()];
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        std::str::from_utf8(line).unwrap_or("")
    }

    /// Offset just after the start line's terminator (where the first header, or the empty
    /// line of a message without headers, begins).
    pub(crate) fn head_start(&self) -> usize {
        match self.headers.first() {
            Some(h) => h.line.s as usize,
            None => memchr::memchr(b'\n', self.b()).map_or(self.buf.len(), |i| i + 1),
        }
    }

    fn field(&self, index: usize) -> HeaderField<'_> {
        let b = self.b();
        let e = &self.headers[index];
        HeaderField {
            name: e.name.str(b),
            value: e.value.str(b),
            raw: e.line.bytes(b),
            kind: e.kind,
            folded: e.folded,
            index,
        }
    }

    /// Every header in order, exactly as received.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = HeaderField<'_>> + '_ {
        (0..self.headers.len()).map(move |i| self.field(i))
    }

    /// Number of header lines (a folded header counts once).
    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// The header at `index` (0-based, as [`HeaderField::index`] gives).
    pub fn header_at(&self, index: usize) -> Option<HeaderField<'_>> {
        (index < self.headers.len()).then(|| self.field(index))
    }

    /// Every header called `name`, case-insensitively, compact forms included (`"Via"`
    /// finds `v:` rows too).
    pub fn headers_named<'s>(
        &'s self,
        name: &'s str,
    ) -> impl Iterator<Item = HeaderField<'s>> + 's {
        let kind = HeaderKind::from_name(name.as_bytes());
        (0..self.headers.len())
            .filter(move |&i| self.is_named(&self.headers[i], kind, name))
            .map(move |i| self.field(i))
    }

    /// Whether `e` is header `name`, whose kind is `kind`: known headers compare by kind
    /// (so compact forms match), others by name, case-insensitively.
    #[inline]
    fn is_named(&self, e: &Entry, kind: HeaderKind, name: &str) -> bool {
        if kind != HeaderKind::Other {
            e.kind == kind
        } else {
            e.kind == HeaderKind::Other
                && e.name.bytes(self.b()).eq_ignore_ascii_case(name.as_bytes())
        }
    }

    /// The first header called `name` (case-insensitive, compact forms included).
    pub fn header(&self, name: &str) -> Option<HeaderField<'_>> {
        let kind = HeaderKind::from_name(name.as_bytes());
        let i = self
            .headers
            .iter()
            .position(|e| self.is_named(e, kind, name))?;
        Some(self.field(i))
    }

    /// Every header of a known kind, in order.
    pub fn headers_of(&self, kind: HeaderKind) -> impl Iterator<Item = HeaderField<'_>> + '_ {
        (0..self.headers.len())
            .filter(move |&i| self.headers[i].kind == kind)
            .map(move |i| self.field(i))
    }

    fn first_value(&self, kind: HeaderKind) -> Option<&str> {
        let b = self.b();
        self.headers
            .iter()
            .find(|e| e.kind == kind)
            .map(|e| e.value.str(b))
    }

    /// Every Via value, topmost first, across all Via rows (a row may hold several).
    /// Checked by the parser, so none is malformed.
    pub fn vias(&self) -> impl Iterator<Item = Via<'_>> + '_ {
        self.headers_of(HeaderKind::Via)
            .flat_map(|h| Via::parse_list(h.value).filter_map(Result::ok))
    }

    /// The topmost Via (the one a UAS answers to, RFC 3261 §18.2.2).
    pub fn top_via(&self) -> Option<Via<'_>> {
        self.vias().next()
    }

    /// The From header (RFC 3261 §20.20).
    pub fn from(&self) -> Option<NameAddr<'_>> {
        self.first_value(HeaderKind::From)
            .and_then(|v| NameAddr::parse(v).ok())
    }

    /// The To header (RFC 3261 §20.39).
    pub fn to(&self) -> Option<NameAddr<'_>> {
        self.first_value(HeaderKind::To)
            .and_then(|v| NameAddr::parse(v).ok())
    }

    /// The Call-ID (RFC 3261 §20.8).
    pub fn call_id(&self) -> Option<&str> {
        self.first_value(HeaderKind::CallId)
    }

    /// The CSeq (RFC 3261 §20.16).
    pub fn cseq(&self) -> Option<CSeq<'_>> {
        self.first_value(HeaderKind::CSeq)
            .and_then(|v| CSeq::parse(v).ok())
    }

    /// Max-Forwards (0–255), when present.
    pub fn max_forwards(&self) -> Option<u8> {
        self.first_value(HeaderKind::MaxForwards)
            .and_then(|v| parse_max_forwards(v).ok())
    }

    /// Every Contact address, in order (`Contact: *` gives none; see [`Message::contact_wildcard`]).
    pub fn contacts(&self) -> impl Iterator<Item = NameAddr<'_>> + '_ {
        self.headers_of(HeaderKind::Contact).flat_map(|h| {
            match Contact::parse(h.value) {
                Contact::Wildcard => None,
                Contact::Addresses(it) => Some(it.filter_map(Result::ok)),
            }
            .into_iter()
            .flatten()
        })
    }

    /// Whether a Contact header is `*` (remove all bindings, RFC 3261 §10.2.2).
    pub fn contact_wildcard(&self) -> bool {
        self.headers_of(HeaderKind::Contact)
            .any(|h| matches!(Contact::parse(h.value), Contact::Wildcard))
    }

    /// The Content-Type value as received (`application/sdp`).
    pub fn content_type(&self) -> Option<&str> {
        self.first_value(HeaderKind::ContentType)
    }

    /// The Content-Length announced, when present.
    pub fn content_length(&self) -> Option<u32> {
        self.first_value(HeaderKind::ContentLength)
            .and_then(|v| parse_content_length(v).ok())
    }

    /// Route addresses in order (RFC 3261 §20.34).
    pub fn routes(&self) -> impl Iterator<Item = NameAddr<'_>> + '_ {
        self.name_addrs(HeaderKind::Route).filter_map(Result::ok)
    }

    /// Record-Route addresses in order (RFC 3261 §20.30).
    pub fn record_routes(&self) -> impl Iterator<Item = NameAddr<'_>> + '_ {
        self.name_addrs(HeaderKind::RecordRoute)
            .filter_map(Result::ok)
    }

    /// P-Asserted-Identity addresses (RFC 3325). Not checked by the parser: a malformed one
    /// is an `Err` here, and the message stays usable.
    pub fn p_asserted_identities(
        &self,
    ) -> impl Iterator<Item = Result<NameAddr<'_>, GrammarError>> + '_ {
        self.name_addrs(HeaderKind::PAssertedIdentity)
    }

    /// Remote-Party-ID addresses (draft-ietf-sip-privacy, as trunks send it). Unchecked by
    /// the parser, like [`Message::p_asserted_identities`].
    pub fn remote_party_ids(
        &self,
    ) -> impl Iterator<Item = Result<NameAddr<'_>, GrammarError>> + '_ {
        self.name_addrs(HeaderKind::RemotePartyId)
    }

    /// Diversion addresses (RFC 5806), most recent first. Unchecked by the parser.
    pub fn diversions(&self) -> impl Iterator<Item = Result<NameAddr<'_>, GrammarError>> + '_ {
        self.name_addrs(HeaderKind::Diversion)
    }

    fn name_addrs(
        &self,
        kind: HeaderKind,
    ) -> impl Iterator<Item = Result<NameAddr<'_>, GrammarError>> + '_ {
        self.headers_of(kind)
            .flat_map(|h| NameAddr::parse_list(h.value))
    }

    /// Reason values (RFC 3326), e.g. `Q.850;cause=16;text="Normal call clearing"`.
    /// Unchecked by the parser.
    pub fn reasons(&self) -> impl Iterator<Item = Result<Reason<'_>, GrammarError>> + '_ {
        self.headers_of(HeaderKind::Reason)
            .flat_map(|h| Reason::parse_list(h.value))
    }

    /// The Q.850 cause number from a Reason header, when present.
    pub fn q850_cause(&self) -> Option<u16> {
        self.reasons()
            .filter_map(Result::ok)
            .find(|r| r.is_q850())
            .and_then(|r| r.cause)
    }

    /// The body (exactly Content-Length bytes, or the rest of the datagram without one).
    pub fn body(&self) -> &[u8] {
        &self.buf[self.body_start as usize..]
    }

    /// The message's bytes, exactly as received (start line to end of body; keep-alive
    /// CRLFs before it and octets after the body not included). Zero-copy.
    pub fn to_bytes(&self) -> Bytes {
        self.buf.clone()
    }

    /// The message's bytes as a slice.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Octets the datagram held after the body (RFC 3261 §18.3 says to ignore them).
    pub fn trailing_octets(&self) -> usize {
        self.trailing as usize
    }

    /// Bytes of the input consumed by this message (skipped CRLFs, the message itself);
    /// the input's remaining bytes are [`Message::trailing_octets`].
    pub fn consumed(&self) -> usize {
        self.skipped as usize + self.buf.len()
    }

    /// Starts editing a copy of this message; see [`Editor`].
    pub fn edit(&self) -> Editor {
        Editor::new(self.clone())
    }
}
