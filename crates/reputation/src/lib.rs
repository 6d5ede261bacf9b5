//! Reputation from verified participation: a pure function of a group's receipts.
//!
//! A receipt records that one member confirmed another's contribution (a task completion, a
//! mediation outcome, a vouch, a fulfilled commitment), co-signed, so nobody earns reputation
//! alone. This crate turns receipts into scores, per domain (logistics, care, tech, …), with
//! the rules the group sets ([`Params`]):
//!
//! - **Trust flows from seeds** the group chose by decision, EigenTrust-style: a member's score is
//!   the share of a walk that starts at the seeds, follows receipts from confirmer to earner, and
//!   jumps back to the seeds with probability [`Params::restart`] at each step. Trust that reaches
//!   a ring of fake members must cross the few edges honest members gave it, and the restart
//!   drains it back to the seeds: the ring's total is bounded by [`sybil_bound`], however many
//!   fakes it has and however often they confirm each other.
//! - **Diminishing returns**: receipts from the same confirmer to the same earner count as
//!   `w·K/(w+K)` of their total weight `w` (at most `K`), so a pair confirming each other 100
//!   times gains little more than after 5.
//! - **Decay**: a receipt's weight halves every [`Params::half_life`] of the group's own event
//!   time (never a node's clock), so old contributions fade.
//! - **Determinism**: integers only (fixed point, [`ONE`] = 1.0), a fixed number of iterations,
//!   members in key order; the same receipts in any order give the same scores on every node.
//!
//! Scores never weigh a vote here; what uses them (suggestions, a constitution that says so) is
//! the caller's business.

use std::collections::{BTreeMap, BTreeSet};

/// 1.0 in the fixed point used throughout (32 fractional bits).
pub const ONE: u64 = 1 << 32;

/// One co-signed receipt: `from` confirmed `to`'s contribution in `domain` at event time `at`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Receipt<K> {
    /// The domain (`logistics`, `care`, …).
    pub domain: String,
    /// Who confirmed (their trust is what flows).
    pub from: K,
    /// Who earned it.
    pub to: K,
    /// When, in the group's event time (any monotone unit, e.g. ms of the causal clock).
    pub at: u64,
    /// Its weight in receipts ([`ONE`] = one ordinary receipt).
    pub weight: u64,
}

/// The group's rules for reputation.
#[derive(Clone, Debug)]
pub struct Params<K> {
    /// Seed members, chosen by group decision: where trust starts. No seeds, no reputation.
    pub seeds: BTreeSet<K>,
    /// Chance of jumping back to the seeds at each step ([`ONE`] = certain), e.g. `ONE / 5`.
    pub restart: u64,
    /// Iterations (fixed, so every node does the same work and gets the same numbers).
    pub iterations: u32,
    /// Event time after which a receipt's weight has halved (0: no decay).
    pub half_life: u64,
    /// The most one confirmer's receipts can give one earner, in receipts (`K` above).
    pub pair_cap: u64,
}

impl<K: Ord> Params<K> {
    /// The defaults: restart 1/5, 30 iterations, no decay, a pair counts for at most 2 receipts.
    pub fn with_seeds(seeds: BTreeSet<K>) -> Params<K> {
        Params {
            seeds,
            restart: ONE / 5,
            iterations: 30,
            half_life: 0,
            pair_cap: 2,
        }
    }
}

/// Why parameters cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// The restart chance must be above 0 and at most 1.
    #[error("the restart chance must be above 0 and at most 1 (got {0}/2^32)")]
    Restart(u64),
    /// A pair's cap must be at least one receipt.
    #[error("a pair's cap must be at least one receipt")]
    PairCap,
    /// At most 1 000 iterations.
    #[error("at most 1000 iterations (got {0})")]
    Iterations(u32),
}

/// One member's score in one domain, and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Score<K> {
    /// The member's share of the domain's trust ([`ONE`] = all of it).
    pub share: u64,
    /// The largest contributions: (confirmer, the trust it passed on), largest first (at most
    /// [`MAX_REASONS`]; the seeds' restart share appears as no confirmer).
    pub why: Vec<(Option<K>, u64)>,
}

/// How many contributions [`Score::why`] keeps.
pub const MAX_REASONS: usize = 5;

