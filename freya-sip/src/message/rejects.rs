//! Accounting for refused messages (DESIGN.md principle 4): every refusal is counted by
//! kind and logged as one structured line naming what and where.

use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{ErrorKind, ParseError};

/// Per-kind counters of refused messages, shared by the transport tasks that parse input.
/// [`RejectLog::record`] also emits one `tracing` warning per refusal with the kind, line,
/// byte offset, header, offending bytes (hex) and the peer the message came from.
///
/// ```
/// use freya_sip::message::{parse, ErrorKind, RejectLog};
/// let log = RejectLog::new();
/// let raw = bytes::Bytes::from_static(b"OPTIONS sip:a@b SIP/7.0\r\n\r\n");
/// if let Err(e) = parse(raw) {
///     log.record(&e, "udp:192.0.2.7:5060");
/// }
/// assert_eq!(log.count(ErrorKind::UnsupportedVersion), 1);
/// assert_eq!(log.total(), 1);
/// ```
#[derive(Debug, Default)]
pub struct RejectLog {
    counts: [AtomicU64; ErrorKind::ALL.len()],
}

impl RejectLog {
    /// Counters at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts `err` and logs it; `source` names where the bytes came from (transport and
    /// peer address).
    pub fn record(&self, err: &ParseError, source: &str) {
        self.counts[err.kind().index()].fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            kind = err.kind().name(),
            line = err.line(),
            offset = err.offset(),
            header = err.header(),
            offending = %err.offending_hex(),
            source,
            "SIP message refused: {err}"
        );
    }

    /// Refusals of one kind so far.
    pub fn count(&self, kind: ErrorKind) -> u64 {
        self.counts[kind.index()].load(Ordering::Relaxed)
    }

    /// Refusals of every kind so far.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// `(kind name, count)` for every kind, for metrics export.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        ErrorKind::ALL
            .iter()
            .map(|k| (k.name(), self.count(*k)))
            .collect()
    }
}
