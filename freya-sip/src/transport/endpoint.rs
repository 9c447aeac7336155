//! [`Transport`]: the sockets of one endpoint (a UDP socket, a TCP listener, TCP
//! connections), bound from a [`TransportConfig`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use crate::message::{Message, RejectLog};

use super::config::TransportConfig;
use super::error::TransportError;
use super::event::{ConnectionId, Destination, SendOutcome, StreamIo, TransportEvent};
use super::route::{canonical, SentBy};
use super::shared::{lock, Conns, Shared};
use super::stats::{Counters, TransportStats};
use super::{stream, udp, TransportKind};

#[allow(unused_imports)] // named in docs
use super::route::response_destination;

/// The sockets of one SIP endpoint: a UDP socket and a TCP listener on the configured
/// address (either may be turned off), and the TCP connections, accepted or opened.
/// Cloning gives another handle to the same sockets; dropping the last handle (or
/// [`Transport::close`]) stops every task and frees the ports.
///
/// Received messages — parsed, refused input answered and counted, requests stamped —
/// arrive on the [`TransportEvent`] receiver returned by [`Transport::bind`], in order per
/// socket or connection.
///
/// ```
/// use freya_sip::transport::{Destination, Transport, TransportConfig, TransportEvent};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (a, _a_events) = Transport::bind(TransportConfig::new("127.0.0.1:0".parse()?)).await?;
/// let (b, mut b_events) = Transport::bind(TransportConfig::new("127.0.0.1:0".parse()?)).await?;
/// let options = format!(
///     "OPTIONS sip:b@{b} SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@{a}>;tag=1\r\nTo: <sip:b@{b}>\r\n\
///      Call-ID: doc-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
///     a = a.sent_by(), b = b.sent_by(), via = a.sent_by().via(freya_sip::transport::TransportKind::Udp, "z9hG4bKdoc1"));
/// a.send(Destination::udp(b.local_udp().unwrap()), options.into()).await?;
/// let Some(TransportEvent::Message(inc)) = b_events.recv().await else { panic!() };
/// assert_eq!(inc.message.method(), Some("OPTIONS"));
/// // The request asked for rport: the transport recorded where it came from.
/// assert_eq!(inc.message.top_via().unwrap().rport(), Some(Some(a.local_udp().unwrap().port())));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Transport {
    inner: Arc<Owner>,
}

