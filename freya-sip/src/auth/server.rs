//! [`Challenger`]: the server side of Digest (RFC 3261 §22.1–22.4, RFC 7616 §3.3–3.5):
//! challenges with self-verifying nonces, and verdicts on the credentials a request brings.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::message::{response_to, HeaderKind, Message};

use super::digest::{Algorithm, Challenge, DigestAuthorization};
use super::error::AuthError;
use super::hash::{ct_eq, hex, hmac_sha256};
use super::params::check_text;

/// What a [`Challenger`] offers and for how long its nonces hold.
///
/// ```
/// use freya_sip::auth::{Algorithm, ChallengerConfig};
/// let c = ChallengerConfig::new("freya.example");
/// assert_eq!(c.algorithms, [Algorithm::Sha256, Algorithm::Md5]);
/// assert_eq!(c.nonce_lifetime.as_secs(), 300);
/// assert!(!c.proxy);
/// assert!(c.validate().is_ok());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ChallengerConfig {
    /// The realm (RFC 3261 §22.1: a globally unique name, usually our host name).
    pub realm: String,
    /// The algorithms offered, one challenge each, most preferred first (RFC 8760 §2.3:
    /// SHA-256 first, MD5 for older clients).
    pub algorithms: Vec<Algorithm>,
    /// How long a nonce is accepted after it was issued; after that a right answer gets
    /// [`AuthFailure::Stale`] (and the next challenge says `stale=true`).
    pub nonce_lifetime: Duration,
    /// `true`: act as a proxy — 407 with `Proxy-Authenticate`, credentials in
    /// `Proxy-Authorization`; `false`: a UAS or registrar — 401 with `WWW-Authenticate`,
    /// credentials in `Authorization`.
    pub proxy: bool,
    /// The key authenticating our nonces (any length; 32 random bytes are plenty). When
    /// `None`, a random key is made at start, so nonces do not survive a restart: a
    /// client answering an old one gets a fresh challenge.
    pub secret: Option<Vec<u8>>,
}

impl ChallengerConfig {
    /// A UAS/registrar challenger for `realm`: SHA-256 and MD5, 300-second nonces, a
    /// random key.
    pub fn new(realm: impl Into<String>) -> ChallengerConfig {
        ChallengerConfig {
            realm: realm.into(),
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            nonce_lifetime: Duration::from_secs(300),
            proxy: false,
            secret: None,
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`AuthError::InvalidConfig`] naming the key: an empty realm or one with control
    /// characters, no algorithm, a zero nonce lifetime, an empty secret.
    pub fn validate(&self) -> Result<(), AuthError> {
        let bad = |m: String| Err(AuthError::InvalidConfig(m));
        if self.realm.is_empty() || check_text("realm", &self.realm).is_err() {
            return bad(format!("realm {:?} must be non-empty text", self.realm));
        }
        if self.algorithms.is_empty() {
            return bad("algorithms must list at least one algorithm".into());
        }
        if self.nonce_lifetime.is_zero() {
            return bad("nonce_lifetime must be above zero".into());
        }
        if self.secret.as_ref().is_some_and(Vec::is_empty) {
            return bad("secret must not be empty".into());
        }
        Ok(())
    }
}

impl std::fmt::Debug for ChallengerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChallengerConfig")
            .field("realm", &self.realm)
            .field("algorithms", &self.algorithms)
            .field("nonce_lifetime", &self.nonce_lifetime)
            .field("proxy", &self.proxy)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What the user lookup returns for a username: the password, or the HA1 a database
/// stores instead (`H(username ":" realm ":" password)`, [`Algorithm::ha1`]), for the
/// hash function it was computed with (MD5 HA1 serves MD5 and MD5-sess).
///
/// ```
/// use freya_sip::auth::{Algorithm, UserSecret};
/// let s = UserSecret::Ha1 { algorithm: Algorithm::Md5, ha1: Algorithm::Md5.ha1("u", "r", "p") };
/// assert!(matches!(s, UserSecret::Ha1 { .. }));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum UserSecret {
    /// The clear password (any algorithm can be checked).
    Password(String),
    /// A stored HA1, lower-case hex.
    Ha1 {
        /// The hash function it was computed with.
        algorithm: Algorithm,
        /// The hex digest.
        ha1: String,
    },
}

