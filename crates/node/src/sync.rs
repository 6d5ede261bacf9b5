//! The sync protocol's decisions as plain functions of store contents, so the node's event loop,
//! the benchmarks and the tests all run exactly the same logic.
//!
//! Forks: a forked log's digest row carries its [`LogInfo::fork_digest`] instead of its head, a
//! forked log is asked for (and sent, by the store) from its fork seq, and when length-based
//! rounds end with buckets still differing, one `Tips` round finds logs where the two sides hold
//! different versions without either knowing of the fork (see `dualpower_net::protocol`).

use dualpower_core::{Event, EventId, GroupId, PublicKey, VerifiedEvent, verify_batch};
use dualpower_net::protocol::{
    ANSWER_BUDGET_BYTES, MAX_EVENTS_PER_ANSWER, MAX_LOGS_PER_ANSWER, MAX_TIPS_PER_ANSWER,
    MAX_WANTS, Token, bucket_count, bucket_digests, bucket_of, heights_digest,
};
use dualpower_net::{LogHeight, RawEvent, Request, Response, Tip, Want};
use dualpower_state::GroupState;
use dualpower_store::{IngestError, Ingested, LogInfo, Store, StoreError};

const NONE: [u8; 32] = [0; 32];

type Row<'a> = (&'a dualpower_core::PublicKey, u64, u64, &'a [u8; 32]);

/// The digest rows: (author, log, len, tip), the tip being the head, or for a forked log the
/// digest of every id from the fork seq on (the head alone would not tell which versions a side
/// holds).
fn rows(logs: &[LogInfo]) -> impl Iterator<Item = Row<'_>> {
    logs.iter().map(|l| {
        (
            &l.author,
            l.log,
            l.len,
            l.fork_digest
                .as_ref()
                .or(l.head.as_ref().map(|h| &h.0))
                .unwrap_or(&NONE),
        )
    })
}

/// How far below the shorter length a log is asked for again when the two sides hold different
/// heads and neither knows of a fork: divergences up to this deep are repaired in one round.
/// (Deeper ones are repaired once either side holds both versions, e.g. by gossip or a bundle.)
pub const DIVERGENCE_WINDOW: u64 = EVENTS_PER_ROUND as u64 / 2;

/// What a requester reports holding of a log: its length, or for a forked log its fork seq, so
/// the responder sends every version from there (lengths do not tell which versions we hold).
fn held(l: &LogInfo) -> u64 {
    l.fork_seq.map_or(l.len, |f| f.min(l.len))
}

/// The digest of our logs of a group, for a `Summary` request.
pub fn digest(logs: &[LogInfo]) -> [u8; 32] {
    heights_digest(rows(logs))
}

/// The buckets whose digests differ between our logs and the peer's `Buckets` answer.
pub fn differing_buckets(local: &[LogInfo], count: u32, theirs: &[[u8; 8]]) -> Vec<u32> {
    let ours = bucket_digests(rows(local), count);
    ours.iter()
        .zip(theirs)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, _)| i as u32)
        .collect()
}

/// The requester's side of one sync with one peer for one group: which request comes next.
/// Pure: the caller sends the requests, stores the events, and passes in the current logs.
#[derive(Debug, Clone)]
pub struct Session {
    token: Token,
    /// The responder's digest, once known: reaching it means we are done without asking again.
    target: Option<[u8; 32]>,
    /// The responder's heights of the logs that differ.
    remote: Vec<LogHeight>,
    /// Events the peer has that we lack, as of the last heights.
    pub remaining: u64,
    /// The differing buckets being fetched (bucket count, buckets), after a `Buckets` answer.
    fetching: Option<(u32, Vec<u32>)>,
    /// The responder's bucket digests (bucket count, digests), after a `Buckets` answer.
    theirs: Option<(u32, Vec<[u8; 8]>)>,
    /// A `Tips` round was sent in this session (at most one).
    probed: bool,
}

/// What to do next in a [`Session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this request.
    Send(Request),
    /// In sync with the peer (or the peer cannot give us more).
    Done,
}

/// Events requested per round.
pub const EVENTS_PER_ROUND: u32 = 4000;

