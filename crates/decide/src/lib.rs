//! Tallies of collective decisions: every voting method a group can choose, liquid delegation,
//! and the tally certificate peers co-sign.
//!
//! This crate exists so that an outcome is a pure function of its inputs. Given the method, the
//! options, the ballots (each with the weight it carries after delegation) and the size of the
//! electorate, [`tally`] returns the same [`Outcome`] on every node, whatever order the ballots
//! arrived in. Nothing here does IO, reads a clock, draws randomness or uses floating point:
//! weights and sums are integers, thresholds compare by cross-multiplication ([`Ratio`]), and
//! ties are broken by per-option keys the caller derives from content hashes (smaller key wins),
//! never by arrival order. The wire types live in `dualpower_core::decision`; the rules about
//! who may vote and which events a close counts live in `dualpower-state`.
//!
//! Rules shared by every method (each method's own rules are in its module's documentation):
//!
//! - [`Ballot::Abstain`] is valid for every method. It counts toward participation (and so
//!   toward quorum) and toward `abstained`, and supports nothing.
//! - Casts are expected to have passed [`validate`]. A cast that does not fit the method anyway
//!   is left out of the count entirely (it is not participation either) rather than miscounted.
//! - Quorum: `quorum_met = method.quorum.reached_by(participation, electorate)`. If it is missed
//!   the count is still made (figures, ranking, rounds, matrix are filled for the record), but
//!   `winners` is empty, `spent` is 0, `tie` is false and majority/consent report
//!   `passed = Some(false)`.
//! - `tie` describes how the winners were decided: it is true only when tiebreak keys decided
//!   something, so it is false whenever there are no winners.
//! - When no ballot supports anything (nothing cast, or only abstentions), `ranking` is empty
//!   and there is no winner; figures are all zero.
//! - Missing per-option data is treated conservatively rather than trusted: an option without
//!   a tiebreak key sorts after every option with one (key `ff…ff`, then by index); an option
//!   without a cost never fits a budget.
//! - Sums saturate instead of overflowing; figures are clamped to the `i64` range. Neither can
//!   happen with a real electorate (weights are member counts, scores are at most ±10⁶).

pub mod approval;
pub mod budget;
pub mod certificate;
pub mod consent;
pub mod dot;
pub mod irv;
pub mod liquid;
pub mod majority;
pub mod plurality;
pub mod quadratic;
pub mod schulze;
pub mod score;
pub mod star;

pub use dualpower_core::decision::{Ballot, Method, MethodKind, Ratio};

/// One counted ballot with the weight it carries (1 + weight delegated to the voter).
#[derive(Clone, Copy, Debug)]
pub struct Cast<'a> {
    /// The weight: 1 for the voter plus every member whose delegation chain ends at them.
    pub weight: u64,
    /// What they voted.
    pub ballot: &'a Ballot,
}

/// Everything a tally reads.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The method and its quorum.
    pub method: &'a Method,
    /// Number of options (majority: 3 — yes, no, abstain; consent: 4 — agree, abstain,
    /// disagree, block; those two methods always count their fixed options). Expected to be at
    /// most `dualpower_core::decision::MAX_OPTIONS`, as proposal decoding guarantees; the
    /// Schulze count is cubic in it.
    pub options: usize,
    /// Cost per option (only budgeting reads it); `len == options`.
    pub costs: &'a [u64],
    /// Tiebreak key per option: when options tie, the one with the smaller key wins (and is
    /// eliminated last in IRV).
    pub tiebreak: &'a [[u8; 32]],
    /// Total weight that could take part (the quorum's denominator).
    pub electorate: u64,
    /// The constitution's block override (consent only): a block is overridden when agree
    /// reaches this share of agree + disagree + block.
    pub block_override: Option<Ratio>,
    /// The ballots, already validated; their order does not matter.
    pub casts: &'a [Cast<'a>],
}

