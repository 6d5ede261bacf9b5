//! Keys: members' prekeys and the epochs of the group secret (key shares), judged at each
//! event's causal point.
//!
//! * A prekey belongs to the member (or joiner) that proves possession of its private half (an
//!   XEdDSA-style signature binding network, group, author and key); a copy is refused
//!   ([`Refusal::PrekeyUnproven`]) and cannot displace the owner.
//! * A key share that starts an epoch is valid if its author was a member; its knowers are the
//!   author and the owners of every prekey it was sealed to. Sealing to a key that is not a
//!   current member's is refused with a reason *and* taints the epoch (the secret has left the
//!   group), so no honest writer uses it again. See [`GroupState::writing_epoch`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use dualpower_core::payload::prekey_proof_message;
use dualpower_core::{EventId, KeyShare, Payload, PublicKey, sig};

use crate::authority::{Authority, Bits, Cx};
use crate::domain::{Domain, Effect};
use crate::group::{Epoch, GroupState};
use crate::refusal::Refusal;

/// Whether keys judges `p`.
pub(crate) fn owns(p: &Payload) -> bool {
    matches!(p, Payload::Prekey { .. } | Payload::KeyShare(_))
}

/// The keys domain's state during a pass.
#[derive(Default)]
pub(crate) struct Keys {
    prekeys: BTreeMap<[u8; 32], PublicKey>,
    prekey_of: BTreeMap<PublicKey, [u8; 32]>,
    epochs: BTreeMap<EventId, Epoch>,
    /// The control events in the past of each epoch's starting share.
    epoch_past: HashMap<EventId, Arc<Bits>>,
    /// Whether an event of this domain was judged since [`Keys::take_touched`].
    touched: bool,
}

impl Keys {
    /// Whether an event of this domain was judged (accepted or refused) since the last call.
    pub(crate) fn take_touched(&mut self) -> bool {
        std::mem::take(&mut self.touched)
    }

    fn new_epoch(cx: &Cx<'_>, share: &KeyShare, refused: bool) -> Epoch {
        Epoch {
            creator: cx.author,
            position: cx.position,
            prev: share.prev.clone(),
            seals: Vec::new(),
            knowers: BTreeSet::from([cx.author]),
            tainted: refused,
            superseded: false,
            refused,
            created_at: cx.timestamp,
            superseded_at: None,
        }
    }

    /// Judges a key share and records its epoch and knowers.
    fn share(&mut self, cx: &Cx<'_>, share: KeyShare) -> Result<Effect, Refusal> {
        let epoch_id = share.epoch.unwrap_or(cx.id);
        if share.epoch.is_some() && !self.epochs.contains_key(&epoch_id) {
            return Err(Refusal::UnknownEpoch(epoch_id));
        }
        let epoch = self
            .epochs
            .entry(epoch_id)
            .or_insert_with(|| Keys::new_epoch(cx, &share, false));
        epoch.knowers.insert(cx.author);
        let mut refusal = None;
        for seal in &share.seals {
            epoch.seals.push((cx.id, seal.prekey));
            match self.prekeys.get(&seal.prekey) {
                Some(owner) => {
                    epoch.knowers.insert(*owner);
                    if !cx.is_member(owner) {
                        epoch.tainted = true;
                        refusal.get_or_insert(Refusal::SealedToNonMember(seal.prekey));
                    }
                }
                None => {
                    epoch.tainted = true;
                    refusal.get_or_insert(Refusal::SealedToNonMember(seal.prekey));
                }
            }
        }
        match refusal {
            Some(r) => {
                if share.epoch.is_none() {
                    epoch.refused = true;
                }
                Err(r)
            }
            None => Ok(Effect::None),
        }
    }

