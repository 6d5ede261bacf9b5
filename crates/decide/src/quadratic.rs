//! Quadratic voting with voice credits (Lalley–Weyl): n votes on an option cost n² credits.
//!
//! It exists so a member can express how much an issue matters to them, at a rising price.
//! Rules (`quadratic@1`):
//!
//! - Ballot: [`Ballot::Scores`] with one integer number of votes per option, of either sign
//!   (a negative number counts against the option), each within ±[`MAX_SCORE`], or
//!   [`Ballot::Abstain`].
//! - The credit budget is per member and per period, so this crate cannot judge it: the caller
//!   compares [`crate::quadratic_cost`] (Σ n², saturating) with the member's remaining credits.
//! - Delegation does not apply (a budget is personal); casts are expected to weigh 1, but a
//!   weight is honoured as a multiplier if given.
//! - `figures[o]` = Σ weight · votes.
//! - Winner: the largest total if it is above 0 (an option nobody supports on balance does not
//!   win); ties go to the smaller tiebreak key (`tie` true).
//! - `ranking`: options grouped by total, largest first.

use dualpower_core::decision::MAX_SCORE;

use crate::{Ballot, BallotError, Cast, Input, Outcome};

const EXPECTED: &str = "one number of votes per option";

pub(crate) fn check(options: usize, ballot: &Ballot) -> Result<(), BallotError> {
    crate::scores(
        "quadratic",
        EXPECTED,
        options,
        (-MAX_SCORE, MAX_SCORE),
        ballot,
    )
    .map(|_| ())
}

pub(crate) fn cost(ballot: &Ballot) -> u64 {
    match ballot {
        Ballot::Scores(v) => v.iter().fold(0u64, |a, &n| {
            let m = n.unsigned_abs();
            a.saturating_add(m.saturating_mul(m))
        }),
        _ => 0,
    }
}

pub(crate) fn count(input: &Input, casts: &[Cast<'_>], out: &mut Outcome) {
    let figures = crate::score::weighted_sums(input.options, casts);
    crate::single_winner(input, figures, !casts.is_empty(), |f| f > 0, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quadratic_cost;
    use crate::testing::{run, run_with};

    #[test]
    fn credits_cost_squares() {
        assert_eq!(quadratic_cost(&Ballot::Scores(vec![6, 8])), 100);
        assert_eq!(quadratic_cost(&Ballot::Scores(vec![6, 9])), 117);
        assert_eq!(quadratic_cost(&Ballot::Scores(vec![-6, 8])), 100);
        assert_eq!(quadratic_cost(&Ballot::Scores(vec![i64::MIN, 1])), u64::MAX);
        assert_eq!(quadratic_cost(&Ballot::Choice(3)), 0);
        assert_eq!(quadratic_cost(&Ballot::Abstain), 0);
    }

    #[test]
    fn totals_and_winner() {
        // Three members with 100 credits each.
        let out = run(
            "quadratic",
            2,
            &[
                (1, Ballot::Scores(vec![6, 8])),
                (1, Ballot::Scores(vec![10, 0])),
                (1, Ballot::Scores(vec![-8, 6])),
            ],
        );
        assert_eq!(out.figures, vec![8, 14]);
        assert_eq!(out.winners, vec![1]);
        assert_eq!(out.ranking, vec![vec![1], vec![0]]);
    }

    #[test]
    fn no_positive_total_no_winner() {
        let out = run("quadratic", 2, &[(1, Ballot::Scores(vec![-3, 0]))]);
        assert_eq!(out.figures, vec![-3, 0]);
        assert!(out.winners.is_empty());
    }

    #[test]
    fn tie_goes_to_the_smaller_key() {
        let keys = [[1u8; 32], [0u8; 32]];
        let out = run_with(
            "quadratic",
            2,
            &keys,
            &[],
            None,
            0,
            &[(1, Ballot::Scores(vec![3, 3]))],
        );
        assert_eq!(out.winners, vec![1]);
        assert!(out.tie);
    }

    #[test]
    fn shapes() {
        assert_eq!(check(2, &Ballot::Scores(vec![-4, 4])), Ok(()));
        assert!(matches!(
            check(2, &Ballot::Scores(vec![MAX_SCORE + 1, 0])),
            Err(BallotError::OutOfRange { option: 0, .. })
        ));
    }
}
