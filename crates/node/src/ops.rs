//! Group operations: the one implementation of every membership, content and decision action,
//! used by the CLI (straight on the store when no node runs) and by the node (through its API,
//! and for what its membership agent decides to write).
//!
//! This module only names the operations ([`Op`]) and routes each to its domain:
//! [`membership`], [`content`] and [`decisions`] (plus `rekey` in [`keys`], and local petnames
//! in [`names`]). The domains do not
//! call each other; they share the layer under them: [`write`] (argument parsing, permission
//! checks, and the one check → append → derive → report-refusal path), [`keys`] (the view of a
//! group with our keyring opened, and writing key material), [`secrets`] (local encrypted
//! secrets), [`derived`] (each group's state derived once per event set) and [`opened`] (its
//! content decrypted once per event set, for reads). Each operation
//! returns the events it appended so the node can gossip them.

pub mod aid;
pub mod constitution;
pub mod content;
pub mod decisions;
pub mod derived;
pub mod keys;
pub mod ledger;
pub mod link;
pub mod membership;
pub mod names;
pub mod opened;
pub mod secrets;
pub mod work;
pub mod write;

use dualpower_core::Identity;
use dualpower_core::VerifiedEvent;
use dualpower_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use constitution::ConstitutionArgs;
pub use content::{
    DirectView, direct_messages, display_names, feed, feed_and_names, reach_addrs, removal_reasons,
    write_reach,
};
pub use decisions::attest_closed;
pub use keys::{View, execute, run_agent, view};
pub use link::ledger_duties;
pub use names::{group_labels, petnames};
pub use secrets::{invite_keys, load_keyring};
pub use work::{TaskArgs, work_duties};
pub use write::{OpError, Refused, member_among, member_arg};

