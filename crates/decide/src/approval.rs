//! Approval: each voter approves any set of options; each approved option gets the voter's full
//! weight.
//!
//! For choices where voters can live with several options and splitting the vote between
//! similar options should not matter. Rules (`approval@1`):
//!
//! - Ballot: [`Ballot::Set`] of distinct option indices in ascending order, or
//!   [`Ballot::Abstain`]. An empty set is valid and counts as an abstention.
//! - `figures[o]` = summed weight of ballots whose set contains `o`.
//! - Winner: as plurality — the largest figure if above 0, ties to the smaller tiebreak key
//!   (`tie` true).
//! - `ranking`: options grouped by figure, largest first.

use crate::{Ballot, BallotError, Cast, Input, Outcome};

const EXPECTED: &str = "a set of options, ascending";

pub(crate) fn check(options: usize, ballot: &Ballot) -> Result<(), BallotError> {
    crate::set("approval", EXPECTED, options, ballot).map(|_| ())
}

pub(crate) fn count(input: &Input, casts: &[Cast<'_>], out: &mut Outcome) {
    let mut sums = vec![0u64; input.options];
    let mut supported = false;
    for c in casts {
        let Ballot::Set(v) = c.ballot else { continue };
        if v.is_empty() {
            out.abstained = out.abstained.saturating_add(c.weight);
            continue;
        }
        supported = true;
        for &o in v {
            if let Some(s) = sums.get_mut(o as usize) {
                *s = s.saturating_add(c.weight);
            }
        }
    }
    let figures = sums.into_iter().map(crate::to_i64).collect();
    crate::single_winner(input, figures, supported, |f| f > 0, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{keys, run, run_with};

    #[test]
    fn full_weight_to_each_approved_option() {
        let out = run(
            "approval",
            3,
            &[
                (1, Ballot::Set(vec![0, 1])),
                (2, Ballot::Set(vec![1])),
                (1, Ballot::Set(vec![0, 2])),
                (3, Ballot::Set(vec![])),
            ],
        );
        assert_eq!(out.figures, vec![2, 3, 1]);
        assert_eq!(out.winners, vec![1]);
        assert_eq!(out.abstained, 3);
        assert_eq!(out.participation, 7);
        assert_eq!(out.ranking, vec![vec![1], vec![0], vec![2]]);
    }

    #[test]
    fn tie_goes_to_the_smaller_key() {
        let mut k = keys(2);
        k.reverse();
        let out = run_with(
            "approval",
            2,
            &k,
            &[],
            None,
            0,
            &[(1, Ballot::Set(vec![0, 1]))],
        );
        assert_eq!(out.winners, vec![1]);
        assert!(out.tie);
    }

    #[test]
    fn only_empty_sets_is_nothing_supported() {
        let out = run("approval", 2, &[(1, Ballot::Set(vec![]))]);
        assert!(out.winners.is_empty());
        assert!(out.ranking.is_empty());
        assert_eq!(out.abstained, 1);
    }

    #[test]
    fn shapes() {
        assert_eq!(check(3, &Ballot::Set(vec![0, 2])), Ok(()));
        assert_eq!(
            check(3, &Ballot::Set(vec![1, 1])),
            Err(BallotError::Duplicate { option: 1 })
        );
        assert_eq!(
            check(3, &Ballot::Set(vec![2, 1])),
            Err(BallotError::Unordered { option: 1 })
        );
        assert_eq!(
            check(3, &Ballot::Set(vec![3])),
            Err(BallotError::NoSuchOption {
                option: 3,
                options: 3
            })
        );
    }
}