impl std::fmt::Debug for UserSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserSecret::Password(_) => f.write_str("Password(<redacted>)"),
            UserSecret::Ha1 { algorithm, .. } => write!(f, "Ha1({algorithm}, <redacted>)"),
        }
    }
}

/// Credentials that verified.
///
/// ```
/// use freya_sip::auth::{Algorithm, Authorized};
/// let a = Authorized { username: "alice".into(), algorithm: Algorithm::Md5, nc: Some(1) };
/// assert_eq!(a.username, "alice");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    /// Who.
    pub username: String,
    /// With which algorithm.
    pub algorithm: Algorithm,
    /// The nonce count the client sent.
    pub nc: Option<u32>,
}

/// Why a request's credentials did not verify. Every case is answered with a new
/// challenge ([`Challenger::challenge_response`]); only [`AuthFailure::Stale`] sets
/// `stale=true` in it.
///
/// ```
/// use freya_sip::auth::AuthFailure;
/// let f = AuthFailure::Stale { nonce: "n".into(), age_secs: 301 };
/// assert!(f.is_stale());
/// assert_eq!(f.kind(), "stale");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// No credentials header at all (the usual first request).
    #[error("no credentials for realm {realm:?}")]
    Missing {
        /// Our realm.
        realm: String,
    },
    /// A credentials header for our realm that does not parse (or is not Digest).
    #[error("malformed credentials: {0}")]
    Malformed(AuthError),
    /// Credentials only for another realm.
    #[error("credentials for realm {got:?}, ours is {expected:?}")]
    WrongRealm {
        /// The realm in the header.
        got: String,
        /// Our realm.
        expected: String,
    },
    /// An algorithm we did not offer.
    #[error("algorithm {0} was not offered")]
    AlgorithmNotOffered(Algorithm),
    /// No `qop` although we offered `auth` (RFC 7616 §3.4: the client must use one).
    #[error("credentials of {username:?} carry no qop")]
    QopMissing {
        /// The username.
        username: String,
    },
    /// The `uri` parameter is not the Request-URI (credentials taken from another
    /// request, RFC 7616 §3.4.6).
    #[error("uri {got:?} is not the Request-URI {expected:?}")]
    WrongUri {
        /// The uri in the header.
        got: String,
        /// The Request-URI.
        expected: String,
    },
    /// A nonce we did not issue (wrong MAC or shape): forged, or from another server.
    #[error("nonce {nonce:?} was not issued here")]
    BadNonce {
        /// The nonce.
        nonce: String,
    },
    /// The answer was right but its nonce is older than the lifetime.
    #[error("nonce {nonce:?} expired ({age_secs} s old)")]
    Stale {
        /// The nonce.
        nonce: String,
        /// Its age in seconds.
        age_secs: u64,
    },
    /// The lookup knows no such user.
    #[error("unknown user {username:?}")]
    UnknownUser {
        /// The username.
        username: String,
    },
    /// The stored HA1 was computed with another hash function than the client used.
    #[error("no secret of user {username:?} for algorithm {algorithm}")]
    NoSecretForAlgorithm {
        /// The username.
        username: String,
        /// The algorithm the client used.
        algorithm: Algorithm,
    },
    /// The response digest is wrong: a wrong password (or a tampered request).
    #[error("wrong response from user {username:?}")]
    WrongResponse {
        /// The username.
        username: String,
    },
}

impl AuthFailure {
    /// Whether the next challenge must say `stale=true`.
    pub fn is_stale(&self) -> bool {
        matches!(self, AuthFailure::Stale { .. })
    }

