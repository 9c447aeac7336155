//! [`Driver`]: one tokio task that runs a [`TransactionLayer`] on a [`Transport`] and one
//! timer, and talks to the transaction user through a [`DriverHandle`] and [`TuEvent`]s.
//! It moves things between the two and decides nothing a sans-IO core decides.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::message::{parse, response_to, Message};
use crate::transaction::{
    Dispatch, Outbound, Reliability, Remote, Role, TimerConfig, TransactionError, TransactionKey,
    TransactionLayer,
};

use super::config::TransportConfig;
use super::error::TransportError;
use super::event::{ConnectionId, Destination, SendOutcome, TransportEvent};
use super::handle::{response_kind, Command, DriverError, DriverHandle, DriverStats, TuEvent};
use super::route::force_transport;
use super::{Transport, TransportKind};

/// The task that runs a [`TransactionLayer`] on a [`Transport`]: it feeds received
/// messages, commands and its one timer (`sleep_until(poll_timeout)`) to the layer, and
/// sends what the layer wants sent — client transmits to their [`Remote`], responses per
/// RFC 3261 §18.2.2. A transmit that fails (or whose new connection fails) is reported to
/// its transaction (`handle_transport_error`). A request the layer cannot match
/// ([`Dispatch::Invalid`]) gets a stateless 400 with a Warning.
///
/// ```
/// use freya_sip::transaction::{TimerConfig, TransactionLayer};
/// use freya_sip::transport::{Driver, Transport, TransportConfig};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (transport, incoming) = Transport::bind(TransportConfig::new("127.0.0.1:0".parse()?)).await?;
/// let layer = TransactionLayer::new(TimerConfig::default())?;
/// let (driver, handle, _tu_events) = Driver::new(transport, incoming, layer);
/// let task = tokio::spawn(driver.run());
/// assert_eq!(handle.stats().await?.transactions, 0);
/// handle.shutdown().await;
/// task.await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Driver {
    layer: TransactionLayer,
    transport: Transport,
    incoming: mpsc::Receiver<TransportEvent>,
    commands: mpsc::Receiver<Command>,
    tu: mpsc::Sender<TuEvent>,
    tu_open: bool,
    /// Events the TU's channel had no room for yet. The driver never waits on the TU (a TU
    /// waiting on a command reply while the driver waits on the TU would deadlock); it
    /// stops reading the transport instead while this is long.
    tu_backlog: VecDeque<TuEvent>,
    /// Client transactions whose bytes wait on a connection being opened.
    connecting: HashMap<ConnectionId, Vec<TransactionKey>>,
}

