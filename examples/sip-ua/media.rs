//! The minimal RTP sender/receiver of `sip-ua`: one UDP socket per call, G.711 (the codec
//! the SDP agreed) in 20 ms packets — a tone or a WAV file out, and what arrives decoded
//! and written to a WAV file (8 kHz, mono, 16-bit). Not the relay: no latching, no jitter
//! buffer; packets are written in arrival order.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use freya::media::codec::G711Law;
use freya::media::rtp::{RtpHeader, RtpPacket};
use freya::sip::sdp::{Codec, Negotiated};
use tokio::net::UdpSocket;
use tokio::sync::watch;

/// 20 ms at 8 kHz.
const FRAME: usize = 160;

/// What to send.
#[derive(Debug, Clone)]
pub enum Source {
    /// A sine tone of this frequency (Hz), at about -10 dBFS.
    Tone(f64),
    /// 8 kHz mono 16-bit samples (read from a WAV file), then silence.
    Samples(Arc<Vec<i16>>),
    /// Silence.
    Silence,
}

impl Source {
    /// Reads a WAV file: must be 8 kHz mono 16-bit PCM.
    pub fn wav(path: &str) -> Result<Source, String> {
        let mut r = hound::WavReader::open(path).map_err(|e| format!("{path}: {e}"))?;
        let spec = r.spec();
        if spec.sample_rate != 8000 || spec.channels != 1 || spec.bits_per_sample != 16 {
            return Err(format!(
                "{path}: need 8000 Hz mono 16-bit PCM, got {} Hz, {} channel(s), {} bits",
                spec.sample_rate, spec.channels, spec.bits_per_sample
            ));
        }
        let samples: Result<Vec<i16>, _> = r.samples::<i16>().collect();
        Ok(Source::Samples(Arc::new(
            samples.map_err(|e| format!("{path}: {e}"))?,
        )))
    }

    fn frame(&self, index: usize, out: &mut [i16; FRAME]) {
        match self {
            Source::Tone(hz) => {
                for (i, s) in out.iter_mut().enumerate() {
                    let n = (index * FRAME + i) as f64;
                    *s = (10000.0 * (2.0 * std::f64::consts::PI * hz * n / 8000.0).sin()) as i16;
                }
            }
            Source::Samples(v) => {
                for (i, s) in out.iter_mut().enumerate() {
                    *s = v.get(index * FRAME + i).copied().unwrap_or(0);
                }
            }
            Source::Silence => out.fill(0),
        }
    }
}

/// A call's RTP socket, bound before the SDP is written so its port can be offered.
pub struct Media {
    socket: Arc<UdpSocket>,
}

impl Media {
    /// Binds a UDP socket on `ip` (port chosen by the system).
    pub async fn bind(ip: std::net::IpAddr) -> std::io::Result<Media> {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        Ok(Media {
            socket: Arc::new(socket),
        })
    }

    /// The local RTP address (for the SDP).
    pub fn local(&self) -> SocketAddr {
        self.socket
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Sends `source` to the agreed address and records what arrives until `stop` turns
    /// true; then finishes the WAV file. Returns packets (sent, received).
    pub async fn run(
        self,
        agreed: Negotiated,
        source: Source,
        record: Option<PathBuf>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(u64, u64), String> {
        let law = match agreed.codec {
            Codec::Pcma => G711Law::Alaw,
            _ => G711Law::Ulaw,
        };
        let mut writer = match &record {
            Some(p) => Some(
                hound::WavWriter::create(
                    p,
                    hound::WavSpec {
                        channels: 1,
                        sample_rate: 8000,
                        bits_per_sample: 16,
                        sample_format: hound::SampleFormat::Int,
                    },
                )
                .map_err(|e| format!("{}: {e}", p.display()))?,
            ),
            None => None,
        };
        let ssrc: u32 = rand_ssrc();
        let mut ticker = tokio::time::interval(Duration::from_millis(20));
        let (mut sent, mut received, mut index) = (0u64, 0u64, 0usize);
        let mut pcm = [0i16; FRAME];
        let mut payload = Vec::with_capacity(FRAME);
        let mut out = BytesMut::with_capacity(200);
        let mut buf = vec![0u8; 2048];
        let mut decoded = Vec::with_capacity(FRAME);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if !agreed.sends() { continue; }
                    source.frame(index, &mut pcm);
                    payload.clear();
                    law.encode_into(&pcm, &mut payload);
                    let mut h = RtpHeader::new(agreed.payload_type, index as u16, (index * FRAME) as u32, ssrc);
                    h.marker = index == 0;
                    out.clear();
                    if h.write(&payload, &mut out).is_ok()
                        && self.socket.send_to(&out, agreed.remote_rtp).await.is_ok()
                    {
                        sent += 1;
                    }
                    index += 1;
                }
                r = self.socket.recv_from(&mut buf) => {
                    let Ok((n, _)) = r else { continue };
                    let Ok(p) = RtpPacket::parse(bytes::Bytes::copy_from_slice(&buf[..n])) else { continue };
                    if p.payload_type() != agreed.payload_type { continue; }
                    received += 1;
                    if let Some(w) = writer.as_mut() {
                        decoded.clear();
                        law.decode_into(p.payload(), &mut decoded);
                        for s in &decoded {
                            w.write_sample(*s).map_err(|e| e.to_string())?;
                        }
                        // Written incrementally: a killed process keeps what it heard.
                        if received % 50 == 0 {
                            w.flush().map_err(|e| e.to_string())?;
                        }
                    }
                }
                r = stop.changed() => {
                    if r.is_err() || *stop.borrow() { break; }
                }
            }
        }
        if let Some(w) = writer {
            w.finalize().map_err(|e| e.to_string())?;
        }
        Ok((sent, received))
    }
}

fn rand_ssrc() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish() as u32
}
