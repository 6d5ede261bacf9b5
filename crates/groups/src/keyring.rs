//! The local keyring of one member in one group, and the [`KeyScheme`] trait it implements.
//!
//! The keyring holds this member's prekey private halves and every epoch secret it has opened.
//! Nothing in it is ever written to the shared log: the log carries only public prekeys and
//! sealed secrets. The node persists the keyring encrypted at rest (see [`Keyring::entries`]).
//!
//! Forgetting an epoch ([`Keyring::forget`]) drops its secret and remembers its id in
//! [`Keyring::forgotten`]: the seals and history bundles that carried it stay in the log
//! forever, so without that record the next [`KeyScheme::learn`] would open them again.

use std::collections::{BTreeMap, BTreeSet};

use dualpower_core::cbor::{Reader, Writer};
use dualpower_core::event::{FLAG_ENCRYPTED, Position};
use dualpower_core::payload::{MAX_HISTORY_BYTES, prekey_proof_message};
use dualpower_core::{
    EventId, GroupId, KeyShare, NetworkId, Payload, PublicKey, Seal, VerifiedEvent,
};
use dualpower_crypto::{
    ContentKey, EpochSecret, PrekeySecret, SealedSecret, decrypt, derive, encrypt, open_secret,
    seal_secret,
};
use dualpower_state::GroupState;

use crate::body::{
    Encrypted, GroupError, content_aad, dm_aad, dm_info, gov_chain_aad, governance_aad,
    history_aad, seal_info,
};

/// Most earlier epochs a history bundle carries (the newest ones).
pub const MAX_HISTORY_EPOCHS: usize = 100;

/// A group key schedule: how epoch secrets are handed out and content is encrypted. The
/// per-member HPKE epochs of [`Keyring`] are one implementation; a DCGKA can be another.
pub trait KeyScheme {
    /// Opens every secret in `events` addressed to this member (seals to its prekeys, history
    /// bundles of epochs it holds), except those of forgotten epochs. Returns how many new
    /// epoch secrets it learnt.
    fn learn(&mut self, network: &NetworkId, state: &GroupState, events: &[VerifiedEvent])
    -> usize;
    /// Encrypts a group payload for the event at `pos`, under the group's writing epoch.
    fn encrypt(
        &self,
        network: &NetworkId,
        state: &GroupState,
        pos: &Position,
        payload: &[u8],
    ) -> Result<Vec<u8>, GroupError>;
    /// Decrypts an encrypted event (group content or a direct message addressed to us).
    fn decrypt(&self, network: &NetworkId, ev: &VerifiedEvent) -> Result<Vec<u8>, GroupError>;
}

/// One member's secrets in one group.
#[derive(Default, Clone)]
pub struct Keyring {
    /// Prekey private halves by public key.
    pub prekeys: BTreeMap<[u8; 32], PrekeySecret>,
    /// Epoch secrets by epoch id.
    pub epochs: BTreeMap<EventId, EpochSecret>,
    /// Governance keys by epoch id: kept when an epoch's secret is forgotten, so the member can
    /// still recount the group's decisions (see [`crate::body`]).
    pub gov: BTreeMap<EventId, [u8; 32]>,
    /// Epochs forgotten on purpose: never learnt again, never handed to anyone.
    pub forgotten: BTreeSet<EventId>,
}

fn history_key(secret: &EpochSecret) -> ContentKey {
    ContentKey::from_bytes(derive(secret, "dualpower history key v1"))
}

/// The governance key of the epoch whose secret is `secret`.
pub fn governance_key(secret: &EpochSecret) -> [u8; 32] {
    derive(secret, "dualpower governance key v1")
}

/// The public check of a governance key (see [`KeyShare::gov_check`]): one-way, so publishing it
/// reveals nothing of the key.
pub fn governance_check(gov: &[u8; 32]) -> [u8; 32] {
    blake3::derive_key("dualpower governance check v1", gov)
}

/// Epoch → the governance-key check its starting share published.
type Checks = BTreeMap<EventId, [u8; 32]>;

fn gov_chain_key(gov: &[u8; 32]) -> ContentKey {
    ContentKey::from_bytes(blake3::derive_key("dualpower gov chain key v1", gov))
}

