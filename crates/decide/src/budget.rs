//! Participatory budgeting: voters pick baskets of projects within a budget; projects are
//! funded greedily by approval.
//!
//! For deciding what a shared budget pays for, where projects compete for money rather than
//! for a single slot. Rules (`budget@1`):
//!
//! - Ballot: [`Ballot::Set`] of distinct option indices in ascending order (the basket) whose
//!   summed cost is at most `total` ([`crate::BallotError::OverBudget`] otherwise), or
//!   [`Ballot::Abstain`]. An empty basket is valid and counts as an abstention ("no order").
//! - `figures[o]` = summed weight of baskets containing `o` (its approval).
//! - Selection: the options with approval above 0, sorted by approval (descending), then cost
//!   (ascending), then tiebreak key (ascending); each is added if its cost fits what is left of
//!   `total`, and otherwise skipped — the next ones may still fit (skip, not stop). `winners` is
//!   the selected options in that order, `spent` their total cost. `tie` is true if two
//!   options with approval above 0 and equal approval and cost had to be ordered by key.
//! - An option without a cost (the costs slice is short) never fits.
//! - `ranking`: options grouped by approval, largest first.

use crate::{Ballot, BallotError, Cast, Input, Outcome};

const EXPECTED: &str = "a basket: a set of options, ascending";

pub(crate) fn check(
    total: u64,
    options: usize,
    costs: &[u64],
    ballot: &Ballot,
) -> Result<(), BallotError> {
    let basket = crate::set("budget", EXPECTED, options, ballot)?;
    let cost = basket.iter().fold(0u64, |a, &o| {
        a.saturating_add(costs.get(o as usize).copied().unwrap_or(u64::MAX))
    });
    if cost > total {
        return Err(BallotError::OverBudget { cost, total });
    }
    Ok(())
}

pub(crate) fn count(input: &Input, total: u64, casts: &[Cast<'_>], out: &mut Outcome) {
    let mut approval = vec![0u64; input.options];
    let mut supported = false;
    for c in casts {
        let Ballot::Set(v) = c.ballot else { continue };
        if v.is_empty() {
            out.abstained = out.abstained.saturating_add(c.weight);
            continue;
        }
        supported = true;
        for &o in v {
            if let Some(a) = approval.get_mut(o as usize) {
                *a = a.saturating_add(c.weight);
            }
        }
    }
    out.figures = approval.iter().map(|&a| crate::to_i64(a)).collect();
    if !supported {
        return;
    }
    out.ranking = crate::rank_by(&out.figures);
    let cost = |o: usize| input.costs.get(o).copied();
    let mut order: Vec<usize> = (0..input.options).filter(|&o| approval[o] > 0).collect();
    order.sort_by(|&a, &b| {
        approval[b]
            .cmp(&approval[a])
            .then(
                cost(a)
                    .unwrap_or(u64::MAX)
                    .cmp(&cost(b).unwrap_or(u64::MAX)),
            )
            .then(crate::key_order(input.tiebreak, a, b))
    });
    out.tie = order.windows(2).any(|w| {
        approval[w[0]] == approval[w[1]] && cost(w[0]).is_some() && cost(w[0]) == cost(w[1])
    });
    let mut left = total;
    for o in order {
        if let Some(c) = cost(o)
            && c <= left
        {
            left -= c;
            out.winners.push(crate::index(o));
        }
    }
    out.spent = total - left;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{keys, run_with};

    fn set(v: &[u32]) -> Ballot {
        Ballot::Set(v.to_vec())
    }

    #[test]
    fn greedy_skips_what_does_not_fit() {
        // A 600 (5 approvals), B 500 (4), C 300 (3), budget 1000: A, skip B, C.
        let costs = [600, 500, 300];
        let mut v: Vec<(u64, Ballot)> = Vec::new();
        v.extend((0..2).map(|_| (1, set(&[0, 2]))));
        v.extend((0..3).map(|_| (1, set(&[0]))));
        v.extend((0..4).map(|_| (1, set(&[1]))));
        v.push((1, set(&[2])));
        v.push((1, set(&[])));
        let out = run_with("budget:total=1000", 3, &keys(3), &costs, None, 0, &v);
        assert_eq!(out.figures, vec![5, 4, 3]);
        assert_eq!(out.winners, vec![0, 2]);
        assert_eq!(out.spent, 900);
        assert_eq!(out.abstained, 1);
        assert!(!out.tie);
        assert_eq!(out.ranking, vec![vec![0], vec![1], vec![2]]);
    }

    #[test]
    fn equal_approval_cheaper_first_then_key() {
        let costs = [400, 300, 300];
        let k = [[0u8; 32], [2u8; 32], [1u8; 32]];
        let out = run_with(
            "budget:total=700",
            3,
            &k,
            &costs,
            None,
            0,
            &[(1, set(&[0, 1])), (1, set(&[2]))],
        );
        // All approval 1: cost 300 (options 1, 2; key picks 2 first), 300, then 400 does not fit.
        assert_eq!(out.winners, vec![2, 1]);
        assert_eq!(out.spent, 600);
        assert!(out.tie);
    }

    #[test]
    fn basket_over_budget_is_invalid() {
        assert_eq!(
            check(1000, 3, &[600, 500, 300], &set(&[0, 1])),
            Err(BallotError::OverBudget {
                cost: 1100,
                total: 1000
            })
        );
        assert_eq!(check(1000, 3, &[600, 500, 300], &set(&[0, 2])), Ok(()));
        // An option with no cost known never fits.
        assert!(check(1000, 3, &[600], &set(&[1])).is_err());
    }
}
