//! Liquid delegation: whose ballot carries each member's weight on one proposal.
//!
//! It exists because delegation is what turns a ballot into a weighted [`crate::Cast`], and the
//! result must be the same on every node, auditable, and fast for very large groups. Rules
//! (LiquidFeedback semantics, resolved independently for each member):
//!
//! - Members are indices `0..n`. `target[i]` is the member `i` delegates to for this proposal,
//!   already resolved by scope by the caller (`None`: no delegation).
//! - A direct voter never delegates: a direct ballot (an explicit abstention included)
//!   overrides the member's delegation. Ineligible members and members who neither vote nor
//!   delegate keep their own weight out of the count ([`Holder::Own`], weight 0 unless they
//!   voted).
//! - For an eligible non-voter `i` with a target, walk the chain `t = target[i]`,
//!   `target[t]`, …; the first hop has depth 1. At each member `cur` reached at depth `d`:
//!   1. `cur` is ineligible (or not a member at all) → lost, [`Lost::Ineligible`] at `cur`;
//!   2. `cur` voted → held by `cur` at depth `d` ([`Holder::Held`]);
//!   3. `cur` is `i` or was already passed on this walk → lost, [`Lost::Cycle`];
//!   4. `cur` delegates nowhere → lost, [`Lost::DeadEnd`] at `cur`;
//!   5. `d` = `max_depth` → lost, [`Lost::TooDeep`];
//!   6. otherwise continue to `target[cur]` at depth `d + 1`.
//!
//!   So a chain may have at most `max_depth` hops; `max_depth = 0` disables delegation (every
//!   delegation is [`Lost::TooDeep`]) and `u32::MAX` is effectively unlimited.
//! - `weight[v]` = 1 + the number of members whose chain is held by `v`, for eligible direct
//!   voters; 0 for everyone else. `lost` counts the lost chains. Hence
//!   Σ weight + lost + eligible members who neither vote nor delegate = eligible members.
//!
//! The result does not depend on any iteration order, since each member's outcome is a
//! function of its own chain. The implementation does not walk each chain separately: it
//! labels every delegating member, in one pass over the delegation graph (each member is
//! visited a bounded number of times, no recursion), with where its chain ends and how far
//! away, or with the distance to and length of the cycle it runs into. Rule 3's first revisit
//! happens at depth (distance to the cycle + cycle length), so a walk's outcome follows from
//! those labels and `max_depth` without walking. The cost is O(n) whatever `max_depth` is.

/// Why a member's weight reached no ballot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lost {
    /// The chain came back to a member it had passed (self-delegation included).
    Cycle,
    /// The chain ended at a member who neither votes nor delegates.
    DeadEnd {
        /// That member.
        at: u32,
    },
    /// The chain reached a member who may not vote on this proposal (or is not a member).
    Ineligible {
        /// That member.
        at: u32,
    },
    /// The chain is longer than the group allows.
    TooDeep,
}

impl Lost {
    /// The reason as it appears in a certificate: `cycle`, `dead-end`, `ineligible` or
    /// `too-deep`.
    pub fn reason(&self) -> &'static str {
        match self {
            Lost::Cycle => "cycle",
            Lost::DeadEnd { .. } => "dead-end",
            Lost::Ineligible { .. } => "ineligible",
            Lost::TooDeep => "too-deep",
        }
    }

    /// The member where the chain ended, if it ended at one.
    pub fn at(&self) -> Option<u32> {
        match self {
            Lost::DeadEnd { at } | Lost::Ineligible { at } => Some(*at),
            Lost::Cycle | Lost::TooDeep => None,
        }
    }
}

/// Where one member's weight went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Holder {
    /// Not delegated: the member voted, does not delegate, or is not eligible.
    Own,
    /// Carried by the ballot of `by`, `depth` hops down the chain.
    Held {
        /// The direct voter holding it.
        by: u32,
        /// Hops from the member to `by` (1 = delegated straight to them).
        depth: u32,
    },
    /// Reached no ballot.
    Lost(Lost),
}

/// Delegation resolved for one proposal.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Resolution {
    /// Per member: the weight their ballot carries (0 unless they are an eligible direct voter).
    pub weight: Vec<u64>,
    /// Per member: where their weight went.
    pub holder: Vec<Holder>,
    /// How many members' weight was lost.
    pub lost: u64,
}

/// Where a chain stops without a cycle.
#[derive(Clone, Copy, Debug)]
enum End {
    Voter(u32),
    Ineligible(u32),
    Nowhere(u32),
}

/// A delegating member's label.
#[derive(Clone, Copy, Debug)]
enum Label {
    /// Not reached yet.
    Unseen,
    /// On the walk being labelled, at this position.
    OnPath(usize),
    /// The chain stops at `end`, `dist` hops away.
    Ends { end: End, dist: u64 },
    /// The chain enters a cycle of `len` members `dist` hops away (0: on the cycle).
    Loops { dist: u64, len: u64 },
}

