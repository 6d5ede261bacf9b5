//! Instant-runoff voting over ranked ballots, partial rankings allowed.
//!
//! For single-winner choices where voters should not have to vote tactically for a front-runner:
//! a ballot whose favourite is eliminated moves to its next continuing choice. Rules (`irv@1`):
//!
//! - Ballot: [`Ballot::Rank`] of distinct option indices, most preferred first; it may rank
//!   only some options. An empty ranking is an abstention. [`Ballot::Abstain`] too.
//! - Each round, every ballot counts (with its weight) for its highest-ranked continuing
//!   option; a ballot with none left is exhausted. `rounds` records every round's counts, with
//!   -1 for options already eliminated.
//! - An option wins when it holds more than half of the continuing (non-exhausted) weight, or
//!   when it is the only one continuing. If nothing is held at all (nothing cast), there is no
//!   winner.
//! - Otherwise: in round 1 every option with zero first preferences is eliminated at once
//!   (they cannot win and cannot affect a transfer). In later rounds — and in round 1 if every
//!   option has first preferences — the option with the fewest votes is eliminated. Ties for
//!   last are broken backwards: the one with fewer votes in the previous round is eliminated,
//!   then the round before, and so on; if they tied in every round, the one with the LARGER
//!   tiebreak key is eliminated (so the smaller key survives) and `tie` is true.
//! - `figures` = the last round's counts (0 for eliminated options); `exhausted` = the weight
//!   of ballots exhausted in the last round (abstentions are not exhausted ballots).
//! - `ranking`: the winner, then the other options still continuing grouped by their last
//!   count, then the eliminated options, last eliminated first (a round-1 batch shares a rank).

use crate::{Ballot, BallotError, Cast, Input, Outcome};

const EXPECTED: &str = "a ranking of distinct options, most preferred first";

pub(crate) fn check(options: usize, ballot: &Ballot) -> Result<(), BallotError> {
    let Ballot::Rank(v) = ballot else {
        return Err(BallotError::WrongShape {
            method: "irv",
            expected: EXPECTED,
        });
    };
    for (i, &o) in v.iter().enumerate() {
        if o as usize >= options {
            return Err(BallotError::NoSuchOption { option: o, options });
        }
        if v[..i].contains(&o) {
            return Err(BallotError::Duplicate { option: o });
        }
    }
    Ok(())
}

/// A ballot still in the count, with how far down its ranking the count has moved.
struct Live<'b> {
    weight: u64,
    rank: &'b [u32],
    pos: usize,
}

