//! Outbound campaigns: the pacing core ([`Pacer`]) that decides when a campaign's next call
//! may start — at a carrier's calls-per-second limit, under a ceiling of calls up at once —
//! and that pauses a campaign whose calls keep failing with "no such number" answers (a wrong
//! dial prefix). Sans-IO (DESIGN.md principle 1); the stack's originate does the dialing.

mod pacer;

pub use pacer::{
    is_number_failure, BreakerConfig, CampaignStats, Outcome, Pacer, PacingConfig, PacingError,
    PauseReason,
};
