//! Group operations: the one implementation of every membership and private-content action,
//! used by the CLI (straight on the store when no node runs) and by the node (through its API,
//! and for what its membership agent decides to write).
//!
//! Each operation derives the group's state from the stored events, checks that the member may
//! do what it asks (so a person gets a clear error instead of an event that everyone else will
//! refuse), appends the events, and returns them so the node can gossip them.
//!
//! Local secrets (prekey private halves, epoch secrets, invite keys of joins in progress) live in
//! the store's `secrets` table, each encrypted with XChaCha20-Poly1305 under a key derived from
//! the identity seed: a copied database without the passphrase reveals none of them.

use std::collections::{BTreeSet, HashMap};

use dualpower_core::event::{FLAG_ENCRYPTED, Position};
use dualpower_core::payload::{Admission, Constitution, Rule, join_proof_message};
use dualpower_core::{EventId, Genesis, GroupId, Identity, Payload, PublicKey, VerifiedEvent};
use dualpower_crypto::{ContentKey, EpochSecret, decrypt, encrypt};
use dualpower_groups::agent::{self, Action, chunks};
use dualpower_groups::body::Encrypted;
use dualpower_groups::keyring::seal_content;
use dualpower_groups::{InviteCode, KeyScheme, Keyring};
use dualpower_state::{Feed, GroupState};
use dualpower_store::{AppendError, Body, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use thiserror::Error;

/// Why an operation was refused.
#[derive(Debug, Error)]
pub enum OpError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Appending failed.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// The input is wrong; the text says how.
    #[error("{0}")]
    Invalid(String),
    /// The member may not do this.
    #[error("{0}")]
    Denied(String),
    /// Keys are missing.
    #[error(transparent)]
    Keys(#[from] dualpower_groups::GroupError),
}

fn invalid(s: impl Into<String>) -> OpError {
    OpError::Invalid(s.into())
}

/// The constitution options a person can set at creation or amend (also the CLI's flags).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct ConstitutionArgs {
    /// Who may invite: `member`, `role:NAME` or `vote` (default: member).
    #[cfg_attr(feature = "clap", arg(long))]
    pub invite: Option<String>,
    /// How newcomers get in: `invite`, `vouches:K` or `vote` (default: invite).
    #[cfg_attr(feature = "clap", arg(long))]
    pub admission: Option<String>,
    /// Who may remove members (default: role:admin).
    #[cfg_attr(feature = "clap", arg(long))]
    pub removal: Option<String>,
    /// Who may change these rules and grant roles (default: role:admin).
    #[cfg_attr(feature = "clap", arg(long))]
    pub amend: Option<String>,
    /// Roles, comma-separated; the creator gets the first (default: admin,moderator).
    #[cfg_attr(feature = "clap", arg(long, value_delimiter = ','))]
    pub roles: Option<Vec<String>>,
    /// Newcomers receive the group's history (`true`/`false`, default true).
    #[cfg_attr(feature = "clap", arg(long))]
    pub history: Option<bool>,
    /// Forget old keys this many days after they are replaced (0 = never).
    #[cfg_attr(feature = "clap", arg(long))]
    pub forget_after_days: Option<u64>,
    /// How decisions put to a vote are taken, e.g. `majority:threshold=2/3,quorum=1/2`.
    #[cfg_attr(feature = "clap", arg(long = "vote-method"))]
    pub vote_method: Option<String>,
    /// Quadratic voting: voice credits per member per period.
    #[cfg_attr(feature = "clap", arg(long))]
    pub credits: Option<u64>,
    /// Quadratic voting: period length in days (0 = a fresh budget per proposal).
    #[cfg_attr(feature = "clap", arg(long))]
    pub credit_period_days: Option<u64>,
    /// Consent: share of agree that overrides blocks, e.g. `3/4` (`none`: a block always stops).
    #[cfg_attr(feature = "clap", arg(long))]
    pub block_override: Option<String>,
}