/// Resolves every member's delegation; see the module documentation for the rules. Slices of
/// different lengths are read as if padded (not voted, not eligible, no target).
pub fn resolve(
    voted: &[bool],
    eligible: &[bool],
    target: &[Option<u32>],
    max_depth: u32,
) -> Resolution {
    let n = voted.len().max(eligible.len()).max(target.len());
    let is_eligible = |i: usize| eligible.get(i).copied().unwrap_or(false);
    let has_voted = |i: usize| voted.get(i).copied().unwrap_or(false);
    // The next hop of a member a chain passes through (eligible, not voted, delegating).
    let next = |i: usize| -> Option<u32> {
        if is_eligible(i) && !has_voted(i) {
            target.get(i).copied().flatten()
        } else {
            None
        }
    };
    // Where a chain reaching `cur` stops, if it stops there (rules 1, 2, 4).
    let stop = |cur: u32| -> Option<End> {
        let c = cur as usize;
        if !is_eligible(c) {
            Some(End::Ineligible(cur))
        } else if has_voted(c) {
            Some(End::Voter(cur))
        } else if target.get(c).copied().flatten().is_none() {
            Some(End::Nowhere(cur))
        } else {
            None
        }
    };

    let mut label = vec![Label::Unseen; n];
    let mut path: Vec<usize> = Vec::new();
    for s in 0..n {
        if next(s).is_none() || !matches!(label[s], Label::Unseen) {
            continue;
        }
        path.clear();
        let mut cur = s;
        let base = loop {
            match label[cur] {
                Label::Unseen => {
                    label[cur] = Label::OnPath(path.len());
                    path.push(cur);
                    let Some(t) = next(cur) else {
                        // Unreachable: only delegating members are walked through.
                        break Label::Ends {
                            end: End::Nowhere(crate::index(cur)),
                            dist: 0,
                        };
                    };
                    if let Some(end) = stop(t) {
                        break Label::Ends { end, dist: 0 };
                    }
                    cur = t as usize;
                }
                Label::OnPath(p) => {
                    let len = (path.len() - p) as u64;
                    for &x in &path[p..] {
                        label[x] = Label::Loops { dist: 0, len };
                    }
                    path.truncate(p);
                    break Label::Loops { dist: 0, len };
                }
                done => break done,
            }
        };
        let mut acc = base;
        for &x in path.iter().rev() {
            acc = match acc {
                Label::Ends { end, dist } => Label::Ends {
                    end,
                    dist: dist.saturating_add(1),
                },
                Label::Loops { dist, len } => Label::Loops {
                    dist: dist.saturating_add(1),
                    len,
                },
                other => other,
            };
            label[x] = acc;
        }
    }

    let max = u64::from(max_depth);
    let mut holder = vec![Holder::Own; n];
    let mut weight = vec![0u64; n];
    let mut lost = 0u64;
    for i in 0..n {
        if is_eligible(i) && has_voted(i) {
            weight[i] = weight[i].saturating_add(1);
        }
        if next(i).is_none() {
            continue;
        }
        let h = match label[i] {
            Label::Ends { dist, .. } if dist > max => Holder::Lost(Lost::TooDeep),
            Label::Ends { end, dist } => match end {
                End::Voter(v) => Holder::Held {
                    by: v,
                    depth: u32::try_from(dist).unwrap_or(u32::MAX),
                },
                End::Ineligible(at) => Holder::Lost(Lost::Ineligible { at }),
                End::Nowhere(at) => Holder::Lost(Lost::DeadEnd { at }),
            },
            Label::Loops { dist, len } if dist.saturating_add(len) > max => {
                Holder::Lost(Lost::TooDeep)
            }
            Label::Loops { .. } | Label::Unseen | Label::OnPath(_) => Holder::Lost(Lost::Cycle),
        };
        match h {
            Holder::Held { by, .. } => {
                if let Some(w) = weight.get_mut(by as usize) {
                    *w = w.saturating_add(1);
                }
            }
            Holder::Lost(_) => lost += 1,
            Holder::Own => {}
        }
        holder[i] = h;
    }
    Resolution {
        weight,
        holder,
        lost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The rules as written: walk each member's chain on its own.
    fn walk(
        voted: &[bool],
        eligible: &[bool],
        target: &[Option<u32>],
        max_depth: u32,
    ) -> Resolution {
        let n = voted.len();
        let mut weight = vec![0u64; n];
        let mut holder = vec![Holder::Own; n];
        let mut lost = 0;
        for i in 0..n {
            if eligible[i] && voted[i] {
                weight[i] += 1;
            }
        }
        for i in 0..n {
            if !eligible[i] || voted[i] {
                continue;
            }
            let Some(mut cur) = target[i] else { continue };
            let mut depth = 1u32;
            let mut seen: Vec<u32> = Vec::new();
            let h = loop {
                let c = cur as usize;
                if max_depth == 0 {
                    break Holder::Lost(Lost::TooDeep);
                }
                if c >= n || !eligible[c] {
                    break Holder::Lost(Lost::Ineligible { at: cur });
                }
                if voted[c] {
                    break Holder::Held { by: cur, depth };
                }
                if c == i || seen.contains(&cur) {
                    break Holder::Lost(Lost::Cycle);
                }
                let Some(t) = target[c] else {
                    break Holder::Lost(Lost::DeadEnd { at: cur });
                };
                if depth == max_depth {
                    break Holder::Lost(Lost::TooDeep);
                }
                seen.push(cur);
                cur = t;
                depth += 1;
            };
            match h {
                Holder::Held { by, .. } => weight[by as usize] += 1,
                Holder::Lost(_) => lost += 1,
                Holder::Own => {}
            }
            holder[i] = h;
        }
        Resolution {
            weight,
            holder,
            lost,
        }
    }

    const A: u32 = 0;
    const B: u32 = 1;
    const C: u32 = 2;
    const D: u32 = 3;

    #[test]
    fn chain_to_a_voter() {
        // A → B → C, C votes.
        let r = resolve(
            &[false, false, true],
            &[true; 3],
            &[Some(B), Some(C), None],
            8,
        );
        assert_eq!(r.weight, vec![0, 0, 3]);
        assert_eq!(r.holder[A as usize], Holder::Held { by: C, depth: 2 });
        assert_eq!(r.holder[B as usize], Holder::Held { by: C, depth: 1 });
        assert_eq!(r.holder[C as usize], Holder::Own);
        assert_eq!(r.lost, 0);
    }

    #[test]
    fn direct_vote_overrides() {
        // A → B → C; A and B vote too: each keeps their own weight.
        let r = resolve(
            &[true, true, true],
            &[true; 3],
            &[Some(B), Some(C), None],
            8,
        );
        assert_eq!(r.weight, vec![1, 1, 1]);
        assert!(r.holder.iter().all(|h| *h == Holder::Own));
        // Only B votes: A's weight stops at B.
        let r = resolve(
            &[false, true, true],
            &[true; 3],
            &[Some(B), Some(C), None],
            8,
        );
        assert_eq!(r.weight, vec![0, 2, 1]);
    }

    #[test]
    fn cycle_is_lost() {
        let r = resolve(
            &[false, false, true],
            &[true; 3],
            &[Some(B), Some(A), None],
            8,
        );
        assert_eq!(r.holder[0], Holder::Lost(Lost::Cycle));
        assert_eq!(r.holder[1], Holder::Lost(Lost::Cycle));
        assert_eq!(r.weight, vec![0, 0, 1]);
        assert_eq!(r.lost, 2);
        // D → A, which loops: D's weight is lost to the cycle too.
        let r = resolve(
            &[false; 4],
            &[true; 4],
            &[Some(B), Some(A), None, Some(A)],
            8,
        );
        assert_eq!(r.holder[3], Holder::Lost(Lost::Cycle));
        assert_eq!(r.lost, 3);
    }

    #[test]
    fn self_delegation_is_a_cycle() {
        let r = resolve(&[false, true], &[true; 2], &[Some(A), None], 8);
        assert_eq!(r.holder[0], Holder::Lost(Lost::Cycle));
        assert_eq!(r.lost, 1);
    }

    #[test]
    fn dead_end() {
        // A → B, B delegates nowhere and does not vote.
        let r = resolve(&[false, false], &[true; 2], &[Some(B), None], 8);
        assert_eq!(r.holder[0], Holder::Lost(Lost::DeadEnd { at: B }));
        assert_eq!(r.holder[1], Holder::Own);
        assert_eq!(r.lost, 1);
    }

    #[test]
    fn ineligible_delegate() {
        // A → B → C; B was removed (ineligible) though C votes. And D → 99 (no such member).
        let r = resolve(
            &[false, false, true, false],
            &[true, false, true, true],
            &[Some(B), Some(C), None, Some(99)],
            8,
        );
        assert_eq!(r.holder[0], Holder::Lost(Lost::Ineligible { at: B }));
        assert_eq!(r.holder[1], Holder::Own);
        assert_eq!(r.holder[3], Holder::Lost(Lost::Ineligible { at: 99 }));
        assert_eq!(r.weight, vec![0, 0, 1, 0]);
        assert_eq!(r.lost, 2);
    }

    #[test]
    fn depth_cap() {
        // m0 → m1 → … → m9, m9 votes: m0 is 9 hops away, m1 exactly 8.
        let n = 10;
        let mut voted = vec![false; n];
        voted[9] = true;
        let target: Vec<Option<u32>> = (0..n as u32).map(|i| (i < 9).then_some(i + 1)).collect();
        let r = resolve(&voted, &vec![true; n], &target, 8);
        assert_eq!(r.holder[0], Holder::Lost(Lost::TooDeep));
        assert_eq!(r.holder[1], Holder::Held { by: 9, depth: 8 });
        assert_eq!(r.weight[9], 9);
        assert_eq!(r.lost, 1);
        let r = resolve(&voted, &vec![true; n], &target, 0);
        assert_eq!(r.lost, 9);
        assert_eq!(r.weight[9], 1);
    }

    #[test]
    fn cycle_beyond_the_cap_is_too_deep() {
        // A → B → C → D → A: the walk from A returns at depth 4.
        let t = [Some(B), Some(C), Some(D), Some(A)];
        let r = resolve(&[false; 4], &[true; 4], &t, 4);
        assert!(r.holder.iter().all(|h| *h == Holder::Lost(Lost::Cycle)));
        let r = resolve(&[false; 4], &[true; 4], &t, 3);
        assert!(r.holder.iter().all(|h| *h == Holder::Lost(Lost::TooDeep)));
    }

    #[test]
    fn ragged_slices_are_padded() {
        let r = resolve(&[true], &[true, true], &[None, Some(0), Some(0)], 8);
        assert_eq!(r.weight, vec![2, 0, 0]);
        assert_eq!(r.holder[2], Holder::Own);
    }

    #[test]
    fn reasons() {
        assert_eq!(Lost::Cycle.reason(), "cycle");
        assert_eq!(Lost::DeadEnd { at: 3 }.reason(), "dead-end");
        assert_eq!(Lost::Ineligible { at: 3 }.at(), Some(3));
        assert_eq!(Lost::TooDeep.at(), None);
    }

    fn graph() -> impl Strategy<Value = (Vec<bool>, Vec<bool>, Vec<Option<u32>>, u32)> {
        (1usize..40).prop_flat_map(|n| {
            (
                proptest::collection::vec(proptest::bool::weighted(0.2), n),
                proptest::collection::vec(proptest::bool::weighted(0.9), n),
                proptest::collection::vec(proptest::option::weighted(0.8, 0..(n as u32 + 2)), n),
                0u32..12,
            )
        })
    }

    proptest! {
        #[test]
        fn labelling_agrees_with_walking((voted, eligible, target, max) in graph()) {
            prop_assert_eq!(
                resolve(&voted, &eligible, &target, max),
                walk(&voted, &eligible, &target, max)
            );
        }

        #[test]
        fn weight_is_conserved((voted, eligible, target, max) in graph()) {
            let r = resolve(&voted, &eligible, &target, max);
            let idle = (0..voted.len())
                .filter(|&i| eligible[i] && !voted[i] && target[i].is_none())
                .count() as u64;
            let total: u64 = r.weight.iter().sum();
            let eligible_count = eligible.iter().filter(|e| **e).count() as u64;
            prop_assert_eq!(total + r.lost + idle, eligible_count);
        }

        #[test]
        fn order_of_members_does_not_matter((voted, eligible, target, max) in graph(), seed in any::<u64>()) {
            // Relabel members by a permutation; the resolution must relabel the same way.
            let n = voted.len();
            let mut perm: Vec<usize> = (0..n).collect();
            let mut x = seed | 1;
            for i in (1..n).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                perm.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let map = |t: u32| if (t as usize) < n { perm[t as usize] as u32 } else { t };
            let mut v2 = vec![false; n];
            let mut e2 = vec![false; n];
            let mut t2 = vec![None; n];
            for i in 0..n {
                v2[perm[i]] = voted[i];
                e2[perm[i]] = eligible[i];
                t2[perm[i]] = target[i].map(map);
            }
            let a = resolve(&voted, &eligible, &target, max);
            let b = resolve(&v2, &e2, &t2, max);
            prop_assert_eq!(a.lost, b.lost);
            for (i, &p) in perm.iter().enumerate() {
                prop_assert_eq!(a.weight[i], b.weight[p]);
                let h = match a.holder[i] {
                    Holder::Held { by, depth } => Holder::Held { by: map(by), depth },
                    Holder::Lost(Lost::DeadEnd { at }) => Holder::Lost(Lost::DeadEnd { at: map(at) }),
                    Holder::Lost(Lost::Ineligible { at }) => Holder::Lost(Lost::Ineligible { at: map(at) }),
                    other => other,
                };
                prop_assert_eq!(h, b.holder[p]);
            }
        }
    }
}
