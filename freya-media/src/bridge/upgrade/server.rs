//! The server's side of the opening handshake (RFC 6455 §4.2): the checks of a client's
//! request ([`parse_request`]), the 101 and the refusals.

use base64::Engine;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::http::{StatusCode, Uri};

use super::{
    check_upgrade_headers, header, malformed, read_head, shown, HeadKind, UpgradeError,
    MAX_HEADERS, VERSION,
};

/// A valid opening request (RFC 6455 §4.2.1), as the server's checks see it: what
/// [`parse_request`] returns.
///
/// ```
/// use freya_media::bridge::upgrade::parse_request;
///
/// let head = b"GET /call/c1?token=t HTTP/1.1\r\nHost: freya:8090\r\nUpgrade: websocket\r\n\
///              Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n\
///              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///              Sec-WebSocket-Protocol: chat, audio.jambonz.org\r\n\r\n";
/// let req = parse_request(head)?;
/// assert_eq!((req.path.as_str(), req.query.as_deref()), ("/call/c1", Some("token=t")));
/// assert_eq!(req.key, "dGhlIHNhbXBsZSBub25jZQ==");
/// assert!(req.offers("audio.jambonz.org") && !req.offers("audio"));
/// assert_eq!(req.headers[0], ("host".to_owned(), "freya:8090".to_owned()));
/// # Ok::<(), freya_media::bridge::upgrade::UpgradeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// The target's path, e.g. `/call/abc` (from an absolute-form target too).
    pub path: String,
    /// The target's query, without `?`.
    pub query: Option<String>,
    /// Every header in order, names in lower case (as `http::HeaderMap` gave them before);
    /// values that are not UTF-8 are left out.
    pub headers: Vec<(String, String)>,
    /// `Sec-WebSocket-Key`.
    pub key: String,
    /// The subprotocols offered (every `Sec-WebSocket-Protocol`, comma-split, trimmed).
    pub subprotocols: Vec<String>,
}

impl UpgradeRequest {
    /// Whether the client offered subprotocol `name`.
    pub fn offers(&self, name: &str) -> bool {
        self.subprotocols.iter().any(|p| p == name)
    }
}

/// Parses and checks a complete request `head` (RFC 6455 §4.2.1): GET, HTTP/1.1, a target
/// that parses as a URI, `Upgrade: websocket`, `Connection` listing `Upgrade`,
/// `Sec-WebSocket-Version: 13`, a `Sec-WebSocket-Key` of 16 bytes in base64. (`Host` and
/// `Origin` are not checked, as before.)
///
/// # Errors
/// [`UpgradeError::Malformed`], [`UpgradeError::Method`], [`UpgradeError::HttpVersion`],
/// [`UpgradeError::Target`], [`UpgradeError::MissingHeader`] or
/// [`UpgradeError::BadHeader`] naming the header; [`UpgradeError::status`] says how a
/// server answers each.
///
/// `head` is the bytes through the empty line, as a [`HeadReader`](super::HeadReader) of
/// [`HeadKind::Request`](super::HeadKind::Request) returns it (bytes after it are ignored).
/// See [`UpgradeRequest`] for an example.
pub fn parse_request(head: &[u8]) -> Result<UpgradeRequest, UpgradeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head).map_err(|e| malformed(e, head))? {
        httparse::Status::Complete(_) => {}
        httparse::Status::Partial => return Err(malformed("incomplete head", head)),
    }
    let method = request.method.unwrap_or("");
    if method != "GET" {
        return Err(UpgradeError::Method {
            method: method.to_owned(),
        });
    }
    let minor = request.version.unwrap_or(0);
    if minor != 1 {
        return Err(UpgradeError::HttpVersion { minor });
    }
    let target = request.path.unwrap_or("");
    let uri: Uri = target.parse().map_err(|_| UpgradeError::Target {
        target: target.to_owned(),
    })?;
    let headers = request.headers;
    check_upgrade_headers(headers)?;
    match header(headers, "Sec-WebSocket-Version") {
        None => {
            return Err(UpgradeError::MissingHeader {
                name: "Sec-WebSocket-Version",
            })
        }
        Some(v) if v != VERSION.as_bytes() => {
            return Err(UpgradeError::BadHeader {
                name: "Sec-WebSocket-Version",
                value: shown(v),
                expected: "13",
            })
        }
        Some(_) => {}
    }
    let key = header(headers, "Sec-WebSocket-Key").ok_or(UpgradeError::MissingHeader {
        name: "Sec-WebSocket-Key",
    })?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(key);
    if key.len() != 24 || decoded.map_or(true, |k| k.len() != 16) {
        return Err(UpgradeError::BadHeader {
            name: "Sec-WebSocket-Key",
            value: shown(key),
            expected: "16 bytes in base64",
        });
    }
    let text = |v: &[u8]| std::str::from_utf8(v).ok().map(str::to_owned);
    Ok(UpgradeRequest {
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers: headers
            .iter()
            .filter_map(|h| Some((h.name.to_ascii_lowercase(), text(h.value)?)))
            .collect(),
        key: shown(key),
        subprotocols: headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Protocol"))
            .filter_map(|h| text(h.value))
            .flat_map(|v| {
                v.split(',')
                    .map(|p| p.trim().to_owned())
                    .collect::<Vec<_>>()
            })
            .filter(|p| !p.is_empty())
            .collect(),
    })
}

