//! G.711 companding (ITU-T G.711, 1988), bit-exact with the ITU-T G.191 Software Tool
//! Library's `ulaw_compress`/`ulaw_expand`/`alaw_compress`/`alaw_expand`.
//!
//! Decoding is a fixed 256-entry table per law; every implementation agrees on it (the tests
//! check it against `sox` and Python's `audioop`). Encoding a 16-bit sample first drops the
//! low bits — μ-law keeps the 14 most significant bits, A-law the 13 — and the G.191
//! reference does that on the one's complement of a negative sample, so that `x` and `!x`
//! (= `-x - 1`) always encode to mirror-image codes. Sun's `g711.c` (used by `audioop`)
//! agrees for A-law and for non-negative μ-law samples; for 508 negative μ-law inputs it picks
//! the neighbouring code. The tests pin both facts down.

/// Which G.711 law: μ-law (PCMU, North America and Japan) or A-law (PCMA, elsewhere).
///
/// ```
/// use freya_media::codec::G711Law;
///
/// let law = G711Law::from_payload_type(8).unwrap();
/// assert_eq!(law, G711Law::Alaw);
/// assert_eq!(law.encoding_name(), "PCMA");
/// let mut codes = Vec::new();
/// law.encode_into(&[0, 1000, -1000], &mut codes);
/// let mut pcm = Vec::new();
/// law.decode_into(&codes, &mut pcm);
/// assert_eq!(pcm, [8, 1008, -1008]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G711Law {
    /// μ-law: RTP static payload type 0, SDP encoding name `PCMU` (RFC 3551 §4.5.14).
    Ulaw,
    /// A-law: RTP static payload type 8, SDP encoding name `PCMA` (RFC 3551 §4.5.14).
    Alaw,
}

impl G711Law {
    /// The static RTP payload type of this law (RFC 3551 Table 4): 0 for μ-law, 8 for A-law.
    ///
    /// ```
    /// # use freya_media::codec::G711Law;
    /// assert_eq!(G711Law::Ulaw.payload_type(), 0);
    /// ```
    pub const fn payload_type(self) -> u8 {
        match self {
            G711Law::Ulaw => 0,
            G711Law::Alaw => 8,
        }
    }

    /// The law for a static RTP payload type (0 or 8), or `None` for any other type.
    ///
    /// ```
    /// # use freya_media::codec::G711Law;
    /// assert_eq!(G711Law::from_payload_type(0), Some(G711Law::Ulaw));
    /// assert_eq!(G711Law::from_payload_type(101), None);
    /// ```
    pub const fn from_payload_type(payload_type: u8) -> Option<Self> {
        match payload_type {
            0 => Some(G711Law::Ulaw),
            8 => Some(G711Law::Alaw),
            _ => None,
        }
    }

