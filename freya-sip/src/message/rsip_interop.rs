//! Conversion to and from [`rsip::SipMessage`], the Rust ecosystem's common SIP type (the
//! differential-test partner of this parser).
//!
//! rsip normalises: it re-cases known header names, collapses the spacing after the colon and
//! does not know compact forms. So the conversion to rsip gives each known header its
//! canonical name (so that rsip's typed lookups find `v:`/`i:` rows) and its unfolded value;
//! the conversion back parses rsip's serialisation.

use std::convert::{TryFrom, TryInto};
use std::str::FromStr;

use bytes::Bytes;

use super::{HeaderKind, Message, ParseError};

/// Why a conversion between [`Message`] and [`rsip::SipMessage`] failed.
#[derive(Debug, thiserror::Error)]
pub enum RsipError {
    /// rsip refused a part of the message (an extension method, a URI it cannot read…).
    #[error("rsip refused {what} {value:?}: {source}")]
    Rsip {
        /// Which part (method, Request-URI, header).
        what: &'static str,
        /// The offending text.
        value: String,
        /// rsip's error.
        source: rsip::Error,
    },
    /// rsip's serialisation did not parse with freya's parser.
    #[error("rsip's serialisation does not parse: {0}")]
    Parse(#[from] ParseError),
}

impl TryFrom<&Message> for rsip::SipMessage {
    type Error = RsipError;

    /// Builds an rsip message holding the same start line, headers (in order; known ones
    /// under their canonical names, values unfolded) and body.
    ///
    /// ```
    /// use freya_sip::message::parse;
    /// use rsip::prelude::{HeadersExt, UntypedHeader};
    /// let m = parse(bytes::Bytes::from_static(
    ///     b"BYE sip:b@192.0.2.4 SIP/2.0\r\nv: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
    ///       f: <sip:a@x>;tag=1\r\nt: <sip:b@y>;tag=2\r\ni: c1\r\nCSeq: 2 BYE\r\nl: 0\r\n\r\n",
    /// )).unwrap();
    /// let r = rsip::SipMessage::try_from(&m).unwrap();
    /// assert_eq!(r.call_id_header().unwrap().value(), "c1");
    /// ```
    fn try_from(m: &Message) -> Result<Self, RsipError> {
        let mut headers = rsip::Headers::default();
        for h in m.headers() {
            let name = match h.kind() {
                HeaderKind::Other => h.name(),
                k => k.canonical_name().unwrap_or(h.name()),
            };
            let value = h.unfolded();
            let tok = rsip::headers::header::Tokenizer::from((name.as_bytes(), value.as_bytes()));
            let header: rsip::Header = tok.try_into().map_err(|source| RsipError::Rsip {
                what: "header",
                value: format!("{name}: {value}"),
                source,
            })?;
            headers.push(header);
        }
        let body = m.body().to_vec();
        if let (Some(method), Some(uri)) = (m.method(), m.request_uri()) {
            let method = rsip::Method::from_str(method).map_err(|source| RsipError::Rsip {
                what: "method",
                value: method.to_owned(),
                source,
            })?;
            let uri = rsip::Uri::try_from(uri).map_err(|source| RsipError::Rsip {
                what: "Request-URI",
                value: uri.to_owned(),
                source,
            })?;
            Ok(rsip::SipMessage::Request(rsip::Request {
                method,
                uri,
                version: rsip::Version::V2,
                headers,
                body,
            }))
        } else {
            Ok(rsip::SipMessage::Response(rsip::Response {
                status_code: rsip::StatusCode::from(m.status_code().unwrap_or(500)),
                version: rsip::Version::V2,
                headers,
                body,
            }))
        }
    }
}

impl TryFrom<&rsip::SipMessage> for Message {
    type Error = RsipError;

    /// Parses rsip's serialisation of the message (with freya's parser, so every rule of
    /// [`parse`](super::parse) applies).
    fn try_from(r: &rsip::SipMessage) -> Result<Self, RsipError> {
        let text: String = r.to_string();
        Ok(super::parse(Bytes::from(text))?)
    }
}
