//! RFC 4028 session timers: reading `Session-Expires` / `Min-SE` / option tags, the UAS's
//! choice (§9), the UAC's reading of the 2xx (§7.2), and when to refresh or give up (§10).

use std::time::{Duration, Instant};

use crate::message::{HeaderKind, Message};

/// Who refreshes the session (RFC 4028 §4): the UAC or the UAS *of the transaction that
/// last set the timer* (a re-INVITE from the other side swaps the meaning).
///
/// ```
/// use freya_sip::dialog::Refresher;
/// assert_eq!(Refresher::Uac.as_str(), "uac");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refresher {
    /// The client of the refreshing transaction.
    Uac,
    /// The server of the refreshing transaction.
    Uas,
}

impl Refresher {
    /// `uac` or `uas`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        }
    }
}

/// A `Session-Expires` value (RFC 4028 §4): the interval in seconds and who refreshes.
///
/// ```
/// use freya_sip::dialog::{Refresher, SessionExpires};
/// let se = SessionExpires::parse("1800;refresher=uac").unwrap();
/// assert_eq!((se.seconds, se.refresher), (1800, Some(Refresher::Uac)));
/// assert_eq!(se.to_string(), "1800;refresher=uac");
/// assert!(SessionExpires::parse("soon").is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionExpires {
    /// The session interval, in seconds.
    pub seconds: u32,
    /// The `refresher` parameter, when present.
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    /// Reads `delta-seconds *(;se-params)`; `None` when the number is missing or does not
    /// fit 32 bits. Unknown parameters and refresher values are ignored.
    pub fn parse(value: &str) -> Option<SessionExpires> {
        let mut parts = value.split(';');
        let seconds = parts.next()?.trim().parse::<u32>().ok()?;
        let mut refresher = None;
        for p in parts {
            let mut kv = p.splitn(2, '=');
            let name = kv.next().unwrap_or("").trim();
            let val = kv.next().unwrap_or("").trim();
            if name.eq_ignore_ascii_case("refresher") {
                refresher = if val.eq_ignore_ascii_case("uac") {
                    Some(Refresher::Uac)
                } else if val.eq_ignore_ascii_case("uas") {
                    Some(Refresher::Uas)
                } else {
                    None
                };
            }
        }
        Some(SessionExpires { seconds, refresher })
    }

    /// The message's `Session-Expires` (or `x:`), when present and valid.
    pub fn of(m: &Message) -> Option<SessionExpires> {
        m.headers_of(HeaderKind::SessionExpires)
            .next()
            .and_then(|h| SessionExpires::parse(&h.unfolded()))
    }

    /// The interval as a duration.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.seconds))
    }
}

impl std::fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.seconds)?;
        if let Some(r) = self.refresher {
            write!(f, ";refresher={}", r.as_str())?;
        }
        Ok(())
    }
}

/// The message's `Min-SE` in seconds (RFC 4028 §5), when present and valid.
pub fn min_se(m: &Message) -> Option<u32> {
    m.headers_of(HeaderKind::MinSe)
        .next()
        .and_then(|h| h.value().split(';').next()?.trim().parse().ok())
}

/// Whether a header of `kind` (Supported, Require, Allow…) lists `tag`
/// (case-insensitive, comma-separated, over every row).
///
/// ```
/// use freya_sip::dialog::lists_option;
/// use freya_sip::message::{parse, HeaderKind};
/// let m = parse(bytes::Bytes::from_static(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
///     From: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\
///     k: 100rel, Timer\r\nAllow: INVITE,UPDATE\r\nContent-Length: 0\r\n\r\n")).unwrap();
/// assert!(lists_option(&m, HeaderKind::Supported, "timer"));
/// assert!(lists_option(&m, HeaderKind::Allow, "UPDATE"));
/// assert!(!lists_option(&m, HeaderKind::Require, "timer"));
/// ```
pub fn lists_option(m: &Message, kind: HeaderKind, tag: &str) -> bool {
    m.headers_of(kind).any(|h| {
        h.value()
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case(tag))
    })
}

/// freya's session-timer settings (RFC 4028).
///
/// ```
/// use freya_sip::dialog::SessionTimerConfig;
/// let c = SessionTimerConfig::default();
/// assert!(c.enabled);
/// assert_eq!(c.min_se, 90);
/// assert_eq!(c.session_expires, None); // honoured when the peer asks; not asked for
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimerConfig {
    /// Whether we support the extension (`Supported: timer`) and honour a peer's
    /// `Session-Expires`. When off, Session-Expires is ignored.
    pub enabled: bool,
    /// Our Min-SE in seconds: a request asking for less is answered 422 (RFC 4028 §8.1,
    /// §5: at least 90).
    pub min_se: u32,
    /// The interval our INVITEs ask for, in seconds (`None`: we ask for none and only
    /// honour the peer's).
    pub session_expires: Option<u32>,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        SessionTimerConfig {
            enabled: true,
            min_se: 90,
            session_expires: None,
        }
    }
}

