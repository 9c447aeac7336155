//! A network emulator in virtual time for whole calls (after str0m's `tests/common.rs` and
//! the transaction layer's own emulator): N dialog layers, each with a small scripted user
//! on top, talk through a queue that loses, duplicates and delays (so reorders) datagrams,
//! and can fork one address to several nodes (a forking proxy without its Via).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::dialog::{DialogConfig, DialogEvent, DialogLayer, Dtmf, OutgoingCall, SessionId, Q850};
use crate::message::parse;
use crate::sdp::Capabilities;
use crate::transaction::{Reliability, Remote};

/// xorshift64*: small, deterministic.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct NetConfig {
    pub(crate) loss_per_mille: u64,
    pub(crate) dup_per_mille: u64,
    pub(crate) min_delay_ms: u64,
    pub(crate) max_delay_ms: u64,
    pub(crate) reliability: Reliability,
}

/// 20 % loss, 10 % duplication, 10–250 ms delay: reorders often.
pub(crate) const LOSSY: NetConfig = NetConfig {
    loss_per_mille: 200,
    dup_per_mille: 100,
    min_delay_ms: 10,
    max_delay_ms: 250,
    reliability: Reliability::Unreliable,
};

/// No loss, 50 ms each way: deterministic races.
pub(crate) const CLEAN: NetConfig = NetConfig {
    loss_per_mille: 0,
    dup_per_mille: 0,
    min_delay_ms: 50,
    max_delay_ms: 50,
    reliability: Reliability::Unreliable,
};

/// A reliable stream transport, 20 ms.
pub(crate) const TCP: NetConfig = NetConfig {
    loss_per_mille: 0,
    dup_per_mille: 0,
    min_delay_ms: 20,
    max_delay_ms: 20,
    reliability: Reliability::Reliable,
};

struct Packet {
    at: Instant,
    seq: u64,
    to: usize,
    from: SocketAddr,
    bytes: Bytes,
}

/// What a node's user does on its own.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    /// On an incoming call: ring at once (when `ring`), then answer / reject after a delay.
    pub(crate) ring: bool,
    pub(crate) on_incoming: OnIncoming,
    /// Hang up this long after the call is up (Answered / Confirmed), with this cause.
    pub(crate) hangup_after: Option<(Duration, Option<Q850>)>,
    /// Hang up this long after the first Progress (cancel while ringing).
    pub(crate) cancel_after_progress: Option<Duration>,
}

#[derive(Clone, Debug)]
pub(crate) enum OnIncoming {
    Answer(Duration),
    Reject(Duration, u16, Option<Q850>),
    Nothing,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            ring: true,
            on_incoming: OnIncoming::Answer(Duration::from_secs(1)),
            hangup_after: None,
            cancel_after_progress: None,
        }
    }
}

/// A user command, run at a given instant on a node's current call.
#[derive(Clone, Debug)]
pub(crate) enum Action {
    Answer,
    Reject(u16, Option<Q850>),
    Hangup(Option<Q850>),
    Hold,
    Unhold,
    Dtmf(char),
    Info(&'static str, &'static str),
}

pub(crate) struct Node {
    pub(crate) name: &'static str,
    pub(crate) layer: DialogLayer,
    pub(crate) addr: SocketAddr,
    pub(crate) policy: Policy,
    /// The node's current call (the last one it placed or received).
    pub(crate) call: Option<SessionId>,
    pub(crate) events: Vec<(u64, DialogEvent)>,
    /// Results of the user's commands that failed (for assertions).
    pub(crate) errors: Vec<String>,
}

/// Decides, from the sender's name and the first line, whether a datagram is lost.
pub(crate) type Filter = Box<dyn FnMut(&str, &str) -> bool>;
/// Rewrites what a node (named) sends.
pub(crate) type Mangle = Box<dyn FnMut(&str, Bytes) -> Bytes>;

pub(crate) struct World {
    pub(crate) now: Instant,
    cfg: NetConfig,
    rng: Rng,
    queue: Vec<Packet>,
    seq: u64,
    pub(crate) nodes: Vec<Node>,
    /// An address whose datagrams go to several nodes.
    forks: HashMap<SocketAddr, Vec<usize>>,
    actions: Vec<(Instant, usize, Action)>,
    /// Drops the datagrams it returns true for (after the random loss).
    pub(crate) filter: Option<Filter>,
    /// Rewrites what a node (named) sends, before the network sees it.
    pub(crate) mangle: Option<Mangle>,
    pub(crate) trace: Vec<String>,
    pub(crate) sent: u64,
    pub(crate) lost: u64,
    pub(crate) duplicated: u64,
    pub(crate) reordered: u64,
    delivered_seq: HashMap<usize, u64>,
}

