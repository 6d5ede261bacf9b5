//! The single writer: group commit and the link rules (backlinks, deps, forks, gaps).
//!
//! Forks are data: a second validly signed event at an occupied (log, seq) is stored as an event
//! like the first, as long as its own predecessor and deps are stored, so every node ends with the
//! same events whatever order they arrived in, and events citing either version can be stored.
//! A forked log may be extended on any branch (an event is stored when its backlink is a stored
//! event at `seq - 1` of the same log), at most [`crate::MAX_VERSIONS_PER_SEQ`] versions per seq.
//!
//! Every request waiting in the queue is drained into one transaction, and replies are sent only
//! after the commit returned. If the commit fails, every request in the group gets the error and
//! nothing of it is stored.
//!
//! Each event's checks run before any of its writes, so a rejected event leaves no trace without
//! needing a savepoint. The writer keeps small caches (log rows, the log of recently stored ids,
//! the count of quarantined events) because it is the only writer: they are exact as long
//! as a transaction commits, and are dropped whenever one fails.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, TryRecvError};

use dualpower_core::{
    Draft, EventId, GroupId, Identity, Payload, PublicKey, VerifiedEvent, event::MAX_DEPS,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::{AppendError, IngestError, Ingested, Request, StoreConfig, StoreError, decode_stored};

/// Entries kept in each cache before it is cleared (bounds the writer's memory).
const CACHE_LIMIT: usize = 200_000;

pub(crate) struct Writer {
    conn: Connection,
    config: StoreConfig,
    cache: Cache,
}

/// What the writer remembers between statements. Rebuilt from the database after a failure.
#[derive(Default)]
struct Cache {
    /// Local arrival counter stamped on logs and quarantine rows (used only to pick recent deps
    /// and to list the quarantine oldest first; never for derived state).
    clock: i64,
    quarantined: u64,
    logs: HashMap<(PublicKey, GroupId, u64), LogRow>,
    log_groups: HashMap<i64, GroupId>,
    /// Recently stored event ids and their position: (log, seq).
    recent: HashMap<EventId, (i64, i64)>,
}

#[derive(Clone)]
struct LogRow {
    log_pk: i64,
    height: i64,
    head: Option<EventId>,
    forked: bool,
    /// Lowest seq holding more than one version.
    fork_seq: Option<i64>,
}

enum Placed {
    /// Stored; `fork_of` is the smallest id already stored at the same position, if any.
    Stored {
        id: EventId,
        fork_of: Option<EventId>,
    },
    Other(Ingested),
}

enum Answer {
    Ingest(Vec<Result<Ingested, IngestError>>),
    Exec(bool),
    Append(Box<Result<VerifiedEvent, AppendError>>),
}

impl Writer {
    pub(crate) fn new(conn: Connection, config: StoreConfig) -> Result<Self, StoreError> {
        let mut w = Writer {
            conn,
            config,
            cache: Cache::default(),
        };
        w.reload()?;
        w.adopt_legacy_forks()?;
        Ok(w)
    }

    /// Stores written before forks were data kept a second version only in the `forks` table.
    /// Feed those rows through today's rules once (stored, quarantined or refused like any input)
    /// and empty the table, so every version is an event.
    fn adopt_legacy_forks(&mut self) -> Result<(), StoreError> {
        let rows: Vec<crate::RawRow> = self
            .conn
            .prepare("SELECT conflicting, envelope, body FROM forks ORDER BY seq, conflicting")?
            .query_map([], crate::row_to_raw)?
            .collect::<Result<_, _>>()?;
        if rows.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM forks", [])?;
        let mut state = TxState {
            c: &tx,
            cache: &mut self.cache,
            cfg: &self.config,
        };
        for raw in rows {
            match decode_stored(raw) {
                Ok(ev) => {
                    if let Err(e) = state.ingest(None, ev)? {
                        tracing::warn!(error = %e, "an old fork proof's event was refused");
                    }
                }
                Err(e) => tracing::error!(error = %e, "dropped a damaged fork proof row"),
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn reload(&mut self) -> Result<(), StoreError> {
        let c = &self.conn;
        let count =
            |sql: &str| -> Result<i64, StoreError> { Ok(c.query_row(sql, [], |r| r.get(0))?) };
        self.cache = Cache {
            clock: count(
                "SELECT MAX(COALESCE((SELECT MAX(touched) FROM logs), 0),
                            COALESCE((SELECT MAX(arrived) FROM quarantine), 0))",
            )?,
            quarantined: count("SELECT COUNT(*) FROM quarantine")? as u64,
            ..Cache::default()
        };
        Ok(())
    }

    pub(crate) fn run(mut self, rx: Receiver<Request>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            let mut size = request_size(&batch[0]);
            while size < self.config.max_group_commit {
                match rx.try_recv() {
                    Ok(r) => {
                        size += request_size(&r);
                        batch.push(r);
                    }
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            self.process(batch);
        }
        // Leave a compact database behind for the next process.
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }

    fn process(&mut self, mut batch: Vec<Request>) {
        let result = self.transact(&mut batch);
        match result {
            Ok(answers) => {
                for (req, answer) in batch.into_iter().zip(answers) {
                    match (req, answer) {
                        (Request::Ingest { reply, .. }, Answer::Ingest(out)) => {
                            let _ = reply.send(Ok(out));
                        }
                        (Request::Append { reply, .. }, Answer::Append(out)) => {
                            let _ = reply.send(*out);
                        }
                        (Request::Exec { reply, .. }, Answer::Exec(new)) => {
                            let _ = reply.send(Ok(new));
                        }
                        (Request::Exec { reply, .. }, _) => {
                            let _ = reply.send(Err(StoreError::WriterGone));
                        }
                        // `transact` answers each request with its own kind, in order.
                        (Request::Ingest { reply, .. }, _) => {
                            let _ = reply.send(Err(StoreError::WriterGone));
                        }
                        (Request::Append { reply, .. }, _) => {
                            let _ = reply.send(Err(AppendError::Store(StoreError::WriterGone)));
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "store transaction failed; nothing of it was stored");
                if let Err(e) = self.reload() {
                    tracing::error!(error = %e, "could not reload the writer's caches");
                }
                let failed = || StoreError::Corrupt {
                    id: String::new(),
                    reason: format!("transaction failed, nothing stored: {e}"),
                };
                for req in batch {
                    match req {
                        Request::Ingest { reply, .. } => {
                            let _ = reply.send(Err(failed()));
                        }
                        Request::Append { reply, .. } => {
                            let _ = reply.send(Err(AppendError::Store(failed())));
                        }
                        Request::Exec { reply, .. } => {
                            let _ = reply.send(Err(failed()));
                        }
                    }
                }
            }
        }
    }

    fn transact(&mut self, batch: &mut [Request]) -> Result<Vec<Answer>, StoreError> {
        let tx = self.conn.transaction()?;
        let mut state = TxState {
            c: &tx,
            cache: &mut self.cache,
            cfg: &self.config,
        };
        let mut answers = Vec::with_capacity(batch.len());
        for req in batch {
            answers.push(match req {
                Request::Ingest {
                    expect_group,
                    events,
                    ..
                } => {
                    let mut out = Vec::with_capacity(events.len());
                    for ev in events {
                        out.push(state.ingest(*expect_group, ev.clone())?);
                    }
                    Answer::Ingest(out)
                }
                Request::Exec { sql, params, .. } => Answer::Exec(
                    tx.prepare_cached(sql)?
                        .execute(rusqlite::params_from_iter(params.iter()))?
                        > 0,
                ),
                Request::Append {
                    identity,
                    group,
                    log,
                    body,
                    flags,
                    timestamp,
                    cite,
                    ..
                } => Answer::Append(Box::new(state.append(
                    identity,
                    *group,
                    *log,
                    // A builder runs once; the request keeps an empty body afterwards.
                    std::mem::replace(body, crate::Body::Bytes(Vec::new())),
                    *flags,
                    *timestamp,
                    cite,
                )?)),
            });
        }
        tx.commit()?;
        if self.cache.logs.len() > CACHE_LIMIT || self.cache.recent.len() > CACHE_LIMIT {
            self.cache.logs.clear();
            self.cache.log_groups.clear();
            self.cache.recent.clear();
        }
        Ok(answers)
    }
}

fn request_size(r: &Request) -> usize {
    match r {
        Request::Ingest { events, .. } => events.len(),
        Request::Append { .. } | Request::Exec { .. } => 1,
    }
}

struct TxState<'a> {
    c: &'a Connection,
    cache: &'a mut Cache,
    cfg: &'a StoreConfig,
}

impl TxState<'_> {
    /// Ingests one event, then releases whatever was waiting for it.
    fn ingest(
        &mut self,
        expect_group: Option<GroupId>,
        ev: VerifiedEvent,
    ) -> Result<Result<Ingested, IngestError>, StoreError> {
        if let Some(expected) = expect_group
            && ev.header().group != expected
        {
            return Ok(Err(IngestError::WrongGroup {
                expected,
                found: ev.header().group,
            }));
        }
        match self.place(ev)? {
            Ok(Placed::Stored { id, fork_of }) => {
                let released = self.release(id)?;
                Ok(Ok(match fork_of {
                    None => Ingested::Stored { id, released },
                    Some(existing) => Ingested::ForkDetected {
                        id,
                        existing,
                        released,
                    },
                }))
            }
            Ok(Placed::Other(outcome)) => Ok(Ok(outcome)),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Stores quarantined events whose last missing piece was `first`, and then, transitively,
    /// those waiting for them.
    fn release(&mut self, first: EventId) -> Result<Vec<EventId>, StoreError> {
        let mut released = Vec::new();
        if self.cache.quarantined == 0 {
            return Ok(released);
        }
        let mut stack = vec![first];
        while let Some(arrived) = stack.pop() {
            let waiting: Vec<Vec<u8>> = self
                .c
                .prepare_cached("SELECT id FROM quarantine_waits WHERE missing = ?1")?
                .query_map([&arrived.0[..]], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut ready = Vec::new();
            for qid in waiting {
                self.c
                    .prepare_cached("DELETE FROM quarantine_waits WHERE missing = ?1 AND id = ?2")?
                    .execute(params![&arrived.0[..], &qid])?;
                let left: i64 = self
                    .c
                    .prepare_cached("SELECT COUNT(*) FROM quarantine_waits WHERE id = ?1")?
                    .query_row([&qid], |r| r.get(0))?;
                if left == 0 {
                    let (raw, seq) = self
                        .c
                        .prepare_cached(
                            "SELECT id, envelope, body, seq FROM quarantine WHERE id = ?1",
                        )?
                        .query_row([&qid], |r| {
                            Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get::<_, i64>(3)?))
                        })?;
                    self.c
                        .prepare_cached("DELETE FROM quarantine WHERE id = ?1")?
                        .execute([&qid])?;
                    self.cache.quarantined = self.cache.quarantined.saturating_sub(1);
                    match decode_stored(raw) {
                        Ok(ev) => ready.push((seq, ev)),
                        // A damaged row must not block every later transaction: drop it (the
                        // event can be fetched again from a peer).
                        Err(e) => tracing::error!(error = %e, "dropped a damaged quarantine row"),
                    }
                }
            }
            // Lower seqs first, then by id: the same order on every node.
            ready.sort_by_key(|(seq, ev)| (*seq, ev.id()));
            for (_, ev) in ready {
                let id = ev.id();
                match self.place(ev)? {
                    Ok(Placed::Stored { id, .. }) => {
                        released.push(id);
                        stack.push(id);
                    }
                    Ok(Placed::Other(_)) => {}
                    Err(e) => {
                        tracing::warn!(%id, error = %e, "event released from quarantine was rejected");
                    }
                }
            }
        }
        Ok(released)
    }

    /// Where an event with this id is stored, if it is: its log and seq.
    fn stored_at(&mut self, id: &EventId) -> Result<Option<(i64, i64)>, StoreError> {
        if let Some(pos) = self.cache.recent.get(id) {
            return Ok(Some(*pos));
        }
        Ok(self
            .c
            .prepare_cached("SELECT log_pk, seq FROM events WHERE id = ?1")?
            .query_row([&id.0[..]], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    fn group_of_log(&mut self, log_pk: i64) -> Result<GroupId, StoreError> {
        if let Some(g) = self.cache.log_groups.get(&log_pk) {
            return Ok(*g);
        }
        let g = GroupId(
            self.c
                .prepare_cached("SELECT grp FROM logs WHERE log_pk = ?1")?
                .query_row([log_pk], |r| crate::blob32(r, 0))?,
        );
        self.cache.log_groups.insert(log_pk, g);
        Ok(g)
    }

    /// The link rules. All checks come before any write, so a rejection changes nothing.
    ///
    /// An event is stored when its backlink is a stored event at `seq - 1` of the same log and
    /// every dep is a stored event of the same group, whether or not its position is already
    /// taken (then it is one more version: a fork, at most [`crate::MAX_VERSIONS_PER_SEQ`] per
    /// seq). The outcome depends only on what is stored, never on which version came first.
    fn place(&mut self, ev: VerifiedEvent) -> Result<Result<Placed, IngestError>, StoreError> {
        let id = ev.id();
        if self.stored_at(&id)?.is_some() {
            return Ok(Ok(Placed::Other(Ingested::Duplicate { id })));
        }
        if self.cache.quarantined > 0
            && exists(self.c, "SELECT 1 FROM quarantine WHERE id = ?1", &id)?
        {
            let missing = self
                .c
                .prepare_cached(
                    "SELECT missing FROM quarantine_waits WHERE id = ?1 ORDER BY missing",
                )?
                .query_map([&id.0[..]], |r| crate::blob32(r, 0).map(EventId))?
                .collect::<Result<_, _>>()?;
            return Ok(Ok(Placed::Other(Ingested::Quarantined { id, missing })));
        }
        let h = ev.header();
        let key = (h.author, h.group, h.log);
        let log = self.find_log(&key)?;
        // Decoding bounds seqs by `MAX_SEQ` = `i64::MAX`, so this cannot wrap.
        let seq = h.seq as i64;
        let (log_pk, height, head) = log
            .as_ref()
            .map_or((None, -1, None), |l| (Some(l.log_pk), l.height, l.head));
        // Versions already stored at this position: a fork if there are any.
        let mut fork_of = None;
        if let Some(pk) = log_pk
            && seq <= height
        {
            let (count, first): (i64, Option<Vec<u8>>) = self
                .c
                .prepare_cached(
                    "SELECT COUNT(*), MIN(id) FROM events WHERE log_pk = ?1 AND seq = ?2",
                )?
                .query_row(params![pk, seq], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if count as u64 >= crate::MAX_VERSIONS_PER_SEQ {
                return Ok(Err(IngestError::TooManyVersions {
                    seq: h.seq,
                    max: crate::MAX_VERSIONS_PER_SEQ,
                }));
            }
            fork_of = first.and_then(|f| f.try_into().ok()).map(EventId);
        }
        let mut missing = Vec::new();
        if let Some(backlink) = h.backlink {
            let linked = (seq == height + 1 && head == Some(backlink))
                || match self.stored_at(&backlink)? {
                    Some((pk, s)) if Some(pk) == log_pk && s + 1 == seq => true,
                    // Stored, but not at seq - 1 of this log: this event can never link, so it
                    // must not take quarantine space.
                    Some(_) => {
                        return Ok(Err(IngestError::WrongBacklink {
                            seq: h.seq,
                            expected: head.unwrap_or_default(),
                            found: backlink,
                        }));
                    }
                    // A gap, or a branch whose own predecessor (another version at `seq - 1`)
                    // has not arrived yet: refusing it would make the outcome depend on the
                    // arrival order, so it waits like any event missing a predecessor.
                    None => false,
                };
            if !linked {
                missing.push(backlink);
            }
        }
        for dep in &h.deps {
            match self.stored_at(dep)? {
                None => missing.push(*dep),
                Some((pk, _)) => {
                    if self.group_of_log(pk)? != h.group {
                        return Ok(Err(IngestError::DepInOtherGroup { dep: *dep }));
                    }
                }
            }
        }
        if !missing.is_empty() {
            return self.quarantine(log, ev, missing);
        }
        let mut log = match log {
            Some(l) => l,
            None => self.create_log(&key)?,
        };
        self.cache.clock += 1;
        let genesis = genesis_of(&ev);
        let group = h.group;
        let author = h.author;
        let (envelope, body) = ev.into_parts();
        self.c
            .prepare_cached(
                "INSERT INTO events (log_pk, seq, id, envelope, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![log.log_pk, seq, &id.0[..], envelope, body])?;
        // The head is the event at the highest seq; with several versions there, the smallest
        // id, so it does not depend on arrival order.
        if seq > log.height {
            log.height = seq;
            log.head = Some(id);
        } else if seq == log.height && log.head.is_none_or(|h| id < h) {
            log.head = Some(id);
        }
        if let Some(existing) = fork_of {
            log.forked = true;
            log.fork_seq = Some(log.fork_seq.map_or(seq, |f| f.min(seq)));
            tracing::warn!(%id, %existing, %author, seq, "fork: a second version of a log position");
        }
        self.c
            .prepare_cached(
                "UPDATE logs SET height = ?2, head = ?3, touched = ?4, forked = ?5, fork_seq = ?6
                 WHERE log_pk = ?1",
            )?
            .execute(params![
                log.log_pk,
                log.height,
                log.head.as_ref().map(|h| &h.0[..]),
                self.cache.clock,
                log.forked,
                log.fork_seq
            ])?;
        if let Some(name) = genesis {
            self.c
                .prepare_cached(
                    "INSERT OR IGNORE INTO groups (grp, name, genesis, creator) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![&group.0[..], name, &id.0[..], &author.0[..]])?;
        }
        self.cache.recent.insert(id, (log.log_pk, seq));
        self.cache.logs.insert(key, log);
        Ok(Ok(Placed::Stored { id, fork_of }))
    }

    fn quarantine(
        &mut self,
        log: Option<LogRow>,
        ev: VerifiedEvent,
        mut missing: Vec<EventId>,
    ) -> Result<Result<Placed, IngestError>, StoreError> {
        if self.cache.quarantined >= self.cfg.max_quarantine {
            return Ok(Err(IngestError::QuarantineFull {
                max: self.cfg.max_quarantine,
            }));
        }
        if let Some(l) = &log {
            let in_log: i64 = self
                .c
                .prepare_cached("SELECT COUNT(*) FROM quarantine WHERE log_pk = ?1")?
                .query_row([l.log_pk], |r| r.get(0))?;
            if in_log as u64 >= self.cfg.max_quarantine_per_log {
                return Ok(Err(IngestError::QuarantineFull {
                    max: self.cfg.max_quarantine_per_log,
                }));
            }
        }
        let h = ev.header();
        let log = match log {
            Some(l) => l,
            None => self.create_log(&(h.author, h.group, h.log))?,
        };
        let id = ev.id();
        let seq = h.seq as i64;
        self.cache.clock += 1;
        let (envelope, body) = ev.into_parts();
        self.c
            .prepare_cached(
                "INSERT INTO quarantine (id, log_pk, seq, envelope, body, arrived)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &id.0[..],
                log.log_pk,
                seq,
                envelope,
                body,
                self.cache.clock
            ])?;
        missing.sort_unstable();
        missing.dedup();
        for m in &missing {
            self.c
                .prepare_cached(
                    "INSERT OR IGNORE INTO quarantine_waits (missing, id) VALUES (?1, ?2)",
                )?
                .execute(params![&m.0[..], &id.0[..]])?;
        }
        self.cache.quarantined += 1;
        Ok(Ok(Placed::Other(Ingested::Quarantined { id, missing })))
    }

    fn find_log(&mut self, key: &(PublicKey, GroupId, u64)) -> Result<Option<LogRow>, StoreError> {
        if let Some(row) = self.cache.logs.get(key) {
            return Ok(Some(row.clone()));
        }
        let row = self
            .c
            .prepare_cached(
                "SELECT log_pk, height, head, forked, fork_seq FROM logs
                 WHERE author = ?1 AND grp = ?2 AND log = ?3",
            )?
            .query_row(params![&key.0.0[..], &key.1.0[..], key.2 as i64], |r| {
                Ok(LogRow {
                    log_pk: r.get(0)?,
                    height: r.get(1)?,
                    head: r
                        .get::<_, Option<Vec<u8>>>(2)?
                        .and_then(|h| h.try_into().ok())
                        .map(EventId),
                    forked: r.get::<_, i64>(3)? != 0,
                    fork_seq: r.get(4)?,
                })
            })
            .optional()?;
        if let Some(r) = &row {
            self.cache.logs.insert(*key, r.clone());
            self.cache.log_groups.insert(r.log_pk, key.1);
        }
        Ok(row)
    }

    fn create_log(&mut self, key: &(PublicKey, GroupId, u64)) -> Result<LogRow, StoreError> {
        self.c
            .prepare_cached("INSERT INTO logs (author, grp, log) VALUES (?1, ?2, ?3)")?
            .execute(params![&key.0.0[..], &key.1.0[..], key.2 as i64])?;
        let row = LogRow {
            log_pk: self.c.last_insert_rowid(),
            height: -1,
            head: None,
            forked: false,
            fork_seq: None,
        };
        self.cache.logs.insert(*key, row.clone());
        self.cache.log_groups.insert(row.log_pk, key.1);
        Ok(row)
    }

    /// Builds, signs and stores the next event of our own log, atomically.
    #[allow(clippy::too_many_arguments)] // the fields of one append request
    fn append(
        &mut self,
        identity: &Identity,
        group: GroupId,
        log: u64,
        body: crate::Body,
        flags: u64,
        timestamp: u64,
        cite: &[EventId],
    ) -> Result<Result<VerifiedEvent, AppendError>, StoreError> {
        let key = (identity.public(), group, log);
        let row = self.find_log(&key)?;
        if row.as_ref().is_some_and(|r| r.forked) {
            return Ok(Err(AppendError::Forked));
        }
        let own_pk = row.as_ref().map_or(-1, |r| r.log_pk);
        // Deps: what the caller cites, or else the newest heads of the other logs in the group
        // (the DAG tips we know of).
        let deps: Vec<EventId> = if !cite.is_empty() {
            let own = row.as_ref().and_then(|r| r.head);
            let mut d: Vec<EventId> = cite.iter().copied().filter(|c| Some(*c) != own).collect();
            d.sort_unstable();
            d.dedup();
            d.truncate(MAX_DEPS);
            d
        } else {
            self.c
                .prepare_cached(
                    "SELECT head FROM logs WHERE grp = ?1 AND log_pk != ?2 AND height >= 0
                 ORDER BY touched DESC LIMIT ?3",
                )?
                .query_map(params![&group.0[..], own_pk, MAX_DEPS as i64], |r| {
                    crate::blob32(r, 0).map(EventId)
                })?
                .collect::<Result<_, _>>()?
        };
        let seq = row.as_ref().map_or(0, |r| (r.height + 1) as u64);
        let body = match body {
            crate::Body::Bytes(b) => b,
            crate::Body::Build(f) => {
                let pos = crate::Position {
                    author: identity.public(),
                    group,
                    log,
                    seq,
                };
                match f(&pos) {
                    Ok(b) => b,
                    Err(e) => return Ok(Err(AppendError::Body(e))),
                }
            }
        };
        let draft = Draft {
            group,
            log,
            seq,
            backlink: row.and_then(|r| r.head),
            deps,
            timestamp,
            body,
            flags,
        };
        let ev = match draft.sign(identity, &self.cfg.network) {
            Ok(ev) => ev,
            Err(e) => return Ok(Err(AppendError::Invalid(e))),
        };
        match self.ingest(None, ev.clone())? {
            Ok(Ingested::Stored { .. }) => Ok(Ok(ev)),
            Ok(other) => Ok(Err(AppendError::Unexpected(format!("{other:?}")))),
            Err(e) => Ok(Err(AppendError::Rejected(e))),
        }
    }
}

fn exists(c: &Connection, sql: &str, id: &EventId) -> Result<bool, StoreError> {
    Ok(c.prepare_cached(sql)?
        .query_row([&id.0[..]], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The group name if `ev` is a valid genesis: seq 0 of log 0, with a body that decodes as a
/// genesis whose derived id is the event's group.
fn genesis_of(ev: &VerifiedEvent) -> Option<String> {
    let h = ev.header();
    if h.seq != 0 || h.log != 0 || h.flags != 0 {
        return None;
    }
    match Payload::decode(ev.body()?) {
        Ok(Payload::GroupGenesis(g)) if g.group_id(&h.author) == h.group => Some(g.name),
        _ => None,
    }
}
