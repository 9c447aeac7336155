//! One pass over a message head, 64 bytes at a time: where every line ends (LF), whether a CR
//! stands anywhere but right before an LF (a bare CR, RFC 3261 §7 allows none in the head),
//! and where the first non-ASCII byte is. The fast path of the parser (`parse.rs`) works from
//! this; anything unusual it finds sends the message to the byte-by-byte path, which is the
//! authority on errors.

/// Most lines (start line and headers) the scan records; a head with more goes to the
/// byte-by-byte path.
pub(super) const MAX_LINES: usize = 96;

/// What the scan found in the head (start line to the empty line).
pub(super) struct Head {
    /// Number of lines (start line and header lines) whose LF offsets `scan_head` wrote,
    /// start line first, the empty line not included.
    pub(super) lines: usize,
    /// Offset just after the empty line's LF: where the body starts.
    pub(super) body_start: usize,
    /// Offset of the first byte ≥ 0x80 in the head, if any.
    pub(super) first_non_ascii: Option<usize>,
}

/// Bit `i` of each mask describes byte `base + i` of one 64-byte block.
struct Masks {
    lf: u64,
    cr: u64,
    hi: u64,
}

/// The masks of one 64-byte block, one byte at a time: the reference the SIMD kernels are
/// tested against, and the kernel on other architectures.
#[inline(always)]
fn block_scalar(c: &[u8; 64]) -> Masks {
    let (mut lf, mut cr, mut hi) = (0u64, 0u64, 0u64);
    for (i, &x) in c.iter().enumerate() {
        lf |= u64::from(x == b'\n') << i;
        cr |= u64::from(x == b'\r') << i;
        hi |= u64::from(x >= 0x80) << i;
    }
    Masks { lf, cr, hi }
}

/// The masks of one 64-byte block, 16 bytes per step (SSE2: part of the x86_64 baseline).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn block_sse2(c: &[u8; 64]) -> Masks {
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    let (mut lf, mut cr, mut hi) = (0u64, 0u64, 0u64);
    // SAFETY: SSE2 is part of the x86_64 baseline, so these intrinsics are always available;
    // each load reads 16 bytes at offsets 0, 16, 32, 48 of the 64-byte array `c`.
    unsafe {
        let lfv = _mm_set1_epi8(b'\n' as i8);
        let crv = _mm_set1_epi8(b'\r' as i8);
        for k in 0..4 {
            let v = _mm_loadu_si128(c.as_ptr().add(16 * k).cast::<__m128i>());
            let sh = 16 * k as u32;
            lf |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, lfv)) as u16) << sh;
            cr |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, crv)) as u16) << sh;
            hi |= u64::from(_mm_movemask_epi8(v) as u16) << sh;
        }
    }
    Masks { lf, cr, hi }
}

/// The masks of one 64-byte block, 32 bytes per step. Only called from
/// [`scan_head_avx2`], which runs only where AVX2 was detected.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn block_avx2(c: &[u8; 64]) -> Masks {
    use core::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_set1_epi8,
    };
    let (mut lf, mut cr, mut hi) = (0u64, 0u64, 0u64);
    let lfv = _mm256_set1_epi8(b'\n' as i8);
    let crv = _mm256_set1_epi8(b'\r' as i8);
    for k in 0..2 {
        // SAFETY: the load reads 32 bytes at offset 0 or 32 of the 64-byte array `c`
        // (unaligned loads are allowed); AVX2 is enabled on this function.
        let v = unsafe { _mm256_loadu_si256(c.as_ptr().add(32 * k).cast::<__m256i>()) };
        let sh = 32 * k as u32;
        lf |= u64::from(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, lfv)) as u32) << sh;
        cr |= u64::from(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, crv)) as u32) << sh;
        hi |= u64::from(_mm256_movemask_epi8(v) as u32) << sh;
    }
    Masks { lf, cr, hi }
}

#[inline(always)]
fn masks_at(b: &[u8], base: usize, block: impl Fn(&[u8; 64]) -> Masks) -> Masks {
    match b
        .get(base..base + 64)
        .and_then(|c| <&[u8; 64]>::try_from(c).ok())
    {
        Some(c) => block(c),
        None => {
            // The last, partial block: zero padding sets no bit.
            let mut a = [0u8; 64];
            let rest = &b[base.min(b.len())..];
            a[..rest.len()].copy_from_slice(rest);
            block(&a)
        }
    }
}

/// Which kernel computes the block masks (all give the same masks; tests compare them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kernel {
    /// One byte at a time. On x86_64 only the tests use it, as the reference.
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    Scalar,
    /// SSE2, 16 bytes per step (x86_64 only).
    #[cfg(target_arch = "x86_64")]
    Sse2,
    /// AVX2, 32 bytes per step (x86_64 with AVX2 only).
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Kernel {
    /// The fastest kernel this CPU runs. `is_x86_feature_detected!` caches its answer, so
    /// asking once per message costs a load and a test.
    #[inline(always)]
    pub(super) fn best() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                Kernel::Avx2
            } else {
                Kernel::Sse2
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Kernel::Scalar
    }

    /// Whether this CPU can run the kernel.
    #[cfg(test)]
    pub(super) fn available(self) -> bool {
        match self {
            Kernel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Sse2 => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
        }
    }
}