/// One operation, as the CLI sends it to a running node.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Create a group.
    Create {
        /// Its name.
        name: String,
        /// Its constitution.
        #[serde(default)]
        constitution: ConstitutionArgs,
    },
    /// Create an invite code.
    Invite {
        /// Group (hex).
        group: String,
        /// Valid for this many seconds.
        expires_secs: u64,
        /// How many people may use it.
        uses: u64,
        /// Our node's addresses to put in the code.
        #[serde(default)]
        addrs: Vec<String>,
    },
    /// Join with a code.
    Join {
        /// The code.
        code: String,
    },
    /// Admit (or vouch for) a pending newcomer.
    Admit {
        /// Group.
        group: String,
        /// The newcomer (did:key or hex).
        member: String,
    },
    /// Remove a member (and rotate the key).
    Remove {
        /// Group.
        group: String,
        /// The member.
        member: String,
        /// Why.
        #[serde(default)]
        reason: String,
    },
    /// Leave the group.
    Leave {
        /// Group.
        group: String,
    },
    /// Grant or revoke a role.
    Role {
        /// Group.
        group: String,
        /// The member.
        member: String,
        /// The role.
        role: String,
        /// Grant (true) or revoke.
        grant: bool,
    },
    /// Change the constitution.
    Amend {
        /// Group.
        group: String,
        /// What changes.
        constitution: ConstitutionArgs,
        /// The author knows the change takes away a power of its own (e.g. makes the rule a
        /// role it does not hold) and wants it anyway; without this such a change is refused.
        #[serde(default)]
        confirmed: bool,
    },
    /// Start a new key epoch now.
    Rekey {
        /// Group.
        group: String,
    },
    /// Write encrypted content (a post, comment or reaction payload, hex of its encoding).
    Write {
        /// Group.
        group: String,
        /// Hex of the payload encoding.
        payload: String,
    },
    /// Put a proposal to the group.
    Propose {
        /// Group.
        group: String,
        /// Title.
        title: String,
        /// Body.
        #[serde(default)]
        body: String,
        /// Options (`label`, or `label=cost` for budgeting); none for majority and consent.
        #[serde(default)]
        options: Vec<String>,
        /// Method text (default for an amendment: the constitution's vote method).
        #[serde(default)]
        method: Option<String>,
        /// `members` (default) or `role:NAME`.
        #[serde(default)]
        electorate: Option<String>,
        /// Topic, for topic-scoped delegation.
        #[serde(default)]
        topic: String,
        /// Start with a discussion phase (voting opens with `open`).
        #[serde(default)]
        discuss: bool,
        /// Deadline, seconds from now (0 = none: only the author closes).
        #[serde(default)]
        deadline_secs: u64,
        /// The constitution change it enacts if it passes.
        #[serde(default)]
        amend: Option<Box<ConstitutionArgs>>,
        /// The member it removes if it passes (when the constitution puts removal to a vote).
        #[serde(default)]
        remove: Option<String>,
        /// The pending newcomer it admits if it passes (when admission is by vote).
        #[serde(default)]
        admit: Option<String>,
        /// `MEMBER=ROLE`: the role it grants if it passes (when role changes are by vote, i.e.
        /// the constitution's `amend` rule is `vote`).
        #[serde(default)]
        grant_role: Option<String>,
        /// `MEMBER=ROLE`: the role it revokes if it passes (same rule as granting).
        #[serde(default)]
        revoke_role: Option<String>,
        /// Tasks its close creates if it passes (any yes/no method).
        #[serde(default)]
        tasks: Vec<TaskArgs>,
        /// `MEMBER=AMOUNT`: the credit limit it sets if it passes (when limits are by vote).
        #[serde(default)]
        set_limit: Option<String>,
    },
    /// Revise one's proposal during discussion.
    Revise {
        /// Group.
        group: String,
        /// Proposal id or prefix.
        proposal: String,
        /// New title.
        #[serde(default)]
        title: Option<String>,
        /// New body.
        #[serde(default)]
        body: Option<String>,
        /// New options.
        #[serde(default)]
        options: Option<Vec<String>>,
    },
    /// End discussion and open voting on the current text.
    OpenVoting {
        /// Group.
        group: String,
        /// Proposal id or prefix.
        proposal: String,
    },
    /// Withdraw one's proposal.
    Withdraw {
        /// Group.
        group: String,
        /// Proposal id or prefix.
        proposal: String,
    },
    /// Vote (again: the latest vote counts).
    Vote {
        /// Group.
        group: String,
        /// Proposal id or prefix.
        proposal: String,
        /// The ballot, as typed (see `dualpower vote --help`).
        ballot: String,
        /// Why (required for a block).
        #[serde(default)]
        reason: String,
    },
    /// Delegate one's weight (or stop delegating).
    Delegate {
        /// Group.
        group: String,
        /// The delegate; none with `nobody` false means "clear this scope".
        #[serde(default)]
        to: Option<String>,
        /// Only for this topic.
        #[serde(default)]
        topic: Option<String>,
        /// Only for this proposal.
        #[serde(default)]
        proposal: Option<String>,
        /// Explicitly delegate to nobody at this scope.
        #[serde(default)]
        nobody: bool,
    },
    /// Close a proposal: what counts is what this node has seen.
    Close {
        /// Group.
        group: String,
        /// Proposal id or prefix.
        proposal: String,
    },
    /// Set our display name in a group (a sealed profile event; the latest counts).
    SetName {
        /// Group.
        group: String,
        /// The name (trimmed; 1–64 characters, no control or invisible characters).
        name: String,
    },
    /// Give a key a local petname, or clear it (`name` none). Local only: no event is written,
    /// and it is kept encrypted like the node's other secrets.
    Petname {
        /// The key (did:key, hex, or a piece of one as shown).
        member: String,
        /// The petname; none clears it.
        #[serde(default)]
        name: Option<String>,
    },
    /// Create a task directly (where the rules let us; otherwise propose it).
    TaskCreate {
        /// Group.
        group: String,
        /// The task.
        task: TaskArgs,
    },
    /// Take a slot on a task.
    TaskClaim {
        /// Group.
        group: String,
        /// Task id (`HEX:N` or a prefix, as `task list` shows).
        task: String,
    },
    /// Give our slot up.
    TaskRelease {
        /// Group.
        group: String,
        /// Task id.
        task: String,
    },
    /// Pass our slot to another member.
    TaskHandover {
        /// Group.
        group: String,
        /// Task id.
        task: String,
        /// The member taking it over.
        to: String,
    },
    /// Mark our part done.
    TaskDone {
        /// Group.
        group: String,
        /// Task id.
        task: String,
        /// What was done.
        #[serde(default)]
        note: String,
    },
    /// Confirm a member's completion (never our own).
    TaskConfirm {
        /// Group.
        group: String,
        /// Task id.
        task: String,
        /// Whose completion (empty: the only one who marked it done).
        #[serde(default)]
        member: String,
    },
    /// Dispute a member's completion (opens a mediation case).
    TaskDispute {
        /// Group.
        group: String,
        /// Task id.
        task: String,
        /// Whose completion (empty: the only one who marked it done).
        #[serde(default)]
        member: String,
        /// Why.
        reason: String,
    },
    /// Volunteer for the next term of a rotating role.
    RoleVolunteer {
        /// Group.
        group: String,
        /// The role.
        role: String,
    },
    /// The next step of a role's draw: close the list, reveal our secret, or draw.
    RoleDraw {
        /// Group.
        group: String,
        /// The role.
        role: String,
    },
    /// Ask for mediation between members.
    MediateRequest {
        /// Group.
        group: String,
        /// The parties (two or more).
        parties: Vec<String>,
        /// What it is about.
        about: String,
    },
    /// Volunteer to mediate a case (not as a party).
    MediateVolunteer {
        /// Group.
        group: String,
        /// Case id (prefix).
        case: String,
    },
    /// The next step of a case's mediator draw.
    MediateDraw {
        /// Group.
        group: String,
        /// Case id (prefix).
        case: String,
    },
    /// Record a case's outcome (its drawn mediator).
    MediateOutcome {
        /// Group.
        group: String,
        /// Case id (prefix).
        case: String,
        /// `agreed`, `overturned` (a disputed completion does not count) or `no-agreement`.
        settlement: String,
        /// The outcome in words.
        text: String,
    },
    /// Co-sign a case's outcome (a party).
    MediateAgree {
        /// Group.
        group: String,
        /// Case id (prefix).
        case: String,
    },
    /// Vouch for a member's work in a domain.
    Vouch {
        /// Group.
        group: String,
        /// The member.
        member: String,
        /// The domain.
        domain: String,
    },
    /// Post an offer (`need` false) or a need.
    AidIntent {
        /// Group.
        group: String,
        /// A need (true) or an offer.
        need: bool,
        /// What it is.
        intent: aid::IntentArgs,
    },
    /// Commit to (part of) an offer or need.
    Commit {
        /// Group.
        group: String,
        /// The offer or need (id prefix, as `board` shows).
        intent: String,
        /// How much (default: all that is left).
        #[serde(default)]
        quantity: Option<u64>,
    },
    /// Say a commitment we provide is fulfilled.
    Fulfil {
        /// Group.
        group: String,
        /// The commitment (id prefix).
        commitment: String,
        /// What was done.
        #[serde(default)]
        note: String,
    },
    /// Confirm a fulfilment we received (a receipt for the provider's reputation).
    AidConfirm {
        /// Group.
        group: String,
        /// The commitment (id prefix).
        commitment: String,
    },
    /// Cancel our offer or need, or a commitment we are a party to.
    AidCancel {
        /// Group.
        group: String,
        /// The offer, need or commitment (id prefix).
        target: String,
    },
    /// Add a thing the group holds in common (we become its first custodian).
    ResourceAdd {
        /// Group.
        group: String,
        /// Its name.
        name: String,
        /// What kind of thing (a category: tools, transport, housing, …).
        category: String,
        /// Where it is.
        #[serde(default)]
        place: String,
    },
    /// Note a resource's condition.
    ResourceNote {
        /// Group.
        group: String,
        /// The resource (id prefix).
        resource: String,
        /// The note.
        note: String,
    },
    /// Add or remove a custodian (a custodian does).
    ResourceCustodian {
        /// Group.
        group: String,
        /// The resource (id prefix).
        resource: String,
        /// The member.
        member: String,
        /// Add (true) or remove.
        add: bool,
    },
    /// Book a resource.
    Book {
        /// Group.
        group: String,
        /// The resource (id prefix).
        resource: String,
        /// From, `YYYY-MM-DD HH:MM` UTC.
        from: String,
        /// For this many hours (1 to 2160).
        hours: u64,
        /// What for.
        #[serde(default)]
        note: String,
    },
    /// Pay a member (or settle an invoice addressed to us).
    Pay {
        /// Group.
        group: String,
        /// The payee (not needed with `invoice`).
        #[serde(default)]
        to: Option<String>,
        /// The amount, e.g. `1.5` (not needed with `invoice`).
        #[serde(default)]
        amount: Option<String>,
        /// What for.
        #[serde(default)]
        memo: String,
        /// The invoice this settles (id prefix): pays its amount to its author.
        #[serde(default)]
        invoice: Option<String>,
    },
    /// Ask a member to pay us.
    Invoice {
        /// Group.
        group: String,
        /// Who is asked to pay.
        payer: String,
        /// The amount, e.g. `3` or `0.5`.
        amount: String,
        /// What for.
        #[serde(default)]
        memo: String,
    },
    /// Set a credit limit: lowering our own is free; anything else follows the rule
    /// `credit.limits` (by default a vote: `propose … --set-limit`).
    SetLimit {
        /// Group.
        group: String,
        /// Whose (default: ours).
        #[serde(default)]
        member: Option<String>,
        /// The limit, e.g. `20`.
        limit: String,
    },
    /// Link the group's ledger to another group's (or, with no bridges, unlink it): proposed
    /// for a vote when the rule `credit.limits` is a vote, else done directly by a holder.
    Link {
        /// Group.
        group: String,
        /// The other group's id.
        with: String,
        /// What we call the other group.
        name: String,
        /// The credit we extend to it, e.g. `50`.
        limit: String,
        /// Members of both groups who carry payments across (none: unlink).
        #[serde(default)]
        bridges: Vec<String>,
        /// Deadline of the proposal, seconds from now (0 = none: its author closes it).
        #[serde(default)]
        deadline_secs: u64,
    },
    /// Pay a member of a linked group, through the two clearing accounts.
    PayAcross {
        /// Group.
        group: String,
        /// The linked group's id (or a prefix, or its name here).
        to_group: String,
        /// The payee there (did:key or hex; a label if this node is in that group too).
        to: String,
        /// The amount, e.g. `1.5`.
        amount: String,
        /// What for.
        #[serde(default)]
        memo: String,
    },
    /// Pay a member from the commons account: proposed for a vote when the rule
    /// `credit.limits` is a vote, else done directly by a holder.
    Grant {
        /// Group.
        group: String,
        /// The member.
        to: String,
        /// The amount, e.g. `10`.
        amount: String,
        /// What for.
        #[serde(default)]
        memo: String,
        /// Deadline of the proposal, seconds from now (0 = none).
        #[serde(default)]
        deadline_secs: u64,
    },
    /// Send a direct message.
    Dm {
        /// Group to carry it (default: the first group both are members of).
        group: Option<String>,
        /// The recipient.
        to: String,
        /// The text.
        text: String,
    },
}

