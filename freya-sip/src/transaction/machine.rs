//! [`Transaction`]: any of the four machines, as the [`TransactionLayer`](super::TransactionLayer)
//! holds them.

use std::time::Instant;

use crate::message::Message;

use super::key::Role;
use super::{
    ClientInvite, ClientNonInvite, ServerInvite, ServerNonInvite, TransactionEvent, Transmit,
};

/// One transaction of any kind, as the layer stores it. Match on it to reach the machine
/// and its typed state.
///
/// ```
/// use std::time::Instant;
/// use freya_sip::message::parse;
/// use freya_sip::transaction::{ClientNonInvite, Reliability, Role, TimerConfig, Transaction};
/// let req = parse(bytes::Bytes::from_static(
///     b"OPTIONS sip:b SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK5\r\nFrom: <sip:a>;tag=1\r\n\
///       To: <sip:b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")).unwrap();
/// let tx = Transaction::ClientNonInvite(
///     ClientNonInvite::new(req, Reliability::Unreliable, TimerConfig::default(), Instant::now()).unwrap());
/// assert_eq!(tx.role(), Role::Client);
/// assert_eq!(tx.kind(), "client non-INVITE");
/// assert_eq!(tx.state_name(), "Trying");
/// ```
#[derive(Debug, Clone)]
pub enum Transaction {
    /// Figure 5 (+ RFC 6026).
    ClientInvite(ClientInvite),
    /// Figure 6.
    ClientNonInvite(ClientNonInvite),
    /// Figure 7 (+ RFC 6026).
    ServerInvite(ServerInvite),
    /// Figure 8.
    ServerNonInvite(ServerNonInvite),
}

macro_rules! each {
    ($self:expr, $tx:ident => $e:expr) => {
        match $self {
            Transaction::ClientInvite($tx) => $e,
            Transaction::ClientNonInvite($tx) => $e,
            Transaction::ServerInvite($tx) => $e,
            Transaction::ServerNonInvite($tx) => $e,
        }
    };
}

impl Transaction {
    /// Client or server.
    pub fn role(&self) -> Role {
        match self {
            Transaction::ClientInvite(_) | Transaction::ClientNonInvite(_) => Role::Client,
            Transaction::ServerInvite(_) | Transaction::ServerNonInvite(_) => Role::Server,
        }
    }

    /// `"client INVITE"`, `"client non-INVITE"`, `"server INVITE"` or `"server non-INVITE"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Transaction::ClientInvite(_) => "client INVITE",
            Transaction::ClientNonInvite(_) => "client non-INVITE",
            Transaction::ServerInvite(_) => "server INVITE",
            Transaction::ServerNonInvite(_) => "server non-INVITE",
        }
    }

    /// The state's name as the RFC figure writes it (`Calling`, `Completed`…), for logs.
    pub fn state_name(&self) -> &'static str {
        use super::{ClientInviteState as CI, ClientNonInviteState as CN};
        use super::{ServerInviteState as SI, ServerNonInviteState as SN};
        match self {
            Transaction::ClientInvite(t) => match t.state() {
                CI::Calling => "Calling",
                CI::Proceeding => "Proceeding",
                CI::Completed => "Completed",
                CI::Accepted => "Accepted",
                CI::Terminated => "Terminated",
            },
            Transaction::ClientNonInvite(t) => match t.state() {
                CN::Trying => "Trying",
                CN::Proceeding => "Proceeding",
                CN::Completed => "Completed",
                CN::Terminated => "Terminated",
            },
            Transaction::ServerInvite(t) => match t.state() {
                SI::Proceeding => "Proceeding",
                SI::Completed => "Completed",
                SI::Confirmed => "Confirmed",
                SI::Accepted => "Accepted",
                SI::Terminated => "Terminated",
            },
            Transaction::ServerNonInvite(t) => match t.state() {
                SN::Trying => "Trying",
                SN::Proceeding => "Proceeding",
                SN::Completed => "Completed",
                SN::Terminated => "Terminated",
            },
        }
    }

    /// The request that created the transaction.
    pub fn request(&self) -> &Message {
        each!(self, t => t.request())
    }

    /// Whether the transaction has terminated.
    pub fn is_terminated(&self) -> bool {
        each!(self, t => t.is_terminated())
    }

    /// The next deadline (see each machine's `poll_timeout`).
    pub fn poll_timeout(&self) -> Option<Instant> {
        each!(self, t => t.poll_timeout())
    }

    /// Fires the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        each!(self, t => t.handle_timeout(now))
    }

    /// Reports a transport failure.
    pub fn handle_transport_error(&mut self, now: Instant) {
        each!(self, t => t.handle_transport_error(now))
    }

    /// The next bytes to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        each!(self, t => t.poll_transmit())
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<TransactionEvent> {
        each!(self, t => t.poll_event())
    }
}