impl ConstitutionArgs {
    /// The constitution `base` with these changes.
    pub fn apply(&self, base: &Constitution) -> Result<Constitution, OpError> {
        let e = |x: dualpower_core::PayloadError| invalid(x.to_string());
        let mut c = base.clone();
        if let Some(r) = &self.roles {
            c.roles = r.clone();
        }
        if let Some(x) = &self.invite {
            c.invite = Rule::parse(x).map_err(e)?;
        }
        if let Some(x) = &self.admission {
            c.admission = Admission::parse(x).map_err(e)?;
        }
        if let Some(x) = &self.removal {
            c.removal = Rule::parse(x).map_err(e)?;
        }
        if let Some(x) = &self.amend {
            c.amend = Rule::parse(x).map_err(e)?;
        }
        if let Some(h) = self.history {
            c.history = h;
        }
        if let Some(d) = self.forget_after_days {
            c.forget_after_days = d;
        }
        if let Some(m) = &self.vote_method {
            c.vote = dualpower_core::decision::Method::parse(m).map_err(e)?;
        }
        if let Some(n) = self.credits {
            if n == 0 || n > 1_000_000 {
                return Err(invalid("voice credits must be 1 to 1000000"));
            }
            c.credits = n;
        }
        if let Some(d) = self.credit_period_days {
            if d > 3650 {
                return Err(invalid("the credit period is at most 3650 days"));
            }
            c.credit_period_days = d;
        }
        if let Some(b) = &self.block_override {
            c.block_override = match b.as_str() {
                "none" => None,
                r => Some(dualpower_core::decision::Ratio::parse(r).map_err(e)?),
            };
        }
        c.check().map_err(e)?;
        Ok(c)
    }
}

/// One operation, as the CLI sends it to a running node.
#[derive(Clone, Debug, Serialize, Deserialize)]
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

/// A group's derived state, with this member's keys opened.
pub struct View {
    /// The events.
    pub events: Vec<VerifiedEvent>,
    /// Membership.
    pub state: GroupState,
    /// Our keyring (already saved if it learnt something).
    pub keyring: Keyring,
}

fn group_arg(s: &str) -> Result<GroupId, OpError> {
    GroupId::from_hex(s).ok_or_else(|| invalid(format!("`{s}` is not a 64-digit group id")))
}

/// Parses a member given as did:key or 64 hex digits.
pub fn member_arg(s: &str) -> Result<PublicKey, OpError> {
    if let Ok(k) = PublicKey::from_did(s) {
        return Ok(k);
    }
    let mut b = [0u8; 32];
    hex::decode_to_slice(s, &mut b).map_err(|_| {
        invalid(format!(
            "`{s}` is not a member key (did:key:… or 64 hex digits)"
        ))
    })?;
    Ok(PublicKey(b))
}

fn local_key(id: &Identity) -> ContentKey {
    ContentKey::from_bytes(blake3::derive_key(
        "dualpower local secrets v1",
        &id.seed()[..],
    ))
}

fn secret_aad(scope: &[u8; 32], name: &[u8]) -> Vec<u8> {
    [b"dualpower/secret/v1\0".as_slice(), scope, name].concat()
}

fn put_secret(
    store: &Store,
    id: &Identity,
    scope: &[u8; 32],
    name: &[u8],
    value: &[u8],
) -> Result<(), OpError> {
    let ct = encrypt(&local_key(id), &secret_aad(scope, name), value);
    Ok(store.put_secret(scope, name, &ct)?)
}

/// Every secret of `scope` this identity can open, as (name, plaintext).
fn load_secrets(
    store: &Store,
    id: &Identity,
    scope: &[u8; 32],
) -> Result<Vec<dualpower_store::SecretRow>, OpError> {
    let key = local_key(id);
    Ok(store
        .secrets(scope)?
        .into_iter()
        .filter_map(|(name, ct)| {
            let plain = decrypt(&key, &secret_aad(scope, &name), &ct).ok()?;
            Some((name, plain))
        })
        .collect())
}

/// Loads our keyring for `group`.
pub fn load_keyring(store: &Store, id: &Identity, group: &GroupId) -> Result<Keyring, OpError> {
    let entries = load_secrets(store, id, &group.0)?;
    Ok(Keyring::from_entries(entries.iter().filter_map(
        |(n, v)| {
            let v: [u8; 32] = v.as_slice().try_into().ok()?;
            Some((n.as_slice(), v))
        },
    )))
}

