//! Tests for the transaction module, all in virtual time: an `Instant` taken once and
//! advanced by hand, never a sleep.

mod calls;
mod client_invite;
mod client_non_invite;
mod key;
mod layer;
mod netem;
mod server_invite;
mod server_non_invite;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::message::{parse, response_to, Message};

use super::{TransactionEvent, Transmit};

/// The virtual epoch.
pub(super) fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

/// `t0 + ms`.
pub(super) fn at(ms: u64) -> Instant {
    t0() + Duration::from_millis(ms)
}

pub(super) fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

pub(super) fn msg(s: &str) -> Message {
    parse(Bytes::from(s.to_owned())).expect("test message parses")
}

/// A request with the usual headers; `transport` is the Via transport token.
pub(super) fn request(method: &str, branch: &str, transport: &str, cseq: u32) -> Message {
    let to_tag = if method == "INVITE" || method == "CANCEL" {
        ""
    } else {
        ";tag=callee"
    };
    msg(&format!(
        "{method} sip:bob@192.0.2.2:5060 SIP/2.0\r\n\
         Via: SIP/2.0/{transport} 192.0.2.1:5060;branch={branch};rport\r\n\
         Via: SIP/2.0/{transport} 10.0.0.1:5060;branch=z9hG4bKdownstream\r\n\
         Route: <sip:edge1.example;lr>\r\nRoute: <sip:edge2.example;lr>\r\n\
         Max-Forwards: 70\r\nFrom: \"Alice\" <sip:alice@192.0.2.1>;tag=caller\r\n\
         To: <sip:bob@192.0.2.2>{to_tag}\r\nCall-ID: call-1@192.0.2.1\r\nCSeq: {cseq} {method}\r\n\
         Contact: <sip:alice@192.0.2.1:5060>\r\nX-Freya-Workflow-Id: wf-7\r\nContent-Length: 0\r\n\r\n"
    ))
}

pub(super) fn invite(branch: &str, transport: &str) -> Message {
    request("INVITE", branch, transport, 1)
}

/// A response to `req` as a UAS would build it (To tag added above 100).
pub(super) fn response(req: &Message, status: u16) -> Message {
    let reason = match status {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        408 => "Request Timeout",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        _ => "Whatever",
    };
    parse(response_to(req, status, reason, &[]).expect("response builds")).expect("parses")
}

/// A response with another To tag (a fork).
pub(super) fn response_with_tag(req: &Message, status: u16, tag: &str) -> Message {
    let r = response(req, status);
    let to = r.to().expect("to");
    let value = format!("<{}>;tag={tag}", to.uri);
    let mut e = r.edit();
    e.set_header("To", &value).expect("edit");
    e.finish().expect("reparse")
}

pub(super) fn drain<T>(f: impl FnMut() -> Option<T>) -> Vec<T> {
    std::iter::from_fn(f).collect()
}

pub(super) fn status_of(t: &Transmit) -> Option<u16> {
    parse(t.bytes.clone()).ok().and_then(|m| m.status_code())
}

pub(super) fn method_of(t: &Transmit) -> Option<String> {
    parse(t.bytes.clone())
        .ok()
        .and_then(|m| m.method().map(str::to_owned))
}

/// A short name for an event, for compact assertions.
pub(super) fn ev_name(e: &TransactionEvent) -> String {
    match e {
        TransactionEvent::Provisional(m) => format!("1xx:{}", m.status_code().unwrap_or(0)),
        TransactionEvent::Final(m) => format!("final:{}", m.status_code().unwrap_or(0)),
        TransactionEvent::Timeout(t) => format!("timeout:{t}"),
        TransactionEvent::TransportError => "transport-error".into(),
        TransactionEvent::Ack(_) => "ack".into(),
        TransactionEvent::Cancelled(_) => "cancelled".into(),
        TransactionEvent::Terminated => "terminated".into(),
    }
}

/// What the four machines have in common, for driving them through their timers.
pub(super) trait Machine {
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
    fn poll_transmit(&mut self) -> Option<Transmit>;
    fn poll_event(&mut self) -> Option<TransactionEvent>;
}

macro_rules! machine {
    ($($t:ty),*) => {$(
        impl Machine for $t {
            fn poll_timeout(&self) -> Option<Instant> { <$t>::poll_timeout(self) }
            fn handle_timeout(&mut self, now: Instant) { <$t>::handle_timeout(self, now) }
            fn poll_transmit(&mut self) -> Option<Transmit> { <$t>::poll_transmit(self) }
            fn poll_event(&mut self) -> Option<TransactionEvent> { <$t>::poll_event(self) }
        }
    )*};
}
machine!(
    super::ClientInvite,
    super::ClientNonInvite,
    super::ServerInvite,
    super::ServerNonInvite
);

/// What a machine did at its timers.
#[derive(Debug, Default)]
pub(super) struct Driven {
    /// Every transmit, with the instant of the timer that made it.
    pub sends: Vec<(Instant, Transmit)>,
    /// Every event, named by [`ev_name`], with its instant.
    pub events: Vec<(Instant, String)>,
}

impl Driven {
    /// Offsets from `from` in ms of the sends.
    pub fn send_offsets(&self, from: Instant) -> Vec<u64> {
        self.sends
            .iter()
            .map(|(t, _)| t.duration_since(from).as_millis() as u64)
            .collect()
    }
}

/// Fires the machine's timers, each at exactly its deadline, until none is due at or
/// before `until`.
pub(super) fn drive_until(m: &mut impl Machine, until: Instant) -> Driven {
    let mut d = Driven::default();
    while let Some(next) = m.poll_timeout() {
        if next > until {
            break;
        }
        m.handle_timeout(next);
        while let Some(t) = m.poll_transmit() {
            d.sends.push((next, t));
        }
        while let Some(e) = m.poll_event() {
            d.events.push((next, ev_name(&e)));
        }
    }
    d
}

/// Drains a machine's immediate output: (transmits, event names).
pub(super) fn outputs(m: &mut impl Machine) -> (Vec<Transmit>, Vec<String>) {
    (
        drain(|| m.poll_transmit()),
        drain(|| m.poll_event()).iter().map(ev_name).collect(),
    )
}
