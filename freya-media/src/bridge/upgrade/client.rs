//! The client's side of the opening handshake (RFC 6455 §4.1): the request it writes
//! ([`ClientRequest`]) and the checks of the server's answer.

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::http::{StatusCode, Uri};

use super::{
    check_upgrade_headers, header, malformed, read_head, shown, HeadKind, UpgradeError,
    MAX_HEADERS, VERSION,
};

/// Where a `ws://` or `wss://` URL points (RFC 6455 §3): what to dial, and the `Host` and
/// resource name a [`ClientRequest`] sends.
///
/// ```
/// use freya_media::bridge::upgrade::Target;
///
/// let t = Target::parse("wss://[::1]:8443/agent?call=c1")?;
/// assert_eq!((t.tls, t.host.as_str(), t.port), (true, "::1", 8443));
/// assert_eq!(Target::parse("ws://agent.example")?.port, 80);
/// assert!(Target::parse("http://agent.example/").is_err());
/// # Ok::<(), freya_media::bridge::upgrade::UpgradeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `wss://`: TLS first.
    pub tls: bool,
    /// The host to dial and to name in TLS (an IPv6 address without its brackets).
    pub host: String,
    /// The port: the URL's, else 80 (`ws`) or 443 (`wss`).
    pub port: u16,
    /// The `Host` header: the host, with `:port` when the URL gives a non-default one
    /// (RFC 6455 §4.1 item 4 of the request).
    pub(super) host_header: String,
    /// The resource name: path and query, `/` when the URL has no path (RFC 6455 §3).
    pub(super) resource: String,
}

impl Target {
    /// Parses `url` (scheme case-insensitive; user info is ignored, as before).
    ///
    /// # Errors
    /// [`UpgradeError::Url`] when `url` is not a URI, its scheme is not `ws`/`wss`, or it
    /// has no host.
    pub fn parse(url: &str) -> Result<Target, UpgradeError> {
        let bad = |reason| UpgradeError::Url {
            url: url.to_owned(),
            reason,
        };
        let uri: Uri = url.parse().map_err(|_| bad("not a URI"))?;
        let tls = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("ws") => false,
            Some(s) if s.eq_ignore_ascii_case("wss") => true,
            _ => return Err(bad("the scheme must be ws or wss")),
        };
        let host = uri.host().filter(|h| !h.is_empty()).ok_or(bad("no host"))?;
        let default = if tls { 443 } else { 80 };
        let port = uri.port_u16().unwrap_or(default);
        let host_header = if port == default {
            host.to_owned()
        } else {
            format!("{host}:{port}")
        };
        let resource = match uri.path_and_query().map(|p| p.as_str()) {
            None | Some("") => "/".to_owned(),
            Some(p) if p.starts_with('?') => format!("/{p}"),
            Some(p) => p.to_owned(),
        };
        Ok(Target {
            tls,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            host_header,
            resource,
        })
    }
}

/// The handshake's own request headers: a caller cannot add another of these.
const OWN_HEADERS: [&str; 5] = [
    "Host",
    "Connection",
    "Upgrade",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Key",
];

/// A client's opening request (RFC 6455 §4.1) and what its answer must carry: build it with
/// [`ClientRequest::new`], write [`bytes`](Self::bytes), read the answer's head (a
/// [`HeadReader`](super::HeadReader) of [`HeadKind::Response`](super::HeadKind::Response))
/// and check it with [`ClientRequest::check_response`].
///
/// ```
/// use freya_media::bridge::upgrade::{ClientRequest, Target, UpgradeError};
///
/// let target = Target::parse("ws://agent.example:8765/ws")?;
/// let headers = [("Authorization".to_owned(), "Bearer t0k".to_owned())];
/// let req = ClientRequest::new(&target, "dGhlIHNhbXBsZSBub25jZQ==", &headers, &["audio.jambonz.org"])?;
/// assert!(req.bytes.starts_with(b"GET /ws HTTP/1.1\r\nHost: agent.example:8765\r\n"));
///
/// // RFC 6455 §1.3: this key's accept value is s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
/// let ok = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///            Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
///            Sec-WebSocket-Protocol: audio.jambonz.org\r\n\r\n";
/// assert_eq!(req.check_response(ok)?.as_deref(), Some("audio.jambonz.org"));
///
/// let refused = req.check_response(b"HTTP/1.1 401 Unauthorized\r\n\r\n").unwrap_err();
/// assert!(matches!(refused, UpgradeError::Status { code: 401, .. }));
/// # Ok::<(), UpgradeError>(())
/// ```
#[derive(Debug)]
pub struct ClientRequest {
    /// The request's bytes, to write as they are.
    pub bytes: Vec<u8>,
    /// `Sec-WebSocket-Accept` the server must answer (RFC 6455 §4.2.2 item 5.4).
    accept: String,
    /// The subprotocols offered, in order.
    offered: Vec<String>,
}