/// Saves the entries of `after` that `before` lacks.
fn save_new(
    store: &Store,
    id: &Identity,
    group: &GroupId,
    before: &Keyring,
    after: &Keyring,
) -> Result<(), OpError> {
    let old: BTreeSet<Vec<u8>> = before.entries().into_iter().map(|(n, _)| n).collect();
    for (name, value) in after.entries() {
        if !old.contains(&name) {
            put_secret(store, id, &group.0, &name, &value)?;
        }
    }
    Ok(())
}

/// Derives `group` and opens what our keys can; forgets epochs the constitution says to forget.
pub fn view(store: &Store, id: &Identity, group: GroupId, now: u64) -> Result<View, OpError> {
    let network = *store.network();
    let events = store.group_events(group)?;
    let state = GroupState::derive(&network, group, &events);
    let before = load_keyring(store, id, &group)?;
    let mut keyring = before.clone();
    // A read-only store (a node holds the writer) cannot save; the node saves them itself.
    if keyring.learn(&network, &state, &events) > 0 {
        let _ = save_new(store, id, &group, &before, &keyring);
    }
    let days = state.constitution.forget_after_days;
    if days > 0 {
        let limit = now.saturating_sub(days.saturating_mul(86_400_000));
        for (eid, e) in &state.epochs {
            if e.superseded_at.is_some_and(|t| t < limit) && keyring.epochs.remove(eid).is_some() {
                let _ = store.delete_secret(&group.0, &[b"e".as_slice(), &eid.0].concat());
            }
        }
    }
    Ok(View {
        events,
        state,
        keyring,
    })
}

fn append(
    store: &Store,
    id: &Identity,
    group: GroupId,
    payload: Payload,
    now: u64,
) -> Result<VerifiedEvent, OpError> {
    Ok(store.append(id, group, 0, payload.encode(), 0, now)?)
}

/// Carries out agent actions for `group`, in order. Returns the appended events.
pub fn execute(
    store: &Store,
    id: &Identity,
    group: GroupId,
    actions: Vec<Action>,
    now: u64,
) -> Result<Vec<VerifiedEvent>, OpError> {
    let network = *store.network();
    let mut out = Vec::new();
    for action in actions {
        let before = load_keyring(store, id, &group)?;
        let mut keyring = before.clone();
        match action {
            Action::PublishPrekey => {
                let prekey = keyring.new_prekey(&network, &group, &id.public());
                // The private half is saved before the public half is published.
                save_new(store, id, &group, &before, &keyring)?;
                out.push(append(store, id, group, prekey, now)?);
            }
            Action::Admit { member, join } => {
                out.push(append(
                    store,
                    id,
                    group,
                    Payload::Admit { member, join },
                    now,
                )?);
            }
            Action::StartEpoch { recipients, prev } => {
                if recipients.is_empty() {
                    continue;
                }
                let secret = EpochSecret::generate();
                let mut epoch: Option<EventId> = None;
                for chunk in chunks(&recipients) {
                    let chunk = chunk.to_vec();
                    let s = secret.clone();
                    let prev = prev.clone();
                    let body: Body = Body::Build(Box::new(move |pos: &Position| {
                        match epoch {
                            None => Keyring::start_epoch(&network, pos, &s, &chunk, prev, &[]),
                            Some(e) => Keyring::extend_epoch(&network, pos, e, &s, &chunk, &[]),
                        }
                        .map_err(|e| e.to_string())
                    }));
                    let ev = store.append(id, group, 0, body, 0, now)?;
                    if epoch.is_none() {
                        epoch = Some(ev.id());
                        keyring.epochs.insert(ev.id(), secret.clone());
                        save_new(store, id, &group, &before, &keyring)?;
                    }
                    out.push(ev);
                }
            }
            Action::Extend {
                epoch,
                recipients,
                history,
            } => {
                let Some(secret) = keyring.epochs.get(&epoch).cloned() else {
                    continue;
                };
                let hist = if history {
                    let state = GroupState::derive(&network, group, &store.group_events(group)?);
                    keyring.history(&state, &epoch)
                } else {
                    Vec::new()
                };
                for (i, chunk) in chunks(&recipients).enumerate() {
                    let chunk = chunk.to_vec();
                    let s = secret.clone();
                    let h = if i == 0 { hist.clone() } else { Vec::new() };
                    let body: Body = Body::Build(Box::new(move |pos: &Position| {
                        Keyring::extend_epoch(&network, pos, epoch, &s, &chunk, &h)
                            .map_err(|e| e.to_string())
                    }));
                    out.push(store.append(id, group, 0, body, 0, now)?);
                }
            }
        }
    }
    Ok(out)
}