impl Session {
    /// A session for the group with this token.
    pub fn new(token: Token) -> Session {
        Session {
            token,
            target: None,
            remote: Vec::new(),
            remaining: 0,
            fetching: None,
            theirs: None,
            probed: false,
        }
    }

    /// The first request: a summary of what we hold.
    pub fn start(&mut self, local: &[LogInfo]) -> Request {
        Request::Summary {
            token: self.token,
            digest: digest(local),
        }
    }

    /// Handles an answer other than `Events`. `Err` if the answer does not fit the protocol.
    /// `known` tells whether we store an event (used for a `Tips` answer: a peer's head that we
    /// hold means its log is a prefix of ours).
    pub fn on_answer(
        &mut self,
        local: &[LogInfo],
        res: Response,
        known: &dyn Fn(&EventId) -> bool,
    ) -> Result<Step, &'static str> {
        match res {
            Response::Hello { .. } | Response::Proven { .. } => {
                Err("a handshake answer to a sync request")
            }
            Response::InSync => {
                self.remaining = 0;
                Ok(Step::Done)
            }
            Response::Buckets {
                digest: theirs,
                count,
                buckets,
            } => {
                if buckets.len() != count as usize {
                    return Err("bucket count mismatch");
                }
                self.target = Some(theirs);
                let differ = differing_buckets(local, count, &buckets);
                self.theirs = Some((count, buckets));
                if differ.is_empty() {
                    // The sets differ but no bucket digest does (a collision, accidental or
                    // ground by an author): fall back to all heights rather than stop short.
                    return Ok(Step::Send(Request::Heights { token: self.token }));
                }
                self.fetching = Some((count, differ));
                Ok(self.fetch(local))
            }
            Response::Heights { logs, .. } => {
                self.remote = logs;
                Ok(match self.next_fetch(local) {
                    Step::Done => self.probe(local),
                    send => send,
                })
            }
            Response::Tips { logs, .. } => {
                if !self.probed {
                    return Err("tips that were not asked for");
                }
                Ok(self.on_tips(local, &logs, known))
            }
            Response::Events { .. } => Err("events where heights were expected"),
        }
    }

    /// After an `Events` answer was stored (`stored` new events, including any released from
    /// quarantine): the next request, if any.
    pub fn after_events(&mut self, local: &[LogInfo], stored: usize) -> Step {
        if self.target == Some(digest(local)) {
            self.remaining = 0;
            return Step::Done;
        }
        if stored == 0 {
            // Nothing new although the digests differ: either the peer lacks what we have (it
            // will fetch it itself), or a log differs in a way lengths cannot show (a fork
            // neither side knows of). One `Tips` round tells; then stop rather than loop.
            return self.probe(local);
        }
        if self.fetching.is_some() {
            return self.fetch(local);
        }
        match self.next_fetch(local) {
            Step::Done => Step::Send(self.start(local)),
            send => send,
        }
    }

    /// Once per session, when the digests still differ: ask for the heads in the differing
    /// buckets (all of them if none differs, i.e. a digest collision).
    fn probe(&mut self, local: &[LogInfo]) -> Step {
        if self.probed || self.target.is_none() || self.target == Some(digest(local)) {
            return Step::Done;
        }
        let Some((count, theirs)) = &self.theirs else {
            return Step::Done;
        };
        self.probed = true;
        let mut buckets = differing_buckets(local, *count, theirs);
        if buckets.is_empty() {
            buckets = (0..*count).collect();
        }
        Step::Send(Request::Tips {
            token: self.token,
            count: *count,
            buckets,
        })
    }

    /// After a `Tips` answer: ask again for every log whose tip differs from ours in a way that
    /// is not "the peer holds a prefix of what we hold".
    fn on_tips(
        &mut self,
        local: &[LogInfo],
        tips: &[Tip],
        known: &dyn Fn(&EventId) -> bool,
    ) -> Step {
        let mine: std::collections::HashMap<_, _> =
            local.iter().map(|l| ((l.author, l.log), l)).collect();
        let mut wants = Vec::new();
        for t in tips {
            if wants.len() >= MAX_WANTS {
                break;
            }
            let from = match mine.get(&(t.author, t.log)) {
                // A forked log on either side: from the lowest fork seq we know of (the
                // responder lowers it to its own).
                Some(l) if l.forked || t.fork_seq.is_some() => {
                    held(l).min(t.fork_seq.unwrap_or(u64::MAX))
                }
                None => 0,
                Some(l) if l.len == t.len && l.head.map(|h| h.0) == Some(t.head) => continue,
                // Their head is ours: they hold a prefix of our log (they will fetch the rest).
                Some(_) if known(&EventId(t.head)) => continue,
                // Their head is not ours: they hold a version we lack, somewhere below.
                Some(l) => l.len.min(t.len).saturating_sub(DIVERGENCE_WINDOW),
            };
            wants.push(Want {
                author: t.author,
                log: t.log,
                from,
            });
        }
        if wants.is_empty() {
            return Step::Done;
        }
        Step::Send(Request::Events {
            token: self.token,
            wants,
            max: EVENTS_PER_ROUND,
        })
    }

    /// "Send me what you have beyond what I hold in these buckets."
    fn fetch(&self, local: &[LogInfo]) -> Step {
        let Some((count, buckets)) = &self.fetching else {
            return Step::Done;
        };
        let have = local
            .iter()
            .filter(|l| {
                l.len > 0
                    && buckets
                        .binary_search(&bucket_of(&l.author, l.log, *count))
                        .is_ok()
            })
            .map(|l| (author_prefix(&l.author), l.log, held(l)))
            .take(MAX_WANTS)
            .collect();
        Step::Send(Request::Fetch {
            token: self.token,
            count: *count,
            buckets: buckets.clone(),
            have,
            max: EVENTS_PER_ROUND,
        })
    }

    fn next_fetch(&mut self, local: &[LogInfo]) -> Step {
        // Every differing log at once: the responder sends in its (causal) arrival order, and a
        // narrower list would make it skip over the other logs' events.
        let (wants, remaining) = plan(local, &self.remote);
        self.remaining = remaining;
        if wants.is_empty() {
            return Step::Done;
        }
        Step::Send(Request::Events {
            token: self.token,
            wants,
            max: EVENTS_PER_ROUND,
        })
    }
}

