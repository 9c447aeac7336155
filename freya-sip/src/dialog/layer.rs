//! [`DialogLayer`]: calls on top of a [`TransactionLayer`], sans-IO — one input loop
//! (`handle_message`, `handle_timeout`), one output loop (`poll_transmit`, `poll_event`,
//! `poll_timeout`), and the user's commands in between.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::message::Message;
use crate::transaction::{
    BranchGenerator, Dispatch, Reliability, Remote, TransactionKey, TransactionLayer,
};

use super::build::{response, Body};
use super::config::DialogConfig;
use super::error::DialogError;
use super::event::{CallEnd, DialogEvent};
use super::id::{DialogId, IdGenerator, SessionId};
use super::session::{Session, SessionState};

/// Bytes to send, and where. `transaction` names the transaction they belong to (report
/// a send failure with [`DialogLayer::handle_transport_error`]); `None` for what the dialog
/// sends without a transaction: the ACK for a 2xx (RFC 3261 §13.2.2.4) and 2xx
/// retransmissions after the INVITE transaction ended.
///
/// ```
/// use freya_sip::dialog::Outgoing;
/// use freya_sip::transaction::Remote;
/// let o = Outgoing {
///     remote: Remote::udp("198.51.100.7:5060".parse().unwrap()),
///     bytes: bytes::Bytes::from_static(b"ACK sip:gw@198.51.100.7 SIP/2.0\r\n..."),
///     retransmission: false,
///     transaction: None,
/// };
/// assert!(o.transaction.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Where to send (address and whether the transport is reliable).
    pub remote: Remote,
    /// The whole message.
    pub bytes: Bytes,
    /// Whether these bytes were sent before.
    pub retransmission: bool,
    /// The transaction sending them, if any.
    pub transaction: Option<TransactionKey>,
}

/// Counters kept by the dialog layer (DESIGN.md principle 4: nothing dropped silently).
///
/// ```
/// use freya_sip::dialog::DialogStats;
/// assert_eq!(DialogStats::default().unknown_dialog, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DialogStats {
    /// Sessions created (inbound and outbound).
    pub sessions: u64,
    /// Requests answered 481 because they matched no dialog (RFC 3261 §12.2.2).
    pub unknown_dialog: u64,
    /// In-dialog requests answered 500 for a CSeq lower than the last (§12.2.2).
    pub out_of_order: u64,
    /// Re-INVITEs answered 491 because ours was in progress (§14.2).
    pub glare: u64,
    /// ACKs for 2xx sent (first sends).
    pub acks_sent: u64,
    /// ACKs sent again for a retransmitted 2xx.
    pub ack_retransmissions: u64,
    /// 2xx retransmitted by us while waiting for the ACK (§13.3.1.4).
    pub ok_retransmissions: u64,
    /// Extra 2xx from forks (or answers that crossed our CANCEL), ACKed then released
    /// with BYE (§13.2.2.4).
    pub forks_released: u64,
    /// ACKs that matched no 2xx waiting for one (duplicates, late ones), dropped.
    pub stray_acks: u64,
    /// Responses matching no transaction nor dialog, dropped.
    pub stray_responses: u64,
    /// INVITEs refused before a session was created: 482 (merged, RFC 3261 §8.2.2.2),
    /// 420, 422, 415, 400.
    pub refused: u64,
    /// Session refreshes sent (RFC 4028).
    pub refreshes: u64,
    /// Calls ended for want of an ACK.
    pub no_ack: u64,
    /// Calls ended because the session expired.
    pub expired: u64,
    /// Messages the transaction layer could not match at all.
    pub invalid: u64,
    /// In-dialog NOTIFYs refused: no REFER of ours outstanding (481), another event
    /// package (489), a body that is no sipfrag (415) or an unreadable one (400).
    pub notify_refused: u64,
}

/// What a transaction of ours is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Our initial INVITE.
    Invite,
    /// The initial INVITE we received.
    InviteServer,
    /// Our re-INVITE.
    Reinvite,
    /// Our UPDATE (session refresh).
    Update,
    /// Our BYE.
    Bye,
    /// A BYE releasing an extra fork.
    ForkBye,
    /// A request the user sent (INFO, OPTIONS…).
    Request,
    /// A server transaction we answered ourselves.
    Server,
}