/// Runs the membership agent once for `group`: what this member's node should write now.
pub fn run_agent(
    store: &Store,
    id: &Identity,
    group: GroupId,
    now: u64,
) -> Result<Vec<VerifiedEvent>, OpError> {
    let v = view(store, id, group, now)?;
    let actions = agent::plan(&v.state, &id.public(), &v.keyring, now);
    if actions.is_empty() {
        return Ok(Vec::new());
    }
    execute(store, id, group, actions, now)
}

fn require_member(v: &View, me: &PublicKey) -> Result<(), OpError> {
    if v.state.is_member(me) {
        return Ok(());
    }
    if v.state.pending.contains_key(me) {
        return Err(OpError::Denied(
            "you have asked to join but are not admitted yet; keep your node running and connected"
                .into(),
        ));
    }
    Err(OpError::Denied("you are not a member of this group".into()))
}

fn require(v: &View, rule: &Rule, me: &PublicKey, what: &str) -> Result<(), OpError> {
    require_member(v, me)?;
    if v.state.allows(rule, me) {
        Ok(())
    } else {
        Err(OpError::Denied(format!(
            "the constitution says only `{}` may {what}",
            rule.to_text()
        )))
    }
}

/// Encrypts and appends group content, healing the group first if needed.
fn write_content(
    store: &Store,
    id: &Identity,
    group: GroupId,
    payload: Vec<u8>,
    now: u64,
) -> Result<Vec<VerifiedEvent>, OpError> {
    let network = *store.network();
    let me = id.public();
    let mut v = view(store, id, group, now)?;
    require_member(&v, &me)?;
    let mut out = Vec::new();
    let heal = agent::ensure_writable(&v.state, &me, &v.keyring);
    if !heal.is_empty() {
        out.extend(execute(store, id, group, heal, now)?);
        v = view(store, id, group, now)?;
    }
    let epoch = v
        .state
        .writing_epoch()
        .ok_or(dualpower_groups::GroupError::NoEpoch)?;
    let secret = v
        .keyring
        .epochs
        .get(&epoch)
        .cloned()
        .ok_or(dualpower_groups::GroupError::NoKey)?;
    let body = Body::Build(Box::new(move |pos: &Position| {
        Ok(seal_content(&network, epoch, &secret, pos, &payload))
    }));
    out.push(store.append(id, group, 0, body, FLAG_ENCRYPTED, now)?);
    Ok(out)
}

