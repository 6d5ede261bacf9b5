//! Membership operations: create a group, invite, join, admit, remove, leave, grant roles and
//! amend the constitution.
//!
//! Each checks what every node will check (so a person gets a clear error instead of an event
//! everyone refuses) and writes through [`super::write::write`]; key material (prekeys, new
//! epochs) goes through [`super::keys`].

use dualpower_core::payload::{Admission, Constitution, Rule, join_proof_message};
use dualpower_core::{Genesis, Identity, Payload};
use dualpower_groups::InviteCode;
use dualpower_groups::agent::{self, Action};
use serde_json::json;

use super::constitution::ConstitutionArgs;
use super::keys::{execute, run_agent, view, write_content};
use super::secrets::{invite_keys, put_secret};
use super::write::{
    Cx, OpError, check_encoding, group_arg, invalid, known_keys, member_among, require,
    require_member, write,
};
use super::{Op, Outcome};

/// Carries out a membership operation (the caller routes only those here).
pub(crate) fn apply(cx: Cx<'_>, op: Op) -> Result<Outcome, OpError> {
    match op {
        Op::Create { name, constitution } => create(cx, &name, &constitution),
        Op::Invite {
            group,
            expires_secs,
            uses,
            addrs,
        } => invite(cx, &group, expires_secs, uses, addrs),
        Op::Join { code } => join(cx, &code),
        Op::Admit { group, member } => admit(cx, &group, &member),
        Op::Remove {
            group,
            member,
            reason,
        } => remove(cx, &group, &member, reason),
        Op::Leave { group } => leave(cx, &group),
        Op::Role {
            group,
            member,
            role,
            grant,
        } => set_role(cx, &group, &member, role, grant),
        Op::Amend {
            group,
            constitution,
            confirmed,
        } => amend(cx, &group, &constitution, confirmed),
        other => Err(invalid(format!("not a membership operation: {other:?}"))),
    }
}

fn create(cx: Cx<'_>, name: &str, constitution: &ConstitutionArgs) -> Result<Outcome, OpError> {
    let c = constitution.apply(&Constitution::default())?;
    let mut nonce = [0u8; 16];
    rand::fill(&mut nonce);
    let genesis = Genesis {
        name: name.trim().to_owned(),
        nonce,
        constitution: c,
    };
    let group = genesis.group_id(&cx.me());
    let payload = Payload::GroupGenesis(genesis);
    // Check the name (and everything else) the way every node will.
    check_encoding(&payload)?;
    let (ev, _) = write(cx, group, payload, Vec::new())?;
    let mut events = vec![ev];
    // Prekey first, then the first epoch sealed to it.
    events.extend(run_agent(cx.store, cx.id, group, cx.now)?);
    events.extend(run_agent(cx.store, cx.id, group, cx.now)?);
    Ok(Outcome {
        events,
        value: json!({ "group": group.to_hex(), "name": name.trim() }),
    })
}

fn invite(
    cx: Cx<'_>,
    group: &str,
    expires_secs: u64,
    uses: u64,
    addrs: Vec<String>,
) -> Result<Outcome, OpError> {
    let group = group_arg(group)?;
    let v = view(cx.store, cx.id, group, cx.now)?;
    require(&v.state, &v.state.constitution.invite, &cx.me(), "invite")?;
    if uses == 0 {
        return Err(invalid("an invite must allow at least one use"));
    }
    let key = Identity::generate();
    let expires = cx.now.saturating_add(expires_secs.saturating_mul(1000));
    let payload = Payload::Invite {
        key: key.public(),
        expires,
        uses,
    };
    let (ev, _) = write(cx, group, payload, Vec::new())?;
    let code = InviteCode {
        group,
        invite: ev.id(),
        secret: *key.seed(),
        addrs: addrs
            .into_iter()
            .take(dualpower_groups::invite::MAX_ADDRS)
            .collect(),
    };
    Ok(Outcome {
        events: vec![ev],
        value: json!({ "group": group.to_hex(), "code": code.to_text(), "expires": expires, "uses": uses }),
    })
}

