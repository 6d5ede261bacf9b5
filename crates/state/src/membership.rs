//! Membership: the genesis, invites, joins, admissions, removals, leaving, roles and amendments
//! of the constitution, judged at each event's causal point.
//!
//! Rules (DESIGN.md, "Authority under concurrency"):
//!
//! * **Judged at the causal point.** Whether the author was a member or held the right is
//!   decided by the [`Authority`] record at exactly the event's causal past.
//! * **Removal wins** over a concurrent admission; a revoke wins over a concurrent grant.
//! * **Rules apply forward.** An admission is complete or not under the admission rule in force
//!   at its own point; a later amendment (say, from `invite` to `vouches:2`) never undoes it.
//! * **Removal carries a cut**, and the cut may not be lower than what the removal's own causal
//!   past holds of the member's log ([`Refusal::CutBelowPast`]). Cuts are applied by the pass
//!   (see [`crate::pass`]), which also settles removals that cut each other.
//! * **Concurrent amendments:** the one latest in the causal order (ties by id) is in force.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use dualpower_core::payload::{Admission, Rule, join_proof_message};
use dualpower_core::{EventId, Genesis, GroupId, Payload, PublicKey, VerifiedEvent, sig};

use crate::authority::{Act, Authority, Bits, Cx};
use crate::domain::{Domain, Effect};
use crate::group::{GroupState, InviteInfo, Member, PendingJoin, Removal};
use crate::refusal::Refusal;

/// Whether membership judges `p`.
pub(crate) fn owns(p: &Payload) -> bool {
    matches!(
        p,
        Payload::GroupGenesis(_)
            | Payload::Invite { .. }
            | Payload::Join { .. }
            | Payload::Admit { .. }
            | Payload::Remove { .. }
            | Payload::Leave
            | Payload::Role { .. }
            | Payload::Amend(_)
    )
}

/// Membership's own state during a pass.
#[derive(Default)]
pub(crate) struct Membership {
    genesis: Option<(EventId, String, PublicKey)>,
    invites: BTreeMap<EventId, InviteInfo>,
    /// Every invite's key, valid or not: a join's proof is checked against it.
    invite_keys: HashMap<EventId, PublicKey>,
    /// Join events with their claimed time (display only).
    join_time: HashMap<EventId, u64>,
    /// Invites that joins named but that were not among the events: one arriving later
    /// changes those joins' verdicts.
    pub(crate) unknown_invites: HashSet<EventId>,
}