/// What a tally found. Which fields a method fills is documented in its module.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    /// Weight of all counted ballots, abstentions included.
    pub participation: u64,
    /// Weight of abstentions ([`Ballot::Abstain`], the method's abstain option, an empty
    /// approval set or basket, an empty ranking).
    pub abstained: u64,
    /// Whether participation reached the method's quorum of the electorate.
    pub quorum_met: bool,
    /// Per option, the method's headline number (documented per method).
    pub figures: Vec<i64>,
    /// Majority and consent: whether the proposal passed. `None` for the other methods.
    pub passed: Option<bool>,
    /// Single-winner methods: `[winner]` or `[]`; budgeting: the selected options in selection
    /// order. Always empty for majority and consent (read `passed`).
    pub winners: Vec<u32>,
    /// Options best first; options sharing a rank are in one inner vec (ascending index).
    /// Empty where not meaningful (majority, consent) or when nothing was supported.
    pub ranking: Vec<Vec<u32>>,
    /// True if tiebreak keys decided the winner (or a budgeting order or an IRV elimination).
    pub tie: bool,
    /// IRV: per round, per option, its count (-1 once eliminated). Empty otherwise.
    pub rounds: Vec<Vec<i64>>,
    /// Schulze: pairwise `N[a][b]` (weight preferring a over b), `(options+1)²`, status quo
    /// last. Empty otherwise.
    pub matrix: Vec<Vec<u64>>,
    /// IRV: weight of ballots with no continuing option in the final round.
    pub exhausted: u64,
    /// Budgeting: total cost of the selected options.
    pub spent: u64,
}

/// An option index (0-based on the wire) as people count options: from 1, as ballots and
/// listings number them.
fn human(option: &u32) -> u64 {
    u64::from(*option) + 1
}

/// Why a ballot does not fit a method. Options are named by their number from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BallotError {
    /// The ballot has the wrong shape for the method (a ranking for a yes/no vote, …).
    #[error("a {method} ballot must be {expected}")]
    WrongShape {
        /// The method's name.
        method: &'static str,
        /// What it accepts.
        expected: &'static str,
    },
    /// An option index beyond the proposal's options.
    #[error("option {} does not exist (the proposal has {options} options, numbered from 1)", human(.option))]
    NoSuchOption {
        /// The index given.
        option: u32,
        /// How many options there are.
        options: usize,
    },
    /// An option listed twice.
    #[error("option {} is listed twice", human(.option))]
    Duplicate {
        /// The option.
        option: u32,
    },
    /// A set whose options are not in ascending order.
    #[error("a set lists its options in ascending order; option {} is out of place", human(.option))]
    Unordered {
        /// The first option out of place.
        option: u32,
    },
    /// A score list whose length is not the number of options.
    #[error("the ballot has {got} entries but the proposal has {options} options")]
    WrongLength {
        /// Entries given.
        got: usize,
        /// Options the proposal has.
        options: usize,
    },
    /// A score outside the method's range.
    #[error("option {}: {score} is outside {min} to {max}", human(.option))]
    OutOfRange {
        /// The option.
        option: u32,
        /// The score given.
        score: i64,
        /// Lowest allowed.
        min: i64,
        /// Highest allowed.
        max: i64,
    },
    /// A dot ballot spending more points than each voter has.
    #[error("the ballot gives {used} dots but each voter has {dots}")]
    TooManyDots {
        /// Points given in total.
        used: u64,
        /// Points each voter has.
        dots: u64,
    },
    /// A budgeting basket costing more than the budget.
    #[error("the basket costs {cost}, more than the budget of {total}")]
    OverBudget {
        /// The basket's total cost.
        cost: u64,
        /// The budget.
        total: u64,
    },
    /// A consent block without a reason.
    #[error("a block must give a reason")]
    BlockNeedsReason,
}

/// Counts the casts by the input's method. See the crate and module documentation for rules.
pub fn tally(input: &Input) -> Outcome {
    let mut out = Outcome {
        participation: 0,
        abstained: 0,
        quorum_met: false,
        figures: Vec::new(),
        passed: None,
        winners: Vec::new(),
        ranking: Vec::new(),
        tie: false,
        rounds: Vec::new(),
        matrix: Vec::new(),
        exhausted: 0,
        spent: 0,
    };
    let mut casts: Vec<Cast<'_>> = Vec::with_capacity(input.casts.len());
    for c in input.casts {
        if check(input.method, input.options, input.costs, c.ballot).is_err() {
            continue;
        }
        out.participation = out.participation.saturating_add(c.weight);
        if matches!(c.ballot, Ballot::Abstain) {
            out.abstained = out.abstained.saturating_add(c.weight);
        } else {
            casts.push(*c);
        }
    }
    out.quorum_met = input
        .method
        .quorum
        .reached_by(out.participation, input.electorate);
    match &input.method.kind {
        MethodKind::Majority { threshold } => majority::count(*threshold, &casts, &mut out),
        MethodKind::Consent => consent::count(input.block_override, &casts, &mut out),
        MethodKind::Plurality => plurality::count(input, &casts, &mut out),
        MethodKind::Approval => approval::count(input, &casts, &mut out),
        MethodKind::Score { .. } => score::count(input, &casts, &mut out),
        MethodKind::Star { .. } => star::count(input, &casts, &mut out),
        MethodKind::Dot { .. } => dot::count(input, &casts, &mut out),
        MethodKind::Quadratic => quadratic::count(input, &casts, &mut out),
        MethodKind::Schulze => schulze::count(input, &casts, &mut out),
        MethodKind::Irv => irv::count(input, &casts, &mut out),
        MethodKind::Budget { total } => budget::count(input, *total, &casts, &mut out),
    }
    if !out.quorum_met {
        out.winners.clear();
        out.tie = false;
        out.spent = 0;
        if out.passed.is_some() {
            out.passed = Some(false);
        }
    }
    out
}

