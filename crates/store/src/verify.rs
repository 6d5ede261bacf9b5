//! Re-verification of everything stored: the `dualpower verify` command.
//!
//! Trust nothing on disk: a backup restored by hand, a disk error or someone editing the
//! database must be caught. This re-runs SQLite's own integrity check, then re-decodes every
//! stored event strictly, re-checks every signature (batched), every body hash, every backlink
//! (a stored event at `seq - 1` of the same log; a forked log holds several versions at some
//! seqs), every dependency, and compares the derived log table (height, head, fork flag and seq)
//! with the events.

use dualpower_core::{Event, EventId, GroupId, PublicKey, verify_batch};
use rusqlite::Connection;

use crate::{Store, StoreError, blob32};

const CHUNK: usize = 2048;

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The event concerned, if any.
    pub id: Option<EventId>,
    /// What is wrong.
    pub what: String,
}

/// The outcome of a full re-verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events checked.
    pub events: u64,
    /// Logs checked.
    pub logs: u64,
    /// Stored versions beyond the first at a log position (fork proofs) checked.
    pub forks: u64,
    /// Quarantined events checked.
    pub quarantined: u64,
    /// Everything found wrong (empty = all valid).
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// True if nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

struct LogMeta {
    log_pk: i64,
    author: PublicKey,
    group: GroupId,
    log: u64,
    height: i64,
    head: Option<Vec<u8>>,
    forked: bool,
    fork_seq: Option<i64>,
}

impl Store {
    /// Re-verifies the whole store. `progress(done, total)` reports events checked.
    pub fn verify_all(
        &self,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<VerifyReport, StoreError> {
        self.read(|c| {
            let mut report = VerifyReport::default();
            let integrity: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            if integrity != "ok" {
                report.problems.push(Problem {
                    id: None,
                    what: format!("SQLite integrity check: {integrity}"),
                });
            }
            let total: i64 = c.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
            let logs = load_logs(c)?;
            report.logs = logs.len() as u64;
            for log in &logs {
                self.verify_log(c, log, &mut report, total as u64, &mut progress)?;
            }
            self.verify_quarantine(c, &mut report)?;
            Ok(report)
        })
    }

    fn verify_log(
        &self,
        c: &Connection,
        log: &LogMeta,
        report: &mut VerifyReport,
        total: u64,
        progress: &mut impl FnMut(u64, u64),
    ) -> Result<(), StoreError> {
        let mut stmt = c.prepare_cached(
            "SELECT seq, id, envelope, body FROM events WHERE log_pk = ?1 ORDER BY seq, id",
        )?;
        let mut rows = stmt.query([log.log_pk])?;
        let mut expected_seq: i64 = 0;
        // The versions stored at the previous seq and at the current one (more than one only
        // where the log is forked), and the lowest seq found with several.
        let mut prev_ids: Vec<EventId> = Vec::new();
        let mut cur_ids: Vec<EventId> = Vec::new();
        let mut cur_seq: i64 = -1;
        let mut fork_seq: Option<i64> = None;
        let mut batch = Vec::with_capacity(CHUNK);
        let mut dep_stmt = c.prepare_cached(
            "SELECT l.grp FROM events e JOIN logs l USING (log_pk) WHERE e.id = ?1",
        )?;
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0)?;
            let id = EventId(blob32(r, 1)?);
            report.events += 1;
            let mut problem = |what: String| {
                report.problems.push(Problem { id: Some(id), what });
            };
            if seq == cur_seq {
                fork_seq.get_or_insert(seq);
            } else {
                if seq != expected_seq {
                    problem(format!(
                        "log has a gap: seq {seq} where {expected_seq} was expected"
                    ));
                }
                expected_seq = seq + 1;
                cur_seq = seq;
                prev_ids = std::mem::take(&mut cur_ids);
            }
            cur_ids.push(id);
            let ev = match Event::decode(r.get(2)?, r.get(3)?) {
                Ok(ev) => ev,
                Err(e) => {
                    problem(format!("does not decode: {e}"));
                    continue;
                }
            };
            if ev.id() != id {
                problem("envelope does not hash to its id".into());
            }
            let h = ev.header();
            if h.author != log.author || h.group != log.group || h.log != log.log {
                problem("stored under the wrong log".into());
            }
            if h.seq as i64 != seq {
                problem(format!("header seq {} stored as {seq}", h.seq));
            }
            let linked = match h.backlink {
                None => seq == 0,
                Some(b) => prev_ids.contains(&b),
            };
            if !linked {
                problem("backlink does not name an event at the previous seq".into());
            }
            for dep in &h.deps {
                match dep_stmt
                    .query_row([&dep.0[..]], |r| blob32(r, 0))
                    .map_err(StoreError::from)
                {
                    Ok(g) if g == log.group.0 => {}
                    Ok(_) => problem(format!("dependency {dep} is in another group")),
                    Err(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => {
                        problem(format!("dependency {dep} is missing"))
                    }
                    Err(e) => return Err(e),
                }
            }
            batch.push((id, ev));
            if batch.len() >= CHUNK {
                self.check_signatures(std::mem::take(&mut batch), report);
                progress(report.events, total);
            }
        }
        self.check_signatures(batch, report);
        progress(report.events, total);
        if expected_seq - 1 != log.height {
            report.problems.push(Problem {
                id: None,
                what: format!(
                    "log of {} records height {} but holds {} events",
                    log.author, log.height, expected_seq
                ),
            });
        }
        // The head is the smallest id at the highest seq (ids come sorted within a seq).
        let head = cur_ids.first().copied();
        if head.map(|p| p.0.to_vec()) != log.head {
            report.problems.push(Problem {
                id: head,
                what: format!(
                    "log of {} records a head that is not its last event",
                    log.author
                ),
            });
        }
        if (fork_seq, fork_seq.is_some()) != (log.fork_seq, log.forked) {
            report.problems.push(Problem {
                id: None,
                what: format!(
                    "log of {} records fork seq {:?} but its events show {fork_seq:?}",
                    log.author, log.fork_seq
                ),
            });
        }
        if let Some(f) = fork_seq {
            let extra: i64 = c.query_row(
                "SELECT COUNT(*) - COUNT(DISTINCT seq) FROM events WHERE log_pk = ?1 AND seq >= ?2",
                rusqlite::params![log.log_pk, f],
                |r| r.get(0),
            )?;
            report.forks += extra as u64;
        }
        Ok(())
    }