/// Carries out `op` as `id` at time `now` (ms).
pub fn apply(store: &Store, id: &Identity, op: Op, now: u64) -> Result<Outcome, OpError> {
    let network = *store.network();
    let me = id.public();
    match op {
        op @ (Op::Propose { .. }
        | Op::Revise { .. }
        | Op::OpenVoting { .. }
        | Op::Withdraw { .. }
        | Op::Vote { .. }
        | Op::Delegate { .. }
        | Op::Close { .. }) => crate::decisions::apply(store, id, op, now),
        Op::Create { name, constitution } => {
            let c = constitution.apply(&Constitution::default())?;
            let mut nonce = [0u8; 16];
            rand::fill(&mut nonce);
            let genesis = Genesis {
                name: name.trim().to_owned(),
                nonce,
                constitution: c,
            };
            let group = genesis.group_id(&me);
            let payload = Payload::GroupGenesis(genesis);
            // Check the name (and everything else) the way every node will.
            Payload::decode(&payload.encode()).map_err(|e| invalid(e.to_string()))?;
            let mut events = vec![append(store, id, group, payload, now)?];
            // Prekey first, then the first epoch sealed to it.
            events.extend(run_agent(store, id, group, now)?);
            events.extend(run_agent(store, id, group, now)?);
            Ok(Outcome {
                events,
                value: json!({ "group": group.to_hex(), "name": name.trim() }),
            })
        }
        Op::Invite {
            group,
            expires_secs,
            uses,
            addrs,
        } => {
            let group = group_arg(&group)?;
            let v = view(store, id, group, now)?;
            require(&v, &v.state.constitution.invite, &me, "invite")?;
            if uses == 0 {
                return Err(invalid("an invite must allow at least one use"));
            }
            let key = Identity::generate();
            let expires = now.saturating_add(expires_secs.saturating_mul(1000));
            let ev = append(
                store,
                id,
                group,
                Payload::Invite {
                    key: key.public(),
                    expires,
                    uses,
                },
                now,
            )?;
            let code = InviteCode {
                group,
                invite: ev.id(),
                secret: *key.seed(),
                addrs: addrs
                    .into_iter()
                    .take(dualpower_groups::invite::MAX_ADDRS)
                    .collect(),
            };
            let text = code.to_text();
            Ok(Outcome {
                events: vec![ev],
                value: json!({ "group": group.to_hex(), "code": text, "expires": expires, "uses": uses }),
            })
        }
        Op::Join { code } => {
            let code = InviteCode::parse(&code).map_err(|e| invalid(e.to_string()))?;
            let group = code.group;
            let v = view(store, id, group, now)?;
            if v.state.is_member(&me) {
                return Err(invalid("you are already a member of this group"));
            }
            store.follow(group)?;
            // A newer code replaces any earlier one for this group (which may be used up): the
            // node proves with the invite of the join members will act on.
            for (old, _) in invite_keys(store, id, &group)? {
                store.delete_secret(&group.0, &[b"i".as_slice(), &old.0].concat())?;
            }
            // Kept so the node can prove the invite when it syncs the group before admission.
            put_secret(
                store,
                id,
                &group.0,
                &[b"i".as_slice(), &code.invite.0].concat(),
                &code.secret,
            )?;
            let proof = code.key().sign(&join_proof_message(&network, &group, &me));
            let mut events = vec![append(
                store,
                id,
                group,
                Payload::Join {
                    invite: code.invite,
                    proof,
                },
                now,
            )?];
            // The prekey members will seal the group key to (published even before this node
            // holds the invite event, which it may not have synced yet).
            events.extend(execute(store, id, group, vec![Action::PublishPrekey], now)?);
            Ok(Outcome {
                events,
                value: json!({ "group": group.to_hex(), "addrs": code.addrs }),
            })
        }
        Op::Admit { group, member } => {
            let group = group_arg(&group)?;
            let member = member_arg(&member)?;
            let v = view(store, id, group, now)?;
            let rule = match v.state.constitution.admission {
                Admission::Invite => v.state.constitution.invite.clone(),
                Admission::Vouches(_) => Rule::Member,
                Admission::Vote => Rule::Vote,
            };
            require(&v, &rule, &me, "admit members")?;
            let p =
                v.state.pending.get(&member).ok_or_else(|| {
                    invalid(format!("{member} has no pending join in this group"))
                })?;
            let ev = append(
                store,
                id,
                group,
                Payload::Admit {
                    member,
                    join: p.join,
                },
                now,
            )?;
            Ok(Outcome {
                events: vec![ev],
                value: json!({ "group": group.to_hex(), "admitted": member.to_did() }),
            })
        }
        Op::Remove {
            group,
            member,
            reason,
        } => {
            let group = group_arg(&group)?;
            let member = member_arg(&member)?;
            let v = view(store, id, group, now)?;
            require(&v, &v.state.constitution.removal, &me, "remove members")?;
            if !v.state.is_member(&member) {
                return Err(invalid(format!("{member} is not a member")));
            }
            let seen = store
                .logs(Some(group))?
                .iter()
                .find(|l| l.author == member && l.log == 0)
                .map_or(0, |l| l.len);
            let mut events = vec![append(
                store,
                id,
                group,
                Payload::Remove {
                    member,
                    seen,
                    reason,
                },
                now,
            )?];
            // Heal at once: a new epoch the removed member does not get.
            let v = view(store, id, group, now)?;
            events.extend(execute(
                store,
                id,
                group,
                vec![agent::rotate(&v.state)],
                now,
            )?);
            Ok(Outcome {
                events,
                value: json!({ "group": group.to_hex(), "removed": member.to_did(), "cut": seen }),
            })
        }
        Op::Leave { group } => {
            let group = group_arg(&group)?;
            let v = view(store, id, group, now)?;
            require_member(&v, &me)?;
            let ev = append(store, id, group, Payload::Leave, now)?;
            Ok(Outcome {
                events: vec![ev],
                value: json!({ "group": group.to_hex(), "left": true }),
            })
        }
        Op::Role {
            group,
            member,
            role,
            grant,
        } => {
            let group = group_arg(&group)?;
            let member = member_arg(&member)?;
            let v = view(store, id, group, now)?;
            require(&v, &v.state.constitution.amend, &me, "change roles")?;
            if !v.state.constitution.roles.contains(&role) {
                return Err(invalid(format!(
                    "the constitution has no role `{role}` (it has: {})",
                    v.state.constitution.roles.join(", ")
                )));
            }
            let ev = append(
                store,
                id,
                group,
                Payload::Role {
                    member,
                    role: role.clone(),
                    grant,
                },
                now,
            )?;
            Ok(Outcome {
                events: vec![ev],
                value: json!({ "group": group.to_hex(), "member": member.to_did(), "role": role, "grant": grant }),
            })
        }
        Op::Amend {
            group,
            constitution,
        } => {
            let group = group_arg(&group)?;
            let v = view(store, id, group, now)?;
            require(
                &v,
                &v.state.constitution.amend,
                &me,
                "amend the constitution",
            )?;
            let c = constitution.apply(&v.state.constitution)?;
            let ev = append(store, id, group, Payload::Amend(c), now)?;
            Ok(Outcome {
                events: vec![ev],
                value: json!({ "group": group.to_hex(), "amended": true }),
            })
        }
        Op::Rekey { group } => {
            let group = group_arg(&group)?;
            let v = view(store, id, group, now)?;
            require_member(&v, &me)?;
            let events = execute(store, id, group, vec![agent::rotate(&v.state)], now)?;
            let epoch = events.first().map(|e| e.id().to_hex());
            Ok(Outcome {
                events,
                value: json!({ "group": group.to_hex(), "epoch": epoch }),
            })
        }
        Op::Write { group, payload } => {
            let group = group_arg(&group)?;
            let bytes = hex::decode(&payload).map_err(|_| invalid("payload is not hex"))?;
            let p = Payload::decode(&bytes).map_err(|e| invalid(e.to_string()))?;
            if !matches!(
                p,
                Payload::Post { .. } | Payload::Comment { .. } | Payload::Reaction { .. }
            ) {
                return Err(invalid(format!("`{}` is not group content", p.kind_name())));
            }
            let events = write_content(store, id, group, bytes, now)?;
            let last = events.last().map(|e| e.id().to_hex());
            Ok(Outcome {
                events,
                value: json!({ "group": group.to_hex(), "id": last }),
            })
        }
        Op::Dm { group, to, text } => {
            let to = member_arg(&to)?;
            let group = match group {
                Some(g) => group_arg(&g)?,
                None => shared_group(store, id, &to, now)?,
            };
            let v = view(store, id, group, now)?;
            require_member(&v, &me)?;
            let recipient = v
                .state
                .members
                .get(&to)
                .ok_or_else(|| invalid(format!("{to} is not a member of this group")))?
                .prekey
                .ok_or_else(|| dualpower_groups::GroupError::NoPrekey(to.to_did()))?;
            let own = v
                .state
                .members
                .get(&me)
                .and_then(|m| m.prekey)
                .filter(|p| v.keyring.prekeys.contains_key(p))
                .ok_or_else(|| dualpower_groups::GroupError::NoPrekey(me.to_did()))?;
            let payload = Payload::Direct { to, text }.encode();
            Payload::decode(&payload).map_err(|e| invalid(e.to_string()))?;
            let body = Body::Build(Box::new(move |pos: &Position| {
                Keyring::seal_direct(&network, pos, &recipient, &own, &payload)
                    .map_err(|e| e.to_string())
            }));
            let ev = store.append(id, group, 0, body, FLAG_ENCRYPTED, now)?;
            Ok(Outcome {
                value: json!({ "group": group.to_hex(), "id": ev.id().to_hex(), "to": to.to_did() }),
                events: vec![ev],
            })
        }
    }
}

