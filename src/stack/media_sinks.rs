//! The per-packet work of an agent call, done in the task where the packet already is:
//! the caller's RTP is decoded and handed to the agent's bridge in the relay's task
//! ([`CallerAudio`], a relay [`RtpSink`]), and the bridge's 20 ms frames are encoded as RTP
//! and handed to the relay in the bridge leg's task ([`AgentAudio`], a bridge
//! [`FrameSink`]). The call's own task (`call::pump`) then wakes for signaling, DTMF and
//! the end only, instead of twice per 20 ms: at 500 calls that was 50,000 task wake-ups a
//! second spent copying packets between queues (BENCHMARKS.md, stack).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use freya_media::bridge::{CallerFrame, FrameSink, LegSender};
use freya_media::codec::G711Law;
use freya_media::record::{CallRecorder, Side};
use freya_media::relay::{EndpointSender, RtpSink, ShellError};
use freya_media::rtp::RtpPacket;

use super::dtmf_out::SharedDtmfOut;
use super::media::RtpOut;
use super::recording::{record, record_rtp};

/// A call's recording, written from both sinks' tasks and finished by the call's task
/// (which takes it out, so a sink that runs later finds `None` and skips).
pub(crate) type SharedRecorder = Arc<Mutex<Option<Box<CallRecorder>>>>;

fn lock(r: &SharedRecorder) -> MutexGuard<'_, Option<Box<CallRecorder>>> {
    // A panic mid-write leaves a recorder that may have lost a frame; keep writing.
    r.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes the recording out for the call's end (`None` when the call had none).
pub(crate) fn take_recorder(r: Option<SharedRecorder>) -> Option<Box<CallRecorder>> {
    r.and_then(|r| lock(&r).take())
}

/// Caller → agent: the agreed audio payload type (RFC 3551 PCMU/PCMA), decoded to 8 kHz
/// 16-bit PCM and queued on the bridge leg; recorded on the caller's side by RTP timestamp.
/// Everything else (RFC 4733 telephone-events, payload types the SDP did not agree) is left
/// to the call's task, which keeps the DTMF receiver's timers and the foreign-type count.
pub(crate) struct CallerAudio {
    law: G711Law,
    payload_type: u8,
    agent: LegSender,
    /// Reused for every packet: no allocation per packet.
    pcm: Vec<i16>,
    recorder: Option<SharedRecorder>,
    call_id: Arc<str>,
}

impl CallerAudio {
    pub(crate) fn new(
        (law, payload_type): (G711Law, u8),
        agent: LegSender,
        recorder: Option<SharedRecorder>,
        call_id: Arc<str>,
    ) -> CallerAudio {
        CallerAudio {
            law,
            payload_type,
            agent,
            pcm: Vec::with_capacity(160),
            recorder,
            call_id,
        }
    }
}

impl RtpSink for CallerAudio {
    fn take(&mut self, p: &RtpPacket) -> bool {
        if p.payload_type() != self.payload_type {
            return false;
        }
        self.pcm.clear();
        self.law.decode_into(p.payload(), &mut self.pcm);
        // Refused when the leg is over a second behind: dropped and counted by the bridge
        // (`input_dropped_frames`, logged there); closed when the call is ending.
        let _ = self.agent.send_audio(&self.pcm);
        if let Some(r) = &self.recorder {
            record_rtp(&mut lock(r), &self.call_id, Instant::now(), p, &self.pcm);
        }
        true
    }
}

/// What [`AgentAudio`] counted, read by the call's task for the hangup event.
#[derive(Debug, Default)]
pub(crate) struct AgentAudioCounts {
    /// 20 ms caller-bound frames taken from the bridge.
    pub(crate) frames: AtomicU64,
    /// Of those, packets the relay's queue refused (full): dropped.
    pub(crate) endpoint_full: AtomicU64,
}

impl AgentAudioCounts {
    /// `(frames, endpoint_full)` now.
    pub(crate) fn read(&self) -> (u64, u64) {
        (
            self.frames.load(Ordering::Relaxed),
            self.endpoint_full.load(Ordering::Relaxed),
        )
    }
}

/// Agent → caller: each 20 ms frame the bridge plays out, as the next packet of our RTP
/// stream, queued on the relay toward the peer; recorded on the agent's side at its slot.
pub(crate) struct AgentAudio {
    out: RtpOut,
    /// Tones queued by `Stack::send_dtmf`, sent on this sink's 20 ms clock.
    dtmf: Option<SharedDtmfOut>,
    to_caller: EndpointSender,
    counts: Arc<AgentAudioCounts>,
    recorder: Option<SharedRecorder>,
    call_id: Arc<str>,
}

impl AgentAudio {
    pub(crate) fn new(
        out: RtpOut,
        to_caller: EndpointSender,
        recorder: Option<SharedRecorder>,
        call_id: Arc<str>,
    ) -> (AgentAudio, Arc<AgentAudioCounts>) {
        let counts = Arc::new(AgentAudioCounts::default());
        let sink = AgentAudio {
            out,
            dtmf: None,
            to_caller,
            counts: Arc::clone(&counts),
            recorder,
            call_id,
        };
        (sink, counts)
    }
}

impl AgentAudio {
    /// Sends RFC 4733 tones through this sink's stream.
    pub(crate) fn with_dtmf(mut self, dtmf: Option<SharedDtmfOut>) -> AgentAudio {
        self.dtmf = dtmf;
        self
    }

    /// The telephone-event packets due now; whether a tone is on (the frame's audio is then
    /// held back, its media time skipped).
    fn dtmf_turn(&mut self, samples: usize) -> bool {
        let Some(dtmf) = self
            .dtmf
            .as_ref()
            .filter(|d| d.busy.load(Ordering::Acquire))
        else {
            return false;
        };
        let mut sender = dtmf.sender.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(p) = sender.poll_transmit(Instant::now(), self.out.timestamp()) {
            let packet = self.out.event(dtmf.payload_type, &p);
            if self.to_caller.try_send(packet).is_err() {
                // Counted with the agent's packets the relay could not take (`endpoint_full`).
                let dropped = self.counts.endpoint_full.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(call_id = %self.call_id, dropped, "stack: relay queue full, a telephone-event packet dropped");
            }
        }
        if sender.is_idle() {
            dtmf.busy.store(false, Ordering::Release);
        }
        let on = sender.sending().is_some();
        if on {
            self.out.skip(samples);
        }
        on
    }
}

impl FrameSink for AgentAudio {
    fn take(&mut self, f: &CallerFrame) {
        self.counts.frames.fetch_add(1, Ordering::Relaxed);
        if self.dtmf_turn(f.samples.len()) {
            return;
        }
        if let Err(ShellError::EndpointFull { capacity }) =
            self.to_caller.try_send(self.out.packet(&f.samples))
        {
            // The relay task is over 64 packets behind (a starved thread): this 20 ms of
            // agent audio is lost to the caller. Counted; logged at 1, 2, 4 …
            let dropped = self.counts.endpoint_full.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(call_id = %self.call_id, capacity, dropped, "stack: relay queue full, agent frame dropped");
            }
        }
        if let Some(r) = &self.recorder {
            record(&mut lock(r), &self.call_id, Side::Agent, f.at, &f.samples);
        }
    }
}
