//! Tally certificates: the record of one tally that peers co-sign.
//!
//! It exists so that divergence is detectable. A certificate names the proposal, the method in
//! its canonical text, the rule version ([`crate::version`]), a hash of the inputs and the close
//! events the count was frozen at, the electorate, the lost weight and the voided votes, and the
//! outcome. Every peer that computes the same tally from the same inputs produces byte-identical
//! [`Certificate::encode`] output and so the same [`Certificate::digest`]; a peer that signs a
//! different digest for the same inputs has forked.
//!
//! Encoding (canonical CBOR through `dualpower_core::cbor::Writer`): every struct is a map with
//! integer keys `0, 1, 2, …` in field declaration order, every field always present. Byte
//! arrays are byte strings, strings are text, `Option` is null or the value, signed integers
//! (figures, IRV rounds) are zigzag-encoded (`(v << 1) ^ (v >> 63)`) because the codec carries
//! unsigned integers only. The digest is `blake3::derive_key("dualpower tally certificate v1",
//! encoding)`. JSON ([`Certificate::to_json`]) writes byte arrays as lowercase hex and adds the
//! digest.

use dualpower_core::cbor::Writer;
use serde::Serialize;

use crate::Outcome;

/// The key-derivation context of [`Certificate::digest`].
pub const DIGEST_CONTEXT: &str = "dualpower tally certificate v1";

/// One member whose weight reached no ballot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LostWeight {
    /// The member.
    #[serde(serialize_with = "hex32::one")]
    pub member: [u8; 32],
    /// `cycle`, `dead-end`, `ineligible` or `too-deep` ([`crate::liquid::Lost::reason`]).
    pub reason: String,
    /// Where the chain ended (dead end, ineligible delegate), if it ended at a member.
    #[serde(serialize_with = "hex32::opt")]
    pub at: Option<[u8; 32]>,
}

/// A vote event that was not counted, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VoidVote {
    /// The vote event.
    #[serde(serialize_with = "hex32::one")]
    pub event: [u8; 32],
    /// Why it does not count.
    pub reason: String,
}

/// The record of one tally.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Certificate {
    /// The proposal event.
    #[serde(serialize_with = "hex32::one")]
    pub proposal: [u8; 32],
    /// The method's canonical text (`majority:threshold=2/3,quorum=1/2`).
    pub method: String,
    /// The rule version ([`crate::version`]).
    pub version: String,
    /// The options' labels.
    pub options: Vec<String>,
    /// A hash of the inputs (ballots, weights, delegations) the tally read.
    #[serde(serialize_with = "hex32::one")]
    pub inputs: [u8; 32],
    /// The close events the count was frozen at.
    #[serde(serialize_with = "hex32::many")]
    pub closes: Vec<[u8; 32]>,
    /// Total weight that could take part.
    pub electorate: u64,
    /// Members who voted directly.
    pub voters: u64,
    /// Members whose weight a delegate carried.
    pub delegated: u64,
    /// Members whose weight was lost.
    pub lost: Vec<LostWeight>,
    /// Votes not counted.
    pub void: Vec<VoidVote>,
    /// What the tally found.
    pub outcome: Outcome,
}

impl Certificate {
    /// Canonical CBOR (see the module documentation).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(256 + 64 * self.lost.len() + 64 * self.void.len());
        w.map(12);
        w.uint(0).bytes(&self.proposal);
        w.uint(1).text(&self.method);
        w.uint(2).text(&self.version);
        w.uint(3).array(self.options.len());
        for o in &self.options {
            w.text(o);
        }
        w.uint(4).bytes(&self.inputs);
        w.uint(5).array(self.closes.len());
        for c in &self.closes {
            w.bytes(c);
        }
        w.uint(6).uint(self.electorate);
        w.uint(7).uint(self.voters);
        w.uint(8).uint(self.delegated);
        w.uint(9).array(self.lost.len());
        for l in &self.lost {
            w.map(3);
            w.uint(0).bytes(&l.member);
            w.uint(1).text(&l.reason);
            w.uint(2).opt_bytes32(l.at.as_ref());
        }
        w.uint(10).array(self.void.len());
        for v in &self.void {
            w.map(2);
            w.uint(0).bytes(&v.event);
            w.uint(1).text(&v.reason);
        }
        w.uint(11);
        outcome(&mut w, &self.outcome);
        w.into_bytes()
    }

    /// `blake3::derive_key("dualpower tally certificate v1", encode())`: what peers sign.
    pub fn digest(&self) -> [u8; 32] {
        blake3::derive_key(DIGEST_CONTEXT, &self.encode())
    }

    /// The certificate as JSON, byte arrays as lowercase hex, with its `digest` added.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(m) = &mut v {
            m.insert(
                "digest".into(),
                serde_json::Value::String(hex::encode(self.digest())),
            );
        }
        v
    }
}