/// [`scan_head_with`] with the fastest kernel this CPU has.
#[inline]
pub(super) fn scan_head(b: &[u8], max_line: usize, ends: &mut [u32; MAX_LINES]) -> Option<Head> {
    scan_head_with(Kernel::best(), b, max_line, ends)
}

/// [`scan_head_impl`] with the block kernel `k`; `k` must be available on this CPU (the
/// AVX2 kernel is refused, with `None`, where AVX2 is missing).
#[inline]
pub(super) fn scan_head_with(
    k: Kernel,
    b: &[u8],
    max_line: usize,
    ends: &mut [u32; MAX_LINES],
) -> Option<Head> {
    match k {
        Kernel::Scalar => scan_head_impl(b, max_line, ends, block_scalar),
        #[cfg(target_arch = "x86_64")]
        Kernel::Sse2 => scan_head_impl(b, max_line, ends, block_sse2),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => {
            if !std::arch::is_x86_feature_detected!("avx2") {
                return None;
            }
            // SAFETY: AVX2 was detected on this CPU just above.
            unsafe { scan_head_avx2(b, max_line, ends) }
        }
    }
}

/// [`scan_head_impl`] compiled with AVX2 enabled, so that the AVX2 kernel inlines into it.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scan_head_avx2(b: &[u8], max_line: usize, ends: &mut [u32; MAX_LINES]) -> Option<Head> {
    // The closure inherits this function's target features, so the kernel call is safe
    // here: AVX2 is enabled.
    scan_head_impl(b, max_line, ends, |c| block_avx2(c))
}