fn join(cx: Cx<'_>, code: &str) -> Result<Outcome, OpError> {
    let (store, me) = (cx.store, cx.me());
    let code = InviteCode::parse(code).map_err(|e| invalid(e.to_string()))?;
    let group = code.group;
    let v = view(store, cx.id, group, cx.now)?;
    if v.state.is_member(&me) {
        return Err(invalid("you are already a member of this group"));
    }
    store.follow(group)?;
    // A newer code replaces any earlier one for this group (which may be used up): the node
    // proves with the invite of the join members will act on.
    for (old, _) in invite_keys(store, cx.id, &group)? {
        store.delete_secret(&group.0, &[b"i".as_slice(), &old.0].concat())?;
    }
    // Kept so the node can prove the invite when it syncs the group before admission.
    let name = [b"i".as_slice(), &code.invite.0].concat();
    put_secret(store, cx.id, &group.0, &name, &code.secret)?;
    let proof = code
        .key()
        .sign(&join_proof_message(store.network(), &group, &me));
    // Not checked against the derived state: this node may not hold the invite event yet.
    let payload = Payload::Join {
        invite: code.invite,
        proof,
    };
    let mut events = vec![store.append(cx.id, group, 0, payload.encode(), 0, cx.now)?];
    // The prekey members will seal the group key to (published even before this node holds
    // the invite event, which it may not have synced yet).
    events.extend(execute(
        store,
        cx.id,
        group,
        vec![Action::PublishPrekey],
        cx.now,
    )?);
    Ok(Outcome {
        events,
        value: json!({ "group": group.to_hex(), "addrs": code.addrs }),
    })
}

fn admit(cx: Cx<'_>, group: &str, member: &str) -> Result<Outcome, OpError> {
    let group = group_arg(group)?;
    let v = view(cx.store, cx.id, group, cx.now)?;
    let member = member_among(member, known_keys(&v.state))?;
    // Admitting is idempotent: a running inviter's node admits a join made with its invite as
    // soon as it sees it, so by the time a person runs `admit` the work may be done.
    if v.state.is_member(&member) {
        // The node's agent may not have sealed the key to them yet (it acts on its next
        // round): do it now, so a bundle exported next lets them read.
        return Ok(Outcome {
            events: welcome(cx, group, &member)?,
            value: json!({
                "group": group.to_hex(), "admitted": member.to_did(), "already_member": true,
            }),
        });
    }
    if v.state.constitution.admission == Admission::Vote && v.state.is_member(&cx.me()) {
        return Err(super::decisions::needs_vote(
            "admit members",
            &format!(
                "dualpower propose {} \"Admit {}\" --admit-member {}",
                &group.to_hex()[..12],
                &member.to_did()[member.to_did().len() - 8..],
                member.to_did()
            ),
        ));
    }
    let rule = match v.state.constitution.admission {
        Admission::Invite => v.state.constitution.invite.clone(),
        Admission::Vouches(_) => Rule::Member,
        Admission::Vote => Rule::Vote,
    };
    require(&v.state, &rule, &cx.me(), "admit members")?;
    let p = v.state.pending.get(&member).ok_or_else(|| {
        invalid(if v.state.removed.contains_key(&member) {
            format!(
                "{member} was removed from this group and has not asked to join again: \
                     to let them back, send them a new invite (`dualpower group invite GROUP`)"
            )
        } else {
            format!(
                "{member} has no pending join in this group: they join with an invite code \
                     (`dualpower group join CODE`); if their join came by bundle, import it \
                     first (`dualpower import FILE`)"
            )
        })
    })?;
    let payload = Payload::Admit {
        member,
        join: p.join,
    };
    let (ev, _) = write(cx, group, payload, Vec::new())?;
    let mut events = vec![ev];
    events.extend(welcome(cx, group, &member)?);
    Ok(Outcome {
        events,
        value: json!({ "group": group.to_hex(), "admitted": member.to_did() }),
    })
}

