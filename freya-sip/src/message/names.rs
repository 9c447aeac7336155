//! Header names the stack knows: canonical spelling, compact forms (RFC 3261 §7.3.3 and the
//! RFCs that registered the others), and case-insensitive recognition without allocation.

/// A header the stack recognises by name. Unknown and `X-` headers are [`HeaderKind::Other`];
/// they are kept and written back exactly like the known ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum HeaderKind {
    /// Any header not listed here.
    Other = 0,
    /// `Accept` (RFC 3261 §20).
    Accept,
    /// `Accept-Contact` (RFC 3841).
    AcceptContact,
    /// `Allow` (RFC 3261 §20).
    Allow,
    /// `Allow-Events` (RFC 6665).
    AllowEvents,
    /// `Authorization` (RFC 3261 §20).
    Authorization,
    /// `Call-ID` (RFC 3261 §20).
    CallId,
    /// `Contact` (RFC 3261 §20).
    Contact,
    /// `Content-Disposition` (RFC 3261 §20).
    ContentDisposition,
    /// `Content-Encoding` (RFC 3261 §20).
    ContentEncoding,
    /// `Content-Length` (RFC 3261 §20).
    ContentLength,
    /// `Content-Type` (RFC 3261 §20).
    ContentType,
    /// `CSeq` (RFC 3261 §20).
    CSeq,
    /// `Date` (RFC 3261 §20).
    Date,
    /// `Diversion` (RFC 5806).
    Diversion,
    /// `Event` (RFC 6665).
    Event,
    /// `Expires` (RFC 3261 §20).
    Expires,
    /// `From` (RFC 3261 §20).
    From,
    /// `Identity` (RFC 8224).
    Identity,
    /// `Identity-Info` (RFC 4474).
    IdentityInfo,
    /// `Max-Forwards` (RFC 3261 §20).
    MaxForwards,
    /// `Min-SE` (RFC 4028).
    MinSe,
    /// `P-Asserted-Identity` (RFC 3325).
    PAssertedIdentity,
    /// `P-Preferred-Identity` (RFC 3325).
    PPreferredIdentity,
    /// `Proxy-Authenticate` (RFC 3261 §20).
    ProxyAuthenticate,
    /// `Proxy-Authorization` (RFC 3261 §20).
    ProxyAuthorization,
    /// `Proxy-Require` (RFC 3261 §20).
    ProxyRequire,
    /// `Reason` (RFC 3326).
    Reason,
    /// `Record-Route` (RFC 3261 §20).
    RecordRoute,
    /// `Refer-To` (RFC 3515).
    ReferTo,
    /// `Referred-By` (RFC 3892).
    ReferredBy,
    /// `Reject-Contact` (RFC 3841).
    RejectContact,
    /// `Remote-Party-ID` (draft-ietf-sip-privacy-04).
    RemotePartyId,
    /// `Request-Disposition` (RFC 3841).
    RequestDisposition,
    /// `Require` (RFC 3261 §20).
    Require,
    /// `Route` (RFC 3261 §20).
    Route,
    /// `Session-Expires` (RFC 4028).
    SessionExpires,
    /// `Subject` (RFC 3261 §20).
    Subject,
    /// `Supported` (RFC 3261 §20).
    Supported,
    /// `To` (RFC 3261 §20).
    To,
    /// `Unsupported` (RFC 3261 §20).
    Unsupported,
    /// `User-Agent` (RFC 3261 §20).
    UserAgent,
    /// `Via` (RFC 3261 §20).
    Via,
    /// `Warning` (RFC 3261 §20).
    Warning,
    /// `WWW-Authenticate` (RFC 3261 §20).
    WwwAuthenticate,
}

