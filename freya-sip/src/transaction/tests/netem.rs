//! A network emulator in virtual time (after str0m's `tests/common.rs`): two transaction
//! layers, each with a minimal UA core on top, talk through a queue that loses, duplicates
//! and delays (so reorders) datagrams. The scenarios are in `calls.rs`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::message::Message;
use crate::transaction::{
    BranchGenerator, Dispatch, LayerEvent, Reliability, Remote, TimerConfig, TransactionEvent,
    TransactionKey, TransactionLayer,
};

use crate::testkit::Datagram;
pub(super) use crate::testkit::{LossyNet, NetConfig, LOSSY, TCP};

#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Callee {
    /// 180 at once, 200 after 2 s.
    Answer,
    /// 180 at once, 486 after 1 s.
    Reject,
    /// 180 at once, then nothing (the caller cancels).
    Ring,
}

/// The calling UA core: INVITE; ACK every 2xx (§13.2.2.4); BYE 1 s after the answer;
/// or CANCEL 1 s after the first 180.
#[derive(Default)]
pub(super) struct Uac {
    pub(super) invite: Option<(TransactionKey, Message)>,
    pub(super) cancel_after_ring: bool,
    pub(super) cancel_at: Option<Instant>,
    pub(super) cancel_key: Option<TransactionKey>,
    pub(super) cancel_final: Option<u16>,
    pub(super) provisionals: u32,
    pub(super) final_status: Option<u16>,
    pub(super) ack_2xx: Option<Bytes>,
    pub(super) acks_sent: u32,
    /// The first 2xx, for building the BYE.
    pub(super) ok: Option<Message>,
    pub(super) bye_at: Option<Instant>,
    pub(super) bye_key: Option<TransactionKey>,
    pub(super) bye_final: Option<u16>,
    pub(super) timeouts: Vec<String>,
}

/// The called UA core: rings, answers/rejects per [`Callee`], retransmits its 2xx until the
/// ACK (§13.3.1.4), answers 487 to a cancelled INVITE and 200 to BYE.
pub(super) struct Uas {
    pub(super) callee: Callee,
    pub(super) invite_key: Option<TransactionKey>,
    pub(super) decide_at: Option<Instant>,
    pub(super) ok: Option<Message>,
    pub(super) ok_retransmit: Option<(Instant, Duration, Instant)>,
    pub(super) acked_2xx: bool,
    pub(super) acked_non_2xx: bool,
    pub(super) cancelled: bool,
    pub(super) bye_received: bool,
    pub(super) timeouts: Vec<String>,
}

pub(super) struct World {
    pub(super) now: Instant,
    pub(super) net: LossyNet,
    pub(super) layers: [TransactionLayer; 2],
    pub(super) addrs: [SocketAddr; 2],
    pub(super) uac: Uac,
    pub(super) uas: Uas,
    pub(super) trace: Vec<String>,
}

const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);

impl World {
    fn new(seed: u64, cfg: NetConfig, callee: Callee) -> World {
        let layer = |s| {
            TransactionLayer::new(TimerConfig::default())
                .expect("valid config")
                .with_branch_generator(BranchGenerator::with_seed(s))
        };
        World {
            now: t0(),
            net: LossyNet::new(seed, cfg),
            layers: [layer(seed * 2), layer(seed * 2 + 1)],
            addrs: [
                "192.0.2.1:5060".parse().unwrap(),
                "192.0.2.2:5060".parse().unwrap(),
            ],
            uac: Uac {
                cancel_after_ring: callee == Callee::Ring,
                ..Uac::default()
            },
            uas: Uas {
                callee,
                invite_key: None,
                decide_at: None,
                ok: None,
                ok_retransmit: None,
                acked_2xx: false,
                acked_non_2xx: false,
                cancelled: false,
                bye_received: false,
                timeouts: Vec::new(),
            },
            trace: Vec::new(),
        }
    }

