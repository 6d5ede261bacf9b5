//! Plurality (single choice): each voter picks one option; the most weight wins.
//!
//! The simplest contest, for choices where only the favourite matters. Rules (`plurality@1`):
//!
//! - Ballot: [`Ballot::Choice`] with an option index below the number of options, or
//!   [`Ballot::Abstain`].
//! - `figures[o]` = summed weight of ballots choosing `o`.
//! - Winner: the option with the largest figure, if it is above 0. Several share it → the one
//!   with the smaller tiebreak key wins and `tie` is true.
//! - `ranking`: options grouped by figure, largest first.

use crate::{Ballot, BallotError, Cast, Input, Outcome};

const EXPECTED: &str = "a choice of one option";

pub(crate) fn check(options: usize, ballot: &Ballot) -> Result<(), BallotError> {
    crate::choice("plurality", EXPECTED, options, ballot).map(|_| ())
}

pub(crate) fn count(input: &Input, casts: &[Cast<'_>], out: &mut Outcome) {
    let mut sums = vec![0u64; input.options];
    for c in casts {
        if let Ballot::Choice(i) = c.ballot
            && let Some(s) = sums.get_mut(*i as usize)
        {
            *s = s.saturating_add(c.weight);
        }
    }
    let figures = sums.into_iter().map(crate::to_i64).collect();
    crate::single_winner(input, figures, !casts.is_empty(), |f| f > 0, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run, run_with};

    #[test]
    fn most_weight_wins() {
        let out = run(
            "plurality",
            3,
            &[
                (1, Ballot::Choice(0)),
                (1, Ballot::Choice(0)),
                (3, Ballot::Choice(2)),
                (1, Ballot::Abstain),
            ],
        );
        assert_eq!(out.figures, vec![2, 0, 3]);
        assert_eq!(out.winners, vec![2]);
        assert!(!out.tie);
        assert_eq!(out.ranking, vec![vec![2], vec![0], vec![1]]);
        assert_eq!(out.participation, 6);
        assert_eq!(out.abstained, 1);
        assert_eq!(out.passed, None);
    }

    #[test]
    fn tie_goes_to_the_smaller_key() {
        let keys = [[9u8; 32], [3u8; 32], [5u8; 32]];
        let v = [
            (2, Ballot::Choice(0)),
            (2, Ballot::Choice(2)),
            (1, Ballot::Choice(1)),
        ];
        let out = run_with("plurality", 3, &keys, &[], None, 0, &v);
        assert_eq!(out.winners, vec![2]);
        assert!(out.tie);
        assert_eq!(out.ranking, vec![vec![0, 2], vec![1]]);
    }

    #[test]
    fn quorum_missed_means_no_winner() {
        let out = run_with(
            "plurality:quorum=1/2",
            2,
            &crate::testing::keys(2),
            &[],
            None,
            10,
            &[(1, Ballot::Choice(1))],
        );
        assert!(!out.quorum_met);
        assert_eq!(out.figures, vec![0, 1]);
        assert!(out.winners.is_empty());
    }
}
