//! What a request must pass before the dialog layer sees it — the checks of RFC 3261
//! §8.2.1–§8.2.2 (400, 416), the trunk identification with the `unknown_source` policy,
//! the digest challenge of user endpoints (RFC 3261 §22) — and the UA's own answers to
//! requests no call handles: OPTIONS 200, REGISTER 405 (we are no registrar), 501 for a
//! method we do not know (§8.2.1), each with `Allow`.

use std::net::SocketAddr;

use bytes::Bytes;

use crate::auth::UserSecret;
use crate::dialog::{DialogId, IncomingRequest};
use crate::message::{check_request, response_to, HeaderKind, Message, Uri};
use crate::transport::stamp_received;

use super::agent::{now, Core};
use super::config::UnknownSource;
use super::identify::identify_source;
use super::stats::Counter;

/// The methods a call handles (the `Allow` header of our answers).
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY";

/// Methods of other SIP extensions that we recognise and do not serve: 405 (RFC 3261
/// §8.2.1). Anything else is unknown: 501.
const KNOWN_UNSUPPORTED: &[&str] = &[
    "REGISTER",
    "MESSAGE",
    "SUBSCRIBE",
    "PUBLISH",
    "REFER",
    "PRACK",
];

/// What becomes of a request.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Hand it to the dialog layer (possibly rewritten: `force_rport`, `rewrite_contact`).
    Pass(Message),
    /// Answer it statelessly with these bytes and count it.
    Respond { response: Bytes, counter: Counter },
    /// Send nothing; count it.
    Drop { counter: Counter },
}

/// Checks a request from `source`.
pub(crate) fn check(core: &mut Core, m: &Message, source: SocketAddr) -> Verdict {
    let config = core.config.clone();
    let config = &*config;
    let method = m.method().unwrap_or_default();
    if method == "ACK" {
        // Never answered; an ACK matching nothing is counted by the layer.
        return Verdict::Pass(m.clone());
    }
    if let Err(r) = check_request(m) {
        tracing::info!(%source, method, status = r.status, warning = %r.warning, "ua: request refused");
        let warning = format!("399 freya \"{}\"", r.warning.replace(['"', '\\'], "'"));
        return respond(
            m,
            r.status,
            r.reason,
            &[("Warning", &warning)],
            Counter::Invalid,
        );
    }
    if method == "INVITE" && !accepts_sdp(m) {
        // RFC 4475 §3.3.15: we can only answer with SDP; the caller accepts none.
        tracing::info!(%source, "ua: INVITE whose Accept excludes application/sdp refused with 406");
        let warning = "399 freya \"our answer can only be application/sdp, which Accept excludes\"";
        return respond(
            m,
            406,
            "Not Acceptable",
            &[("Warning", warning)],
            Counter::Invalid,
        );
    }
    if let Some(peer) = identify_source(config, source) {
        let mut m = m.clone();
        if peer.force_rport {
            if let Ok(Some(stamped)) = stamp_received(&m, source, true) {
                m = stamped;
            }
        }
        if peer.rewrite_contact && method == "INVITE" {
            if let Some(rewritten) = rewrite_contact(&m, source) {
                m = rewritten;
            }
        }
        return Verdict::Pass(m);
    }
    // An in-dialog request for a dialog we have (a carrier's BYE from another of its
    // addresses, an endpoint's re-INVITE): the dialog vouches for it.
    if m.to().and_then(|t| t.tag()).is_some() {
        if let Some(id) = DialogId::of_incoming_request(m) {
            if core.layer.dialogs.contains_key(&id) {
                return Verdict::Pass(m.clone());
            }
        }
    }
    // A user endpoint named in From: it must prove it (RFC 3261 §22.2). ACK and CANCEL
    // cannot be challenged (§22.1); they only ever match what already passed.
    let from_user = m.from().and_then(|f| f.user().map(str::to_owned));
    if let Some(ep) = from_user
        .as_deref()
        .and_then(|u| config.endpoints.iter().find(|e| e.username == u))
    {
        if method == "CANCEL" {
            return Verdict::Pass(m.clone());
        }
        let t = now();
        let verdict = core.challenger.verify(t, m, |user, _realm| {
            config
                .endpoints
                .iter()
                .find(|e| e.username == user)
                .map(|e| UserSecret::Password(e.password.clone()))
        });
        return match verdict {
            Ok(a) if a.username == ep.username => {
                // Endpoints are phones and softphones, usually behind NAT.
                let mut m = stamp_received(m, source, true)
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| m.clone());
                if method == "INVITE" {
                    if let Some(rewritten) = rewrite_contact(&m, source) {
                        m = rewritten;
                    }
                }
                Verdict::Pass(m)
            }
            Ok(a) => {
                tracing::warn!(%source, from = ep.username, authenticated = a.username, "ua: credentials of another user refused with 403");
                respond(m, 403, "Forbidden", &[], Counter::Challenged)
            }
            Err(failure) => {
                tracing::info!(%source, user = ep.username, method, failure = failure.kind(), "ua: endpoint challenged");
                match core.challenger.challenge_response(t, m, Some(&failure)) {
                    Some(response) => Verdict::Respond {
                        response,
                        counter: Counter::Challenged,
                    },
                    None => Verdict::Drop {
                        counter: Counter::Challenged,
                    },
                }
            }
        };
    }
    match config.unknown_source {
        UnknownSource::Accept if config.force_rport => match stamp_received(m, source, true) {
            Ok(Some(stamped)) => Verdict::Pass(stamped),
            _ => Verdict::Pass(m.clone()),
        },
        UnknownSource::Accept => Verdict::Pass(m.clone()),
        UnknownSource::Reject => {
            tracing::warn!(%source, method, call_id = m.call_id().unwrap_or(""), "ua: request from an unknown source refused with 403");
            respond(m, 403, "Forbidden", &[], Counter::UnknownSource)
        }
        UnknownSource::Ignore => {
            tracing::warn!(%source, method, call_id = m.call_id().unwrap_or(""), "ua: request from an unknown source ignored (unknown_source = ignore)");
            Verdict::Drop {
                counter: Counter::UnknownSource,
            }
        }
    }
}