impl Membership {
    /// Learns the invite keys among `events` (of `group`); a join's proof is checked against
    /// its invite's key wherever the invite sits in the order.
    pub(crate) fn learn_invites<'a>(
        &mut self,
        group: GroupId,
        events: impl IntoIterator<Item = &'a VerifiedEvent>,
    ) {
        for e in events.into_iter().filter(|e| e.header().group == group) {
            if let Some(Ok(Payload::Invite { key, .. })) = e.body().map(Payload::decode) {
                self.invite_keys.insert(e.id(), key);
            }
        }
    }

    /// Membership for `group`, knowing the invite keys among `events`.
    pub(crate) fn new(group: GroupId, events: &[VerifiedEvent]) -> Membership {
        let mut m = Membership::default();
        m.learn_invites(group, events);
        m
    }

    fn genesis(&mut self, cx: &Cx<'_>, g: Genesis) -> Result<Effect, Refusal> {
        if cx.seq != 0 || g.group_id(&cx.author) != cx.group || self.genesis.is_some() {
            return Err(Refusal::StrayGenesis);
        }
        self.genesis = Some((cx.id, g.name.clone(), cx.author));
        let mut acts = vec![Act::Constitution(Box::new(g.constitution.clone()))];
        // The creator holds the first role, recorded as a grant at genesis.
        if let Some(first) = g.constitution.roles.first() {
            acts.push(Act::Role {
                member: cx.author,
                role: first.clone(),
                grant: true,
            });
        }
        acts.push(Act::Admit {
            member: cx.author,
            by: cx.author,
            invite: None,
            complete: true,
        });
        Ok(Effect::Acts(acts))
    }

    fn admit(&mut self, cx: &Cx<'_>, member: PublicKey, join: EventId) -> Result<Effect, Refusal> {
        let c = cx.constitution();
        let rule = match c.admission {
            Admission::Invite => c.invite.clone(),
            Admission::Vouches(_) => Rule::Member,
            Admission::Vote => Rule::Vote,
        };
        cx.check("admit members", &rule)?;
        let invite = cx
            .auth
            .join_in(&join, &member, cx.past)
            .ok_or(Refusal::JoinMismatch)?;
        let Some(iidx) = cx.auth.index_of(&invite) else {
            return Err(Refusal::InviteRefused(invite));
        };
        if !cx.past.has(iidx) {
            return Err(Refusal::JoinMismatch);
        }
        let Act::Invite { expires, uses, .. } = cx.auth.ctrls[iidx].act else {
            return Err(Refusal::InviteRefused(invite));
        };
        if cx.timestamp > expires {
            return Err(Refusal::InviteExpired {
                expires,
                at: cx.timestamp,
            });
        }
        // Uses counted at the causal point: distinct other members admitted with this invite.
        if cx.auth.invite_uses(&invite, &member, cx.past) >= uses {
            return Err(Refusal::InviteUsedUp { uses });
        }
        if let Some(inv) = self.invites.get_mut(&invite) {
            inv.used_by.insert(member);
        }
        Ok(Effect::act(Act::Admit {
            member,
            by: cx.author,
            invite: Some(invite),
            complete: cx.auth.completes(&member, &cx.author, cx.past),
        }))
    }

    fn remove(
        &mut self,
        cx: &Cx<'_>,
        member: PublicKey,
        seen: u64,
        reason: String,
    ) -> Result<Effect, Refusal> {
        cx.check("remove members", &cx.constitution().removal)?;
        if !cx.is_member(&member) {
            return Err(Refusal::TargetNotMember(member));
        }
        // A remover cannot claim to have seen less than its own past cites: that would void
        // events (admissions, votes) it knew of.
        let past = cx.graph.seen_of(&member, &cx.graph.ancestors(&cx.id));
        if seen < past {
            return Err(Refusal::CutBelowPast { seen, past });
        }
        Ok(Effect::act(Act::Remove {
            member,
            by: cx.author,
            cut: seen,
            reason,
            decided: false,
        }))
    }

    fn role(
        &mut self,
        cx: &Cx<'_>,
        member: PublicKey,
        role: String,
        grant: bool,
    ) -> Result<Effect, Refusal> {
        let c = cx.constitution();
        cx.check("change roles", &c.amend)?;
        if !c.roles.contains(&role) {
            return Err(Refusal::UnknownRole(role));
        }
        if grant && !cx.is_member(&member) {
            return Err(Refusal::TargetNotMember(member));
        }
        Ok(Effect::act(Act::Role {
            member,
            role,
            grant,
        }))
    }

    /// Fills in the membership part of `st` as of the whole set (`all`).
    pub(crate) fn finish(&self, auth: &Authority, all: &Bits, st: &mut GroupState) {
        if let Some((id, name, creator)) = &self.genesis {
            st.genesis = Some(*id);
            st.name = Some(name.clone());
            st.creator = Some(*creator);
        }
        st.constitution = auth.constitution_at(all).clone();
        st.invites = self.invites.clone();
        let mut candidates: BTreeSet<PublicKey> = auth.admits.keys().copied().collect();
        candidates.extend(auth.joins.keys().copied());
        for who in candidates {
            if auth.is_member(&who, all) {
                let roles = st
                    .constitution
                    .roles
                    .iter()
                    .filter(|r| auth.has_role(&who, r, all))
                    .cloned()
                    .collect();
                let admitted_by = auth
                    .vouchers(&who, all)
                    .into_iter()
                    .filter(|by| *by != who)
                    .collect();
                st.members.insert(
                    who,
                    Member {
                        roles,
                        prekey: None,
                        admitted_by,
                    },
                );
            } else if let Some(r) = removal_in_force(auth, &who) {
                st.removed.insert(who, r);
            } else if let Some(p) = pending(auth, &st.invites, &self.join_time, &who, all) {
                st.pending.insert(who, p);
            }
        }
    }
}

