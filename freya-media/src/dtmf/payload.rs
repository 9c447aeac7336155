//! The RFC 4733 §2.3 telephone-event payload.

#![deny(clippy::indexing_slicing)]

use super::{DtmfError, EventCode};

/// One telephone-event payload (RFC 4733 §2.3): 4 bytes.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     event     |E|R| volume    |          duration             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// ```
/// use freya_media::dtmf::{EventCode, TelephoneEvent};
///
/// let event = TelephoneEvent::parse(&[0x05, 0x8A, 0x03, 0x20])?;
/// assert_eq!(event.event, EventCode::new(5));
/// assert!(event.end);
/// assert_eq!(event.volume, 10);
/// assert_eq!(event.duration, 800); // ticks: 100 ms at 8 kHz
/// assert_eq!(event.to_bytes(), [0x05, 0x8A, 0x03, 0x20]);
/// # Ok::<(), freya_media::dtmf::DtmfError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TelephoneEvent {
    /// The event code.
    pub event: EventCode,
    /// The E bit: this packet ends the event (§2.5.1.4).
    pub end: bool,
    /// Power level in -dBm0, 0..=63 (6 bits; ignored by receivers for non-tone events).
    pub volume: u8,
    /// Duration of the event so far, in RTP ticks from the event's timestamp (§2.5.1.3).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Payload length, in bytes.
    pub const LEN: usize = 4;

    /// Parses a payload. The reserved R bit is ignored, as §2.3 requires of receivers.
    ///
    /// # Errors
    /// [`DtmfError::PayloadLength`] unless the payload is exactly 4 bytes.
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let [event, flags, d0, d1] = <[u8; 4]>::try_from(payload)
            .map_err(|_| DtmfError::PayloadLength { len: payload.len() })?;
        Ok(TelephoneEvent {
            event: EventCode::new(event),
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The 4 payload bytes. R is written as 0; a volume above 63 is masked to its 6 bits.
    pub fn to_bytes(&self) -> [u8; 4] {
        let [d0, d1] = self.duration.to_be_bytes();
        let flags = if self.end { 0x80 } else { 0 } | (self.volume & 0x3F);
        [self.event.code(), flags, d0, d1]
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(event in any::<u8>(), end in any::<bool>(), volume in 0u8..=63, duration in any::<u16>()) {
            let e = TelephoneEvent { event: EventCode::new(event), end, volume, duration };
            prop_assert_eq!(TelephoneEvent::parse(&e.to_bytes()), Ok(e));
        }

        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..8)) {
            match TelephoneEvent::parse(&bytes) {
                Ok(e) => {
                    prop_assert_eq!(bytes.len(), 4);
                    // Only the R bit (0x40 of byte 1) is not preserved.
                    let mut expected = [0u8; 4];
                    expected.copy_from_slice(&bytes);
                    expected[1] &= !0x40;
                    prop_assert_eq!(e.to_bytes(), expected);
                }
                Err(err) => prop_assert_eq!(err, DtmfError::PayloadLength { len: bytes.len() }),
            }
        }
    }

    #[test]
    fn reserved_bit_is_ignored() {
        let e = TelephoneEvent::parse(&[11, 0x40 | 0x80 | 7, 0, 160]).unwrap();
        assert_eq!(e.event.to_char(), Some('#'));
        assert!(e.end);
        assert_eq!(e.volume, 7);
        assert_eq!(e.duration, 160);
    }
}