    /// Fills in the keys part of `st` (after membership): prekeys of members, epochs with their
    /// taint and supersession.
    pub(crate) fn finish(&self, auth: &Authority, st: &mut GroupState) {
        for (who, m) in st.members.iter_mut() {
            m.prekey = self.prekey_of.get(who).copied();
        }
        st.prekeys = self.prekeys.clone();
        st.epochs = self.epochs.clone();
        // Taint: an epoch known to anyone who is not a current member may not be written to.
        // Nor may one started without knowledge of a removal in force: the removed member may
        // have learnt it by paths no derived state sees (a history bundle handed over by a
        // member whose view differed), so after a removal only epochs started after it count.
        let in_force: Vec<usize> = auth
            .removes
            .iter()
            .filter(|(who, _)| !st.members.contains_key(*who))
            .flat_map(|(_, rs)| rs.iter().copied())
            .collect();
        let members = &st.members;
        for (id, e) in st.epochs.iter_mut() {
            if e.knowers.iter().any(|k| !members.contains_key(k)) {
                e.tainted = true;
            }
            let started_after = |r: &usize| self.epoch_past.get(id).is_some_and(|p| p.has(*r));
            if !in_force.iter().all(started_after) {
                e.tainted = true;
            }
        }
        let created: BTreeMap<EventId, (u64, Vec<EventId>)> = st
            .epochs
            .iter()
            .map(|(id, e)| (*id, (e.created_at, e.prev.clone())))
            .collect();
        for (id, e) in st.epochs.iter_mut() {
            let by: Vec<u64> = created
                .values()
                .filter(|(_, prev)| prev.contains(id))
                .map(|(at, _)| *at)
                .collect();
            e.superseded = !by.is_empty();
            e.superseded_at = by.into_iter().min();
        }
    }
}

impl Domain for Keys {
    fn judge(&mut self, cx: &Cx<'_>, payload: Payload) -> Result<Effect, Refusal> {
        self.touched = true;
        match payload {
            // A prekey belongs to whoever proves it holds the private half; the proof names the
            // author, so a republished copy is refused here and cannot displace the owner.
            Payload::Prekey { key, proof } => {
                let msg = prekey_proof_message(cx.network, &cx.group, &cx.author, &key);
                if !sig::verify_x25519_possession(&key, &msg, &proof) {
                    return Err(Refusal::PrekeyUnproven);
                }
                match self.prekeys.get(&key) {
                    Some(owner) if *owner != cx.author => Err(Refusal::PrekeyTaken),
                    _ => {
                        self.prekeys.insert(key, cx.author);
                        self.prekey_of.insert(cx.author, key);
                        Ok(Effect::None)
                    }
                }
            }
            Payload::KeyShare(share) => {
                if share.epoch.is_none() {
                    self.epoch_past.insert(cx.id, Arc::new(cx.past.clone()));
                }
                self.share(cx, share)
            }
            _ => Ok(Effect::None),
        }
    }

    /// What a refused key share disclosed: its epoch stays known (so the members it was sealed
    /// to can read what valid authors wrote under it before they learnt of the refusal) but is
    /// void: refused and tainted, never written under again, superseding nothing.
    fn refused(&mut self, cx: &Cx<'_>, payload: &Payload, _why: &Refusal) {
        self.touched = true;
        let Payload::KeyShare(share) = payload else {
            return;
        };
        if share.epoch.is_none() {
            self.epoch_past.insert(cx.id, Arc::new(cx.past.clone()));
        }
        let epoch_id = share.epoch.unwrap_or(cx.id);
        if share.epoch.is_some() && !self.epochs.contains_key(&epoch_id) {
            return;
        }
        let owners: Vec<PublicKey> = share
            .seals
            .iter()
            .filter_map(|s| self.prekeys.get(&s.prekey).copied())
            .collect();
        let epoch = self
            .epochs
            .entry(epoch_id)
            .or_insert_with(|| Keys::new_epoch(cx, share, true));
        epoch.tainted = true;
        epoch.knowers.insert(cx.author);
        epoch.knowers.extend(owners);
        epoch
            .seals
            .extend(share.seals.iter().map(|s| (cx.id, s.prekey)));
    }
}
