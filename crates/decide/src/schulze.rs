//! Schulze with the status quo as a candidate (LiquidFeedback style).
//!
//! It exists for decisions among several competing proposals where "change nothing" must be
//! able to win: an option is adopted only if it beats the status quo. Rules (`schulze@1`):
//!
//! - Ballot: [`Ballot::Scores`] with one grade per option, each within ±[`MAX_SCORE`], or
//!   [`Ballot::Abstain`]. A positive grade approves, a negative one rejects, 0 is indifferent;
//!   different grades express preferences between options. The status quo is an implicit
//!   candidate every voter grades 0.
//! - Battle matrix `N[a][b]` over the options plus the status quo (index `options`, last): the
//!   summed weight of voters whose grade for `a` is strictly greater than for `b`. Published as
//!   `matrix`.
//! - Defeat strength of `a` over `b`: if `N[a][b] > N[b][a]`, the pair `(N[a][b], −N[b][a])`
//!   compared lexicographically (more winning votes is stronger; at equal winning votes, fewer
//!   losing votes is stronger); otherwise no defeat (weaker than any defeat).
//! - Strongest paths by Floyd–Warshall (`p[j][k] = max(p[j][k], min(p[j][i], p[i][k]))`).
//!   `a` beats `b` iff `p[a][b] > p[b][a]`.
//! - Ranks, iteratively: every not-yet-ranked candidate that no other unranked candidate beats
//!   shares the next rank. `ranking` lists the real options only (the status quo's place is
//!   implied by which options beat it).
//! - `figures[o]` = how many other candidates, the status quo included, option `o` beats.
//! - Winner: among the options that beat the status quo, those at the best rank; several →
//!   the smaller tiebreak key wins (`tie` true); none → no winner (the status quo stays). So an
//!   option nobody grades above 0 never wins, nor one a majority rejects.

use dualpower_core::decision::MAX_SCORE;

use crate::{Ballot, BallotError, Cast, Input, Outcome};

const EXPECTED: &str = "one grade per option (status quo = 0)";

pub(crate) fn check(options: usize, ballot: &Ballot) -> Result<(), BallotError> {
    crate::scores(
        "schulze",
        EXPECTED,
        options,
        (-MAX_SCORE, MAX_SCORE),
        ballot,
    )
    .map(|_| ())
}

