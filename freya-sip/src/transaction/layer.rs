//! [`TransactionLayer`]: many transactions, keyed and matched (§17.1.3, §17.2.3), with one
//! drain loop and one deadline for all of them.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

use crate::message::{parse, response_to, Message};

use super::derived::build_cancel;
use super::dispatch::{Dispatch, LayerEvent, LayerStats, Outbound, Remote};
use super::error::TransactionError;
use super::key::TransactionKey;
use super::machine::Transaction;
use super::timers::TimerConfig;
use super::{
    BranchGenerator, ClientInvite, ClientInviteState, ClientNonInvite, ServerInvite,
    ServerNonInvite, TransactionEvent,
};

#[derive(Debug)]
struct Entry {
    key: TransactionKey,
    tx: Transaction,
    remote: Remote,
    /// The deadline this entry has in the heap.
    scheduled: Option<Instant>,
    /// A CANCEL waiting for the INVITE's first provisional response (§9.1).
    pending_cancel: Option<Message>,
}

/// Owns many transactions, matches incoming messages to them, and gives one output queue
/// and one deadline for all of them. Sans-IO: the caller feeds received messages and
/// `now`, drains [`poll_transmit`](Self::poll_transmit) and
/// [`poll_event`](Self::poll_event), and calls [`handle_timeout`](Self::handle_timeout) at
/// [`poll_timeout`](Self::poll_timeout). Terminated transactions are removed as they end.
///
/// ```
/// use std::time::{Duration, Instant};
/// use freya_sip::message::{parse, response_to};
/// use freya_sip::transaction::{Dispatch, Remote, TimerConfig, TransactionLayer};
///
/// let mut uac = TransactionLayer::new(TimerConfig::default()).unwrap();
/// let mut uas = TransactionLayer::new(TimerConfig::default()).unwrap();
/// let (a, b) = ("192.0.2.1:5060".parse().unwrap(), "192.0.2.2:5060".parse().unwrap());
/// let branch = uac.new_branch();
/// let options = parse(format!(
///     "OPTIONS sip:b@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
///      From: <sip:a@192.0.2.1>;tag=1\r\nTo: <sip:b@192.0.2.2>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\
///      Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").into()).unwrap();
/// let t0 = Instant::now();
/// let key = uac.send_request(t0, options, Remote::udp(b)).unwrap();
///
/// // Carry the request over; the UAS layer creates a server transaction and hands it over.
/// let out = uac.poll_transmit().unwrap();
/// let Dispatch::NewRequest { key: skey, request } =
///     uas.handle_message(t0, parse(out.transmit.bytes).unwrap(), Remote::udp(a))
/// else { panic!() };
/// uas.respond(t0, &skey, parse(response_to(&request, 200, "OK", &[]).unwrap()).unwrap()).unwrap();
///
/// // Carry the 200 back: the client transaction completes and reports it.
/// let resp = uas.poll_transmit().unwrap();
/// assert!(matches!(uac.handle_message(t0, parse(resp.transmit.bytes).unwrap(), Remote::udp(b)), Dispatch::Matched(k) if k == key));
/// let ev = uac.poll_event().unwrap();
/// assert_eq!(ev.key, key);
/// // Timer K (T4 on UDP) keeps it a while to absorb retransmitted 200s.
/// assert_eq!(uac.poll_timeout(), Some(t0 + Duration::from_secs(5)));
/// uac.handle_timeout(t0 + Duration::from_secs(5));
/// assert!(uac.is_empty());
/// ```
#[derive(Debug)]
pub struct TransactionLayer {
    config: TimerConfig,
    /// Boxed: an `Entry` is several hundred bytes and the table keeps up to twice as many
    /// slots as live transactions, so inline entries cost ~1 KiB per call at a few hundred
    /// calls; a box costs the entry alone (BENCHMARKS.md, memory per call).
    entries: HashMap<u64, Box<Entry>>,
    by_key: HashMap<TransactionKey, u64>,
    next_id: u64,
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    transmits: VecDeque<Outbound>,
    events: VecDeque<LayerEvent>,
    branches: BranchGenerator,
    stats: LayerStats,
}

