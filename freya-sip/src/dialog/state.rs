//! The state of one dialog (RFC 3261 §12): identity, parties, sequence numbers, remote
//! target and route set, and building requests inside it (§12.2.1.1).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use crate::message::{HeaderKind, Message, NameAddr, Uri};
use crate::transaction::{Reliability, Remote};

use super::build::{finish, raw_value, request_uri_of, Body};
use super::error::DialogError;
use super::id::DialogId;

/// Whether a dialog is early (created by a tagged provisional response) or confirmed (by a
/// 2xx) — RFC 3261 §12.
///
/// ```
/// use freya_sip::dialog::DialogState;
/// assert_ne!(DialogState::Early, DialogState::Confirmed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DialogState {
    /// Created by a 101–199 response with a To tag; ends with the INVITE's final response
    /// unless that is a 2xx on the same dialog.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
}

/// One dialog's state (RFC 3261 §12.1): built from an INVITE and the response that creates
/// the dialog, updated by target-refresh requests and responses, and used to build every
/// request sent inside it.
///
/// - **UAS side** ([`Dialog::uas`], §12.1.1): the route set is the request's Record-Route
///   in order, the remote target the request's Contact, the remote sequence number the
///   request's CSeq; the local sequence number starts empty (our first request uses 1).
/// - **UAC side** ([`Dialog::uac`], §12.1.2): the route set is the response's Record-Route
///   *reversed*, the remote target the response's Contact, the local sequence number the
///   request's CSeq; the remote sequence number starts empty.
///
/// ```
/// use freya_sip::dialog::{Dialog, DialogState};
/// use freya_sip::message::parse;
/// let invite = parse(bytes::Bytes::from_static(
///     b"INVITE sip:+1415@trunk.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\r\n\
///       From: <sip:freya@192.0.2.10>;tag=ours\r\nTo: <sip:+1415@trunk.example>\r\n\
///       Call-ID: c1\r\nCSeq: 10 INVITE\r\nContact: <sip:freya@192.0.2.10>\r\nContent-Length: 0\r\n\r\n")).unwrap();
/// let ok = parse(bytes::Bytes::from_static(
///     b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\r\n\
///       Record-Route: <sip:p2.example;lr>\r\nRecord-Route: <sip:p1.example;lr>\r\n\
///       From: <sip:freya@192.0.2.10>;tag=ours\r\nTo: <sip:+1415@trunk.example>;tag=theirs\r\n\
///       Call-ID: c1\r\nCSeq: 10 INVITE\r\nContact: <sip:gw@198.51.100.7:5080>\r\nContent-Length: 0\r\n\r\n")).unwrap();
/// let mut d = Dialog::uac(&invite, &ok).unwrap();
/// assert_eq!(d.state(), DialogState::Confirmed);
/// assert_eq!(d.route_set(), ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]); // reversed
/// assert_eq!(d.remote_target(), "sip:gw@198.51.100.7:5080");
/// let bye = d.build_request("BYE", "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK2", &[] as &[(&str, &str)], None).unwrap();
/// assert_eq!(bye.request_uri(), Some("sip:gw@198.51.100.7:5080"));   // loose routing
/// assert_eq!(bye.routes().next().unwrap().uri, "sip:p1.example;lr");
/// assert_eq!(bye.cseq().unwrap().seq, 11);
/// assert_eq!(bye.to().unwrap().tag(), Some("theirs"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    id: DialogId,
    state: DialogState,
    /// The From value of the requests we send (our URI and tag), as written.
    local_party: String,
    /// The To value of the requests we send (their URI and tag), as written.
    remote_party: String,
    local_seq: Option<u32>,
    remote_seq: Option<u32>,
    remote_target: String,
    route_set: Vec<String>,
    secure: bool,
}

/// A route-set entry written from an address: `<uri>` and its header parameters.
fn route_entry(a: &NameAddr<'_>) -> String {
    format!("<{}>{}", a.uri, a.params.as_str())
}

fn contact_uri(m: &Message) -> Option<String> {
    m.contacts()
        .next()
        .map(|c| request_uri_of(c.uri).to_owned())
}

fn is_sips(uri: &str) -> bool {
    uri.as_bytes()
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"sips:"))
}

