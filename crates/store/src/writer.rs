//! The single writer: group commit and the link rules (backlinks, deps, forks, gaps).
//!
//! Every request waiting in the queue is drained into one transaction; each event runs inside
//! its own savepoint so a rejected event leaves no trace, and replies are sent only after the
//! commit returned. If the commit fails, every request in the group gets the error and nothing
//! of it is stored.

use std::sync::mpsc::{Receiver, TryRecvError};

use dualpower_core::{
    Draft, EventId, GroupId, Identity, Payload, PublicKey, VerifiedEvent, event::MAX_DEPS,
};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::{AppendError, IngestError, Ingested, Request, StoreConfig, StoreError, decode_stored};

pub(crate) struct Writer {
    conn: Connection,
    config: StoreConfig,
    /// Monotonic counter stamped on logs and quarantine rows (local arrival order; used only to
    /// pick recent deps and to report the quarantine oldest first, never for derived state).
    clock: i64,
    quarantined: u64,
}

enum Placed {
    Stored(EventId),
    Other(Ingested),
}

struct LogRow {
    log_pk: i64,
    height: i64,
    head: Option<EventId>,
    forked: bool,
}

impl Writer {
    pub(crate) fn new(conn: Connection, config: StoreConfig) -> Result<Self, StoreError> {
        let clock = conn.query_row(
            "SELECT MAX(COALESCE((SELECT MAX(touched) FROM logs), 0),
                        COALESCE((SELECT MAX(arrived) FROM quarantine), 0))",
            [],
            |r| r.get(0),
        )?;
        let quarantined = conn.query_row("SELECT COUNT(*) FROM quarantine", [], |r| {
            r.get::<_, i64>(0)
        })? as u64;
        Ok(Writer {
            conn,
            config,
            clock,
            quarantined,
        })
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

    fn process(&mut self, batch: Vec<Request>) {
        let quarantined_before = self.quarantined;
        let result = (|| -> Result<Vec<Answer>, StoreError> {
            let cfg = self.config.clone();
            let mut state = TxState {
                clock: &mut self.clock,
                quarantined: &mut self.quarantined,
                cfg: &cfg,
            };
            let mut tx = self.conn.transaction()?;
            let mut answers = Vec::with_capacity(batch.len());
            for req in &batch {
                answers.push(match req {
                    Request::Ingest {
                        expect_group,
                        events,
                        ..
                    } => {
                        let mut out = Vec::with_capacity(events.len());
                        for ev in events {
                            out.push(state.ingest(&mut tx, *expect_group, ev.clone())?);
                        }
                        Answer::Ingest(out)
                    }
                    Request::Append {
                        identity,
                        group,
                        log,
                        body,
                        flags,
                        timestamp,
                        ..
                    } => Answer::Append(state.append(
                        &mut tx,
                        identity,
                        *group,
                        *log,
                        body.clone(),
                        *flags,
                        *timestamp,
                    )?),
                });
            }
            tx.commit()?;
            Ok(answers)
        })();
        match result {
            Ok(answers) => {
                for (req, answer) in batch.into_iter().zip(answers) {
                    match (req, answer) {
                        (Request::Ingest { reply, .. }, Answer::Ingest(out)) => {
                            let _ = reply.send(Ok(out));
                        }
                        (Request::Append { reply, .. }, Answer::Append(out)) => {
                            let _ = reply.send(out);
                        }
                        _ => unreachable!("answers are built in request order"),
                    }
                }
            }
            Err(e) => {
                self.quarantined = quarantined_before;
                tracing::error!(error = %e, "store transaction failed; nothing of it was stored");
                for req in batch {
                    let msg = e.to_string();
                    match req {
                        Request::Ingest { reply, .. } => {
                            let _ = reply.send(Err(StoreError::Corrupt {
                                id: String::new(),
                                reason: msg,
                            }));
                        }
                        Request::Append { reply, .. } => {
                            let _ = reply.send(Err(AppendError::Store(StoreError::Corrupt {
                                id: String::new(),
                                reason: msg,
                            })));
                        }
                    }
                }
            }
        }
    }
}

