//! The one event model (DESIGN.md principle 6): every call state change is one
//! [`CallEvent`], the same JSON in Rust, Python and Node, streamed on the control API and
//! logged as one structured line.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One thing that happened to a call.
///
/// ```
/// use freya::event::{CallEvent, EventKind};
/// let e = CallEvent::new("5b0f8c1e-2f4a-4a57-9c4e-0d6c3f0e8a11", EventKind::Hangup {
///     sip_code: 603, reason: "Decline".into(), q850_cause: Some(21), q850_text: Some("Call rejected".into()),
///     hangup_by: "remote".into(), duration_ms: 0, recording: None, media: None });
/// let json = serde_json::to_value(&e).unwrap();
/// assert_eq!(json["event"], "hangup");
/// assert_eq!(json["q850_text"], "Call rejected");
/// assert_eq!(json["call_id"], "5b0f8c1e-2f4a-4a57-9c4e-0d6c3f0e8a11");
/// assert!(json.get("media").is_none()); // never answered: no media, no key
/// let back: CallEvent = serde_json::from_value(json).unwrap();
/// assert_eq!(back, e);
/// ```
// Not `Eq`: the hangup's media statistics carry the jitter as a float (ms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEvent {
    /// The call's freya UUID (its `X-Freya-Call-Id`).
    pub call_id: String,
    /// When, in milliseconds since the Unix epoch.
    pub ts_ms: u64,
    /// What.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl CallEvent {
    /// An event stamped now.
    pub fn new(call_id: impl Into<String>, kind: EventKind) -> CallEvent {
        let ts_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        CallEvent {
            call_id: call_id.into(),
            ts_ms,
            kind,
        }
    }

    /// Logs the event as one structured line (target `freya::event`, field `json`). A
    /// hangup with media also carries the headline numbers as fields of their own (see
    /// [`MediaHeadline`]), so a log query finds lossy calls without parsing the JSON.
    pub fn log(&self) {
        let json = serde_json::to_string(self).unwrap_or_default();
        let (warn, h) = match &self.kind {
            EventKind::Hangup {
                sip_code, media, ..
            } => (
                *sip_code >= 400,
                media.as_deref().map(CallMediaStats::headline),
            ),
            _ => (false, None),
        };
        let h = h.unwrap_or_default();
        // Absent numbers (`None`) are not written at all.
        macro_rules! line {
            ($level:ident) => {
                tracing::$level!(target: "freya::event", call_id = %self.call_id,
                    rtp_in = h.rtp_in, rtp_out = h.rtp_out, lost = h.lost, jitter_ms = h.jitter_ms,
                    rtp_dropped = h.rtp_dropped, queue_dropped = h.queue_dropped,
                    to_agent = h.to_agent, from_agent = h.from_agent,
                    agent_dropped = h.agent_dropped, late_ticks = h.late_ticks,
                    %json, "call event")
            };
        }
        if warn {
            line!(warn)
        } else {
            line!(info)
        }
    }
}