/// What an operation did.
pub struct Outcome {
    /// Events appended (to gossip).
    pub events: Vec<VerifiedEvent>,
    /// What to show the person.
    pub value: Value,
}

/// Carries out `op` as `id` at time `now` (ms).
pub fn apply(store: &Store, id: &Identity, op: Op, now: u64) -> Result<Outcome, OpError> {
    let cx = write::Cx { store, id, now };
    match op {
        op @ (Op::Propose { .. }
        | Op::Revise { .. }
        | Op::OpenVoting { .. }
        | Op::Withdraw { .. }
        | Op::Vote { .. }
        | Op::Delegate { .. }
        | Op::Close { .. }) => decisions::apply(cx, op),
        op @ (Op::Create { .. }
        | Op::Invite { .. }
        | Op::Join { .. }
        | Op::Admit { .. }
        | Op::Remove { .. }
        | Op::Leave { .. }
        | Op::Role { .. }
        | Op::Amend { .. }) => membership::apply(cx, op),
        op @ (Op::Write { .. } | Op::Dm { .. } | Op::SetName { .. }) => content::apply(cx, op),
        op @ (Op::TaskCreate { .. }
        | Op::TaskClaim { .. }
        | Op::TaskRelease { .. }
        | Op::TaskHandover { .. }
        | Op::TaskDone { .. }
        | Op::TaskConfirm { .. }
        | Op::TaskDispute { .. }
        | Op::RoleVolunteer { .. }
        | Op::RoleDraw { .. }
        | Op::MediateRequest { .. }
        | Op::MediateVolunteer { .. }
        | Op::MediateDraw { .. }
        | Op::MediateOutcome { .. }
        | Op::MediateAgree { .. }
        | Op::Vouch { .. }) => work::apply(cx, op),
        op @ (Op::Pay { .. } | Op::Invoice { .. } | Op::SetLimit { .. }) => ledger::apply(cx, op),
        op @ (Op::Link { .. } | Op::PayAcross { .. } | Op::Grant { .. }) => link::apply(cx, op),
        op @ (Op::AidIntent { .. }
        | Op::Commit { .. }
        | Op::Fulfil { .. }
        | Op::AidConfirm { .. }
        | Op::AidCancel { .. }
        | Op::ResourceAdd { .. }
        | Op::ResourceNote { .. }
        | Op::ResourceCustodian { .. }
        | Op::Book { .. }) => aid::apply(cx, op),
        Op::Petname { member, name } => names::petname(cx, &member, name.as_deref()),
        Op::Rekey { group } => keys::rekey(cx, &group),
    }
}
