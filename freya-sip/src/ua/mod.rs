//! The user agent (RFC 3261 §8, §12–§15 through [`crate::dialog`]): the async API that
//! binds an endpoint from a [`UaConfig`], hands over incoming calls ([`IncomingCalls`]) and
//! places outgoing ones ([`UserAgent::originate`]), with the trunk knobs operators know
//! from Asterisk's pjsip.conf (`identify_by=ip` + `match`, `trust_id_inbound`,
//! `rewrite_contact`, `force_rport`, `codecs`, `dtmf_mode`, `context`) and a policy for
//! requests from unknown sources.
//!
//! Layout: [`config`](UaConfig) (serde), `identify` (which trunk, which caller id),
//! `filter` (what a request must pass before the dialog layer, and the UA's own answers),
//! `agent` (the driver task and [`UserAgent`]), `call` ([`Call`]), `register` (trunks'
//! outbound REGISTER, RFC 3261 §10, with digest auth), `stats`.
//!
//! ```
//! use freya_sip::ua::{UaConfig, TrunkConfig};
//! let mut config = UaConfig::new("127.0.0.1:5060".parse().unwrap());
//! config.trunks.push(TrunkConfig::new("carrier", &["198.51.100.0/24"]));
//! assert!(config.validate().is_ok());
//! ```

mod agent;
mod call;
mod config;
mod error;
mod filter;
mod identify;
mod register;
mod stats;

pub use agent::{IncomingCalls, Originate, UserAgent};
pub use call::{Call, CallControl, CallInfo};
pub use config::{
    AuthConfig, DtmfMode, EndpointConfig, IdentifyBy, RegistrationConfig, TrunkConfig,
    TrunkTransport, UaConfig, UnknownSource,
};
pub use error::UaError;
pub use identify::{identify_source, Cidr, Party, Peer, PeerKind};
pub use register::RegistrationStatus;
pub use stats::UaStats;