/// The kinds of [`CallEvent`], tagged `"event"` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A call arrived (inbound) or is being placed (outbound).
    Started {
        /// `inbound` or `outbound`.
        direction: String,
        /// The caller (number or URI).
        caller: Option<String>,
        /// The callee.
        callee: Option<String>,
        /// The trunk or endpoint.
        trunk: Option<String>,
        /// The `X-Freya-Workflow-Id`.
        workflow_id: Option<String>,
        /// The route that took it.
        route: Option<String>,
        /// The SIP Call-ID.
        sip_call_id: String,
        /// Every X- header, in order, exact values.
        headers: Vec<(String, String)>,
    },
    /// Ringing: our 180 (inbound) or the far end's 18x (outbound).
    Ringing {
        /// The status (180, 183).
        sip_code: u16,
    },
    /// Answered.
    Answered {},
    /// An agent slot was taken.
    SlotTaken {
        /// The pool.
        pool: String,
        /// The slot number (0-based).
        slot: usize,
        /// For a `mode = "server"` pool: the URL the agent opens to take this call
        /// (`ws://<agent_server.listen>/call/<call_id>`, with the bearer token).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connect: Option<String>,
    },
    /// An agent slot was freed.
    SlotFreed {
        /// The pool.
        pool: String,
        /// The slot number.
        slot: usize,
    },
    /// A DTMF digit.
    Dtmf {
        /// The digit (`0-9 * # A-D`).
        digit: String,
        /// How it came: `rfc4733` or `info`.
        via: String,
    },
    /// The caller or the far end put the call on hold or resumed it: a re-INVITE whose SDP
    /// is `a=sendonly`, `a=inactive` or `c=0.0.0.0` (RFC 3264 §8.4), or back to sending.
    /// On a B2BUA route freya then holds (resumes) the other leg too.
    Hold {
        /// `true` on hold, `false` resumed.
        held: bool,
        /// Whose peer: `caller` (the leg that called freya) or `callee` (the leg freya
        /// called: a B2BUA route's far end, or the called party of an originate).
        by: String,
    },
    /// A transfer of the call by REFER (RFC 3515; [`Stack::transfer`]): `requested` (the
    /// REFER went to the call's SIP peer), `accepted` (its 202) or `refused` (its status
    /// ≥ 300 in `sip_code`: the call stays with its agent), `progress` (the peer's INVITE to
    /// the target got the 1xx in `sip_code`), `succeeded` (the target answered: freya then
    /// hangs up its leg, and the call's `hangup` follows), `failed` (the target refused,
    /// `sip_code`, or no outcome in time, `reason`: the call stays with its agent).
    ///
    /// [`Stack::transfer`]: crate::stack::Stack::transfer
    Transfer {
        /// What happened.
        state: String,
        /// The target URI named in the REFER's `Refer-To`.
        target: String,
        /// The status this step reports: the REFER's, or the transferee's INVITE's.
        sip_code: Option<u16>,
        /// Its reason phrase, or why the transfer failed.
        reason: Option<String>,
    },
    /// An outbound campaign changed: `started`, `paused` (with the `reason`: the operator,
    /// or the wrong-prefix breaker's count), `resumed`, `finished`, `cancelled`. For these
    /// events `call_id` is the campaign's id (`cmp-…`); each of the campaign's calls
    /// carries it as its `X-Freya-Campaign-Id` header (in `started`'s `headers`).
    Campaign {
        /// What happened.
        state: String,
        /// The campaign's name.
        name: Option<String>,
        /// Why it paused.
        reason: Option<String>,
        /// Numbers to dial.
        total: usize,
        /// Calls started so far.
        dialed: usize,
        /// Calls answered.
        answered: usize,
        /// Calls failed before an answer.
        failed: usize,
        /// Of `failed`, number errors (wrong prefix, no such number).
        number_failures: usize,
        /// Failed calls per final SIP status.
        by_sip_code: Vec<(u16, usize)>,
    },
    /// The call ended (always the last event of a call).
    Hangup {
        /// The SIP status that ended it (200 for a BYE after an answer).
        sip_code: u16,
        /// Its reason phrase.
        reason: String,
        /// The Q.850 cause, when known.
        q850_cause: Option<u16>,
        /// The cause in words (`Call rejected`).
        q850_text: Option<String>,
        /// `local`, `remote`, `agent` or `system`.
        hangup_by: String,
        /// From answer to hangup, in ms (0 if never answered).
        duration_ms: u64,
        /// The recording's path, when recorded.
        recording: Option<String>,
        /// The call's media counters at its end (RTP legs, agent bridge), for calls that
        /// were answered; absent (no key in JSON) otherwise. Boxed: every event in the
        /// stack's broadcast queue is as big as the largest kind.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media: Option<Box<CallMediaStats>>,
    },
}

