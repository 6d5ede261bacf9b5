//! Typed event bodies.
//!
//! A body is canonical CBOR: a map whose key 0 is the payload kind and whose other keys are the
//! kind's fields, in ascending order. New kinds (membership, governance, tasks, reputation,
//! logistics) are added as new variants with new kind numbers; a node that does not know a kind
//! still stores, verifies and replicates the event and decodes it as [`Payload::Unknown`], so old
//! nodes never split the network. Known kinds are decoded strictly: unknown fields are an error.

use thiserror::Error;

use crate::cbor::{CborError, Reader, Writer};
use crate::event::{EventId, GroupId};
use crate::keys::PublicKey;

/// Longest group name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 200;
/// Longest post or comment text, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 32 * 1024;
/// Longest reaction, in bytes of UTF-8 (an emoji or a short word).
pub const MAX_REACTION_BYTES: usize = 64;
const MAX_PAYLOAD_DEPTH: usize = 8;

/// Kind numbers. Never reuse a number.
mod kind {
    pub const GROUP_GENESIS: u64 = 1;
    pub const POST: u64 = 2;
    pub const COMMENT: u64 = 3;
    pub const REACTION: u64 = 4;
}

/// The content of an event body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// Creates a group. Must be seq 0 of log 0 of its author, in the group its fields derive.
    GroupGenesis(Genesis),
    /// A top-level post.
    Post {
        /// The text.
        text: String,
    },
    /// A reply to a post or comment.
    Comment {
        /// The event replied to.
        parent: EventId,
        /// The text.
        text: String,
    },
    /// A reaction to an event (an emoji or short word).
    Reaction {
        /// The event reacted to.
        target: EventId,
        /// The reaction.
        reaction: String,
    },
    /// A kind this node does not know (written by a newer version). Kept and replicated, ignored
    /// by derived state.
    Unknown {
        /// The kind number.
        kind: u64,
    },
}

/// The constitution-bearing first event of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    /// Human-readable name (not unique; the id is what identifies the group).
    pub name: String,
    /// Random bytes that make the group id unique.
    pub nonce: [u8; 16],
}

impl Genesis {
    /// The group id this genesis creates when `creator` signs it: nobody else can produce a valid
    /// genesis for the same id.
    pub fn group_id(&self, creator: &PublicKey) -> GroupId {
        let mut h = blake3::Hasher::new_derive_key("dualpower group id v1");
        h.update(&creator.0);
        h.update(&self.nonce);
        GroupId(*h.finalize().as_bytes())
    }
}

/// Why a body is not a valid payload.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PayloadError {
    /// Not canonical CBOR of the kind's shape.
    #[error("payload is not canonical: {0}")]
    Encoding(#[from] CborError),
    /// A field the kind does not define.
    #[error("payload kind {kind} has unknown field {field}")]
    UnknownField {
        /// The kind.
        kind: u64,
        /// The field key.
        field: u64,
    },
    /// A required field is absent.
    #[error("payload kind {kind} lacks field `{field}`")]
    MissingField {
        /// The kind.
        kind: u64,
        /// The field name.
        field: &'static str,
    },
    /// Text that must not be empty is empty.
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
}

