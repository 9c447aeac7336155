//! The WebSocket opening handshake (RFC 6455 §4), done by freya itself on both sides of the
//! bridge: client mode ([`ClientRequest`]: the request freya writes and the checks of the
//! agent's answer, RFC 6455 §4.1) and server mode ([`parse_request`], [`accept_response`],
//! [`refusal_response`]: the checks of an agent's request and the answers, RFC 6455 §4.2);
//! here what both share: the errors ([`UpgradeError`]) and the bounded head reader
//! ([`HeadReader`]).
//!
//! Why not tokio-tungstenite's: after its client handshake, tungstenite 0.30 keeps the
//! handshake's 4 KiB head buffer as the connection's read buffer for the connection's whole
//! life, whatever `WebSocketConfig::read_buffer_size` says (3 KiB more per call than the
//! 1 KiB the bridge asks for). Here the head is read in [`READ_STEP`]-byte reads into a
//! buffer of at most [`MAX_HEAD`] bytes that is dropped once parsed; the bytes read past the
//! head (usually none) are handed back as [`Head::leftover`] for
//! `WebSocketStream::from_partially_read`, whose read buffer is then the configured size.
//!
//! Public are the sans-IO cores only (bytes in, bytes or a verdict out), so that they can be
//! fuzzed and tested without sockets; the bridge's async shells that move those bytes over
//! TCP/TLS stay inside the crate. Every input here comes from the network (an agent's request
//! in server mode, an agent's response in client mode) and is refused with an
//! [`UpgradeError`], never a panic.
//!
//! ```
//! use freya_media::bridge::upgrade::{
//!     accept_response, parse_request, ClientRequest, HeadKind, HeadReader, Target,
//! };
//!
//! // Client mode: the request freya writes (RFC 6455 §1.3's sample nonce as the key).
//! let target = Target::parse("ws://agent.example:8765/ws?call=c1")?;
//! let request = ClientRequest::new(&target, "dGhlIHNhbXBsZSBub25jZQ==", &[], &[])?;
//!
//! // Server mode: the request arrives in reads of any size; the head reader collects it.
//! let mut reader = HeadReader::new(HeadKind::Request);
//! let mut head = None;
//! for chunk in request.bytes.chunks(7) {
//!     let space = reader.space()?;
//!     space[..chunk.len()].copy_from_slice(chunk);
//!     head = reader.filled(chunk.len())?;
//! }
//! let head = head.expect("the whole request was fed");
//! assert!(head.leftover.is_empty());
//! let parsed = parse_request(&head.bytes)?;
//! assert_eq!(parsed.path, "/ws");
//!
//! // The server's 101 passes the client's checks.
//! let answer = accept_response(&parsed.key, None);
//! assert_eq!(request.check_response(&answer)?, None);
//! # Ok::<(), freya_media::bridge::upgrade::UpgradeError>(())
//! ```

mod client;
mod server;
#[cfg(test)]
mod tests;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_tungstenite::tungstenite::http::StatusCode;

pub(in crate::bridge) use client::client_handshake;
pub use client::{ClientRequest, Target};
pub use server::{accept_response, parse_request, refusal_response, UpgradeRequest};
pub(in crate::bridge) use server::{read_request, write_accept, write_refusal};

/// Longest HTTP head accepted, request or response, in bytes (RFC 6455 §4 sets none; a
/// real upgrade head is a few hundred bytes): a [`HeadReader`] never holds more.
pub const MAX_HEAD: usize = 8 * 1024;
/// Bytes asked of the stream per read while the head is read: the most
/// [`HeadReader::space`] hands out at once.
pub const READ_STEP: usize = 512;
/// Most header lines a head may have (tungstenite's limit, kept).
pub(super) const MAX_HEADERS: usize = 124;
/// The only WebSocket version there is (RFC 6455 §4.1 item 9, §4.4).
pub(super) const VERSION: &str = "13";

