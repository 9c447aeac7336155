//! Matching messages to transactions: RFC 3261 §17.1.3 (responses to client transactions)
//! and §17.2.3 (requests to server transactions, with the RFC 2543 fallback).

use crate::message::{Message, Via};

use super::error::TransactionError;

/// Which side of a transaction this is: a client transaction sends the request, a server
/// transaction receives it (RFC 3261 §17).
///
/// ```
/// use freya_sip::transaction::Role;
/// assert_eq!(Role::Client.to_string(), "client");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the request.
    Client,
    /// We received the request.
    Server,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Client => "client",
            Role::Server => "server",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SentBy {
    /// Lower-cased host (names compare case-insensitively).
    host: Box<str>,
    port: Option<u16>,
}

/// The RFC 2543 identity of a request (§17.2.3, for a top Via without the magic cookie).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Legacy {
    request_uri: Box<str>,
    to_tag: Option<Box<str>>,
    from_tag: Option<Box<str>>,
    call_id: Box<str>,
    cseq: u32,
    top_via: Box<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum KeyId {
    /// RFC 3261: the branch (lower-cased: parameter values compare case-insensitively,
    /// §7.3.1) and, for server transactions, the top Via's sent-by.
    Branch {
        branch: Box<str>,
        sent_by: Option<SentBy>,
    },
    Legacy(Box<Legacy>),
}

/// What identifies a transaction: its [`Role`], its method, and either its branch (RFC 3261)
/// or, for requests from RFC 2543 peers, the fields §17.2.3 lists.
///
/// - A response matches a client transaction when its top Via branch and its CSeq method
///   equal the request's ([`TransactionKey::for_response`], §17.1.3). A CANCEL shares its
///   INVITE's branch but not its method, so it is a transaction of its own.
/// - A request matches a server transaction when its top Via branch (with the magic cookie
///   `z9hG4bK`), its top Via sent-by and its method equal those of the request that created
///   it; an ACK matches its INVITE ([`TransactionKey::for_incoming_request`]). Without the
///   magic cookie, the Request-URI, To tag, From tag, Call-ID, CSeq number and top Via are
///   compared instead (RFC 2543).
///
/// ```
/// use freya_sip::message::parse;
/// use freya_sip::transaction::{Role, TransactionKey};
/// let invite = parse(bytes::Bytes::from_static(
///     b"INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP a.example:5060;branch=z9hG4bKx1\r\n\
///       From: <sip:alice@a.example>;tag=9\r\nTo: <sip:bob@b.example>\r\nCall-ID: c1\r\n\
///       CSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n")).unwrap();
/// let ack = parse(bytes::Bytes::from_static(
///     b"ACK sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP A.EXAMPLE:5060;branch=z9hG4bKX1\r\n\
///       From: <sip:alice@a.example>;tag=9\r\nTo: <sip:bob@b.example>;tag=2\r\nCall-ID: c1\r\n\
///       CSeq: 7 ACK\r\nContent-Length: 0\r\n\r\n")).unwrap();
/// let k = TransactionKey::for_incoming_request(&invite).unwrap();
/// assert_eq!(k.role(), Role::Server);
/// assert_eq!(TransactionKey::for_incoming_request(&ack).unwrap(), k);   // ACK → its INVITE
/// assert_eq!(k.with_method("CANCEL").method(), "CANCEL");
/// assert_eq!(k.to_string(), "server INVITE z9hg4bkx1 a.example:5060");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransactionKey {
    role: Role,
    method: Box<str>,
    id: KeyId,
}

fn top_via(m: &Message) -> Result<Via<'_>, TransactionError> {
    m.top_via().ok_or(TransactionError::MissingVia)
}

/// The Via value rebuilt from its parts, host lower-cased and transport upper-cased: the
/// "top Via" an RFC 2543 match compares.
pub(crate) fn via_text(v: &Via<'_>) -> String {
    let mut s = format!(
        "{}/{}/{} {}",
        v.protocol_name,
        v.protocol_version,
        v.transport.to_ascii_uppercase(),
        v.host.to_ascii_lowercase()
    );
    if let Some(p) = v.port {
        s.push(':');
        s.push_str(&p.to_string());
    }
    s.push_str(v.params.as_str());
    s
}

impl TransactionKey {
    /// A client transaction's key from its branch and method (what
    /// [`for_outgoing_request`](Self::for_outgoing_request) computes).
    pub fn client(branch: &str, method: &str) -> TransactionKey {
        TransactionKey {
            role: Role::Client,
            method: method.into(),
            id: KeyId::Branch {
                branch: branch.to_ascii_lowercase().into(),
                sent_by: None,
            },
        }
    }

    /// The key of the client transaction a request we send creates: its top Via branch,
    /// which must carry the magic cookie (§8.1.1.7), and its method, which must equal the
    /// CSeq method.
    ///
    /// # Errors
    /// [`TransactionError::NotARequest`], [`TransactionError::AckIsNotATransaction`],
    /// [`TransactionError::MissingVia`], [`TransactionError::MissingBranch`],
    /// [`TransactionError::NotRfc3261Branch`], [`TransactionError::MissingCSeq`],
    /// [`TransactionError::MethodMismatch`].
    pub fn for_outgoing_request(req: &Message) -> Result<TransactionKey, TransactionError> {
        let method = req.method().ok_or(TransactionError::NotARequest)?;
        if method == "ACK" {
            return Err(TransactionError::AckIsNotATransaction);
        }
        let via = top_via(req)?;
        let branch = via.branch().ok_or(TransactionError::MissingBranch)?;
        if !via.has_rfc3261_branch() {
            return Err(TransactionError::NotRfc3261Branch(branch.to_owned()));
        }
        let cseq = req.cseq().ok_or(TransactionError::MissingCSeq)?;
        if cseq.method != method {
            return Err(TransactionError::MethodMismatch {
                method: method.to_owned(),
                cseq: cseq.method.to_owned(),
            });
        }
        Ok(TransactionKey::client(branch, method))
    }