impl Payload {
    /// Canonical CBOR of the payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        match self {
            Payload::GroupGenesis(g) => {
                w.map(3)
                    .uint(0)
                    .uint(kind::GROUP_GENESIS)
                    .uint(1)
                    .text(&g.name)
                    .uint(2)
                    .bytes(&g.nonce);
            }
            Payload::Post { text } => {
                w.map(2).uint(0).uint(kind::POST).uint(1).text(text);
            }
            Payload::Comment { parent, text } => {
                w.map(3)
                    .uint(0)
                    .uint(kind::COMMENT)
                    .uint(1)
                    .bytes(&parent.0)
                    .uint(2)
                    .text(text);
            }
            Payload::Reaction { target, reaction } => {
                w.map(3)
                    .uint(0)
                    .uint(kind::REACTION)
                    .uint(1)
                    .bytes(&target.0)
                    .uint(2)
                    .text(reaction);
            }
            Payload::Unknown { kind } => {
                w.map(1).uint(0).uint(*kind);
            }
        }
        w.into_bytes()
    }

    /// Strictly decodes a body.
    pub fn decode(body: &[u8]) -> Result<Payload, PayloadError> {
        let mut r = Reader::new(body, MAX_PAYLOAD_DEPTH);
        let pairs = r.map("payload", 64)?;
        if pairs == 0 {
            return Err(PayloadError::MissingField {
                kind: 0,
                field: "kind",
            });
        }
        let k0 = r.key(None)?;
        if k0 != 0 {
            return Err(PayloadError::MissingField {
                kind: 0,
                field: "kind",
            });
        }
        let kind = r.uint()?;
        let mut fields = Fields {
            r,
            kind,
            left: pairs - 1,
            prev: 0,
        };
        let payload = match kind {
            kind::GROUP_GENESIS => {
                let name = fields.text(1, "name", MAX_NAME_BYTES)?;
                let nonce = fields.expect(2, "nonce")?.bytes_n::<16>("nonce")?;
                Payload::GroupGenesis(Genesis { name, nonce })
            }
            kind::POST => Payload::Post {
                text: fields.text(1, "text", MAX_TEXT_BYTES)?,
            },
            kind::COMMENT => {
                let parent = EventId(fields.expect(1, "parent")?.bytes_n::<32>("parent")?);
                let text = fields.text(2, "text", MAX_TEXT_BYTES)?;
                Payload::Comment { parent, text }
            }
            kind::REACTION => {
                let target = EventId(fields.expect(1, "target")?.bytes_n::<32>("target")?);
                let reaction = fields.text(2, "reaction", MAX_REACTION_BYTES)?;
                Payload::Reaction { target, reaction }
            }
            other => {
                // A newer kind: we cannot check its fields, only that the whole body is
                // canonical CBOR within our depth bound.
                while fields.left > 0 {
                    let k = fields.r.key(Some(fields.prev))?;
                    fields.prev = k;
                    fields.r.skip()?;
                    fields.left -= 1;
                }
                Payload::Unknown { kind: other }
            }
        };
        if fields.left > 0 {
            let field = fields.r.key(Some(fields.prev))?;
            return Err(PayloadError::UnknownField { kind, field });
        }
        fields.r.leave();
        fields.r.finish()?;
        Ok(payload)
    }

    /// A short name of the kind, for logs and the CLI.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Payload::GroupGenesis(_) => "group-genesis",
            Payload::Post { .. } => "post",
            Payload::Comment { .. } => "comment",
            Payload::Reaction { .. } => "reaction",
            Payload::Unknown { .. } => "unknown",
        }
    }
}

struct Fields<'a> {
    r: Reader<'a>,
    kind: u64,
    left: usize,
    prev: u64,
}

impl<'a> Fields<'a> {
    fn expect(&mut self, key: u64, field: &'static str) -> Result<&mut Reader<'a>, PayloadError> {
        let missing = PayloadError::MissingField {
            kind: self.kind,
            field,
        };
        if self.left == 0 {
            return Err(missing);
        }
        let save = self.r.clone();
        let k = self.r.key(Some(self.prev))?;
        if k > key {
            self.r = save;
            return Err(missing);
        }
        if k < key {
            return Err(PayloadError::UnknownField {
                kind: self.kind,
                field: k,
            });
        }
        self.prev = k;
        self.left -= 1;
        Ok(&mut self.r)
    }

    fn text(&mut self, key: u64, field: &'static str, max: usize) -> Result<String, PayloadError> {
        let t = self.expect(key, field)?.text(field, max)?;
        if t.trim().is_empty() {
            return Err(PayloadError::Empty(field));
        }
        Ok(t.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        let all = [
            Payload::GroupGenesis(Genesis {
                name: "Tenants of 5th St".into(),
                nonce: [9; 16],
            }),
            Payload::Post {
                text: "rent strike meeting tonight".into(),
            },
            Payload::Comment {
                parent: EventId([1; 32]),
                text: "I'll bring food".into(),
            },
            Payload::Reaction {
                target: EventId([2; 32]),
                reaction: "✊".into(),
            },
            Payload::Unknown { kind: 99 },
        ];
        for p in all {
            assert_eq!(Payload::decode(&p.encode()), Ok(p));
        }
    }

    #[test]
    fn unknown_kinds_with_fields_are_kept_known_kinds_reject_extra_fields() {
        let mut w = Writer::default();
        w.map(3).uint(0).uint(500).uint(1).text("x").uint(7);
        w.array(2).uint(1).bytes(b"ab");
        assert_eq!(
            Payload::decode(&w.into_bytes()),
            Ok(Payload::Unknown { kind: 500 })
        );
        let mut w = Writer::default();
        w.map(3)
            .uint(0)
            .uint(kind::POST)
            .uint(1)
            .text("hi")
            .uint(2)
            .uint(0);
        assert_eq!(
            Payload::decode(&w.into_bytes()),
            Err(PayloadError::UnknownField {
                kind: kind::POST,
                field: 2
            })
        );
        let mut w = Writer::default();
        w.map(1).uint(0).uint(kind::POST);
        assert_eq!(
            Payload::decode(&w.into_bytes()),
            Err(PayloadError::MissingField {
                kind: kind::POST,
                field: "text"
            })
        );
    }
}