/// The first group (by id) where both we and `other` are members.
fn shared_group(
    store: &Store,
    id: &Identity,
    other: &PublicKey,
    now: u64,
) -> Result<GroupId, OpError> {
    for g in store.synced_groups()? {
        let v = view(store, id, g, now)?;
        if v.state.is_member(&id.public()) && v.state.is_member(other) {
            return Ok(g);
        }
    }
    Err(invalid(format!(
        "you share no group with {other}; pass --group"
    )))
}

fn is_direct(ev: &VerifiedEvent) -> bool {
    ev.header().flags & FLAG_ENCRYPTED != 0
        && ev
            .body()
            .is_some_and(|b| matches!(Encrypted::decode(b), Ok(Encrypted::Direct { .. })))
}

/// The decrypted feed of `group` (direct messages are not part of it).
pub fn feed(
    store: &Store,
    id: &Identity,
    group: GroupId,
    now: u64,
) -> Result<(Feed, GroupState), OpError> {
    let network = *store.network();
    let v = view(store, id, group, now)?;
    let events: Vec<VerifiedEvent> = v.events.iter().filter(|e| !is_direct(e)).cloned().collect();
    let mut opened = HashMap::new();
    for ev in &events {
        if ev.header().flags & FLAG_ENCRYPTED != 0
            && let Ok(p) = v.keyring.decrypt(&network, ev)
        {
            opened.insert(ev.id(), p);
        }
    }
    let feed = Feed::derive_opened(group, &events, &opened, &v.state.refusals());
    Ok((feed, v.state))
}

