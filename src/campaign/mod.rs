//! Outbound campaigns: the phone list checked before dialing ([`validate_numbers`]), the
//! running campaign ([`Stack::start_campaign`](crate::stack::Stack::start_campaign)), and
//! the pacing core ([`Pacer`]) that decides when a campaign's next call
//! may start — at a carrier's calls-per-second limit, under a ceiling of calls up at once —
//! and that pauses a campaign whose calls keep failing with "no such number" answers (a wrong
//! dial prefix). Sans-IO (DESIGN.md principle 1); the stack's originate does the dialing.

mod numbers;
mod pacer;
pub(crate) mod registry;
pub(crate) mod runner;

pub use numbers::{
    normalize_number, validate_numbers, NumberError, NumberList, NumberRules, RejectedNumber,
    MAX_E164_DIGITS, MIN_E164_DIGITS,
};
pub use runner::{
    CampaignError, CampaignInfo, CampaignRequest, CampaignState, NumberResult, CAMPAIGN_HEADER,
};

pub use pacer::{
    is_number_failure, BreakerConfig, CampaignStats, Outcome, Pacer, PacingConfig, PacingError,
    PauseReason,
};