pub(crate) fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1 + i as u8], 5060))
}

pub(crate) fn caps(i: usize) -> Capabilities {
    Capabilities::new(addr(i).ip(), 10000 + 2 * i as u16)
}

pub(crate) fn config(i: usize) -> DialogConfig {
    DialogConfig::new(addr(i))
}

fn first_line(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == b'\r').unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// A short name for an event.
pub(crate) fn ev_name(e: &DialogEvent) -> String {
    match e {
        DialogEvent::Incoming(_) => "incoming".into(),
        DialogEvent::Request(r) => format!("request:{}", r.request.method().unwrap_or("")),
        DialogEvent::Progress { status, .. } => format!("progress:{status}"),
        DialogEvent::Answered { .. } => "answered".into(),
        DialogEvent::Confirmed { .. } => "confirmed".into(),
        DialogEvent::MediaUpdated { by, media, .. } => {
            format!("media:{}:{}", by.as_str(), media.direction.as_str())
        }
        DialogEvent::ReinviteFailed { status, .. } => format!("reinvite-failed:{status}"),
        DialogEvent::Dtmf { dtmf, .. } => format!("dtmf:{}", dtmf.digit),
        DialogEvent::Info { .. } => "info".into(),
        DialogEvent::RequestCompleted { status, .. } => format!("completed:{status}"),
        DialogEvent::SessionTimer {
            seconds,
            we_refresh,
            ..
        } => format!("timer:{seconds}:{we_refresh}"),
        DialogEvent::Ended { end, .. } => format!(
            "ended:{}:{}:{}",
            end.by.as_str(),
            end.kind.as_str(),
            end.status
        ),
    }
}