/// The weight of a receipt `age` event-time units old under `half_life` (0: no decay), fixed
/// point: halves per half-life, linear in between (integer, so identical everywhere).
pub fn decayed(weight: u64, age: u64, half_life: u64) -> u64 {
    if half_life == 0 {
        return weight;
    }
    let halvings = age / half_life;
    if halvings >= 64 {
        return 0;
    }
    let w = weight >> halvings;
    // Between two halvings: from w down to w/2, linearly.
    let frac = ((age % half_life) as u128 * ONE as u128 / half_life as u128) as u64;
    w - ((w as u128 / 2 * frac as u128) / ONE as u128) as u64
}

/// Diminishing returns: a pair's total weight `w` counts as `w·K/(w+K)`, never more than `K`.
pub fn diminished(w: u64, pair_cap: u64) -> u64 {
    let k = pair_cap as u128 * ONE as u128;
    let w = w as u128;
    if w == 0 {
        return 0;
    }
    (w * k / (w + k)) as u64
}

/// The scores of every member named by `receipts` or `params.seeds`, per domain, at event time
/// `now`.
pub fn compute<K: Ord + Clone>(
    receipts: &[Receipt<K>],
    params: &Params<K>,
    now: u64,
) -> Result<BTreeMap<String, BTreeMap<K, Score<K>>>, ParamsError> {
    if params.restart == 0 || params.restart > ONE {
        return Err(ParamsError::Restart(params.restart));
    }
    if params.pair_cap == 0 {
        return Err(ParamsError::PairCap);
    }
    if params.iterations > 1000 {
        return Err(ParamsError::Iterations(params.iterations));
    }
    // Per domain, per (from, to): the decayed total. A self-receipt earns nothing.
    let mut pairs: BTreeMap<&str, BTreeMap<(&K, &K), u64>> = BTreeMap::new();
    for r in receipts {
        if r.from == r.to {
            continue;
        }
        let w = decayed(r.weight, now.saturating_sub(r.at), params.half_life);
        let e = pairs
            .entry(r.domain.as_str())
            .or_default()
            .entry((&r.from, &r.to))
            .or_default();
        *e = e.saturating_add(w);
    }
    let mut out = BTreeMap::new();
    for (domain, edges) in pairs {
        out.insert(domain.to_string(), one_domain(&edges, params));
    }
    Ok(out)
}

/// Members in key order, as indices; edges as compressed rows of (target, fraction of the
/// source's trust).
struct Graph<'a, K> {
    members: Vec<&'a K>,
    /// Row `u`: `start[u]..start[u+1]` in `to`/`frac`.
    start: Vec<usize>,
    to: Vec<usize>,
    frac: Vec<u64>,
}

fn graph<'a, K: Ord>(
    edges: &BTreeMap<(&'a K, &'a K), u64>,
    seeds: &'a BTreeSet<K>,
) -> Graph<'a, K> {
    let mut set: BTreeSet<&K> = seeds.iter().collect();
    for (from, to) in edges.keys() {
        set.insert(from);
        set.insert(to);
    }
    let members: Vec<&K> = set.into_iter().collect();
    let index = |k: &K| members.binary_search(&k).unwrap_or(0);
    let mut rows: Vec<Vec<(usize, u64)>> = vec![Vec::new(); members.len()];
    for ((from, to), w) in edges {
        rows[index(from)].push((index(to), *w));
    }
    let mut start = Vec::with_capacity(members.len() + 1);
    let mut to = Vec::new();
    let mut frac = Vec::new();
    for row in rows {
        start.push(to.len());
        let total: u128 = row.iter().map(|(_, w)| *w as u128).sum();
        for (v, w) in row {
            to.push(v);
            frac.push(
                (w as u128 * ONE as u128)
                    .checked_div(total)
                    .map_or(0, |f| f as u64),
            );
        }
    }
    start.push(to.len());
    Graph {
        members,
        start,
        to,
        frac,
    }
}

