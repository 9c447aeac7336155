//! The transaction user's side of the [`Driver`](super::Driver): [`DriverHandle`]
//! (commands) and [`TuEvent`] (what happened).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::message::Message;
use crate::transaction::{
    BranchGenerator, LayerEvent, LayerStats, Reliability, Remote, TransactionError, TransactionKey,
};

use super::error::TransportError;
use super::event::{Destination, SendOutcome};
use super::route::SentBy;
use super::shared::lock;
use super::stats::TransportStats;
use super::{Transport, TransportKind};

#[allow(unused_imports)] // named in docs
use super::{Driver, TransportConfig};
#[allow(unused_imports)] // named in docs
use crate::{message::response_to, transaction::TransactionLayer};

/// What the driver hands the transaction user (dialogs, UA), in order.
///
/// ```
/// use freya_sip::transport::TuEvent;
/// fn what(e: &TuEvent) -> &'static str {
///     match e {
///         TuEvent::Request { .. } => "new request: respond (accept or refuse) or discard",
///         TuEvent::Cancel { .. } => "CANCEL, already answered; a Cancelled event follows for the INVITE",
///         TuEvent::Ack { .. } => "ACK for a 2xx: the dialog's",
///         TuEvent::Transaction(_) => "a transaction's event: 1xx, final, timeout, ...",
///         TuEvent::StrayResponse { .. } => "a response no transaction wanted (a late 2xx)",
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub enum TuEvent {
    /// A new request (not ACK, not CANCEL): its server transaction exists under `key`.
    /// Answer with [`DriverHandle::respond`] / [`DriverHandle::respond_with`], or
    /// [`DriverHandle::discard`] it; an INVITE gets `100 Trying` meanwhile.
    Request {
        /// The server transaction.
        key: TransactionKey,
        /// The request, its top Via stamped with `received`/`rport`.
        request: Message,
        /// Where it came from.
        source: SocketAddr,
        /// Over what.
        transport: TransportKind,
    },
    /// A CANCEL, answered by the layer (200, or 481 when `invite` is `None`); when it
    /// matched a pending INVITE, a [`TransactionEvent::Cancelled`](crate::transaction::TransactionEvent::Cancelled)
    /// for that INVITE follows and the TU answers it 487.
    Cancel {
        /// The CANCEL's own server transaction.
        cancel: TransactionKey,
        /// The INVITE it cancels.
        invite: Option<TransactionKey>,
    },
    /// An ACK that matched no INVITE server transaction: the ACK for a 2xx, which belongs
    /// to the dialog (RFC 3261 §13.3.1.4).
    Ack {
        /// The ACK.
        ack: Message,
        /// Where it came from.
        source: SocketAddr,
        /// Over what.
        transport: TransportKind,
    },
    /// An event of one transaction: provisional and final responses, ACK in Accepted,
    /// Cancelled, timeouts, transport errors, termination.
    Transaction(LayerEvent),
    /// A response that matched no client transaction (counted by the layer): a 2xx
    /// retransmission after the INVITE transaction ended is the dialog's to ACK.
    StrayResponse {
        /// The response.
        response: Message,
        /// Where it came from.
        source: SocketAddr,
    },
}

/// Why a driver call failed.
///
/// ```
/// use freya_sip::transport::DriverError;
/// assert_eq!(DriverError::Stopped.to_string(), "the driver has stopped");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The transaction layer refused the call.
    #[error(transparent)]
    Transaction(#[from] TransactionError),
    /// The transport refused it.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The driver task has ended (shut down, or its transport closed).
    #[error("the driver has stopped")]
    Stopped,
}

/// Counters of a driver: its layer's, its transport's, and refused messages.
///
/// ```
/// use freya_sip::transport::DriverStats;
/// let s = DriverStats::default();
/// assert_eq!((s.rejected, s.transactions), (0, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// The transaction layer's counters.
    pub layer: LayerStats,
    /// The transport's counters.
    pub transport: TransportStats,
    /// Messages refused by the parser, all kinds (see [`Transport::rejects`] per kind).
    pub rejected: u64,
    /// Transactions alive.
    pub transactions: usize,
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T, DriverError>>;

#[derive(Debug)]
pub(crate) enum Command {
    SendRequest {
        request: Message,
        remote: Remote,
        reply: Reply<TransactionKey>,
    },
    Respond {
        key: TransactionKey,
        response: Message,
        reply: Reply<()>,
    },
    RespondWith {
        key: TransactionKey,
        status: u16,
        reason: String,
        extra: Vec<(String, String)>,
        reply: Reply<()>,
    },
    Cancel {
        invite: TransactionKey,
        extra: Vec<(String, String)>,
        reply: Reply<TransactionKey>,
    },
    Discard {
        key: TransactionKey,
        reply: Reply<bool>,
    },
    Stats {
        reply: Reply<DriverStats>,
    },
    Shutdown,
}

/// The transaction user's side of a [`Driver`]: commands (each answered once the driver
/// has done it) and a few things known without asking. Cheap to clone. The driver stops
/// when every handle is dropped or on [`DriverHandle::shutdown`].
///
/// ```no_run
/// use freya_sip::message::parse;
/// use freya_sip::transaction::{Remote, TimerConfig, TransactionEvent};
/// use freya_sip::transport::{Driver, TransportConfig, TransportKind, TuEvent};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let (handle, mut events) = Driver::spawn(TransportConfig::new("127.0.0.1:0".parse()?), TimerConfig::default()).await?;
/// let me = handle.sent_by().clone();
/// let options = parse(format!(
///     "OPTIONS sip:carrier@192.0.2.10 SIP/2.0\r\nVia: {}\r\nFrom: <{}>;tag=k1\r\n\
///      To: <sip:carrier@192.0.2.10>\r\nCall-ID: keepalive-1\r\nCSeq: 1 OPTIONS\r\n\
///      Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
///     me.via(TransportKind::Udp, &handle.new_branch()), me.contact_uri(Some("freya"), TransportKind::Udp)).into())?;
/// let key = handle.send_request(options, Remote::udp("192.0.2.10:5060".parse()?)).await?;
/// while let Some(TuEvent::Transaction(ev)) = events.recv().await {
///     if ev.key == key {
///         if let TransactionEvent::Final(resp) = ev.event { println!("{:?}", resp.status_code()); break; }
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DriverHandle {
    commands: mpsc::Sender<Command>,
    transport: Transport,
    branches: Arc<Mutex<BranchGenerator>>,
}

