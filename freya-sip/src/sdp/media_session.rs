//! One call's offer/answer state (RFC 3264 §4, §8): our session id and version, the offer
//! waiting for its answer, and what is currently agreed.

use super::error::NegotiationError;
use super::negotiate::{answer, apply_answer, rejected, Capabilities, Negotiated};
use super::session::SessionDescription;
use super::Direction;

/// The offer/answer state of one call's media session, sans-IO: feed it the SDP bodies of
/// INVITE, re-INVITE, 183/200 and ACK; it returns the SDP to send and keeps what is agreed.
///
/// - Our `o=` keeps one session id for the call and its version grows by one each time the
///   description we send changes, and only then (RFC 3264 §8).
/// - A re-offer keeps the `m=` lines of the previous description in number and order (§8).
/// - A remote offer that cannot be accepted (488) or that crosses ours (491, glare) leaves
///   the agreed session as it was (§8: "the old session parameters remain in place").
///
/// ```
/// use freya_sip::sdp::{Capabilities, Direction, MediaSession, SessionDescription};
/// let caps = Capabilities::new("192.0.2.10".parse().unwrap(), 10000);
/// let mut ms = MediaSession::new(caps, 3_900_000_000);
/// // The carrier's INVITE.
/// let offer: SessionDescription = "v=0\r\no=carrier 1 1 IN IP4 198.51.100.7\r\ns=-\r\n\
///     c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 31000 RTP/AVP 0 101\r\n\
///     a=rtpmap:101 telephone-event/8000\r\n".parse().unwrap();
/// let ours = ms.receive_offer(&offer).unwrap();
/// assert_eq!(ours.origin().session_version, 3_900_000_000);
/// assert!(!ms.negotiated().unwrap().remote_hold);
/// // Its re-INVITE putting us on hold.
/// let hold: SessionDescription = "v=0\r\no=carrier 1 2 IN IP4 198.51.100.7\r\ns=-\r\n\
///     c=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 31000 RTP/AVP 0 101\r\n\
///     a=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n".parse().unwrap();
/// let ours = ms.receive_offer(&hold).unwrap();
/// assert_eq!(ours.media_direction(0), Direction::RecvOnly);
/// assert_eq!(ours.origin().session_version, 3_900_000_001);
/// assert!(ms.negotiated().unwrap().remote_hold);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSession {
    caps: Capabilities,
    session_id: u64,
    session_version: u64,
    /// The last description we sent, serialized: ~250 bytes, where the parsed form costs
    /// ~1 KiB of small allocations per live call and is needed again only for a re-offer.
    last_sent: Option<Box<[u8]>>,
    pending_offer: Option<SessionDescription>,
    /// Our last offer that was answered: a later answer to it (the 200 after a 183, a forked
    /// 200) is applied to it too.
    answered_offer: Option<SessionDescription>,
    negotiated: Option<Negotiated>,
}

impl MediaSession {
    /// A media session with our capabilities and an `o=` session id (RFC 8866 §5.2 suggests
    /// an NTP timestamp; the caller picks it, this core reads no clock). The first
    /// description carries version `session_id`.
    pub fn new(caps: Capabilities, session_id: u64) -> MediaSession {
        MediaSession {
            caps,
            session_id,
            session_version: session_id,
            last_sent: None,
            pending_offer: None,
            answered_offer: None,
            negotiated: None,
        }
    }

    /// Our capabilities.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Our capabilities, for changes that the next offer or answer carries (a new RTP port,
    /// codecs).
    pub fn capabilities_mut(&mut self) -> &mut Capabilities {
        &mut self.caps
    }

    /// Sets what we want to do from the next offer or answer on: [`Direction::SendOnly`] to
    /// put the call on hold, [`Direction::SendRecv`] to resume (RFC 3264 §8.4).
    pub fn set_direction(&mut self, direction: Direction) {
        self.caps.direction = direction;
    }

    /// What the last completed offer/answer agreed, if any.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// The last description we sent, parsed again from its bytes (see
    /// [`MediaSession::local_description_bytes`]).
    pub fn local_description(&self) -> Option<SessionDescription> {
        self.last_sent
            .as_deref()
            .and_then(|b| SessionDescription::parse(b).ok())
    }

    /// The last description we sent, exactly as sent (the body of our offer or answer).
    pub fn local_description_bytes(&self) -> Option<&[u8]> {
        self.last_sent.as_deref()
    }