impl TransactionLayer {
    /// An empty layer with these timers and a randomly keyed [`BranchGenerator`].
    ///
    /// # Errors
    /// [`TransactionError::InvalidConfig`] (see [`TimerConfig::validate`]).
    pub fn new(config: TimerConfig) -> Result<TransactionLayer, TransactionError> {
        config.validate()?;
        Ok(TransactionLayer {
            config,
            entries: HashMap::new(),
            by_key: HashMap::new(),
            next_id: 0,
            heap: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            branches: BranchGenerator::new(),
            stats: LayerStats::default(),
        })
    }

    /// Replaces the branch generator (a seeded one makes runs reproducible).
    pub fn with_branch_generator(mut self, branches: BranchGenerator) -> TransactionLayer {
        self.branches = branches;
        self
    }

    /// The timer configuration.
    pub fn config(&self) -> &TimerConfig {
        &self.config
    }

    /// A fresh branch (`z9hG4bK…`) for the top Via of a request about to be sent.
    pub fn new_branch(&mut self) -> String {
        self.branches.next_branch()
    }

    /// The counters.
    pub fn stats(&self) -> LayerStats {
        self.stats
    }

    /// How many transactions are alive.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no transaction is alive.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The transaction under `key`, if alive.
    pub fn get(&self, key: &TransactionKey) -> Option<&Transaction> {
        let id = self.by_key.get(key)?;
        self.entries.get(id).map(|e| &e.tx)
    }

