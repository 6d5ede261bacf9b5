//! How a member is shown: the one labelling rule behind the CLI, the node's answers and the web
//! app, so every surface calls a person the same thing.
//!
//! A key's label is, in order: the petname this member gave it (local, never replicated), the
//! display name its owner chose in the group (a sealed profile event, see
//! `dualpower_state::names`), or its short key (the shortest tail of its did:key, at least
//! [`SHORT_KEY_CHARS`] characters, that no other key in view ends with; `…` marks it as a piece,
//! and `dualpower_node::ops::member_among` accepts it back). Names are chosen by people, so two
//! keys may end up with the same label (two members called Sam, or a petname equal to someone's
//! display name): then every key sharing it (compared without case) is shown with its short key
//! after it, `Sam (…uW3fgMhW)`, so they are told apart visibly. Names cannot contain `…` (see
//! `dualpower_core::payload::display_name`), so no name imitates that suffix.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use dualpower_core::PublicKey;
use serde::Serialize;
use serde_json::{Map, Value};

/// The fewest characters of a did:key's tail shown as its short key.
pub const SHORT_KEY_CHARS: usize = 8;

/// How one key is shown, and what that is made of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Label {
    /// What to show: the petname, else the display name, else the short key; with the short key
    /// appended when another key in view would show the same.
    pub label: String,
    /// The name its owner chose in the group, if any.
    pub display: Option<String>,
    /// The name this member gave it locally, if any.
    pub petname: Option<String>,
    /// The shortest unique tail of its did:key, as `…tail`.
    pub short: String,
}

/// The labels of `keys` (and only those; every other key in `display` or `petnames` is
/// ignored), given each key's display name and this member's petnames. Short keys are unique
/// among `keys`.
pub fn labels(
    keys: impl IntoIterator<Item = PublicKey>,
    display: &BTreeMap<PublicKey, String>,
    petnames: &BTreeMap<PublicKey, String>,
) -> BTreeMap<PublicKey, Label> {
    let keys: BTreeSet<PublicKey> = keys.into_iter().collect();
    let dids: BTreeMap<PublicKey, String> = keys.iter().map(|k| (*k, tail_of(k))).collect();
    let mut out: BTreeMap<PublicKey, Label> = BTreeMap::new();
    for (k, did) in &dids {
        let short = format!("…{}", unique_tail(did, dids.values()));
        let display = display.get(k).cloned();
        let petname = petnames.get(k).cloned();
        let label = petname
            .clone()
            .or_else(|| display.clone())
            .unwrap_or_else(|| short.clone());
        out.insert(
            *k,
            Label {
                label,
                display,
                petname,
                short,
            },
        );
    }
    // Told apart: every label shown by more than one key gets each key's short key.
    let mut by_label: BTreeMap<String, Vec<PublicKey>> = BTreeMap::new();
    for (k, l) in &out {
        by_label.entry(fold(&l.label)).or_default().push(*k);
    }
    for same in by_label.values().filter(|v| v.len() > 1) {
        for k in same {
            if let Some(l) = out.get_mut(k)
                && l.label != l.short
            {
                l.label = format!("{} ({})", l.label, l.short);
            }
        }
    }
    out
}

/// `labels` as JSON, keyed by did:key: the `"labels"` map of every answer that names members.
pub fn labels_json(labels: &BTreeMap<PublicKey, Label>) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|(k, l)| (k.to_did(), serde_json::to_value(l).unwrap_or(Value::Null)))
            .collect::<Map<_, _>>(),
    )
}

/// Members' keys as did:keys, comma-separated (how proposals and their summaries name them).
pub fn did_list(keys: &[PublicKey]) -> String {
    keys.iter()
        .map(PublicKey::to_did)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every did:key string anywhere in `v` (the keys an answer mentions).
pub fn mentioned_keys(v: &Value) -> BTreeSet<PublicKey> {
    let mut out = BTreeSet::new();
    collect(v, &mut out, &mut HashSet::new());
    out
}

/// Adds the keys `v` mentions to `out`; `seen` holds every `did:key` string already parsed
/// (an answer names the same few members thousands of times, and parsing one checks a curve
/// point: parsing each once keeps a large answer's labelling in proportion to its members).
fn collect<'a>(v: &'a Value, out: &mut BTreeSet<PublicKey>, seen: &mut HashSet<&'a str>) {
    match v {
        Value::String(s) => note(s, out, seen),
        Value::Array(a) => a.iter().for_each(|v| collect(v, out, seen)),
        Value::Object(m) => m.iter().for_each(|(k, v)| {
            note(k, out, seen);
            collect(v, out, seen)
        }),
        _ => {}
    }
}