/// The media of one call at its end: the `media` of a [`EventKind::Hangup`]. Like the
/// RTCP statistics Asterisk writes into its CDRs, for operators (was the line lossy?) and
/// for diagnosing lost audio under load: every count below comes from a counter that the
/// relay, the bridge or the call's media loop increments as it happens.
///
/// Legs are named by the peer's role, as in the `hold` event: `caller` is the SIP peer that
/// called freya (inbound calls, B2BUA routes), `callee` the one freya called (a B2BUA
/// route's far end, the called party of an originate).
///
/// ```
/// use freya::event::{AgentMediaStats, CallMediaStats, RtpLegStats};
/// let m = CallMediaStats {
///     caller: Some(RtpLegStats { packets_in: 100, jitter_ms: 0.4, ..Default::default() }),
///     agent: Some(AgentMediaStats { caller_frames_sent: 100, ..Default::default() }),
///     ..Default::default()
/// };
/// let json = serde_json::to_value(&m).unwrap();
/// assert_eq!(json["caller"]["packets_in"], 100);
/// assert!(json.get("callee").is_none()); // no such leg: no key
/// assert_eq!(m.headline().to_agent, Some(100));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallMediaStats {
    /// The RTP leg to the caller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<RtpLegStats>,
    /// The RTP leg to the callee.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callee: Option<RtpLegStats>,
    /// The WebSocket bridge to the voice agent (calls served by an agent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentMediaStats>,
    /// Packets the relay could not send (`sendto` failed, e.g. a full socket buffer), all
    /// legs together.
    pub send_errors: u64,
    /// Receive failures on the call's RTP sockets (the socket is read again).
    pub recv_errors: u64,
    /// Datagrams dropped for being longer than any RTP packet accepted (4096 bytes).
    pub oversize: u64,
}

/// One RTP leg of a call (RFC 3550), as the relay saw it: what its peer sent freya ("in")
/// and what freya sent it ("out"). Packet and byte counts are whole UDP datagrams.
///
/// ```
/// let leg = freya::event::RtpLegStats::default();
/// assert_eq!((leg.packets_in, leg.lost, leg.dropped.foreign_source), (0, 0, 0));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RtpLegStats {
    /// Packets accepted from the peer (RTP and RTCP).
    pub packets_in: u64,
    /// Bytes of those packets.
    pub bytes_in: u64,
    /// Of `packets_in`, RTCP packets.
    pub rtcp_in: u64,
    /// Packets sent to the peer (RTP and RTCP).
    pub packets_out: u64,
    /// Bytes of those packets.
    pub bytes_out: u64,
    /// Of `packets_out`, RTCP packets.
    pub rtcp_out: u64,
    /// RTP packets lost on the way from the peer (RFC 3550 A.3: expected − received), summed
    /// over the peer's SSRCs.
    pub lost: u64,
    /// RTP packets from the peer that came after a higher sequence number (reordered).
    pub late: u64,
    /// RTP packets from the peer received more than once.
    pub duplicates: u64,
    /// Interarrival jitter of the peer's RTP (RFC 3550 A.8), in ms; the worst of its SSRCs.
    pub jitter_ms: f64,
    /// Packets the relay refused or could not forward, per reason.
    pub dropped: RtpDrops,
    /// RTP packets from the peer whose payload type the SDP did not agree (dropped by the
    /// call's media code before decoding; agent calls only).
    pub foreign_payload: u64,
    /// Packets from the peer dropped because the call's media loop was too slow to take
    /// them from the relay's queue (64 packets, 1.28 s; agent calls only).
    pub endpoint_overflow: u64,
    /// Agent audio packets for the peer dropped because the relay's queue was full
    /// (agent calls only).
    pub endpoint_full: u64,
}

/// Packets of one RTP leg the relay did not forward, per reason (freya-media's
/// `DropReason`). The first four count packets from this leg's peer; `peer_on_hold` and
/// `no_destination` count packets that would have gone to it.
///
/// ```
/// let d = freya::event::RtpDrops { foreign_source: 3, ..Default::default() };
/// assert_eq!(d.total(), 3);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RtpDrops {
    /// Neither RTP nor RTCP, or RTP that does not parse.
    pub malformed: u64,
    /// From a source not latched yet and not the signaled address (RTP bleed protection:
    /// a NAT candidate before it proved itself).
    pub unverified: u64,
    /// From a source other than the latched one (RTP bleed).
    pub foreign_source: u64,
    /// The peer's SDP direction says it does not send (recvonly, inactive).
    pub direction_forbids: u64,
    /// Not sent: the peer has the call on hold.
    pub peer_on_hold: u64,
    /// Not sent: no address known for the peer yet.
    pub no_destination: u64,
}

