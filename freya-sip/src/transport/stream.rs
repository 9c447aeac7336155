//! Stream connections (TCP now, TLS through [`Transport::adopt_stream`]): accepting,
//! connecting, framing (RFC 3261 §18.3), keep-alive pongs (RFC 5626 §3.5.1), idle close.
//!
//! [`Transport::adopt_stream`]: super::Transport::adopt_stream

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout, Instant};

use crate::message::StreamFramer;

use super::error::TransportError;
use super::event::{ConnectionId, StreamIo, TransportEvent};
use super::route::canonical;
use super::shared::Shared;
use super::stats::bump;
use super::TransportKind;

/// Accepts TCP connections until the transport closes (the task is aborted).
pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(r) => r,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "transport: TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let peer = canonical(peer);
        if spawn_accepted(shared.clone(), tcp, peer, TransportKind::Tcp).is_none() {
            bump(&shared.counters.refused_connections);
            tracing::warn!(%peer, limit = shared.config.max_connections,
                "transport: connection limit reached; connection refused");
        }
    }
}

/// Registers and runs a connection the peer opened (or a TLS layer handed over); `None`
/// at the connection limit (the stream is dropped, which closes it).
pub(crate) fn spawn_accepted<S: StreamIo>(
    shared: Arc<Shared>,
    io: S,
    peer: SocketAddr,
    kind: TransportKind,
) -> Option<ConnectionId> {
    let (id, rx) = shared.register(peer, kind)?;
    bump(&shared.counters.accepted);
    tracing::debug!(%id, %peer, %kind, "transport: connection accepted");
    let task = tokio::spawn({
        let shared = shared.clone();
        async move {
            let _ = shared
                .events
                .send(TransportEvent::Connected {
                    id,
                    peer,
                    kind,
                    outbound: false,
                })
                .await;
            run(shared, io, id, peer, kind, rx).await;
        }
    });
    shared.set_task(id, task.abort_handle());
    Some(id)
}