pub(crate) fn count(input: &Input, casts: &[Cast<'_>], out: &mut Outcome) {
    let n = input.options;
    let mut live: Vec<Live<'_>> = Vec::with_capacity(casts.len());
    for c in casts {
        let Ballot::Rank(r) = c.ballot else { continue };
        if r.is_empty() {
            out.abstained = out.abstained.saturating_add(c.weight);
        } else {
            live.push(Live {
                weight: c.weight,
                rank: r,
                pos: 0,
            });
        }
    }
    let mut eliminated = vec![false; n];
    let mut history: Vec<Vec<u64>> = Vec::new();
    let mut gone: Vec<Vec<u32>> = Vec::new();
    let mut winner: Option<usize> = None;
    let mut tie = false;
    let mut counts = vec![0u64; n];
    loop {
        counts.iter_mut().for_each(|c| *c = 0);
        let mut exhausted = 0u64;
        for b in &mut live {
            while let Some(&o) = b.rank.get(b.pos) {
                if eliminated.get(o as usize).copied().unwrap_or(true) {
                    b.pos += 1;
                } else {
                    break;
                }
            }
            match b.rank.get(b.pos).and_then(|&o| counts.get_mut(o as usize)) {
                Some(c) => *c = c.saturating_add(b.weight),
                None => exhausted = exhausted.saturating_add(b.weight),
            }
        }
        out.rounds.push(
            (0..n)
                .map(|o| {
                    if eliminated[o] {
                        -1
                    } else {
                        crate::to_i64(counts[o])
                    }
                })
                .collect(),
        );
        out.exhausted = exhausted;
        history.push(counts.clone());
        let continuing: Vec<usize> = (0..n).filter(|&o| !eliminated[o]).collect();
        let total: u128 = continuing.iter().map(|&o| u128::from(counts[o])).sum();
        if total == 0 {
            break;
        }
        if let [only] = continuing[..] {
            winner = Some(only);
            break;
        }
        if let Some(&w) = continuing
            .iter()
            .find(|&&o| 2 * u128::from(counts[o]) > total)
        {
            winner = Some(w);
            break;
        }
        if history.len() == 1 {
            let zeros: Vec<usize> = continuing
                .iter()
                .copied()
                .filter(|&o| counts[o] == 0)
                .collect();
            if !zeros.is_empty() {
                for &o in &zeros {
                    eliminated[o] = true;
                }
                gone.push(zeros.into_iter().map(crate::index).collect());
                continue;
            }
        }
        let Some(fewest) = continuing.iter().map(|&o| counts[o]).min() else {
            break;
        };
        let mut last: Vec<usize> = continuing
            .iter()
            .copied()
            .filter(|&o| counts[o] == fewest)
            .collect();
        for past in history.iter().rev().skip(1) {
            if last.len() <= 1 {
                break;
            }
            if let Some(m) = last.iter().map(|&o| past[o]).min() {
                last.retain(|&o| past[o] == m);
            }
        }
        if last.len() > 1 {
            tie = true;
        }
        let Some(loser) = last
            .iter()
            .copied()
            .max_by(|&a, &b| crate::key_order(input.tiebreak, a, b))
        else {
            break;
        };
        eliminated[loser] = true;
        gone.push(vec![crate::index(loser)]);
    }
    out.figures = (0..n)
        .map(|o| {
            if eliminated[o] {
                0
            } else {
                crate::to_i64(counts[o])
            }
        })
        .collect();
    let Some(w) = winner else {
        return;
    };
    out.winners = vec![crate::index(w)];
    out.tie = tie;
    let others: Vec<i64> = (0..n)
        .map(|o| {
            if eliminated[o] || o == w {
                -1
            } else {
                crate::to_i64(counts[o])
            }
        })
        .collect();
    out.ranking.push(vec![crate::index(w)]);
    out.ranking.extend(
        crate::rank_by(&others)
            .into_iter()
            .filter(|g| g.iter().all(|&o| others[o as usize] >= 0)),
    );
    out.ranking.extend(gone.into_iter().rev());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run, run_with};

    fn rank(v: &[u32]) -> Ballot {
        Ballot::Rank(v.to_vec())
    }

    #[test]
    fn transfers_until_a_majority() {
        // A 4, B 3, C 2 (C's go to B): B wins 5–4.
        let out = run(
            "irv",
            3,
            &[(4, rank(&[0])), (3, rank(&[1, 0])), (2, rank(&[2, 1]))],
        );
        assert_eq!(out.rounds, vec![vec![4, 3, 2], vec![4, 5, -1]]);
        assert_eq!(out.winners, vec![1]);
        assert_eq!(out.figures, vec![4, 5, 0]);
        assert_eq!(out.ranking, vec![vec![1], vec![0], vec![2]]);
        assert!(!out.tie);
    }

    #[test]
    fn partial_ballots_exhaust() {
        // A 4, B 3, C 2, each ranking only its favourite, and one empty ranking.
        let out = run(
            "irv",
            3,
            &[
                (4, rank(&[0])),
                (3, rank(&[1])),
                (2, rank(&[2])),
                (1, rank(&[])),
            ],
        );
        // C (2) goes first and exhausts; then A 4 of 7 continuing > half.
        assert_eq!(out.rounds, vec![vec![4, 3, 2], vec![4, 3, -1]]);
        assert_eq!(out.exhausted, 2);
        assert_eq!(out.abstained, 1);
        assert_eq!(out.participation, 10);
        assert_eq!(out.winners, vec![0]);
    }

    #[test]
    fn zero_first_preferences_go_in_one_batch() {
        let out = run(
            "irv",
            4,
            &[(3, rank(&[0, 3])), (2, rank(&[1, 2])), (2, rank(&[1, 0]))],
        );
        // Round 1: A 3, B 4 of 7 > half → B wins at once; no batch needed.
        assert_eq!(out.winners, vec![1]);
        let out = run(
            "irv",
            4,
            &[(3, rank(&[0, 3])), (2, rank(&[1, 2])), (2, rank(&[2, 1]))],
        );
        // Round 1: A 3, B 2, C 2, D 0 → D out alone; round 2: B and C tie at 2 in both rounds →
        // keys: the larger key (C) goes; round 3: A 3, B 4 → B.
        assert_eq!(
            out.rounds,
            vec![vec![3, 2, 2, 0], vec![3, 2, 2, -1], vec![3, 4, -1, -1]]
        );
        assert_eq!(out.winners, vec![1]);
        assert!(out.tie);
        assert_eq!(out.ranking, vec![vec![1], vec![0], vec![2], vec![3]]);
    }

    #[test]
    fn backwards_tie_break_before_keys() {
        // Round 1: A 6, B 4, C 3, D 1 (D → C). Round 2: A 6, B 4, C 4: B and C tie for last,
        // but C had fewer in round 1, so C goes even though B has the larger key. C's ballots
        // go to B: B 8 of 14 wins.
        let keys = [[0u8; 32], [9u8; 32], [1u8; 32], [2u8; 32]];
        let out = run_with(
            "irv",
            4,
            &keys,
            &[],
            None,
            0,
            &[
                (6, rank(&[0])),
                (4, rank(&[1])),
                (3, rank(&[2, 1])),
                (1, rank(&[3, 2, 1])),
            ],
        );
        assert_eq!(
            out.rounds,
            vec![vec![6, 4, 3, 1], vec![6, 4, 4, -1], vec![6, 8, -1, -1]]
        );
        assert_eq!(out.winners, vec![1]);
        assert!(!out.tie);
    }

    #[test]
    fn keys_decide_a_dead_heat() {
        let keys = [[3u8; 32], [2u8; 32]];
        let out = run_with(
            "irv",
            2,
            &keys,
            &[],
            None,
            0,
            &[(1, rank(&[0])), (1, rank(&[1]))],
        );
        assert_eq!(out.winners, vec![1]);
        assert!(out.tie);
        assert_eq!(out.exhausted, 1);
    }

    #[test]
    fn nothing_cast_no_winner() {
        let out = run("irv", 3, &[(2, rank(&[]))]);
        assert!(out.winners.is_empty());
        assert!(out.ranking.is_empty());
        assert_eq!(out.figures, vec![0, 0, 0]);
        assert_eq!(out.rounds, vec![vec![0, 0, 0]]);
    }

    #[test]
    fn shapes() {
        assert_eq!(check(3, &rank(&[2, 0])), Ok(()));
        assert_eq!(check(3, &rank(&[])), Ok(()));
        assert_eq!(
            check(3, &rank(&[2, 2])),
            Err(BallotError::Duplicate { option: 2 })
        );
        assert_eq!(
            check(3, &rank(&[5])),
            Err(BallotError::NoSuchOption {
                option: 5,
                options: 3
            })
        );
    }
}