impl Keyring {
    /// Adds a fresh prekey and returns the payload that publishes it as `author`'s in `group`:
    /// its public half with the proof that `author` holds the private half (see
    /// [`prekey_proof_message`]; the derived state refuses a prekey without a valid proof).
    pub fn new_prekey(
        &mut self,
        network: &NetworkId,
        group: &GroupId,
        author: &PublicKey,
    ) -> Payload {
        let s = PrekeySecret::generate();
        let key = s.public();
        let proof = s.sign_possession(&prekey_proof_message(network, group, author, &key));
        self.prekeys.insert(key, s);
        Payload::Prekey { key, proof }
    }

    /// Adds an epoch secret (and its governance key).
    pub fn add_epoch(&mut self, id: EventId, secret: EpochSecret) {
        self.gov.insert(id, governance_key(&secret));
        self.epochs.insert(id, secret);
    }

    /// The governance key of `epoch`, if this member holds it.
    pub fn gov_key(&self, epoch: &EventId) -> Option<[u8; 32]> {
        self.gov
            .get(epoch)
            .copied()
            .or_else(|| self.epochs.get(epoch).map(governance_key))
    }

    /// The governance keys a key share hands down (see [`KeyShare::gov`]): those of `prev`
    /// first, then of every other epoch of the group this member holds but `except`, at most
    /// [`MAX_HISTORY_EPOCHS`] (older ones stay reachable down the chain). Unlike content keys,
    /// governance keys of a concurrent epoch may go to every member: every member reads every
    /// decision, and a share is only ever sealed to members.
    pub fn gov_chain(
        &self,
        state: &GroupState,
        prev: &[EventId],
        except: Option<&EventId>,
    ) -> Vec<(EventId, [u8; 32])> {
        let mut out: Vec<(EventId, [u8; 32])> = prev
            .iter()
            .filter_map(|e| self.gov_key(e).map(|k| (*e, k)))
            .collect();
        let mut held: Vec<(EventId, [u8; 32])> = self.gov.clone().into_iter().collect();
        held.extend(self.epochs.iter().map(|(e, s)| (*e, governance_key(s))));
        for (e, k) in held {
            if out.len() >= MAX_HISTORY_EPOCHS {
                break;
            }
            if Some(&e) != except
                && state.epochs.contains_key(&e)
                && !out.iter().any(|(o, _)| *o == e)
            {
                out.push((e, k));
            }
        }
        out
    }

    /// The body of a key share that starts a new epoch with `secret`, sealed to `recipients`
    /// (prekeys), superseding `prev`, optionally carrying `history` (earlier epochs) and the
    /// governance keys `gov` (see [`Keyring::gov_chain`]).
    pub fn start_epoch(
        network: &NetworkId,
        pos: &Position,
        secret: &EpochSecret,
        recipients: &[[u8; 32]],
        prev: Vec<EventId>,
        history: &[(EventId, EpochSecret)],
        gov: &[(EventId, [u8; 32])],
    ) -> Result<Vec<u8>, GroupError> {
        Self::share(network, pos, None, secret, recipients, prev, history, gov)
    }