impl DriverHandle {
    pub(crate) fn new(commands: mpsc::Sender<Command>, transport: Transport) -> DriverHandle {
        DriverHandle {
            commands,
            transport,
            branches: Arc::new(Mutex::new(BranchGenerator::new())),
        }
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, DriverError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| DriverError::Stopped)?;
        rx.await.map_err(|_| DriverError::Stopped)?
    }

    /// Starts a client transaction for `request` to `remote` (an address the caller
    /// resolved: DNS is out of scope). The top Via must carry a fresh branch
    /// ([`new_branch`](Self::new_branch)) and our sent-by ([`sent_by`](Self::sent_by)).
    /// With [`TransportConfig::udp_mtu_switch`] set, a large request for UDP goes over TCP
    /// (RFC 3261 §18.1.1), its top Via rewritten.
    ///
    /// # Errors
    /// What [`TransactionLayer::send_request`] refuses; [`DriverError::Stopped`].
    pub async fn send_request(
        &self,
        request: Message,
        remote: Remote,
    ) -> Result<TransactionKey, DriverError> {
        self.ask(|reply| Command::SendRequest {
            request,
            remote,
            reply,
        })
        .await
    }

    /// Sends the TU's response through server transaction `key`.
    ///
    /// # Errors
    /// What [`TransactionLayer::respond`] refuses; [`DriverError::Stopped`].
    pub async fn respond(&self, key: TransactionKey, response: Message) -> Result<(), DriverError> {
        self.ask(|reply| Command::Respond {
            key,
            response,
            reply,
        })
        .await
    }

    /// Builds (with [`response_to`]) and sends a response through server transaction
    /// `key`: `respond_with(key, 486, "Busy Here", vec![])`.
    ///
    /// # Errors
    /// What [`TransactionLayer::respond_with`] refuses; [`DriverError::Stopped`].
    pub async fn respond_with(
        &self,
        key: TransactionKey,
        status: u16,
        reason: &str,
        extra: Vec<(String, String)>,
    ) -> Result<(), DriverError> {
        let reason = reason.to_owned();
        self.ask(|reply| Command::RespondWith {
            key,
            status,
            reason,
            extra,
            reply,
        })
        .await
    }

    /// Cancels the pending client INVITE `invite` (RFC 3261 §9.1); returns the CANCEL's
    /// transaction key.
    ///
    /// # Errors
    /// What [`TransactionLayer::cancel`] refuses; [`DriverError::Stopped`].
    pub async fn cancel(
        &self,
        invite: TransactionKey,
        extra: Vec<(String, String)>,
    ) -> Result<TransactionKey, DriverError> {
        self.ask(|reply| Command::Cancel {
            invite,
            extra,
            reply,
        })
        .await
    }

    /// Drops server transaction `key` without answering (a scanner); returns whether it
    /// existed.
    ///
    /// # Errors
    /// [`DriverError::Stopped`].
    pub async fn discard(&self, key: TransactionKey) -> Result<bool, DriverError> {
        self.ask(|reply| Command::Discard { key, reply }).await
    }

    /// Sends a message outside any transaction — the ACK for a 2xx, a 2xx retransmitted
    /// by the dialog until its ACK comes (RFC 3261 §13.3.1.4). A request goes to
    /// `remote`; a response is routed per §18.2.2 from its top Via, `remote` being where
    /// the request came from.
    ///
    /// # Errors
    /// What [`Transport::send`] / [`Transport::send_response`] refuse.
    pub async fn send_stateless(
        &self,
        message: &Message,
        remote: Remote,
    ) -> Result<SendOutcome, DriverError> {
        if message.is_request() {
            Ok(self
                .transport
                .send(Destination::from_remote(remote), message.to_bytes())
                .await?)
        } else {
            let kind = response_kind(&self.transport, remote);
            Ok(self
                .transport
                .send_response(message, remote.addr, kind)
                .await?)
        }
    }

    /// The driver's counters.
    ///
    /// # Errors
    /// [`DriverError::Stopped`].
    pub async fn stats(&self) -> Result<DriverStats, DriverError> {
        self.ask(|reply| Command::Stats { reply }).await
    }

    /// A fresh branch for a request's top Via.
    pub fn new_branch(&self) -> String {
        lock(&self.branches).next_branch()
    }

    /// Our sent-by, for Via and Contact.
    pub fn sent_by(&self) -> &SentBy {
        self.transport.sent_by()
    }

    /// The transport (addresses, counters, connections).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Stops the driver; its transport closes. Returns once the request is queued.
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
    }
}

/// The stream kind of a reliable peer: that of its live connection, else TCP.
pub(crate) fn response_kind(transport: &Transport, remote: Remote) -> TransportKind {
    match remote.reliability {
        Reliability::Unreliable => TransportKind::Udp,
        Reliability::Reliable => transport
            .connection_to(remote.addr)
            .map_or(TransportKind::Tcp, |(_, k)| k),
    }
}
