//! Hold passed across a B2BUA call, as Asterisk does with `moh_passthrough=yes`: when one
//! leg's peer puts the call on hold (a re-INVITE with `a=sendonly`, `a=inactive` or
//! `c=0.0.0.0`, RFC 3264 §8.4), freya answers that re-INVITE itself and then holds the
//! other leg with a re-INVITE of its own; resuming works the same way.
//!
//! This is the bookkeeping only (sans-IO): which hold state the other leg should have,
//! whether our re-INVITE to it is under way, and what to send next. A leg that refuses
//! our re-INVITE is not asked again for the same state (no retry loop against a peer
//! that answers 488 to every hold); a later change of the peer's mind is passed on.

/// What to do next on the leg that follows: `Some(true)` hold it, `Some(false)` resume it.
pub(crate) type HoldAction = Option<bool>;

/// One direction of hold passthrough: the peer of leg X decides, leg Y follows. The
/// tests below show its use.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct HoldPass {
    /// The state leg Y has agreed to (false: not on hold, as every call starts).
    told: bool,
    /// The state leg X's peer asks for: its latest `remote_hold`.
    want: bool,
    /// Our re-INVITE to Y is under way, asking for this state.
    inflight: Option<bool>,
    /// Y refused this state; not asked again until `want` changes.
    refused: Option<bool>,
}

impl HoldPass {
    /// X's peer changed the media; `remote_hold` is its hold state now. Returns what to
    /// send to Y now, if anything.
    pub(crate) fn peer(&mut self, remote_hold: bool) -> HoldAction {
        if remote_hold != self.want {
            self.want = remote_hold;
            self.refused = None;
        }
        self.next()
    }

    /// Our re-INVITE to Y was sent, asking for `hold`.
    pub(crate) fn sent(&mut self, hold: bool) {
        self.inflight = Some(hold);
    }

    /// Our re-INVITE to Y could not even be sent (another INVITE under way on Y): try
    /// again at the next chance ([`HoldPass::retry`]).
    pub(crate) fn not_sent(&mut self) {
        self.inflight = None;
    }

    /// Our re-INVITE to Y ended: `ok` when Y accepted it (a 2xx), false when Y refused it.
    /// Returns what to send next (X's peer may have changed its mind meanwhile).
    pub(crate) fn done(&mut self, ok: bool) -> HoldAction {
        if let Some(asked) = self.inflight.take() {
            if ok {
                self.told = asked;
            } else {
                self.refused = Some(asked);
            }
        }
        self.next()
    }

    /// The hold state X's peer asks for now.
    pub(crate) fn wanted(&self) -> bool {
        self.want
    }

    /// What is still to send (after [`HoldPass::not_sent`], on any later event).
    pub(crate) fn retry(&mut self) -> HoldAction {
        self.next()
    }

    /// Whether Y still has to follow X (a re-INVITE to send or under way).
    pub(crate) fn pending(&self) -> bool {
        self.inflight.is_some() || (self.want != self.told && self.refused != Some(self.want))
    }

    fn next(&self) -> HoldAction {
        if self.inflight.is_some() || self.want == self.told || self.refused == Some(self.want) {
            return None;
        }
        Some(self.want)
    }
}

#[cfg(test)]
mod tests {
    use super::HoldPass;

    #[test]
    fn a_hold_and_a_resume_are_passed_on_one_at_a_time() {
        let mut p = HoldPass::default();
        assert_eq!(p.peer(false), None, "not held, nothing to do");
        assert_eq!(p.peer(true), Some(true));
        p.sent(true);
        assert!(p.pending());
        // The peer resumes before the other leg answered our hold: wait for that answer.
        assert_eq!(p.peer(false), None);
        assert_eq!(p.done(true), Some(false));
        p.sent(false);
        assert_eq!(p.done(true), None);
        assert!(!p.pending());
    }

    #[test]
    fn a_refused_state_is_not_asked_again_until_the_peer_changes_its_mind() {
        let mut p = HoldPass::default();
        assert_eq!(p.peer(true), Some(true));
        p.sent(true);
        assert_eq!(p.done(false), None, "refused: no second try");
        assert_eq!(p.peer(true), None, "the same hold again (a refresh)");
        assert!(!p.pending());
        // Resuming needs nothing: the other leg never went on hold.
        assert_eq!(p.peer(false), None);
        assert_eq!(p.peer(true), Some(true), "a new hold is asked again");
    }

    #[test]
    fn a_re_invite_that_could_not_be_sent_is_retried() {
        let mut p = HoldPass::default();
        assert_eq!(p.peer(true), Some(true));
        p.not_sent();
        assert!(p.pending());
        assert_eq!(p.retry(), Some(true));
        p.sent(true);
        assert_eq!(p.retry(), None);
        assert_eq!(p.done(true), None);
    }
}
