//! Helpers shared by the tests of ledger links (`links.rs`, `links_attacks.rs`): link terms, a
//! balance, and a proposal whose action is a ledger act.

use dualpower_core::decision::{Electorate, Method, Proposal, ProposalText};
use dualpower_core::ledger::{LedgerAct, LinkTerms};
use dualpower_core::{Payload, PublicKey};
use dualpower_state::GroupState;

/// Link terms: what the group calls the other, the credit it extends, its bridges.
pub fn terms(name: &str, limit: u64, bridges: &[PublicKey]) -> LinkTerms {
    LinkTerms {
        name: name.into(),
        limit,
        bridges: bridges.to_vec(),
    }
}

/// `who`'s balance (0 if it never paid or was paid).
pub fn bal(st: &GroupState, who: &PublicKey) -> i128 {
    st.credit.balances.get(who).copied().unwrap_or(0)
}

/// A proposal whose action is `act`, by the constitution's default method, every member voting.
pub fn proposal(act: LedgerAct) -> Proposal {
    Proposal {
        text: ProposalText {
            title: "Our ledger".into(),
            body: String::new(),
            options: Vec::new(),
        },
        method: Method::default(),
        electorate: Electorate::Members,
        topic: String::new(),
        voting: true,
        deadline: 0,
        action: Payload::Ledger(act).encode(),
    }
}
