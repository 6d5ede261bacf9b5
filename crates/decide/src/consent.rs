//! Consent (Loomio-style proposal): agree, abstain, disagree or block.
//!
//! It exists because consent asks a different question from majority: not "do most want it"
//! but "can everyone live with it". Rules (`consent@1`):
//!
//! - Ballot: [`Ballot::Choice`] with [`AGREE`] (0), [`ABSTAIN`] (1), [`DISAGREE`] (2) or
//!   [`BLOCK`] (3), or [`Ballot::Abstain`]. A block must carry a reason that is not blank
//!   ([`crate::validate`] checks it; a tally does not see reasons).
//! - `figures = [agree, abstain, disagree, block]`, each the summed weight; the abstain figure
//!   includes [`Ballot::Abstain`] casts and equals `abstained`.
//! - `passed = quorum_met ∧ agree > disagree ∧ (block = 0 ∨ agree/(agree+disagree+block) ≥
//!   override)`: one block stops the proposal unless the constitution sets a block override
//!   and agree reaches that share of everyone who took a side (blocks included), compared by
//!   cross-multiplication. Without an override a block is final.
//! - `winners` and `ranking` stay empty: read `passed`.

use crate::{Ballot, BallotError, Cast, Outcome, Ratio};

/// Index of "agree".
pub const AGREE: u32 = 0;
/// Index of "abstain".
pub const ABSTAIN: u32 = 1;
/// Index of "disagree".
pub const DISAGREE: u32 = 2;
/// Index of "block" (needs a reason).
pub const BLOCK: u32 = 3;

const EXPECTED: &str = "a choice: 0 agree, 1 abstain, 2 disagree, 3 block";

pub(crate) fn check(ballot: &Ballot) -> Result<(), BallotError> {
    crate::choice("consent", EXPECTED, 4, ballot).map(|_| ())
}

pub(crate) fn count(block_override: Option<Ratio>, casts: &[Cast<'_>], out: &mut Outcome) {
    let mut t = [0u64, out.abstained, 0, 0];
    for c in casts {
        if let Ballot::Choice(i) = c.ballot
            && let Some(s) = t.get_mut(*i as usize)
        {
            *s = s.saturating_add(c.weight);
        }
    }
    let [agree, abstain, disagree, block] = t;
    out.abstained = abstain;
    out.figures = t.iter().map(|v| crate::to_i64(*v)).collect();
    let sided = agree.saturating_add(disagree).saturating_add(block);
    out.passed = Some(
        out.quorum_met
            && agree > disagree
            && (block == 0 || block_override.is_some_and(|r| r.reached_by(agree, sided))),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run, run_with};
    use crate::{Method, validate};

    #[test]
    fn one_block_stops() {
        let mut v: Vec<(u64, Ballot)> = (0..9).map(|_| (1, Ballot::Choice(AGREE))).collect();
        assert_eq!(run("consent", 4, &v).passed, Some(true));
        v.push((1, Ballot::Choice(BLOCK)));
        let out = run("consent", 4, &v);
        assert_eq!(out.figures, vec![9, 0, 0, 1]);
        assert_eq!(out.passed, Some(false));
    }

    #[test]
    fn block_needs_a_reason() {
        let m = Method::parse("consent").expect("method");
        let block = Ballot::Choice(BLOCK);
        assert_eq!(
            validate(&m, 4, &[], &block, "  \n"),
            Err(BallotError::BlockNeedsReason)
        );
        assert_eq!(validate(&m, 4, &[], &block, "harms the garden"), Ok(()));
        assert_eq!(validate(&m, 4, &[], &Ballot::Choice(DISAGREE), ""), Ok(()));
    }

    #[test]
    fn override_reached_passes_despite_a_block() {
        let three_quarters = Some(Ratio { num: 3, den: 4 });
        // 6 agree, 1 disagree, 1 block: 6/8 = 3/4 reached.
        let mut v: Vec<(u64, Ballot)> = (0..6).map(|_| (1, Ballot::Choice(AGREE))).collect();
        v.push((1, Ballot::Choice(DISAGREE)));
        v.push((1, Ballot::Choice(BLOCK)));
        v.push((1, Ballot::Choice(ABSTAIN)));
        let out = run_with("consent", 4, &[], &[], three_quarters, 0, &v);
        assert_eq!(out.figures, vec![6, 1, 1, 1]);
        assert_eq!(out.abstained, 1);
        assert_eq!(out.passed, Some(true));
        // 5 agree, 1 disagree, 1 block: 5/7 < 3/4.
        v.remove(0);
        let out = run_with("consent", 4, &[], &[], three_quarters, 0, &v);
        assert_eq!(out.passed, Some(false));
    }

    #[test]
    fn agree_must_outweigh_disagree() {
        let v = [(2, Ballot::Choice(AGREE)), (2, Ballot::Choice(DISAGREE))];
        assert_eq!(run("consent", 4, &v).passed, Some(false));
        assert_eq!(run("consent", 4, &[]).passed, Some(false));
    }
}
