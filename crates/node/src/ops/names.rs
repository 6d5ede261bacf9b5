//! Local petnames (a member's private label for any key; never replicated, kept encrypted in
//! the secrets table) and the labels of a group's keys, which combine them with the display
//! names members chose (see [`crate::names`] for the rule).

use std::collections::BTreeMap;

use dualpower_core::{GroupId, Identity, PublicKey};
use dualpower_store::Store;
use serde_json::json;

use super::write::{Cx, OpError, invalid, known_keys, member_among};
use super::{Outcome, view};
use crate::names::{Label, labels};

pub use super::secrets::petnames;

/// `petname`: names `member` (a full key, or a piece of a key some group we hold knows) for
/// this member only, or clears the name. A petname follows the display-name rule (trimmed,
/// 1–64 characters, no control or invisible characters, no ellipsis), so no petname can imitate
/// the short key a label shows to tell two people apart.
pub(crate) fn petname(cx: Cx<'_>, member: &str, name: Option<&str>) -> Result<Outcome, OpError> {
    let (store, id, now) = (cx.store, cx.id, cx.now);
    let mut known = Vec::new();
    for g in store.synced_groups()? {
        known.extend(known_keys(&view(store, id, g, now)?.state));
    }
    let key = member_among(member, known)?;
    let name = match name.map(str::trim) {
        Some(n) => {
            dualpower_core::payload::display_name(n)
                .map_err(|e| invalid(e.to_string().replace("display name", "petname")))?;
            Some(n)
        }
        None => None,
    };
    let cleared = super::secrets::set_petname(store, id, &key, name)?;
    Ok(Outcome {
        events: Vec::new(),
        value: json!({ "member": key.to_did(), "petname": name, "cleared": cleared }),
    })
}

/// The labels of every key `group` knows (members, pending joiners, removed members) and of
/// `extra` (other keys an answer mentions), from the display names our keys read and our
/// petnames.
pub fn group_labels(
    store: &Store,
    id: &Identity,
    group: GroupId,
    now: u64,
    extra: impl IntoIterator<Item = PublicKey>,
) -> Result<BTreeMap<PublicKey, Label>, OpError> {
    let display = super::display_names(store, id, group, now)?;
    labelled(store, id, group, now, display, extra)
}

/// [`group_labels`] with the display names already read.
pub(crate) fn labelled(
    store: &Store,
    id: &Identity,
    group: GroupId,
    now: u64,
    display: BTreeMap<PublicKey, String>,
    extra: impl IntoIterator<Item = PublicKey>,
) -> Result<BTreeMap<PublicKey, Label>, OpError> {
    let st = view(store, id, group, now)?.state;
    let keys = known_keys(&st).into_iter().chain(extra);
    Ok(labels(keys, &display, &petnames(store, id)?))
}