impl Dialog {
    /// The UAS's dialog (RFC 3261 §12.1.1) for `request` (an INVITE) answered with a
    /// response carrying `local_tag` as its To tag. The state is [`DialogState::Early`] for
    /// a provisional response; call [`Dialog::confirm`] when the 2xx is sent.
    ///
    /// # Errors
    /// [`DialogError::MissingHeader`] when the request has no Call-ID, From, To or CSeq.
    pub fn uas(
        request: &Message,
        local_tag: &str,
        state: DialogState,
    ) -> Result<Dialog, DialogError> {
        let call_id = request
            .call_id()
            .ok_or(DialogError::MissingHeader("Call-ID"))?;
        let from = request.from().ok_or(DialogError::MissingHeader("From"))?;
        let to = request.to().ok_or(DialogError::MissingHeader("To"))?;
        let cseq = request.cseq().ok_or(DialogError::MissingHeader("CSeq"))?;
        let from_raw =
            raw_value(request, HeaderKind::From).ok_or(DialogError::MissingHeader("From"))?;
        let to_raw = raw_value(request, HeaderKind::To).ok_or(DialogError::MissingHeader("To"))?;
        let local_party = match to.tag() {
            Some(_) => to_raw.to_owned(),
            None => format!("{to_raw};tag={local_tag}"),
        };
        let ruri = request.request_uri().unwrap_or("");
        let remote_target = contact_uri(request).unwrap_or_else(|| from.uri.to_owned());
        Ok(Dialog {
            id: DialogId::new(
                call_id,
                to.tag().unwrap_or(local_tag),
                from.tag().unwrap_or(""),
            ),
            state,
            local_party,
            remote_party: from_raw.to_owned(),
            local_seq: None,
            remote_seq: Some(cseq.seq),
            secure: is_sips(ruri),
            route_set: request.record_routes().map(|a| route_entry(&a)).collect(),
            remote_target,
        })
    }

    /// The UAC's dialog (RFC 3261 §12.1.2) created by `response` (a 101–199 with a To tag
    /// gives [`DialogState::Early`], a 2xx [`DialogState::Confirmed`]) to our `request`.
    ///
    /// # Errors
    /// [`DialogError::MissingHeader`] when the response has no To tag or the request no
    /// Call-ID, From tag or CSeq.
    pub fn uac(request: &Message, response: &Message) -> Result<Dialog, DialogError> {
        let id =
            DialogId::of_incoming_response(response).ok_or(DialogError::MissingHeader("To tag"))?;
        let cseq = request.cseq().ok_or(DialogError::MissingHeader("CSeq"))?;
        let from_raw =
            raw_value(request, HeaderKind::From).ok_or(DialogError::MissingHeader("From"))?;
        let to_raw = raw_value(response, HeaderKind::To).ok_or(DialogError::MissingHeader("To"))?;
        let ruri = request.request_uri().unwrap_or("");
        let state = match response.status_code() {
            Some(200..=299) => DialogState::Confirmed,
            _ => DialogState::Early,
        };
        let mut route_set: Vec<String> =
            response.record_routes().map(|a| route_entry(&a)).collect();
        route_set.reverse();
        Ok(Dialog {
            id,
            state,
            local_party: from_raw.to_owned(),
            remote_party: to_raw.to_owned(),
            local_seq: Some(cseq.seq),
            remote_seq: None,
            remote_target: contact_uri(response).unwrap_or_else(|| request_uri_of(ruri).to_owned()),
            route_set,
            secure: is_sips(ruri),
        })
    }

    /// The dialog's id.
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    /// Early or confirmed.
    pub fn state(&self) -> DialogState {
        self.state
    }

    /// Marks the dialog confirmed (the UAS sent its 2xx).
    pub fn confirm(&mut self) {
        self.state = DialogState::Confirmed;
    }

    /// The From value of our requests (our URI and tag), as written.
    pub fn local_party(&self) -> &str {
        &self.local_party
    }

    /// Our address without the dialog's tag, `<uri>` (a `Referred-By` value, RFC 3892):
    /// `None` when the local party does not parse as an address.
    pub fn local_address(&self) -> Option<String> {
        crate::message::NameAddr::parse(&self.local_party)
            .ok()
            .map(|a| format!("<{}>", a.uri))
    }

