//! The per-call WAV writer: aligns the two sides and writes incrementally.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{check_call_id, Layout, RecordConfig, RecordError, Side};

type Writer = hound::WavWriter<BufWriter<File>>;

/// Counters of a [`CallRecorder`].
///
/// ```
/// use freya_media::record::RecordStats;
///
/// assert_eq!(RecordStats::default().late_samples, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordStats {
    /// Sample frames written (one sample per channel each).
    pub frames: u64,
    /// Samples fed per side (caller, agent).
    pub fed: [u64; 2],
    /// Samples dropped because their stretch was written already (fed too late, or
    /// overlapping what that side fed before).
    pub late_samples: u64,
    /// Samples of silence inserted for gaps (per channel, both sides counted).
    pub silence_samples: u64,
    /// Header updates (hound flushes).
    pub flushes: u64,
}

/// What [`CallRecorder::finalize`] leaves behind.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// use freya_media::record::{CallRecorder, RecordConfig, Side};
///
/// let mut rec = CallRecorder::create(&RecordConfig::new(dir.path()), "call-1")?;
/// rec.write(Side::Caller, 0, &[0; 8000])?;
/// let summary = rec.finalize()?;
/// assert_eq!(summary.duration.as_secs(), 1);
/// assert!(summary.path.ends_with("call-1.wav"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingSummary {
    /// The WAV file.
    pub path: PathBuf,
    /// Sample frames in the file.
    pub frames: u64,
    /// Its length in time.
    pub duration: Duration,
    /// The final counters.
    pub stats: RecordStats,
}

/// Where one side's RTP stream sits on the timeline: its timestamp `ts` is sample `at`.
#[derive(Debug, Clone, Copy)]
struct RtpAnchor {
    ssrc: u32,
    ts: u32,
    at: u64,
}

/// One side's audio not written yet: `queue` holds samples `start..start + queue.len()`;
/// anything outside is silence.
#[derive(Debug, Default)]
struct Track {
    start: u64,
    queue: VecDeque<i16>,
    /// Where this side's audio ends (one past its last sample fed), monotonic.
    end: u64,
}

/// Records one call to `<dir>/<call id>.wav` (see the [module docs](super)).
///
/// Feed each side's frames with [`write`](Self::write) (position in samples) or
/// [`write_at`](Self::write_at) (arrival time), in any interleaving. A stretch of the
/// timeline is written once both sides covered it, or once it lies more than
/// [`align_window`](RecordConfig::align_window) behind the furthest side (the silent side is
/// then written as silence). The WAV header is updated (hound `flush`) whenever
/// `flush_interval − align_window` of audio was written since the last update, so the file on
/// disk is always a valid WAV missing at most `flush_interval` of the end.
///
/// Dropping the recorder writes what is pending and fixes the header (errors are lost then:
/// call [`finalize`](Self::finalize) to see them). A crash (no destructor) leaves a valid
/// file up to the last header update.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// use std::time::{Duration, Instant};
/// use freya_media::record::{CallRecorder, RecordConfig, Side};
///
/// let t0 = Instant::now();
/// let mut rec = CallRecorder::create(&RecordConfig::new(dir.path()), "call-2")?;
/// // Frames as they arrive, with a few ms of network jitter: still contiguous.
/// rec.write_at(Side::Caller, t0, &[7; 160])?;
/// rec.write_at(Side::Caller, t0 + Duration::from_millis(23), &[7; 160])?;
/// rec.write_at(Side::Caller, t0 + Duration::from_millis(38), &[7; 160])?;
/// assert_eq!(rec.finalize()?.frames, 480);
/// # Ok(()) }
/// ```
pub struct CallRecorder {
    path: PathBuf,
    writer: Option<Writer>,
    layout: Layout,
    sample_rate: u32,
    tracks: [Track; 2],
    /// Frames written to the file.
    written: u64,
    /// `written` at the last header update.
    flushed: u64,
    flush_every: u64,
    align: u64,
    max_gap: u64,
    snap: u64,
    /// Time zero of [`write_at`](Self::write_at) and [`write_rtp`](Self::write_rtp).
    epoch: Option<Instant>,
    /// Per side, the RTP stream [`write_rtp`](Self::write_rtp) places by timestamp.
    anchors: [Option<RtpAnchor>; 2],
    resync: u64,
    stats: RecordStats,
}

