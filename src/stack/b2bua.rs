//! B2BUA routes (`uri = "sip:…"`): the caller's leg (A) and a new leg to the route's URI
//! (B) bridged with media anchored through the relay (`direct_media=no`): every X- header of
//! A's INVITE goes on B's byte-exact, B's ringing rings A, B's failure status and `Reason`
//! go back to A, and BYE/CANCEL cross in both directions. Hold crosses too: when one
//! leg's peer holds or resumes, freya answers it and re-INVITEs the other leg the same way
//! (Asterisk's `moh_passthrough=yes`; see [`super::hold`]).

use std::time::{Duration, Instant};

use freya_media::relay::{spawn_relay, LegId, LegSetup, RelayEvent, ShellEvent};
use freya_sip::dialog::{CallEnd, DialogError, DialogEvent, EndKind, Side, Q850};
use freya_sip::sdp::{Capabilities, Negotiated};
use freya_sip::ua::{Call, Originate, UaError};

use super::call::{shell_config, wait_end, Ending};
use super::hold::{HoldAction, HoldPass};
use super::media::remote_media;
use super::media_stats::b2bua_call;
use super::Inner;
use crate::config::{Route, StackConfig};
use crate::event::{CallEvent, CallMediaStats, EventKind};

fn reason_phrase(status: u16) -> &'static str {
    match status {
        404 => "Not Found",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        603 => "Decline",
        _ => "Call Failed",
    }
}