impl RtpDrops {
    /// Every packet dropped, whatever the reason.
    pub fn total(&self) -> u64 {
        self.malformed
            + self.unverified
            + self.foreign_source
            + self.direction_forbids
            + self.peer_on_hold
            + self.no_destination
    }
}

/// The WebSocket bridge of a call served by a voice agent (freya-media's `BridgeStats`
/// names). Audio is 8 kHz; a frame is 20 ms (160 samples).
///
/// ```
/// let a = freya::event::AgentMediaStats { queued_ms: 40, ..Default::default() };
/// assert_eq!(serde_json::to_value(&a).unwrap()["queued_ms"], 40);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentMediaStats {
    /// 20 ms frames of caller audio sent to the agent (gap fill included).
    pub caller_frames_sent: u64,
    /// Of those, silence frames sent because no caller audio came in time.
    pub caller_gap_frames: u64,
    /// Caller audio chunks (normally 20 ms frames) refused because the bridge's sender
    /// was over a second behind.
    pub input_dropped_frames: u64,
    /// DTMF digits sent to the agent.
    pub dtmf_sent: u64,
    /// DTMF digits the bridge refused (its control queue full behind a stalled leg): the
    /// `dtmf` event was still emitted, the agent never got the digit.
    pub dtmf_refused: u64,
    /// Data messages received from the agent.
    pub messages_received: u64,
    /// Agent messages refused (bad JSON, missing fields, limits).
    pub rejected_messages: u64,
    /// Agent audio received, in samples (8 kHz, after conversion).
    pub agent_samples_received: u64,
    /// 20 ms caller-bound frames the call's media loop took from the bridge (each became
    /// one RTP packet to the caller, unless `endpoint_full` counted it).
    pub frames_from_agent: u64,
    /// 20 ms ticks whose frame held agent audio.
    pub frames_played: u64,
    /// 20 ms ticks without agent audio (underflow or the agent silent).
    pub silent_ticks: u64,
    /// 20 ms ticks skipped because the bridge ran more than 100 ms late (load).
    pub late_ticks_skipped: u64,
    /// Caller-bound frames dropped because the call's media loop did not take them.
    pub output_dropped_frames: u64,
    /// Agent samples dropped because the playout queue was full (oldest first).
    pub overflow_dropped_samples: u64,
    /// Agent samples discarded by barge-in (`clear`, `killAudio`, `FLUSH_MEDIA`).
    pub cleared_samples: u64,
    /// Barge-in messages handled.
    pub clears: u64,
    /// Agent audio still queued for the caller at hangup, in ms.
    pub queued_ms: u64,
    /// The most agent audio ever queued, in ms.
    pub queue_peak_ms: u64,
}

/// The numbers of a [`CallMediaStats`] the hangup log line carries as fields: totals over
/// the RTP legs (packets; jitter the worst, in ms) and the agent bridge (20 ms frames).
/// `None` when the call had no such part.
///
/// ```
/// let h = freya::event::CallMediaStats::default().headline();
/// assert_eq!((h.rtp_in, h.to_agent), (None, None));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MediaHeadline {
    /// Packets received from the SIP peers.
    pub rtp_in: Option<u64>,
    /// Packets sent to the SIP peers.
    pub rtp_out: Option<u64>,
    /// RTP packets lost on the way to freya.
    pub lost: Option<u64>,
    /// The worst interarrival jitter, in ms.
    pub jitter_ms: Option<f64>,
    /// Packets the relay refused or could not forward (all reasons, bleed included).
    pub rtp_dropped: Option<u64>,
    /// Packets dropped on freya's internal queues (`endpoint_overflow` + `endpoint_full`)
    /// and refused caller audio frames (`input_dropped_frames`).
    pub queue_dropped: Option<u64>,
    /// Caller frames sent to the agent.
    pub to_agent: Option<u64>,
    /// Frames taken from the agent for the caller.
    pub from_agent: Option<u64>,
    /// Agent audio dropped (queue overflow, frames not taken), in 20 ms frames, rounded up.
    pub agent_dropped: Option<u64>,
    /// Bridge ticks skipped under load.
    pub late_ticks: Option<u64>,
}