/// One direct message this member can read.
#[derive(Debug, Clone, Serialize)]
pub struct DirectView {
    /// Group that carried it.
    pub group: String,
    /// Event id.
    pub id: String,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Advisory time (ms).
    pub timestamp: u64,
    /// Text.
    pub text: String,
}

/// Every direct message to or from us, oldest first (by advisory time, then id).
pub fn direct_messages(store: &Store, id: &Identity, now: u64) -> Result<Vec<DirectView>, OpError> {
    let network = *store.network();
    let mut out = Vec::new();
    for g in store.synced_groups()? {
        let v = view(store, id, g, now)?;
        let refused = v.state.refusals();
        for ev in v.events.iter().filter(|e| is_direct(e)) {
            if refused.contains_key(&ev.id()) {
                continue;
            }
            let Ok(plain) = v.keyring.decrypt(&network, ev) else {
                continue;
            };
            if let Ok(Payload::Direct { to, text }) = Payload::decode(&plain) {
                out.push(DirectView {
                    group: g.to_hex(),
                    id: ev.id().to_hex(),
                    from: ev.header().author.to_did(),
                    to: to.to_did(),
                    timestamp: ev.header().timestamp,
                    text,
                });
            }
        }
    }
    out.sort_by(|a, b| (a.timestamp, &a.id).cmp(&(b.timestamp, &b.id)));
    Ok(out)
}

/// The invite secrets we hold for groups we are joining: (invite event, key).
pub fn invite_keys(
    store: &Store,
    id: &Identity,
    group: &GroupId,
) -> Result<Vec<(EventId, Identity)>, OpError> {
    Ok(load_secrets(store, id, &group.0)?
        .into_iter()
        .filter_map(|(name, v)| {
            let (k, rest) = name.split_first()?;
            if *k != b'i' {
                return None;
            }
            let inv = EventId(rest.try_into().ok()?);
            let seed: [u8; 32] = v.as_slice().try_into().ok()?;
            Some((inv, Identity::from_seed(&seed)))
        })
        .collect())
}