/// What the UAS does with a request's session-timer headers (RFC 4028 §9).
///
/// ```
/// use freya_sip::dialog::{session_timer_uas, Refresher, SessionTimerConfig, UasTimer};
/// use freya_sip::message::parse;
/// let inv = |headers: &str| parse(bytes::Bytes::from(format!(
///     "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:c@d>;tag=1\r\n\
///      To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n{headers}Content-Length: 0\r\n\r\n"))).unwrap();
/// let cfg = SessionTimerConfig::default();
/// assert_eq!(session_timer_uas(&cfg, &inv("Session-Expires: 60\r\n")), UasTimer::TooSmall { min_se: 90 });
/// let UasTimer::Run { expires, require } = session_timer_uas(&cfg, &inv("Supported: timer\r\nSession-Expires: 1800\r\n"))
/// else { panic!() };
/// assert_eq!((expires.seconds, expires.refresher, require), (1800, Some(Refresher::Uac), true));
/// // A UAC that does not support timers leaves the refreshing to us.
/// let UasTimer::Run { expires, require } = session_timer_uas(&cfg, &inv("Session-Expires: 1800\r\n"))
/// else { panic!() };
/// assert_eq!((expires.refresher, require), (Some(Refresher::Uas), false));
/// assert_eq!(session_timer_uas(&cfg, &inv("")), UasTimer::Off);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UasTimer {
    /// No session timer (the request asks for none, or we do not support it).
    Off,
    /// The interval asked for is below our Min-SE: answer `422 Session Interval Too
    /// Small` with `Min-SE: min_se`.
    TooSmall {
        /// Our Min-SE, in seconds.
        min_se: u32,
    },
    /// Run the timer: the 2xx carries `Session-Expires: expires` (refresher always set) and,
    /// when `require`, `Require: timer` (the UAC supports the extension).
    Run {
        /// The value for the 2xx.
        expires: SessionExpires,
        /// Whether the 2xx must carry `Require: timer`.
        require: bool,
    },
}

/// The UAS's decision for a request (INVITE, re-INVITE, UPDATE) per RFC 4028 §9: honour
/// the interval asked for (422 below our Min-SE), keep the refresher the request names,
/// else pick `uac` when the UAC supports timers and `uas` (us) when it does not.
pub fn session_timer_uas(cfg: &SessionTimerConfig, request: &Message) -> UasTimer {
    if !cfg.enabled {
        return UasTimer::Off;
    }
    let Some(se) = SessionExpires::of(request) else {
        return UasTimer::Off;
    };
    let floor = cfg.min_se.max(90);
    if se.seconds < floor {
        return UasTimer::TooSmall { min_se: floor };
    }
    let uac_supports = lists_option(request, HeaderKind::Supported, "timer");
    let refresher = se.refresher.unwrap_or(if uac_supports {
        Refresher::Uac
    } else {
        Refresher::Uas
    });
    UasTimer::Run {
        expires: SessionExpires {
            seconds: se.seconds,
            refresher: Some(refresher),
        },
        require: uac_supports,
    }
}

/// A running session timer (RFC 4028 §10): the interval, whether we refresh, and when we
/// act next.
///
/// ```
/// use std::time::{Duration, Instant};
/// use freya_sip::dialog::SessionTimer;
/// let t0 = Instant::now();
/// let ours = SessionTimer::start(t0, 1800, true);
/// assert_eq!(ours.deadline(), t0 + Duration::from_secs(900));         // refresh at half
/// let theirs = SessionTimer::start(t0, 90, false);
/// assert_eq!(theirs.deadline(), t0 + Duration::from_secs(60));         // 90 - min(32, 30)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimer {
    /// The session interval, in seconds.
    pub seconds: u32,
    /// Whether we send the refreshes (else we expect them).
    pub we_refresh: bool,
    /// When the interval started (the last refresh).
    pub started: Instant,
    /// When we act: refresh (we refresh) or send BYE (they refresh).
    pub due: Instant,
}

impl SessionTimer {
    /// A timer started at `now`: the refresher refreshes at half the interval (RFC 4028
    /// §10); the other side sends BYE at the interval minus min(32 s, a third of it) if no
    /// refresh came. Deadlines are capped at a year.
    pub fn start(now: Instant, seconds: u32, we_refresh: bool) -> SessionTimer {
        let s = u64::from(seconds);
        let after = if we_refresh {
            Duration::from_millis(s * 500)
        } else {
            Duration::from_secs(s - (s / 3).min(32))
        };
        // A peer may ask for up to 2^32 s; a year is as good as never for a call, and keeps
        // the deadline far from `Instant`'s range.
        let after = after.min(Duration::from_secs(365 * 86_400));
        SessionTimer {
            seconds,
            we_refresh,
            started: now,
            due: now + after,
        }
    }

    /// When to act next.
    pub fn deadline(&self) -> Instant {
        self.due
    }
}

/// What the UAC reads from a 2xx to a request it sent with session timers (RFC 4028 §7.2):
/// `Some((interval, we_refresh))` when the 2xx carries Session-Expires (a missing refresher
/// parameter means the UAC), `None` when it carries none (no timer).
pub fn session_timer_uac(cfg: &SessionTimerConfig, response: &Message) -> Option<(u32, bool)> {
    if !cfg.enabled {
        return None;
    }
    let se = SessionExpires::of(response)?;
    Some((
        se.seconds,
        se.refresher.unwrap_or(Refresher::Uac) == Refresher::Uac,
    ))
}
