//! Score (range) voting: every voter scores every option within the method's range; the highest
//! weighted total wins.
//!
//! For choices where intensity matters and voters rate options independently. Rules
//! (`score@1`):
//!
//! - Ballot: [`Ballot::Scores`] with exactly one score per option, each within `min..=max`, or
//!   [`Ballot::Abstain`]. An option cannot be left unscored (the range's low end is the way to
//!   say "not this one").
//! - `figures[o]` = Σ weight · score over the ballots.
//! - Winner: the option with the largest total — whatever its sign, since the range may be
//!   negative — provided at least one ballot other than an abstention was cast. Ties go to the
//!   smaller tiebreak key (`tie` true).
//! - `ranking`: options grouped by total, largest first.

use crate::{Ballot, BallotError, Cast, Input, Outcome};

const EXPECTED: &str = "one score per option";

pub(crate) fn check(
    min: i64,
    max: i64,
    options: usize,
    ballot: &Ballot,
) -> Result<(), BallotError> {
    crate::scores("score", EXPECTED, options, (min, max), ballot).map(|_| ())
}

pub(crate) fn count(input: &Input, casts: &[Cast<'_>], out: &mut Outcome) {
    let figures = weighted_sums(input.options, casts);
    crate::single_winner(input, figures, !casts.is_empty(), |_| true, out);
}

/// Σ weight · value per option over `Scores` ballots (shared with dot and quadratic voting).
pub(crate) fn weighted_sums(options: usize, casts: &[Cast<'_>]) -> Vec<i64> {
    let mut sums = vec![0i128; options];
    for c in casts {
        let Ballot::Scores(v) = c.ballot else {
            continue;
        };
        for (s, &x) in sums.iter_mut().zip(v) {
            *s = s.saturating_add(crate::times(c.weight, x));
        }
    }
    sums.into_iter().map(crate::clamp).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run, run_with};

    #[test]
    fn highest_weighted_total_wins() {
        let out = run(
            "score",
            3,
            &[
                (1, Ballot::Scores(vec![5, 3, 0])),
                (2, Ballot::Scores(vec![1, 4, 2])),
                (1, Ballot::Scores(vec![0, 5, 5])),
            ],
        );
        assert_eq!(out.figures, vec![7, 16, 9]);
        assert_eq!(out.winners, vec![1]);
        assert_eq!(out.ranking, vec![vec![1], vec![2], vec![0]]);
        assert!(!out.tie);
    }

    #[test]
    fn negative_ranges_still_have_a_winner() {
        let out = run(
            "score:min=-2,max=2",
            2,
            &[(1, Ballot::Scores(vec![-2, -1]))],
        );
        assert_eq!(out.figures, vec![-2, -1]);
        assert_eq!(out.winners, vec![1]);
    }

    #[test]
    fn tie_goes_to_the_smaller_key() {
        let keys = [[2u8; 32], [1u8; 32]];
        let out = run_with(
            "score",
            2,
            &keys,
            &[],
            None,
            0,
            &[(1, Ballot::Scores(vec![4, 4]))],
        );
        assert_eq!(out.winners, vec![1]);
        assert!(out.tie);
        assert_eq!(out.ranking, vec![vec![0, 1]]);
    }

    #[test]
    fn shapes() {
        assert_eq!(check(0, 5, 2, &Ballot::Scores(vec![0, 5])), Ok(()));
        assert_eq!(
            check(0, 5, 2, &Ballot::Scores(vec![0, 6])),
            Err(BallotError::OutOfRange {
                option: 1,
                score: 6,
                min: 0,
                max: 5
            })
        );
        assert_eq!(
            check(0, 5, 2, &Ballot::Scores(vec![1])),
            Err(BallotError::WrongLength { got: 1, options: 2 })
        );
    }
}
