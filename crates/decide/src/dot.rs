//! Dot voting (cumulative): every voter spreads up to `dots` points over the options.
//!
//! For prioritising among many options when voters should be able to concentrate support.
//! Rules (`dot@1`):
//!
//! - Ballot: [`Ballot::Scores`] with one non-negative number of points per option, summing to
//!   at most `dots` ([`crate::BallotError::TooManyDots`] otherwise), or [`Ballot::Abstain`]. An
//!   all-zero ballot is valid: it counts as participation and supports nothing.
//! - `figures[o]` = Σ weight · points.
//! - Winner: as plurality — the largest figure if above 0, ties to the smaller tiebreak key
//!   (`tie` true).
//! - `ranking`: options grouped by figure, largest first.

use crate::{Ballot, BallotError, Cast, Input, Outcome};

const EXPECTED: &str = "one non-negative number of points per option";

pub(crate) fn check(dots: u64, options: usize, ballot: &Ballot) -> Result<(), BallotError> {
    let max = i64::try_from(dots).unwrap_or(i64::MAX);
    let v = crate::scores("dot", EXPECTED, options, (0, max), ballot)?;
    let used = v
        .iter()
        .fold(0u64, |a, &p| a.saturating_add(p.unsigned_abs()));
    if used > dots {
        return Err(BallotError::TooManyDots { used, dots });
    }
    Ok(())
}

pub(crate) fn count(input: &Input, casts: &[Cast<'_>], out: &mut Outcome) {
    let figures = crate::score::weighted_sums(input.options, casts);
    crate::single_winner(input, figures, !casts.is_empty(), |f| f > 0, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run, run_with};

    #[test]
    fn points_times_weight() {
        let out = run(
            "dot:dots=5",
            3,
            &[
                (1, Ballot::Scores(vec![5, 0, 0])),
                (2, Ballot::Scores(vec![0, 3, 2])),
                (1, Ballot::Scores(vec![1, 1, 1])),
            ],
        );
        assert_eq!(out.figures, vec![6, 7, 5]);
        assert_eq!(out.winners, vec![1]);
    }

    #[test]
    fn tie_goes_to_the_smaller_key() {
        let keys = [[7u8; 32], [6u8; 32]];
        let out = run_with(
            "dot:dots=4",
            2,
            &keys,
            &[],
            None,
            0,
            &[(1, Ballot::Scores(vec![2, 2]))],
        );
        assert_eq!(out.winners, vec![1]);
        assert!(out.tie);
    }

    #[test]
    fn all_zero_supports_nothing() {
        let out = run("dot:dots=4", 2, &[(1, Ballot::Scores(vec![0, 0]))]);
        assert!(out.winners.is_empty());
        assert_eq!(out.participation, 1);
    }

    #[test]
    fn shapes() {
        assert_eq!(
            check(5, 2, &Ballot::Scores(vec![3, 3])),
            Err(BallotError::TooManyDots { used: 6, dots: 5 })
        );
        assert!(matches!(
            check(5, 2, &Ballot::Scores(vec![-1, 3])),
            Err(BallotError::OutOfRange { option: 0, .. })
        ));
        assert_eq!(check(5, 2, &Ballot::Scores(vec![2, 3])), Ok(()));
    }
}
