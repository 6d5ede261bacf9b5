//! The group feed: posts with their threaded comments and reactions.
//!
//! Rules (the same on every node):
//!
//! * The group's name comes from its valid genesis (seq 0 of log 0, whose derived id is the
//!   group). Another genesis-kind event in the group is rejected.
//! * A comment's parent and a reaction's target must be a post or comment of the same group that
//!   is in the set; otherwise the event is rejected with a reason the UI can show.
//! * A member's repeated identical reaction to one target counts once.
//! * Events whose body is missing (deleted or not yet fetched) or encrypted are listed as
//!   rejected with that reason; they may become readable later and the feed is simply recomputed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dualpower_core::cbor::Writer;
use dualpower_core::event::FLAG_ENCRYPTED;
use dualpower_core::{EventId, GroupId, Payload, PublicKey, VerifiedEvent, causal};

/// Why an event does not appear in the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The event has no body here (deleted, or not fetched yet).
    BodyMissing,
    /// The body is encrypted and this node holds no key for it.
    Encrypted,
    /// The body is not a valid payload.
    Undecodable(String),
    /// A genesis that is not the group's genesis.
    StrayGenesis,
    /// A comment or reaction points at an event that is not a post or comment of this group.
    UnknownTarget(EventId),
    /// An event of another group was passed in.
    WrongGroup,
    /// A kind this version does not display.
    UnknownKind(u64),
    /// The membership layer refused the event (the author was not a member, or was removed).
    Refused(String),
    /// A membership or key event inside an encrypted body (they must be readable to be judged).
    HiddenControl,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::BodyMissing => f.write_str("body not available"),
            Rejection::Encrypted => f.write_str("encrypted for a key this node does not hold"),
            Rejection::Undecodable(e) => write!(f, "invalid payload: {e}"),
            Rejection::StrayGenesis => f.write_str("a second genesis inside the group"),
            Rejection::UnknownTarget(id) => {
                write!(f, "refers to {id}, which is not a post or comment here")
            }
            Rejection::WrongGroup => f.write_str("belongs to another group"),
            Rejection::UnknownKind(k) => write!(f, "kind {k} is not known to this version"),
            Rejection::Refused(r) => f.write_str(r),
            Rejection::HiddenControl => f.write_str("a membership event inside an encrypted body"),
        }
    }
}

/// A comment in a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentView {
    /// Event id.
    pub id: EventId,
    /// What it replies to (a post or another comment).
    pub parent: EventId,
    /// Author.
    pub author: PublicKey,
    /// Advisory timestamp (ms).
    pub timestamp: u64,
    /// Text.
    pub text: String,
    /// Reaction → who reacted.
    pub reactions: BTreeMap<String, BTreeSet<PublicKey>>,
}

/// A post with its thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostView {
    /// Event id.
    pub id: EventId,
    /// Author.
    pub author: PublicKey,
    /// Advisory timestamp (ms).
    pub timestamp: u64,
    /// Text.
    pub text: String,
    /// Comments on the post or on its comments, in causal order.
    pub comments: Vec<CommentView>,
    /// Reaction → who reacted.
    pub reactions: BTreeMap<String, BTreeSet<PublicKey>>,
}

/// The derived feed of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    /// The group.
    pub group: GroupId,
    /// Name from the genesis, if the genesis is present.
    pub name: Option<String>,
    /// Posts in causal order.
    pub posts: Vec<PostView>,
    /// Events that do not appear, with the reason, in causal order.
    pub rejected: Vec<(EventId, Rejection)>,
}

enum Node {
    Post(usize),
    Comment(usize, usize),
}

impl Feed {
    /// Derives the feed of `group` from a set of verified events (any order, duplicates ignored),
    /// with no decryption and no membership filter.
    pub fn derive(group: GroupId, events: &[VerifiedEvent]) -> Feed {
        Feed::derive_opened(group, events, &HashMap::new(), &HashMap::new())
    }