    /// The key of the client transaction a response belongs to (§17.1.3): the top Via
    /// branch and the CSeq method.
    ///
    /// # Errors
    /// [`TransactionError::NotAResponse`], [`TransactionError::MissingVia`],
    /// [`TransactionError::MissingBranch`], [`TransactionError::MissingCSeq`].
    pub fn for_response(resp: &Message) -> Result<TransactionKey, TransactionError> {
        if let Some(m) = resp.method() {
            return Err(TransactionError::NotAResponse(m.to_owned()));
        }
        let via = top_via(resp)?;
        let branch = via.branch().ok_or(TransactionError::MissingBranch)?;
        let cseq = resp.cseq().ok_or(TransactionError::MissingCSeq)?;
        Ok(TransactionKey::client(branch, cseq.method))
    }

    /// The key of the server transaction a received request belongs to (§17.2.3). An ACK
    /// gets its INVITE's key. With an RFC 3261 branch: branch, top Via sent-by, method.
    /// Without one (RFC 2543): Request-URI, To tag, From tag, Call-ID, CSeq number, top Via,
    /// method.
    ///
    /// For an RFC 2543 ACK the To tag is the one of the response it acknowledges, which the
    /// INVITE lacked; the [`TransactionLayer`](super::TransactionLayer) handles that by
    /// comparing with the tag it sent.
    ///
    /// # Errors
    /// [`TransactionError::NotARequest`], [`TransactionError::MissingVia`], and for an RFC
    /// 2543 request [`TransactionError::MissingCSeq`], [`TransactionError::MissingCallId`],
    /// [`TransactionError::MissingFrom`], [`TransactionError::MissingTo`].
    pub fn for_incoming_request(req: &Message) -> Result<TransactionKey, TransactionError> {
        let method = req.method().ok_or(TransactionError::NotARequest)?;
        let method = if method == "ACK" { "INVITE" } else { method };
        let via = top_via(req)?;
        let id = match via.branch() {
            Some(branch) if via.has_rfc3261_branch() => KeyId::Branch {
                branch: branch.to_ascii_lowercase().into(),
                sent_by: Some(SentBy {
                    host: via.host.to_ascii_lowercase().into(),
                    port: via.port,
                }),
            },
            _ => {
                let cseq = req.cseq().ok_or(TransactionError::MissingCSeq)?;
                let call_id = req.call_id().ok_or(TransactionError::MissingCallId)?;
                let from = req.from().ok_or(TransactionError::MissingFrom)?;
                let to = req.to().ok_or(TransactionError::MissingTo)?;
                KeyId::Legacy(Box::new(Legacy {
                    request_uri: req.request_uri().unwrap_or("").trim().into(),
                    to_tag: to.tag().map(Into::into),
                    from_tag: from.tag().map(Into::into),
                    call_id: call_id.trim().into(),
                    cseq: cseq.seq,
                    top_via: via_text(&via).into(),
                }))
            }
        };
        Ok(TransactionKey {
            role: Role::Server,
            method: method.into(),
            id,
        })
    }

    /// The same transaction identity with another method: a CANCEL's key with `"INVITE"`
    /// is the key of the INVITE it cancels (§9.2), and a client INVITE's key with
    /// `"CANCEL"` is the key of its CANCEL's transaction (§9.1).
    pub fn with_method(&self, method: &str) -> TransactionKey {
        TransactionKey {
            role: self.role,
            method: method.into(),
            id: self.id.clone(),
        }
    }

    /// An RFC 2543 key with the To tag removed (how an INVITE without a To tag was keyed),
    /// for matching its ACK; `None` for RFC 3261 keys and keys without a To tag.
    pub(crate) fn without_to_tag(&self) -> Option<TransactionKey> {
        match &self.id {
            KeyId::Legacy(l) if l.to_tag.is_some() => {
                let mut l = l.clone();
                l.to_tag = None;
                Some(TransactionKey {
                    role: self.role,
                    method: self.method.clone(),
                    id: KeyId::Legacy(l),
                })
            }
            _ => None,
        }
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The method of the request that created the transaction (`INVITE` for an ACK's key).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The branch, lower-cased; `None` for an RFC 2543 key.
    pub fn branch(&self) -> Option<&str> {
        match &self.id {
            KeyId::Branch { branch, .. } => Some(branch),
            KeyId::Legacy(_) => None,
        }
    }

    /// Whether the key is an RFC 2543 one (the request's branch lacked the magic cookie).
    pub fn is_rfc2543(&self) -> bool {
        matches!(self.id, KeyId::Legacy(_))
    }

    /// Whether this is the key of an INVITE transaction.
    pub fn is_invite(&self) -> bool {
        &*self.method == "INVITE"
    }
}

impl std::fmt::Display for TransactionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ", self.role, self.method)?;
        match &self.id {
            KeyId::Branch { branch, sent_by } => {
                f.write_str(branch)?;
                if let Some(sb) = sent_by {
                    write!(f, " {}", sb.host)?;
                    if let Some(p) = sb.port {
                        write!(f, ":{p}")?;
                    }
                }
                Ok(())
            }
            KeyId::Legacy(l) => write!(
                f,
                "rfc2543 call-id={} cseq={} via={}",
                l.call_id, l.cseq, l.top_via
            ),
        }
    }
}