/// (kind, canonical name, compact form)
const TABLE: &[(HeaderKind, &str, Option<u8>)] = &[
    (HeaderKind::Accept, "Accept", None),
    (HeaderKind::AcceptContact, "Accept-Contact", Some(b'a')),
    (HeaderKind::Allow, "Allow", None),
    (HeaderKind::AllowEvents, "Allow-Events", Some(b'u')),
    (HeaderKind::Authorization, "Authorization", None),
    (HeaderKind::CallId, "Call-ID", Some(b'i')),
    (HeaderKind::Contact, "Contact", Some(b'm')),
    (HeaderKind::ContentDisposition, "Content-Disposition", None),
    (HeaderKind::ContentEncoding, "Content-Encoding", Some(b'e')),
    (HeaderKind::ContentLength, "Content-Length", Some(b'l')),
    (HeaderKind::ContentType, "Content-Type", Some(b'c')),
    (HeaderKind::CSeq, "CSeq", None),
    (HeaderKind::Date, "Date", None),
    (HeaderKind::Diversion, "Diversion", None),
    (HeaderKind::Event, "Event", Some(b'o')),
    (HeaderKind::Expires, "Expires", None),
    (HeaderKind::From, "From", Some(b'f')),
    (HeaderKind::Identity, "Identity", Some(b'y')),
    (HeaderKind::IdentityInfo, "Identity-Info", Some(b'n')),
    (HeaderKind::MaxForwards, "Max-Forwards", None),
    (HeaderKind::MinSe, "Min-SE", None),
    (HeaderKind::PAssertedIdentity, "P-Asserted-Identity", None),
    (HeaderKind::PPreferredIdentity, "P-Preferred-Identity", None),
    (HeaderKind::ProxyAuthenticate, "Proxy-Authenticate", None),
    (HeaderKind::ProxyAuthorization, "Proxy-Authorization", None),
    (HeaderKind::ProxyRequire, "Proxy-Require", None),
    (HeaderKind::Reason, "Reason", None),
    (HeaderKind::RecordRoute, "Record-Route", None),
    (HeaderKind::ReferTo, "Refer-To", Some(b'r')),
    (HeaderKind::ReferredBy, "Referred-By", Some(b'b')),
    (HeaderKind::RejectContact, "Reject-Contact", Some(b'j')),
    (HeaderKind::RemotePartyId, "Remote-Party-ID", None),
    (
        HeaderKind::RequestDisposition,
        "Request-Disposition",
        Some(b'd'),
    ),
    (HeaderKind::Require, "Require", None),
    (HeaderKind::Route, "Route", None),
    (HeaderKind::SessionExpires, "Session-Expires", Some(b'x')),
    (HeaderKind::Subject, "Subject", Some(b's')),
    (HeaderKind::Supported, "Supported", Some(b'k')),
    (HeaderKind::To, "To", Some(b't')),
    (HeaderKind::Unsupported, "Unsupported", None),
    (HeaderKind::UserAgent, "User-Agent", None),
    (HeaderKind::Via, "Via", Some(b'v')),
    (HeaderKind::Warning, "Warning", None),
    (HeaderKind::WwwAuthenticate, "WWW-Authenticate", None),
];

const NONE: u8 = u8::MAX;
const MAX_LEN: usize = 24;
const SLOTS: usize = 128;

/// Hash of a name's length and its first and last letters (case folded): every full name in
/// TABLE lands in its own chain of [`BY_KEY`], and a name is compared with at most the one or
/// two full names in its chain, instead of every same-length name.
#[inline(always)]
const fn key(len: usize, first: u8, last: u8) -> usize {
    (len.wrapping_mul(29) ^ ((first | 0x20) as usize).wrapping_mul(7) ^ (last | 0x20) as usize)
        % SLOTS
}

/// Open addressing (linear probing) over TABLE's full names, built at compile time.
static BY_KEY: [u8; SLOTS] = by_key();

const fn by_key() -> [u8; SLOTS] {
    let mut t = [NONE; SLOTS];
    let mut i = 0;
    while i < TABLE.len() {
        let n = TABLE[i].1.as_bytes();
        let mut k = key(n.len(), n[0], n[n.len() - 1]);
        while t[k] != NONE {
            k = (k + 1) % SLOTS;
        }
        t[k] = i as u8;
        i += 1;
    }
    t
}

/// Each full name lower-cased and zero-padded, for word-sized compares.
static LOWER: [[u8; MAX_LEN]; TABLE.len()] = lower();

const fn lower() -> [[u8; MAX_LEN]; TABLE.len()] {
    let mut t = [[0u8; MAX_LEN]; TABLE.len()];
    let mut i = 0;
    while i < TABLE.len() {
        let n = TABLE[i].1.as_bytes();
        let mut j = 0;
        while j < n.len() {
            t[i][j] = n[j].to_ascii_lowercase();
            j += 1;
        }
        i += 1;
    }
    t
}

/// Each full name's length (read with [`LOWER`], without going through TABLE's `&str`s).
static LEN: [u8; TABLE.len()] = lens();