/// Bridges `a` to the route's URI. Returns how the call ended, when it was answered, and
/// (answered calls) both legs' media counters from the relay's final report.
pub(crate) async fn bridge(
    inner: &Inner,
    config: &StackConfig,
    a: &mut Call,
    id: &str,
    route: &Route,
    x_headers: &[(String, String)],
) -> (Ending, Option<Instant>, Option<Box<CallMediaStats>>) {
    let system = |sip_code: u16, cause: Q850| Ending {
        sip_code,
        reason: reason_phrase(sip_code).to_owned(),
        cause: Some(cause),
        by: "system",
    };
    let uri = route.uri.clone().unwrap_or_default();
    let shell = shell_config(config);
    let (a_setup, b_setup) = (LegSetup::default(), LegSetup::default());
    #[cfg(target_os = "linux")]
    let spawned = match config.media.relay_io {
        crate::config::RelayIo::IoUring => match inner.ring() {
            Some(ring) => ring.spawn_relay(&inner.ports, shell, a_setup, b_setup),
            None => spawn_relay(&inner.ports, shell, a_setup, b_setup),
        },
        crate::config::RelayIo::Tokio => spawn_relay(&inner.ports, shell, a_setup, b_setup),
    };
    #[cfg(not(target_os = "linux"))]
    let spawned = spawn_relay(&inner.ports, shell, a_setup, b_setup);
    let (relay, mut relay_events) = match spawned {
        Ok(x) => x,
        Err(error) => {
            tracing::error!(call_id = id, %error, "stack: no RTP ports for a B2BUA call");
            let _ = a.reject(503, "Service Unavailable", Some(Q850::new(47)));
            return (system(503, Q850::new(47)), None, None);
        }
    };
    let (Some(local_a), Some(local_b)) = (relay.local(LegId::A), relay.local(LegId::B)) else {
        let _ = a.reject(500, "Server Internal Error", Some(Q850::new(47)));
        return (system(500, Q850::new(47)), None, None);
    };
    let m = &config.media;
    let sdp_ip = m.external_media_address.unwrap_or(m.address);
    // B is offered what A offered (and we support): the relay forwards packets as they are,
    // so both legs must end up on one codec.
    let mut caps_b = Capabilities::new(sdp_ip, local_b.rtp.port());
    if let Some(offer) = a.info().offer() {
        let text = offer.to_string();
        let offered: Vec<_> = caps_b
            .codecs
            .iter()
            .copied()
            .filter(|c| offers(&text, c.static_payload_type(), c.encoding_name()))
            .collect();
        if !offered.is_empty() {
            caps_b.codecs = offered;
        }
    }
    let mut o = Originate::new(&uri, caps_b);
    o.trunk = route.trunk.clone();
    o.caller_id = a.info().caller.as_ref().and_then(|p| p.user.clone());
    let has_call_id = x_headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("X-Freya-Call-Id"));
    if !has_call_id {
        o = o.header("X-Freya-Call-Id", id);
    }
    for (n, v) in x_headers {
        o = o.header(n, v);
    }
    let mut b = match inner.ua.originate(o).await {
        Ok(b) => b,
        Err(error) => {
            tracing::warn!(call_id = id, uri, %error, "stack: B2BUA leg refused");
            let _ = a.reject(500, "Server Internal Error", Some(Q850::new(127)));
            let _ = relay.close().await;
            return (system(500, Q850::new(127)), None, None);
        }
    };
    // Before the answer: B's progress rings A; B's end ends A with B's status and cause;
    // A's CANCEL cancels B.
    let answered = loop {
        tokio::select! {
            ev = b.next_event() => match ev {
                Some(DialogEvent::Progress { status, .. }) => {
                    let _ = a.ring();
                    inner.emit(CallEvent::new(id, EventKind::Ringing { sip_code: status }));
                }
                Some(DialogEvent::Answered { media, .. }) => break media,
                Some(DialogEvent::Ended { end, .. }) => {
                    let status = if (300..700).contains(&end.status) { end.status } else { 500 };
                    let _ = a.reject(status, &end.reason_phrase, end.cause);
                    let _ = relay.close().await;
                    return (Ending { by: "remote", ..Ending::from_end(&end) }, None, None);
                }
                Some(_) => {}
                None => {
                    let _ = a.reject(500, "Server Internal Error", Some(Q850::new(41)));
                    let _ = relay.close().await;
                    return (system(500, Q850::new(41)), None, None);
                }
            },
            ev = a.next_event() => match ev {
                Some(DialogEvent::Ended { end, .. }) => {
                    let _ = b.hangup(end.cause);
                    let _ = wait_end(&mut b).await;
                    let _ = relay.close().await;
                    return (Ending::from_end(&end), None, None);
                }
                Some(_) => {}
                None => {
                    let _ = b.hangup(None);
                    let _ = relay.close().await;
                    return (system(500, Q850::new(41)), None, None);
                }
            }
        }
    };
    let _ = relay.update_remote(LegId::B, remote_media(&answered));
    let mut caps_a = Capabilities::new(sdp_ip, local_a.rtp.port());
    caps_a.codecs = vec![answered.codec];
    if let Err(error) = a.answer(caps_a) {
        tracing::warn!(call_id = id, %error, "stack: A refused B's codec; releasing both");
        let _ = b.hangup(Some(Q850::new(65)));
        let _ = wait_end(&mut b).await;
        let end = wait_end(a).await;
        let _ = relay.close().await;
        return (
            end.map_or(system(488, Q850::new(65)), |e| Ending::from_end(&e)),
            None,
            None,
        );
    }
    let t0 = Instant::now();
    inner.emit(CallEvent::new(id, EventKind::Answered {}));
    if let Some(n) = a.negotiated() {
        let _ = relay.update_remote(LegId::A, remote_media(&n));
    }
    // A's peer decides B's hold state, and B's peer A's.
    let mut a_to_b = HoldPass::default();
    let mut b_to_a = HoldPass::default();
    let ending = loop {
        let retrying = a_to_b.pending() || b_to_a.pending();
        tokio::select! {
            ev = a.next_event() => match ev {
                Some(DialogEvent::MediaUpdated { media, by, .. }) => {
                    let _ = relay.update_remote(LegId::A, remote_media(&media));
                    media_updated(inner, id, &media, by, "caller", &b, &mut a_to_b, &mut b_to_a);
                }
                Some(DialogEvent::ReinviteFailed { status, .. }) => {
                    tracing::warn!(call_id = id, status, "stack: the caller refused our hold/resume re-INVITE");
                    let act = b_to_a.done(false);
                    follow(id, a, &mut b_to_a, act);
                }
                Some(DialogEvent::Ended { end, .. }) => {
                    let _ = b.hangup(end.cause);
                    let _ = wait_end(&mut b).await;
                    break Ending::from_end(&end);
                }
                Some(_) => {}
                None => break system(500, Q850::new(41)),
            },
            ev = b.next_event() => match ev {
                Some(DialogEvent::MediaUpdated { media, by, .. }) => {
                    let _ = relay.update_remote(LegId::B, remote_media(&media));
                    media_updated(inner, id, &media, by, "callee", a, &mut b_to_a, &mut a_to_b);
                }
                Some(DialogEvent::ReinviteFailed { status, .. }) => {
                    tracing::warn!(call_id = id, status, "stack: the far end refused our hold/resume re-INVITE");
                    let act = a_to_b.done(false);
                    follow(id, &b, &mut a_to_b, act);
                }
                Some(DialogEvent::Ended { end, .. }) => {
                    let _ = a.hangup(end.cause);
                    let _ = wait_end(a).await;
                    break far_end(&end);
                }
                Some(_) => {}
                None => break system(500, Q850::new(41)),
            },
            ev = relay_events.recv() => {
                if let Some(ShellEvent::Relay(RelayEvent::RtpTimeout { .. })) = ev {
                    tracing::warn!(call_id = id, "stack: RTP timeout on a B2BUA call: hanging up both legs");
                    let _ = a.hangup(Some(Q850::RECOVERY_ON_TIMER_EXPIRY));
                    let _ = b.hangup(Some(Q850::RECOVERY_ON_TIMER_EXPIRY));
                    let _ = wait_end(&mut b).await;
                    let _ = wait_end(a).await;
                    break system(408, Q850::RECOVERY_ON_TIMER_EXPIRY);
                }
            }
            // A hold that could not be sent (an INVITE was under way on that leg) is
            // tried again shortly; nothing else wakes this loop while a call is quiet.
            _ = tokio::time::sleep(Duration::from_millis(200)), if retrying => {}
        }
        let act = a_to_b.retry();
        follow(id, &b, &mut a_to_b, act);
        let act = b_to_a.retry();
        follow(id, a, &mut b_to_a, act);
    };
    let media = relay.close().await.ok().map(|r| Box::new(b2bua_call(&r)));
    (ending, Some(t0), media)
}

