//! Dialog identifiers (RFC 3261 §12: Call-ID, local tag, remote tag), session handles, and
//! the generator of tags and Call-IDs.

use std::collections::hash_map::{DefaultHasher, RandomState};
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};

use crate::message::Message;

/// A dialog's identity (RFC 3261 §12): the Call-ID, the local tag and the remote tag, as
/// seen from this side. Compared byte for byte.
///
/// - On a request we receive, the local tag is the To tag and the remote tag the From tag
///   ([`DialogId::of_incoming_request`], §12.2.2).
/// - On a response we receive (we are the UAC), the local tag is the From tag and the remote
///   tag the To tag ([`DialogId::of_incoming_response`], §12.1.2).
///
/// ```
/// use freya_sip::dialog::DialogId;
/// use freya_sip::message::parse;
/// let bye = parse(bytes::Bytes::from_static(
///     b"BYE sip:freya@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK1\r\n\
///       From: <sip:+4420@carrier.example>;tag=c1\r\nTo: <sip:+1415@freya.example>;tag=f9\r\n\
///       Call-ID: abc@198.51.100.7\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n")).unwrap();
/// let id = DialogId::of_incoming_request(&bye).unwrap();
/// assert_eq!(id, DialogId::new("abc@198.51.100.7", "f9", "c1"));
/// assert_eq!(id.to_string(), "abc@198.51.100.7;local=f9;remote=c1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    /// The Call-ID (RFC 3261 §20.8).
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag (empty for a dialog whose peer is an RFC 2543 UA without tags).
    pub remote_tag: String,
}

impl DialogId {
    /// A dialog id from its three parts.
    pub fn new(call_id: &str, local_tag: &str, remote_tag: &str) -> DialogId {
        DialogId {
            call_id: call_id.to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag: remote_tag.to_owned(),
        }
    }

    /// The id of the dialog a received request belongs to: Call-ID, To tag (ours), From tag
    /// (theirs). `None` without a Call-ID or a To tag (a request outside any dialog).
    pub fn of_incoming_request(m: &Message) -> Option<DialogId> {
        let call_id = m.call_id()?;
        let local = m.to()?.tag()?.to_owned();
        let remote = m.from().and_then(|f| f.tag()).unwrap_or("").to_owned();
        Some(DialogId {
            call_id: call_id.to_owned(),
            local_tag: local,
            remote_tag: remote,
        })
    }

    /// The id of the dialog a received response creates or belongs to (we sent the
    /// request): Call-ID, From tag (ours), To tag (theirs). `None` without a Call-ID, a From
    /// tag or a To tag.
    pub fn of_incoming_response(m: &Message) -> Option<DialogId> {
        Some(DialogId {
            call_id: m.call_id()?.to_owned(),
            local_tag: m.from()?.tag()?.to_owned(),
            remote_tag: m.to()?.tag()?.to_owned(),
        })
    }
}

impl fmt::Display for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};local={};remote={}",
            self.call_id, self.local_tag, self.remote_tag
        )
    }
}

/// A handle on one call (a [`Session`](super::Session)) in a
/// [`DialogLayer`](super::DialogLayer): handed out with an incoming call or by
/// [`DialogLayer::invite`](super::DialogLayer::invite), named in every event.
///
/// ```
/// use freya_sip::dialog::SessionId;
/// assert_eq!(SessionId::from_raw(7).to_string(), "session-7");
/// assert_eq!(SessionId::from_raw(7).raw(), 7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(u64);

impl SessionId {
    /// A handle from its number (for bindings that pass handles as integers).
    pub const fn from_raw(n: u64) -> SessionId {
        SessionId(n)
    }

    /// The handle's number.
    pub const fn raw(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session-{}", self.0)
    }
}

#[derive(Debug, Clone)]
enum Source {
    Random(RandomState),
    Seeded(u64),
}

/// Makes tags (RFC 3261 §19.3: at least 32 bits of randomness) and Call-IDs (§8.1.1.4:
/// globally unique), and the random delays of §14.1 (glare): a keyed 64-bit hash of a
/// counter, unpredictable with [`IdGenerator::new`], reproducible with
/// [`IdGenerator::with_seed`].
///
/// ```
/// use freya_sip::dialog::IdGenerator;
/// let mut g = IdGenerator::with_seed(1);
/// let (a, b) = (g.tag(), g.tag());
/// assert_ne!(a, b);
/// assert!(g.call_id("192.0.2.10").ends_with("@192.0.2.10"));
/// assert!(g.below(100) < 100);
/// ```
#[derive(Debug, Clone)]
pub struct IdGenerator {
    source: Source,
    counter: u64,
}

impl Default for IdGenerator {
    fn default() -> Self {
        IdGenerator::new()
    }
}

impl IdGenerator {
    /// A generator keyed with fresh random keys (through `std`'s `RandomState`).
    pub fn new() -> IdGenerator {
        IdGenerator {
            source: Source::Random(RandomState::new()),
            counter: 0,
        }
    }

    /// A deterministic generator, for tests and reproducible traces.
    pub fn with_seed(seed: u64) -> IdGenerator {
        IdGenerator {
            source: Source::Seeded(seed),
            counter: 0,
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(1);
        match &self.source {
            Source::Random(rs) => rs.hash_one(self.counter),
            Source::Seeded(seed) => {
                let mut h = DefaultHasher::new();
                (seed, self.counter).hash(&mut h);
                h.finish()
            }
        }
    }

    /// A tag: 16 hex digits (64 random bits).
    pub fn tag(&mut self) -> String {
        format!("{:016x}", self.next_u64())
    }

    /// A Call-ID: 32 hex digits `@` `host`.
    pub fn call_id(&mut self, host: &str) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format!("{a:016x}{b:016x}@{host}")
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}
