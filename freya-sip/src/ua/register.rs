//! Outbound registrations of trunks (`registration` in a trunk's config): one sans-IO
//! [`Registration`] per trunk, its REGISTERs sent through the dialog layer's transactions
//! ([`DialogLayer::send_standalone`]) and their outcomes fed back.

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

use crate::auth::{self, Credentials, Registration, RegistrationEvent, RegistrationState};
use crate::dialog::DialogLayer;
use crate::message::Message;
use crate::transaction::{Reliability, Remote, TransactionKey};
use crate::transport::{SentBy, TransportKind};

use super::config::{TrunkConfig, UaConfig};

/// A trunk's registration as operators see it (Asterisk's `pjsip show registrations`).
///
/// ```
/// use freya_sip::ua::RegistrationStatus;
/// let s = RegistrationStatus { trunk: "carrier".into(), aor: "sip:acme@carrier.example".into(),
///     state: "registered".into(), expires_in_s: Some(1800), last_error: None };
/// assert_eq!(serde_json::to_value(&s).unwrap()["state"], "registered");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistrationStatus {
    /// The trunk.
    pub trunk: String,
    /// The address of record.
    pub aor: String,
    /// `idle`, `registering`, `registered`, `refreshing`, `retrying`, `unregistering`.
    pub state: String,
    /// Seconds until the binding lapses, while it holds.
    pub expires_in_s: Option<u64>,
    /// The last failure (`401 Unauthorized: …`), cleared by a success.
    pub last_error: Option<String>,
}

pub(crate) struct TrunkRegistration {
    trunk: String,
    /// The trunk config it was built from (a reload that changes it starts over).
    source: TrunkConfig,
    reg: Registration,
    last_error: Option<String>,
    /// Unregistering because its trunk went away or changed; dropped once idle.
    retiring: bool,
}

/// Every trunk's registration, and which transaction belongs to which.
#[derive(Default)]
pub(crate) struct Registrations {
    list: Vec<TrunkRegistration>,
    keys: HashMap<TransactionKey, usize>,
}

fn state_name(s: RegistrationState) -> &'static str {
    match s {
        RegistrationState::Idle => "idle",
        RegistrationState::Registering => "registering",
        RegistrationState::Registered => "registered",
        RegistrationState::Refreshing => "refreshing",
        RegistrationState::Retrying => "retrying",
        RegistrationState::Unregistering => "unregistering",
    }
}

fn build(t: &TrunkConfig, sent_by: &SentBy, now: Instant) -> Option<Registration> {
    let r = t.registration.as_ref()?;
    let addr = t.host_addr().ok().flatten()?;
    let kind = t.transport.kind();
    let remote = Remote {
        addr,
        reliability: if kind == TransportKind::Tcp {
            Reliability::Reliable
        } else {
            Reliability::Unreliable
        },
    };
    let user = r.contact_user.clone().or_else(|| {
        r.client_uri
            .split_once(':')
            .and_then(|(_, rest)| rest.split_once('@'))
            .map(|(u, _)| u.to_owned())
    });
    let contact = sent_by.contact_uri(user.as_deref(), kind);
    let mut cfg = auth::RegistrationConfig::new(
        r.server_uri.clone(),
        r.client_uri.clone(),
        contact,
        remote,
        sent_by.to_string(),
    );
    cfg.expires = r.expiration;
    cfg.user_agent = Some("freya".into());
    if let Some(a) = &t.outbound_auth {
        let mut c = Credentials::new(a.username.clone(), a.password.clone());
        if let Some(realm) = &a.realm {
            c = c.for_realm(realm.clone());
        }
        cfg = cfg.credentials(c);
    }
    match Registration::new(cfg) {
        Ok(mut reg) => {
            reg.register(now);
            Some(reg)
        }
        Err(error) => {
            tracing::error!(trunk = t.name, %error, "ua: registration not started");
            None
        }
    }
}