    /// The SDP `a=rtpmap` encoding name: `PCMU` or `PCMA`.
    ///
    /// ```
    /// # use freya_media::codec::G711Law;
    /// assert_eq!(G711Law::Ulaw.encoding_name(), "PCMU");
    /// ```
    pub const fn encoding_name(self) -> &'static str {
        match self {
            G711Law::Ulaw => "PCMU",
            G711Law::Alaw => "PCMA",
        }
    }

    /// The code that decodes to (positive) zero: 0xFF for μ-law, 0xD5 for A-law (which has no
    /// zero level; 0xD5 decodes to +8, the smallest positive level).
    ///
    /// ```
    /// # use freya_media::codec::G711Law;
    /// assert_eq!(G711Law::Ulaw.decode(G711Law::Ulaw.silence()), 0);
    /// assert_eq!(G711Law::Alaw.decode(G711Law::Alaw.silence()), 8);
    /// ```
    pub const fn silence(self) -> u8 {
        match self {
            G711Law::Ulaw => 0xFF,
            G711Law::Alaw => 0xD5,
        }
    }

    /// Encodes one 16-bit linear sample into one code byte ([`ulaw_encode`] or [`alaw_encode`]).
    ///
    /// ```
    /// # use freya_media::codec::G711Law;
    /// assert_eq!(G711Law::Ulaw.encode(0), 0xFF);
    /// ```
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            G711Law::Ulaw => ulaw_encode(sample),
            G711Law::Alaw => alaw_encode(sample),
        }
    }

    /// Decodes one code byte into a 16-bit linear sample ([`ulaw_decode`] or [`alaw_decode`]).
    ///
    /// ```
    /// # use freya_media::codec::G711Law;
    /// assert_eq!(G711Law::Alaw.decode(0xD5), 8);
    /// ```
    pub fn decode(self, code: u8) -> i16 {
        match self {
            G711Law::Ulaw => ulaw_decode(code),
            G711Law::Alaw => alaw_decode(code),
        }
    }

    /// Appends the codes of `samples` to `out`: one byte per sample.
    ///
    /// ```
    /// # use freya_media::codec::G711Law;
    /// let mut out = vec![0xAA];
    /// G711Law::Ulaw.encode_into(&[0, 0], &mut out);
    /// assert_eq!(out, [0xAA, 0xFF, 0xFF]);
    /// ```
    pub fn encode_into(self, samples: &[i16], out: &mut Vec<u8>) {
        out.reserve(samples.len());
        match self {
            G711Law::Ulaw => out.extend(samples.iter().map(|&s| ulaw_encode(s))),
            G711Law::Alaw => out.extend(samples.iter().map(|&s| alaw_encode(s))),
        }
    }

    /// Appends the samples decoded from `codes` to `out`: one sample per byte.
    ///
    /// ```
    /// # use freya_media::codec::G711Law;
    /// let mut out = Vec::new();
    /// G711Law::Ulaw.decode_into(&[0x80, 0x00], &mut out);
    /// assert_eq!(out, [32124, -32124]);
    /// ```
    pub fn decode_into(self, codes: &[u8], out: &mut Vec<i16>) {
        let table = match self {
            G711Law::Ulaw => &ULAW_DECODE,
            G711Law::Alaw => &ALAW_DECODE,
        };
        out.reserve(codes.len());
        out.extend(codes.iter().map(|&c| table[usize::from(c)]));
    }
}

/// Encodes a 16-bit linear sample as a G.711 μ-law code (G.191 `ulaw_compress`).
///
/// The sample's 14 most significant bits are quantised; magnitudes above 8158 (14-bit) clip to
/// the largest code. The result has its bits inverted as G.711 transmits them (0xFF = +0).
///
/// ```
/// use freya_media::codec::{ulaw_decode, ulaw_encode};
///
/// assert_eq!(ulaw_encode(0), 0xFF);
/// assert_eq!(ulaw_encode(-1), 0x7F); // one's complement of 0: the mirror code, -0
/// assert_eq!(ulaw_encode(i16::MAX), 0x80);
/// assert_eq!(ulaw_decode(ulaw_encode(1000)), 988);
/// ```
pub fn ulaw_encode(sample: i16) -> u8 {
    // Magnitude on 14 bits; negative samples use the one's complement (!x = -x - 1).
    let negative = sample < 0;
    let magnitude = if negative { !sample } else { sample };
    // 0..=32767 >> 2 = 0..=8191, plus the bias 33; clipped to 13 bits (G.191).
    let biased = ((magnitude >> 2) + 33).min(0x1FFF) as u16;
    // Segment number 1..=8: one more than the bit length of `biased >> 6` (0..=127).
    let segment = 1 + (16 - (biased >> 6).leading_zeros()) as u16;
    let high = 8 - segment;
    let low = 0xF - ((biased >> segment) & 0xF);
    let code = ((high << 4) | low) as u8;
    if negative {
        code
    } else {
        code | 0x80
    }
}

/// Decodes a G.711 μ-law code to a 16-bit linear sample (G.191 `ulaw_expand`): the middle of
/// the code's quantisation interval, in ±32124.
///
/// ```
/// use freya_media::codec::ulaw_decode;
///
/// assert_eq!(ulaw_decode(0xFF), 0);
/// assert_eq!(ulaw_decode(0x7F), 0);
/// assert_eq!(ulaw_decode(0xFE), 8);
/// ```
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_DECODE[usize::from(code)]
}

