//! [`DigestClient`]: answers 401/407 challenges for a stream of requests — which challenge
//! to answer per realm, nonce counts, client nonces, and when to give up (RFC 3261 §22.2,
//! §22.3; RFC 7616 §3.4, §3.7; RFC 8760 §2.4).

use std::collections::hash_map::{DefaultHasher, RandomState};
use std::hash::{BuildHasher, Hash, Hasher};

use crate::message::{HeaderKind, Message};

use super::digest::{Challenge, Credentials};
use super::error::AuthError;

/// How many challenges one request may be answered for (a server that keeps answering
/// `stale=true` must not make us loop).
pub const MAX_CHALLENGES_PER_REQUEST: u8 = 4;

/// Realms remembered at once (each proxy on the path and the UAS may challenge).
const MAX_REALMS: usize = 8;

#[derive(Debug, Clone)]
enum Source {
    Random(RandomState),
    Seeded(u64),
}

#[derive(Debug, Clone)]
struct Active {
    proxy: bool,
    challenge: Challenge,
    /// Uses of this nonce so far (the next answer carries `nc + 1`).
    nc: u32,
}

/// The client side of Digest for one account: give it each 401/407 with
/// [`handle_challenge`](Self::handle_challenge), and ask for the headers to put in the
/// request (re)sent with [`authorize`](Self::authorize).
///
/// - Per realm (and per header: `WWW-` or `Proxy-Authenticate`), the topmost challenge with
///   an algorithm freya implements is answered (RFC 8760 §2.4: servers list their
///   preference first).
/// - Nonce counts go up by one per use of a nonce (RFC 7616 §3.4); every answer has a fresh
///   128-bit client nonce.
/// - Challenges are kept, so the next request (a REGISTER refresh) carries credentials
///   at once (RFC 3261 §22.3); a server refusing them challenges again and is answered.
/// - Within one request — between two [`start_request`](Self::start_request) calls — a
///   realm that challenges again without `stale=true` after we answered it has refused the
///   credentials: [`AuthError::Rejected`] (RFC 3261 §22.2, do not retry them).
///
/// ```
/// use freya_sip::auth::{Challenger, ChallengerConfig, Credentials, DigestClient, UserSecret};
/// use freya_sip::message::parse;
/// use std::time::Instant;
///
/// let now = Instant::now();
/// let mut server = Challenger::new(ChallengerConfig::new("carrier.example"), now).unwrap();
/// let register = |auth: &[(&str, String)]| {
///     let mut s = String::from("REGISTER sip:carrier.example SIP/2.0\r\n\
///         Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\r\nFrom: <sip:alice@carrier.example>;tag=1\r\n\
///         To: <sip:alice@carrier.example>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\n");
///     for (n, v) in auth { s.push_str(&format!("{n}: {v}\r\n")); }
///     parse(format!("{s}Content-Length: 0\r\n\r\n").into()).unwrap()
/// };
/// let first = register(&[]);
/// let lookup = |user: &str, _realm: &str| (user == "alice").then(|| UserSecret::Password("pw".into()));
/// let failure = server.verify(now, &first, lookup).unwrap_err();
/// let challenge = parse(server.challenge_response(now, &first, Some(&failure)).unwrap()).unwrap();
///
/// let mut client = DigestClient::with_seed(Credentials::new("alice", "pw"), 7);
/// client.handle_challenge(&challenge).unwrap();
/// let headers = client.authorize("REGISTER", "sip:carrier.example", b"").unwrap();
/// assert_eq!(headers[0].0, "Authorization");
/// let ok = server.verify(now, &register(&headers), lookup).unwrap();
/// assert_eq!(ok.username, "alice");
/// ```
#[derive(Debug, Clone)]
pub struct DigestClient {
    credentials: Credentials,
    active: Vec<Active>,
    /// `(proxy, realm)` answered since the last `start_request`.
    answered: Vec<(bool, String)>,
    answers: u8,
    source: Source,
    counter: u64,
}

impl DigestClient {
    /// A client with randomly keyed client nonces.
    pub fn new(credentials: Credentials) -> DigestClient {
        Self::build(credentials, Source::Random(RandomState::new()))
    }

    /// A client whose client nonces are reproducible from `seed` (tests, traces).
    pub fn with_seed(credentials: Credentials, seed: u64) -> DigestClient {
        Self::build(credentials, Source::Seeded(seed))
    }

    fn build(credentials: Credentials, source: Source) -> DigestClient {
        DigestClient {
            credentials,
            active: Vec::new(),
            answered: Vec::new(),
            answers: 0,
            source,
            counter: 0,
        }
    }

    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Whether a challenge is kept (the next [`authorize`](Self::authorize) adds headers).
    pub fn has_challenge(&self) -> bool {
        !self.active.is_empty()
    }

    /// Starts a new request: realms may be answered once more. Kept challenges stay (their
    /// credentials go out with the next request at once).
    pub fn start_request(&mut self) {
        self.answered.clear();
        self.answers = 0;
    }

    /// Forgets every kept challenge (the next request goes without credentials).
    pub fn forget(&mut self) {
        self.active.clear();
        self.start_request();
    }