/// Answers a request for `group` (`None`: a group we do not hold or may not share, which gets
/// the same empty answer as an empty group, so a stranger learns nothing). Work is bounded by
/// [`MAX_LOGS_PER_ANSWER`], [`MAX_EVENTS_PER_ANSWER`] and [`ANSWER_BUDGET_BYTES`].
pub fn answer(store: &Store, group: Option<GroupId>, req: Request) -> Result<Response, StoreError> {
    answer_within(store, group, req, ANSWER_BUDGET_BYTES)
}

/// [`answer`], with events answers filled up to about `budget` bytes (anonymous mode answers
/// with less: see `ANONYMOUS_ANSWER_BUDGET_BYTES`).
pub fn answer_within(
    store: &Store,
    group: Option<GroupId>,
    req: Request,
    budget: usize,
) -> Result<Response, StoreError> {
    let Some(group) = group else {
        return Ok(match req {
            Request::Events { .. } | Request::Fetch { .. } => Response::Events {
                events: Vec::new(),
                more: false,
            },
            Request::Summary { .. } | Request::Heights { .. } => Response::Heights {
                logs: Vec::new(),
                truncated: false,
            },
            Request::Tips { .. } => Response::Tips {
                logs: Vec::new(),
                truncated: false,
            },
            Request::Hello { .. } | Request::Prove { .. } => Response::Proven {
                tags: Vec::new(),
                refused: Vec::new(),
            },
            Request::Nudge { .. } => Response::InSync,
        });
    };
    match req {
        // The node runs the handshake itself; one that reaches here proves nothing.
        Request::Hello { .. } | Request::Prove { .. } => Ok(Response::Proven {
            tags: Vec::new(),
            refused: Vec::new(),
        }),
        // The node acts on a nudge itself; one that reaches here asks for nothing.
        Request::Nudge { .. } => Ok(Response::InSync),
        Request::Summary { digest: theirs, .. } => {
            let logs = store.logs(Some(group))?;
            let mine = digest(&logs);
            if mine == theirs {
                return Ok(Response::InSync);
            }
            let count = bucket_count(logs.len());
            Ok(Response::Buckets {
                digest: mine,
                count,
                buckets: bucket_digests(rows(&logs), count),
            })
        }
        Request::Heights { .. } => Ok(heights(store.logs(Some(group))?)),
        Request::Tips { count, buckets, .. } => {
            let wanted: std::collections::HashSet<u32> = buckets.into_iter().collect();
            let mut logs = store.logs(Some(group))?;
            logs.retain(|l| l.len > 0 && wanted.contains(&bucket_of(&l.author, l.log, count)));
            let truncated = logs.len() > MAX_TIPS_PER_ANSWER;
            Ok(Response::Tips {
                logs: logs
                    .into_iter()
                    .take(MAX_TIPS_PER_ANSWER)
                    .filter_map(|l| {
                        Some(Tip {
                            author: l.author,
                            log: l.log,
                            len: l.len,
                            head: l.head?.0,
                            fork_seq: l.fork_seq,
                        })
                    })
                    .collect(),
                truncated,
            })
        }
        Request::Fetch {
            count,
            buckets,
            have,
            max,
            ..
        } => {
            let held: std::collections::HashMap<([u8; 8], u64), u64> =
                have.into_iter().map(|(p, l, n)| ((p, l), n)).collect();
            let wanted: std::collections::HashSet<u32> = buckets.into_iter().collect();
            let wants: Vec<_> = store
                .logs(Some(group))?
                .into_iter()
                .filter(|l| wanted.contains(&bucket_of(&l.author, l.log, count)))
                .filter_map(|l| {
                    let from = held
                        .get(&(author_prefix(&l.author), l.log))
                        .copied()
                        .unwrap_or(0);
                    // A forked log is always sent (from its fork seq, by the store): the asker's
                    // length cannot tell which of its versions it holds.
                    (l.len > from || l.forked).then_some((l.author, l.log, from))
                })
                .take(MAX_WANTS)
                .collect();
            let max = (max as usize).min(MAX_EVENTS_PER_ANSWER);
            let (events, more) = store.suffixes_in_arrival_order(&group, &wants, max, budget)?;
            Ok(Response::Events { events, more })
        }
        Request::Events { wants, max, .. } => {
            let max = (max as usize).min(MAX_EVENTS_PER_ANSWER);
            let wants: Vec<_> = wants
                .iter()
                .take(MAX_WANTS)
                .map(|w| (w.author, w.log, w.from))
                .collect();
            let (events, more) = store.suffixes_in_arrival_order(&group, &wants, max, budget)?;
            Ok(Response::Events { events, more })
        }
    }
}