/// Scans `b` (a message without leading CRLFs) up to its empty line, writing the offset of
/// each line's LF into `ends`. `None` when the head
/// is not plain: no empty line, a bare CR in the head, more than [`MAX_LINES`] lines, or a
/// line longer than `max_line`. The byte-by-byte path then decides (and names the error).
#[inline(always)]
fn scan_head_impl(
    b: &[u8],
    max_line: usize,
    ends: &mut [u32; MAX_LINES],
    block: impl Fn(&[u8; 64]) -> Masks + Copy,
) -> Option<Head> {
    let mut head = Head {
        lines: 0,
        body_start: 0,
        first_non_ascii: None,
    };
    let mut base = 0usize;
    let mut line_start = 0usize;
    let mut first_bare_cr = usize::MAX;
    let mut first_hi = usize::MAX;
    // A CR in the last byte of the previous block: bare unless this block starts with LF.
    let mut pending_cr = false;
    while base < b.len() {
        let m = masks_at(b, base, block);
        if pending_cr && m.lf & 1 == 0 && first_bare_cr == usize::MAX {
            first_bare_cr = base - 1;
        }
        pending_cr = m.cr >> 63 != 0;
        let bare = m.cr & !(m.lf >> 1) & (u64::MAX >> 1);
        if bare != 0 && first_bare_cr == usize::MAX {
            first_bare_cr = base + bare.trailing_zeros() as usize;
        }
        if m.hi != 0 && first_hi == usize::MAX {
            first_hi = base + m.hi.trailing_zeros() as usize;
        }
        let mut lf = m.lf;
        while lf != 0 {
            let at = base + lf.trailing_zeros() as usize;
            lf &= lf - 1;
            let len = at - line_start;
            if len <= 1 && (len == 0 || b[line_start] == b'\r') && head.lines > 0 {
                // The empty line ends the head; what the block holds after it is body.
                let body_start = at + 1;
                if first_bare_cr < body_start {
                    return None;
                }
                head.body_start = body_start;
                head.first_non_ascii = (first_hi < body_start).then_some(first_hi);
                return Some(head);
            }
            // The line without its terminator (CR LF or a lone LF).
            if (len > max_line && len - usize::from(b[at - 1] == b'\r') > max_line)
                || head.lines == MAX_LINES
            {
                return None;
            }
            ends[head.lines] = at as u32;
            head.lines += 1;
            line_start = at + 1;
        }
        base += 64;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec as vec_of;
    use proptest::prelude::*;

    fn ends(b: &[u8]) -> Option<(Vec<u32>, usize, Option<usize>)> {
        let mut e = [0u32; MAX_LINES];
        scan_head(b, 16 * 1024, &mut e)
            .map(|h| (e[..h.lines].to_vec(), h.body_start, h.first_non_ascii))
    }

    #[test]
    fn finds_line_ends_across_blocks() {
        let mut m = b"SIP/2.0 200 OK\r\n".to_vec();
        for i in 0..20 {
            m.extend_from_slice(format!("X-H{i}: {}\r\n", "v".repeat(i * 3)).as_bytes());
        }
        m.extend_from_slice(b"\r\nbody\rwith CR\n");
        let (e, body, hi) = ends(&m).unwrap();
        assert_eq!(e.len(), 21);
        let want: Vec<u32> = m
            .iter()
            .enumerate()
            .filter(|&(i, &c)| c == b'\n' && i < body - 2)
            .map(|(i, _)| i as u32)
            .collect();
        assert_eq!(e, want);
        assert_eq!(&m[body..body + 4], b"body");
        assert_eq!(hi, None);
    }

    #[test]
    fn bare_cr_in_head_and_missing_end_are_refused() {
        assert!(ends(b"SIP/2.0 200 OK\r\nA: b\rc\r\n\r\n").is_none());
        assert!(ends(b"SIP/2.0 200 OK\r\nA: b\r\n").is_none());
        // A CR as the 64th byte of a block, its LF in the next block: not bare.
        let mut m = b"SIP/2.0 200 OK\r\nX: ".to_vec();
        m.resize(63, b'a');
        m.extend_from_slice(b"\r\n\r\n");
        assert_eq!(ends(&m).unwrap().0, vec![15, 64]);
        // The same CR followed by another byte: bare.
        let mut m2 = m.clone();
        m2.insert(64, b'x');
        assert!(ends(&m2).is_none());
    }

    /// What a scan found: line ends, body start, first non-ASCII byte.
    type Found = (Vec<u32>, usize, Option<usize>);

    /// Every kernel the CPU has, with what it found (`None` stands for "not plain").
    fn all_kernels(b: &[u8], max_line: usize) -> Vec<(Kernel, Option<Found>)> {
        let mut ks = vec![Kernel::Scalar];
        #[cfg(target_arch = "x86_64")]
        ks.extend([Kernel::Sse2, Kernel::Avx2]);
        ks.into_iter()
            .filter(|k| k.available())
            .map(|k| {
                let mut e = [0u32; MAX_LINES];
                let r = scan_head_with(k, b, max_line, &mut e)
                    .map(|h| (e[..h.lines].to_vec(), h.body_start, h.first_non_ascii));
                (k, r)
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The SIMD kernels find exactly what the byte-at-a-time kernel finds, on heads built
        /// from line ends, CRs, non-ASCII bytes and text, across block boundaries.
        #[test]
        fn simd_kernels_equal_the_scalar_kernel(
            parts in vec_of(
                prop_oneof![
                    Just(b"\r\n".to_vec()),
                    Just(b"\n".to_vec()),
                    Just(b"\r".to_vec()),
                    Just("é".as_bytes().to_vec()),
                    Just(vec![0xffu8]),
                    vec_of(any::<u8>(), 0..4),
                    "[ -~]{0,70}".prop_map(String::into_bytes),
                ],
                0..60,
            ),
            max_line in prop_oneof![Just(16 * 1024), 1usize..80],
        ) {
            let mut m = b"SIP/2.0 200 OK\r\n".to_vec();
            for p in &parts {
                m.extend_from_slice(p);
            }
            let got = all_kernels(&m, max_line);
            let (_, want) = &got[0];
            for (k, r) in &got[1..] {
                prop_assert_eq!(r, want, "kernel {:?}", k);
            }
            // Ending the head makes most cases plain, so the kernels also agree on the lines.
            m.extend_from_slice(b"\r\n\r\nbody");
            let got = all_kernels(&m, max_line);
            let (_, want) = &got[0];
            for (k, r) in &got[1..] {
                prop_assert_eq!(r, want, "kernel {:?} (ended head)", k);
            }
        }
    }

    #[test]
    fn every_kernel_finds_the_line_ends_of_the_bench_messages() {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../benches/data");
        for name in ["invite.sip", "ringing.sip", "ok_sdp.sip", "bye.sip"] {
            let m = std::fs::read(dir.join(name)).unwrap();
            let head_end = m.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            let want: Vec<u32> = (0..head_end - 2)
                .filter(|&i| m[i] == b'\n')
                .map(|i| i as u32)
                .collect();
            let first_hi = m[..head_end].iter().position(|&c| c >= 0x80);
            for (k, r) in all_kernels(&m, 16 * 1024) {
                assert_eq!(
                    r,
                    Some((want.clone(), head_end, first_hi)),
                    "{name}, kernel {k:?}"
                );
            }
        }
        assert!(Kernel::best().available());
    }

    #[test]
    fn non_ascii_only_counts_in_the_head() {
        let (_, _, hi) = ends("SIP/2.0 200 OK\r\nX: é\r\n\r\n".as_bytes()).unwrap();
        assert_eq!(hi, Some(19));
        let (_, _, hi) = ends("SIP/2.0 200 OK\r\nX: e\r\n\r\né".as_bytes()).unwrap();
        assert_eq!(hi, None);
    }
}