    /// Takes a 401 or 407 to the request last sent. `Ok` means: send the request again
    /// (next CSeq, new branch) with [`authorize`](Self::authorize)'s headers. A 401 may
    /// carry `Proxy-Authenticate` values too (a forking proxy merges them, RFC 3261 §16.7),
    /// so both kinds are read whatever the status.
    ///
    /// # Errors
    /// [`AuthError::NotAChallenge`] for another status; [`AuthError::NoUsableChallenge`]
    /// when no value is a Digest challenge freya can answer; [`AuthError::NoCredentialsForRealm`]
    /// when the credentials are for another realm; [`AuthError::Rejected`] when a realm we
    /// answered for this request challenges again without `stale=true`;
    /// [`AuthError::TooManyChallenges`] past [`MAX_CHALLENGES_PER_REQUEST`].
    pub fn handle_challenge(&mut self, response: &Message) -> Result<(), AuthError> {
        let status = response.status_code().unwrap_or(0);
        if status != 401 && status != 407 {
            return Err(AuthError::NotAChallenge(status));
        }
        let mut chosen: Vec<(bool, Challenge)> = Vec::new();
        let mut last_error = None;
        for (kind, proxy) in [
            (HeaderKind::ProxyAuthenticate, true),
            (HeaderKind::WwwAuthenticate, false),
        ] {
            for h in response.headers_of(kind) {
                match Challenge::parse(&h.unfolded()) {
                    Ok(c) => {
                        if !chosen
                            .iter()
                            .any(|(p, o)| *p == proxy && o.realm == c.realm)
                        {
                            chosen.push((proxy, c));
                        }
                    }
                    Err(error) => {
                        tracing::debug!(%error, header = h.name(), "auth: challenge skipped");
                        last_error = Some(error);
                    }
                }
            }
        }
        if chosen.is_empty() {
            let detail = last_error.map_or_else(
                || "no WWW-Authenticate or Proxy-Authenticate header".to_owned(),
                |e| e.to_string(),
            );
            tracing::warn!(status, %detail, "auth: no usable challenge");
            return Err(AuthError::NoUsableChallenge { status, detail });
        }
        for (proxy, c) in chosen {
            if !self.credentials.covers(&c.realm) {
                tracing::warn!(
                    realm = c.realm,
                    "auth: challenged by a realm our credentials are not for"
                );
                return Err(AuthError::NoCredentialsForRealm {
                    realm: c.realm,
                    ours: self.credentials.realm.clone().unwrap_or_default(),
                });
            }
            let key = (proxy, c.realm.clone());
            if self.answered.contains(&key) && !c.stale {
                tracing::warn!(
                    realm = c.realm,
                    user = self.credentials.username,
                    "auth: credentials refused"
                );
                self.active
                    .retain(|a| !(a.proxy == proxy && a.challenge.realm == c.realm));
                return Err(AuthError::Rejected { realm: c.realm });
            }
            self.answers += 1;
            if self.answers > MAX_CHALLENGES_PER_REQUEST {
                return Err(AuthError::TooManyChallenges(MAX_CHALLENGES_PER_REQUEST));
            }
            if !self.answered.contains(&key) {
                self.answered.push(key);
            }
            self.active
                .retain(|a| !(a.proxy == proxy && a.challenge.realm == c.realm));
            if self.active.len() >= MAX_REALMS {
                self.active.remove(0);
            }
            self.active.push(Active {
                proxy,
                challenge: c,
                nc: 0,
            });
        }
        Ok(())
    }

    /// The `(header name, value)` pairs to add to a request: one `Authorization` or
    /// `Proxy-Authorization` per kept challenge, each with its nonce count incremented and
    /// a fresh client nonce. `uri` is the request's Request-URI exactly as written; `body`
    /// matters only for `qop=auth-int`. Empty when no challenge is kept.
    ///
    /// # Errors
    /// [`AuthError::ControlCharacter`] for a username or URI holding one.
    pub fn authorize(
        &mut self,
        method: &str,
        uri: &str,
        body: &[u8],
    ) -> Result<Vec<(&'static str, String)>, AuthError> {
        let mut out = Vec::with_capacity(self.active.len());
        for i in 0..self.active.len() {
            let cnonce = self.cnonce();
            let a = &mut self.active[i];
            a.nc = a.nc.wrapping_add(1);
            let answer =
                a.challenge
                    .respond(&self.credentials, method, uri, body, &cnonce, a.nc)?;
            let name = if a.proxy {
                "Proxy-Authorization"
            } else {
                "Authorization"
            };
            out.push((name, answer.to_header_value()));
        }
        Ok(out)
    }

    /// 128 unpredictable bits (keyed hashes of a counter), 32 hex digits.
    fn cnonce(&mut self) -> String {
        let mut next = || {
            self.counter = self.counter.wrapping_add(1);
            match &self.source {
                Source::Random(rs) => rs.hash_one(self.counter),
                Source::Seeded(seed) => {
                    let mut h = DefaultHasher::new();
                    (seed, self.counter, "cnonce").hash(&mut h);
                    h.finish()
                }
            }
        };
        format!("{:016x}{:016x}", next(), next())
    }
}