/// The removal in force for a former member: the one with the lowest cut.
fn removal_in_force(auth: &Authority, who: &PublicKey) -> Option<Removal> {
    auth.removes
        .get(who)?
        .iter()
        .filter_map(|i| match &auth.ctrls[*i].act {
            Act::Remove {
                by, cut, reason, ..
            } => Some(Removal {
                event: auth.ctrls[*i].id,
                by: *by,
                cut: *cut,
                reason: reason.clone(),
            }),
            _ => None,
        })
        .min_by_key(|r| (r.cut, r.event))
}

/// The join members should act on: one whose invite still has uses, and of those the
/// newcomer's latest (a fresh code after a used one).
fn pending(
    auth: &Authority,
    invites: &BTreeMap<EventId, InviteInfo>,
    join_time: &HashMap<EventId, u64>,
    who: &PublicKey,
    all: &Bits,
) -> Option<PendingJoin> {
    let (_, join, invite) = auth
        .joins
        .get(who)?
        .iter()
        .filter_map(|i| match &auth.ctrls[*i].act {
            Act::Join { invite, .. } => Some((*i, auth.ctrls[*i].id, *invite)),
            _ => None,
        })
        .max_by_key(|(idx, j, invite)| {
            let usable = invites
                .get(invite)
                .is_some_and(|i| (i.used_by.len() as u64) < i.uses || i.used_by.contains(who));
            (usable, *idx, *j)
        })?;
    Some(PendingJoin {
        join,
        invite,
        vouches: auth.vouchers(who, all).into_iter().collect(),
        since: join_time.get(&join).copied().unwrap_or(0),
    })
}

impl Domain for Membership {
    fn judge(&mut self, cx: &Cx<'_>, payload: Payload) -> Result<Effect, Refusal> {
        match payload {
            Payload::GroupGenesis(g) => self.genesis(cx, g),
            Payload::Invite { key, expires, uses } => {
                cx.check("invite", &cx.constitution().invite)?;
                self.invites.insert(
                    cx.id,
                    InviteInfo {
                        author: cx.author,
                        key,
                        expires,
                        uses,
                        used_by: BTreeSet::new(),
                    },
                );
                Ok(Effect::act(Act::Invite { expires, uses }))
            }
            Payload::Join { invite, proof } => {
                let Some(key) = self.invite_keys.get(&invite) else {
                    self.unknown_invites.insert(invite);
                    return Err(Refusal::InviteUnknown(invite));
                };
                let msg = join_proof_message(cx.network, &cx.group, &cx.author);
                if !sig::verify_single(&key.0, &msg, &proof) {
                    return Err(Refusal::InviteForged);
                }
                self.join_time.insert(cx.id, cx.timestamp);
                Ok(Effect::act(Act::Join {
                    member: cx.author,
                    invite,
                }))
            }
            Payload::Admit { member, join } => self.admit(cx, member, join),
            Payload::Remove {
                member,
                seen,
                reason,
            } => self.remove(cx, member, seen, reason),
            Payload::Leave => Ok(Effect::act(Act::Remove {
                member: cx.author,
                by: cx.author,
                cut: cx.seq.saturating_add(1),
                reason: "left".into(),
                decided: false,
            })),
            Payload::Role {
                member,
                role,
                grant,
            } => self.role(cx, member, role, grant),
            Payload::Amend(new) => {
                cx.check("amend the constitution", &cx.constitution().amend)?;
                Ok(Effect::act(Act::Constitution(Box::new(new))))
            }
            _ => Ok(Effect::None),
        }
    }
}