impl ClientRequest {
    /// The request for `target` with the nonce `key` (base64 of 16 random bytes, see
    /// `tungstenite::handshake::client::generate_key`), the caller's extra `headers`
    /// (`Authorization`, `Origin` …, written as given, in order) and the `subprotocols`
    /// to offer. A `Sec-WebSocket-Protocol` among `headers` is the offer when
    /// `subprotocols` is empty and is replaced by `subprotocols` otherwise.
    ///
    /// # Errors
    /// [`UpgradeError::RequestHeader`] for a header name that is not a token, a value
    /// with a control character (CR, LF …), or one of the handshake's own headers.
    pub fn new(
        target: &Target,
        key: &str,
        headers: &[(String, String)],
        subprotocols: &[&str],
    ) -> Result<ClientRequest, UpgradeError> {
        use std::fmt::Write as _;
        let mut offered: Vec<String> = subprotocols.iter().map(|p| (*p).to_owned()).collect();
        let mut text = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: {VERSION}\r\nSec-WebSocket-Key: {key}\r\n",
            target.resource, target.host_header
        );
        if !subprotocols.is_empty() {
            let _ = write!(
                text,
                "Sec-WebSocket-Protocol: {}\r\n",
                subprotocols.join(", ")
            );
        }
        for (name, value) in headers {
            let refuse = |reason| UpgradeError::RequestHeader {
                name: name.clone(),
                reason,
            };
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err(refuse("the name is not an HTTP token"));
            }
            if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                return Err(refuse("the value has a control character"));
            }
            if OWN_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
                return Err(refuse("the handshake sets this header itself"));
            }
            if name.eq_ignore_ascii_case("Sec-WebSocket-Protocol") {
                if !subprotocols.is_empty() {
                    continue;
                }
                offered.extend(value.split(',').map(|p| p.trim().to_owned()));
            }
            let _ = write!(text, "{name}: {value}\r\n");
        }
        text.push_str("\r\n");
        Ok(ClientRequest {
            bytes: text.into_bytes(),
            accept: derive_accept_key(key.as_bytes()),
            offered,
        })
    }

    /// Checks the server's complete answer `head` (RFC 6455 §4.1, the client's checks
    /// 1-6; extensions are not checked, none being offered, as before): the subprotocol
    /// the server chose, if any.
    ///
    /// # Errors
    /// [`UpgradeError::Status`] for a status other than 101 (e.g. 401, 404), with the
    /// reason phrase sent; [`UpgradeError::HttpVersion`]; [`UpgradeError::MissingHeader`]
    /// or [`UpgradeError::BadHeader`] for `Upgrade` and `Connection`;
    /// [`UpgradeError::AcceptMismatch`]; [`UpgradeError::NoSubprotocol`] when one was
    /// offered and none chosen; [`UpgradeError::UnofferedSubprotocol`];
    /// [`UpgradeError::Malformed`] when `head` is not a complete HTTP response.
    pub fn check_response(&self, head: &[u8]) -> Result<Option<String>, UpgradeError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(head).map_err(|e| malformed(e, head))? {
            httparse::Status::Complete(_) => {}
            httparse::Status::Partial => return Err(malformed("incomplete head", head)),
        }
        let code = response.code.unwrap_or(0);
        if code != 101 {
            // The phrase sent, else the standard one (an empty phrase is allowed).
            let reason = match response.reason.unwrap_or("").trim() {
                "" => StatusCode::from_u16(code)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or(""),
                sent => sent,
            };
            return Err(UpgradeError::Status {
                code,
                reason: shown(reason.as_bytes()),
            });
        }
        let minor = response.version.unwrap_or(0);
        if minor != 1 {
            return Err(UpgradeError::HttpVersion { minor });
        }
        let headers = response.headers;
        check_upgrade_headers(headers)?;
        let accept = header(headers, "Sec-WebSocket-Accept");
        if accept != Some(self.accept.as_bytes()) {
            return match accept {
                None => Err(UpgradeError::MissingHeader {
                    name: "Sec-WebSocket-Accept",
                }),
                Some(v) => Err(UpgradeError::AcceptMismatch {
                    got: shown(v),
                    expected: self.accept.clone(),
                }),
            };
        }
        let offered = || self.offered.join(", ");
        match header(headers, "Sec-WebSocket-Protocol") {
            None if self.offered.is_empty() => Ok(None),
            None => Err(UpgradeError::NoSubprotocol { offered: offered() }),
            Some(v) => {
                // Compared whole (a shortened copy is only for the error message): an
                // offered name longer than the message's excerpt must still match.
                match self.offered.iter().find(|o| o.as_bytes() == v) {
                    Some(o) => Ok(Some(o.clone())),
                    None => Err(UpgradeError::UnofferedSubprotocol {
                        chosen: shown(v),
                        offered: offered(),
                    }),
                }
            }
        }
    }
}

/// RFC 7230 §3.2.6 `tchar`: the bytes of a header name.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The client's side of the handshake over an open (TCP or TLS) `stream`: writes
/// `request`, reads and checks the answer. Returns the subprotocol chosen and the bytes
/// read past the head (the server's first frames, usually none).
///
/// # Errors
/// [`UpgradeError::Io`], [`UpgradeError::Closed`], [`UpgradeError::HeadTooLarge`],
/// [`UpgradeError::Malformed`], or one of [`ClientRequest::check_response`]'s.
pub(in crate::bridge) async fn client_handshake<S>(
    stream: &mut S,
    request: &ClientRequest,
) -> Result<(Option<String>, Vec<u8>), UpgradeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(&request.bytes).await?;
    stream.flush().await?;
    let head = read_head(stream, HeadKind::Response).await?;
    let chosen = request.check_response(&head.bytes)?;
    Ok((chosen, head.leftover))
}
