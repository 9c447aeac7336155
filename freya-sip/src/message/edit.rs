//! Editing a parsed message without disturbing what is not edited (DESIGN.md principle 3):
//! untouched headers are written back from their received bytes; an edited header keeps its
//! name and the spacing before its value, and only the value is rewritten.

use bytes::{BufMut, Bytes, BytesMut};

use super::grammar::is_token;
use super::names::same_header;
use super::uri::Uri;
use super::{parse_with, Framing, Limits, Message, ParseError, StartLine};

/// Why an edit was refused. Nothing is written until [`Editor::finish`], so a refused edit
/// leaves the editor as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// A header name that is not an RFC 3261 token (non-ASCII letters included).
    #[error("header name {name:?} holds a non-token byte 0x{hex} at offset {offset}")]
    InvalidHeaderName {
        /// The name given.
        name: String,
        /// Byte offset of the first bad byte in the name.
        offset: usize,
        /// The bad byte(s), hex.
        hex: String,
    },
    /// A header value holding CR or LF (which would inject a header).
    #[error("value of header {name:?} holds CR or LF at offset {offset}")]
    InvalidHeaderValue {
        /// The header's name.
        name: String,
        /// Byte offset of the CR/LF in the value.
        offset: usize,
    },
    /// A Request-URI that does not parse (RFC 3261 §19.1) or holds headers.
    #[error("invalid Request-URI {uri:?}: {reason}")]
    InvalidRequestUri {
        /// The URI given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The Request-URI of a response was asked to change.
    #[error("a response has no Request-URI")]
    NotARequest,
    /// A header index beyond the message's headers.
    #[error("no header at index {0}")]
    NoSuchHeader(usize),
    /// The edited message no longer parses (for example a Via value made malformed).
    #[error("edited message does not parse: {0}")]
    Reparse(#[from] ParseError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Keep,
    Remove,
    Replace(String),
}

/// Edits a copy of a [`Message`]; [`Editor::finish`] writes the result and parses it again.
///
/// ```
/// use freya_sip::message::parse;
/// let raw = b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
///             from:  <sip:a@x>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c\r\n\
///             CSeq: 1 INVITE\r\nX-Trace :  keep me\r\nContent-Length: 0\r\n\r\n";
/// let m = parse(bytes::Bytes::from_static(raw)).unwrap();
/// let mut e = m.edit();
/// e.set_request_uri("sip:bob@192.0.2.9:5080").unwrap();
/// e.add_header("X-Freya-Call-Id", "5b1e…").unwrap();
/// e.set_body(bytes::Bytes::from_static(b"v=0\r\n"), Some("application/sdp")).unwrap();
/// let out = e.finish().unwrap();
/// assert_eq!(out.request_uri(), Some("sip:bob@192.0.2.9:5080"));
/// assert_eq!(out.content_length(), Some(5));
/// let text = String::from_utf8(out.to_bytes().to_vec()).unwrap();
/// assert!(text.contains("from:  <sip:a@x>;tag=1\r\n"));     // untouched bytes
/// assert!(text.contains("X-Trace :  keep me\r\n"));
/// ```
#[derive(Debug, Clone)]
pub struct Editor {
    msg: Message,
    request_uri: Option<String>,
    changes: Vec<Change>,
    /// (insert before this original index — `len` means after the last header, name, value)
    inserts: Vec<(usize, String, String)>,
    body: Option<Bytes>,
}

fn check_name(name: &str) -> Result<(), EditError> {
    match name.bytes().position(|b| !is_token(b)) {
        None if !name.is_empty() => Ok(()),
        pos => {
            let offset = pos.unwrap_or(0);
            let end = name[offset..]
                .char_indices()
                .nth(1)
                .map_or(name.len(), |(i, _)| offset + i);
            Err(EditError::InvalidHeaderName {
                name: name.to_owned(),
                offset,
                hex: name.as_bytes()[offset..end]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            })
        }
    }
}

fn check_value(name: &str, value: &str) -> Result<(), EditError> {
    match value.bytes().position(|b| b == b'\r' || b == b'\n') {
        None => Ok(()),
        Some(offset) => Err(EditError::InvalidHeaderValue {
            name: name.to_owned(),
            offset,
        }),
    }
}

impl Editor {
    pub(crate) fn new(msg: Message) -> Editor {
        let n = msg.headers.len();
        Editor {
            msg,
            request_uri: None,
            changes: vec![Change::Keep; n],
            inserts: Vec::new(),
            body: None,
        }
    }

    fn matching(&self, name: &str) -> Vec<usize> {
        let b = &self.msg.buf;
        self.msg
            .headers
            .iter()
            .enumerate()
            .filter(|(i, e)| self.changes[*i] != Change::Remove && same_header(e.name.str(b), name))
            .map(|(i, _)| i)
            .collect()
    }

    /// Sets header `name` to `value`: the first row of that header (compact forms and any
    /// case match) gets the new value in place, further rows are removed; when there is none,
    /// the header is added after the last one.
    ///
    /// # Errors
    /// [`EditError::InvalidHeaderName`] for a non-token name, [`EditError::InvalidHeaderValue`]
    /// for a value with CR/LF.
    pub fn set_header(&mut self, name: &str, value: &str) -> Result<&mut Self, EditError> {
        check_name(name)?;
        check_value(name, value)?;
        let rows = self.matching(name);
        match rows.split_first() {
            Some((first, rest)) => {
                self.changes[*first] = Change::Replace(value.to_owned());
                for r in rest {
                    self.changes[*r] = Change::Remove;
                }
            }
            None => self
                .inserts
                .push((self.msg.headers.len(), name.to_owned(), value.to_owned())),
        }
        Ok(self)
    }

    /// Replaces the value of the header at `index` (as [`HeaderField::index`](super::HeaderField::index) counts).
    ///
    /// # Errors
    /// [`EditError::NoSuchHeader`], or a value with CR/LF.
    pub fn set_header_at(&mut self, index: usize, value: &str) -> Result<&mut Self, EditError> {
        let e = self
            .msg
            .headers
            .get(index)
            .ok_or(EditError::NoSuchHeader(index))?;
        check_value(e.name.str(&self.msg.buf), value)?;
        self.changes[index] = Change::Replace(value.to_owned());
        Ok(self)
    }

    /// Adds a header after the last one.
    ///
    /// # Errors
    /// As [`Editor::set_header`].
    pub fn add_header(&mut self, name: &str, value: &str) -> Result<&mut Self, EditError> {
        check_name(name)?;
        check_value(name, value)?;
        self.inserts
            .push((self.msg.headers.len(), name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Inserts a header before the header at `index` (0 puts it first: a proxy's new Via).
    ///
    /// # Errors
    /// As [`Editor::set_header`], and [`EditError::NoSuchHeader`] past the end.
    pub fn insert_header(
        &mut self,
        index: usize,
        name: &str,
        value: &str,
    ) -> Result<&mut Self, EditError> {
        if index > self.msg.headers.len() {
            return Err(EditError::NoSuchHeader(index));
        }
        check_name(name)?;
        check_value(name, value)?;
        self.inserts
            .push((index, name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Removes every row of header `name`; returns how many were removed.
    pub fn remove_header(&mut self, name: &str) -> usize {
        let rows = self.matching(name);
        for r in &rows {
            self.changes[*r] = Change::Remove;
        }
        let before = self.inserts.len();
        self.inserts.retain(|(_, n, _)| !same_header(n, name));
        rows.len() + (before - self.inserts.len())
    }

    /// Removes the header at `index`.
    ///
    /// # Errors
    /// [`EditError::NoSuchHeader`].
    pub fn remove_header_at(&mut self, index: usize) -> Result<&mut Self, EditError> {
        if index >= self.msg.headers.len() {
            return Err(EditError::NoSuchHeader(index));
        }
        self.changes[index] = Change::Remove;
        Ok(self)
    }

    /// Changes the Request-URI (RFC 3261 §16.5 retargeting, §12.2.1.1 remote target).
    ///
    /// # Errors
    /// [`EditError::NotARequest`] on a response; [`EditError::InvalidRequestUri`] for a URI
    /// that does not parse or carries headers.
    pub fn set_request_uri(&mut self, uri: &str) -> Result<&mut Self, EditError> {
        if !self.msg.is_request() {
            return Err(EditError::NotARequest);
        }
        let bad = |reason: String| EditError::InvalidRequestUri {
            uri: uri.to_owned(),
            reason,
        };
        match Uri::parse(uri) {
            Ok(Uri::Sip(u)) if !u.headers.is_empty() => {
                return Err(bad("headers are not allowed in a Request-URI".into()))
            }
            Ok(_) => {}
            Err(e) => return Err(bad(format!("{} at offset {}", e.what, e.at))),
        }
        self.request_uri = Some(uri.to_owned());
        Ok(self)
    }

    /// Replaces the body; Content-Length is set to its length (added if missing) and, when
    /// `content_type` is given, Content-Type too. An empty body with `None` leaves
    /// Content-Type alone.
    ///
    /// # Errors
    /// As [`Editor::set_header`] for the Content-Type value.
    pub fn set_body(
        &mut self,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<&mut Self, EditError> {
        if let Some(ct) = content_type {
            self.set_header("Content-Type", ct)?;
        }
        self.set_header("Content-Length", &body.len().to_string())?;
        self.body = Some(body);
        Ok(self)
    }

    /// Writes the edited message and parses it again.
    ///
    /// # Errors
    /// [`EditError::Reparse`] when the result does not parse (an edit broke a checked
    /// header's grammar, for example).
    pub fn finish(self) -> Result<Message, EditError> {
        let m = &self.msg;
        let b: &[u8] = &m.buf;
        let mut out = BytesMut::with_capacity(b.len() + 256);
        let first_header = m.head_start();
        // Start line.
        match (&self.request_uri, m.start) {
            (Some(uri), StartLine::Request { uri: span, .. }) => {
                out.put_slice(&b[..span.s as usize]);
                out.put_slice(uri.as_bytes());
                out.put_slice(&b[span.e as usize..first_header]);
            }
            _ => out.put_slice(&b[..first_header]),
        }
        let eol: &[u8] = if b[..first_header].ends_with(b"\r\n") {
            b"\r\n"
        } else {
            b"\n"
        };
        let mut inserts = self.inserts.clone();
        inserts.sort_by_key(|(i, _, _)| *i); // stable: same-index inserts keep their order
        let mut ins = inserts.iter().peekable();
        let put_new = |out: &mut BytesMut, name: &str, value: &str| {
            out.put_slice(name.as_bytes());
            out.put_slice(b": ");
            out.put_slice(value.as_bytes());
            out.put_slice(eol);
        };
        for (i, e) in m.headers.iter().enumerate() {
            while let Some((_, n, v)) = ins.next_if(|(at, _, _)| *at == i) {
                put_new(&mut out, n, v);
            }
            match &self.changes[i] {
                Change::Keep => out.put_slice(e.line.bytes(b)),
                Change::Remove => {}
                Change::Replace(v) => {
                    // Name, spacing and colon as received; new value; the row's own EOL.
                    let vs = e.value.s as usize;
                    out.put_slice(&b[e.line.s as usize..vs]);
                    out.put_slice(v.as_bytes());
                    let line = e.line.bytes(b);
                    out.put_slice(if line.ends_with(b"\r\n") {
                        b"\r\n"
                    } else {
                        b"\n"
                    });
                }
            }
        }
        for (_, n, v) in ins {
            put_new(&mut out, n, v);
        }
        // The empty line, then the body.
        let last_end = m.headers.last().map_or(first_header, |h| h.line.e as usize);
        out.put_slice(&b[last_end..m.body_start as usize]);
        match &self.body {
            Some(body) => out.put_slice(body),
            None => out.put_slice(m.body()),
        }
        let limits = Limits {
            max_message_size: usize::MAX,
            ..Limits::default()
        };
        Ok(parse_with(out.freeze(), &limits, Framing::Datagram)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::parse;

    const RAW: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
        X-A:\tfolded\r\n  value\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\ni: c\r\n\
        CSeq: 1 OPTIONS\r\nX-Utf8: caf\xc3\xa9\r\n\r\n";

    #[test]
    fn untouched_message_is_identical() {
        let m = parse(Bytes::from_static(RAW)).unwrap();
        assert_eq!(
            m.edit().finish().unwrap().to_bytes(),
            Bytes::from_static(RAW)
        );
    }

    #[test]
    fn set_keeps_name_and_spacing() {
        let m = parse(Bytes::from_static(RAW)).unwrap();
        let mut e = m.edit();
        e.set_header("x-a", "new").unwrap();
        e.set_header("Call-ID", "d").unwrap();
        let out = e.finish().unwrap();
        let s = String::from_utf8(out.to_bytes().to_vec()).unwrap();
        assert!(s.contains("\r\nX-A:\tnew\r\nFrom"), "{s}");
        assert!(s.contains("\r\ni: d\r\n"), "{s}");
        assert!(s.contains("X-Utf8: caf\u{e9}\r\n"));
    }

    #[test]
    fn refuses_non_token_names_and_injection() {
        let m = parse(Bytes::from_static(RAW)).unwrap();
        let mut e = m.edit();
        let err = e.add_header("X-\u{130}d", "1").unwrap_err();
        assert_eq!(
            err,
            EditError::InvalidHeaderName {
                name: "X-\u{130}d".into(),
                offset: 2,
                hex: "c4b0".into()
            }
        );
        assert!(e.add_header("X-Ok", "a\r\nVia: evil").is_err());
        assert!(e.set_request_uri("sip:a@b?Route=x").is_err());
    }

    #[test]
    fn remove_and_insert() {
        let m = parse(Bytes::from_static(RAW)).unwrap();
        let mut e = m.edit();
        assert_eq!(e.remove_header("X-A"), 1);
        e.insert_header(0, "Via", "SIP/2.0/TCP p;branch=z9hG4bK2")
            .unwrap();
        let out = e.finish().unwrap();
        assert_eq!(out.vias().count(), 2);
        assert_eq!(out.top_via().unwrap().transport, "TCP");
        assert!(out.header("X-A").is_none());
    }
}