const fn lens() -> [u8; TABLE.len()] {
    let mut t = [0u8; TABLE.len()];
    let mut i = 0;
    while i < TABLE.len() {
        t[i] = TABLE[i].1.len() as u8;
        i += 1;
    }
    t
}

/// Compact form (lower-case letter) to kind, built at compile time.
static COMPACT: [HeaderKind; 26] = compact();

const fn compact() -> [HeaderKind; 26] {
    let mut t = [HeaderKind::Other; 26];
    let mut i = 0;
    while i < TABLE.len() {
        if let Some(c) = TABLE[i].2 {
            t[(c - b'a') as usize] = TABLE[i].0;
        }
        i += 1;
    }
    t
}

#[inline(always)]
fn load8(s: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&s[i..i + 8]);
    u64::from_le_bytes(a)
}

#[inline(always)]
fn load4(s: &[u8], i: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&s[i..i + 4]);
    u32::from_le_bytes(a)
}

/// `name` equals the lower-case `lower` (same length) once every byte of `name` has bit
/// 0x20 set. For token bytes that is exactly an ASCII case-insensitive compare: the only
/// other byte that folds onto a letter or '-' of a header name is CR (0x0d → '-'), which
/// is not a token character.
#[inline(always)]
fn eq_folded(name: &[u8], lower: &[u8; MAX_LEN]) -> bool {
    const F8: u64 = 0x2020_2020_2020_2020;
    const F4: u32 = 0x2020_2020;
    let n = name.len();
    if n >= 8 {
        let mut i = 0;
        while i + 8 <= n {
            if load8(name, i) | F8 != load8(lower, i) {
                return false;
            }
            i += 8;
        }
        // The last, overlapping word.
        i == n || load8(name, n - 8) | F8 == load8(lower, n - 8)
    } else if n >= 4 {
        load4(name, 0) | F4 == load4(lower, 0) && load4(name, n - 4) | F4 == load4(lower, n - 4)
    } else {
        name.iter().zip(lower).all(|(&a, &b)| a | 0x20 == b)
    }
}

impl HeaderKind {
    /// Recognises a header name, case-insensitively, in its full or compact form.
    /// Names the stack does not know give [`HeaderKind::Other`].
    ///
    /// ```
    /// use freya_sip::message::HeaderKind;
    /// assert_eq!(HeaderKind::from_name(b"i"), HeaderKind::CallId);
    /// assert_eq!(HeaderKind::from_name(b"cAlL-iD"), HeaderKind::CallId);
    /// assert_eq!(HeaderKind::from_name(b"X-Freya-Call-Id"), HeaderKind::Other);
    /// ```
    #[inline]
    pub fn from_name(name: &[u8]) -> HeaderKind {
        // Any byte: the word-sized compare is exact only for token bytes, so check the
        // candidate with a plain case-insensitive compare.
        match Self::candidate(name) {
            Some(i) if TABLE[i].1.as_bytes().eq_ignore_ascii_case(name) => TABLE[i].0,
            Some(_) | None if name.len() == 1 => Self::compact(name[0]),
            _ => HeaderKind::Other,
        }
    }

    /// [`HeaderKind::from_name`] for a name holding no CR (a header name cut from one line
    /// of a head without bare CRs, token or not): compares word by word with every byte's
    /// bit 0x20 set, which equals an ASCII case-insensitive compare for such names (CR is the
    /// only other byte that folds onto a letter or '-'). A name it recognises is a token.
    #[inline(always)]
    pub(crate) fn from_token(name: &[u8]) -> HeaderKind {
        if name.len() == 1 {
            return Self::compact(name[0]);
        }
        match Self::candidate_folded(name) {
            Some(i) => TABLE[i].0,
            None => HeaderKind::Other,
        }
    }

    #[inline(always)]
    fn compact(c: u8) -> HeaderKind {
        let c = c | 0x20;
        if c.is_ascii_lowercase() {
            COMPACT[(c - b'a') as usize]
        } else {
            HeaderKind::Other
        }
    }

    /// The TABLE row whose full name has `name`'s length, first and last letters (case
    /// folded): the only row `name` can match.
    #[inline(always)]
    fn candidate(name: &[u8]) -> Option<usize> {
        let (&first, &last) = (name.first()?, name.last()?);
        Self::probe(name, |i| {
            let full = TABLE[i].1.as_bytes();
            full.len() == name.len()
                && (full[0] ^ first) | 0x20 == 0x20
                && (full[full.len() - 1] ^ last) | 0x20 == 0x20
        })
    }