    /// Whether an offer of ours waits for its answer.
    pub fn has_pending_offer(&self) -> bool {
        self.pending_offer.is_some()
    }

    /// Gives `sdp` our session id and the right version: the previous one when nothing
    /// else changed, plus one otherwise (RFC 3264 §8); remembers it as sent.
    fn stamp(&mut self, mut sdp: SessionDescription) -> SessionDescription {
        let mut origin = sdp.origin().clone();
        origin.session_id = self.session_id.to_string();
        origin.session_version = self.session_version;
        sdp.set_origin(origin.clone());
        let mut bytes = sdp.to_bytes();
        if let Some(last) = &self.last_sent {
            if **last != *bytes {
                self.session_version = self.session_version.wrapping_add(1);
                origin.session_version = self.session_version;
                sdp.set_origin(origin);
                bytes = sdp.to_bytes();
            }
        }
        self.last_sent = Some(bytes.into_boxed_slice());
        sdp
    }

    /// Our offer (initial INVITE, re-INVITE, or the 200 to an INVITE without SDP): one
    /// `m=audio` with our capabilities; in a re-offer, the other `m=` lines of the previous
    /// description stay where they were, with port 0, and the audio line keeps its transport
    /// protocol (`RTP/AVPF` stays `RTP/AVPF`) (RFC 3264 §8). Remembered as pending
    /// until [`MediaSession::receive_answer`] or [`MediaSession::cancel_offer`].
    pub fn create_offer(&mut self) -> SessionDescription {
        let mut sdp = self.caps.offer(self.session_id, self.session_version);
        if let Some(last) = self.local_description() {
            let audio_at = self
                .negotiated
                .as_ref()
                .map(|n| n.media_index)
                .or_else(|| last.media().iter().position(|m| !m.is_rejected()))
                .unwrap_or(0);
            if let (Some(prev), Some(ours)) =
                (last.media().get(audio_at), sdp.media_mut().first_mut())
            {
                if prev.proto().is_plain_rtp() {
                    ours.media_line_mut().proto = prev.proto().clone();
                }
            }
            if last.media().len() > 1 && audio_at < last.media().len() {
                let audio = sdp.media().first().cloned();
                let mut fresh = sdp.clone();
                fresh.clear_media();
                for (i, m) in last.media().iter().enumerate() {
                    match (&audio, i == audio_at) {
                        (Some(a), true) => fresh.push_media(a.clone()),
                        _ => fresh.push_media(rejected(m)),
                    }
                }
                sdp = fresh;
            }
        }
        let sdp = self.stamp(sdp);
        self.pending_offer = Some(sdp.clone());
        self.answered_offer = None;
        sdp
    }

    /// Forgets the pending offer (its request failed, e.g. 488 or 491); what was agreed
    /// before stays in place (RFC 3264 §8).
    pub fn cancel_offer(&mut self) {
        self.pending_offer = None;
    }

    /// Applies the answer (183/200, or ACK after an offer in a 200) to our pending offer;
    /// see [`apply_answer`]. Once answered, the offer stays the one later answers apply to
    /// (the 200 after a 183 with SDP, the 200 of another fork) until a new offer is made
    /// or a remote offer is answered. On error the previous agreement is kept.
    pub fn receive_answer(
        &mut self,
        answer: &SessionDescription,
    ) -> Result<&Negotiated, NegotiationError> {
        let offer = match self.pending_offer.take() {
            Some(o) => o,
            None => self
                .answered_offer
                .take()
                .ok_or(NegotiationError::NoPendingOffer)?,
        };
        let n = apply_answer(&offer, answer);
        self.answered_offer = Some(offer);
        Ok(self.negotiated.insert(n?))
    }

    /// Answers a remote offer (INVITE or re-INVITE); see [`answer`]. Returns the answer to
    /// send, or the error whose [`status`](NegotiationError::status) to reply with (488; 491
    /// when our own offer is pending). A refused offer changes nothing.
    pub fn receive_offer(
        &mut self,
        offer: &SessionDescription,
    ) -> Result<SessionDescription, NegotiationError> {
        if self.pending_offer.is_some() {
            return Err(NegotiationError::Glare);
        }
        let a = answer(offer, &self.caps, self.session_id, self.session_version)?;
        self.negotiated = Some(a.negotiated);
        self.answered_offer = None;
        Ok(self.stamp(a.sdp))
    }
}