enum Answer {
    Ingest(Vec<Result<Ingested, IngestError>>),
    Append(Result<VerifiedEvent, AppendError>),
}

fn request_size(r: &Request) -> usize {
    match r {
        Request::Ingest { events, .. } => events.len(),
        Request::Append { .. } => 1,
    }
}

struct TxState<'a> {
    clock: &'a mut i64,
    quarantined: &'a mut u64,
    cfg: &'a StoreConfig,
}

impl TxState<'_> {
    /// Ingests one event inside its own savepoint, then releases whatever was waiting for it.
    fn ingest(
        &mut self,
        tx: &mut Transaction<'_>,
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
        let placed = match self.place_atomically(tx, ev)? {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let id = match placed {
            Placed::Stored(id) => id,
            Placed::Other(outcome) => return Ok(Ok(outcome)),
        };
        let released = self.release(tx, id)?;
        Ok(Ok(Ingested::Stored { id, released }))
    }

    fn place_atomically(
        &mut self,
        tx: &mut Transaction<'_>,
        ev: VerifiedEvent,
    ) -> Result<Result<Placed, IngestError>, StoreError> {
        let clock_before = *self.clock;
        let quarantined_before = *self.quarantined;
        let sp = tx.savepoint()?;
        let out = self.place(&sp, ev)?;
        if out.is_ok() {
            sp.commit()?;
        } else {
            *self.clock = clock_before;
            *self.quarantined = quarantined_before;
            drop(sp); // rolls back
        }
        Ok(out)
    }

    /// Stores quarantined events whose last missing piece was `first`, and then, transitively,
    /// those waiting for them.
    fn release(
        &mut self,
        tx: &mut Transaction<'_>,
        first: EventId,
    ) -> Result<Vec<EventId>, StoreError> {
        let mut released = Vec::new();
        let mut stack = vec![first];
        while let Some(arrived) = stack.pop() {
            let waiting: Vec<Vec<u8>> = {
                let mut stmt =
                    tx.prepare_cached("SELECT id FROM quarantine_waits WHERE missing = ?1")?;
                stmt.query_map([&arrived.0[..]], |r| r.get(0))?
                    .collect::<Result<_, _>>()?
            };
            let mut ready = Vec::new();
            for qid in waiting {
                tx.prepare_cached("DELETE FROM quarantine_waits WHERE missing = ?1 AND id = ?2")?
                    .execute(params![&arrived.0[..], &qid])?;
                let left: i64 = tx
                    .prepare_cached("SELECT COUNT(*) FROM quarantine_waits WHERE id = ?1")?
                    .query_row([&qid], |r| r.get(0))?;
                if left == 0 {
                    let raw = tx
                        .prepare_cached(
                            "SELECT id, envelope, body, seq FROM quarantine WHERE id = ?1",
                        )?
                        .query_row([&qid], |r| {
                            Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get::<_, i64>(3)?))
                        })?;
                    tx.prepare_cached("DELETE FROM quarantine WHERE id = ?1")?
                        .execute([&qid])?;
                    *self.quarantined = self.quarantined.saturating_sub(1);
                    ready.push((raw.1, decode_stored(raw.0)?));
                }
            }
            // Lower seqs first, then by id: the same order on every node.
            ready.sort_by(|a, b| (a.0, a.1.id()).cmp(&(b.0, b.1.id())));
            for (_, ev) in ready {
                let id = ev.id();
                match self.place_atomically(tx, ev)? {
                    Ok(Placed::Stored(id)) => {
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

    /// The link rules. Writes only on success (the caller's savepoint undoes partial writes).
    fn place(
        &mut self,
        tx: &Connection,
        ev: VerifiedEvent,
    ) -> Result<Result<Placed, IngestError>, StoreError> {
        let id = ev.id();
        if exists(tx, "SELECT 1 FROM events WHERE id = ?1", &id)?
            || exists(tx, "SELECT 1 FROM forks WHERE conflicting = ?1", &id)?
        {
            return Ok(Ok(Placed::Other(Ingested::Duplicate { id })));
        }
        if exists(tx, "SELECT 1 FROM quarantine WHERE id = ?1", &id)? {
            let missing = tx
                .prepare_cached(
                    "SELECT missing FROM quarantine_waits WHERE id = ?1 ORDER BY missing",
                )?
                .query_map([&id.0[..]], |r| crate::blob32(r, 0).map(EventId))?
                .collect::<Result<_, _>>()?;
            return Ok(Ok(Placed::Other(Ingested::Quarantined { id, missing })));
        }
        let h = ev.header().clone();
        let log = self.log_row(tx, &h.author, &h.group, h.log)?;
        let seq = h.seq as i64;
        if seq <= log.height {
            let existing: Vec<u8> = tx
                .prepare_cached("SELECT id FROM events WHERE log_pk = ?1 AND seq = ?2")?
                .query_row(params![log.log_pk, seq], |r| r.get(0))?;
            let existing = EventId(existing.try_into().map_err(|_| StoreError::Corrupt {
                id: id.to_hex(),
                reason: "stored id is not 32 bytes".into(),
            })?);
            let (envelope, body) = ev.into_parts();
            tx.prepare_cached(
                "INSERT INTO forks (conflicting, log_pk, seq, existing, envelope, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &id.0[..],
                log.log_pk,
                seq,
                &existing.0[..],
                envelope,
                body
            ])?;
            tx.prepare_cached("UPDATE logs SET forked = 1 WHERE log_pk = ?1")?
                .execute([log.log_pk])?;
            tracing::warn!(%id, %existing, author = %h.author, "fork detected");
            return Ok(Ok(Placed::Other(Ingested::ForkDetected { id, existing })));
        }
        if log.forked {
            return Ok(Err(IngestError::LogForked {
                author: h.author,
                group: h.group,
                log: h.log,
            }));
        }
        let mut missing = Vec::new();
        if let Some(backlink) = h.backlink {
            if seq == log.height + 1 {
                if log.head != Some(backlink) {
                    return Ok(Err(IngestError::WrongBacklink {
                        seq: h.seq,
                        expected: log.head.unwrap_or(EventId([0; 32])),
                        found: backlink,
                    }));
                }
            } else {
                missing.push(backlink);
            }
        }
        for dep in &h.deps {
            let grp: Option<Vec<u8>> = tx
                .prepare_cached(
                    "SELECT l.grp FROM events e JOIN logs l USING (log_pk) WHERE e.id = ?1",
                )?
                .query_row([&dep.0[..]], |r| r.get(0))
                .optional()?;
            match grp {
                None => missing.push(*dep),
                Some(g) if g[..] != h.group.0[..] => {
                    return Ok(Err(IngestError::DepInOtherGroup { dep: *dep }));
                }
                Some(_) => {}
            }
        }
        if !missing.is_empty() {
            return self.quarantine(tx, &log, ev, missing);
        }
        *self.clock += 1;
        let genesis = genesis_of(&ev);
        let (envelope, body) = ev.into_parts();
        tx.prepare_cached(
            "INSERT INTO events (log_pk, seq, id, envelope, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![log.log_pk, seq, &id.0[..], envelope, body])?;
        tx.prepare_cached(
            "UPDATE logs SET height = ?2, head = ?3, touched = ?4 WHERE log_pk = ?1",
        )?
        .execute(params![log.log_pk, seq, &id.0[..], *self.clock])?;
        if let Some(name) = genesis {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO groups (grp, name, genesis, creator) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![&h.group.0[..], name, &id.0[..], &h.author.0[..]])?;
        }
        Ok(Ok(Placed::Stored(id)))
    }

    fn quarantine(
        &mut self,
        tx: &Connection,
        log: &LogRow,
        ev: VerifiedEvent,
        missing: Vec<EventId>,
    ) -> Result<Result<Placed, IngestError>, StoreError> {
        if *self.quarantined >= self.cfg.max_quarantine {
            return Ok(Err(IngestError::QuarantineFull {
                max: self.cfg.max_quarantine,
            }));
        }
        let in_log: i64 = tx
            .prepare_cached("SELECT COUNT(*) FROM quarantine WHERE log_pk = ?1")?
            .query_row([log.log_pk], |r| r.get(0))?;
        if in_log as u64 >= self.cfg.max_quarantine_per_log {
            return Ok(Err(IngestError::QuarantineFull {
                max: self.cfg.max_quarantine_per_log,
            }));
        }
        let id = ev.id();
        let seq = ev.header().seq as i64;
        *self.clock += 1;
        let (envelope, body) = ev.into_parts();
        tx.prepare_cached(
            "INSERT INTO quarantine (id, log_pk, seq, envelope, body, arrived)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            &id.0[..],
            log.log_pk,
            seq,
            envelope,
            body,
            *self.clock
        ])?;
        let mut missing = missing;
        missing.sort_unstable();
        missing.dedup();
        for m in &missing {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO quarantine_waits (missing, id) VALUES (?1, ?2)",
            )?
            .execute(params![&m.0[..], &id.0[..]])?;
        }
        *self.quarantined += 1;
        Ok(Ok(Placed::Other(Ingested::Quarantined { id, missing })))
    }

    fn log_row(
        &mut self,
        tx: &Connection,
        author: &PublicKey,
        group: &GroupId,
        log: u64,
    ) -> Result<LogRow, StoreError> {
        let select = |tx: &Connection| -> rusqlite::Result<Option<LogRow>> {
            tx.prepare_cached(
                "SELECT log_pk, height, head, forked FROM logs
                 WHERE author = ?1 AND grp = ?2 AND log = ?3",
            )?
            .query_row(params![&author.0[..], &group.0[..], log as i64], |r| {
                Ok(LogRow {
                    log_pk: r.get(0)?,
                    height: r.get(1)?,
                    head: r
                        .get::<_, Option<Vec<u8>>>(2)?
                        .and_then(|h| h.try_into().ok())
                        .map(EventId),
                    forked: r.get::<_, i64>(3)? != 0,
                })
            })
            .optional()
        };
        if let Some(row) = select(tx)? {
            return Ok(row);
        }
        tx.prepare_cached("INSERT INTO logs (author, grp, log) VALUES (?1, ?2, ?3)")?
            .execute(params![&author.0[..], &group.0[..], log as i64])?;
        Ok(LogRow {
            log_pk: tx.last_insert_rowid(),
            height: -1,
            head: None,
            forked: false,
        })
    }

    /// Builds, signs and stores the next event of our own log, atomically.
    #[allow(clippy::too_many_arguments)]
    fn append(
        &mut self,
        tx: &mut Transaction<'_>,
        identity: &Identity,
        group: GroupId,
        log: u64,
        body: Vec<u8>,
        flags: u64,
        timestamp: u64,
    ) -> Result<Result<VerifiedEvent, AppendError>, StoreError> {
        let author = identity.public();
        let row = self.log_row(tx, &author, &group, log)?;
        if row.forked {
            return Ok(Err(AppendError::Forked));
        }
        // Deps: the newest heads of the other logs in the group (the DAG tips we know of).
        let deps: Vec<EventId> = tx
            .prepare_cached(
                "SELECT head FROM logs WHERE grp = ?1 AND log_pk != ?2 AND height >= 0
                 ORDER BY touched DESC LIMIT ?3",
            )?
            .query_map(params![&group.0[..], row.log_pk, MAX_DEPS as i64], |r| {
                crate::blob32(r, 0).map(EventId)
            })?
            .collect::<Result<_, _>>()?;
        let draft = Draft {
            group,
            log,
            seq: (row.height + 1) as u64,
            backlink: row.head,
            deps,
            timestamp,
            body,
            flags,
        };
        let ev = match draft.sign(identity, &self.cfg.network) {
            Ok(ev) => ev,
            Err(e) => return Ok(Err(AppendError::Invalid(e))),
        };
        match self.ingest(tx, None, ev.clone())? {
            Ok(Ingested::Stored { .. }) => Ok(Ok(ev)),
            Ok(other) => Ok(Err(AppendError::Unexpected(format!("{other:?}")))),
            Err(e) => Ok(Err(AppendError::Rejected(e))),
        }
    }
}

fn exists(tx: &Connection, sql: &str, id: &EventId) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached(sql)?
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