/// Checks that a ballot fits the method and the proposal's options (and, for a consent block,
/// that `reason` is not blank). [`Ballot::Abstain`] fits every method.
pub fn validate(
    method: &Method,
    options: usize,
    costs: &[u64],
    ballot: &Ballot,
    reason: &str,
) -> Result<(), BallotError> {
    check(method, options, costs, ballot)?;
    if matches!(method.kind, MethodKind::Consent)
        && *ballot == Ballot::Choice(consent::BLOCK)
        && reason.trim().is_empty()
    {
        return Err(BallotError::BlockNeedsReason);
    }
    Ok(())
}

/// The voice credits a quadratic ballot spends: Σ n² over its votes (saturating); 0 for any
/// other shape. The caller compares it with the member's budget for the period.
pub fn quadratic_cost(ballot: &Ballot) -> u64 {
    quadratic::cost(ballot)
}

/// The name and rule version of the method's tally, e.g. `majority@1`, `schulze@1`. Bumped
/// whenever a rule in this crate changes the outcome for some input, so a certificate names
/// the exact rules it was computed by.
pub fn version(method: &Method) -> &'static str {
    match method.kind {
        MethodKind::Majority { .. } => "majority@1",
        MethodKind::Consent => "consent@1",
        MethodKind::Plurality => "plurality@1",
        MethodKind::Approval => "approval@1",
        MethodKind::Score { .. } => "score@1",
        MethodKind::Star { .. } => "star@1",
        MethodKind::Dot { .. } => "dot@1",
        MethodKind::Quadratic => "quadratic@1",
        MethodKind::Schulze => "schulze@1",
        MethodKind::Irv => "irv@1",
        MethodKind::Budget { .. } => "budget@1",
    }
}

/// The shape check without the consent reason rule (tallies do not see reasons).
fn check(
    method: &Method,
    options: usize,
    costs: &[u64],
    ballot: &Ballot,
) -> Result<(), BallotError> {
    if matches!(ballot, Ballot::Abstain) {
        return Ok(());
    }
    match &method.kind {
        MethodKind::Majority { .. } => majority::check(ballot),
        MethodKind::Consent => consent::check(ballot),
        MethodKind::Plurality => plurality::check(options, ballot),
        MethodKind::Approval => approval::check(options, ballot),
        MethodKind::Score { min, max } => score::check(*min, *max, options, ballot),
        MethodKind::Star { min, max } => star::check(*min, *max, options, ballot),
        MethodKind::Dot { dots } => dot::check(*dots, options, ballot),
        MethodKind::Quadratic => quadratic::check(options, ballot),
        MethodKind::Schulze => schulze::check(options, ballot),
        MethodKind::Irv => irv::check(options, ballot),
        MethodKind::Budget { total } => budget::check(*total, options, costs, ballot),
    }
}

// ---- shared pieces of the method modules ----

/// A `Choice(i)` with `i < options`.
fn choice(
    method: &'static str,
    expected: &'static str,
    options: usize,
    ballot: &Ballot,
) -> Result<u32, BallotError> {
    match ballot {
        Ballot::Choice(i) if (*i as usize) < options => Ok(*i),
        Ballot::Choice(i) => Err(BallotError::NoSuchOption {
            option: *i,
            options,
        }),
        _ => Err(BallotError::WrongShape { method, expected }),
    }
}

