//! `--dial`: the agent opens the WebSocket itself, as an agent of a `mode = "server"` pool
//! does: the `slot_taken` event's `connect` URL, with the agent server's bearer token.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use freya::media::bridge::echo::{EchoAgent, EchoNote};
use freya::media::bridge::{ProtocolKind, WsMessage};

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
    while let Some(m) = ws.next().await {
        let msg = match m.map_err(|e| format!("{url}: {e}"))? {
            Message::Text(t) => WsMessage::Text(t.to_string()),
            Message::Binary(b) => WsMessage::Binary(b),
            Message::Close(_) => break,
            _ => continue,
        };
        let reply = agent.handle(&msg);
        for out in reply.send {
            let m = match out {
                WsMessage::Text(t) => Message::Text(t.into()),
                WsMessage::Binary(b) => Message::Binary(b),
            };
            ws.send(m).await.map_err(|e| format!("{url}: {e}"))?;
        }
        for n in &reply.notes {
            note(peer, n);
        }
        if reply.close {
            let normal = CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            };
            let _ = ws.close(Some(normal)).await;
            break;
        }
    }
    Ok(())
}