    /// Derives the feed of `group`, reading encrypted events from `opened` (event id →
    /// decrypted payload bytes) and leaving out the events in `refused` (event id → the reason
    /// the membership layer gave). Membership and key events are not feed items and are skipped.
    pub fn derive_opened(
        group: GroupId,
        events: &[VerifiedEvent],
        opened: &HashMap<EventId, Vec<u8>>,
        refused: &HashMap<EventId, String>,
    ) -> Feed {
        let order = causal::order_events(events);
        let mut feed = Feed {
            group,
            name: None,
            posts: Vec::new(),
            rejected: Vec::new(),
        };
        // Decode first; attach references in a second pass so the result does not depend on
        // whether an author listed the parent among its deps.
        let mut decoded: Vec<(&VerifiedEvent, Payload)> = Vec::with_capacity(order.len());
        for i in order {
            let ev = &events[i];
            if let Some(r) = refused.get(&ev.id()) {
                feed.rejected.push((ev.id(), Rejection::Refused(r.clone())));
                continue;
            }
            match payload_of(group, ev, opened) {
                Ok(p) => decoded.push((ev, p)),
                Err(r) => feed.rejected.push((ev.id(), r)),
            }
        }
        let mut nodes: HashMap<EventId, Node> = HashMap::new();
        let mut pending_comments = Vec::new();
        let mut pending_reactions = Vec::new();
        for (ev, payload) in decoded {
            let h = ev.header();
            match payload {
                Payload::GroupGenesis(g) => {
                    if h.seq == 0
                        && h.log == 0
                        && g.group_id(&h.author) == group
                        && feed.name.is_none()
                    {
                        feed.name = Some(g.name);
                    } else {
                        feed.rejected.push((ev.id(), Rejection::StrayGenesis));
                    }
                }
                Payload::Post { text } => {
                    nodes.insert(ev.id(), Node::Post(feed.posts.len()));
                    feed.posts.push(PostView {
                        id: ev.id(),
                        author: h.author,
                        timestamp: h.timestamp,
                        text,
                        comments: Vec::new(),
                        reactions: BTreeMap::new(),
                    });
                }
                // A proposal is shown as a post, so its discussion threads under it.
                Payload::Propose(p) => {
                    nodes.insert(ev.id(), Node::Post(feed.posts.len()));
                    let mut text = format!("Proposal: {}", p.text.title);
                    if !p.text.body.is_empty() {
                        text.push_str("\n\n");
                        text.push_str(&p.text.body);
                    }
                    feed.posts.push(PostView {
                        id: ev.id(),
                        author: h.author,
                        timestamp: h.timestamp,
                        text,
                        comments: Vec::new(),
                        reactions: BTreeMap::new(),
                    });
                }
                Payload::Comment { parent, text } => pending_comments.push((ev, parent, text)),
                Payload::Reaction { target, reaction } => {
                    pending_reactions.push((ev, target, reaction))
                }
                Payload::Unknown { kind } => {
                    feed.rejected.push((ev.id(), Rejection::UnknownKind(kind)))
                }
                // Display names: see `names`; node addresses: the node reads them.
                Payload::Profile { .. } | Payload::Reach { .. } => {}
                // Decisions travel encrypted; the decision views show them.
                p if crate::decisions::owns(&p) => {}
                _ if h.flags & FLAG_ENCRYPTED != 0 => {
                    feed.rejected.push((ev.id(), Rejection::HiddenControl))
                }
                // Membership and key events: the membership layer's business.
                _ => {}
            }
        }
        attach_comments(&mut feed, &mut nodes, pending_comments);
        for (ev, target, reaction) in pending_reactions {
            let set = match nodes.get(&target) {
                Some(Node::Post(p)) => &mut feed.posts[*p].reactions,
                Some(Node::Comment(p, c)) => &mut feed.posts[*p].comments[*c].reactions,
                None => {
                    feed.rejected
                        .push((ev.id(), Rejection::UnknownTarget(target)));
                    continue;
                }
            };
            set.entry(reaction).or_default().insert(ev.header().author);
        }
        feed
    }

    /// BLAKE3 of a canonical encoding of the whole feed: equal on every node with the same events.
    pub fn state_hash(&self) -> [u8; 32] {
        let mut w = Writer::default();
        w.bytes(&self.group.0);
        match &self.name {
            Some(n) => w.text(n),
            None => w.null(),
        };
        w.array(self.posts.len());
        for p in &self.posts {
            w.bytes(&p.id.0)
                .bytes(&p.author.0)
                .uint(p.timestamp)
                .text(&p.text);
            reactions(&mut w, &p.reactions);
            w.array(p.comments.len());
            for c in &p.comments {
                w.bytes(&c.id.0)
                    .bytes(&c.parent.0)
                    .bytes(&c.author.0)
                    .uint(c.timestamp)
                    .text(&c.text);
                reactions(&mut w, &c.reactions);
            }
        }
        w.array(self.rejected.len());
        for (id, r) in &self.rejected {
            w.bytes(&id.0).text(&r.to_string());
        }
        *blake3::hash(&w.into_bytes()).as_bytes()
    }
}

fn reactions(w: &mut Writer, r: &BTreeMap<String, BTreeSet<PublicKey>>) {
    w.map(r.len());
    for (k, who) in r {
        w.text(k).array(who.len());
        for p in who {
            w.bytes(&p.0);
        }
    }
}

fn payload_of(
    group: GroupId,
    ev: &VerifiedEvent,
    opened: &HashMap<EventId, Vec<u8>>,
) -> Result<Payload, Rejection> {
    let h = ev.header();
    if h.group != group {
        return Err(Rejection::WrongGroup);
    }
    if h.body_len == 0 {
        return Err(Rejection::Undecodable("empty body".into()));
    }
    if h.flags & FLAG_ENCRYPTED != 0 {
        let plain = opened.get(&ev.id()).ok_or(Rejection::Encrypted)?;
        return Payload::decode(plain).map_err(|e| Rejection::Undecodable(e.to_string()));
    }
    let body = ev.body().ok_or(Rejection::BodyMissing)?;
    Payload::decode(body).map_err(|e| Rejection::Undecodable(e.to_string()))
}

/// Attaches comments to their posts or parent comments, recording the orphans as refused.
fn attach_comments(
    feed: &mut Feed,
    nodes: &mut HashMap<EventId, Node>,
    mut pending: Vec<(&VerifiedEvent, EventId, String)>,
) {
    // Comments may reply to comments: attach in rounds until nothing changes (each round is
    // in causal order, so the result is deterministic).
    loop {
        let before = pending.len();
        let mut still = Vec::new();
        for (ev, parent, text) in pending {
            let post = match nodes.get(&parent) {
                Some(Node::Post(p)) | Some(Node::Comment(p, _)) => *p,
                None => {
                    still.push((ev, parent, text));
                    continue;
                }
            };
            let h = ev.header();
            let idx = feed.posts[post].comments.len();
            feed.posts[post].comments.push(CommentView {
                id: ev.id(),
                parent,
                author: h.author,
                timestamp: h.timestamp,
                text,
                reactions: BTreeMap::new(),
            });
            nodes.insert(ev.id(), Node::Comment(post, idx));
        }
        pending = still;
        if pending.len() == before || pending.is_empty() {
            break;
        }
    }
    for (ev, parent, _) in pending {
        feed.rejected
            .push((ev.id(), Rejection::UnknownTarget(parent)));
    }
}