/// A `Set` of distinct options, ascending, each `< options`.
fn set<'b>(
    method: &'static str,
    expected: &'static str,
    options: usize,
    ballot: &'b Ballot,
) -> Result<&'b [u32], BallotError> {
    let Ballot::Set(v) = ballot else {
        return Err(BallotError::WrongShape { method, expected });
    };
    let mut prev: Option<u32> = None;
    for &o in v {
        if o as usize >= options {
            return Err(BallotError::NoSuchOption { option: o, options });
        }
        match prev {
            Some(p) if p == o => return Err(BallotError::Duplicate { option: o }),
            Some(p) if p > o => return Err(BallotError::Unordered { option: o }),
            _ => {}
        }
        prev = Some(o);
    }
    Ok(v)
}

/// `Scores` with exactly one entry per option, each within `min..=max`.
fn scores<'b>(
    method: &'static str,
    expected: &'static str,
    options: usize,
    (min, max): (i64, i64),
    ballot: &'b Ballot,
) -> Result<&'b [i64], BallotError> {
    let Ballot::Scores(v) = ballot else {
        return Err(BallotError::WrongShape { method, expected });
    };
    if v.len() != options {
        return Err(BallotError::WrongLength {
            got: v.len(),
            options,
        });
    }
    for (o, &s) in v.iter().enumerate() {
        if s < min || s > max {
            return Err(BallotError::OutOfRange {
                option: u32::try_from(o).unwrap_or(u32::MAX),
                score: s,
                min,
                max,
            });
        }
    }
    Ok(v)
}