    fn transport(&self) -> &'static str {
        match self.net.cfg.reliability {
            Reliability::Unreliable => "UDP",
            Reliability::Reliable => "TCP",
        }
    }

    fn remote(&self, i: usize) -> Remote {
        Remote {
            addr: self.addrs[i],
            reliability: self.net.cfg.reliability,
        }
    }

    fn log(&mut self, s: String) {
        let t = self.now.duration_since(t0()).as_millis();
        self.trace.push(format!("{t:>6} ms {s}"));
    }

    fn start_call(&mut self) {
        let branch = self.layers[0].new_branch();
        let (a, b, tr) = (self.addrs[0], self.addrs[1], self.transport());
        let invite = msg(&format!(
            "INVITE sip:bob@{b} SIP/2.0\r\nVia: SIP/2.0/{tr} {a};branch={branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@{a}>;tag=uac\r\nTo: <sip:bob@{b}>\r\n\
             Call-ID: netem@{a}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{a}>\r\n\
             X-Freya-Direction: outbound\r\nContent-Length: 0\r\n\r\n"
        ));
        let remote = self.remote(1);
        let key = self.layers[0]
            .send_request(self.now, invite.clone(), remote)
            .expect("INVITE starts");
        self.uac.invite = Some((key, invite));
    }

    /// An in-dialog request from the UAC (ACK for 2xx, BYE) with a fresh branch.
    fn uac_in_dialog(&mut self, method: &str, cseq: u32, ok: &Message) -> Message {
        let branch = self.layers[0].new_branch();
        let (a, b, tr) = (self.addrs[0], self.addrs[1], self.transport());
        let to = ok.header("To").expect("To").value().to_owned();
        msg(&format!(
            "{method} sip:bob@{b} SIP/2.0\r\nVia: SIP/2.0/{tr} {a};branch={branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@{a}>;tag=uac\r\nTo: {to}\r\n\
             Call-ID: netem@{a}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
        ))
    }

    /// Moves both layers' transmits onto the network.
    fn flush(&mut self) {
        for i in 0..2 {
            while let Some(o) = self.layers[i].poll_transmit() {
                let to = 1 - i;
                assert_eq!(o.remote.addr, self.addrs[to]);
                let what = first_line(&o.transmit.bytes);
                let re = if o.transmit.retransmission {
                    " (re)"
                } else {
                    ""
                };
                let d = Datagram {
                    to,
                    from: self.addrs[i],
                    bytes: o.transmit.bytes,
                };
                let delivered = self.net.send(self.now, d, || false);
                let lost = if delivered { "" } else { " [lost]" };
                self.log(format!("{} sends {what}{re}{lost}", ["uac", "uas"][i]));
            }
        }
    }

    fn uac_events(&mut self) {
        while let Some(LayerEvent { key, event }) = self.layers[0].poll_event() {
            self.log(format!("uac event {key}: {}", ev_name(&event)));
            let Some((ikey, _)) = self.uac.invite.clone() else {
                continue;
            };
            match event {
                TransactionEvent::Provisional(_) if key == ikey => {
                    self.uac.provisionals += 1;
                    if self.uac.cancel_after_ring && self.uac.cancel_at.is_none() {
                        self.uac.cancel_at = Some(self.now + Duration::from_secs(1));
                    }
                }
                TransactionEvent::Final(r) if key == ikey => {
                    let status = r.status_code().unwrap_or(0);
                    self.uac.final_status.get_or_insert(status);
                    if (200..300).contains(&status) {
                        // §13.2.2.4: ACK every 2xx, the same ACK each time.
                        let ack = match &self.uac.ack_2xx {
                            Some(a) => a.clone(),
                            None => {
                                let a = self.uac_in_dialog("ACK", 1, &r).to_bytes();
                                self.uac.ack_2xx = Some(a.clone());
                                self.uac.bye_at = Some(self.now + Duration::from_secs(1));
                                self.uac.ok = Some(r);
                                a
                            }
                        };
                        self.uac.acks_sent += 1;
                        let from = self.addrs[0];
                        let d = Datagram {
                            to: 1,
                            from,
                            bytes: ack,
                        };
                        let delivered = self.net.send(self.now, d, || false);
                        let lost = if delivered { "" } else { " [lost]" };
                        self.log(format!("uac sends ACK for the 2xx (UA core){lost}"));
                    }
                }
                TransactionEvent::Final(r) if Some(&key) == self.uac.bye_key.as_ref() => {
                    self.uac.bye_final = r.status_code();
                }
                TransactionEvent::Final(r) if Some(&key) == self.uac.cancel_key.as_ref() => {
                    self.uac.cancel_final = r.status_code();
                }
                TransactionEvent::Timeout(t) => self.uac.timeouts.push(format!("{key}: {t}")),
                _ => {}
            }
        }
    }

    fn uas_dispatch(&mut self, d: Dispatch) {
        match d {
            Dispatch::NewRequest { key, request } => match request.method() {
                Some("INVITE") => {
                    self.layers[1]
                        .respond_with(self.now, &key, 180, "Ringing", &[])
                        .expect("180");
                    let after = match self.uas.callee {
                        Callee::Answer => Some(Duration::from_secs(2)),
                        Callee::Reject => Some(Duration::from_secs(1)),
                        Callee::Ring => None,
                    };
                    self.uas.decide_at = after.map(|d| self.now + d);
                    self.uas.invite_key = Some(key);
                }
                Some("BYE") => {
                    self.uas.bye_received = true;
                    self.layers[1]
                        .respond_with(self.now, &key, 200, "OK", &[])
                        .expect("200 to BYE");
                }
                other => panic!("unexpected request {other:?}"),
            },
            Dispatch::Ack(_) => {
                self.uas.acked_2xx = true;
                self.uas.ok_retransmit = None;
            }
            Dispatch::Matched(_) | Dispatch::Cancel { .. } => {}
            Dispatch::StrayResponse(m) | Dispatch::Invalid { message: m, .. } => {
                panic!("uas got {}", m.start_line())
            }
        }
    }

    fn uas_events(&mut self) {
        while let Some(LayerEvent { key, event }) = self.layers[1].poll_event() {
            self.log(format!("uas event {key}: {}", ev_name(&event)));
            match event {
                TransactionEvent::Cancelled(_) => {
                    self.uas.cancelled = true;
                    self.layers[1]
                        .respond_with(self.now, &key, 487, "Request Terminated", &[])
                        .expect("487");
                }
                TransactionEvent::Ack(_) => self.uas.acked_non_2xx = true,
                TransactionEvent::Timeout(t) => self.uas.timeouts.push(format!("{key}: {t}")),
                _ => {}
            }
        }
    }

    /// The UA cores' own deadlines.
    fn tu_timeout(&self) -> Option<Instant> {
        [
            self.uac.bye_at,
            self.uac.cancel_at,
            self.uas.decide_at,
            self.uas.ok_retransmit.map(|(at, _, _)| at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn handle_tu_timeouts(&mut self) {
        let now = self.now;
        if self.uac.bye_at.is_some_and(|t| t <= now) {
            self.uac.bye_at = None;
            let ok = self.uac.ok.clone().expect("answered");
            let bye = self.uac_in_dialog("BYE", 2, &ok);
            let remote = self.remote(1);
            self.uac.bye_key = Some(self.layers[0].send_request(now, bye, remote).expect("BYE"));
        }
        if self.uac.cancel_at.is_some_and(|t| t <= now) {
            self.uac.cancel_at = None;
            let (ikey, _) = self.uac.invite.clone().expect("invite");
            self.uac.cancel_key = Some(self.layers[0].cancel(now, &ikey, &[]).expect("CANCEL"));
        }
        if self.uas.decide_at.is_some_and(|t| t <= now) {
            self.uas.decide_at = None;
            let key = self.uas.invite_key.clone().expect("invite");
            match self.uas.callee {
                Callee::Answer => {
                    let req = self.layers[1].get(&key).expect("alive").request().clone();
                    let ok = parse(
                        crate::message::response_to(
                            &req,
                            200,
                            "OK",
                            &[("Contact", "<sip:bob@192.0.2.2>")],
                        )
                        .expect("200"),
                    )
                    .expect("parses");
                    self.layers[1].respond(now, &key, ok.clone()).expect("200");
                    self.uas.ok = Some(ok);
                    self.uas.ok_retransmit = Some((now + T1, T1, now + T1 * 64));
                }
                Callee::Reject => {
                    self.layers[1]
                        .respond_with(now, &key, 486, "Busy Here", &[])
                        .expect("486");
                }
                Callee::Ring => {}
            }
        }
        if let Some((at, interval, give_up)) = self.uas.ok_retransmit {
            if at <= now {
                let key = self.uas.invite_key.clone().expect("invite");
                let ok = self.uas.ok.clone().expect("ok");
                // The UAS core retransmits its 2xx (§13.3.1.4) through the Accepted
                // transaction, which sends it (RFC 6026).
                let _ = self.layers[1].respond(now, &key, ok);
                let next = (interval * 2).min(T2);
                self.uas.ok_retransmit =
                    (now + next < give_up).then_some((now + next, next, give_up));
            }
        }
    }

    /// Runs until nothing is left to do (every transaction ended, the network empty) or
    /// `limit` of virtual time passed.
    fn run(&mut self, limit: Duration) {
        let end = t0() + limit;
        loop {
            self.flush();
            self.uac_events();
            self.uas_events();
            self.flush();
            let next = [
                self.net.next_at(),
                self.layers[0].poll_timeout(),
                self.layers[1].poll_timeout(),
                self.tu_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else { break };
            assert!(next >= self.now, "time never goes backwards");
            if next > end {
                break;
            }
            self.now = next;
            while let Some(p) = self.net.pop_due(self.now) {
                let m = parse(p.bytes.clone()).expect("the emulator delivers whole datagrams");
                let from = Remote {
                    addr: p.from,
                    reliability: self.net.cfg.reliability,
                };
                let who = ["uac", "uas"][p.to];
                self.log(format!("{who} receives {}", m.start_line()));
                let d = self.layers[p.to].handle_message(self.now, m, from);
                if p.to == 1 {
                    self.uas_dispatch(d);
                } else if let Dispatch::NewRequest { request, .. } = d {
                    panic!("uac got a request {}", request.start_line());
                }
                self.flush();
                self.uac_events();
                self.uas_events();
            }
            for l in &mut self.layers {
                l.handle_timeout(self.now);
            }
            self.handle_tu_timeouts();
        }
    }

    pub(super) fn explain(&self) -> String {
        self.trace.join("\n")
    }
}

fn first_line(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == b'\r').unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

pub(super) fn quiescent(w: &World) {
    assert!(
        w.layers[0].is_empty(),
        "uac layer still holds transactions\n{}",
        w.explain()
    );
    assert!(
        w.layers[1].is_empty(),
        "uas layer still holds transactions\n{}",
        w.explain()
    );
    assert!(w.net.is_empty());
}

pub(super) fn call(seed: u64, cfg: NetConfig, callee: Callee) -> World {
    let mut w = World::new(seed, cfg, callee);
    w.start_call();
    w.run(Duration::from_secs(300));
    w
}