impl Registrations {
    /// Starts (or, after a reload, restarts) what `config` asks for: new and changed
    /// trunks register; a trunk whose registration went away unregisters.
    pub(crate) fn reconcile(&mut self, config: &UaConfig, sent_by: &SentBy, now: Instant) {
        for r in &mut self.list {
            let same = config
                .trunk(&r.trunk)
                .is_some_and(|t| *t == r.source && t.registration.is_some());
            if !same && !r.retiring {
                r.retiring = true;
                r.reg.unregister(now);
            }
        }
        for t in &config.trunks {
            let live = self.list.iter().any(|r| !r.retiring && r.trunk == t.name);
            if live {
                continue;
            }
            if let Some(reg) = build(t, sent_by, now) {
                self.list.push(TrunkRegistration {
                    trunk: t.name.clone(),
                    source: t.clone(),
                    reg,
                    last_error: None,
                    retiring: false,
                });
            }
        }
    }

    /// Sends what the registrations want sent through `layer`.
    pub(crate) fn pump(&mut self, layer: &mut DialogLayer, now: Instant) {
        for (i, r) in self.list.iter_mut().enumerate() {
            while let Some(req) = r.reg.poll_request(now) {
                let remote = r.reg.config().remote;
                match layer.send_standalone(now, req, remote) {
                    Ok(key) => {
                        self.keys.insert(key, i);
                    }
                    Err(error) => {
                        tracing::warn!(trunk = r.trunk, %error, "ua: REGISTER not sent");
                        r.reg.handle_transport_error(now);
                    }
                }
            }
            while let Some(ev) = r.reg.poll_event() {
                match ev {
                    RegistrationEvent::Registered { expires } => {
                        tracing::info!(trunk = r.trunk, expires, "ua: registered");
                        r.last_error = None;
                    }
                    RegistrationEvent::Failed { status, reason } => {
                        tracing::warn!(trunk = r.trunk, status, reason, "ua: registration failed");
                        r.last_error = Some(format!("{status} {reason}"));
                    }
                    RegistrationEvent::Unregistered => {
                        tracing::info!(trunk = r.trunk, "ua: unregistered");
                    }
                }
            }
        }
        // Retired registrations leave once their unregister is done; indexes shift, so
        // the key map is rebuilt only when something leaves (rare: reloads).
        let before = self.list.len();
        let gone: Vec<usize> = (0..before)
            .filter(|&i| {
                self.list[i].retiring && self.list[i].reg.state() == RegistrationState::Idle
            })
            .collect();
        if !gone.is_empty() {
            let mut map: Vec<Option<usize>> = (0..before).map(Some).collect();
            for &i in gone.iter().rev() {
                self.list.remove(i);
                map[i] = None;
            }
            for (next, v) in map.iter_mut().flatten().enumerate() {
                *v = next;
            }
            self.keys.retain(|_, i| match map[*i] {
                Some(n) => {
                    *i = n;
                    true
                }
                None => false,
            });
        }
    }

    /// A standalone transaction finished; returns whether it was a REGISTER of ours.
    pub(crate) fn completed(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        status: u16,
        response: Option<&Message>,
    ) -> bool {
        let Some(i) = self.keys.remove(key) else {
            return false;
        };
        let Some(r) = self.list.get_mut(i) else {
            return true;
        };
        match (response, status) {
            (Some(m), _) => {
                r.reg.handle_response(now, m);
            }
            (None, 503) => r.reg.handle_transport_error(now),
            (None, _) => r.reg.handle_request_timeout(now),
        }
        true
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        for r in &mut self.list {
            r.reg.handle_timeout(now);
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.list.iter().filter_map(|r| r.reg.poll_timeout()).min()
    }

    pub(crate) fn status(&self, now: Instant) -> Vec<RegistrationStatus> {
        self.list
            .iter()
            .map(|r| RegistrationStatus {
                trunk: r.trunk.clone(),
                aor: r.reg.config().aor.clone(),
                state: state_name(r.reg.state()).into(),
                expires_in_s: r
                    .reg
                    .bound_until()
                    .filter(|_| r.reg.state().is_bound())
                    .map(|t| t.saturating_duration_since(now).as_secs()),
                last_error: r.last_error.clone(),
            })
            .collect()
    }
}
