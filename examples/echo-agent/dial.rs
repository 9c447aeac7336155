//! `--dial`: the agent opens the WebSocket itself, as an agent of a `mode = "server"` pool
//! does: the `slot_taken` event's `connect` URL, with the agent server's bearer token.

use std::net::SocketAddr;

use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use freya::media::bridge::echo::{echo_over, EchoAgent, EchoNote};
use freya::media::bridge::ProtocolKind;

/// Dials `url` (with `Authorization: Bearer <token>` when given) and echoes until either
/// side closes; each note goes to `note` with the server's address.
///
/// # Errors
/// The handshake's refusal (e.g. HTTP 401 for a wrong token, 404 for an unknown call) or a
/// bad URL/token, in words.
pub async fn dial(
    url: &str,
    token: Option<&str>,
    protocol: Option<ProtocolKind>,
    mut note: impl FnMut(SocketAddr, &EchoNote),
) -> Result<(), String> {
    let mut request = url
        .into_client_request()
        .map_err(|e| format!("{url}: {e}"))?;
    if let Some(t) = token {
        let value = HeaderValue::from_str(&format!("Bearer {t}"))
            .map_err(|e| format!("the token cannot be a header value: {e}"))?;
        request.headers_mut().insert("Authorization", value);
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let peer = match ws.get_ref() {
        tokio_tungstenite::MaybeTlsStream::Plain(s) => s.peer_addr().ok(),
        _ => None,
    }
    .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut agent = EchoAgent::new(protocol);
    echo_over(&mut ws, &mut agent, |n| note(peer, &n))
        .await
        .map_err(|e| format!("{url}: {e}"))
}
