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
use crate::transaction::Remote;

use crate::testkit::{Datagram, LossyNet};
pub(crate) use crate::testkit::{NetConfig, CLEAN, LOSSY, TCP};

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
    /// The emulated network and its counters (sent, lost, duplicated, reordered).
    pub(crate) net: LossyNet,
    pub(crate) nodes: Vec<Node>,
    /// An address whose datagrams go to several nodes.
    forks: HashMap<SocketAddr, Vec<usize>>,
    actions: Vec<(Instant, usize, Action)>,
    /// Drops the datagrams it returns true for (after the random loss).
    pub(crate) filter: Option<Filter>,
    /// Rewrites what a node (named) sends, before the network sees it.
    pub(crate) mangle: Option<Mangle>,
    pub(crate) trace: Vec<String>,
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
        DialogEvent::ReferNotify { progress, .. } => {
            format!("refer-notify:{:?}:{}", progress.status, progress.terminated)
        }
        DialogEvent::RequestCompleted { status, .. } => format!("completed:{status}"),
        DialogEvent::StandaloneCompleted { status, .. } => format!("standalone:{status}"),
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
            net: LossyNet::new(seed, cfg),
            nodes,
            forks: HashMap::new(),
            actions: Vec::new(),
            filter: None,
            mangle: None,
            trace: Vec::new(),
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
            reliability: self.net.cfg.reliability,
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
                    let name = self.nodes[i].name;
                    let to_name = self.nodes[to].name;
                    let d = Datagram {
                        to,
                        from,
                        bytes: o.bytes.clone(),
                    };
                    let filter = &mut self.filter;
                    let delivered = self.net.send(self.now, d, || {
                        filter.as_mut().is_some_and(|f| f(name, &what))
                    });
                    let lost = if delivered { "" } else { " [lost]" };
                    self.log(format!("{name} -> {to_name}: {what}{re}{lost}"));
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
            let mut next = self.net.next_at();
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
            while let Some(p) = self.net.pop_due(self.now) {
                let m = parse(p.bytes.clone()).expect("whole datagrams");
                let name = self.nodes[p.to].name;
                self.log(format!("{name} <- {}", m.start_line()));
                let remote = Remote {
                    addr: p.from,
                    reliability: self.net.cfg.reliability,
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
        assert!(self.net.is_empty());
    }
}