    /// A short name for logs and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthFailure::Missing { .. } => "missing",
            AuthFailure::Malformed(_) => "malformed",
            AuthFailure::WrongRealm { .. } => "wrong_realm",
            AuthFailure::AlgorithmNotOffered(_) => "algorithm_not_offered",
            AuthFailure::QopMissing { .. } => "qop_missing",
            AuthFailure::WrongUri { .. } => "wrong_uri",
            AuthFailure::BadNonce { .. } => "bad_nonce",
            AuthFailure::Stale { .. } => "stale",
            AuthFailure::UnknownUser { .. } => "unknown_user",
            AuthFailure::NoSecretForAlgorithm { .. } => "no_secret_for_algorithm",
            AuthFailure::WrongResponse { .. } => "wrong_response",
        }
    }
}

/// A [`Challenger`]'s counters (DESIGN.md principle 4: every refusal counted).
///
/// ```
/// use freya_sip::auth::ChallengerStats;
/// assert_eq!(ChallengerStats::default().accepted, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChallengerStats {
    /// Nonces issued.
    pub nonces: u64,
    /// Requests whose credentials verified.
    pub accepted: u64,
    /// Requests without credentials.
    pub missing: u64,
    /// Credentials refused as malformed, for another realm, with an algorithm or qop we
    /// did not offer, or for another URI.
    pub malformed: u64,
    /// Nonces we did not issue.
    pub bad_nonce: u64,
    /// Right answers to expired nonces.
    pub stale: u64,
    /// Unknown users, and users without a secret for the algorithm.
    pub unknown_user: u64,
    /// Wrong response digests.
    pub wrong_response: u64,
}

/// Nonce layout: 16 hex digits of milliseconds since the challenger's epoch, 8 of a
/// counter, 32 of HMAC-SHA-256(secret, realm ":" ms ":" counter) truncated to 128 bits.
const NONCE_LEN: usize = 16 + 8 + 32;

/// Challenges requests and verifies their credentials, sans-IO (time passed in), with no
/// per-nonce state: a nonce carries its issue time and a MAC over it, so any nonce we
/// issued — and only those — verifies, and its age says when it is stale. (Replays within
/// the lifetime are not detected: that would need per-nonce nonce-count state.)
///
/// ```
/// use std::time::{Duration, Instant};
/// use freya_sip::auth::{AuthFailure, Challenger, ChallengerConfig};
/// let t0 = Instant::now();
/// let mut c = Challenger::new(ChallengerConfig::new("freya.example"), t0).unwrap();
/// let values = c.challenges(t0, false);
/// assert_eq!(values.len(), 2);                               // SHA-256, then MD5
/// assert!(values[0].starts_with("Digest realm=\"freya.example\", nonce=\""));
/// assert!(values[0].contains("algorithm=SHA-256, qop=\"auth\""));
/// assert_eq!(c.status(), (401, "Unauthorized"));
/// ```
#[derive(Debug, Clone)]
pub struct Challenger {
    config: ChallengerConfig,
    secret: Vec<u8>,
    epoch: Instant,
    counter: u32,
    stats: ChallengerStats,
}