fn heights(logs: Vec<LogInfo>) -> Response {
    let truncated = logs.len() > MAX_LOGS_PER_ANSWER;
    Response::Heights {
        logs: logs
            .into_iter()
            .filter(|l| l.len > 0)
            .take(MAX_LOGS_PER_ANSWER)
            .map(|l| LogHeight {
                author: l.author,
                log: l.log,
                len: l.len,
            })
            .collect(),
        truncated,
    }
}

/// What to ask for, given our logs and the peer's heights: every log the peer holds more of,
/// from our length on (a log forked on our side from its fork seq, since lengths do not tell
/// which versions we hold). Returns the wants (at most [`MAX_WANTS`]) and how many events the
/// peer has that we lack.
pub fn plan(local: &[LogInfo], remote: &[LogHeight]) -> (Vec<Want>, u64) {
    let mine: std::collections::HashMap<_, _> = local
        .iter()
        .map(|l| ((l.author, l.log), (l.len, held(l))))
        .collect();
    let mut wants = Vec::new();
    let mut remaining = 0u64;
    for l in remote {
        let (have, from) = mine.get(&(l.author, l.log)).copied().unwrap_or((0, 0));
        if l.len > have {
            remaining = remaining.saturating_add(l.len - have);
            wants.push(Want {
                author: l.author,
                log: l.log,
                from,
            });
        }
    }
    wants.truncate(MAX_WANTS);
    (wants, remaining)
}