    /// The To value of our requests (the peer's URI and tag), as written.
    pub fn remote_party(&self) -> &str {
        &self.remote_party
    }

    /// The last CSeq number we used (`None` before our first request as UAS).
    pub fn local_seq(&self) -> Option<u32> {
        self.local_seq
    }

    /// The highest CSeq number received from the peer (`None` before its first request
    /// when we are the UAC).
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// Where requests go: the peer's Contact URI (RFC 3261 §12.1), updated by target
    /// refreshes.
    pub fn remote_target(&self) -> &str {
        &self.remote_target
    }

    /// The route set, in the order the Route headers of our requests list it.
    pub fn route_set(&self) -> &[String] {
        &self.route_set
    }

    /// Whether the dialog was created over `sips:` (RFC 3261 §12.1.1).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// Takes a new remote target from the Contact of a target-refresh request or its 2xx
    /// (re-INVITE, UPDATE; RFC 3261 §12.2.1.2, §12.2.2; RFC 3311 §5). Returns whether it
    /// changed. A message without Contact changes nothing.
    pub fn refresh_target(&mut self, m: &Message) -> bool {
        match contact_uri(m) {
            Some(t) if t != self.remote_target => {
                self.remote_target = t;
                true
            }
            _ => false,
        }
    }

    /// The CSeq number for our next request (RFC 3261 §12.2.1.1: one more than the last, 1
    /// for the first). ACK and CANCEL reuse their INVITE's and do not call this.
    pub fn next_local_seq(&mut self) -> u32 {
        let n = self.local_seq.map_or(1, |s| s.wrapping_add(1));
        self.local_seq = Some(n);
        n
    }

    /// Checks a request received in the dialog against the remote sequence number and
    /// takes its CSeq (RFC 3261 §12.2.2). ACK and CANCEL are not checked (they carry their
    /// INVITE's number).
    ///
    /// # Errors
    /// [`DialogError::OutOfOrder`] when the CSeq is lower than the remote sequence number:
    /// the request must be answered `500 Server Internal Error`.
    pub fn receive_request(&mut self, request: &Message) -> Result<(), DialogError> {
        let cseq = request.cseq().ok_or(DialogError::MissingHeader("CSeq"))?;
        if matches!(cseq.method, "ACK" | "CANCEL") {
            return Ok(());
        }
        match self.remote_seq {
            Some(r) if cseq.seq < r => Err(DialogError::OutOfOrder {
                cseq: cseq.seq,
                remote: r,
            }),
            _ => {
                self.remote_seq = Some(cseq.seq);
                Ok(())
            }
        }
    }

    /// Whether the first route is a strict router (RFC 3261 §12.2.1.1: its URI has no `lr`
    /// parameter).
    pub fn strict_routing(&self) -> bool {
        let Some(first) = self.route_set.first() else {
            return false;
        };
        match NameAddr::parse(first)
            .ok()
            .and_then(|a| a.parsed_uri().ok())
        {
            Some(Uri::Sip(u)) => u.params().get("lr").is_none(),
            _ => false,
        }
    }

    /// Request-URI and Route values of a request in this dialog (RFC 3261 §12.2.1.1):
    /// loose routing puts the remote target in the Request-URI and the route set in Route;
    /// strict routing puts the first route's URI in the Request-URI and the rest, then the
    /// remote target, in Route.
    pub fn request_target(&self) -> (String, Vec<String>) {
        if self.strict_routing() {
            let first = self
                .route_set
                .first()
                .and_then(|r| NameAddr::parse(r).ok())
                .map(|a| request_uri_of(a.uri).to_owned())
                .unwrap_or_else(|| self.remote_target.clone());
            let mut routes: Vec<String> = self.route_set.iter().skip(1).cloned().collect();
            routes.push(format!("<{}>", self.remote_target));
            (first, routes)
        } else {
            (self.remote_target.clone(), self.route_set.clone())
        }
    }