/// Hands the group key to a member we just admitted, in the same operation: the membership
/// agent of a running node would do it on its next round, but an admission made offline (the
/// join came by bundle) may be exported before any such round, and the newcomer would hold
/// nothing to read with. Seals the writing epoch to the newcomer's prekey (with earlier epochs
/// if the constitution keeps history; a fresh epoch for everyone if it does not), as the agent
/// does. Nothing if the admission is not complete yet (more vouches needed), the newcomer has
/// published no prekey we hold, or we do not hold the writing epoch.
fn welcome(
    cx: Cx<'_>,
    group: dualpower_core::GroupId,
    member: &dualpower_core::PublicKey,
) -> Result<Vec<dualpower_core::VerifiedEvent>, OpError> {
    // Heal first, as every write does: after concurrent rotations (a leave crossing a removal,
    // say) there may be no epoch fit to write under until this member's agent starts one, and
    // sealing nothing would leave the newcomer unable to read until then.
    let mut events = Vec::new();
    if view(cx.store, cx.id, group, cx.now)?
        .state
        .is_member(&cx.me())
    {
        events = super::keys::writing_epoch(cx, group)?.0;
    }
    let v = view(cx.store, cx.id, group, cx.now)?;
    let Some(epoch) = v
        .state
        .writing_epoch()
        .filter(|e| v.keyring.epochs.contains_key(e))
    else {
        return Ok(events);
    };
    let missing: Vec<[u8; 32]> = v
        .state
        .missing_knowers(&epoch)
        .into_iter()
        .filter(|(who, _)| who == member)
        .map(|(_, p)| p)
        .collect();
    // A healing epoch just sealed to them carries no history bundle (only an extension does):
    // under `history`, extend it to them once more with the earlier epochs.
    let resend = !events.is_empty() && v.state.constitution.history;
    let missing = match v.state.members.get(member).and_then(|m| m.prekey) {
        Some(p) if missing.is_empty() && resend => vec![p],
        _ => missing,
    };
    if missing.is_empty() {
        return Ok(events);
    }
    let action = if v.state.constitution.history {
        Action::Extend {
            epoch,
            recipients: missing,
            history: true,
        }
    } else {
        agent::rotate(&v.state)
    };
    events.extend(execute(cx.store, cx.id, group, vec![action], cx.now)?);
    Ok(events)
}

fn remove(cx: Cx<'_>, group: &str, member: &str, reason: String) -> Result<Outcome, OpError> {
    let group = group_arg(group)?;
    let v = view(cx.store, cx.id, group, cx.now)?;
    let member = member_among(member, known_keys(&v.state))?;
    if v.state.constitution.removal == Rule::Vote && v.state.is_member(&cx.me()) {
        return Err(super::decisions::needs_vote(
            "remove members",
            &format!(
                "dualpower propose {} \"Remove: {}\" --remove-member {}",
                &group.to_hex()[..12],
                if reason.trim().is_empty() {
                    "why".to_owned()
                } else {
                    // Inside the suggested command's quotes.
                    reason.trim().replace(['"', '\\', '$', '`'], "'")
                },
                member.to_did()
            ),
        ));
    }
    require(
        &v.state,
        &v.state.constitution.removal,
        &cx.me(),
        "remove members",
    )?;
    if !v.state.is_member(&member) {
        return Err(invalid(format!("{member} is not a member")));
    }
    let seen = cx
        .store
        .logs(Some(group))?
        .iter()
        .find(|l| l.author == member && l.log == 0)
        .map_or(0, |l| l.len);
    // The reason is not written in the clear removal (every node must read the removal, only
    // members the reason): it follows as a sealed comment under the new epoch.
    check_encoding(&Payload::Remove {
        member,
        seen,
        reason: reason.clone(),
    })?;
    let payload = Payload::Remove {
        member,
        seen,
        reason: String::new(),
    };
    let (ev, st) = write(cx, group, payload, Vec::new())?;
    let removal = ev.id();
    // Heal at once: a new epoch the removed member does not get.
    let mut events = vec![ev];
    events.extend(execute(
        cx.store,
        cx.id,
        group,
        vec![agent::rotate(&st)],
        cx.now,
    )?);
    if !reason.trim().is_empty() {
        let comment = Payload::Comment {
            parent: removal,
            text: reason,
        };
        events.extend(write_content(cx, group, comment.encode())?);
    }
    Ok(Outcome {
        events,
        value: json!({ "group": group.to_hex(), "removed": member.to_did(), "cut": seen }),
    })
}