    /// The body of a key share adding seals of the existing `epoch` for `recipients`, with
    /// earlier epochs' secrets (`history`) and governance keys (`gov`, so a newcomer also gets
    /// those of concurrent epochs the chain of `epoch` does not name).
    pub fn extend_epoch(
        network: &NetworkId,
        pos: &Position,
        epoch: EventId,
        secret: &EpochSecret,
        recipients: &[[u8; 32]],
        history: &[(EventId, EpochSecret)],
        gov: &[(EventId, [u8; 32])],
    ) -> Result<Vec<u8>, GroupError> {
        Self::share(
            network,
            pos,
            Some(epoch),
            secret,
            recipients,
            Vec::new(),
            history,
            gov,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn share(
        network: &NetworkId,
        pos: &Position,
        epoch: Option<EventId>,
        secret: &EpochSecret,
        recipients: &[[u8; 32]],
        prev: Vec<EventId>,
        history: &[(EventId, EpochSecret)],
        gov: &[(EventId, [u8; 32])],
    ) -> Result<Vec<u8>, GroupError> {
        let gov = if gov.is_empty() {
            Vec::new()
        } else {
            let keep = &gov[..gov.len().min(MAX_HISTORY_EPOCHS)];
            let mut w = Writer::default();
            w.array(keep.len());
            for (id, k) in keep {
                w.array(2).bytes(&id.0).bytes(k);
            }
            let ct = encrypt(
                &gov_chain_key(&governance_key(secret)),
                &gov_chain_aad(network, pos),
                &w.into_bytes(),
            );
            if ct.len() > MAX_HISTORY_BYTES {
                return Err(GroupError::Shape("governance key chain too large"));
            }
            ct
        };
        let info = seal_info(network, pos);
        let mut seals = Vec::with_capacity(recipients.len());
        for r in recipients {
            let s = seal_secret(r, secret, &info)?;
            seals.push(Seal {
                prekey: *r,
                enc: s.enc,
                ct: s.ct,
            });
        }
        let history = if history.is_empty() {
            Vec::new()
        } else {
            let keep = &history[history.len().saturating_sub(MAX_HISTORY_EPOCHS)..];
            let mut w = Writer::default();
            w.array(keep.len());
            for (id, s) in keep {
                w.array(2).bytes(&id.0).bytes(&s.0);
            }
            let ct = encrypt(
                &history_key(secret),
                &history_aad(network, pos),
                &w.into_bytes(),
            );
            if ct.len() > MAX_HISTORY_BYTES {
                return Err(GroupError::Shape("history bundle too large"));
            }
            ct
        };
        let mut prev = prev;
        prev.sort();
        prev.dedup();
        Ok(Payload::KeyShare(KeyShare {
            epoch,
            prev,
            seals,
            history,
            gov,
            gov_check: epoch
                .is_none()
                .then(|| governance_check(&governance_key(secret))),
        })
        .encode())
    }

    /// Encrypts a direct message `payload` at `pos` to `recipient`'s prekey and to `own`.
    pub fn seal_direct(
        network: &NetworkId,
        pos: &Position,
        recipient: &[u8; 32],
        own: &[u8; 32],
        payload: &[u8],
    ) -> Result<Vec<u8>, GroupError> {
        let key = EpochSecret::generate();
        let info = dm_info(network, pos);
        let mut seals = Vec::with_capacity(2);
        for r in [recipient, own] {
            let s = seal_secret(r, &key, &info)?;
            seals.push((s.enc, s.ct));
        }
        let ct = encrypt(&ContentKey::of_epoch(&key), &dm_aad(network, pos), payload);
        Ok(Encrypted::Direct { seals, ct }.encode())
    }

    /// The earlier epochs this member can hand to a newcomer: those it holds that a later epoch
    /// supersedes. Never an unsuperseded one besides `except` (a concurrent branch's epoch can
    /// become the writing epoch again, and must not reach anyone it was not sealed to).
    pub fn history(&self, state: &GroupState, except: &EventId) -> Vec<(EventId, EpochSecret)> {
        self.epochs
            .iter()
            .filter(|(id, _)| *id != except && !self.forgotten.contains(*id))
            .filter(|(id, _)| state.epochs.get(*id).is_some_and(|e| e.superseded))
            .map(|(id, s)| (*id, s.clone()))
            .collect()
    }

    /// Forgets `epoch`: drops its secret and records its id so it is never learnt again.
    /// Returns whether anything changed.
    pub fn forget(&mut self, epoch: EventId) -> bool {
        let dropped = self.epochs.remove(&epoch).is_some();
        self.forgotten.insert(epoch) || dropped
    }

    /// The keyring as (name, secret bytes) entries for storage: `p` + prekey public, `e` +
    /// epoch id, `f` + forgotten epoch id (with 32 zero bytes: only the name matters).
    pub fn entries(&self) -> Vec<(Vec<u8>, [u8; 32])> {
        let mut out = Vec::with_capacity(self.prekeys.len() + self.epochs.len());
        for (p, s) in &self.prekeys {
            out.push(([b"p".as_slice(), p].concat(), s.to_bytes()));
        }
        for (id, s) in &self.epochs {
            out.push(([b"e".as_slice(), &id.0].concat(), s.0));
        }
        for (id, k) in &self.gov {
            out.push(([b"g".as_slice(), &id.0].concat(), *k));
        }
        for id in &self.forgotten {
            out.push(([b"f".as_slice(), &id.0].concat(), [0; 32]));
        }
        out
    }

    /// Rebuilds a keyring from stored entries (unknown names are ignored).
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = (&'a [u8], [u8; 32])>) -> Keyring {
        let mut k = Keyring::default();
        for (name, value) in entries {
            let Some((kind, rest)) = name.split_first() else {
                continue;
            };
            let Ok(id) = <[u8; 32]>::try_from(rest) else {
                continue;
            };
            match kind {
                b'p' => {
                    k.prekeys.insert(id, PrekeySecret::from_bytes(value));
                }
                b'e' => {
                    let secret = EpochSecret(value);
                    k.gov
                        .entry(EventId(id))
                        .or_insert_with(|| governance_key(&secret));
                    k.epochs.insert(EventId(id), secret);
                }
                b'g' => {
                    k.gov.insert(EventId(id), value);
                }
                b'f' => {
                    k.forgotten.insert(EventId(id));
                }
                _ => {}
            }
        }
        // A secret saved again by an older node after the epoch was forgotten stays forgotten.
        let forgotten = &k.forgotten;
        k.epochs.retain(|id, _| !forgotten.contains(id));
        k
    }

    /// Opens a governance-key chain; returns how many keys were new.
    fn open_gov_chain(
        &mut self,
        network: &NetworkId,
        pos: &Position,
        gov: &[u8; 32],
        ct: &[u8],
        checks: &Checks,
    ) -> usize {
        let Ok(plain) = decrypt(&gov_chain_key(gov), &gov_chain_aad(network, pos), ct) else {
            return 0;
        };
        pairs(&plain)
            .into_iter()
            .filter(|(id, k)| self.offer_gov(*id, *k, checks))
            .count()
    }

    /// Takes `key` as `epoch`'s governance key if it matches the check the epoch's starting share
    /// published (then it replaces a key that does not), or, with no check known, if none is
    /// held. A member handing down a wrong key cannot block the right one. Returns whether the
    /// keyring changed.
    fn offer_gov(&mut self, epoch: EventId, key: [u8; 32], checks: &Checks) -> bool {
        match checks.get(&epoch) {
            Some(c) if *c != governance_check(&key) => false,
            Some(_) => self.gov.insert(epoch, key) != Some(key),
            None => match self.gov.entry(epoch) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(key);
                    true
                }
                std::collections::btree_map::Entry::Occupied(_) => false,
            },
        }
    }

