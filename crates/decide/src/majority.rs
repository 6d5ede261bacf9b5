//! Majority with a threshold: the yes/no/abstain vote most group decisions use.
//!
//! It exists as its own method because its rule is a test, not a contest: a proposal passes or
//! fails. Rules (`majority@1`):
//!
//! - Ballot: [`Ballot::Choice`] with [`YES`] (0), [`NO`] (1) or [`ABSTAIN`] (2), or
//!   [`Ballot::Abstain`].
//! - `figures = [yes, no, abstain]`, each the summed weight; the abstain figure includes
//!   [`Ballot::Abstain`] casts, and equals `abstained`.
//! - `passed = quorum_met ∧ yes > no ∧ yes/(yes+no) ≥ threshold`, the share compared by
//!   cross-multiplication. A tie (yes = no) fails, so does a vote where everybody abstains, so
//!   does a vote nobody cast. Abstentions count toward quorum only.
//! - `winners` and `ranking` stay empty: read `passed`.

use crate::{Ballot, BallotError, Cast, Outcome, Ratio};

/// Index of "yes".
pub const YES: u32 = 0;
/// Index of "no".
pub const NO: u32 = 1;
/// Index of "abstain".
pub const ABSTAIN: u32 = 2;

const EXPECTED: &str = "a choice: 0 yes, 1 no, 2 abstain";

pub(crate) fn check(ballot: &Ballot) -> Result<(), BallotError> {
    crate::choice("majority", EXPECTED, 3, ballot).map(|_| ())
}

pub(crate) fn count(threshold: Ratio, casts: &[Cast<'_>], out: &mut Outcome) {
    let mut t = [0u64, 0, out.abstained];
    for c in casts {
        if let Ballot::Choice(i) = c.ballot
            && let Some(s) = t.get_mut(*i as usize)
        {
            *s = s.saturating_add(c.weight);
        }
    }
    let [yes, no, abstain] = t;
    out.abstained = abstain;
    out.figures = t.iter().map(|v| crate::to_i64(*v)).collect();
    out.passed =
        Some(out.quorum_met && yes > no && threshold.reached_by(yes, yes.saturating_add(no)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run, run_with};

    fn votes(yes: u64, no: u64, abstain: u64) -> Vec<(u64, Ballot)> {
        let mut v = Vec::new();
        v.extend((0..yes).map(|_| (1, Ballot::Choice(YES))));
        v.extend((0..no).map(|_| (1, Ballot::Choice(NO))));
        v.extend((0..abstain).map(|_| (1, Ballot::Choice(ABSTAIN))));
        v
    }

    #[test]
    fn two_thirds_exactly_met_passes_one_short_fails() {
        let m = "majority:threshold=2/3";
        let out = run(m, 3, &votes(20, 10, 3));
        assert_eq!(out.figures, vec![20, 10, 3]);
        assert_eq!(out.passed, Some(true));
        let out = run(m, 3, &votes(19, 10, 3));
        assert_eq!(out.passed, Some(false));
        // Weighted: 2 of weight 1 against 1 of weight 1 is exactly 2/3.
        assert_eq!(run(m, 3, &votes(2, 1, 0)).passed, Some(true));
    }

    #[test]
    fn quorum_half_of_ten() {
        let m = "majority:quorum=1/2";
        let four = run_with(m, 3, &[], &[], None, 10, &votes(3, 1, 0));
        assert!(!four.quorum_met);
        assert_eq!(four.passed, Some(false));
        assert_eq!(four.figures, vec![3, 1, 0]);
        // Abstentions count toward quorum.
        let five = run_with(m, 3, &[], &[], None, 10, &votes(3, 1, 1));
        assert!(five.quorum_met);
        assert_eq!(five.participation, 5);
        assert_eq!(five.passed, Some(true));
    }

    #[test]
    fn all_abstain_zero_voters_and_ties_do_not_pass() {
        let out = run("majority", 3, &votes(0, 0, 4));
        assert_eq!(out.abstained, 4);
        assert_eq!(out.passed, Some(false));
        let out = run(
            "majority",
            3,
            &[(2, Ballot::Abstain), (1, Ballot::Choice(ABSTAIN))],
        );
        assert_eq!(out.figures, vec![0, 0, 3]);
        assert_eq!(out.abstained, 3);
        assert_eq!(out.passed, Some(false));
        let out = run_with("majority", 3, &[], &[], None, 10, &[]);
        assert_eq!(out.figures, vec![0, 0, 0]);
        assert_eq!(out.passed, Some(false));
        assert!(out.winners.is_empty());
        assert_eq!(run("majority", 3, &votes(5, 5, 0)).passed, Some(false));
    }

    #[test]
    fn weights_count() {
        let out = run(
            "majority",
            3,
            &[(7, Ballot::Choice(YES)), (6, Ballot::Choice(NO))],
        );
        assert_eq!(out.figures, vec![7, 6, 0]);
        assert_eq!(out.passed, Some(true));
    }

    #[test]
    fn shapes() {
        assert_eq!(check(&Ballot::Choice(2)), Ok(()));
        assert_eq!(
            check(&Ballot::Choice(3)),
            Err(BallotError::NoSuchOption {
                option: 3,
                options: 3
            })
        );
        assert!(matches!(
            check(&Ballot::Set(vec![0])),
            Err(BallotError::WrongShape { .. })
        ));
    }
}