/// Why an opening handshake (RFC 6455 §4) failed. Each variant names the offending value
/// (header values and head excerpts cut to 100 characters, lossy UTF-8); a server answers a
/// refused request with [`UpgradeError::status`].
///
/// ```
/// use freya_media::bridge::upgrade::{parse_request, UpgradeError};
///
/// let head = b"GET /call/c1 HTTP/1.1\r\nHost: freya\r\nUpgrade: websocket\r\n\
///              Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n\r\n";
/// let err = parse_request(head).unwrap_err();
/// assert!(matches!(err, UpgradeError::BadHeader { name: "Sec-WebSocket-Version", .. }));
/// assert!(err.to_string().contains("\"8\""));
/// assert_eq!(err.status().map(|s| s.as_u16()), Some(426)); // RFC 6455 §4.4
/// ```
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// The client's URL is not a `ws://` or `wss://` URL with a host (RFC 6455 §3).
    #[error("bad URL {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An extra client header cannot be sent (RFC 7230 §3.2: the name must be a token, the
    /// value free of control characters; the handshake's own headers are not replaceable).
    #[error("bad header {name:?}: {reason}")]
    RequestHeader {
        /// The header's name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Reading or writing the stream failed.
    #[error("IO error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection before the end of the head.
    #[error("connection closed after {read} bytes of the HTTP head")]
    Closed {
        /// Bytes of the unfinished head received.
        read: usize,
    },
    /// The head did not end within [`MAX_HEAD`] bytes.
    #[error("HTTP head longer than {limit} bytes")]
    HeadTooLarge {
        /// The limit, in bytes ([`MAX_HEAD`]).
        limit: usize,
    },
    /// The head is not HTTP/1.x (httparse's verdict).
    #[error("malformed HTTP head ({reason}) starting {start:?}")]
    Malformed {
        /// httparse's message.
        reason: String,
        /// The head's first 100 characters (lossy UTF-8).
        start: String,
    },
    /// The request's method is not GET (RFC 6455 §4.2.1 item 1).
    #[error("method {method:?}, the upgrade needs GET")]
    Method {
        /// The method sent.
        method: String,
    },
    /// Not HTTP/1.1 (RFC 6455 §4.1 item 2, §4.2.1 item 1).
    #[error("HTTP/1.{minor}, the upgrade needs HTTP/1.1")]
    HttpVersion {
        /// The minor version sent (`0` for HTTP/1.0).
        minor: u8,
    },
    /// The request target does not parse as a URI (RFC 7230 §5.3).
    #[error("bad request target {target:?}")]
    Target {
        /// The request target sent.
        target: String,
    },
    /// A header the handshake needs is absent (RFC 6455 §4.2.1, §4.1).
    #[error("no {name} header")]
    MissingHeader {
        /// The header's name.
        name: &'static str,
    },
    /// A header the handshake needs has a wrong value.
    #[error("{name}: {value:?} is not {expected}")]
    BadHeader {
        /// The header's name.
        name: &'static str,
        /// Its value (at most 100 characters).
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// The server answered something other than 101 (RFC 6455 §4.1: "handled per HTTP").
    #[error("HTTP error: {code} {reason}")]
    Status {
        /// The status code (`0` when the status line has none).
        code: u16,
        /// The reason phrase sent, else the standard one.
        reason: String,
    },
    /// `Sec-WebSocket-Accept` is not the key's digest (RFC 6455 §4.1 item 4 of the checks).
    #[error("Sec-WebSocket-Accept {got:?}, expected {expected:?}")]
    AcceptMismatch {
        /// The value sent.
        got: String,
        /// The key's digest (RFC 6455 §4.2.2 item 5.4).
        expected: String,
    },
    /// Subprotocols were offered and the server chose none (the caller decides whether to
    /// go on; freya's jambonz dial retries without the offer).
    #[error("the server chose no subprotocol of {offered:?}")]
    NoSubprotocol {
        /// The subprotocols offered, comma-separated.
        offered: String,
    },
    /// The server chose a subprotocol that was not offered (RFC 6455 §4.1 item 6).
    #[error("the server chose subprotocol {chosen:?}, not offered ({offered:?})")]
    UnofferedSubprotocol {
        /// The subprotocol the server named.
        chosen: String,
        /// The subprotocols offered, comma-separated.
        offered: String,
    },
    /// The server refused the request (answered with this status).
    #[error("refused with HTTP {status}: {why}")]
    Refused {
        /// The status answered.
        status: u16,
        /// Why.
        why: &'static str,
    },
}

impl UpgradeError {
    /// The status a server answers this request error with: 426 with our version for a
    /// version it does not speak (RFC 6455 §4.4), 431 for a head over [`MAX_HEAD`]
    /// (RFC 6585 §5), 400 for any other bad request (RFC 6455 §4.2.1); `None` when there
    /// is no request to answer (the connection failed or closed, or the bytes are not HTTP).
    /// Always a 4xx when `Some`: [`refusal_response`] builds the answer.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            UpgradeError::Io(_) | UpgradeError::Closed { .. } | UpgradeError::Refused { .. } => {
                None
            }
            // Bytes that do not even start like a request line (a TLS ClientHello sent to a
            // ws:// port) get no HTTP answer, which their sender could not read: the
            // connection is closed, as tungstenite did (a `wss://` client then reports the
            // agent closing the connection during its TLS handshake).
            UpgradeError::Malformed { start, .. }
                if !start.starts_with(|c: char| c.is_ascii_alphabetic()) =>
            {
                None
            }
            UpgradeError::HeadTooLarge { .. } => Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
            UpgradeError::BadHeader {
                name: "Sec-WebSocket-Version",
                ..
            } => Some(StatusCode::UPGRADE_REQUIRED),
            _ => Some(StatusCode::BAD_REQUEST),
        }
    }
}