/// An ACK we sent for a 2xx, kept to answer the 2xx's retransmissions.
#[derive(Debug, Clone)]
pub(crate) struct AckEntry {
    pub(crate) cseq: u32,
    pub(crate) bytes: Bytes,
    pub(crate) remote: Remote,
    pub(crate) expires: Instant,
}

/// Calls, sans-IO: drives a [`TransactionLayer`] and keeps one [`Session`] per call, with
/// its dialog(s) (RFC 3261 §12), offer/answer ([`MediaSession`](crate::sdp::MediaSession)),
/// session timer (RFC 4028) and the work only a dialog does: retransmitting our 2xx until
/// the ACK and ACKing every 2xx (§13.2.2.4, §13.3.1.4), releasing forks, answering 481 and
/// 500 (§12.2.2), 491 on glare (§14).
///
/// The caller feeds it what arrives ([`handle_message`](Self::handle_message)) and the
/// time ([`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout)),
/// drains [`poll_transmit`](Self::poll_transmit) and [`poll_event`](Self::poll_event), and
/// commands calls: [`invite`](Self::invite); [`ring`](Self::ring),
/// [`answer`](Self::answer), [`reject`](Self::reject) an incoming call;
/// [`hangup`](Self::hangup) (CANCEL before the answer, BYE after); [`hold`](Self::hold),
/// [`unhold`](Self::unhold), [`reinvite`](Self::reinvite); [`send_dtmf`](Self::send_dtmf),
/// [`send_request`](Self::send_request); [`respond`](Self::respond) to a handed-over
/// request.
///
/// ```
/// use std::time::Instant;
/// use freya_sip::dialog::{DialogConfig, DialogEvent, DialogLayer, OutgoingCall};
/// use freya_sip::message::parse;
/// use freya_sip::sdp::Capabilities;
/// use freya_sip::transaction::Remote;
///
/// let (a, b) = ("192.0.2.1:5060".parse().unwrap(), "192.0.2.2:5060".parse().unwrap());
/// let mut alice = DialogLayer::with_seed(DialogConfig::new(a), 1).unwrap();
/// let mut bob = DialogLayer::with_seed(DialogConfig::new(b), 2).unwrap();
/// let now = Instant::now();
/// // Carries everything one side sends to the other.
/// fn carry(from: &mut DialogLayer, to: &mut DialogLayer, src: std::net::SocketAddr, now: Instant) {
///     while let Some(o) = from.poll_transmit() {
///         to.handle_message(now, parse(o.bytes).unwrap(), Remote::udp(src));
///     }
/// }
///
/// let call = alice.invite(now, OutgoingCall::new("sip:bob@192.0.2.2", "<sip:alice@192.0.2.1>",
///     Remote::udp(b), Capabilities::new("192.0.2.1".parse().unwrap(), 10000))).unwrap();
/// carry(&mut alice, &mut bob, a, now);
/// let Some(DialogEvent::Incoming(incoming)) = bob.poll_event() else { panic!() };
/// bob.answer(now, incoming.session, Capabilities::new("192.0.2.2".parse().unwrap(), 20000), &[]).unwrap();
/// carry(&mut bob, &mut alice, b, now);                 // 200 OK; alice ACKs
/// assert!(matches!(alice.poll_event(), Some(DialogEvent::Answered { .. })));
/// carry(&mut alice, &mut bob, a, now);                 // ACK
/// assert!(matches!(bob.poll_event(), Some(DialogEvent::Confirmed { .. })));
///
/// alice.hangup(now, call, None).unwrap();              // BYE
/// assert!(matches!(alice.poll_event(), Some(DialogEvent::Ended { .. })));
/// carry(&mut alice, &mut bob, a, now);
/// let Some(DialogEvent::Ended { end, .. }) = bob.poll_event() else { panic!() };
/// assert_eq!((end.status, end.cause.unwrap().number()), (200, 16));
/// ```
#[derive(Debug)]
pub struct DialogLayer {
    pub(crate) config: DialogConfig,
    pub(crate) tx: TransactionLayer,
    pub(crate) ids: IdGenerator,
    /// Boxed: a `Session` is ~1.1 KB and the table keeps up to twice as many slots as live
    /// calls, so inline sessions cost 1.3–2.6 KB per call; a box costs the session alone
    /// (BENCHMARKS.md, memory per call).
    pub(crate) sessions: HashMap<SessionId, Box<Session>>,
    pub(crate) dialogs: HashMap<DialogId, SessionId>,
    /// Outbound calls by (Call-ID, our tag): 2xx from forks and late answers find them.
    pub(crate) outbound: HashMap<(String, String), SessionId>,
    /// Inbound calls by (Call-ID, the caller's tag): a merged request finds them.
    pub(crate) inbound: HashMap<(String, String), SessionId>,
    pub(crate) by_tx: HashMap<TransactionKey, (SessionId, Purpose, Remote)>,
    /// Client transactions of standalone requests (REGISTER…), see `standalone.rs`.
    pub(crate) standalone: std::collections::HashSet<TransactionKey>,
    pub(crate) acks: HashMap<DialogId, AckEntry>,
    ack_expiry: VecDeque<(Instant, DialogId)>,
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    touched: Vec<SessionId>,
    next_session: u64,
    pub(crate) out: VecDeque<Outgoing>,
    pub(crate) events: VecDeque<DialogEvent>,
    pub(crate) stats: DialogStats,
}