    /// Every live transaction's key.
    pub fn keys(&self) -> impl Iterator<Item = &TransactionKey> + '_ {
        self.by_key.keys()
    }

    /// Starts a client transaction for `request` (INVITE → [`ClientInvite`], anything but
    /// ACK → [`ClientNonInvite`]) sent to `remote`; its first transmit is queued at once.
    /// The request's top Via must carry a fresh branch ([`new_branch`](Self::new_branch)).
    ///
    /// # Errors
    /// What [`TransactionKey::for_outgoing_request`] refuses, and
    /// [`TransactionError::Duplicate`] when a client transaction with this branch and
    /// method is alive.
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Message,
        remote: Remote,
    ) -> Result<TransactionKey, TransactionError> {
        let key = TransactionKey::for_outgoing_request(&request)?;
        if self.by_key.contains_key(&key) {
            return Err(TransactionError::Duplicate(key));
        }
        let tx = if key.is_invite() {
            Transaction::ClientInvite(ClientInvite::new(
                request,
                remote.reliability,
                self.config,
                now,
            )?)
        } else {
            Transaction::ClientNonInvite(ClientNonInvite::new(
                request,
                remote.reliability,
                self.config,
                now,
            )?)
        };
        let id = self.insert(key.clone(), tx, remote);
        self.after(id, now);
        Ok(key)
    }

    /// Matches a received message to its transaction and feeds it, or says what else it
    /// is (see [`Dispatch`]). `remote` is where it came from and over what transport.
    pub fn handle_message(&mut self, now: Instant, message: Message, remote: Remote) -> Dispatch {
        if message.is_request() {
            self.handle_request(now, message, remote)
        } else {
            self.handle_response(now, message)
        }
    }

    fn invalid(&mut self, message: Message, error: TransactionError) -> Dispatch {
        self.stats.invalid += 1;
        tracing::warn!(%error, start_line = message.start_line(), "transaction: unmatchable message dropped");
        Dispatch::Invalid { message, error }
    }

    fn handle_response(&mut self, now: Instant, message: Message) -> Dispatch {
        let key = match TransactionKey::for_response(&message) {
            Ok(k) => k,
            Err(e) => return self.invalid(message, e),
        };
        let Some(&id) = self.by_key.get(&key) else {
            self.stats.stray_responses += 1;
            tracing::debug!(%key, start_line = message.start_line(), "transaction: stray response dropped");
            return Dispatch::StrayResponse(message);
        };
        self.stats.matched += 1;
        let result = match self.entries.get_mut(&id).map(|e| &mut e.tx) {
            Some(Transaction::ClientInvite(t)) => t.handle_response(now, message),
            Some(Transaction::ClientNonInvite(t)) => t.handle_response(now, message),
            _ => Ok(()),
        };
        if let Err(error) = result {
            tracing::warn!(%key, %error, "transaction: response refused by its transaction");
        }
        self.after(id, now);
        Dispatch::Matched(key)
    }

    /// The INVITE server transaction an RFC 2543 ACK belongs to: keyed without the To tag,
    /// and the tag must be the one our response carried (§17.2.3).
    fn find_legacy_ack(&self, key: &TransactionKey, ack: &Message) -> Option<u64> {
        let bare = key.without_to_tag()?;
        let id = *self.by_key.get(&bare)?;
        let tag = ack.to().and_then(|t| t.tag())?;
        match &self.entries.get(&id)?.tx {
            Transaction::ServerInvite(t) if t.response_to_tag().as_deref() == Some(tag) => Some(id),
            _ => None,
        }
    }

    fn handle_request(&mut self, now: Instant, message: Message, remote: Remote) -> Dispatch {
        let key = match TransactionKey::for_incoming_request(&message) {
            Ok(k) => k,
            Err(e) => return self.invalid(message, e),
        };
        let is_ack = message.method() == Some("ACK");
        let found = self.by_key.get(&key).copied().or_else(|| {
            if is_ack {
                self.find_legacy_ack(&key, &message)
            } else {
                None
            }
        });
        if let Some(id) = found {
            self.stats.matched += 1;
            // The transaction's own key (an RFC 2543 ACK's key carries our To tag).
            let key = self.entries.get(&id).map_or(key, |e| e.key.clone());
            let result = match self.entries.get_mut(&id).map(|e| &mut e.tx) {
                Some(Transaction::ServerInvite(t)) => t.handle_request(now, message),
                Some(Transaction::ServerNonInvite(t)) => t.handle_request(now, message),
                _ => Ok(()),
            };
            if let Err(error) = result {
                tracing::warn!(%key, %error, "transaction: request refused by its transaction");
            }
            self.after(id, now);
            return Dispatch::Matched(key);
        }
        if is_ack {
            self.stats.unmatched_acks += 1;
            return Dispatch::Ack(message);
        }
        let tx = if message.method() == Some("INVITE") {
            ServerInvite::new(message.clone(), remote.reliability, self.config, now)
                .map(Transaction::ServerInvite)
        } else {
            ServerNonInvite::new(message.clone(), remote.reliability, self.config, now)
                .map(Transaction::ServerNonInvite)
        };
        let tx = match tx {
            Ok(tx) => tx,
            Err(e) => return self.invalid(message, e),
        };
        let id = self.insert(key.clone(), tx, remote);
        if message.method() == Some("CANCEL") {
            return self.new_cancel(now, id, key, message);
        }
        self.after(id, now);
        Dispatch::NewRequest {
            key,
            request: message,
        }
    }

    /// §9.2: answer a new CANCEL 200 when it matches an INVITE server transaction (telling
    /// that transaction), 481 when not.
    fn new_cancel(
        &mut self,
        now: Instant,
        id: u64,
        key: TransactionKey,
        cancel: Message,
    ) -> Dispatch {
        let invite_key = key.with_method("INVITE");
        let invite_id = self.by_key.get(&invite_key).copied();
        if let Some(inv) = invite_id {
            if let Some(Transaction::ServerInvite(t)) =
                self.entries.get_mut(&inv).map(|e| &mut e.tx)
            {
                t.cancel(now, cancel.clone());
            }
            self.after(inv, now);
        }
        let (status, reason) = match invite_id {
            Some(_) => (200, "OK"),
            None => {
                self.stats.unmatched_cancels += 1;
                (481, "Call/Transaction Does Not Exist")
            }
        };
        if let Some(Transaction::ServerNonInvite(t)) = self.entries.get_mut(&id).map(|e| &mut e.tx)
        {
            let resp = response_to(&cancel, status, reason, &[]).map(parse);
            if let Some(Ok(resp)) = resp {
                let _ = t.respond(now, resp);
            }
        }
        self.after(id, now);
        Dispatch::Cancel {
            cancel: key,
            invite: invite_id.map(|_| invite_key),
        }
    }

    fn entry_mut(
        &mut self,
        key: &TransactionKey,
    ) -> Result<(u64, &mut Transaction), TransactionError> {
        let id = *self
            .by_key
            .get(key)
            .ok_or_else(|| TransactionError::NoSuchTransaction(key.clone()))?;
        let e = self
            .entries
            .get_mut(&id)
            .ok_or_else(|| TransactionError::NoSuchTransaction(key.clone()))?;
        Ok((id, &mut e.tx))
    }

    /// Sends the TU's response through the server transaction `key` (§17.2.1, §17.2.2).
    ///
    /// # Errors
    /// [`TransactionError::NoSuchTransaction`], [`TransactionError::WrongKind`] for a
    /// client transaction, and what the machine's `respond` refuses.
    pub fn respond(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        response: Message,
    ) -> Result<(), TransactionError> {
        let (id, tx) = self.entry_mut(key)?;
        let r = match tx {
            Transaction::ServerInvite(t) => t.respond(now, response),
            Transaction::ServerNonInvite(t) => t.respond(now, response),
            other => Err(TransactionError::WrongKind {
                key: key.clone(),
                kind: other.kind(),
                needed: "server transaction",
            }),
        };
        self.after(id, now);
        r
    }

    /// Builds a response to the transaction's request with
    /// [`response_to`](crate::message::response_to) (Via, From, To with a stable tag,
    /// Call-ID, CSeq copied; `extra` headers added) and sends it with
    /// [`respond`](Self::respond): `respond_with(now, &key, 487, "Request Terminated", &[])`.
    ///
    /// # Errors
    /// As [`respond`](Self::respond); [`TransactionError::InvalidStatus`] outside 100–699.
    pub fn respond_with(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        status: u16,
        reason: &str,
        extra: &[(&str, &str)],
    ) -> Result<(), TransactionError> {
        if !(100..=699).contains(&status) {
            return Err(TransactionError::InvalidStatus(status));
        }
        let (_, tx) = self.entry_mut(key)?;
        let bytes = response_to(tx.request(), status, reason, extra)
            .ok_or(TransactionError::NotARequest)?;
        let response = parse(bytes)?;
        self.respond(now, key, response)
    }

    /// Cancels the pending INVITE client transaction `invite` (§9.1): builds the CANCEL
    /// ([`build_cancel`](super::build_cancel), with `extra` headers such as `Reason`) and
    /// starts its non-INVITE client transaction under the returned key (the INVITE's
    /// branch, method CANCEL). If no provisional response has arrived yet, the CANCEL waits
    /// for the first one (§9.1); if a final arrives first, it is never sent and its key
    /// reports only [`TransactionEvent::Terminated`]. Once sent, the INVITE transaction
    /// waits at most 64·T1 for its final response. Asking twice returns the same key.
    ///
    /// # Errors
    /// [`TransactionError::NoSuchTransaction`], [`TransactionError::WrongKind`] for
    /// anything but a client INVITE, [`TransactionError::NotCancellable`] once it has a
    /// final response, and what [`build_cancel`](super::build_cancel) refuses.
    pub fn cancel(
        &mut self,
        now: Instant,
        invite: &TransactionKey,
        extra: &[(&str, &str)],
    ) -> Result<TransactionKey, TransactionError> {
        let cancel_key = invite.with_method("CANCEL");
        let (id, tx) = self.entry_mut(invite)?;
        let Transaction::ClientInvite(t) = tx else {
            return Err(TransactionError::WrongKind {
                key: invite.clone(),
                kind: tx.kind(),
                needed: "client INVITE transaction",
            });
        };
        let state = t.state();
        if !matches!(
            state,
            ClientInviteState::Calling | ClientInviteState::Proceeding
        ) {
            return Err(TransactionError::NotCancellable(invite.clone()));
        }
        let cancel = build_cancel(t.request(), extra)?;
        let already = self.by_key.contains_key(&cancel_key)
            || self
                .entries
                .get(&id)
                .is_some_and(|e| e.pending_cancel.is_some());
        if already {
            return Ok(cancel_key);
        }
        match state {
            ClientInviteState::Calling => {
                if let Some(e) = self.entries.get_mut(&id) {
                    e.pending_cancel = Some(cancel);
                }
            }
            ClientInviteState::Proceeding => self.start_cancel(now, id, cancel)?,
            _ => return Err(TransactionError::NotCancellable(invite.clone())),
        }
        Ok(cancel_key)
    }

    fn start_cancel(
        &mut self,
        now: Instant,
        invite_id: u64,
        cancel: Message,
    ) -> Result<(), TransactionError> {
        let Some(e) = self.entries.get_mut(&invite_id) else {
            return Ok(());
        };
        let remote = e.remote;
        if let Transaction::ClientInvite(t) = &mut e.tx {
            t.cancel_sent(now);
        }
        let key = TransactionKey::for_outgoing_request(&cancel)?;
        let tx = ClientNonInvite::new(cancel, remote.reliability, self.config, now)?;
        let id = self.insert(key, Transaction::ClientNonInvite(tx), remote);
        self.after(id, now);
        self.after(invite_id, now);
        Ok(())
    }

    /// Removes a server transaction without answering (the TU ignores the request, e.g.
    /// a scanner). Returns whether it existed. Later retransmissions of the request come
    /// back as [`Dispatch::NewRequest`].
    pub fn discard(&mut self, key: &TransactionKey) -> bool {
        match self.by_key.remove(key) {
            Some(id) => {
                self.entries.remove(&id);
                self.stats.terminated += 1;
                true
            }
            None => false,
        }
    }

    /// Reports that the transport failed to send for transaction `key` (§17.1.1.2,
    /// §17.1.2.2, §17.2.4): it reports [`TransactionEvent::TransportError`] and terminates.
    ///
    /// # Errors
    /// [`TransactionError::NoSuchTransaction`].
    pub fn handle_transport_error(
        &mut self,
        now: Instant,
        key: &TransactionKey,
    ) -> Result<(), TransactionError> {
        let (id, tx) = self.entry_mut(key)?;
        tx.handle_transport_error(now);
        self.after(id, now);
        Ok(())
    }

    /// The next bytes to send, oldest first.
    pub fn poll_transmit(&mut self) -> Option<Outbound> {
        self.transmits.pop_front()
    }

    /// The next event for the TU, oldest first.
    pub fn poll_event(&mut self) -> Option<LayerEvent> {
        self.events.pop_front()
    }

    /// The earliest deadline over all transactions: call
    /// [`handle_timeout`](Self::handle_timeout) then. `None` when no timer is armed.
    /// Takes `&mut self` to drop stale heap entries.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            if self
                .entries
                .get(&id)
                .is_some_and(|e| e.scheduled == Some(at))
            {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Fires every timer due at `now` in every transaction, earliest first.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            let Some(e) = self.entries.get_mut(&id) else {
                continue;
            };
            if e.scheduled != Some(at) {
                continue;
            }
            e.scheduled = None;
            e.tx.handle_timeout(now);
            self.after(id, now);
        }
    }

    fn insert(&mut self, key: TransactionKey, tx: Transaction, remote: Remote) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.stats.created += 1;
        self.by_key.insert(key.clone(), id);
        self.entries.insert(
            id,
            Box::new(Entry {
                key,
                tx,
                remote,
                scheduled: None,
                pending_cancel: None,
            }),
        );
        id
    }

    /// Moves a transaction's output to the layer's queues, starts or drops a pending
    /// CANCEL, reschedules its deadline and removes it once terminated.
    fn after(&mut self, id: u64, now: Instant) {
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        while let Some(transmit) = e.tx.poll_transmit() {
            if transmit.retransmission {
                self.stats.retransmissions += 1;
            }
            self.transmits.push_back(Outbound {
                key: e.key.clone(),
                remote: e.remote,
                transmit,
            });
        }
        let mut start_cancel = false;
        let mut drop_cancel = false;
        while let Some(event) = e.tx.poll_event() {
            match &event {
                TransactionEvent::Provisional(_) => start_cancel = e.pending_cancel.is_some(),
                TransactionEvent::Timeout(_) => self.stats.timeouts += 1,
                TransactionEvent::TransportError => self.stats.transport_errors += 1,
                _ => {}
            }
            if matches!(
                event,
                TransactionEvent::Final(_) | TransactionEvent::Terminated
            ) {
                drop_cancel = true;
            }
            self.events.push_back(LayerEvent {
                key: e.key.clone(),
                event,
            });
        }
        if drop_cancel && !start_cancel && e.pending_cancel.take().is_some() {
            self.events.push_back(LayerEvent {
                key: e.key.with_method("CANCEL"),
                event: TransactionEvent::Terminated,
            });
        }
        let next = e.tx.poll_timeout();
        if next != e.scheduled {
            e.scheduled = next;
            if let Some(at) = next {
                self.heap.push(Reverse((at, id)));
            }
        }
        if e.tx.is_terminated() {
            let key = e.key.clone();
            self.entries.remove(&id);
            self.by_key.remove(&key);
            self.stats.terminated += 1;
        } else if start_cancel {
            if let Some(cancel) = e.pending_cancel.take() {
                if let Err(error) = self.start_cancel(now, id, cancel) {
                    tracing::warn!(%error, "transaction: pending CANCEL could not be started");
                }
            }
        }
    }
}