/// Which kind of head a [`HeadReader`] waits for: a request (RFC 7230 §3.1.1 request line)
/// or a response (§3.1.2 status line).
///
/// ```
/// use freya_media::bridge::upgrade::{HeadKind, HeadReader};
///
/// // A status line is not a request line.
/// let mut reader = HeadReader::new(HeadKind::Request);
/// let bytes = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
/// reader.space()?[..bytes.len()].copy_from_slice(bytes);
/// assert!(reader.filled(bytes.len()).is_err());
/// # Ok::<(), freya_media::bridge::upgrade::UpgradeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadKind {
    /// A client's request (server side).
    Request,
    /// A server's response (client side).
    Response,
}

/// A complete head and what was read past it: together, exactly the bytes read.
///
/// ```
/// use freya_media::bridge::upgrade::{HeadKind, HeadReader};
///
/// let mut reader = HeadReader::new(HeadKind::Response);
/// let bytes = b"HTTP/1.1 401 Unauthorized\r\n\r\n\x81\x00"; // head + a first frame
/// reader.space()?[..bytes.len()].copy_from_slice(bytes);
/// let head = reader.filled(bytes.len())?.expect("the head is complete");
/// assert_eq!(head.bytes, b"HTTP/1.1 401 Unauthorized\r\n\r\n");
/// assert_eq!(head.leftover, b"\x81\x00");
/// # Ok::<(), freya_media::bridge::upgrade::UpgradeError>(())
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    /// The head, through its empty line.
    pub bytes: Vec<u8>,
    /// Bytes read past the head (the peer's first frames), usually none (then no
    /// allocation): they belong to the WebSocket stream.
    pub leftover: Vec<u8>,
}

/// Sans-IO collector of an HTTP/1.1 head (RFC 7230 §3: start line, headers, empty line): the
/// caller reads into [`space`](Self::space) and reports the count with
/// [`filled`](Self::filled) until a [`Head`] comes out. It holds at most [`MAX_HEAD`] bytes
/// and hands out at most [`READ_STEP`] bytes of room per read, so a peer that never ends
/// its head costs a bounded buffer and then an [`UpgradeError::HeadTooLarge`].
///
/// ```
/// use freya_media::bridge::upgrade::{HeadKind, HeadReader, UpgradeError, MAX_HEAD};
///
/// let mut reader = HeadReader::new(HeadKind::Request);
/// let first = b"GET / HTTP/1.1\r\nHost: x\r\n";
/// reader.space()?[..first.len()].copy_from_slice(first);
/// assert_eq!(reader.filled(first.len())?, None); // no empty line yet
/// assert_eq!(reader.buffered(), first.len());
/// reader.space()?[..2].copy_from_slice(b"\r\n");
/// let head = reader.filled(2)?.expect("complete");
/// assert_eq!(head.bytes.len(), first.len() + 2);
///
/// // A head that never ends stops at the cap.
/// let endless = [&b"GET / HTTP/1.1\r\nX: "[..], &[b'a'; 2 * MAX_HEAD][..]].concat();
/// let mut reader = HeadReader::new(HeadKind::Request);
/// let mut at = 0;
/// let err = loop {
///     let space = match reader.space() {
///         Ok(s) => s,
///         Err(e) => break e,
///     };
///     let n = space.len();
///     space.copy_from_slice(&endless[at..at + n]);
///     at += n;
///     assert_eq!(reader.filled(n)?, None);
/// };
/// assert_eq!((at, reader.buffered()), (MAX_HEAD, MAX_HEAD));
/// assert!(matches!(err, UpgradeError::HeadTooLarge { limit: MAX_HEAD }));
/// # Ok::<(), UpgradeError>(())
/// ```
#[derive(Debug)]
pub struct HeadReader {
    kind: HeadKind,
    /// The bytes read so far, then (after `space`) room for the next read.
    buf: Vec<u8>,
    /// How much of `buf` holds bytes read.
    len: usize,
}

impl HeadReader {
    /// A reader waiting for a head of `kind`; it allocates nothing until the first
    /// [`space`](Self::space).
    pub fn new(kind: HeadKind) -> Self {
        HeadReader {
            kind,
            buf: Vec::new(),
            len: 0,
        }
    }