fn outcome(w: &mut Writer, o: &Outcome) {
    w.map(12);
    w.uint(0).uint(o.participation);
    w.uint(1).uint(o.abstained);
    w.uint(2).bool(o.quorum_met);
    w.uint(3);
    signed(w, &o.figures);
    w.uint(4);
    match o.passed {
        Some(p) => w.bool(p),
        None => w.null(),
    };
    w.uint(5);
    unsigned(w, o.winners.iter().map(|&x| u64::from(x)), o.winners.len());
    w.uint(6).array(o.ranking.len());
    for r in &o.ranking {
        unsigned(w, r.iter().map(|&x| u64::from(x)), r.len());
    }
    w.uint(7).bool(o.tie);
    w.uint(8).array(o.rounds.len());
    for r in &o.rounds {
        signed(w, r);
    }
    w.uint(9).array(o.matrix.len());
    for r in &o.matrix {
        unsigned(w, r.iter().copied(), r.len());
    }
    w.uint(10).uint(o.exhausted);
    w.uint(11).uint(o.spent);
}

fn signed(w: &mut Writer, v: &[i64]) {
    w.array(v.len());
    for &x in v {
        w.uint(zigzag(x));
    }
}

fn unsigned(w: &mut Writer, v: impl Iterator<Item = u64>, len: usize) {
    w.array(len);
    for x in v {
        w.uint(x);
    }
}

/// Signed integers as the unsigned CBOR codec carries them.
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Serde helpers writing 32-byte arrays as lowercase hex.
mod hex32 {
    use serde::Serializer;

    pub fn one<S: Serializer>(b: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }

    pub fn opt<S: Serializer>(b: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => s.serialize_str(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn many<S: Serializer>(v: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(hex::encode))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Certificate {
        Certificate {
            proposal: [1; 32],
            method: "irv:quorum=1/4".into(),
            version: "irv@1".into(),
            options: vec!["a".into(), "b".into()],
            inputs: [2; 32],
            closes: vec![[3; 32]],
            electorate: 10,
            voters: 4,
            delegated: 2,
            lost: vec![LostWeight {
                member: [4; 32],
                reason: "dead-end".into(),
                at: Some([5; 32]),
            }],
            void: vec![VoidVote {
                event: [6; 32],
                reason: "late".into(),
            }],
            outcome: Outcome {
                participation: 6,
                abstained: 1,
                quorum_met: true,
                figures: vec![3, -1],
                passed: None,
                winners: vec![0],
                ranking: vec![vec![0], vec![1]],
                tie: false,
                rounds: vec![vec![3, 2], vec![3, -1]],
                matrix: vec![],
                exhausted: 2,
                spent: 0,
            },
        }
    }

    #[test]
    fn encoding_is_a_canonical_map() {
        let c = sample();
        let bytes = c.encode();
        assert_eq!(bytes[0], 0xac, "a map of 12");
        assert_eq!(bytes, c.clone().encode());
        // Figures are zigzagged: -1 → 1, 3 → 6.
        let mut r = dualpower_core::cbor::Reader::new(&bytes, 16);
        assert_eq!(r.map("certificate", 12).expect("map"), 12);
        assert_eq!(c.digest(), blake3::derive_key(DIGEST_CONTEXT, &bytes));
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(3), 6);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
    }

    #[test]
    fn json_has_hex_and_digest() {
        let c = sample();
        let j = c.to_json();
        assert_eq!(j["proposal"], serde_json::json!(hex::encode([1u8; 32])));
        assert_eq!(j["closes"][0], serde_json::json!(hex::encode([3u8; 32])));
        assert_eq!(
            j["lost"][0]["at"],
            serde_json::json!(hex::encode([5u8; 32]))
        );
        assert_eq!(j["outcome"]["figures"], serde_json::json!([3, -1]));
        assert_eq!(j["digest"], serde_json::json!(hex::encode(c.digest())));
    }

    #[test]
    fn every_field_moves_the_digest() {
        let base = sample();
        let d = base.digest();
        let mut variants: Vec<Certificate> = Vec::new();
        let mut v = base.clone();
        v.outcome.passed = Some(false);
        variants.push(v);
        let mut v = base.clone();
        v.lost[0].at = None;
        variants.push(v);
        let mut v = base.clone();
        v.outcome.tie = true;
        variants.push(v);
        let mut v = base.clone();
        v.method = "irv".into();
        variants.push(v);
        let mut v = base.clone();
        v.outcome.rounds[1][1] = -2;
        variants.push(v);
        for v in variants {
            assert_ne!(v.digest(), d);
        }
    }
}