/// The server's 101 answer to a request with `key` (RFC 6455 §4.2.2 item 5), echoing
/// `subprotocol` when one is chosen: the bytes of the whole head, through its empty line.
/// `Sec-WebSocket-Accept` is base64(SHA-1(`key` + the RFC's GUID)). The caller must not
/// choose a subprotocol with CR or LF in it (one from [`UpgradeRequest::subprotocols`]
/// cannot have any).
///
/// ```
/// use freya_media::bridge::upgrade::accept_response;
///
/// let head = accept_response("dGhlIHNhbXBsZSBub25jZQ==", None); // RFC 6455 §1.3's example
/// let text = String::from_utf8(head).unwrap();
/// assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
/// assert!(text.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
/// assert!(text.ends_with("\r\n\r\n"));
/// ```
pub fn accept_response(key: &str, subprotocol: Option<&str>) -> Vec<u8> {
    let mut text = format!(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        derive_accept_key(key.as_bytes())
    );
    if let Some(p) = subprotocol {
        text.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// A refusal (RFC 6455 §4.2.2: "an appropriate HTTP error code"): `status` with `why` as
/// a plain-text body (`Content-Length` in bytes); a 426 also names the version spoken
/// (RFC 6455 §4.4). `status` is usually [`UpgradeError::status`]'s.
///
/// ```
/// use freya_media::bridge::upgrade::{parse_request, refusal_response};
///
/// let err = parse_request(b"POST / HTTP/1.1\r\n\r\n").unwrap_err();
/// let status = err.status().expect("a request to answer");
/// let answer = refusal_response(status, &err.to_string());
/// assert!(answer.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
/// ```
pub fn refusal_response(status: StatusCode, why: &str) -> Vec<u8> {
    let mut text = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    if status == StatusCode::UPGRADE_REQUIRED {
        text.push_str("Sec-WebSocket-Version: 13\r\n");
    }
    text.push_str(&format!(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{why}",
        why.len()
    ));
    text.into_bytes()
}

/// Reads and checks a client's opening request ([`parse_request`]). A bad request is
/// answered with [`UpgradeError::status`] and the error as the body, and logged with
/// `peer` (a connection that fails or closes is only logged at debug level). Returns the
/// request and the bytes read past its head (the client's first frames, usually none).
///
/// # Errors
/// [`read_head`]'s and [`parse_request`]'s.
pub(in crate::bridge) async fn read_request<S>(
    stream: &mut S,
    peer: std::net::SocketAddr,
) -> Result<(UpgradeRequest, Vec<u8>), UpgradeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let result = match read_head(stream, HeadKind::Request).await {
        Ok(head) => parse_request(&head.bytes).map(|r| (r, head.leftover)),
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
        match e.status() {
            Some(status) => {
                tracing::warn!(%peer, status = status.as_u16(), error = %e, "bridge: WebSocket upgrade request refused");
                let _ = write_refusal(stream, status, &e.to_string()).await;
            }
            None => {
                tracing::debug!(%peer, error = %e, "bridge: WebSocket upgrade request not read")
            }
        }
    }
    result
}

/// Writes the 101 answer to `request` ([`accept_response`]).
///
/// # Errors
/// [`UpgradeError::Io`].
pub(in crate::bridge) async fn write_accept<S>(
    stream: &mut S,
    request: &UpgradeRequest,
    subprotocol: Option<&str>,
) -> Result<(), UpgradeError>
where
    S: AsyncWrite + Unpin,
{
    stream
        .write_all(&accept_response(&request.key, subprotocol))
        .await?;
    stream.flush().await?;
    Ok(())
}

/// Writes a refusal ([`refusal_response`]) and ends the sending side: the caller drops
/// the connection.
///
/// # Errors
/// [`UpgradeError::Io`].
pub(in crate::bridge) async fn write_refusal<S>(
    stream: &mut S,
    status: StatusCode,
    why: &str,
) -> Result<(), UpgradeError>
where
    S: AsyncWrite + Unpin,
{
    stream.write_all(&refusal_response(status, why)).await?;
    stream.shutdown().await?;
    Ok(())
}