    fn open_history(
        &mut self,
        network: &NetworkId,
        pos: &Position,
        secret: &EpochSecret,
        ct: &[u8],
        checks: &Checks,
    ) -> usize {
        let Ok(plain) = decrypt(&history_key(secret), &history_aad(network, pos), ct) else {
            return 0;
        };
        let mut new = 0;
        for (id, s) in pairs(&plain) {
            if self.forgotten.contains(&id) {
                continue;
            }
            if let std::collections::btree_map::Entry::Vacant(v) = self.epochs.entry(id) {
                v.insert(EpochSecret(s));
                self.offer_gov(id, governance_key(&EpochSecret(s)), checks);
                new += 1;
            }
        }
        new
    }
}

/// The (epoch, key) pairs of a history bundle or governance chain, up to the first malformed
/// one (a sender's bad entry costs only what follows it).
fn pairs(plain: &[u8]) -> Vec<(EventId, [u8; 32])> {
    let mut r = Reader::new(plain, 3);
    let Ok(n) = r.array("keys", MAX_HISTORY_EPOCHS) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let item = (|| {
            if r.array("entry", 2)? != 2 {
                return Err(dualpower_core::cbor::CborError::OutOfRange {
                    what: "entry",
                    value: 0,
                });
            }
            let id = EventId(r.bytes_n::<32>("epoch")?);
            let k = r.bytes_n::<32>("key")?;
            r.leave();
            Ok((id, k))
        })();
        match item {
            Ok(p) => out.push(p),
            Err(_) => break,
        }
    }
    out
}

/// The encrypted body of a decision payload at `pos` under `epoch`'s governance key `gov`.
pub fn seal_governance(
    network: &NetworkId,
    epoch: EventId,
    gov: &[u8; 32],
    pos: &Position,
    payload: &[u8],
) -> Vec<u8> {
    let ct = encrypt(
        &ContentKey::from_bytes(*gov),
        &governance_aad(network, &epoch, pos),
        payload,
    );
    Encrypted::Governance { epoch, ct }.encode()
}

/// The encrypted body of group content at `pos` under `epoch` (whose secret is `secret`).
pub fn seal_content(
    network: &NetworkId,
    epoch: EventId,
    secret: &EpochSecret,
    pos: &Position,
    payload: &[u8],
) -> Vec<u8> {
    let ct = encrypt(
        &ContentKey::of_epoch(secret),
        &content_aad(network, &epoch, pos),
        payload,
    );
    Encrypted::Group { epoch, ct }.encode()
}