/// Opens a TCP connection to `peer` (from the bind IP), then runs it; a failure is
/// reported as [`TransportEvent::Closed`] with `established: false`.
pub(crate) async fn connect_and_run(
    shared: Arc<Shared>,
    id: ConnectionId,
    peer: SocketAddr,
    rx: mpsc::Receiver<Bytes>,
) {
    let limit = shared.config.tcp_connect_timeout;
    let result = match timeout(limit, connect(&shared, peer)).await {
        Ok(r) => r,
        Err(_) => Err(TransportError::ConnectTimeout {
            dest: peer,
            timeout: limit,
        }),
    };
    let tcp = match result {
        Ok(tcp) => tcp,
        Err(error) => {
            bump(&shared.counters.connect_failures);
            tracing::warn!(%id, %peer, %error, "transport: connect failed");
            finish(
                &shared,
                id,
                peer,
                TransportKind::Tcp,
                false,
                error.to_string(),
            )
            .await;
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    bump(&shared.counters.connected);
    tracing::debug!(%id, %peer, "transport: connected");
    let _ = shared
        .events
        .send(TransportEvent::Connected {
            id,
            peer,
            kind: TransportKind::Tcp,
            outbound: true,
        })
        .await;
    run(shared, tcp, id, peer, TransportKind::Tcp, rx).await;
}

async fn connect(shared: &Shared, peer: SocketAddr) -> Result<TcpStream, TransportError> {
    let err = |source| TransportError::Connect {
        kind: TransportKind::Tcp,
        dest: peer,
        source,
    };
    let socket = if peer.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(err)?;
    // Leave from the configured interface when it is a specific one of the same family.
    let ip = shared.config.bind.ip();
    if !ip.is_unspecified() && ip.is_ipv4() == peer.is_ipv4() {
        socket.bind(SocketAddr::new(ip, 0)).map_err(err)?;
    }
    socket.connect(peer).await.map_err(err)
}

/// Unregisters a connection and reports its end.
async fn finish(
    shared: &Shared,
    id: ConnectionId,
    peer: SocketAddr,
    kind: TransportKind,
    established: bool,
    reason: String,
) {
    shared.unregister(id);
    bump(&shared.counters.closed);
    tracing::debug!(%id, %peer, %reason, "transport: connection closed");
    let _ = shared
        .events
        .send(TransportEvent::Closed {
            id,
            peer,
            kind,
            established,
            reason,
        })
        .await;
}

/// Counts CR/LF bytes seen between messages and says when they make a CRLFCRLF ping
/// (RFC 5626 §3.5.1), across reads. A lone CRLF is a pong, which needs no answer.
#[derive(Debug, Default)]
struct Pings {
    run: usize,
}

impl Pings {
    /// `n` more CR/LF bytes between messages; returns how many pings they complete.
    fn crlf(&mut self, n: usize) -> usize {
        self.run = self.run.saturating_add(n);
        let pings = self.run / 4;
        self.run %= 4;
        pings
    }

    /// A message ended the run.
    fn message(&mut self) {
        self.run = 0;
    }
}

/// Why a connection's loop ended.
enum End {
    PeerClosed,
    Idle,
    Local,
    Framing,
    Io(std::io::Error),
}

/// Runs one connection: reads, frames and delivers messages, answers pings, writes the
/// queued messages, closes on idle, on a framing error (after the error response, if
/// any), on EOF, on an I/O error, or when its queue is closed.
async fn run<S: StreamIo>(
    shared: Arc<Shared>,
    mut io: S,
    id: ConnectionId,
    peer: SocketAddr,
    kind: TransportKind,
    mut rx: mpsc::Receiver<Bytes>,
) {
    let idle = shared.config.tcp_idle_timeout;
    let mut deadline = Instant::now() + idle;
    let mut framer = StreamFramer::with_limits(shared.config.limits);
    // The bytes the framer holds, mirrored: a refused message's head, for its error
    // response (the framer drops its buffer when it fails).
    let mut pending = BytesMut::new();
    let mut pings = Pings::default();
    let mut chunk = vec![0u8; 16 * 1024];
    let end = loop {
        tokio::select! {
            r = io.read(&mut chunk) => {
                let n = match r {
                    Ok(0) => break End::PeerClosed,
                    Ok(n) => n,
                    Err(e) => break End::Io(e),
                };
                deadline = Instant::now() + idle;
                framer.push(&chunk[..n]);
                pending.extend_from_slice(&chunk[..n]);
                let d = drain(&shared, &mut framer, &mut pending, &mut pings, peer, kind, id).await;
                if d.failed {
                    if let Some(resp) = d.error_response {
                        let _ = io.write_all(&resp).await;
                    }
                    break End::Framing;
                }
                if d.pongs > 0 {
                    // RFC 5626 §3.5.1: each CRLFCRLF ping is answered with a CRLF pong.
                    if let Err(e) = io.write_all(&b"\r\n".repeat(d.pongs)).await {
                        break End::Io(e);
                    }
                }
            }
            m = rx.recv() => {
                let Some(bytes) = m else { break End::Local };
                if let Err(e) = io.write_all(&bytes).await {
                    break End::Io(e);
                }
                deadline = Instant::now() + idle;
            }
            () = sleep_until(deadline) => break End::Idle,
        }
    };
    let reason = match end {
        End::PeerClosed => "closed by peer".to_owned(),
        End::Idle => {
            bump(&shared.counters.idle_closed);
            format!("idle for {idle:?}")
        }
        End::Local => "closed locally".to_owned(),
        End::Framing => {
            bump(&shared.counters.framing_errors);
            "framing error".to_owned()
        }
        End::Io(e) => format!("I/O error: {e}"),
    };
    // Out of the table first: once the peer sees the close, nothing is sent on it.
    shared.unregister(id);
    let _ = io.shutdown().await;
    finish(&shared, id, peer, kind, true, reason).await;
}

struct Drained {
    pongs: usize,
    error_response: Option<Bytes>,
    failed: bool,
}

/// Takes every whole message out of the framer and delivers it; counts pings.
async fn drain(
    shared: &Shared,
    framer: &mut StreamFramer,
    pending: &mut BytesMut,
    pings: &mut Pings,
    peer: SocketAddr,
    kind: TransportKind,
    id: ConnectionId,
) -> Drained {
    let mut pongs = 0;
    loop {
        let before = framer.buffered();
        match framer.next_message() {
            Ok(Some(m)) => {
                let used = before.saturating_sub(framer.buffered());
                let crlf = used.saturating_sub(m.as_bytes().len());
                pongs += pings.crlf(crlf);
                pings.message();
                pending.advance(used.min(pending.len()));
                bump(&shared.counters.stream_received);
                shared.deliver(m, peer, kind, Some(id)).await;
            }
            Ok(None) => {
                let used = before.saturating_sub(framer.buffered());
                pongs += pings.crlf(used);
                pending.advance(used.min(pending.len()));
                for _ in 0..pongs {
                    bump(&shared.counters.pings);
                }
                return Drained {
                    pongs,
                    error_response: None,
                    failed: false,
                };
            }
            Err(err) => {
                // RejectLog::record writes the one warning line (kind, offset, peer).
                tracing::debug!(%id, %peer, "transport: framing error; closing the connection");
                let error_response = shared.reject(&err, pending, peer, kind);
                return Drained {
                    pongs: 0,
                    error_response,
                    failed: true,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Pings;

    #[test]
    fn pings_across_reads_and_pongs_ignored() {
        let mut p = Pings::default();
        assert_eq!(p.crlf(2), 0); // a pong, or half a ping
        assert_eq!(p.crlf(2), 1); // the other half
        assert_eq!(p.crlf(8), 2);
        assert_eq!(p.crlf(2), 0);
        p.message();
        assert_eq!(p.crlf(2), 0);
    }
}