/// Encodes a 16-bit linear sample as a G.711 A-law code (G.191 `alaw_compress`).
///
/// The sample's 13 most significant bits are quantised; the result has its even bits
/// inverted as G.711 transmits them (XOR 0x55).
///
/// ```
/// use freya_media::codec::{alaw_decode, alaw_encode};
///
/// assert_eq!(alaw_encode(0), 0xD5);
/// assert_eq!(alaw_encode(-1), 0x55);
/// assert_eq!(alaw_encode(i16::MAX), 0xAA);
/// assert_eq!(alaw_decode(alaw_encode(1000)), 1008);
/// ```
pub fn alaw_encode(sample: i16) -> u8 {
    let negative = sample < 0;
    let magnitude = if negative { !sample } else { sample };
    // 0..=2047: the 12-bit magnitude of the 13-bit sample.
    let mut ix = (magnitude >> 4) as u16;
    if ix > 15 {
        // Segment 1..=7: the position of the leading one above bit 4.
        let exponent = 16 - ix.leading_zeros() as u16 - 4; // 1..=7 for 16..=2047
        ix = ((ix >> (exponent - 1)) - 16) + (exponent << 4);
    }
    let code = if negative { ix as u8 } else { ix as u8 | 0x80 };
    code ^ 0x55
}

/// Decodes a G.711 A-law code to a 16-bit linear sample (G.191 `alaw_expand`): the middle of
/// the code's quantisation interval, in ±32256.
///
/// ```
/// use freya_media::codec::alaw_decode;
///
/// assert_eq!(alaw_decode(0xD5), 8);
/// assert_eq!(alaw_decode(0x55), -8);
/// assert_eq!(alaw_decode(0xAA), 32256);
/// ```
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DECODE[usize::from(code)]
}

const ULAW_DECODE: [i16; 256] = ulaw_table();
const ALAW_DECODE: [i16; 256] = alaw_table();

/// G.191 `ulaw_expand`, evaluated at compile time for each of the 256 codes.
const fn ulaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        let inverted = !(code as u8) as i32;
        let exponent = (inverted >> 4) & 0x07;
        let mantissa = inverted & 0x0F;
        let step = 4 << (exponent + 1);
        let magnitude = (0x80 << exponent) + step * mantissa + step / 2 - 4 * 33;
        table[code] = if code < 0x80 {
            -magnitude as i16
        } else {
            magnitude as i16
        };
        code += 1;
    }
    table
}

