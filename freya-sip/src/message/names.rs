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
const PER_LEN: usize = 8;

/// Indexes into TABLE, grouped by name length.
static BY_LEN: [[u8; PER_LEN]; MAX_LEN] = by_len();

const fn by_len() -> [[u8; PER_LEN]; MAX_LEN] {
    let mut t = [[NONE; PER_LEN]; MAX_LEN];
    let mut i = 0;
    while i < TABLE.len() {
        let len = TABLE[i].1.len();
        let mut j = 0;
        while t[len][j] != NONE {
            j += 1; // a full bucket fails to compile (index out of bounds)
        }
        t[len][j] = i as u8;
        i += 1;
    }
    t
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
        if name.len() == 1 {
            let c = name[0].to_ascii_lowercase();
            for (kind, _, compact) in TABLE {
                if *compact == Some(c) {
                    return *kind;
                }
            }
            return HeaderKind::Other;
        }
        // Bucketed by length (built at compile time): at most a few same-length names are
        // compared, first by their first letter.
        let Some(bucket) = BY_LEN.get(name.len()) else {
            return HeaderKind::Other;
        };
        let Some(&first) = name.first() else {
            return HeaderKind::Other;
        };
        let first = first | 0x20;
        for &i in bucket {
            if i == NONE {
                break;
            }
            let (kind, full, _) = TABLE[i as usize];
            let full = full.as_bytes();
            if full[0] | 0x20 == first && full.eq_ignore_ascii_case(name) {
                return kind;
            }
        }
        HeaderKind::Other
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