impl CallRecorder {
    /// Creates `<config.dir>/<call_id>.wav` (never overwriting) and writes its header.
    ///
    /// # Errors
    /// [`RecordError::BadCallId`], [`RecordError::BadConfig`], [`RecordError::Exists`], or
    /// [`RecordError::Io`] from creating the file.
    pub fn create(config: &RecordConfig, call_id: &str) -> Result<Self, RecordError> {
        check_call_id(call_id)?;
        config.validate()?;
        let path = config.dir.join(format!("{call_id}.wav"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => RecordError::Exists { path: path.clone() },
                kind => RecordError::Io {
                    path: path.clone(),
                    op: "create",
                    kind,
                    message: e.to_string(),
                },
            })?;
        let spec = hound::WavSpec {
            channels: config.layout.channels(),
            sample_rate: config.sample_rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::new(BufWriter::new(file), spec)
            .map_err(|e| RecordError::from_hound(&path, "create", e))?;
        let align = config.samples(config.align_window);
        Ok(CallRecorder {
            path,
            writer: Some(writer),
            layout: config.layout,
            sample_rate: config.sample_rate,
            tracks: [Track::default(), Track::default()],
            written: 0,
            flushed: 0,
            flush_every: config
                .samples(config.flush_interval)
                .saturating_sub(align)
                .max(1),
            align,
            max_gap: config.samples(config.max_gap),
            snap: config.samples(config.snap_tolerance),
            epoch: None,
            anchors: [None, None],
            resync: config.samples(config.rtp_resync),
            stats: RecordStats::default(),
        })
    }

    /// The WAV file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The counters.
    pub fn stats(&self) -> RecordStats {
        self.stats
    }

    /// Where `side`'s audio ends on the timeline, in samples.
    pub fn end_of(&self, side: Side) -> u64 {
        self.track(side).end
    }

    fn track(&self, side: Side) -> &Track {
        match side {
            Side::Caller => &self.tracks[0],
            Side::Agent => &self.tracks[1],
        }
    }

    fn track_mut(&mut self, side: Side) -> &mut Track {
        match side {
            Side::Caller => &mut self.tracks[0],
            Side::Agent => &mut self.tracks[1],
        }
    }

    /// Feeds `samples` (mono 16-bit PCM at the recording's rate) of `side`, starting at
    /// sample `at` of the recording's timeline. A gap since the side's previous frame is
    /// silence; samples before the side's end, or in a stretch already written, are
    /// dropped and counted ([`RecordStats::late_samples`]).
    ///
    /// # Errors
    /// [`RecordError::GapTooLarge`] (nothing fed then), [`RecordError::Io`] or
    /// [`RecordError::Wav`] from writing, [`RecordError::Closed`] after an earlier write
    /// error.
    pub fn write(&mut self, side: Side, at: u64, samples: &[i16]) -> Result<(), RecordError> {
        if self.writer.is_none() {
            return Err(RecordError::Closed {
                path: self.path.clone(),
            });
        }
        let end = self.track(side).end.max(self.written);
        let gap = at.saturating_sub(end);
        if gap > self.max_gap {
            return Err(RecordError::GapTooLarge {
                side,
                at,
                end,
                gap,
                max: self.max_gap,
            });
        }
        self.stats.fed[side.channel()] += samples.len() as u64;
        // Drop what lies before this side's end or before what is on disk.
        let skip = usize::try_from(end.saturating_sub(at))
            .unwrap_or(usize::MAX)
            .min(samples.len());
        self.stats.late_samples += skip as u64;
        let samples = samples.get(skip..).unwrap_or_default();
        if samples.is_empty() {
            return Ok(());
        }
        let at = at.max(end);
        let new_end = at + samples.len() as u64;

        if gap > 0 && !self.track(side).queue.is_empty() {
            // Write out what the gap makes old enough, so the silence to queue explicitly
            // stays below the align window.
            let other_end = self.other(side).end;
            let horizon = new_end.max(other_end).saturating_sub(self.align).min(at);
            self.drain_to(horizon)?;
        }
        let written = self.written;
        let track = self.track_mut(side);
        if track.queue.is_empty() {
            track.start = at.max(written);
        } else {
            let queued_end = track.start + track.queue.len() as u64;
            track
                .queue
                .extend(std::iter::repeat_n(0, (at - queued_end) as usize));
        }
        track.queue.extend(samples);
        track.end = new_end;

        let [caller, agent] = &self.tracks;
        let both = caller.end.min(agent.end);
        let horizon = caller.end.max(agent.end).saturating_sub(self.align);
        self.drain_to(both.max(horizon))
    }

    fn other(&self, side: Side) -> &Track {
        match side {
            Side::Caller => &self.tracks[1],
            Side::Agent => &self.tracks[0],
        }
    }

    /// Feeds `samples` of `side` that arrived at `now`: the position is the time since the
    /// first `write_at` call, snapped to the side's end when within
    /// [`snap_tolerance`](RecordConfig::snap_tolerance) of it.
    ///
    /// # Errors
    /// As [`write`](Self::write).
    pub fn write_at(
        &mut self,
        side: Side,
        now: Instant,
        samples: &[i16],
    ) -> Result<(), RecordError> {
        let epoch = *self.epoch.get_or_insert(now);
        let since = now.saturating_duration_since(epoch);
        let at = (since.as_nanos() * u128::from(self.sample_rate) / 1_000_000_000) as u64;
        let end = self.track(side).end;
        let at = if at.abs_diff(end) <= self.snap {
            end
        } else {
            at
        };
        self.write(side, at, samples)
    }

    /// Feeds `samples` of `side` from an RTP packet of stream `ssrc` with timestamp `ts`
    /// (RFC 3550 §5.1, in ticks of `clock_rate` Hz: 8000 for G.711) that arrived at `now`.
    ///
    /// The first packet of a stream is placed at its arrival time (as
    /// [`write_at`](Self::write_at) would); every later one at the first one's place plus
    /// its timestamp distance, converted to the recording's rate. So a burst of packets
    /// that the network held back and delivered at once is written back to back instead of
    /// being overlapped by its neighbours and dropped as late. (A packet older than what
    /// its side has fed already is late as with [`write`](Self::write): reordering is the
    /// jitter buffer's job.) A new SSRC, or a timestamp whose place lies more
    /// than [`rtp_resync`](RecordConfig::rtp_resync) from the arrival time (the sender's
    /// clock jumped), re-anchors the stream at its arrival time.
    ///
    /// # Errors
    /// As [`write`](Self::write); `clock_rate` 0 is [`RecordError::BadConfig`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// use std::time::{Duration, Instant};
    /// use freya_media::record::{CallRecorder, RecordConfig, Side};
    ///
    /// let mut rec = CallRecorder::create(&RecordConfig::new(dir.path()), "call-rtp")?;
    /// let t0 = Instant::now();
    /// // Three 20 ms packets held back by the network arrive together at 60 ms.
    /// for (i, ts) in [1000u32, 1160, 1320].into_iter().enumerate() {
    ///     let at = if i == 0 { t0 } else { t0 + Duration::from_millis(60) };
    ///     rec.write_rtp(Side::Caller, at, 0x1234, ts, 8000, &[100; 160])?;
    /// }
    /// let summary = rec.finalize()?;
    /// assert_eq!(summary.frames, 480); // 60 ms, nothing dropped
    /// assert_eq!(summary.stats.late_samples, 0);
    /// # Ok(()) }
    /// ```
    pub fn write_rtp(
        &mut self,
        side: Side,
        now: Instant,
        ssrc: u32,
        ts: u32,
        clock_rate: u32,
        samples: &[i16],
    ) -> Result<(), RecordError> {
        if clock_rate == 0 {
            return Err(RecordError::BadConfig {
                setting: "clock_rate",
                value: "0".into(),
                reason: "an RTP clock rate must be positive",
            });
        }
        let epoch = *self.epoch.get_or_insert(now);
        let since = now.saturating_duration_since(epoch);
        let arrival = (since.as_nanos() * u128::from(self.sample_rate) / 1_000_000_000) as u64;
        let placed = self.anchors[side.channel()]
            .filter(|a| a.ssrc == ssrc)
            .map(|a| {
                // Signed distance in RTP ticks (RFC 3550 timestamps wrap at 2^32).
                let ticks = i64::from(ts.wrapping_sub(a.ts) as i32);
                let delta = ticks * i64::from(self.sample_rate) / i64::from(clock_rate);
                a.at as i64 + delta
            })
            .filter(|&at| at.abs_diff(arrival as i64) <= self.resync);
        let at = match placed {
            Some(at) if at < 0 => {
                // Older than the stream's first packet, before the recording's start:
                // what lies before sample 0 is late (counted by write's rules too).
                let skip = usize::try_from(at.unsigned_abs())
                    .unwrap_or(usize::MAX)
                    .min(samples.len());
                self.stats.fed[side.channel()] += skip as u64;
                self.stats.late_samples += skip as u64;
                return match samples.get(skip..) {
                    Some(rest) if !rest.is_empty() => self.write(side, 0, rest),
                    _ => Ok(()),
                };
            }
            Some(at) => at as u64,
            None => {
                // A new stream, or its clock jumped: anchor it where it arrives, snapped
                // to the side's end like write_at so a resync does not punch a gap.
                let end = self.track(side).end;
                let at = if arrival.abs_diff(end) <= self.snap {
                    end
                } else {
                    arrival
                };
                self.anchors[side.channel()] = Some(RtpAnchor { ssrc, ts, at });
                at
            }
        };
        self.write(side, at, samples)
    }

    /// Writes every frame before `limit` to the file (silence where a side has nothing),
    /// updating the header when due.
    fn drain_to(&mut self, limit: u64) -> Result<(), RecordError> {
        if limit <= self.written {
            return Ok(());
        }
        let Some(writer) = self.writer.as_mut() else {
            return Err(RecordError::Closed {
                path: self.path.clone(),
            });
        };
        let mut silence = 0;
        let mut result = Ok(());
        for frame in self.written..limit {
            let mut take = |track: &mut Track| {
                if track.start == frame {
                    if let Some(s) = track.queue.pop_front() {
                        track.start += 1;
                        return s;
                    }
                }
                silence += 1;
                0
            };
            let [caller, agent] = &mut self.tracks;
            let (left, right) = (take(caller), take(agent));
            result = match self.layout {
                Layout::Stereo => writer
                    .write_sample(left)
                    .and_then(|()| writer.write_sample(right)),
                Layout::Mono => writer.write_sample(left.saturating_add(right)),
            };
            if result.is_err() {
                break;
            }
            self.written = frame + 1;
        }
        // Tracks whose queue ran dry restart at the write position.
        for track in &mut self.tracks {
            if track.queue.is_empty() {
                track.start = track.start.max(self.written);
            }
        }
        self.stats.silence_samples += silence;
        self.stats.frames = self.written;
        if let Err(e) = result {
            self.writer = None;
            return Err(RecordError::from_hound(&self.path, "write", e));
        }
        if self.written - self.flushed >= self.flush_every {
            self.flush()?;
        }
        Ok(())
    }

    /// Updates the WAV header and flushes the file now (as is done automatically every
    /// `flush_interval − align_window` of audio), e.g. from the shell's one-second timer.
    /// Audio still waiting for the other side is not included.
    ///
    /// # Errors
    /// [`RecordError::Io`]/[`RecordError::Wav`] from hound, [`RecordError::Closed`].
    pub fn flush(&mut self) -> Result<(), RecordError> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(RecordError::Closed {
                path: self.path.clone(),
            });
        };
        writer
            .flush()
            .map_err(|e| RecordError::from_hound(&self.path, "flush", e))?;
        self.flushed = self.written;
        self.stats.flushes += 1;
        Ok(())
    }

    /// Writes everything pending and closes the file with a final header.
    ///
    /// # Errors
    /// [`RecordError::Io`]/[`RecordError::Wav`] from writing or finalizing,
    /// [`RecordError::Closed`] after an earlier write error.
    pub fn finalize(mut self) -> Result<RecordingSummary, RecordError> {
        let end = self.tracks[0].end.max(self.tracks[1].end);
        self.drain_to(end)?;
        let writer = self.writer.take().ok_or_else(|| RecordError::Closed {
            path: self.path.clone(),
        })?;
        writer
            .finalize()
            .map_err(|e| RecordError::from_hound(&self.path, "finalize", e))?;
        Ok(RecordingSummary {
            path: self.path.clone(),
            frames: self.written,
            duration: Duration::from_nanos(
                self.written * 1_000_000_000 / u64::from(self.sample_rate),
            ),
            stats: self.stats,
        })
    }
}

impl std::fmt::Debug for CallRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallRecorder")
            .field("path", &self.path)
            .field("open", &self.writer.is_some())
            .field("layout", &self.layout)
            .field("sample_rate", &self.sample_rate)
            .field("written", &self.written)
            .field("flushed", &self.flushed)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Drop for CallRecorder {
    /// Writes what is pending; hound's own drop then fixes the header. Errors are ignored
    /// here (call [`CallRecorder::finalize`] to see them).
    fn drop(&mut self) {
        if self.writer.is_some() {
            let end = self.tracks[0].end.max(self.tracks[1].end);
            let _ = self.drain_to(end);
        }
    }
}