/// What storing a sync answer did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Ids newly stored (including events released from quarantine), in order.
    pub stored: Vec<dualpower_core::EventId>,
    /// Events that failed decoding or verification, or belonged to another group.
    pub invalid: u64,
    /// Valid events dropped because their authors cannot be in the group (see [`Admit`]).
    pub dropped: u64,
    /// Valid, admissible events whose predecessor or deps are neither stored nor earlier in the
    /// answer: not stored, handed back for the caller's bounded quarantine.
    pub unlinked: Vec<VerifiedEvent>,
}

/// Whose events a sync answer may bring, by what the peer proved in the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Anyone's (the benchmarks' open groups, bundles).
    Any,
    /// A member's answer: events of authors who are or were members, the creator, and pending
    /// joiners with a valid invite.
    Members,
    /// A pending joiner's answer (it proved an invite key): only events of joiners who used that
    /// invite and are pending or were admitted (a joiner admitted while away proves with its
    /// invite until it learns it is a member), i.e. its own join, prekey and writes.
    Joiner(EventId),
}

impl Admit {
    /// Whether `author`'s events are admitted, judged on `state`.
    fn admits(&self, state: &GroupState, author: &PublicKey) -> bool {
        match self {
            Admit::Any => true,
            Admit::Members => {
                state.members.contains_key(author)
                    || state.removed.contains_key(author)
                    || state.pending.contains_key(author)
                    || state.creator.as_ref() == Some(author)
            }
            Admit::Joiner(invite) => {
                state
                    .pending
                    .get(author)
                    .is_some_and(|p| p.invite == *invite)
                    || (state.members.contains_key(author)
                        && state
                            .invites
                            .get(invite)
                            .is_some_and(|i| i.used_by.contains(author)))
            }
        }
    }
}

/// Keeps the events of `batch` whose authors `admit` lets into `group`. Judged first on the
/// derived state of what is stored; an author that state does not admit is judged again on the
/// state derived from the stored events and the batch together, so a catch-up that brings the
/// genesis, an invite and a join along with the joiner's events keeps them. Events by keys that
/// are no member there either (fresh keys writing into the group) are dropped: returns (kept,
/// dropped).
pub fn admissible(
    store: &Store,
    group: GroupId,
    admit: Admit,
    batch: Vec<VerifiedEvent>,
) -> Result<(Vec<VerifiedEvent>, u64), StoreError> {
    if admit == Admit::Any || batch.is_empty() {
        return Ok((batch, 0));
    }
    let (stored, state) = crate::ops::derived::derived(store, group)?;
    if batch
        .iter()
        .all(|e| admit.admits(&state, &e.header().author))
    {
        return Ok((batch, 0));
    }
    let mut all: Vec<VerifiedEvent> = Vec::with_capacity(stored.len() + batch.len());
    all.extend(stored.iter().cloned());
    all.extend(batch.iter().cloned());
    let wider = GroupState::derive(store.network(), group, &all);
    let before = batch.len() as u64;
    let kept: Vec<VerifiedEvent> = batch
        .into_iter()
        .filter(|e| {
            let a = &e.header().author;
            admit.admits(&state, a) || admit.admits(&wider, a)
        })
        .collect();
    let dropped = before - kept.len() as u64;
    Ok((kept, dropped))
}

/// Splits `batch` (in the order given) into events whose predecessor and deps are stored or
/// earlier in the linked part, and the rest, which the store would quarantine.
pub fn split_unlinked(
    store: &Store,
    batch: Vec<VerifiedEvent>,
) -> Result<(Vec<VerifiedEvent>, Vec<VerifiedEvent>), StoreError> {
    let mut seen = std::collections::HashSet::new();
    let (mut linked, mut unlinked) = (Vec::new(), Vec::new());
    for e in batch {
        let h = e.header();
        let mut ok = true;
        for id in h.backlink.iter().chain(h.deps.iter()) {
            if !seen.contains(id) && !store.contains(id)? {
                ok = false;
                break;
            }
        }
        if ok {
            seen.insert(e.id());
            linked.push(e);
        } else {
            unlinked.push(e);
        }
    }
    Ok((linked, unlinked))
}

