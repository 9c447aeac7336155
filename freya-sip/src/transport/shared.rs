//! The state the transport's tasks share: sockets, the connection table, the event
//! channel, counters; receiving (stamp, deliver, refuse) and sending (UDP, streams,
//! responses per §18.2.2).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::message::{error_response, Message, ParseError, RejectLog};

use super::config::TransportConfig;
use super::error::TransportError;
use super::event::{ConnectionId, Destination, Incoming, SendOutcome, TransportEvent};
use super::received::stamp_received;
use super::route::{for_socket, response_destination, ResponseRoute, SentBy};
use super::stats::{bump, Counters};
use super::{stream, TransportKind};

/// One live stream connection, as the table knows it.
#[derive(Debug)]
pub(crate) struct ConnEntry {
    pub(crate) id: ConnectionId,
    pub(crate) kind: TransportKind,
    pub(crate) tx: mpsc::Sender<Bytes>,
}

#[derive(Debug, Default)]
pub(crate) struct Conns {
    /// Connections by peer address (RFC 3261 §18: reuse keyed by the remote address).
    pub(crate) by_addr: HashMap<SocketAddr, ConnEntry>,
    /// Every live connection and its task (filled in once spawned).
    pub(crate) live: HashMap<ConnectionId, Option<AbortHandle>>,
}

/// State shared by the transport's tasks. Holds no strong reference to the tasks'
/// futures, so [`Transport`]'s drop can abort them all.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: TransportConfig,
    pub(crate) sent_by: SentBy,
    pub(crate) udp_local: Option<SocketAddr>,
    pub(crate) tcp_local: Option<SocketAddr>,
    pub(crate) udp: Mutex<Option<Arc<UdpSocket>>>,
    pub(crate) conns: Mutex<Conns>,
    pub(crate) listeners: Mutex<Vec<AbortHandle>>,
    pub(crate) events: mpsc::Sender<TransportEvent>,
    pub(crate) rejects: Arc<RejectLog>,
    pub(crate) counters: Counters,
    pub(crate) next_id: AtomicU64,
    pub(crate) closed: AtomicBool,
}