/// A `u64` figure as `i64`, clamped.
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// An `i128` sum as `i64`, clamped.
fn clamp(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// `weight · value`, exactly.
fn times(weight: u64, value: i64) -> i128 {
    i128::from(weight).saturating_mul(i128::from(value))
}

/// Option `i`'s tiebreak key; an option without one sorts after every option with one.
fn key(tiebreak: &[[u8; 32]], i: usize) -> [u8; 32] {
    tiebreak.get(i).copied().unwrap_or([0xff; 32])
}

/// The order tiebreak keys impose: smaller key first, then smaller index.
fn key_order(tiebreak: &[[u8; 32]], a: usize, b: usize) -> std::cmp::Ordering {
    key(tiebreak, a).cmp(&key(tiebreak, b)).then(a.cmp(&b))
}

/// The option with the largest figure, if that figure is admitted; several with it → the
/// smaller key wins and the second value is true.
fn best(figures: &[i64], tiebreak: &[[u8; 32]], admit: impl Fn(i64) -> bool) -> (Vec<u32>, bool) {
    let Some(max) = figures.iter().copied().max() else {
        return (Vec::new(), false);
    };
    if !admit(max) {
        return (Vec::new(), false);
    }
    let top: Vec<usize> = (0..figures.len()).filter(|&i| figures[i] == max).collect();
    let winner = top
        .iter()
        .copied()
        .min_by(|&a, &b| key_order(tiebreak, a, b));
    match winner {
        Some(w) => (vec![index(w)], top.len() > 1),
        None => (Vec::new(), false),
    }
}

/// Options grouped by equal figure, largest first, ascending index inside a group.
fn rank_by(figures: &[i64]) -> Vec<Vec<u32>> {
    let mut order: Vec<usize> = (0..figures.len()).collect();
    order.sort_by(|&a, &b| figures[b].cmp(&figures[a]).then(a.cmp(&b)));
    let mut ranking: Vec<Vec<u32>> = Vec::new();
    let mut last: Option<i64> = None;
    for i in order {
        match ranking.last_mut() {
            Some(group) if last == Some(figures[i]) => group.push(index(i)),
            _ => ranking.push(vec![index(i)]),
        }
        last = Some(figures[i]);
    }
    ranking
}

/// An option index as it appears in outcomes.
fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Fills figures, winner, tie and ranking the way plurality-like methods do: the largest
/// figure wins if `admit` accepts it, ranking by figure, nothing when nothing was supported.
fn single_winner(
    input: &Input,
    figures: Vec<i64>,
    supported: bool,
    admit: impl Fn(i64) -> bool,
    out: &mut Outcome,
) {
    if supported {
        let (winners, tie) = best(&figures, input.tiebreak, admit);
        out.winners = winners;
        out.tie = tie;
        out.ranking = rank_by(&figures);
    }
    out.figures = figures;
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for the modules' unit tests.
    use super::*;

    /// Tiebreak keys where option i has key [i; 32] (so smaller index = smaller key).
    pub fn keys(n: usize) -> Vec<[u8; 32]> {
        (0..n).map(|i| [i as u8; 32]).collect()
    }

    /// Tallies `ballots` (each with weight 1 unless given) by `method` text.
    pub fn run(method: &str, options: usize, ballots: &[(u64, Ballot)]) -> Outcome {
        run_with(method, options, &keys(options), &[], None, 0, ballots)
    }

    /// Tallies with every knob.
    pub fn run_with(
        method: &str,
        options: usize,
        tiebreak: &[[u8; 32]],
        costs: &[u64],
        block_override: Option<Ratio>,
        electorate: u64,
        ballots: &[(u64, Ballot)],
    ) -> Outcome {
        let method = Method::parse(method).expect("test method parses");
        let casts: Vec<Cast<'_>> = ballots
            .iter()
            .map(|(w, b)| Cast {
                weight: *w,
                ballot: b,
            })
            .collect();
        let electorate = if electorate == 0 {
            ballots.iter().map(|(w, _)| *w).sum()
        } else {
            electorate
        };
        tally(&Input {
            method: &method,
            options,
            costs,
            tiebreak,
            electorate,
            block_override,
            casts: &casts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn abstain_fits_every_method_and_counts_only_as_participation() {
        for m in [
            "majority",
            "consent",
            "plurality",
            "approval",
            "score",
            "dot:dots=5",
            "quadratic",
            "schulze",
            "irv",
            "budget:total=10",
        ] {
            let method = Method::parse(m).expect("method");
            assert_eq!(
                validate(&method, 3, &[1, 2, 3], &Ballot::Abstain, ""),
                Ok(())
            );
            let out = run(m, 3, &[(4, Ballot::Abstain)]);
            assert_eq!(out.participation, 4, "{m}");
            assert_eq!(out.abstained, 4, "{m}");
            assert!(out.winners.is_empty(), "{m}");
            assert!(out.ranking.is_empty(), "{m}");
            // Majority and consent report abstentions as their abstain option's figure.
            let expected: Vec<i64> = match m {
                "majority" => vec![0, 0, 4],
                "consent" => vec![0, 4, 0, 0],
                _ => vec![0; 3],
            };
            assert_eq!(out.figures, expected, "{m}");
        }
    }

    #[test]
    fn invalid_casts_are_left_out() {
        let out = run(
            "plurality",
            2,
            &[
                (1, Ballot::Choice(0)),
                (5, Ballot::Choice(7)),
                (5, Ballot::Rank(vec![1])),
            ],
        );
        assert_eq!(out.participation, 1);
        assert_eq!(out.figures, vec![1, 0]);
        assert_eq!(out.winners, vec![0]);
    }

    #[test]
    fn versions_name_the_method() {
        assert_eq!(version(&Method::default()), "majority@1");
        assert_eq!(version(&Method::parse("schulze").expect("m")), "schulze@1");
    }

    #[test]
    fn missing_keys_sort_last() {
        let (w, tie) = best(&[3, 3], &[], |_| true);
        assert_eq!((w, tie), (vec![0], true));
        let (w, _) = best(&[3, 3], &[[9; 32]], |_| true);
        assert_eq!(w, vec![0]);
        let (w, _) = best(&[3, 3, 3], &[[9; 32], [1; 32]], |_| true);
        assert_eq!(w, vec![1]);
    }

    #[test]
    fn rank_groups_equal_figures() {
        assert_eq!(rank_by(&[1, 3, 1, 0]), vec![vec![1], vec![0, 2], vec![3]]);
    }

    #[test]
    fn errors_read_clearly() {
        let e = BallotError::OverBudget {
            cost: 1200,
            total: 1000,
        };
        assert_eq!(
            e.to_string(),
            "the basket costs 1200, more than the budget of 1000"
        );
    }

    #[test]
    fn errors_number_options_from_one_as_ballots_do() {
        let cases = [
            (
                BallotError::NoSuchOption {
                    option: 3,
                    options: 3,
                },
                "option 4 does not exist (the proposal has 3 options, numbered from 1)",
            ),
            (
                BallotError::Duplicate { option: 0 },
                "option 1 is listed twice",
            ),
            (
                BallotError::Unordered { option: 1 },
                "a set lists its options in ascending order; option 2 is out of place",
            ),
            (
                BallotError::OutOfRange {
                    option: 2,
                    score: 9,
                    min: 0,
                    max: 5,
                },
                "option 3: 9 is outside 0 to 5",
            ),
            (
                BallotError::Duplicate { option: u32::MAX },
                "option 4294967296 is listed twice",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }
}
