//! STAR voting (Score Then Automatic Runoff): score every option, then the two highest totals
//! meet in a runoff decided by how many voters scored one above the other.
//!
//! For elections among several candidates or plans where plain score voting rewards
//! exaggerating: the runoff asks each voter only which finalist they prefer. Rules (`star@1`):
//!
//! - Ballot: [`Ballot::Scores`] with exactly one score per option, each within `min..=max`
//!   (default 0..=5), or [`Ballot::Abstain`].
//! - `figures[o]` = Σ weight · score (the scoring round).
//! - Finalists: the two largest totals; ties for a place go to the smaller tiebreak key (`tie`
//!   true when a key decided a finalist).
//! - Runoff: each ballot gives its weight to the finalist it scored higher; a ballot scoring
//!   both the same counts for neither (an abstention in the runoff). `rounds` holds one row,
//!   the runoff weight per option (the two finalists; −1 for the others).
//! - Winner: the finalist with more runoff weight; equal runoff weight → the larger total, then
//!   the smaller tiebreak key (`tie` true). With one option, or only one option with a ballot,
//!   that option wins.
//! - `ranking`: the winner, the other finalist, then the rest by total.

use crate::{Ballot, BallotError, Cast, Input, Outcome, index, key_order, rank_by};

const EXPECTED: &str = "one score per option";

pub(crate) fn check(
    min: i64,
    max: i64,
    options: usize,
    ballot: &Ballot,
) -> Result<(), BallotError> {
    crate::scores("star", EXPECTED, options, (min, max), ballot).map(|_| ())
}

pub(crate) fn count(input: &Input, casts: &[Cast<'_>], out: &mut Outcome) {
    let figures = crate::score::weighted_sums(input.options, casts);
    out.figures = figures.clone();
    if casts.is_empty() || figures.is_empty() {
        return;
    }
    // Options by total, largest first; equal totals by key.
    let mut order: Vec<usize> = (0..figures.len()).collect();
    order.sort_by(|&a, &b| {
        figures[b]
            .cmp(&figures[a])
            .then_with(|| key_order(input.tiebreak, a, b))
    });
    let mut tie = order.len() > 2 && figures[order[1]] == figures[order[2]];
    if order.len() == 1 {
        out.winners = vec![index(order[0])];
        out.ranking = vec![vec![index(order[0])]];
        return;
    }
    let (a, b) = (order[0], order[1]);
    let (mut wa, mut wb) = (0u64, 0u64);
    for c in casts {
        let Ballot::Scores(v) = c.ballot else {
            continue;
        };
        match (v.get(a), v.get(b)) {
            (Some(x), Some(y)) if x > y => wa = wa.saturating_add(c.weight),
            (Some(x), Some(y)) if y > x => wb = wb.saturating_add(c.weight),
            _ => {}
        }
    }
    let mut row = vec![-1i64; figures.len()];
    row[a] = crate::to_i64(wa);
    row[b] = crate::to_i64(wb);
    out.rounds = vec![row];
    let (winner, loser) = match wa.cmp(&wb) {
        std::cmp::Ordering::Greater => (a, b),
        std::cmp::Ordering::Less => (b, a),
        // Equal runoff: `order` already puts the larger total (then the smaller key) first.
        std::cmp::Ordering::Equal => {
            if figures[a] == figures[b] {
                tie = true;
            }
            (a, b)
        }
    };
    out.winners = vec![index(winner)];
    out.tie = tie;
    let mut ranking = vec![vec![index(winner)], vec![index(loser)]];
    let rest: Vec<i64> = figures
        .iter()
        .enumerate()
        .map(|(i, f)| if i == a || i == b { i64::MIN } else { *f })
        .collect();
    ranking.extend(
        rank_by(&rest)
            .into_iter()
            .map(|g| {
                g.into_iter()
                    .filter(|i| *i as usize != a && *i as usize != b)
                    .collect::<Vec<_>>()
            })
            .filter(|g| !g.is_empty()),
    );
    out.ranking = ranking;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run;

    #[test]
    fn the_runoff_can_overturn_the_highest_total() {
        // A has the highest total thanks to one enthusiast; most voters prefer B to A.
        let out = run(
            "star",
            3,
            &[
                (1, Ballot::Scores(vec![5, 0, 0])),
                (1, Ballot::Scores(vec![5, 0, 0])),
                (1, Ballot::Scores(vec![1, 2, 0])),
                (1, Ballot::Scores(vec![1, 2, 1])),
                (1, Ballot::Scores(vec![0, 3, 3])),
            ],
        );
        assert_eq!(out.figures, vec![12, 7, 4]);
        // Finalists A (12) and B (7): A preferred by 2, B by 3.
        assert_eq!(out.rounds, vec![vec![2, 3, -1]]);
        assert_eq!(out.winners, vec![1]);
        assert_eq!(out.ranking, vec![vec![1], vec![0], vec![2]]);
        assert!(!out.tie);
    }

    #[test]
    fn equal_scores_abstain_in_the_runoff() {
        let out = run(
            "star",
            2,
            &[
                (3, Ballot::Scores(vec![4, 4])),
                (1, Ballot::Scores(vec![0, 1])),
            ],
        );
        assert_eq!(out.figures, vec![12, 13]);
        assert_eq!(out.rounds, vec![vec![0, 1]]);
        assert_eq!(out.winners, vec![1]);
    }

    #[test]
    fn an_equal_runoff_goes_to_the_larger_total_then_the_key() {
        let out = run(
            "star",
            2,
            &[
                (1, Ballot::Scores(vec![5, 0])),
                (1, Ballot::Scores(vec![0, 1])),
            ],
        );
        assert_eq!(out.rounds, vec![vec![1, 1]]);
        assert_eq!(out.winners, vec![0], "larger total");
        assert!(!out.tie);
        let out = run(
            "star",
            2,
            &[
                (1, Ballot::Scores(vec![3, 0])),
                (1, Ballot::Scores(vec![0, 3])),
            ],
        );
        assert_eq!(out.winners, vec![0], "smaller key");
        assert!(out.tie);
    }

    #[test]
    fn nothing_cast_no_winner() {
        let out = run("star", 3, &[(2, Ballot::Abstain)]);
        assert!(out.winners.is_empty());
        assert_eq!(out.figures, vec![0, 0, 0]);
    }

    #[test]
    fn scores_outside_the_range_are_refused() {
        let m = crate::Method::parse("star:min=0,max=3").expect("method");
        assert!(crate::validate(&m, 2, &[], &Ballot::Scores(vec![4, 0]), "").is_err());
        assert!(crate::validate(&m, 2, &[], &Ballot::Scores(vec![3, 0]), "").is_ok());
    }
}