    /// Where to send a request in this dialog when the next hop's URI names an IP address:
    /// the first route (or the remote target without one), its port (5060, 5061 for
    /// `sips:`) and its `transport` parameter (else `fallback`'s). `fallback` when the
    /// host is a name: a sans-IO core resolves nothing (RFC 3263 is the transport's).
    pub fn next_hop(&self, fallback: Remote) -> Remote {
        let uri_text = match self.route_set.first() {
            Some(r) => match NameAddr::parse(r) {
                Ok(a) => a.uri.to_owned(),
                Err(_) => return fallback,
            },
            None => self.remote_target.clone(),
        };
        let Ok(Uri::Sip(u)) = Uri::parse(&uri_text) else {
            return fallback;
        };
        let Ok(ip) = u.host_unbracketed().parse::<IpAddr>() else {
            return fallback;
        };
        let port = u.port.unwrap_or(if u.secure { 5061 } else { 5060 });
        let reliability = match u.params().get("transport").flatten() {
            Some(t) => Reliability::from_transport(t),
            None => fallback.reliability,
        };
        Remote {
            addr: SocketAddr::new(ip, port),
            reliability,
        }
    }

    /// The start line and dialog headers of a request (RFC 3261 §12.2.1.1): Request-URI and
    /// Route per [`Dialog::request_target`], `via` as the Via value, `Max-Forwards: 70`,
    /// From, To, Call-ID, and `CSeq: cseq method`. Lines end in CRLF; no empty line.
    pub fn request_head(&self, method: &str, cseq: u32, via: &str) -> String {
        let (ruri, routes) = self.request_target();
        let mut s = String::with_capacity(384);
        let _ = write!(
            s,
            "{method} {ruri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n"
        );
        for r in &routes {
            let _ = write!(s, "Route: {r}\r\n");
        }
        let _ = write!(
            s,
            "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n",
            self.local_party, self.remote_party, self.id.call_id
        );
        s
    }

    /// Builds a request in the dialog with the next local CSeq number (ACK and CANCEL reuse
    /// the last one: use [`Dialog::build_ack`] for an ACK), `via` as its Via value, `extra`
    /// headers (checked: token names, no CR/LF in values) and an optional body
    /// (`(content type, bytes)`).
    ///
    /// # Errors
    /// [`DialogError::InvalidHeader`] for a refused extra header; [`DialogError::Build`]
    /// when the result does not parse.
    pub fn build_request<N: AsRef<str>, V: AsRef<str>>(
        &mut self,
        method: &str,
        via: &str,
        extra: &[(N, V)],
        body: Option<(&str, &[u8])>,
    ) -> Result<Message, DialogError> {
        let cseq = if matches!(method, "ACK" | "CANCEL") {
            self.local_seq.unwrap_or(1)
        } else {
            self.next_local_seq()
        };
        let head = self.request_head(method, cseq, via);
        finish(
            head,
            extra,
            body.map(|(content_type, bytes)| Body {
                content_type,
                bytes,
            }),
        )
    }