fn leave(cx: Cx<'_>, group: &str) -> Result<Outcome, OpError> {
    let group = group_arg(group)?;
    let v = view(cx.store, cx.id, group, cx.now)?;
    require_member(&v.state, &cx.me())?;
    let (ev, _) = write(cx, group, Payload::Leave, Vec::new())?;
    Ok(Outcome {
        events: vec![ev],
        value: json!({ "group": group.to_hex(), "left": true }),
    })
}

fn set_role(
    cx: Cx<'_>,
    group: &str,
    member: &str,
    role: String,
    grant: bool,
) -> Result<Outcome, OpError> {
    let group = group_arg(group)?;
    let v = view(cx.store, cx.id, group, cx.now)?;
    let member = member_among(member, known_keys(&v.state))?;
    if v.state.constitution.amend == Rule::Vote && v.state.is_member(&cx.me()) {
        let (flag, verb) = if grant {
            ("--grant-role", "Grant")
        } else {
            ("--revoke-role", "Revoke")
        };
        return Err(super::decisions::needs_vote(
            "grant or revoke roles",
            &format!(
                "dualpower propose {} \"{verb} {role}\" {flag} {}={role}",
                &group.to_hex()[..12],
                member.to_did()
            ),
        ));
    }
    require(
        &v.state,
        &v.state.constitution.amend,
        &cx.me(),
        "change roles",
    )?;
    if !v.state.constitution.roles.contains(&role) {
        return Err(invalid(format!(
            "the constitution has no role `{role}` (it has: {})",
            v.state.constitution.roles.join(", ")
        )));
    }
    let payload = Payload::Role {
        member,
        role: role.clone(),
        grant,
    };
    let (ev, _) = write(cx, group, payload, Vec::new())?;
    Ok(Outcome {
        events: vec![ev],
        value: json!({ "group": group.to_hex(), "member": member.to_did(), "role": role, "grant": grant }),
    })
}

fn amend(
    cx: Cx<'_>,
    group: &str,
    constitution: &ConstitutionArgs,
    confirmed: bool,
) -> Result<Outcome, OpError> {
    let group = group_arg(group)?;
    let v = view(cx.store, cx.id, group, cx.now)?;
    if v.state.constitution.amend == Rule::Vote && v.state.is_member(&cx.me()) {
        return Err(super::decisions::needs_vote(
            "change the rules",
            &format!(
                "dualpower propose {} \"Change the rules\" --constitution {}",
                &group.to_hex()[..12],
                if constitution.is_empty() {
                    "--history false".to_owned()
                } else {
                    constitution.to_flags()
                }
            ),
        ));
    }
    require(
        &v.state,
        &v.state.constitution.amend,
        &cx.me(),
        "amend the constitution",
    )?;
    if constitution.is_empty() {
        return Err(invalid(format!(
            "say which rule changes: {}",
            ConstitutionArgs::FLAGS
        )));
    }
    let c = constitution.apply_among(
        &v.state.constitution,
        &v.state.members.keys().copied().collect::<Vec<_>>(),
    )?;
    let lost = super::constitution::powers_lost(&v.state, &cx.me(), &c);
    if !lost.is_empty() && !confirmed {
        return Err(OpError::Denied(format!(
            "after this change you could no longer {}; run it again with --yes if that is what \
             you want",
            lost.join(", ")
        )));
    }
    let (ev, _) = write(cx, group, Payload::Amend(c), Vec::new())?;
    Ok(Outcome {
        events: vec![ev],
        value: json!({ "group": group.to_hex(), "amended": true }),
    })
}