impl CallMediaStats {
    /// The headline numbers (see [`MediaHeadline`]).
    pub fn headline(&self) -> MediaHeadline {
        let legs: Vec<&RtpLegStats> = self.caller.iter().chain(&self.callee).collect();
        let sum = |f: fn(&RtpLegStats) -> u64| {
            (!legs.is_empty()).then(|| legs.iter().map(|l| f(l)).sum::<u64>())
        };
        let a = self.agent.as_ref();
        let input_dropped = a.map_or(0, |a| a.input_dropped_frames);
        MediaHeadline {
            rtp_in: sum(|l| l.packets_in),
            rtp_out: sum(|l| l.packets_out),
            lost: sum(|l| l.lost),
            jitter_ms: legs.iter().map(|l| l.jitter_ms).reduce(f64::max),
            rtp_dropped: sum(|l| l.dropped.total() + l.foreign_payload),
            queue_dropped: sum(|l| l.endpoint_overflow + l.endpoint_full)
                .map(|q| q + input_dropped)
                .or(a.map(|_| input_dropped)),
            to_agent: a.map(|a| a.caller_frames_sent),
            from_agent: a.map(|a| a.frames_from_agent),
            agent_dropped: a
                .map(|a| a.output_dropped_frames + a.overflow_dropped_samples.div_ceil(160)),
            late_ticks: a.map(|a| a.late_ticks_skipped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hangup(media: Option<Box<CallMediaStats>>) -> CallEvent {
        CallEvent::new(
            "c",
            EventKind::Hangup {
                sip_code: 200,
                reason: "OK".into(),
                q850_cause: Some(16),
                q850_text: None,
                hangup_by: "remote".into(),
                duration_ms: 2000,
                recording: None,
                media,
            },
        )
    }

    #[test]
    fn a_hangup_carries_its_media_stats_and_reads_back() {
        let media = CallMediaStats {
            caller: Some(RtpLegStats {
                packets_in: 101,
                bytes_in: 101 * 172,
                lost: 2,
                jitter_ms: 1.25,
                dropped: RtpDrops {
                    foreign_source: 7,
                    ..RtpDrops::default()
                },
                endpoint_full: 3,
                ..RtpLegStats::default()
            }),
            agent: Some(AgentMediaStats {
                caller_frames_sent: 99,
                frames_from_agent: 98,
                late_ticks_skipped: 4,
                queued_ms: 60,
                ..AgentMediaStats::default()
            }),
            ..CallMediaStats::default()
        };
        let e = hangup(Some(Box::new(media)));
        let json = serde_json::to_value(&e).unwrap();
        let m = &json["media"];
        assert_eq!(m["caller"]["packets_in"], 101);
        assert_eq!(m["caller"]["jitter_ms"], 1.25);
        assert_eq!(m["caller"]["dropped"]["foreign_source"], 7);
        assert_eq!(m["caller"]["endpoint_full"], 3);
        assert_eq!(m["agent"]["frames_from_agent"], 98);
        assert_eq!(m["agent"]["queued_ms"], 60);
        assert!(m.get("callee").is_none(), "{m}");
        let back: CallEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn a_hangup_without_media_has_no_key_and_old_json_still_reads() {
        let e = hangup(None);
        let json = serde_json::to_value(&e).unwrap();
        assert!(json.get("media").is_none(), "{json}");
        let back: CallEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
        // A stats object from a newer or older freya with fields missing reads as zeros.
        let partial: CallMediaStats =
            serde_json::from_str(r#"{"caller": {"packets_in": 5}}"#).unwrap();
        assert_eq!(partial.caller.unwrap().packets_in, 5);
    }
}
