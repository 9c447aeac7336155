//! The UDP receive loop: one datagram, one message (RFC 3261 §18.3).

use std::sync::Arc;

use bytes::Bytes;
use tokio::net::UdpSocket;

use crate::message::{parse_with, Framing};

use super::route::canonical;
use super::shared::Shared;
use super::stats::bump;
use super::TransportKind;

/// Receives datagrams until the transport closes (the task is aborted).
pub(crate) async fn receive_loop(shared: Arc<Shared>, socket: Arc<UdpSocket>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(error) => {
                // ICMP-reported errors (port unreachable) and the like: the socket is fine.
                tracing::debug!(%error, "transport: UDP receive error");
                continue;
            }
        };
        bump(&shared.counters.udp_received);
        let data = Bytes::copy_from_slice(&buf[..n]);
        handle_datagram(&shared, &socket, data, canonical(from)).await;
    }
}

async fn handle_datagram(
    shared: &Shared,
    socket: &UdpSocket,
    data: Bytes,
    from: std::net::SocketAddr,
) {
    // CRLF keep-alives some stacks send over UDP (pjsip's "\r\n\r\n"): not a message.
    if data
        .iter()
        .all(|&c| matches!(c, b'\r' | b'\n' | b' ' | b'\t'))
    {
        bump(&shared.counters.udp_keepalives);
        return;
    }
    match parse_with(data.clone(), &shared.config.limits, Framing::Datagram) {
        Ok(m) => shared.deliver(m, from, TransportKind::Udp, None).await,
        Err(err) => {
            if let Some(resp) = shared.reject(&err, &data, from, TransportKind::Udp) {
                // The Via of a refused request cannot be trusted: answer where it came from.
                let to = super::route::for_socket(shared.udp_local.unwrap_or(from), from)
                    .unwrap_or(from);
                match socket.send_to(&resp, to).await {
                    Ok(_) => bump(&shared.counters.udp_sent),
                    Err(error) => {
                        bump(&shared.counters.send_errors);
                        tracing::debug!(%error, %from, "transport: could not send error response");
                    }
                }
            }
        }
    }
}