/// A leg's media changed. `by` the peer (`who`: `caller` for A, `callee` for B): report a
/// hold or resume and pass it to the other leg (`follower`, through `pass`). By us: our
/// own re-INVITE on this leg, passing the other peer's hold, got its 2xx (`ours`).
#[allow(clippy::too_many_arguments)]
fn media_updated(
    inner: &Inner,
    id: &str,
    media: &Negotiated,
    by: Side,
    who: &str,
    follower: &Call,
    pass: &mut HoldPass,
    ours: &mut HoldPass,
) {
    match by {
        Side::Remote => {
            if media.remote_hold != pass.wanted() {
                tracing::info!(
                    call_id = id,
                    held = media.remote_hold,
                    by = who,
                    "stack: hold passed to the other leg"
                );
                inner.emit(CallEvent::new(
                    id,
                    EventKind::Hold {
                        held: media.remote_hold,
                        by: who.to_owned(),
                    },
                ));
            }
            let act = pass.peer(media.remote_hold);
            follow(id, follower, pass, act);
        }
        Side::Local => {
            let _ = ours.done(true);
        }
    }
}

/// Sends the hold (`Some(true)`) or resume (`Some(false)`) re-INVITE `act` on `leg`.
fn follow(id: &str, leg: &Call, pass: &mut HoldPass, act: HoldAction) {
    let Some(hold) = act else {
        return;
    };
    let sent = if hold { leg.hold() } else { leg.unhold() };
    match sent {
        Ok(()) => pass.sent(hold),
        // The leg's peer (or we) has an INVITE under way: try again after it.
        Err(UaError::Dialog(DialogError::InviteInProgress(_))) => pass.not_sent(),
        Err(error) => {
            tracing::warn!(call_id = id, hold, %error, "stack: could not pass hold to the other leg");
            pass.sent(hold);
            let _ = pass.done(false);
        }
    }
}

/// The far end hung up: reported as the remote side's end.
fn far_end(end: &CallEnd) -> Ending {
    Ending {
        by: if end.kind == EndKind::Bye {
            "remote"
        } else {
            "system"
        },
        ..Ending::from_end(end)
    }
}

/// Whether an SDP offer's audio line lists the static payload type `pt` or an rtpmap of
/// `encoding` (RFC 3264 §5.1: the formats of the `m=` line).
fn offers(sdp: &str, pt: u8, encoding: &str) -> bool {
    sdp.lines().any(|l| {
        l.strip_prefix("m=audio ")
            .is_some_and(|rest| rest.split_whitespace().skip(2).any(|f| f == pt.to_string()))
            || l.strip_prefix("a=rtpmap:").is_some_and(|r| {
                r.split_whitespace()
                    .nth(1)
                    .is_some_and(|e| e.to_ascii_uppercase().starts_with(encoding))
            })
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn offered_codecs_are_read_from_the_m_line_and_rtpmaps() {
        let sdp = "v=0\r\nm=audio 4000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
        assert!(super::offers(sdp, 8, "PCMA"));
        assert!(!super::offers(sdp, 0, "PCMU"));
        let sdp = "m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 pcmu/8000\r\n";
        assert!(super::offers(sdp, 0, "PCMU"));
    }
}