impl KeyScheme for Keyring {
    fn learn(
        &mut self,
        network: &NetworkId,
        state: &GroupState,
        events: &[VerifiedEvent],
    ) -> usize {
        let accepted: Vec<(Position, EventId, KeyShare)> = events
            .iter()
            .filter(|e| e.header().group == state.group && e.header().flags & FLAG_ENCRYPTED == 0)
            .filter_map(|e| match e.body().map(Payload::decode) {
                Some(Ok(Payload::KeyShare(k))) => Some((Position::of(e.header()), e.id(), k)),
                _ => None,
            })
            .filter(|(_, id, k)| state.epochs.contains_key(&k.epoch.unwrap_or(*id)))
            .collect();
        let checks: Checks = accepted
            .iter()
            .filter(|(_, _, k)| k.epoch.is_none())
            .filter_map(|(_, id, k)| Some((*id, k.gov_check?)))
            .collect();
        let shares: Vec<(Position, EventId, KeyShare)> = accepted
            .into_iter()
            // A forgotten epoch is never opened again, nor is any history it carried (its key
            // is gone; the history of an epoch we still hold is filtered in `open_history`).
            .filter(|(_, id, k)| !self.forgotten.contains(&k.epoch.unwrap_or(*id)))
            .collect();
        let mut learnt = 0;
        // History bundles can name epochs opened by later shares: repeat until nothing changes.
        loop {
            let mut round = 0;
            for (pos, id, share) in &shares {
                let epoch = share.epoch.unwrap_or(*id);
                if !self.epochs.contains_key(&epoch) {
                    let info = seal_info(network, pos);
                    for seal in &share.seals {
                        let Some(pk) = self.prekeys.get(&seal.prekey) else {
                            continue;
                        };
                        let sealed = SealedSecret {
                            enc: seal.enc,
                            ct: seal.ct,
                        };
                        if let Ok(s) = open_secret(pk, &sealed, &info) {
                            self.offer_gov(epoch, governance_key(&s), &checks);
                            self.epochs.insert(epoch, s);
                            round += 1;
                            break;
                        }
                    }
                }
                if !share.history.is_empty()
                    && let Some(secret) = self.epochs.get(&epoch).cloned()
                {
                    round += self.open_history(network, pos, &secret, &share.history, &checks);
                }
                if !share.gov.is_empty()
                    && let Some(gov) = self.gov_key(&epoch)
                {
                    round += self.open_gov_chain(network, pos, &gov, &share.gov, &checks);
                }
            }
            learnt += round;
            if round == 0 {
                return learnt;
            }
        }
    }

    fn encrypt(
        &self,
        network: &NetworkId,
        state: &GroupState,
        pos: &Position,
        payload: &[u8],
    ) -> Result<Vec<u8>, GroupError> {
        let epoch = state.writing_epoch().ok_or(GroupError::NoEpoch)?;
        let secret = self.epochs.get(&epoch).ok_or(GroupError::NoKey)?;
        Ok(seal_content(network, epoch, secret, pos, payload))
    }

    fn decrypt(&self, network: &NetworkId, ev: &VerifiedEvent) -> Result<Vec<u8>, GroupError> {
        let body = ev.body().ok_or(GroupError::NoKey)?;
        let pos = Position::of(ev.header());
        match Encrypted::decode(body)? {
            Encrypted::Group { epoch, ct } => {
                let secret = self.epochs.get(&epoch).ok_or(GroupError::NoKey)?;
                Ok(decrypt(
                    &ContentKey::of_epoch(secret),
                    &content_aad(network, &epoch, &pos),
                    &ct,
                )?)
            }
            Encrypted::Governance { epoch, ct } => {
                let gov = self.gov_key(&epoch).ok_or(GroupError::NoKey)?;
                Ok(decrypt(
                    &ContentKey::from_bytes(gov),
                    &governance_aad(network, &epoch, &pos),
                    &ct,
                )?)
            }
            Encrypted::Direct { seals, ct } => {
                let info = dm_info(network, &pos);
                for (enc, sealed) in &seals {
                    for pk in self.prekeys.values() {
                        let s = SealedSecret {
                            enc: *enc,
                            ct: *sealed,
                        };
                        if let Ok(key) = open_secret(pk, &s, &info) {
                            return Ok(decrypt(
                                &ContentKey::of_epoch(&key),
                                &dm_aad(network, &pos),
                                &ct,
                            )?);
                        }
                    }
                }
                Err(GroupError::NoKey)
            }
        }
    }
}