/// Locks, ignoring poisoning (no code here panics while holding a lock; if some did, the
/// data is still consistent enough to go on).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Registers a new stream connection under `peer` (the table locked by the caller);
    /// returns its id and write queue.
    fn register_locked(
        &self,
        c: &mut Conns,
        peer: SocketAddr,
        kind: TransportKind,
    ) -> (ConnectionId, mpsc::Sender<Bytes>, mpsc::Receiver<Bytes>) {
        let id = ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = mpsc::channel(self.config.connection_queue);
        c.by_addr.insert(
            peer,
            ConnEntry {
                id,
                kind,
                tx: tx.clone(),
            },
        );
        c.live.insert(id, None);
        (id, tx, rx)
    }

    /// Registers a new stream connection under `peer`, unless the connection limit is
    /// reached.
    pub(crate) fn register(
        &self,
        peer: SocketAddr,
        kind: TransportKind,
    ) -> Option<(ConnectionId, mpsc::Receiver<Bytes>)> {
        let mut c = lock(&self.conns);
        if c.live.len() >= self.config.max_connections {
            return None;
        }
        let (id, _, rx) = self.register_locked(&mut c, peer, kind);
        Some((id, rx))
    }

    /// Records the task of connection `id` (unless it has already ended).
    pub(crate) fn set_task(&self, id: ConnectionId, task: AbortHandle) {
        let mut c = lock(&self.conns);
        match c.live.get_mut(&id) {
            Some(slot) => *slot = Some(task),
            None => task.abort(),
        }
    }

    /// Forgets connection `id` (its task is ending).
    pub(crate) fn unregister(&self, id: ConnectionId) {
        let mut c = lock(&self.conns);
        c.live.remove(&id);
        c.by_addr.retain(|_, e| e.id != id);
    }

    pub(crate) fn connection_count(&self) -> usize {
        lock(&self.conns).live.len()
    }

    /// Hands a parsed message to the consumer; a request is stamped first.
    pub(crate) async fn deliver(
        &self,
        message: Message,
        source: SocketAddr,
        transport: TransportKind,
        connection: Option<ConnectionId>,
    ) {
        let message = match stamp_received(&message, source, self.config.force_rport) {
            Ok(Some(m)) => m,
            Ok(None) => message,
            Err(error) => {
                bump(&self.counters.stamp_errors);
                tracing::warn!(%error, %source, %transport, start_line = message.start_line(),
                    "transport: could not stamp received/rport; delivering the request as received");
                message
            }
        };
        let event = TransportEvent::Message(Incoming {
            message,
            source,
            transport,
            connection,
        });
        // Fails only when the consumer is gone, which closes the transport anyway.
        let _ = self.events.send(event).await;
    }

    /// Counts and logs a refused message; returns the error response to send back for a
    /// request whose essentials are readable (never for a response).
    pub(crate) fn reject(
        &self,
        err: &ParseError,
        input: &[u8],
        source: SocketAddr,
        kind: TransportKind,
    ) -> Option<Bytes> {
        self.rejects.record(err, &format!("{kind}:{source}"));
        let resp = error_response(input, err);
        match &resp {
            Some(_) => bump(&self.counters.error_responses),
            None if looks_like_response(input) => bump(&self.counters.dropped_responses),
            None => {}
        }
        resp
    }

    pub(crate) async fn send(
        self: &Arc<Self>,
        dest: Destination,
        bytes: Bytes,
    ) -> Result<SendOutcome, TransportError> {
        if self.is_closed() {
            return Err(TransportError::Closed);
        }
        let r = match dest.kind {
            TransportKind::Udp => self.send_udp(dest.addr, bytes).await,
            TransportKind::Tcp | TransportKind::Tls => self.send_stream(dest, bytes),
        };
        if let Err(error) = &r {
            bump(&self.counters.send_errors);
            tracing::debug!(%error, "transport: send failed");
        }
        r
    }

    async fn send_udp(
        &self,
        dest: SocketAddr,
        bytes: Bytes,
    ) -> Result<SendOutcome, TransportError> {
        let socket = lock(&self.udp).clone();
        let (Some(socket), Some(local)) = (socket, self.udp_local) else {
            return Err(if self.config.udp {
                TransportError::Closed
            } else {
                TransportError::NotEnabled(TransportKind::Udp)
            });
        };
        let to = for_socket(local, dest).ok_or(TransportError::AddressFamily { local, dest })?;
        if bytes.len() > MAX_DATAGRAM {
            return Err(TransportError::DatagramTooLarge {
                dest,
                len: bytes.len(),
            });
        }
        socket
            .send_to(&bytes, to)
            .await
            .map_err(|source| TransportError::Send {
                kind: TransportKind::Udp,
                dest,
                len: bytes.len(),
                source,
            })?;
        bump(&self.counters.udp_sent);
        Ok(SendOutcome::Sent)
    }

    /// Queues on the connection to `dest.addr` (any stream kind: reuse is keyed by the
    /// remote address), or opens a TCP one and queues on it while it connects.
    fn send_stream(
        self: &Arc<Self>,
        dest: Destination,
        bytes: Bytes,
    ) -> Result<SendOutcome, TransportError> {
        let mut c = lock(&self.conns);
        let bytes = match c.by_addr.get(&dest.addr) {
            None => bytes,
            Some(e) => match e.tx.try_send(bytes) {
                Ok(()) => {
                    bump(&self.counters.stream_sent);
                    return Ok(SendOutcome::Queued(e.id));
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    return Err(TransportError::QueueFull {
                        dest: dest.addr,
                        capacity: self.config.connection_queue,
                    })
                }
                Err(mpsc::error::TrySendError::Closed(b)) => {
                    // That connection is ending: open a new one.
                    tracing::debug!(id = %e.id, peer = %dest.addr, "transport: connection closing; reconnecting");
                    b
                }
            },
        };
        match dest.kind {
            TransportKind::Tcp if self.config.tcp => {}
            TransportKind::Tcp => return Err(TransportError::NotEnabled(TransportKind::Tcp)),
            k => return Err(TransportError::Unsupported(k)),
        }
        if c.live.len() >= self.config.max_connections {
            return Err(TransportError::TooManyConnections {
                dest: dest.addr,
                limit: self.config.max_connections,
            });
        }
        let (id, tx, rx) = self.register_locked(&mut c, dest.addr, TransportKind::Tcp);
        drop(c);
        // A fresh queue has room (capacity >= 1, validated).
        let _ = tx.try_send(bytes);
        bump(&self.counters.stream_sent);
        let task = tokio::spawn(stream::connect_and_run(self.clone(), id, dest.addr, rx));
        self.set_task(id, task.abort_handle());
        Ok(SendOutcome::Connecting(id))
    }

    /// Sends a response where RFC 3261 §18.2.2 says: the request came from `source` over
    /// `kind`, and the response's top Via (the request's, stamped) says the rest.
    pub(crate) async fn send_response(
        self: &Arc<Self>,
        response: &Message,
        source: SocketAddr,
        kind: TransportKind,
    ) -> Result<SendOutcome, TransportError> {
        let via = response.top_via().ok_or(TransportError::NoResponseRoute {
            via: String::new(),
            reason: "the response has no Via",
        })?;
        match response_destination(&via, source, kind)? {
            ResponseRoute::Datagram(addr) => {
                self.send(Destination::udp(addr), response.to_bytes()).await
            }
            ResponseRoute::Connection { peer, fallback } => {
                let has_conn = lock(&self.conns).by_addr.contains_key(&peer);
                let addr = match (has_conn, fallback) {
                    (true, _) => peer,
                    (false, Some(f)) => f,
                    (false, None) => {
                        return Err(TransportError::NoResponseRoute {
                            via: response
                                .header("Via")
                                .map(|h| h.value().to_owned())
                                .unwrap_or_default(),
                            reason: "the request's connection has closed and the Via names no IP to reconnect to",
                        })
                    }
                };
                let dest = Destination { kind, addr };
                self.send(dest, response.to_bytes()).await
            }
        }
    }

    /// Aborts every task, forgets every connection and drops the UDP socket.
    pub(crate) fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        for t in lock(&self.listeners).drain(..) {
            t.abort();
        }
        let mut c = lock(&self.conns);
        for (_, t) in c.live.drain() {
            if let Some(t) = t {
                t.abort();
            }
        }
        c.by_addr.clear();
        drop(c);
        *lock(&self.udp) = None;
    }
}

/// The largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;

fn looks_like_response(input: &[u8]) -> bool {
    let start = input
        .iter()
        .position(|&c| c != b'\r' && c != b'\n')
        .unwrap_or(input.len());
    input[start..]
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
}