    /// Builds the ACK for a 2xx to the INVITE with CSeq number `invite_cseq` (RFC 3261
    /// §13.2.2.4): a request of its own (a fresh branch in `via`), same CSeq number,
    /// method ACK, routed like any request in the dialog; `body` carries the answer when
    /// the 2xx carried an offer.
    ///
    /// # Errors
    /// As [`Dialog::build_request`].
    pub fn build_ack(
        &self,
        invite_cseq: u32,
        via: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Message, DialogError> {
        let head = self.request_head("ACK", invite_cseq, via);
        finish(
            head,
            &[] as &[(&str, &str)],
            body.map(|(content_type, bytes)| Body {
                content_type,
                bytes,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::parse;

    fn m(s: &str) -> Message {
        parse(bytes::Bytes::from(s.to_owned())).unwrap()
    }

    fn invite() -> Message {
        m(
            "INVITE sips:bob@b.example SIP/2.0\r\nVia: SIP/2.0/TLS 10.0.0.1;branch=z9hG4bK1\r\n\
           Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>\r\n\
           From: \"A\" <sip:alice@a.example>;tag=a1\r\nTo: <sips:bob@b.example>\r\n\
           Call-ID: c\r\nCSeq: 5 INVITE\r\nContact: <sip:alice@10.0.0.1:5062;transport=tcp>\r\n\
           Content-Length: 0\r\n\r\n",
        )
    }

    #[test]
    fn uas_dialog_keeps_record_route_order() {
        let mut d = Dialog::uas(&invite(), "b9", DialogState::Early).unwrap();
        assert_eq!(d.id(), &DialogId::new("c", "b9", "a1"));
        assert!(d.is_secure());
        assert_eq!(
            d.route_set(),
            ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
        );
        assert_eq!(d.local_party(), "<sips:bob@b.example>;tag=b9");
        assert_eq!(d.remote_party(), "\"A\" <sip:alice@a.example>;tag=a1");
        let bye = d
            .build_request(
                "BYE",
                "SIP/2.0/TLS 10.0.0.2;branch=z9hG4bK9",
                &[] as &[(&str, &str)],
                None,
            )
            .unwrap();
        assert_eq!(bye.cseq().unwrap().seq, 1);
        assert_eq!(
            bye.request_uri(),
            Some("sip:alice@10.0.0.1:5062;transport=tcp")
        );
        let routes: Vec<_> = bye.routes().map(|r| r.uri.to_owned()).collect();
        assert_eq!(routes, ["sip:p1.example;lr", "sip:p2.example;lr"]);
        assert_eq!(bye.from().unwrap().tag(), Some("b9"));
        assert_eq!(bye.to().unwrap().tag(), Some("a1"));
        // Hostname route: the fallback is used.
        let fb = Remote::udp("198.51.100.1:5060".parse().unwrap());
        assert_eq!(d.next_hop(fb), fb);
    }

    #[test]
    fn strict_router_goes_in_the_request_uri() {
        let inv = m(
            "INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n\
                     Record-Route: <sip:192.0.2.50:5070>\r\n\
                     From: <sip:alice@a.example>;tag=a1\r\nTo: <sip:bob@b.example>\r\n\
                     Call-ID: c\r\nCSeq: 5 INVITE\r\nContact: <sip:alice@10.0.0.1>\r\n\
                     Content-Length: 0\r\n\r\n",
        );
        let mut d = Dialog::uas(&inv, "b9", DialogState::Confirmed).unwrap();
        assert!(d.strict_routing());
        let info = d
            .build_request(
                "INFO",
                "SIP/2.0/UDP h;branch=z9hG4bK2",
                &[("X-A", "1")],
                Some(("text/plain", b"hi")),
            )
            .unwrap();
        assert_eq!(info.request_uri(), Some("sip:192.0.2.50:5070"));
        let routes: Vec<_> = info.routes().map(|r| r.uri.to_owned()).collect();
        assert_eq!(routes, ["sip:alice@10.0.0.1"]);
        assert_eq!(info.body(), b"hi");
        let fb = Remote::tcp("198.51.100.1:5060".parse().unwrap());
        assert_eq!(
            d.next_hop(fb),
            Remote::tcp("192.0.2.50:5070".parse().unwrap())
        );
    }

    #[test]
    fn remote_cseq_is_checked() {
        let mut d = Dialog::uas(&invite(), "b9", DialogState::Confirmed).unwrap();
        let req = |n: u32, method: &str| {
            m(&format!(
                "{method} sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK{n}\r\n\
                 From: <sip:alice@a.example>;tag=a1\r\nTo: <sip:bob@b.example>;tag=b9\r\n\
                 Call-ID: c\r\nCSeq: {n} {method}\r\nContent-Length: 0\r\n\r\n"
            ))
        };
        assert!(d.receive_request(&req(6, "INFO")).is_ok());
        assert_eq!(
            d.receive_request(&req(4, "INFO")),
            Err(DialogError::OutOfOrder { cseq: 4, remote: 6 })
        );
        assert!(d.receive_request(&req(5, "ACK")).is_ok());
        assert_eq!(d.remote_seq(), Some(6));
        let refresh = m("INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK8\r\n\
                         From: <sip:alice@a.example>;tag=a1\r\nTo: <sip:bob@b.example>;tag=b9\r\n\
                         Call-ID: c\r\nCSeq: 8 INVITE\r\nContact: <sip:alice@10.0.0.9>\r\nContent-Length: 0\r\n\r\n");
        assert!(d.refresh_target(&refresh));
        assert_eq!(d.remote_target(), "sip:alice@10.0.0.9");
    }
}