    /// Like [`HeaderKind::candidate`], comparing whole names word by word (token bytes only).
    #[inline(always)]
    fn candidate_folded(name: &[u8]) -> Option<usize> {
        // Its own loop rather than `probe` with a closure: the closure was not inlined, which
        // cost about 300 instructions per message (callgrind, 9 headers).
        let (&first, &last) = (name.first()?, name.last()?);
        if name.len() >= MAX_LEN {
            return None;
        }
        let mut k = key(name.len(), first, last);
        loop {
            let i = BY_KEY[k];
            if i == NONE {
                return None;
            }
            let i = usize::from(i);
            if usize::from(LEN[i]) == name.len() && eq_folded(name, &LOWER[i]) {
                return Some(i);
            }
            k = (k + 1) % SLOTS;
        }
    }

    /// Walks the open-addressing chain of `name`'s key to the first row `hit` accepts.
    #[inline(always)]
    fn probe(name: &[u8], hit: impl Fn(usize) -> bool) -> Option<usize> {
        let (&first, &last) = (name.first()?, name.last()?);
        if name.len() >= MAX_LEN {
            return None;
        }
        let mut k = key(name.len(), first, last);
        loop {
            let i = BY_KEY[k];
            if i == NONE {
                return None;
            }
            if hit(i as usize) {
                return Some(i as usize);
            }
            k = (k + 1) % SLOTS;
        }
    }

    /// The canonical spelling (`Call-ID`, `CSeq`, `WWW-Authenticate`…); `None` for
    /// [`HeaderKind::Other`].
    pub fn canonical_name(self) -> Option<&'static str> {
        TABLE
            .iter()
            .find(|(k, _, _)| *k == self)
            .map(|(_, n, _)| *n)
    }

    /// The compact form (RFC 3261 §7.3.3 and later registrations), when the header has one.
    pub fn compact_form(self) -> Option<char> {
        TABLE
            .iter()
            .find(|(k, _, _)| *k == self)
            .and_then(|(_, _, c)| c.map(char::from))
    }

    /// Whether `name` (as received) denotes this kind.
    pub fn matches(self, name: &str) -> bool {
        HeaderKind::from_name(name.as_bytes()) == self
    }

    /// Whether the header may appear at most once in a message (RFC 3261 §7.3.1): several
    /// rows of these make the message ambiguous.
    pub fn is_single_valued(self) -> bool {
        matches!(
            self,
            HeaderKind::CallId
                | HeaderKind::CSeq
                | HeaderKind::From
                | HeaderKind::To
                | HeaderKind::MaxForwards
                | HeaderKind::ContentLength
                | HeaderKind::ContentType
                | HeaderKind::Expires
                | HeaderKind::Date
        )
    }
}

/// Whether two header names denote the same header: case-insensitive, and a compact form
/// equals its full name (`i` ≡ `Call-ID`). Names unknown to the stack compare by their bytes,
/// case-insensitively.
pub fn same_header(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    let ka = HeaderKind::from_name(a.as_bytes());
    ka != HeaderKind::Other && ka == HeaderKind::from_name(b.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_row_round_trips() {
        for (kind, name, compact) in TABLE {
            assert_eq!(HeaderKind::from_name(name.as_bytes()), *kind, "{name}");
            assert_eq!(
                HeaderKind::from_name(name.to_ascii_uppercase().as_bytes()),
                *kind
            );
            if let Some(c) = compact {
                assert_eq!(HeaderKind::from_name(&[*c]), *kind);
                assert_eq!(HeaderKind::from_name(&[c.to_ascii_uppercase()]), *kind);
            }
            assert_eq!(kind.canonical_name(), Some(*name));
        }
    }

    #[test]
    fn odd_names_are_other() {
        assert_eq!(HeaderKind::from_name(b""), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(&[b'x'; 300]), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(b"Via-"), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(b"\xc4\xb0"), HeaderKind::Other);
    }

    #[test]
    fn same_header_maps_compact_forms() {
        assert!(same_header("v", "VIA"));
        assert!(same_header("X-Foo", "x-foo"));
        assert!(!same_header("X-Foo", "X-Bar"));
        assert!(!same_header("q", "Q-Other"));
    }
}