    /// Checks signatures; problems are reported under the id the event is stored as.
    fn check_signatures(&self, batch: Vec<(EventId, Event)>, report: &mut VerifyReport) {
        let (ids, events): (Vec<EventId>, Vec<Event>) = batch.into_iter().unzip();
        for (res, id) in verify_batch(events, self.network()).into_iter().zip(ids) {
            if let Err(e) = res {
                report.problems.push(Problem {
                    id: Some(id),
                    what: e.to_string(),
                });
            }
        }
    }

    fn verify_quarantine(
        &self,
        c: &Connection,
        report: &mut VerifyReport,
    ) -> Result<(), StoreError> {
        let mut stmt = c.prepare("SELECT id, envelope, body FROM quarantine")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            report.quarantined += 1;
            let id = EventId(blob32(r, 0)?);
            match Event::decode(r.get(1)?, r.get(2)?).and_then(|e| e.verify(self.network())) {
                Ok(e) if e.id() == id => {}
                Ok(_) => report.problems.push(Problem {
                    id: Some(id),
                    what: "quarantined envelope does not hash to its id".into(),
                }),
                Err(e) => report.problems.push(Problem {
                    id: Some(id),
                    what: format!("quarantined event does not verify: {e}"),
                }),
            }
        }
        Ok(())
    }
}

fn load_logs(c: &Connection) -> Result<Vec<LogMeta>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT log_pk, author, grp, log, height, head, forked, fork_seq FROM logs ORDER BY log_pk",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(LogMeta {
            log_pk: r.get(0)?,
            author: PublicKey(blob32(r, 1)?),
            group: GroupId(blob32(r, 2)?),
            log: r.get::<_, i64>(3)? as u64,
            height: r.get(4)?,
            head: r.get(5)?,
            forked: r.get::<_, i64>(6)? != 0,
            fork_seq: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