impl Challenger {
    /// A challenger whose nonce clock starts at `now`.
    ///
    /// # Errors
    /// [`AuthError::InvalidConfig`] (see [`ChallengerConfig::validate`]).
    pub fn new(config: ChallengerConfig, now: Instant) -> Result<Challenger, AuthError> {
        config.validate()?;
        let secret = match &config.secret {
            Some(s) => s.clone(),
            None => {
                // 256 bits from keyed SipHash of a counter: std's RandomState keys come
                // from the operating system's random source.
                let rs = RandomState::new();
                (0u64..4)
                    .flat_map(|i| rs.hash_one(i).to_le_bytes())
                    .collect()
            }
        };
        Ok(Challenger {
            config,
            secret,
            epoch: now,
            counter: 0,
            stats: ChallengerStats::default(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &ChallengerConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> ChallengerStats {
        self.stats
    }

    /// The challenge status: `(401, "Unauthorized")`, or `(407, "Proxy Authentication
    /// Required")` for a proxy.
    pub fn status(&self) -> (u16, &'static str) {
        if self.config.proxy {
            (407, "Proxy Authentication Required")
        } else {
            (401, "Unauthorized")
        }
    }

    /// `WWW-Authenticate` or `Proxy-Authenticate`.
    pub fn challenge_header(&self) -> &'static str {
        if self.config.proxy {
            "Proxy-Authenticate"
        } else {
            "WWW-Authenticate"
        }
    }

    fn credentials_kind(&self) -> HeaderKind {
        if self.config.proxy {
            HeaderKind::ProxyAuthorization
        } else {
            HeaderKind::Authorization
        }
    }

    fn mac(&self, ms: u64, counter: u32) -> String {
        let msg = format!("{}:{ms:016x}:{counter:08x}", self.config.realm);
        hex(&hmac_sha256(&self.secret, msg.as_bytes())[..16])
    }

    /// A fresh nonce, stamped `now`.
    pub fn nonce(&mut self, now: Instant) -> String {
        let ms = u64::try_from(now.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX);
        self.counter = self.counter.wrapping_add(1);
        self.stats.nonces += 1;
        format!(
            "{ms:016x}{:08x}{}",
            self.counter,
            self.mac(ms, self.counter)
        )
    }

    /// The challenge header values for one response: one per configured algorithm, in
    /// order, sharing one fresh nonce, `qop="auth"`, and `stale=true` when `stale`.
    pub fn challenges(&mut self, now: Instant, stale: bool) -> Vec<String> {
        let nonce = self.nonce(now);
        self.config
            .algorithms
            .iter()
            .map(|&alg| {
                let mut c = Challenge::new(self.config.realm.clone(), nonce.clone(), alg);
                c.stale = stale;
                c.to_header_value()
            })
            .collect()
    }

    /// The age of a nonce we issued; `None` when we did not issue it.
    fn nonce_age(&self, now: Instant, nonce: &str) -> Option<Duration> {
        if nonce.len() != NONCE_LEN || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let ms = u64::from_str_radix(&nonce[..16], 16).ok()?;
        let counter = u32::from_str_radix(&nonce[16..24], 16).ok()?;
        if !ct_eq(self.mac(ms, counter).as_bytes(), &nonce.as_bytes()[24..]) {
            return None;
        }
        let issued = self.epoch.checked_add(Duration::from_millis(ms))?;
        // A valid MAC from the future cannot be ours (Instant is monotonic).
        (issued <= now).then(|| now.duration_since(issued))
    }

    /// Checks the credentials `request` carries for our realm (`Authorization`, or
    /// `Proxy-Authorization` for a proxy) against `lookup(username, realm)`. Never
    /// challenge ACK or CANCEL (RFC 3261 §22.1): they cannot be resubmitted.
    ///
    /// # Errors
    /// An [`AuthFailure`] saying why (counted and logged); answer it with
    /// [`challenge_response`](Self::challenge_response).
    pub fn verify<F>(
        &mut self,
        now: Instant,
        request: &Message,
        lookup: F,
    ) -> Result<Authorized, AuthFailure>
    where
        F: FnOnce(&str, &str) -> Option<UserSecret>,
    {
        let r = self.check(now, request, lookup);
        match &r {
            Ok(a) => {
                self.stats.accepted += 1;
                tracing::debug!(
                    user = a.username,
                    realm = self.config.realm,
                    "auth: credentials accepted"
                );
            }
            Err(f) => {
                let s = &mut self.stats;
                match f {
                    AuthFailure::Missing { .. } => s.missing += 1,
                    AuthFailure::BadNonce { .. } => s.bad_nonce += 1,
                    AuthFailure::Stale { .. } => s.stale += 1,
                    AuthFailure::UnknownUser { .. } | AuthFailure::NoSecretForAlgorithm { .. } => {
                        s.unknown_user += 1
                    }
                    AuthFailure::WrongResponse { .. } => s.wrong_response += 1,
                    _ => s.malformed += 1,
                }
                if matches!(f, AuthFailure::Missing { .. } | AuthFailure::Stale { .. }) {
                    tracing::debug!(kind = f.kind(), failure = %f, "auth: challenge");
                } else {
                    tracing::warn!(
                        kind = f.kind(),
                        failure = %f,
                        start_line = request.start_line(),
                        call_id = request.call_id(),
                        "auth: credentials refused"
                    );
                }
            }
        }
        r
    }

    fn check<F>(
        &self,
        now: Instant,
        request: &Message,
        lookup: F,
    ) -> Result<Authorized, AuthFailure>
    where
        F: FnOnce(&str, &str) -> Option<UserSecret>,
    {
        let realm = &self.config.realm;
        let (mut ours, mut malformed, mut other) = (None, None, None);
        for h in request.headers_of(self.credentials_kind()) {
            match DigestAuthorization::parse(&h.unfolded()) {
                Ok(a) if &a.realm == realm => {
                    ours = Some(a);
                    break;
                }
                Ok(a) => {
                    other.get_or_insert(a.realm);
                }
                Err(e) => {
                    malformed.get_or_insert(e);
                }
            }
        }
        let a = match (ours, malformed, other) {
            (Some(a), _, _) => a,
            (None, Some(e), _) => return Err(AuthFailure::Malformed(e)),
            (None, None, Some(got)) => {
                return Err(AuthFailure::WrongRealm {
                    got,
                    expected: realm.clone(),
                })
            }
            (None, None, None) => {
                return Err(AuthFailure::Missing {
                    realm: realm.clone(),
                })
            }
        };
        if !self.config.algorithms.contains(&a.algorithm) {
            return Err(AuthFailure::AlgorithmNotOffered(a.algorithm));
        }
        if a.qop.is_none() {
            return Err(AuthFailure::QopMissing {
                username: a.username,
            });
        }
        let expected_uri = request.request_uri().unwrap_or("");
        if a.uri != expected_uri {
            return Err(AuthFailure::WrongUri {
                got: a.uri,
                expected: expected_uri.to_owned(),
            });
        }
        let Some(age) = self.nonce_age(now, &a.nonce) else {
            return Err(AuthFailure::BadNonce { nonce: a.nonce });
        };
        let ha1 = match lookup(&a.username, realm) {
            None => {
                return Err(AuthFailure::UnknownUser {
                    username: a.username,
                })
            }
            Some(UserSecret::Password(p)) => a.algorithm.ha1(&a.username, realm, &p),
            Some(UserSecret::Ha1 { algorithm, ha1 }) => {
                if same_hash(algorithm, a.algorithm) {
                    ha1.to_ascii_lowercase()
                } else {
                    return Err(AuthFailure::NoSecretForAlgorithm {
                        username: a.username,
                        algorithm: a.algorithm,
                    });
                }
            }
        };
        let method = request.method().unwrap_or("");
        let expected = a.expected_response(&ha1, method, request.body());
        if !ct_eq(
            expected.as_bytes(),
            a.response.to_ascii_lowercase().as_bytes(),
        ) {
            return Err(AuthFailure::WrongResponse {
                username: a.username,
            });
        }
        if age > self.config.nonce_lifetime {
            return Err(AuthFailure::Stale {
                nonce: a.nonce,
                age_secs: age.as_secs(),
            });
        }
        Ok(Authorized {
            username: a.username,
            algorithm: a.algorithm,
            nc: a.nc,
        })
    }

    /// The whole challenge response to `request` (RFC 3261 §8.2.6 via
    /// [`response_to`]): 401/407 with one challenge header per algorithm, `stale=true`
    /// when `failure` is [`AuthFailure::Stale`]. `None` for an ACK or a response.
    pub fn challenge_response(
        &mut self,
        now: Instant,
        request: &Message,
        failure: Option<&AuthFailure>,
    ) -> Option<Bytes> {
        let stale = failure.is_some_and(AuthFailure::is_stale);
        let values = self.challenges(now, stale);
        let name = self.challenge_header();
        let extra: Vec<(&str, &str)> = values.iter().map(|v| (name, v.as_str())).collect();
        let (status, reason) = self.status();
        response_to(request, status, reason, &extra)
    }
}

/// Whether two algorithms use the same hash function (an HA1 serves both).
fn same_hash(a: Algorithm, b: Algorithm) -> bool {
    let base = |x| match x {
        Algorithm::Md5 | Algorithm::Md5Sess => 0,
        Algorithm::Sha256 | Algorithm::Sha256Sess => 1,
    };
    base(a) == base(b)
}