fn note<'a>(s: &'a str, out: &mut BTreeSet<PublicKey>, seen: &mut HashSet<&'a str>) {
    if s.starts_with("did:key:")
        && seen.insert(s)
        && let Ok(k) = PublicKey::from_did(s)
    {
        out.insert(k);
    }
}

/// The did:key without its `did:key:` prefix.
fn tail_of(k: &PublicKey) -> String {
    k.to_did().trim_start_matches("did:key:").to_owned()
}

/// The shortest tail of `did` (at least [`SHORT_KEY_CHARS`] characters) that no other of `all`
/// ends with.
fn unique_tail<'a>(did: &str, all: impl Iterator<Item = &'a String> + Clone) -> String {
    let chars: Vec<char> = did.chars().collect();
    for n in SHORT_KEY_CHARS..chars.len() {
        let tail: String = chars[chars.len() - n..].iter().collect();
        if all
            .clone()
            .filter(|other| other.as_str() != did)
            .all(|other| !other.ends_with(&tail))
        {
            return tail;
        }
    }
    did.to_owned()
}

/// Labels compared as a reader would: `Sam` and `sam` look like the same person.
fn fold(label: &str) -> String {
    label.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dualpower_core::Identity;

    fn key(i: u8) -> PublicKey {
        Identity::from_seed(&[i; 32]).public()
    }

    fn names(pairs: &[(PublicKey, &str)]) -> BTreeMap<PublicKey, String> {
        pairs.iter().map(|(k, n)| (*k, (*n).to_owned())).collect()
    }

    #[test]
    fn petname_then_display_name_then_short_key() {
        let (a, b, c) = (key(1), key(2), key(3));
        let l = labels(
            [a, b, c],
            &names(&[(a, "Ana"), (b, "Ben")]),
            &names(&[(b, "my landlord")]),
        );
        assert_eq!(l[&a].label, "Ana");
        assert_eq!(l[&b].label, "my landlord");
        assert_eq!(l[&b].display.as_deref(), Some("Ben"));
        assert_eq!(l[&c].label, l[&c].short);
        assert!(l[&c].short.starts_with('…'));
        assert_eq!(l[&c].short.chars().count(), 1 + SHORT_KEY_CHARS);
        assert!(c.to_did().ends_with(l[&c].short.trim_start_matches('…')));
        // Only the keys asked for.
        assert_eq!(
            labels([a], &names(&[(b, "Ben")]), &BTreeMap::new()).len(),
            1
        );
    }

    #[test]
    fn two_keys_with_the_same_name_are_told_apart() {
        let (a, b, c) = (key(1), key(2), key(3));
        // Two members both chose "Sam"; a third is "sam" by petname: all three get their key.
        let l = labels(
            [a, b, c],
            &names(&[(a, "Sam"), (b, "Sam")]),
            &names(&[(c, "sam")]),
        );
        for k in [a, b] {
            assert_eq!(l[&k].label, format!("Sam ({})", l[&k].short));
        }
        assert_eq!(l[&c].label, format!("sam ({})", l[&c].short));
        let shown: BTreeSet<&String> = l.values().map(|l| &l.label).collect();
        assert_eq!(shown.len(), 3, "{l:?}");
        // A petname overrides and so ends the collision for that key.
        let l = labels(
            [a, b],
            &names(&[(a, "Sam"), (b, "Sam")]),
            &names(&[(b, "Sam from the 3rd floor")]),
        );
        assert_eq!(l[&a].label, "Sam");
        assert_eq!(l[&b].label, "Sam from the 3rd floor");
    }

    #[test]
    fn short_keys_grow_until_unique() {
        let all = [
            "z6MkAAAAxxxxxxxx".to_owned(),
            "z6MkBBBBBxxxxxxxx".to_owned(),
        ];
        assert_eq!(unique_tail(&all[0], all.iter()), "Axxxxxxxx");
        assert_eq!(unique_tail(&all[1], all.iter()), "Bxxxxxxxx");
    }

    #[test]
    fn mentioned_keys_are_found_anywhere() {
        let (a, b) = (key(1), key(2));
        let v = serde_json::json!({ "x": [{ "author": a.to_did() }], b.to_did(): 1, "n": "did:key:bad" });
        assert_eq!(mentioned_keys(&v), BTreeSet::from([a, b]));
    }
}