fn respond(
    m: &Message,
    status: u16,
    reason: &str,
    extra: &[(&str, &str)],
    counter: Counter,
) -> Verdict {
    match response_to(m, status, reason, extra) {
        Some(response) => Verdict::Respond { response, counter },
        None => Verdict::Drop { counter },
    }
}

/// The Contact's URI with its host and port replaced by `source` (Asterisk's
/// `rewrite_contact=yes`: a peer behind NAT writes its private address there).
fn rewrite_contact(m: &Message, source: SocketAddr) -> Option<Message> {
    let c = m.contacts().next()?;
    let Ok(Uri::Sip(u)) = Uri::parse(c.uri) else {
        return None;
    };
    let mut uri = String::from(if u.secure { "sips:" } else { "sip:" });
    if let Some(user) = u.user {
        uri.push_str(user);
        if let Some(pw) = u.password {
            uri.push(':');
            uri.push_str(pw);
        }
        uri.push('@');
    }
    uri.push_str(&source.to_string());
    uri.push_str(u.params_raw);
    let value = format!("<{uri}>");
    let mut e = m.edit();
    e.set_header("Contact", &value).ok()?;
    e.finish().ok()
}

/// Whether a response body of `application/sdp` is acceptable (RFC 3261 §20.1: no Accept
/// header means `application/sdp`; an empty one means no body at all, which an INVITE's
/// answer cannot be).
fn accepts_sdp(m: &Message) -> bool {
    let mut any = false;
    for h in m.headers_of(HeaderKind::Accept) {
        any = true;
        for range in h.unfolded().split(',') {
            let t = range
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if t == "application/sdp" || t == "application/*" || t == "*/*" {
                return true;
            }
        }
    }
    !any
}

/// The option tags of `Require` we do not support (RFC 3261 §8.2.2.3); we support
/// `timer` (RFC 4028).
fn unsupported_extensions(m: &Message) -> Vec<String> {
    m.headers_of(HeaderKind::Require)
        .flat_map(|h| {
            h.unfolded()
                .split(',')
                .map(|t| t.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("timer"))
        .collect()
}

/// Answers a request the dialog layer handed over (out of dialog, or in a dialog with a
/// method it does not handle).
pub(crate) fn answer_request(core: &mut Core, r: IncomingRequest) {
    let method = r.request.method().unwrap_or_default().to_owned();
    let unsupported = unsupported_extensions(&r.request);
    if !unsupported.is_empty() {
        core.stats.count(Counter::Invalid);
        let list = unsupported.join(", ");
        let extra = [("Unsupported", list.as_str())];
        if let Err(error) = core
            .layer
            .respond(now(), &r.key, 420, "Bad Extension", &extra, None)
        {
            tracing::warn!(method, %error, "ua: could not answer a request");
        }
        return;
    }
    let (status, reason): (u16, &str) = if method == "OPTIONS" {
        (200, "OK")
    } else if method == "NOTIFY" {
        // We subscribe only by REFER, inside a call's dialog (the dialog layer takes those).
        core.stats.count(Counter::MethodNotAllowed);
        (481, "Subscription does not exist")
    } else if KNOWN_UNSUPPORTED.contains(&method.as_str()) {
        core.stats.count(Counter::MethodNotAllowed);
        (405, "Method Not Allowed")
    } else {
        core.stats.count(Counter::MethodNotAllowed);
        (501, "Not Implemented")
    };
    tracing::debug!(method, status, session = ?r.session, remote = %r.remote.addr, "ua: request answered by the UA");
    let mut extra: Vec<(&str, &str)> = vec![("Allow", ALLOW)];
    if status == 200 {
        extra.push(("Accept", "application/sdp"));
        extra.push(("Supported", "timer"));
    }
    if let Err(error) = core
        .layer
        .respond(now(), &r.key, status, reason, &extra, None)
    {
        tracing::warn!(method, %error, "ua: could not answer a request");
    }
}