pub(crate) fn count(input: &Input, casts: &[Cast<'_>], out: &mut Outcome) {
    let n = input.options;
    let k = n + 1;
    let sq = n;
    // Battle matrix, row-major.
    let mut battle = vec![0u64; k * k];
    let mut grades = vec![0i64; k];
    for c in casts {
        let Ballot::Scores(v) = c.ballot else {
            continue;
        };
        for (g, &x) in grades.iter_mut().zip(v) {
            *g = x;
        }
        for a in 0..k {
            let ga = grades[a];
            let row = &mut battle[a * k..(a + 1) * k];
            for (cell, &gb) in row.iter_mut().zip(&grades) {
                if ga > gb {
                    *cell = cell.saturating_add(c.weight);
                }
            }
        }
    }
    // Defeat strengths packed so that a larger number is a stronger defeat and 0 is none:
    // winning votes in the high half, (MAX − losing votes) in the low half.
    let mut p = vec![0u128; k * k];
    for a in 0..k {
        for b in 0..k {
            let (win, lose) = (battle[a * k + b], battle[b * k + a]);
            if win > lose {
                p[a * k + b] = (u128::from(win) << 64) | u128::from(u64::MAX - lose);
            }
        }
    }
    for i in 0..k {
        for j in 0..k {
            if j == i {
                continue;
            }
            let ji = p[j * k + i];
            if ji == 0 {
                continue;
            }
            for l in 0..k {
                if l != i && l != j {
                    let via = ji.min(p[i * k + l]);
                    if via > p[j * k + l] {
                        p[j * k + l] = via;
                    }
                }
            }
        }
    }
    let beats = |a: usize, b: usize| p[a * k + b] > p[b * k + a];

    // Ranks over all candidates, status quo included.
    let mut unranked: Vec<usize> = (0..k).collect();
    let mut ranks: Vec<Vec<usize>> = Vec::new();
    while !unranked.is_empty() {
        let mut top: Vec<usize> = unranked
            .iter()
            .copied()
            .filter(|&i| !unranked.iter().any(|&j| j != i && beats(j, i)))
            .collect();
        if top.is_empty() {
            // Cannot happen (the beat-path relation is transitive); rank the rest together
            // rather than loop.
            top = unranked.clone();
        }
        unranked.retain(|i| !top.contains(i));
        ranks.push(top);
    }

    out.figures = (0..n)
        .map(|o| crate::to_i64((0..k).filter(|&c| c != o && beats(o, c)).count() as u64))
        .collect();
    out.matrix = battle.chunks(k).map(<[u64]>::to_vec).collect();
    if casts.is_empty() {
        return;
    }
    out.ranking = ranks
        .iter()
        .map(|r| {
            r.iter()
                .filter(|&&c| c != sq)
                .map(|&c| crate::index(c))
                .collect::<Vec<u32>>()
        })
        .filter(|r| !r.is_empty())
        .collect();
    if let Some(best) = ranks
        .iter()
        .map(|r| {
            r.iter()
                .copied()
                .filter(|&c| c != sq && beats(c, sq))
                .collect::<Vec<usize>>()
        })
        .find(|r| !r.is_empty())
    {
        let winner = best
            .iter()
            .copied()
            .min_by(|&a, &b| crate::key_order(input.tiebreak, a, b));
        if let Some(w) = winner {
            out.winners = vec![crate::index(w)];
            out.tie = best.len() > 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run, run_with};

    #[test]
    fn unsupported_option_does_not_beat_status_quo() {
        let out = run(
            "schulze",
            2,
            &[
                (1, Ballot::Scores(vec![0, -1])),
                (1, Ballot::Scores(vec![0, 0])),
            ],
        );
        assert!(out.winners.is_empty());
        assert_eq!(out.matrix.len(), 3);
        // Option 1 is beaten by the status quo and by option 0; option 0 ties the status quo.
        assert_eq!(out.matrix[2][1], 1);
        assert_eq!(out.figures, vec![1, 0]);
        assert_eq!(out.ranking, vec![vec![0], vec![1]]);
    }

    #[test]
    fn majority_rejection_means_no_winner() {
        let out = run(
            "schulze",
            2,
            &[
                (1, Ballot::Scores(vec![2, 1])),
                (1, Ballot::Scores(vec![-1, -1])),
                (1, Ballot::Scores(vec![-2, -1])),
            ],
        );
        assert!(out.winners.is_empty());
        assert_eq!(out.matrix[2][0], 2);
        assert_eq!(out.matrix[0][2], 1);
    }

    #[test]
    fn approved_option_wins() {
        let out = run(
            "schulze",
            3,
            &[
                (2, Ballot::Scores(vec![1, 2, -1])),
                (1, Ballot::Scores(vec![2, 1, 0])),
            ],
        );
        assert_eq!(out.winners, vec![1]);
        assert_eq!(out.ranking, vec![vec![1], vec![0], vec![2]]);
        assert_eq!(out.figures, vec![2, 3, 0]);
        assert!(!out.tie);
    }

    #[test]
    fn shared_best_rank_goes_to_the_smaller_key() {
        let keys = [[5u8; 32], [4u8; 32]];
        let out = run_with(
            "schulze",
            2,
            &keys,
            &[],
            None,
            0,
            &[
                (1, Ballot::Scores(vec![1, 2])),
                (1, Ballot::Scores(vec![2, 1])),
            ],
        );
        assert_eq!(out.ranking, vec![vec![0, 1]]);
        assert_eq!(out.winners, vec![1]);
        assert!(out.tie);
    }

    #[test]
    fn indifference_counts_for_neither_side() {
        // Three prefer option 0 to option 1; two are indifferent between them.
        let out = run(
            "schulze",
            2,
            &[
                (3, Ballot::Scores(vec![2, 1])),
                (2, Ballot::Scores(vec![1, 1])),
            ],
        );
        assert_eq!(out.winners, vec![0]);
        assert_eq!(
            out.matrix,
            vec![vec![0, 3, 5], vec![0, 0, 5], vec![0, 0, 0]]
        );
    }
}