fn one_domain<K: Ord + Clone>(
    raw: &BTreeMap<(&K, &K), u64>,
    params: &Params<K>,
) -> BTreeMap<K, Score<K>> {
    let edges: BTreeMap<(&K, &K), u64> = raw
        .iter()
        .map(|(k, w)| (*k, diminished(*w, params.pair_cap)))
        .filter(|(_, w)| *w > 0)
        .collect();
    let g = graph(&edges, &params.seeds);
    let n = g.members.len();
    let seeds: Vec<usize> = (0..n)
        .filter(|i| params.seeds.contains(g.members[*i]))
        .collect();
    let mut scores = BTreeMap::new();
    if seeds.is_empty() {
        return scores;
    }
    let seed_share = ONE / seeds.len() as u64;
    let mut pre = vec![0u64; n];
    for s in &seeds {
        pre[*s] = seed_share;
    }
    let (prev, t) = iterate(&g, &pre, params);
    // Explanations of the last step, so they add up to the score (up to rounding): what each
    // confirmer passed on, and for seeds the restart plus what members who confirmed nobody
    // handed back.
    let stay = ONE - params.restart;
    let mut why: Vec<Vec<(Option<usize>, u64)>> = vec![Vec::new(); n];
    let mut back = 0u64;
    for (u, tu) in prev.iter().enumerate() {
        if g.start[u] == g.start[u + 1] {
            back = back.saturating_add(*tu);
        }
        for e in g.start[u]..g.start[u + 1] {
            let passed = mul(mul(*tu, g.frac[e]), stay);
            why[g.to[e]].push((Some(u), passed));
        }
    }
    for s in &seeds {
        let restart = mul(pre[*s], params.restart).saturating_add(mul(mul(back, pre[*s]), stay));
        why[*s].push((None, restart));
    }
    for (i, k) in g.members.iter().enumerate() {
        let mut w = std::mem::take(&mut why[i]);
        w.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        w.truncate(MAX_REASONS);
        scores.insert(
            (*k).clone(),
            Score {
                share: t[i],
                why: w
                    .into_iter()
                    .map(|(u, x)| (u.map(|u| g.members[u].clone()), x))
                    .collect(),
            },
        );
    }
    scores
}

fn mul(a: u64, b: u64) -> u64 {
    ((a as u128 * b as u128) >> 32) as u64
}

/// `t ← restart·pre + (1−restart)·(Cᵀt + dangling·pre)`, a fixed number of times; a member who
/// confirmed nobody passes its trust back to the seeds.
/// Returns the scores before the last step and after it (so explanations add up to the scores).
fn iterate<K>(g: &Graph<'_, K>, pre: &[u64], params: &Params<K>) -> (Vec<u64>, Vec<u64>) {
    let n = pre.len();
    let stay = ONE - params.restart;
    let mut t = pre.to_vec();
    let mut next = vec![0u64; n];
    for _ in 0..params.iterations {
        next.iter_mut().for_each(|x| *x = 0);
        let mut back = 0u64;
        for (u, tu) in t.iter().enumerate() {
            let (a, b) = (g.start[u], g.start[u + 1]);
            if a == b {
                back = back.saturating_add(*tu);
                continue;
            }
            for e in a..b {
                next[g.to[e]] = next[g.to[e]].saturating_add(mul(*tu, g.frac[e]));
            }
        }
        for v in 0..n {
            let walked = mul(next[v].saturating_add(mul(back, pre[v])), stay);
            next[v] = mul(params.restart, pre[v]).saturating_add(walked);
        }
        std::mem::swap(&mut t, &mut next);
    }
    if params.iterations == 0 {
        next = t.clone();
    }
    (next, t)
}

/// The most trust a region of members without seeds can hold, given what flows into it: with
/// restart chance `r`, trust entering the region at rate `inflow` per step stays on average
/// `1/r` steps, so the region holds at most `inflow·(1−r)/r`. `inflow` is the sum, over the
/// edges into the region, of the source's score times the edge's fraction of its trust.
pub fn sybil_bound(inflow: u64, restart: u64) -> u64 {
    ((inflow as u128 * (ONE - restart) as u128) / restart.max(1) as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_halves_per_half_life() {
        assert_eq!(decayed(ONE, 0, 10), ONE);
        assert_eq!(decayed(ONE, 10, 10), ONE / 2);
        assert_eq!(decayed(ONE, 20, 10), ONE / 4);
        assert_eq!(decayed(ONE, 5, 10), ONE * 3 / 4);
        assert_eq!(decayed(ONE, 64 * 10, 10), 0);
        assert_eq!(decayed(ONE, 12345, 0), ONE);
    }

    #[test]
    fn a_pair_gains_little_from_repetition() {
        let five = diminished(5 * ONE, 2);
        let hundred = diminished(100 * ONE, 2);
        assert!(hundred < 2 * ONE);
        assert!(hundred * 10 < five * 14, "{hundred} vs {five}");
    }

    #[test]
    fn bad_params_are_refused() {
        let mut p = Params::with_seeds(BTreeSet::from([1u32]));
        p.restart = 0;
        assert_eq!(
            compute::<u32>(&[], &p, 0).unwrap_err(),
            ParamsError::Restart(0)
        );
        p.restart = ONE / 5;
        p.pair_cap = 0;
        assert_eq!(
            compute::<u32>(&[], &p, 0).unwrap_err(),
            ParamsError::PairCap
        );
    }
}
