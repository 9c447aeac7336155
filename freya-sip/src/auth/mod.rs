//! SIP digest authentication (RFC 3261 §22 on RFC 2617 / RFC 7616, RFC 8760 for SHA-256)
//! and outbound registration (RFC 3261 §10), sans-IO: no sockets, time passed in.
//!
//! - Client side: [`Challenge`] (a `WWW-Authenticate` / `Proxy-Authenticate` value),
//!   [`Credentials`], [`DigestAuthorization`] (the `Authorization` /
//!   `Proxy-Authorization` value) and [`DigestClient`], which answers the 401/407 of a
//!   stream of requests (nonce counts, client nonces, when to give up).
//! - Server side: [`Challenger`] issues challenges with self-verifying nonces (issue time
//!   plus an HMAC-SHA-256 over it: no per-nonce state) and returns an [`AuthFailure`] per
//!   reason a request's credentials fail — stale nonce, wrong response, wrong realm,
//!   wrong URI…
//! - [`Registration`]: an outbound REGISTER client (RFC 3261 §10.2) in the quinn-proto
//!   style — `poll_request`, `handle_response`, `handle_timeout`, `poll_timeout`,
//!   `poll_event` — that authenticates, refreshes before expiry, honours 423
//!   Min-Expires and retries failures with a backoff.
//!
//! The dialog layer answers challenges to our INVITE with the
//! [`OutgoingCall::credentials`](crate::dialog::OutgoingCall::credentials) it was given.

mod client;
mod digest;
mod error;
mod hash;
mod params;
mod register;
mod register_config;
mod server;

#[cfg(test)]
mod tests;

pub use client::{DigestClient, MAX_CHALLENGES_PER_REQUEST};
pub use digest::{Algorithm, Challenge, Credentials, DigestAuthorization, Qop};
pub use error::AuthError;
pub use register::Registration;
pub use register_config::{
    RegistrationConfig, RegistrationEvent, RegistrationState, RegistrationStats,
};
pub use server::{
    AuthFailure, Authorized, Challenger, ChallengerConfig, ChallengerStats, UserSecret,
};