/// Stores `events` of `group` (already verified and admitted). Returns the ids stored (with what
/// they released from quarantine) and how many belonged to another group.
pub fn store_linked(
    store: &Store,
    group: GroupId,
    events: Vec<VerifiedEvent>,
) -> Result<(Vec<EventId>, u64), StoreError> {
    let (mut stored, mut wrong) = (Vec::new(), 0);
    for o in store.ingest_into(group, events)? {
        match o {
            Ok(Ingested::Stored { id, released } | Ingested::ForkDetected { id, released, .. }) => {
                stored.push(id);
                stored.extend(released);
            }
            Ok(_) => {}
            Err(IngestError::WrongGroup { .. }) => wrong += 1,
            Err(_) => {}
        }
    }
    Ok((stored, wrong))
}

/// Whether `request` asked for events of (author, log). Any seq counts: a responder sends a
/// forked log from its fork seq, which may be below what was asked (the store's per-log
/// quarantine bound still limits what an answer can park).
pub fn was_asked(request: &Request, author: &PublicKey, log: u64) -> bool {
    match request {
        Request::Events { wants, .. } => wants.iter().any(|w| w.author == *author && w.log == log),
        Request::Fetch { count, buckets, .. } => buckets
            .binary_search(&bucket_of(author, log, *count))
            .is_ok(),
        _ => false,
    }
}

/// The 8 bytes that name an author inside a bucket in `Fetch` requests.
pub fn author_prefix(author: &PublicKey) -> [u8; 8] {
    let mut p = [0u8; 8];
    p.copy_from_slice(&author.0[..8]);
    p
}

/// Decodes, batch-verifies and stores the events of a sync answer for `group`, exactly like any
/// other input, admitting anyone's events (the benchmarks' open groups; see
/// [`store_answer_checked`]). Events that were not asked for (another group, another log, below
/// `from`) count as invalid and are dropped.
pub fn store_answer(
    store: &Store,
    group: GroupId,
    raw: Vec<RawEvent>,
    asked: &Request,
) -> Result<Fetched, StoreError> {
    store_answer_checked(store, group, raw, asked, Admit::Any)
}

/// Like [`store_answer`], but only events whose authors `admit` lets in are kept (the others
/// are counted in [`Fetched::dropped`]), and events that cannot be linked yet are not stored but
/// returned in [`Fetched::unlinked`], for the caller to hold in a bounded quarantine. (With
/// [`Admit::Any`] everything goes to the store, whose own quarantine keeps what cannot link.)
pub fn store_answer_checked(
    store: &Store,
    group: GroupId,
    raw: Vec<RawEvent>,
    asked: &Request,
    admit: Admit,
) -> Result<Fetched, StoreError> {
    let mut out = Fetched::default();
    let wanted = |e: &Event| {
        let h = e.header();
        h.group == group && was_asked(asked, &h.author, h.log)
    };
    let mut unasked = 0u64;
    let decoded: Vec<Event> = raw
        .into_iter()
        .filter_map(|(e, b)| Event::decode(e, b).map_err(|_| out.invalid += 1).ok())
        // Only what was asked for: a peer must not fill our quarantine with unrequested events.
        .filter(|e| {
            let ok = wanted(e);
            unasked += u64::from(!ok);
            ok
        })
        .collect();
    out.invalid += unasked;
    let verified: Vec<VerifiedEvent> = verify_batch(decoded, store.network())
        .into_iter()
        .filter_map(|r| r.map_err(|_| out.invalid += 1).ok())
        .collect();
    let (kept, dropped) = admissible(store, group, admit, verified)?;
    out.dropped = dropped;
    let (linked, unlinked) = if admit == Admit::Any {
        (kept, Vec::new())
    } else {
        split_unlinked(store, kept)?
    };
    out.unlinked = unlinked;
    let (stored, wrong) = store_linked(store, group, linked)?;
    out.stored = stored;
    out.invalid += wrong;
    Ok(out)
}