/// The driver's clock: tokio's, so that a paused test clock moves the layer's time too.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl Driver {
    /// Binds a [`Transport`] with `config`, creates a layer with `timers`, and spawns
    /// [`Driver::run`] on the current runtime.
    ///
    /// # Errors
    /// What [`Transport::bind`] and [`TransactionLayer::new`] refuse.
    pub async fn spawn(
        config: TransportConfig,
        timers: TimerConfig,
    ) -> Result<(DriverHandle, mpsc::Receiver<TuEvent>), DriverError> {
        let layer = TransactionLayer::new(timers)?;
        let (transport, incoming) = Transport::bind(config).await?;
        let (driver, handle, events) = Driver::new(transport, incoming, layer);
        tokio::spawn(driver.run());
        Ok((handle, events))
    }

    /// A driver over a bound transport (and the receiver [`Transport::bind`] returned)
    /// and a layer; run it with [`Driver::run`].
    pub fn new(
        transport: Transport,
        incoming: mpsc::Receiver<TransportEvent>,
        layer: TransactionLayer,
    ) -> (Driver, DriverHandle, mpsc::Receiver<TuEvent>) {
        let capacity = transport.config().inbound_queue;
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (tu_tx, tu_rx) = mpsc::channel(capacity);
        let handle = DriverHandle::new(cmd_tx, transport.clone());
        let driver = Driver {
            layer,
            transport,
            incoming,
            commands: cmd_rx,
            tu: tu_tx,
            tu_open: true,
            tu_backlog: VecDeque::new(),
            connecting: HashMap::new(),
        };
        (driver, handle, tu_rx)
    }

    /// Runs until [`DriverHandle::shutdown`], until every handle is dropped, or until the
    /// transport closes; then closes the transport.
    pub async fn run(mut self) {
        loop {
            self.flush().await;
            let deadline = self.layer.poll_timeout();
            let wake = deadline.map_or_else(
                || tokio::time::Instant::now() + Duration::from_secs(3600),
                tokio::time::Instant::from_std,
            );
            // Back-pressure: while the TU lags far behind, leave messages in the sockets.
            let read = self.tu_backlog.len() < self.tu.max_capacity();
            tokio::select! {
                permit = self.tu.clone().reserve_owned(), if !self.tu_backlog.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(ev) = self.tu_backlog.pop_front() {
                            permit.send(ev);
                        }
                        self.pump_tu();
                    }
                    Err(_) => self.tu_gone(),
                },
                ev = self.incoming.recv(), if read => match ev {
                    Some(ev) => self.on_transport(ev).await,
                    None => break,
                },
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Shutdown) | None => break,
                    Some(cmd) => self.on_command(cmd),
                },
                () = tokio::time::sleep_until(wake), if deadline.is_some() => {
                    self.layer.handle_timeout(now());
                }
            }
        }
        tracing::debug!("transport: driver stopped");
        self.transport.close();
    }

    /// Sends every queued transmit and hands over every queued event, until both queues
    /// are empty (a failed send can queue more).
    async fn flush(&mut self) {
        loop {
            let mut more = false;
            while let Some(o) = self.layer.poll_transmit() {
                more = true;
                self.transmit(o).await;
            }
            while let Some(ev) = self.layer.poll_event() {
                more = true;
                self.tell_tu(TuEvent::Transaction(ev));
            }
            if !more {
                return;
            }
        }
    }

    async fn transmit(&mut self, o: Outbound) {
        let result = match o.key.role() {
            Role::Client => {
                self.transport
                    .send(Destination::from_remote(o.remote), o.transmit.bytes)
                    .await
            }
            Role::Server => match parse(o.transmit.bytes) {
                Ok(resp) => {
                    let kind = response_kind(&self.transport, o.remote);
                    self.transport
                        .send_response(&resp, o.remote.addr, kind)
                        .await
                }
                Err(e) => Err(TransportError::NoResponseRoute {
                    via: String::new(),
                    reason: if e.kind() == crate::message::ErrorKind::Empty {
                        "empty response"
                    } else {
                        "the response does not parse"
                    },
                }),
            },
        };
        match result {
            Ok(SendOutcome::Connecting(id)) => self.connecting.entry(id).or_default().push(o.key),
            // Queued behind a connection still being opened: fails with it.
            Ok(SendOutcome::Queued(id)) if self.connecting.contains_key(&id) => {
                self.connecting.entry(id).or_default().push(o.key);
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(key = %o.key, remote = %o.remote.addr, %error, "transport: send failed; transaction told");
                let _ = self.layer.handle_transport_error(now(), &o.key);
            }
        }
    }

    /// Queues an event for the TU, in order, without waiting.
    fn tell_tu(&mut self, ev: TuEvent) {
        if !self.tu_open {
            return;
        }
        self.tu_backlog.push_back(ev);
        self.pump_tu();
    }

    /// Moves backlog events into the TU's channel while it has room.
    fn pump_tu(&mut self) {
        while let Some(ev) = self.tu_backlog.pop_front() {
            match self.tu.try_send(ev) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(ev)) => {
                    self.tu_backlog.push_front(ev);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.tu_gone();
                    return;
                }
            }
        }
    }

    fn tu_gone(&mut self) {
        self.tu_open = false;
        self.tu_backlog.clear();
        tracing::warn!(
            "transport: the TU's event receiver is gone; events are dropped from now on"
        );
    }

    async fn on_transport(&mut self, ev: TransportEvent) {
        match ev {
            TransportEvent::Message(inc) => {
                let (source, transport, remote) = (inc.source, inc.transport, inc.remote());
                match self.layer.handle_message(now(), inc.message, remote) {
                    Dispatch::Matched(_) => {}
                    Dispatch::NewRequest { key, request } => {
                        self.tell_tu(TuEvent::Request {
                            key,
                            request,
                            source,
                            transport,
                        });
                    }
                    Dispatch::Cancel { cancel, invite } => {
                        self.tell_tu(TuEvent::Cancel { cancel, invite });
                    }
                    Dispatch::Ack(ack) => {
                        self.tell_tu(TuEvent::Ack {
                            ack,
                            source,
                            transport,
                        });
                    }
                    Dispatch::StrayResponse(response) => {
                        self.tell_tu(TuEvent::StrayResponse { response, source });
                    }
                    Dispatch::Invalid { message, error } => {
                        self.refuse(&message, &error, remote).await;
                    }
                }
            }
            TransportEvent::Connected { id, .. } => {
                self.connecting.remove(&id);
            }
            TransportEvent::Closed {
                id, established, ..
            } => {
                if let Some(keys) = self.connecting.remove(&id) {
                    if !established {
                        for key in keys {
                            let _ = self.layer.handle_transport_error(now(), &key);
                        }
                    }
                }
            }
        }
    }

    /// A request the layer cannot match (no usable Via branch, CSeq, Call-ID…): a
    /// stateless 400 naming the problem, when it can be answered at all.
    async fn refuse(&mut self, message: &Message, error: &TransactionError, remote: Remote) {
        if !message.is_request() || message.method() == Some("ACK") {
            return;
        }
        let warning = format!(
            "399 freya \"{}\"",
            error.to_string().replace(['"', '\\'], "'")
        );
        let Some(resp) = response_to(message, 400, "Bad Request", &[("Warning", &warning)])
            .and_then(|b| parse(b).ok())
        else {
            return;
        };
        let kind = response_kind(&self.transport, remote);
        if let Err(e) = self.transport.send_response(&resp, remote.addr, kind).await {
            tracing::debug!(error = %e, "transport: could not send 400 for an unmatchable request");
        }
    }

    fn on_command(&mut self, cmd: Command) {
        let now = now();
        match cmd {
            Command::SendRequest {
                request,
                remote,
                reply,
            } => {
                let r = self
                    .mtu_switch(request, remote)
                    .and_then(|(request, remote)| {
                        Ok(self.layer.send_request(now, request, remote)?)
                    });
                let _ = reply.send(r);
            }
            Command::Respond {
                key,
                response,
                reply,
            } => {
                let _ = reply.send(self.layer.respond(now, &key, response).map_err(Into::into));
            }
            Command::RespondWith {
                key,
                status,
                reason,
                extra,
                reply,
            } => {
                let extra: Vec<(&str, &str)> = extra
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let r = self.layer.respond_with(now, &key, status, &reason, &extra);
                let _ = reply.send(r.map_err(Into::into));
            }
            Command::Cancel {
                invite,
                extra,
                reply,
            } => {
                let extra: Vec<(&str, &str)> = extra
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let _ = reply.send(self.layer.cancel(now, &invite, &extra).map_err(Into::into));
            }
            Command::Discard { key, reply } => {
                let _ = reply.send(Ok(self.layer.discard(&key)));
            }
            Command::Stats { reply } => {
                let _ = reply.send(Ok(DriverStats {
                    layer: self.layer.stats(),
                    transport: self.transport.stats(),
                    rejected: self.transport.rejects().total(),
                    transactions: self.layer.len(),
                }));
            }
            Command::Shutdown => {}
        }
    }

    /// RFC 3261 §18.1.1, when configured: a request too large for UDP goes over TCP.
    fn mtu_switch(
        &self,
        request: Message,
        remote: Remote,
    ) -> Result<(Message, Remote), DriverError> {
        match self.transport.config().udp_mtu_switch {
            Some(limit)
                if remote.reliability == Reliability::Unreliable
                    && request.as_bytes().len() > limit =>
            {
                tracing::debug!(len = request.as_bytes().len(), limit, remote = %remote.addr,
                    "transport: request over the UDP size limit goes over TCP (RFC 3261 §18.1.1)");
                let request = force_transport(&request, TransportKind::Tcp)?.unwrap_or(request);
                Ok((request, Remote::tcp(remote.addr)))
            }
            _ => Ok((request, remote)),
        }
    }
}