/// G.191 `alaw_expand`, evaluated at compile time for each of the 256 codes.
const fn alaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        let ix = ((code as i32) ^ 0x55) & 0x7F;
        let exponent = ix >> 4;
        let mut mantissa = ix & 0x0F;
        if exponent > 0 {
            mantissa += 16;
        }
        mantissa = (mantissa << 4) + 8;
        if exponent > 1 {
            mantissa <<= exponent - 1;
        }
        table[code] = if code > 127 {
            mantissa as i16
        } else {
            -mantissa as i16
        };
        code += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Width of the quantisation interval of a μ-law code, in 16-bit units.
    fn ulaw_step(code: u8) -> i32 {
        8 << ((!code >> 4) & 7)
    }

    /// Width of the quantisation interval of an A-law code, in 16-bit units.
    fn alaw_step(code: u8) -> i32 {
        let exponent = ((code ^ 0x55) & 0x7F) >> 4;
        16 << exponent.max(1).saturating_sub(1)
    }

    /// Literal port of G.191 `ulaw_compress` (loop over segments), to cross-check the
    /// leading-zeros version above on all inputs.
    fn g191_ulaw_compress(x: i16) -> u8 {
        let mut absno: i32 = if x < 0 {
            ((!x) >> 2) as i32 + 33
        } else {
            (x >> 2) as i32 + 33
        };
        if absno > 0x1FFF {
            absno = 0x1FFF;
        }
        let mut i = absno >> 6;
        let mut segno = 1;
        while i != 0 {
            segno += 1;
            i >>= 1;
        }
        let high = 0x0008 - segno;
        let low = 0x000F - ((absno >> segno) & 0x000F);
        let mut code = (high << 4) | low;
        if x >= 0 {
            code |= 0x0080;
        }
        code as u8
    }

    /// Literal port of G.191 `alaw_compress`.
    fn g191_alaw_compress(x: i16) -> u8 {
        let mut ix: i32 = if x < 0 {
            ((!x) >> 4) as i32
        } else {
            (x >> 4) as i32
        };
        if ix > 15 {
            let mut iexp = 1;
            while ix > 16 + 15 {
                ix >>= 1;
                iexp += 1;
            }
            ix -= 16;
            ix += iexp << 4;
        }
        if x >= 0 {
            ix |= 0x0080;
        }
        (ix ^ 0x0055) as u8
    }

    #[test]
    fn encoders_match_the_literal_g191_loops_for_every_sample() {
        for x in i16::MIN..=i16::MAX {
            assert_eq!(ulaw_encode(x), g191_ulaw_compress(x), "μ-law {x}");
            assert_eq!(alaw_encode(x), g191_alaw_compress(x), "A-law {x}");
        }
    }

    #[test]
    fn encoding_is_mirror_symmetric_under_ones_complement() {
        for x in 0..=i16::MAX {
            assert_eq!(ulaw_encode(!x), ulaw_encode(x) ^ 0x80, "μ-law {x}");
            assert_eq!(alaw_encode(!x), alaw_encode(x) ^ 0x80, "A-law {x}");
        }
    }

    #[test]
    fn every_code_is_a_fixed_point_of_decode_then_encode() {
        for code in 0..=255u8 {
            // μ-law has two zeros (0xFF and 0x7F); both decode to 0, which encodes to 0xFF.
            let expected = if code == 0x7F { 0xFF } else { code };
            assert_eq!(
                ulaw_encode(ulaw_decode(code)),
                expected,
                "μ-law {code:#04x}"
            );
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
        }
    }

    #[test]
    fn slice_helpers_agree_with_the_scalar_functions() {
        let samples: Vec<i16> = (-40..40).map(|i| i * 811).collect();
        for law in [G711Law::Ulaw, G711Law::Alaw] {
            let mut codes = Vec::new();
            law.encode_into(&samples, &mut codes);
            let scalar: Vec<u8> = samples.iter().map(|&s| law.encode(s)).collect();
            assert_eq!(codes, scalar);
            let mut back = Vec::new();
            law.decode_into(&codes, &mut back);
            let scalar: Vec<i16> = codes.iter().map(|&c| law.decode(c)).collect();
            assert_eq!(back, scalar);
        }
    }

    proptest! {
        /// decode(encode(x)) is within half a quantisation step of x; beyond the largest
        /// level (±32124 μ-law, ±32256 A-law) it clips to that level.
        #[test]
        fn round_trip_error_is_within_half_a_step(x in any::<i16>()) {
            let x32 = i32::from(x);
            let code = ulaw_encode(x);
            let y = i32::from(ulaw_decode(code));
            if x32.abs() <= 32124 {
                prop_assert!((x32 - y).abs() <= ulaw_step(code) / 2, "μ-law {} -> {}", x, y);
            } else {
                prop_assert_eq!(y, 32124 * x32.signum());
            }
            let code = alaw_encode(x);
            let y = i32::from(alaw_decode(code));
            if x32.abs() <= 32256 {
                prop_assert!((x32 - y).abs() <= alaw_step(code) / 2, "A-law {} -> {}", x, y);
            } else {
                prop_assert_eq!(y, 32256 * x32.signum());
            }
        }
    }

    #[test]
    fn round_trip_bound_holds_exhaustively() {
        // The proptest above samples; this checks all 65536 inputs with the same bound.
        for x in i16::MIN..=i16::MAX {
            let x32 = i32::from(x);
            let code = ulaw_encode(x);
            let err = (x32 - i32::from(ulaw_decode(code))).abs();
            assert!(x32.abs() > 32124 || err <= ulaw_step(code) / 2, "μ-law {x}");
            let code = alaw_encode(x);
            let err = (x32 - i32::from(alaw_decode(code))).abs();
            assert!(x32.abs() > 32256 || err <= alaw_step(code) / 2, "A-law {x}");
        }
    }
}