/// Closes the shared state when the last [`Transport`] handle goes.
#[derive(Debug)]
struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl Transport {
    /// Binds UDP and/or TCP on `config.bind` (the same port for both: with port 0, UDP
    /// picks one and TCP takes the same) and starts receiving.
    ///
    /// # Errors
    /// [`TransportError::Config`] for an invalid config, [`TransportError::Bind`] when a
    /// socket cannot be bound.
    pub async fn bind(
        config: TransportConfig,
    ) -> Result<(Transport, mpsc::Receiver<TransportEvent>), TransportError> {
        config.validate()?;
        let (udp, listener) = bind_sockets(&config).await?;
        let udp_local = match &udp {
            Some(s) => Some(local_addr(s.local_addr(), TransportKind::Udp, config.bind)?),
            None => None,
        };
        let tcp_local = match &listener {
            Some(l) => Some(local_addr(l.local_addr(), TransportKind::Tcp, config.bind)?),
            None => None,
        };
        let port = udp_local
            .or(tcp_local)
            .map_or(config.bind.port(), |a| a.port());
        let sent_by = SentBy {
            host: config.sent_by_host(),
            port: config.advertised_port.unwrap_or(port),
        };
        let (events, rx) = mpsc::channel(config.inbound_queue);
        let udp = udp.map(Arc::new);
        let shared = Arc::new(Shared {
            config,
            sent_by,
            udp_local,
            tcp_local,
            udp: Mutex::new(udp.clone()),
            conns: Mutex::new(Conns::default()),
            listeners: Mutex::new(Vec::new()),
            events,
            rejects: Arc::new(RejectLog::new()),
            counters: Counters::default(),
            next_id: AtomicU64::new(1),
            closed: AtomicBool::new(false),
        });
        let mut tasks = Vec::new();
        if let Some(socket) = udp {
            tasks.push(tokio::spawn(udp::receive_loop(shared.clone(), socket)).abort_handle());
        }
        if let Some(l) = listener {
            tasks.push(tokio::spawn(stream::accept_loop(shared.clone(), l)).abort_handle());
        }
        *lock(&shared.listeners) = tasks;
        tracing::info!(udp = ?udp_local, tcp = ?tcp_local, sent_by = %shared.sent_by, "transport: listening");
        Ok((
            Transport {
                inner: Arc::new(Owner { shared }),
            },
            rx,
        ))
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// The configuration it was bound with.
    pub fn config(&self) -> &TransportConfig {
        &self.shared().config
    }

    /// The bound UDP address (`None` when UDP is off).
    pub fn local_udp(&self) -> Option<SocketAddr> {
        self.shared().udp_local
    }

    /// The bound TCP listening address (`None` when TCP is off).
    pub fn local_tcp(&self) -> Option<SocketAddr> {
        self.shared().tcp_local
    }

    /// Our sent-by for Via and Contact: the advertised host and port, else the bound ones.
    pub fn sent_by(&self) -> &SentBy {
        &self.shared().sent_by
    }

    /// Counters of refused messages, by kind.
    pub fn rejects(&self) -> &Arc<RejectLog> {
        &self.shared().rejects
    }

    /// The transport's counters.
    pub fn stats(&self) -> TransportStats {
        self.shared().counters.snapshot()
    }

    /// Live stream connections.
    pub fn connection_count(&self) -> usize {
        self.shared().connection_count()
    }

    /// The stream connection to or from `peer`, if one is live (the one a message to
    /// `peer` would reuse).
    pub fn connection_to(&self, peer: SocketAddr) -> Option<(ConnectionId, TransportKind)> {
        lock(&self.shared().conns)
            .by_addr
            .get(&canonical(peer))
            .map(|e| (e.id, e.kind))
    }

    /// Sends `bytes` to `dest`. UDP: one datagram, now. Stream: queued on the live
    /// connection with that peer (one it opened to us included: RFC 3261 §18), else on a
    /// new TCP connection (its outcome comes as [`TransportEvent::Connected`] or
    /// [`TransportEvent::Closed`]).
    ///
    /// # Errors
    /// [`TransportError::NotEnabled`], [`TransportError::Unsupported`] (TLS with no
    /// adopted connection), [`TransportError::AddressFamily`],
    /// [`TransportError::DatagramTooLarge`], [`TransportError::Send`],
    /// [`TransportError::QueueFull`], [`TransportError::TooManyConnections`],
    /// [`TransportError::Closed`].
    pub async fn send(
        &self,
        dest: Destination,
        bytes: Bytes,
    ) -> Result<SendOutcome, TransportError> {
        let dest = Destination {
            addr: canonical(dest.addr),
            ..dest
        };
        self.shared().send(dest, bytes).await
    }

    /// Sends a response per RFC 3261 §18.2.2 (see [`response_destination`]): the request
    /// it answers came from `source` over `kind`; the response's top Via is that
    /// request's, as stamped on receipt.
    ///
    /// # Errors
    /// [`TransportError::NoResponseRoute`], and what [`Transport::send`] returns.
    pub async fn send_response(
        &self,
        response: &Message,
        source: SocketAddr,
        kind: TransportKind,
    ) -> Result<SendOutcome, TransportError> {
        self.shared()
            .send_response(response, canonical(source), kind)
            .await
    }

    /// Runs a connection on an already-established stream — the seam for TLS: a TLS
    /// adapter accepts or connects, completes its handshake, and hands the stream over
    /// with `kind` [`TransportKind::Tls`]. It is then framed, kept alive and reused like a
    /// TCP connection (messages to `peer` go on it).
    ///
    /// ```
    /// use freya_sip::transport::{Transport, TransportConfig, TransportKind};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (t, _events) = Transport::bind(TransportConfig::new("127.0.0.1:0".parse()?)).await?;
    /// let (ours, _theirs) = tokio::io::duplex(4096); // stands in for a TLS stream
    /// let id = t.adopt_stream(ours, "192.0.2.7:5061".parse()?, TransportKind::Tls)?;
    /// assert_eq!(t.connection_to("192.0.2.7:5061".parse()?), Some((id, TransportKind::Tls)));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`TransportError::TooManyConnections`]; [`TransportError::Config`] for
    /// [`TransportKind::Udp`], which is no stream.
    pub fn adopt_stream<S: StreamIo>(
        &self,
        io: S,
        peer: SocketAddr,
        kind: TransportKind,
    ) -> Result<ConnectionId, TransportError> {
        if !kind.is_stream() {
            return Err(TransportError::Config {
                key: "kind",
                value: kind.to_string(),
                reason: "adopt_stream takes a stream transport (tcp, tls)",
            });
        }
        let peer = canonical(peer);
        let shared = self.shared().clone();
        stream::spawn_accepted(shared, io, peer, kind).ok_or(TransportError::TooManyConnections {
            dest: peer,
            limit: self.config().max_connections,
        })
    }

    /// Closes one stream connection: messages already queued on it are written, then it
    /// closes and a [`TransportEvent::Closed`] follows. New sends to its peer open a new
    /// connection. Returns whether it was live.
    pub fn close_connection(&self, id: ConnectionId) -> bool {
        let mut c = lock(&self.shared().conns);
        let live = c.live.contains_key(&id);
        // Dropping the table's sender (the only one) ends the connection's write queue.
        c.by_addr.retain(|_, e| e.id != id);
        live
    }

    /// Stops every task and frees the sockets; later sends fail with
    /// [`TransportError::Closed`]. Dropping the last handle does the same.
    pub fn close(&self) {
        self.shared().close();
    }

    /// Whether [`Transport::close`] has run.
    pub fn is_closed(&self) -> bool {
        self.shared().is_closed()
    }
}

fn local_addr(
    r: std::io::Result<SocketAddr>,
    kind: TransportKind,
    addr: SocketAddr,
) -> Result<SocketAddr, TransportError> {
    r.map_err(|source| TransportError::Bind { kind, addr, source })
}

/// Binds UDP then TCP on the same port; with port 0, retries a few times when the port
/// UDP got is taken for TCP.
async fn bind_sockets(
    config: &TransportConfig,
) -> Result<(Option<UdpSocket>, Option<TcpListener>), TransportError> {
    let addr = config.bind;
    let bind_udp = |a: SocketAddr| async move {
        UdpSocket::bind(a)
            .await
            .map_err(|source| TransportError::Bind {
                kind: TransportKind::Udp,
                addr: a,
                source,
            })
    };
    let bind_tcp = |a: SocketAddr| async move {
        TcpListener::bind(a)
            .await
            .map_err(|source| TransportError::Bind {
                kind: TransportKind::Tcp,
                addr: a,
                source,
            })
    };
    if !config.udp {
        return Ok((None, Some(bind_tcp(addr).await?)));
    }
    let mut attempts = if addr.port() == 0 { 8 } else { 1 };
    loop {
        let udp = bind_udp(addr).await?;
        if !config.tcp {
            return Ok((Some(udp), None));
        }
        let port = udp
            .local_addr()
            .map_err(|source| TransportError::Bind {
                kind: TransportKind::Udp,
                addr,
                source,
            })?
            .port();
        match bind_tcp(SocketAddr::new(addr.ip(), port)).await {
            Ok(l) => return Ok((Some(udp), Some(l))),
            Err(e) if attempts > 1 => {
                attempts -= 1;
                tracing::debug!(error = %e, "transport: TCP port taken; binding again");
            }
            Err(e) => return Err(e),
        }
    }
}