impl World {
    pub(crate) fn new(
        seed: u64,
        cfg: NetConfig,
        configs: Vec<(&'static str, DialogConfig, Policy)>,
    ) -> World {
        let nodes = configs
            .into_iter()
            .enumerate()
            .map(|(i, (name, c, policy))| Node {
                name,
                addr: addr(i),
                layer: DialogLayer::with_seed(c, seed * 16 + i as u64).expect("valid config"),
                policy,
                call: None,
                events: Vec::new(),
                errors: Vec::new(),
            })
            .collect();
        World {
            now: t0(),
            cfg,
            rng: Rng::new(seed),
            queue: Vec::new(),
            seq: 0,
            nodes,
            forks: HashMap::new(),
            actions: Vec::new(),
            filter: None,
            mangle: None,
            trace: Vec::new(),
            sent: 0,
            lost: 0,
            duplicated: 0,
            reordered: 0,
            delivered_seq: HashMap::new(),
        }
    }

    /// A caller (node 0) and a callee (node 1).
    pub(crate) fn pair(seed: u64, cfg: NetConfig, caller: Policy, callee: Policy) -> World {
        World::new(
            seed,
            cfg,
            vec![("uac", config(0), caller), ("uas", config(1), callee)],
        )
    }

    /// Datagrams to `to` go to each of `nodes`.
    pub(crate) fn fork(&mut self, to: SocketAddr, nodes: Vec<usize>) {
        self.forks.insert(to, nodes);
    }

    pub(crate) fn ms(&self) -> u64 {
        self.now.duration_since(t0()).as_millis() as u64
    }

    fn log(&mut self, s: String) {
        let t = self.ms();
        self.trace.push(format!("{t:>7} ms {s}"));
    }

    pub(crate) fn explain(&self) -> String {
        self.trace.join("\n")
    }

    /// Node `from` calls the address `to`.
    pub(crate) fn call(&mut self, from: usize, to: SocketAddr) -> SessionId {
        self.call_with(from, to, |c| c)
    }

    pub(crate) fn call_with(
        &mut self,
        from: usize,
        to: SocketAddr,
        f: impl FnOnce(OutgoingCall) -> OutgoingCall,
    ) -> SessionId {
        let remote = Remote {
            addr: to,
            reliability: self.cfg.reliability,
        };
        let call = OutgoingCall::new(
            format!("sip:callee@{to}"),
            format!("<sip:caller@{}>", self.nodes[from].addr),
            remote,
            caps(from),
        )
        .header("X-Freya-Direction", "outbound");
        let id = self.nodes[from]
            .layer
            .invite(self.now, f(call))
            .expect("invite");
        self.nodes[from].call = Some(id);
        id
    }

    /// Runs `action` on node `node`'s call at `at_ms` (virtual).
    pub(crate) fn at(&mut self, at_ms: u64, node: usize, action: Action) {
        self.actions
            .push((t0() + Duration::from_millis(at_ms), node, action));
    }

    fn act(&mut self, i: usize, action: Action) {
        let now = self.now;
        let n = &mut self.nodes[i];
        let Some(id) = n.call else {
            n.errors.push(format!("{action:?}: no call"));
            return;
        };
        let r = match &action {
            Action::Answer => n.layer.answer(now, id, caps(i), &[]),
            Action::Reject(s, c) => n.layer.reject(now, id, *s, "Rejected", *c, &[]),
            Action::Hangup(c) => n.layer.hangup(now, id, *c),
            Action::Hold => n.layer.hold(now, id),
            Action::Unhold => n.layer.unhold(now, id),
            Action::Dtmf(d) => n.layer.send_dtmf(now, id, Dtmf::new(*d, 160)).map(drop),
            Action::Info(ct, body) => n
                .layer
                .send_request(now, id, "INFO", &[], Some((ct, body.as_bytes())))
                .map(drop),
        };
        let name = n.name;
        if let Err(e) = r {
            n.errors.push(format!("{action:?}: {e}"));
        }
        self.log(format!("{name} user: {action:?}"));
    }

    fn node_of(&self, a: SocketAddr) -> Vec<usize> {
        if let Some(v) = self.forks.get(&a) {
            return v.clone();
        }
        self.nodes
            .iter()
            .position(|n| n.addr == a)
            .into_iter()
            .collect()
    }

    fn flush(&mut self) {
        for i in 0..self.nodes.len() {
            while let Some(mut o) = self.nodes[i].layer.poll_transmit() {
                if let Some(m) = self.mangle.as_mut() {
                    o.bytes = m(self.nodes[i].name, o.bytes);
                }
                let what = first_line(&o.bytes);
                let re = if o.retransmission { " (re)" } else { "" };
                let from = self.nodes[i].addr;
                let targets = self.node_of(o.remote.addr);
                assert!(
                    !targets.is_empty(),
                    "{} sends to unknown {}: {what}",
                    self.nodes[i].name,
                    o.remote.addr
                );
                for to in targets {
                    self.sent += 1;
                    let name = self.nodes[i].name;
                    let to_name = self.nodes[to].name;
                    let mut lost = self.rng.chance(self.cfg.loss_per_mille);
                    if !lost {
                        if let Some(f) = self.filter.as_mut() {
                            lost = f(name, &what);
                        }
                    }
                    if lost {
                        self.lost += 1;
                        self.log(format!("{name} -> {to_name}: {what}{re} [lost]"));
                        continue;
                    }
                    let copies = if self.rng.chance(self.cfg.dup_per_mille) {
                        self.duplicated += 1;
                        2
                    } else {
                        1
                    };
                    for _ in 0..copies {
                        let delay = self
                            .rng
                            .between(self.cfg.min_delay_ms, self.cfg.max_delay_ms);
                        self.seq += 1;
                        self.queue.push(Packet {
                            at: self.now + Duration::from_millis(delay),
                            seq: self.seq,
                            to,
                            from,
                            bytes: o.bytes.clone(),
                        });
                    }
                    self.log(format!("{name} -> {to_name}: {what}{re}"));
                }
            }
        }
    }

    fn react(&mut self) {
        for i in 0..self.nodes.len() {
            while let Some(e) = self.nodes[i].layer.poll_event() {
                let t = self.ms();
                let name = self.nodes[i].name;
                self.log(format!("{name} event: {}", ev_name(&e)));
                let policy = self.nodes[i].policy.clone();
                match &e {
                    DialogEvent::Incoming(c) => {
                        self.nodes[i].call = Some(c.session);
                        if policy.ring {
                            let now = self.now;
                            if let Err(err) = self.nodes[i].layer.ring(now, c.session, &[]) {
                                self.nodes[i].errors.push(format!("ring: {err}"));
                            }
                        }
                        match policy.on_incoming {
                            OnIncoming::Answer(d) => {
                                self.at(t + d.as_millis() as u64, i, Action::Answer)
                            }
                            OnIncoming::Reject(d, s, c) => {
                                self.at(t + d.as_millis() as u64, i, Action::Reject(s, c))
                            }
                            OnIncoming::Nothing => {}
                        }
                    }
                    DialogEvent::Answered { .. } | DialogEvent::Confirmed { .. } => {
                        if let Some((d, c)) = policy.hangup_after {
                            self.at(t + d.as_millis() as u64, i, Action::Hangup(c));
                        }
                    }
                    DialogEvent::Progress { .. } => {
                        if let Some(d) = policy.cancel_after_progress {
                            if !self.nodes[i]
                                .events
                                .iter()
                                .any(|(_, e)| matches!(e, DialogEvent::Progress { .. }))
                            {
                                self.at(t + d.as_millis() as u64, i, Action::Hangup(None));
                            }
                        }
                    }
                    _ => {}
                }
                self.nodes[i].events.push((t, e));
            }
        }
    }

    /// Runs until nothing is left to do or `limit` of virtual time has passed.
    pub(crate) fn run(&mut self, limit: Duration) {
        let end = t0() + limit;
        loop {
            self.flush();
            self.react();
            self.flush();
            let mut next = self.queue.iter().map(|p| p.at).min();
            for n in &mut self.nodes {
                next = [next, n.layer.poll_timeout()].into_iter().flatten().min();
            }
            next = [next, self.actions.iter().map(|a| a.0).min()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else { break };
            assert!(next >= self.now, "time goes backwards");
            if next > end {
                self.now = end;
                break;
            }
            self.now = next;
            // Deliveries.
            loop {
                let due = self
                    .queue
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.at <= self.now)
                    .min_by_key(|(_, p)| (p.at, p.seq))
                    .map(|(i, _)| i);
                let Some(i) = due else { break };
                let p = self.queue.swap_remove(i);
                let last = self.delivered_seq.entry(p.to).or_insert(0);
                if p.seq < *last {
                    self.reordered += 1;
                }
                *last = (*last).max(p.seq);
                let m = parse(p.bytes.clone()).expect("whole datagrams");
                let name = self.nodes[p.to].name;
                self.log(format!("{name} <- {}", m.start_line()));
                let remote = Remote {
                    addr: p.from,
                    reliability: self.cfg.reliability,
                };
                let now = self.now;
                self.nodes[p.to].layer.handle_message(now, m, remote);
                self.flush();
                self.react();
            }
            for i in 0..self.nodes.len() {
                let now = self.now;
                if self.nodes[i].layer.poll_timeout().is_some_and(|t| t <= now) {
                    self.nodes[i].layer.handle_timeout(now);
                }
            }
            self.flush();
            self.react();
            let now = self.now;
            let mut due: Vec<(Instant, usize, Action)> = Vec::new();
            self.actions.retain(|a| {
                if a.0 <= now {
                    due.push(a.clone());
                    false
                } else {
                    true
                }
            });
            due.sort_by_key(|a| (a.0, a.1));
            for (_, i, a) in due {
                self.act(i, a);
            }
        }
    }

    /// Event names of node `i`.
    pub(crate) fn names(&self, i: usize) -> Vec<String> {
        self.nodes[i]
            .events
            .iter()
            .map(|(_, e)| ev_name(e))
            .collect()
    }

    /// The `Ended` of node `i` (exactly one expected).
    pub(crate) fn ended(&self, i: usize) -> crate::dialog::CallEnd {
        let ends: Vec<_> = self.nodes[i]
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                DialogEvent::Ended { end, .. } => Some(end.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            ends.len(),
            1,
            "{} ends: {:?}\n{}",
            self.nodes[i].name,
            self.names(i),
            self.explain()
        );
        ends.into_iter().next().expect("one end")
    }

    /// Every layer idle and the network empty.
    pub(crate) fn assert_quiet(&self) {
        for n in &self.nodes {
            assert!(
                n.layer.is_idle(),
                "{} not idle: {:?}\n{}",
                n.name,
                n.layer.sessions().map(|s| s.state()).collect::<Vec<_>>(),
                self.explain()
            );
            assert!(
                n.errors.is_empty(),
                "{} errors: {:?}\n{}",
                n.name,
                n.errors,
                self.explain()
            );
        }
        assert!(self.queue.is_empty());
    }
}