    /// Where the next read goes: at most [`READ_STEP`] bytes, never past [`MAX_HEAD`].
    ///
    /// # Errors
    /// [`UpgradeError::HeadTooLarge`] when [`MAX_HEAD`] bytes are in and the head has not
    /// ended.
    pub fn space(&mut self) -> Result<&mut [u8], UpgradeError> {
        let step = READ_STEP.min(MAX_HEAD - self.len);
        if step == 0 {
            return Err(UpgradeError::HeadTooLarge { limit: MAX_HEAD });
        }
        self.buf.resize(self.len + step, 0);
        Ok(&mut self.buf[self.len..])
    }

    /// `n` bytes were read into the last [`space`](Self::space): the head once it is
    /// complete, `None` while more is needed.
    ///
    /// # Errors
    /// [`UpgradeError::Closed`] for `n == 0` (end of stream); [`UpgradeError::Malformed`]
    /// when the bytes are not an HTTP/1.x head.
    pub fn filled(&mut self, n: usize) -> Result<Option<Head>, UpgradeError> {
        if n == 0 {
            return Err(UpgradeError::Closed { read: self.len });
        }
        // Never past the space handed out (a reader cannot have written more).
        self.len = (self.len + n).min(self.buf.len());
        self.buf.truncate(self.len);
        let Some(end) = head_len(self.kind, &self.buf)? else {
            return Ok(None);
        };
        // `split_off` of nothing allocates nothing: the usual empty leftover is free.
        let leftover = self.buf.split_off(end);
        self.len = 0;
        Ok(Some(Head {
            bytes: std::mem::take(&mut self.buf),
            leftover,
        }))
    }

    /// Bytes of an unfinished head held, at most [`MAX_HEAD`] (0 again once a [`Head`] has
    /// come out).
    pub fn buffered(&self) -> usize {
        self.len
    }
}

/// The length of the head at the start of `buf` once it is complete (httparse: through
/// the empty line), `None` while it is not.
fn head_len(kind: HeadKind, buf: &[u8]) -> Result<Option<usize>, UpgradeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let status = match kind {
        HeadKind::Request => httparse::Request::new(&mut headers).parse(buf),
        HeadKind::Response => httparse::Response::new(&mut headers).parse(buf),
    }
    .map_err(|e| malformed(e, buf))?;
    Ok(match status {
        httparse::Status::Complete(n) => Some(n),
        httparse::Status::Partial => None,
    })
}

pub(super) fn malformed(e: impl std::fmt::Display, buf: &[u8]) -> UpgradeError {
    UpgradeError::Malformed {
        reason: e.to_string(),
        start: shown(buf),
    }
}

/// A header value or head excerpt for an error message: lossy UTF-8, at most 100 chars.
pub(super) fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().take(100).collect()
}

/// Reads one head of `kind` from `stream` ([`HeadReader`] over async reads).
///
/// # Errors
/// As [`HeadReader`], and [`UpgradeError::Io`] for a failed read.
pub(in crate::bridge) async fn read_head<S>(
    stream: &mut S,
    kind: HeadKind,
) -> Result<Head, UpgradeError>
where
    S: AsyncRead + Unpin,
{
    let mut reader = HeadReader::new(kind);
    loop {
        let n = stream.read(reader.space()?).await?;
        if let Some(head) = reader.filled(n)? {
            return Ok(head);
        }
    }
}

/// The first header named `name` (ASCII case-insensitive, RFC 7230 §3.2).
pub(super) fn header<'b>(headers: &[httparse::Header<'b>], name: &str) -> Option<&'b [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// Whether a header named `name` lists `token` (comma- or space-separated, ASCII
/// case-insensitive), e.g. `Connection: keep-alive, Upgrade`.
fn lists(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .flat_map(|v| v.split([',', ' ', '\t']))
        .any(|t| t.eq_ignore_ascii_case(token))
}

/// Checks `Upgrade: websocket` and `Connection: Upgrade` (RFC 6455 §4.1 items 2-3 of the
/// response checks, §4.2.1 items 3-4 of the request's).
pub(super) fn check_upgrade_headers(headers: &[httparse::Header<'_>]) -> Result<(), UpgradeError> {
    for (name, token) in [("Upgrade", "websocket"), ("Connection", "upgrade")] {
        if !lists(headers, name, token) {
            return Err(match header(headers, name) {
                None => UpgradeError::MissingHeader { name },
                Some(v) => UpgradeError::BadHeader {
                    name,
                    value: shown(v),
                    expected: if token == "upgrade" {
                        "a list with \"Upgrade\""
                    } else {
                        "\"websocket\""
                    },
                },
            });
        }
    }
    Ok(())
}
