//! The call's WAV recording as the stack feeds it: started per route (`record = true`),
//! named by the call's UUID, fed the caller's audio by RTP timestamp and the agent's by
//! playout time. A recording that fails stops (logged once); the call never does.

use std::time::Instant;

use freya_media::record::{CallRecorder, Layout, RecordConfig, Side};

use crate::config::StackConfig;

/// Feeds the recording the agent's audio, placed by when the bridge played it out; a
/// write error stops the recording (logged once) without touching the call.
pub(crate) fn record(
    rec: &mut Option<Box<CallRecorder>>,
    id: &str,
    side: Side,
    at: Instant,
    samples: &[i16],
) {
    if let Some(r) = rec.as_mut() {
        if let Err(error) = r.write_at(side, at, samples) {
            tracing::warn!(call_id = id, %error, "stack: recording stopped");
            *rec = None;
        }
    }
}

/// Feeds the recording the caller's audio of one RTP packet, placed by its timestamp
/// (G.711: an 8 kHz clock), so a burst the network delivered at once is kept whole.
pub(crate) fn record_rtp(
    rec: &mut Option<Box<CallRecorder>>,
    id: &str,
    now: Instant,
    p: &freya_media::rtp::RtpPacket,
    pcm: &[i16],
) {
    if let Some(r) = rec.as_mut() {
        if let Err(error) = r.write_rtp(Side::Caller, now, p.ssrc(), p.timestamp(), 8000, pcm) {
            tracing::warn!(call_id = id, %error, "stack: recording stopped");
            *rec = None;
        }
    }
}

/// Starts the call's recording, `<recording.dir>/<call UUID>.wav`; `None` (logged) when
/// the file cannot be created: the call goes on unrecorded. Boxed: most calls are not
/// recorded, and the recorder would otherwise widen every call's task future.
pub(crate) fn start_recording(config: &StackConfig, id: &str) -> Option<Box<CallRecorder>> {
    let dir = &config.recording.dir;
    if let Err(error) = std::fs::create_dir_all(dir) {
        tracing::warn!(call_id = id, dir = %dir.display(), %error, "stack: no recording directory");
        return None;
    }
    let mut rc = RecordConfig::new(dir);
    rc.layout = if config.recording.stereo {
        Layout::Stereo
    } else {
        Layout::Mono
    };
    match CallRecorder::create(&rc, id) {
        Ok(r) => Some(Box::new(r)),
        Err(error) => {
            tracing::warn!(call_id = id, %error, "stack: recording not started");
            None
        }
    }
}