impl DialogLayer {
    /// A layer with `config`, its own [`TransactionLayer`], random tags and branches.
    ///
    /// # Errors
    /// [`DialogError::InvalidConfig`] (see [`DialogConfig::validate`]) or the transaction
    /// layer's refusal of the timers.
    pub fn new(config: DialogConfig) -> Result<DialogLayer, DialogError> {
        Self::build(config, IdGenerator::new(), BranchGenerator::new())
    }

    /// A layer whose tags, Call-IDs, branches and glare delays are reproducible from
    /// `seed` (tests, traces).
    ///
    /// # Errors
    /// As [`DialogLayer::new`].
    pub fn with_seed(config: DialogConfig, seed: u64) -> Result<DialogLayer, DialogError> {
        Self::build(
            config,
            IdGenerator::with_seed(seed),
            BranchGenerator::with_seed(seed),
        )
    }

    fn build(
        config: DialogConfig,
        ids: IdGenerator,
        branches: BranchGenerator,
    ) -> Result<DialogLayer, DialogError> {
        config.validate()?;
        Ok(DialogLayer {
            tx: TransactionLayer::new(config.timers)?.with_branch_generator(branches),
            config,
            ids,
            sessions: HashMap::new(),
            dialogs: HashMap::new(),
            outbound: HashMap::new(),
            inbound: HashMap::new(),
            by_tx: HashMap::new(),
            standalone: std::collections::HashSet::new(),
            acks: HashMap::new(),
            ack_expiry: VecDeque::new(),
            heap: BinaryHeap::new(),
            touched: Vec::new(),
            next_session: 0,
            out: VecDeque::new(),
            events: VecDeque::new(),
            stats: DialogStats::default(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &DialogConfig {
        &self.config
    }

    /// The transaction layer underneath (for its counters and state).
    pub fn transactions(&self) -> &TransactionLayer {
        &self.tx
    }

    /// The counters.
    pub fn stats(&self) -> DialogStats {
        self.stats
    }

    /// The live session `id`.
    pub fn session(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(&id).map(|s| &**s)
    }

    /// Every live session.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> + '_ {
        self.sessions.values().map(|s| &**s)
    }

    /// Whether nothing is alive: no session, no transaction, no ACK kept for
    /// retransmitted 2xx.
    pub fn is_idle(&self) -> bool {
        self.sessions.is_empty() && self.tx.is_empty() && self.acks.is_empty()
    }

    /// Takes a message received from `remote`.
    pub fn handle_message(&mut self, now: Instant, message: Message, remote: Remote) {
        match self.tx.handle_message(now, message, remote) {
            Dispatch::Matched(_) | Dispatch::Cancel { .. } => {}
            Dispatch::NewRequest { key, request } => self.on_request(now, key, request, remote),
            Dispatch::Ack(ack) => self.on_ack(now, ack),
            Dispatch::StrayResponse(r) => self.on_stray_response(now, r, remote),
            Dispatch::Invalid { .. } => self.stats.invalid += 1,
        }
        self.finish(now);
    }

    /// Fires every timer due at `now`: the transactions', then the sessions' (2xx
    /// retransmission and ACK wait, glare retry, session refresh and expiry).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        self.pump(now);
        while let Some(&Reverse((at, raw))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            let id = SessionId::from_raw(raw);
            let Some(s) = self.sessions.get_mut(&id) else {
                continue;
            };
            if s.scheduled != Some(at) {
                continue;
            }
            s.scheduled = None;
            self.touched.push(id);
            self.on_session_timeout(now, id);
            self.pump(now);
        }
        while let Some((at, _)) = self.ack_expiry.front() {
            if *at > now {
                break;
            }
            if let Some((_, did)) = self.ack_expiry.pop_front() {
                if self.acks.get(&did).is_some_and(|a| a.expires <= now) {
                    self.acks.remove(&did);
                }
            }
        }
        self.finish(now);
    }

    /// Reports that sending for transaction `key` failed (RFC 3261 §8.1.3.1: as a 503).
    ///
    /// # Errors
    /// [`DialogError::Transaction`] when no such transaction is alive.
    pub fn handle_transport_error(
        &mut self,
        now: Instant,
        key: &TransactionKey,
    ) -> Result<(), DialogError> {
        let r = self.tx.handle_transport_error(now, key);
        self.finish(now);
        Ok(r?)
    }

    /// The next bytes to send.
    pub fn poll_transmit(&mut self) -> Option<Outgoing> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<DialogEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, raw))) = self.heap.peek() {
            if self
                .sessions
                .get(&SessionId::from_raw(raw))
                .is_some_and(|s| s.scheduled == Some(at))
            {
                break;
            }
            self.heap.pop();
        }
        let sessions = self.heap.peek().map(|Reverse((at, _))| *at);
        let acks = self.ack_expiry.front().map(|(at, _)| *at);
        [self.tx.poll_timeout(), sessions, acks]
            .into_iter()
            .flatten()
            .min()
    }

    /// Answers a request handed over in [`DialogEvent::Request`]: a response built from it
    /// (Via, From, To — with a fresh To tag outside a dialog —, Call-ID and CSeq copied),
    /// `extra` headers (checked) and an optional body (`(content type, bytes)`).
    ///
    /// # Errors
    /// [`DialogError::InvalidStatus`], [`DialogError::InvalidHeader`], and the transaction
    /// layer's refusal (no such transaction, already answered).
    pub fn respond(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        status: u16,
        reason: &str,
        extra: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Result<(), DialogError> {
        let req = self
            .tx
            .get(key)
            .map(|t| t.request().clone())
            .ok_or_else(|| {
                DialogError::Transaction(crate::transaction::TransactionError::NoSuchTransaction(
                    key.clone(),
                ))
            })?;
        let tag = self.ids.tag();
        let resp = response(
            &req,
            status,
            reason,
            Some(&tag),
            false,
            extra,
            body.map(|(content_type, bytes)| Body {
                content_type,
                bytes,
            }),
        )?;
        let r = self.tx.respond(now, key, resp);
        self.finish(now);
        Ok(r?)
    }

    // ---- internals shared by the UAC, UAS and in-dialog parts ----

    pub(crate) fn new_session_id(&mut self) -> SessionId {
        self.next_session += 1;
        self.stats.sessions += 1;
        SessionId::from_raw(self.next_session)
    }

    /// The session, marked for rescheduling.
    pub(crate) fn s_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        let s = self.sessions.get_mut(&id)?;
        self.touched.push(id);
        Some(s)
    }

    pub(crate) fn live(&mut self, id: SessionId) -> Result<&mut Session, DialogError> {
        match self.sessions.get_mut(&id) {
            Some(s) if !s.ended => {
                self.touched.push(id);
                Ok(s)
            }
            _ => Err(DialogError::NoSuchSession(id)),
        }
    }

    /// A Via value with a fresh branch.
    pub(crate) fn via(&mut self, reliability: Reliability) -> String {
        let transport = match reliability {
            Reliability::Unreliable => "UDP",
            Reliability::Reliable => "TCP",
        };
        format!(
            "SIP/2.0/{transport} {};branch={};rport",
            self.config.via_sent_by,
            self.tx.new_branch()
        )
    }

    pub(crate) fn push_raw(&mut self, remote: Remote, bytes: Bytes, retransmission: bool) {
        self.out.push_back(Outgoing {
            remote,
            bytes,
            retransmission,
            transaction: None,
        });
    }

    /// Keeps an ACK for 64·T1 (the UAS's 2xx retransmission window) and sends it.
    pub(crate) fn send_ack(
        &mut self,
        now: Instant,
        did: DialogId,
        cseq: u32,
        ack: Bytes,
        remote: Remote,
    ) {
        let expires = now + self.config.timers.timer_b() + Duration::from_secs(1);
        self.acks.insert(
            did.clone(),
            AckEntry {
                cseq,
                bytes: ack.clone(),
                remote,
                expires,
            },
        );
        self.ack_expiry.push_back((expires, did));
        self.stats.acks_sent += 1;
        self.push_raw(remote, ack, false);
    }

    /// Resends the ACK kept for a retransmitted 2xx; `false` when none is kept for it.
    pub(crate) fn reack(&mut self, response: &Message) -> bool {
        let (Some(did), Some(cseq)) = (DialogId::of_incoming_response(response), response.cseq())
        else {
            return false;
        };
        let Some(a) = self.acks.get(&did) else {
            return false;
        };
        if a.cseq != cseq.seq {
            return false;
        }
        let (remote, bytes) = (a.remote, a.bytes.clone());
        self.stats.ack_retransmissions += 1;
        self.push_raw(remote, bytes, true);
        true
    }

    /// Answers a server transaction with a response built from its request.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn reply(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        req: &Message,
        status: u16,
        reason: &str,
        to_tag: Option<&str>,
        extra: &[(String, String)],
        body: Option<Body<'_>>,
    ) -> Result<Message, DialogError> {
        let record_route = req.method() == Some("INVITE") && (101..300).contains(&status);
        let resp = response(req, status, reason, to_tag, record_route, extra, body)?;
        self.tx.respond(now, key, resp.clone())?;
        Ok(resp)
    }

    /// [`reply`](Self::reply) for the answers the layer gives by itself: a failure is
    /// logged (the transaction then times out or the peer retransmits).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn auto_reply(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        req: &Message,
        status: u16,
        reason: &str,
        to_tag: Option<&str>,
        extra: &[(String, String)],
    ) {
        if let Err(error) = self.reply(now, key, req, status, reason, to_tag, extra, None) {
            tracing::warn!(%error, %key, status, "dialog: automatic response not sent");
        }
    }

    /// The Server header, when a user agent is configured.
    pub(crate) fn server_header(&self, extra: &mut Vec<(String, String)>) {
        if let Some(ua) = &self.config.user_agent {
            extra.push(("Server".into(), ua.clone()));
        }
    }

    /// Reports the end of a call and forgets its session (unless a deferred BYE keeps it).
    pub(crate) fn end(&mut self, id: SessionId, end: CallEnd) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if !s.ended {
            s.ended = true;
            tracing::debug!(session = %id, %end, "dialog: call ended");
            self.events
                .push_back(DialogEvent::Ended { session: id, end });
        }
        if s.state != SessionState::Ending {
            self.remove(id);
        }
    }

    pub(crate) fn remove(&mut self, id: SessionId) {
        let Some(s) = self.sessions.remove(&id) else {
            return;
        };
        for d in s.dialog.iter().chain(s.early.iter()) {
            if self.dialogs.get(d.id()) == Some(&id) {
                self.dialogs.remove(d.id());
            }
        }
        let key = (s.call_id().to_owned(), s.local_tag.clone());
        if self.outbound.get(&key) == Some(&id) {
            self.outbound.remove(&key);
        }
        let from_tag = s
            .invite
            .from()
            .and_then(|f| f.tag())
            .unwrap_or("")
            .to_owned();
        let key = (s.call_id().to_owned(), from_tag);
        if self.inbound.get(&key) == Some(&id) {
            self.inbound.remove(&key);
        }
    }

    /// Moves the transaction layer's output to ours and handles its events, until both
    /// are empty.
    pub(crate) fn pump(&mut self, now: Instant) {
        loop {
            while let Some(o) = self.tx.poll_transmit() {
                self.out.push_back(Outgoing {
                    remote: o.remote,
                    bytes: o.transmit.bytes,
                    retransmission: o.transmit.retransmission,
                    transaction: Some(o.key),
                });
            }
            let Some(ev) = self.tx.poll_event() else {
                break;
            };
            self.on_tx_event(now, ev);
        }
    }

    /// Ends an entry point: pumps, then reschedules every session touched.
    pub(crate) fn finish(&mut self, now: Instant) {
        self.pump(now);
        let touched = std::mem::take(&mut self.touched);
        for id in touched {
            let Some(s) = self.sessions.get_mut(&id) else {
                continue;
            };
            let d = s.deadline();
            if d != s.scheduled {
                s.scheduled = d;
                if let Some(at) = d {
                    self.heap.push(Reverse((at, id.raw())));
                }
            }
        }
    }
}
