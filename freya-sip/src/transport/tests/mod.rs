//! Transport tests on loopback (127.0.0.1 and ::1 only). Every await that waits for the
//! network is bounded by [`within`]; nothing sleeps to synchronise.

mod sipp;
mod tcp;
mod udp;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

use crate::message::{parse, Message, StreamFramer};
use crate::transaction::{TimerConfig, TransactionEvent, TransactionKey};

use super::{Driver, DriverHandle, TransportConfig, TransportKind, TuEvent};

/// The longest any single network wait may take before the test fails.
pub(super) const LIMIT: Duration = Duration::from_secs(10);

/// Awaits `f`, failing the test after [`LIMIT`].
pub(super) async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(LIMIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {LIMIT:?}: {what}"),
    }
}

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Fast timers, so that a test that goes wrong fails in seconds, not 32.
pub(super) fn timers() -> TimerConfig {
    TimerConfig {
        t1: Duration::from_millis(100),
        ..TimerConfig::default()
    }
}

pub(super) fn config(bind: &str) -> TransportConfig {
    TransportConfig::new(addr(bind))
}

/// A request as a raw client would send it; `via` is the whole top Via value.
pub(super) fn raw_request(method: &str, via: &str, call_id: &str, body: &str) -> String {
    format!(
        "{method} sip:freya@example.invalid SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
         From: <sip:tester@example.invalid>;tag=t1\r\nTo: <sip:freya@example.invalid>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 {method}\r\nX-Freya-Test: keep\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// An OPTIONS from a driver, its top Via our sent-by over `kind`.
pub(super) fn options_from(h: &DriverHandle, kind: TransportKind, call_id: &str) -> Message {
    let me = h.sent_by();
    parse(Bytes::from(format!(
        "OPTIONS sip:peer@example.invalid SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\n\
         From: <{}>;tag=o1\r\nTo: <sip:peer@example.invalid>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\nContact: <{}>\r\nContent-Length: 0\r\n\r\n",
        me.via(kind, &h.new_branch()),
        me.contact_uri(Some("freya"), kind),
        me.contact_uri(Some("freya"), kind),
    )))
    .unwrap()
}

/// A UAS transaction user: OPTIONS/BYE/anything → 200; INVITE → 180 then 200 with a
/// Contact. Forwards every event it saw to `seen` (when given) after acting on it.
pub(super) fn spawn_uas(
    h: DriverHandle,
    mut events: mpsc::Receiver<TuEvent>,
    seen: Option<mpsc::UnboundedSender<TuEvent>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let TuEvent::Request {
                key,
                request,
                transport,
                ..
            } = &ev
            {
                if request.method() == Some("INVITE") {
                    let contact = format!("<{}>", h.sent_by().contact_uri(Some("uas"), *transport));
                    let _ = h.respond_with(key.clone(), 180, "Ringing", vec![]).await;
                    let _ = h
                        .respond_with(key.clone(), 200, "OK", vec![("Contact".into(), contact)])
                        .await;
                } else {
                    let _ = h.respond_with(key.clone(), 200, "OK", vec![]).await;
                }
            }
            if let Some(s) = &seen {
                let _ = s.send(ev);
            }
        }
    })
}

/// A driver that answers like [`spawn_uas`].
pub(super) async fn uas(
    config: TransportConfig,
) -> (DriverHandle, mpsc::UnboundedReceiver<TuEvent>) {
    let (h, events) = Driver::spawn(config, timers()).await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    spawn_uas(h.clone(), events, Some(tx));
    (h, rx)
}

/// The next request the UAS saw.
pub(super) async fn next_request(
    seen: &mut mpsc::UnboundedReceiver<TuEvent>,
) -> (Message, SocketAddr, TransportKind) {
    loop {
        match within("the UAS to see a request", seen.recv()).await {
            Some(TuEvent::Request {
                request,
                source,
                transport,
                ..
            }) => return (request, source, transport),
            Some(_) => continue,
            None => panic!("UAS event stream ended"),
        }
    }
}

/// The final response of client transaction `key`.
pub(super) async fn final_response(
    events: &mut mpsc::Receiver<TuEvent>,
    key: &TransactionKey,
) -> Result<Message, TransactionEvent> {
    loop {
        match within("a final response", events.recv()).await {
            Some(TuEvent::Transaction(e)) if &e.key == key => match e.event {
                TransactionEvent::Final(m) => return Ok(m),
                TransactionEvent::Provisional(_) => continue,
                other => return Err(other),
            },
            Some(_) => continue,
            None => panic!("driver event stream ended"),
        }
    }
}

/// One datagram, parsed.
pub(super) async fn recv_msg(sock: &UdpSocket) -> (Message, SocketAddr) {
    let mut buf = vec![0u8; 65_536];
    let (n, from) = within("a datagram", sock.recv_from(&mut buf))
        .await
        .unwrap();
    (parse(Bytes::copy_from_slice(&buf[..n])).unwrap(), from)
}

/// Reads a TCP stream as SIP messages.
pub(super) struct TcpClient {
    pub(super) stream: TcpStream,
    framer: StreamFramer,
}

impl TcpClient {
    pub(super) async fn connect(to: SocketAddr) -> TcpClient {
        TcpClient {
            stream: within("connect", TcpStream::connect(to)).await.unwrap(),
            framer: StreamFramer::new(),
        }
    }

    pub(super) fn local(&self) -> SocketAddr {
        self.stream.local_addr().unwrap()
    }

    pub(super) async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    /// The next message; `None` at EOF.
    pub(super) async fn next(&mut self) -> Option<Message> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(m) = self.framer.next_message().unwrap() {
                return Some(m);
            }
            let n = within("a message on TCP", self.stream.read(&mut buf))
                .await
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.framer.push(&buf[..n]);
        }
    }

    /// Reads raw bytes until EOF (or error), at most `LIMIT` long.
    pub(super) async fn read_to_end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = within("EOF", self.stream.read_to_end(&mut out)).await;
        out
    }
}
