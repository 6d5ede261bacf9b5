//! Durable storage for Dual Power: events, logs, fork proofs, the quarantine, and the encrypted
//! keystore, in one data directory.
//!
//! Why it looks like this:
//!
//! * **SQLite (WAL, `synchronous=FULL`)** because members' laptops crash and lose power; a commit
//!   that returned is on disk.
//! * **One writer thread with group commit.** All writes go through a bounded channel to a single
//!   thread that drains every waiting request into one transaction. Many small ingests share one
//!   fsync, and there is never a write-write race (in particular, appending to our own log is
//!   atomic, so a node can never fork itself). Callers get their answer only after the
//!   transaction committed: nothing is reported stored that is not.
//! * **Readers** use their own connections from a small pool and never block the writer.
//! * **Only verified events go in** ([`VerifiedEvent`] can only be made by checking a signature),
//!   and link rules (backlinks, deps, forks, gaps) are enforced here, in the same transaction that
//!   stores the event.
//! * **Forks are data.** Two validly signed events at the same (author, group, log, seq) are both
//!   stored as events, whichever came first: both are returned by [`Store::group_events`] and
//!   [`Store::event`], exported, synced, and may be cited by other events; the log is flagged
//!   forked ([`LogInfo::forked`], [`LogInfo::fork_seq`]) and the proof is served by
//!   [`Store::forks`]. Judging a forked author is the derived state's business, not the store's.

mod bundle;
pub mod home;
pub mod keystore;
mod schema;
mod verify;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use dualpower_core::{EventError, EventId, GroupId, Identity, NetworkId, PublicKey, VerifiedEvent};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use thiserror::Error;

pub use bundle::{BundleError, BundleReader, BundleWriter, ImportReport, Rejected};
pub use verify::{Problem, VerifyReport};

/// Most versions (validly signed events) the store keeps at one (author, group, log, seq). Two
/// prove a fork; more only happen when a key holder forks on purpose, and would otherwise let
/// one key fill the store. Beyond it, nodes may keep different versions (the author is judged
/// forked from the first fork on regardless).
pub const MAX_VERSIONS_PER_SEQ: u64 = 4;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "store.sqlite";

/// Tunables of a store. The defaults suit a member's node.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// The network whose events this store holds (fixed at creation).
    pub network: NetworkId,
    /// Most events waiting in quarantine, across all logs.
    pub max_quarantine: u64,
    /// Most events waiting in quarantine for one log.
    pub max_quarantine_per_log: u64,
    /// Most events the writer puts into one transaction.
    pub max_group_commit: usize,
    /// Bound of the writer's request queue.
    pub queue_depth: usize,
    /// `PRAGMA synchronous` level: `FULL` (default) or `NORMAL` (benchmarks only).
    pub synchronous_full: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            network: NetworkId::main(),
            max_quarantine: 100_000,
            max_quarantine_per_log: 10_000,
            max_group_commit: 8192,
            queue_depth: 256,
            synchronous_full: true,
        }
    }
}

/// A failure of the store itself (as opposed to a rejected event).
#[derive(Debug, Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The schema could not be migrated.
    #[error("database migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// The store belongs to another network.
    #[error("this data directory belongs to network {stored}, not {requested}")]
    WrongNetwork {
        /// The network recorded in the store.
        stored: NetworkId,
        /// The network asked for.
        requested: NetworkId,
    },
    /// The writer thread stopped (after a panic or shutdown).
    #[error("the store's writer has stopped")]
    WriterGone,
    /// A stored row does not decode: the database was altered outside Dual Power.
    #[error("stored event {id} is damaged: {reason}")]
    Corrupt {
        /// Id column of the row.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// Another process holds this data directory.
    #[error(
        "{path} is in use by another dualpower process (is `dualpower serve` running?); stop it or wait for it to finish"
    )]
    Locked {
        /// The data directory.
        path: PathBuf,
    },
    /// The data directory cannot be created.
    #[error("data directory {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Why a single verified event was not stored. Nothing else in the store changes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IngestError {
    /// The event itself is invalid (decoding, structure, body or signature).
    #[error(transparent)]
    Invalid(#[from] EventError),
    /// The event's backlink does not name the event this store holds at `seq - 1`.
    #[error("seq {seq}: backlink {found} does not match the stored predecessor {expected}")]
    WrongBacklink {
        /// The event's seq.
        seq: u64,
        /// The id stored at `seq - 1`.
        expected: EventId,
        /// The event's backlink.
        found: EventId,
    },
    /// [`MAX_VERSIONS_PER_SEQ`] versions of this log position are stored already.
    #[error("seq {seq} of this log already has {max} versions; no more are kept")]
    TooManyVersions {
        /// The event's seq.
        seq: u64,
        /// The bound.
        max: u64,
    },
    /// A dependency belongs to another group.
    #[error("dependency {dep} belongs to another group")]
    DepInOtherGroup {
        /// The dependency.
        dep: EventId,
    },
    /// The event belongs to another group than the one being imported or synced.
    #[error("event belongs to group {found}, not {expected}")]
    WrongGroup {
        /// The group expected.
        expected: GroupId,
        /// The event's group.
        found: GroupId,
    },
    /// The quarantine is full; the event was not kept (ask again later).
    #[error("quarantine is full ({max} events waiting); the event was not kept")]
    QuarantineFull {
        /// The bound that was hit.
        max: u64,
    },
}

/// What happened to an event that was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// Stored; `released` are quarantined events that could be stored because of it.
    Stored {
        /// The event.
        id: EventId,
        /// Events released from quarantine as a consequence, in the order stored.
        released: Vec<EventId>,
    },
    /// Already stored: nothing changed.
    Duplicate {
        /// The event.
        id: EventId,
    },
    /// Verified but waiting for these missing predecessors or dependencies.
    Quarantined {
        /// The event.
        id: EventId,
        /// What it waits for.
        missing: Vec<EventId>,
    },
    /// Stored, as one more version of a (log, seq) that already held another: both are events
    /// now, they form a fork proof, and the log is flagged as forked.
    ForkDetected {
        /// The event just stored.
        id: EventId,
        /// The smallest id among the versions stored at that position before.
        existing: EventId,
        /// Events released from quarantine as a consequence, in the order stored.
        released: Vec<EventId>,
    },
}

impl Ingested {
    /// The id of the event this outcome is about.
    pub fn id(&self) -> EventId {
        match self {
            Ingested::Stored { id, .. }
            | Ingested::Duplicate { id }
            | Ingested::Quarantined { id, .. }
            | Ingested::ForkDetected { id, .. } => *id,
        }
    }
}

/// Why a local append failed.
#[derive(Debug, Error)]
pub enum AppendError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Our own log is forked (someone else holds our key, or a backup was restored over newer
    /// data): we refuse to extend it.
    #[error("your log in this group is forked; refusing to extend it")]
    Forked,
    /// The event would break a structural rule (for example, a body that is too large).
    #[error(transparent)]
    Invalid(#[from] EventError),
    /// The event could not be stored for a link reason (should not happen for local appends).
    #[error("could not append: {0}")]
    Rejected(IngestError),
    /// The new event was not stored as the next event of the log (a bug, never expected).
    #[error("append did not store the event: {0}")]
    Unexpected(String),
    /// The body builder refused (for example, no key to encrypt with).
    #[error("could not build the body: {0}")]
    Body(String),
}

pub use dualpower_core::event::Position;

/// A stored secret: (name, encrypted value).
pub type SecretRow = (Vec<u8>, Vec<u8>);

/// Builds an event body once its position is known (encryption binds the seq).
pub type BodyBuilder = Box<dyn FnOnce(&Position) -> Result<Vec<u8>, String> + Send>;

/// The body of an event to append.
pub enum Body {
    /// Fixed bytes.
    Bytes(Vec<u8>),
    /// Built inside the writer, after seq, backlink and deps are chosen.
    Build(BodyBuilder),
}

impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Body {
        Body::Bytes(b)
    }
}

/// The state of one (author, group, log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogInfo {
    /// Author.
    pub author: PublicKey,
    /// Group.
    pub group: GroupId,
    /// Log number.
    pub log: u64,
    /// Highest stored seq + 1 (the number of stored events unless the log is forked).
    pub len: u64,
    /// Id of the event at the highest seq; if a fork left several there, the smallest of them.
    pub head: Option<EventId>,
    /// A fork of this log has been proven: some seq holds two or more stored versions.
    pub forked: bool,
    /// The lowest seq holding two or more versions (`Some` exactly when `forked`).
    pub fork_seq: Option<u64>,
    /// For a forked log, a digest of the sorted ids of every stored event at `fork_seq` or
    /// later: two stores hold the same events of the log exactly when `len`, `head` and this
    /// agree. `None` for an unforked log (its head already names every event).
    pub fork_digest: Option<[u8; 32]>,
}

/// A group this store knows the genesis of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// Group id.
    pub id: GroupId,
    /// Name from the genesis.
    pub name: String,
    /// Id of the genesis event.
    pub genesis: EventId,
    /// Who created it.
    pub creator: PublicKey,
    /// How many events of the group are stored.
    pub events: u64,
}

/// A proven fork: two validly signed events at the same (author, group, log, seq). Both are
/// stored events. Derived from the stored events, so the same on every node holding them.
#[derive(Debug, Clone)]
pub struct ForkProof {
    /// The version with the smallest id at that position.
    pub existing: VerifiedEvent,
    /// Another version at that position (one proof per further version).
    pub conflicting: VerifiedEvent,
}

/// Counts of what a store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Stored events (every version of a forked position counts).
    pub events: u64,
    /// Logs.
    pub logs: u64,
    /// Fork proofs (stored versions beyond the first at a position).
    pub forks: u64,
    /// Events in quarantine.
    pub quarantined: u64,
}

type Reply<T> = SyncSender<Result<T, StoreError>>;

enum Request {
    Ingest {
        expect_group: Option<GroupId>,
        events: Vec<VerifiedEvent>,
        reply: Reply<Vec<Result<Ingested, IngestError>>>,
    },
    /// One statement run inside a write transaction; answers whether it changed rows.
    Exec {
        sql: &'static str,
        params: Vec<rusqlite::types::Value>,
        reply: Reply<bool>,
    },
    Append {
        identity: Box<Identity>,
        group: GroupId,
        log: u64,
        body: Body,
        flags: u64,
        timestamp: u64,
        /// Deps to cite instead of the newest heads (empty: automatic).
        cite: Vec<EventId>,
        reply: SyncSender<Result<VerifiedEvent, AppendError>>,
    },
}

/// A Dual Power store. Cheap to share by reference across threads.
pub struct Store {
    path: PathBuf,
    config: StoreConfig,
    tx: Option<SyncSender<Request>>,
    writer: Option<JoinHandle<()>>,
    readers: Mutex<Vec<Connection>>,
    /// Exclusive lock on the data directory: the writer's caches are exact only if it is the
    /// only writer, so a second process must not open the same store. Dropped after the writer.
    _lock: Option<std::fs::File>,
}

/// File in the data directory that the open store holds locked.
pub const LOCK_FILE: &str = "store.lock";

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn open_connection(
    path: &Path,
    flags: OpenFlags,
    sync_full: bool,
) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Takes effect only when the database is created; 8 KiB pages hold ~16 events each with
    // less slack than 4 KiB ones.
    conn.pragma_update(None, "page_size", 8192)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        if sync_full { "FULL" } else { "NORMAL" },
    )?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Deleted rows are overwritten with zeros, not left in free pages: a forgotten epoch secret
    // or retired prekey must not survive its deletion on disk (forward secrecy).
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(conn)
}

impl Store {
    /// Opens (creating if needed) the store in data directory `home`.
    pub fn open(home: &Path, config: StoreConfig) -> Result<Store, StoreError> {
        let io = |source| StoreError::Io {
            path: home.to_path_buf(),
            source,
        };
        home::create_dir(home).map_err(io)?;
        // A directory made by an older version (0755, files 0644) is closed to other users
        // before anything is read from it. Callers that tell the person (the CLI) tighten first
        // and print what changed; this catches every other caller.
        for t in home::tighten(home).map_err(io)? {
            tracing::warn!("{t}");
        }
        let lock = home::open_private(&home.join(LOCK_FILE), false).map_err(io)?;
        lock.try_lock().map_err(|_| StoreError::Locked {
            path: home.to_path_buf(),
        })?;
        let path = home.join(DB_FILE);
        // Created 0600 before SQLite opens it: SQLite gives its write-ahead log and shared-memory
        // files the database file's mode, so they are private from their first byte too.
        if !path.exists() {
            home::open_private(&path, false).map_err(io)?;
        }
        let mut conn = open_connection(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            config.synchronous_full,
        )?;
        for t in home::tighten(home).map_err(io)? {
            tracing::warn!("{t}");
        }
        schema::migrate(&mut conn)?;
        let stored: Option<Vec<u8>> = conn
            .query_row("SELECT value FROM meta WHERE key = 'network'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match stored {
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('network', ?1)",
                    [&config.network.0[..]],
                )?;
            }
            Some(v) if v == config.network.0 => {}
            Some(v) => {
                let mut stored = [0u8; 32];
                if v.len() == 32 {
                    stored.copy_from_slice(&v);
                }
                return Err(StoreError::WrongNetwork {
                    stored: NetworkId(stored),
                    requested: config.network,
                });
            }
        }
        let (tx, rx) = sync_channel(config.queue_depth);
        let writer = writer::Writer::new(conn, config.clone())?;
        let handle = std::thread::Builder::new()
            .name("dualpower-store-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
        Ok(Store {
            path,
            config,
            tx: Some(tx),
            writer: Some(handle),
            readers: Mutex::new(Vec::new()),
            _lock: Some(lock),
        })
    }

    /// Opens an existing store for reading only, without taking the directory lock, so a
    /// running node and read-only commands (`feed`, `log`, `verify`, `export`) can share it.
    /// Every write on the returned store fails with [`StoreError::WriterGone`].
    pub fn open_read_only(home: &Path, config: StoreConfig) -> Result<Store, StoreError> {
        let path = home.join(DB_FILE);
        if !path.exists() {
            return Err(StoreError::Io {
                path,
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no store here yet"),
            });
        }
        let store = Store {
            path,
            config,
            tx: None,
            writer: None,
            readers: Mutex::new(Vec::new()),
            _lock: None,
        };
        let stored: Option<Vec<u8>> = store.read(|c| {
            Ok(
                c.query_row("SELECT value FROM meta WHERE key = 'network'", [], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })?;
        if let Some(v) = stored
            && v != store.config.network.0
        {
            let mut stored = [0u8; 32];
            if v.len() == 32 {
                stored.copy_from_slice(&v);
            }
            return Err(StoreError::WrongNetwork {
                stored: NetworkId(stored),
                requested: store.config.network,
            });
        }
        Ok(store)
    }

    /// Marks `group` as followed: the node keeps it in sync even before it holds its genesis.
    /// Returns false if it was followed already.
    pub fn follow(&self, group: GroupId) -> Result<bool, StoreError> {
        self.exec(
            "INSERT OR IGNORE INTO follows (grp) VALUES (?1)",
            vec![group.0.to_vec().into()],
        )
    }

    /// Runs one write statement through the writer (so it is serialised with ingest).
    fn exec(
        &self,
        sql: &'static str,
        params: Vec<rusqlite::types::Value>,
    ) -> Result<bool, StoreError> {
        let (reply, rx) = sync_channel(1);
        self.send(Request::Exec { sql, params, reply })?;
        rx.recv().map_err(|_| StoreError::WriterGone)?
    }

    /// Stores (or replaces) a local secret blob: `scope` groups them (a group id), `name` names
    /// one. The store keeps bytes only; callers encrypt them at rest (see the groups layer).
    pub fn put_secret(
        &self,
        scope: &[u8; 32],
        name: &[u8],
        value: &[u8],
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT OR REPLACE INTO secrets (scope, name, value) VALUES (?1, ?2, ?3)",
            vec![
                scope.to_vec().into(),
                name.to_vec().into(),
                value.to_vec().into(),
            ],
        )
        .map(|_| ())
    }

    /// Copies the write-ahead log into the database file and truncates it. `secure_delete`
    /// zeroes a deleted row's space in the database pages, but the log still holds the frames
    /// that wrote it until they are overwritten; call this after deleting secrets that must be
    /// gone (forward secrecy). Waits for readers up to the busy timeout; a read-only store
    /// (no writer) does nothing.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        if self.tx.is_none() {
            return Err(StoreError::WriterGone);
        }
        let conn = open_connection(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE,
            self.config.synchronous_full,
        )?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Deletes a local secret; true if it existed.
    pub fn delete_secret(&self, scope: &[u8; 32], name: &[u8]) -> Result<bool, StoreError> {
        self.exec(
            "DELETE FROM secrets WHERE scope = ?1 AND name = ?2",
            vec![scope.to_vec().into(), name.to_vec().into()],
        )
    }

    /// Every secret blob of `scope`, as (name, value).
    pub fn secrets(&self, scope: &[u8; 32]) -> Result<Vec<SecretRow>, StoreError> {
        self.read(|c| {
            let mut st =
                c.prepare_cached("SELECT name, value FROM secrets WHERE scope = ?1 ORDER BY name")?;
            let rows = st
                .query_map([&scope[..]], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Every group this node keeps in sync: those it holds a genesis or any log of, and those it
    /// follows.
    pub fn synced_groups(&self) -> Result<Vec<GroupId>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT grp FROM groups UNION SELECT grp FROM logs UNION SELECT grp FROM follows
                 ORDER BY 1",
            )?;
            let rows = stmt.query_map([], |r| blob32(r, 0).map(GroupId))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Raw events of several log suffixes of `group` — each `(author, log, from)` — in the order
    /// this store received them, which is causally valid (an event is stored only after its
    /// predecessors and deps), so a peer can store them as they come, with no quarantine. At most
    /// `max` events and about `budget` bytes; returns `(events, more)`, `more` meaning "stopped
    /// early, ask again".
    ///
    /// Every version of a forked position is sent, and a forked log is sent from its
    /// [`LogInfo::fork_seq`] even if `from` is higher: length alone cannot tell which versions
    /// the asker holds, and the fork-point versions are what lets it store the other branch.
    pub fn suffixes_in_arrival_order(
        &self,
        group: &GroupId,
        wants: &[(PublicKey, u64, u64)],
        max: usize,
        budget: usize,
    ) -> Result<(Vec<RawEvent>, bool), StoreError> {
        /// Rows looked at per answer at most, so one request cannot make us scan a huge store.
        const SCAN_LIMIT: usize = 200_000;
        const PAGE: i64 = 4096;
        self.read(|c| {
            let mut from_of: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
            let mut start = i64::MAX;
            {
                let mut find = c.prepare_cached(
                    "SELECT log_pk, fork_seq FROM logs WHERE author = ?1 AND grp = ?2 AND log = ?3",
                )?;
                // The earliest arrival among the wanted events (with forks, the lowest seq need
                // not have arrived first).
                let mut first = c.prepare_cached(
                    "SELECT MIN(seqno) FROM events WHERE log_pk = ?1 AND seq >= ?2",
                )?;
                for (author, log, from) in wants {
                    let (Ok(log), Ok(from)) = (i64::try_from(*log), i64::try_from(*from)) else {
                        continue;
                    };
                    let found: Option<(i64, Option<i64>)> = find
                        .query_row(rusqlite::params![&author.0[..], &group.0[..], log], |r| {
                            Ok((r.get(0)?, r.get(1)?))
                        })
                        .optional()?;
                    let Some((pk, fork_seq)) = found else {
                        continue;
                    };
                    let from = fork_seq.map_or(from, |f| f.min(from));
                    let seqno: Option<i64> = first
                        .query_row(rusqlite::params![pk, from], |r| r.get(0))
                        .optional()?
                        .flatten();
                    if let Some(n) = seqno {
                        start = start.min(n);
                        from_of.insert(pk, from);
                    }
                }
            }
            let mut out = Vec::new();
            if from_of.is_empty() || max == 0 {
                return Ok((out, !from_of.is_empty()));
            }
            let mut page = c.prepare_cached(
                "SELECT seqno, log_pk, seq, envelope, body FROM events
                 WHERE seqno >= ?1 ORDER BY seqno LIMIT ?2",
            )?;
            let (mut used, mut scanned, mut cursor) = (0usize, 0usize, start);
            loop {
                let mut rows = page.query(rusqlite::params![cursor, PAGE])?;
                let mut seen = 0;
                while let Some(r) = rows.next()? {
                    seen += 1;
                    scanned += 1;
                    let seqno: i64 = r.get(0)?;
                    cursor = seqno + 1;
                    let (pk, seq): (i64, i64) = (r.get(1)?, r.get(2)?);
                    if from_of.get(&pk).is_some_and(|f| seq >= *f) {
                        let env: Vec<u8> = r.get(3)?;
                        let body: Option<Vec<u8>> = r.get(4)?;
                        used += env.len() + body.as_ref().map_or(0, Vec::len);
                        out.push((env, body));
                        if out.len() >= max || used >= budget {
                            return Ok((out, true));
                        }
                    }
                }
                if seen < PAGE as usize {
                    return Ok((out, false));
                }
                if scanned >= SCAN_LIMIT {
                    return Ok((out, true));
                }
            }
        })
    }

    /// The network of this store.
    pub fn network(&self) -> &NetworkId {
        &self.config.network
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores verified events. Returns one outcome per event, in order, after the transaction
    /// holding them committed. An `Err` means nothing of this call was stored.
    pub fn ingest(
        &self,
        events: Vec<VerifiedEvent>,
    ) -> Result<Vec<Result<Ingested, IngestError>>, StoreError> {
        self.ingest_checked(None, events)
    }

    /// Like [`Store::ingest`], but rejects events of any group other than `group` (for imports
    /// and syncs scoped to one group).
    pub fn ingest_into(
        &self,
        group: GroupId,
        events: Vec<VerifiedEvent>,
    ) -> Result<Vec<Result<Ingested, IngestError>>, StoreError> {
        self.ingest_checked(Some(group), events)
    }

    fn ingest_checked(
        &self,
        expect_group: Option<GroupId>,
        events: Vec<VerifiedEvent>,
    ) -> Result<Vec<Result<Ingested, IngestError>>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, rx) = sync_channel(1);
        self.send(Request::Ingest {
            expect_group,
            events,
            reply,
        })?;
        rx.recv().map_err(|_| StoreError::WriterGone)?
    }

    /// Appends a new event with `body` to `identity`'s log `log` in `group`, choosing seq,
    /// backlink and deps atomically inside the writer, and returns it once committed.
    pub fn append(
        &self,
        identity: &Identity,
        group: GroupId,
        log: u64,
        body: impl Into<Body>,
        flags: u64,
        timestamp: u64,
    ) -> Result<VerifiedEvent, AppendError> {
        self.append_citing(identity, group, log, body, flags, timestamp, Vec::new())
    }

    /// Like [`Store::append`], but the event's deps are `cite` (at most
    /// [`dualpower_core::event::MAX_DEPS`] stored events of the group; our own head is the
    /// backlink anyway) instead of the newest heads. Used to bring chosen events into the causal
    /// past of what we write next, e.g. every vote before a close.
    #[allow(clippy::too_many_arguments)]
    pub fn append_citing(
        &self,
        identity: &Identity,
        group: GroupId,
        log: u64,
        body: impl Into<Body>,
        flags: u64,
        timestamp: u64,
        cite: Vec<EventId>,
    ) -> Result<VerifiedEvent, AppendError> {
        let body = body.into();
        let (reply, rx) = sync_channel(1);
        self.send(Request::Append {
            identity: Box::new(identity.clone()),
            group,
            log,
            body,
            flags,
            timestamp,
            cite,
            reply,
        })?;
        rx.recv()
            .map_err(|_| AppendError::Store(StoreError::WriterGone))?
    }

    fn send(&self, req: Request) -> Result<(), StoreError> {
        self.tx
            .as_ref()
            .ok_or(StoreError::WriterGone)?
            .send(req)
            .map_err(|_| StoreError::WriterGone)
    }

    /// Runs `f` on a pooled read connection.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.readers.lock().ok().and_then(|mut p| p.pop());
        let conn = match conn {
            Some(c) => c,
            None => open_connection(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_ONLY,
                self.config.synchronous_full,
            )?,
        };
        let out = f(&conn);
        if let Ok(mut pool) = self.readers.lock()
            && pool.len() < 8
        {
            pool.push(conn);
        }
        out
    }

    /// All logs of `group` (or of every group).
    pub fn logs(&self, group: Option<GroupId>) -> Result<Vec<LogInfo>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT author, grp, log, height, head, forked, fork_seq, log_pk FROM logs
                 WHERE (?1 IS NULL OR grp = ?1) AND height >= 0
                 ORDER BY grp, author, log",
            )?;
            let rows = stmt.query_map([group.as_ref().map(|g| &g.0[..])], |r| {
                Ok((
                    LogInfo {
                        author: PublicKey(blob32(r, 0)?),
                        group: GroupId(blob32(r, 1)?),
                        log: r.get::<_, i64>(2)? as u64,
                        len: (r.get::<_, i64>(3)? + 1) as u64,
                        head: r
                            .get::<_, Option<Vec<u8>>>(4)?
                            .and_then(|h| h.try_into().ok())
                            .map(EventId),
                        forked: r.get::<_, i64>(5)? != 0,
                        fork_seq: r.get::<_, Option<i64>>(6)?.map(|s| s as u64),
                        fork_digest: None,
                    },
                    r.get::<_, i64>(7)?,
                ))
            })?;
            let mut logs: Vec<LogInfo> = Vec::new();
            let mut ids = c.prepare_cached(
                "SELECT id FROM events WHERE log_pk = ?1 AND seq >= ?2 ORDER BY id",
            )?;
            for row in rows {
                let (mut info, log_pk) = row?;
                // Forked logs are rare; only they need their post-fork ids read.
                if let Some(from) = info.fork_seq {
                    let mut h = blake3::Hasher::new_derive_key("dualpower fork digest v1");
                    let mut rows = ids.query(rusqlite::params![log_pk, from as i64])?;
                    while let Some(r) = rows.next()? {
                        h.update(&blob32(r, 0)?);
                    }
                    info.fork_digest = Some(*h.finalize().as_bytes());
                }
                logs.push(info);
            }
            Ok(logs)
        })
    }

    /// Groups whose genesis this store holds.
    pub fn groups(&self) -> Result<Vec<GroupInfo>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT g.grp, g.name, g.genesis, g.creator,
                        (SELECT COALESCE(SUM(CASE WHEN l.forked = 0 THEN l.height + 1 ELSE
                            (SELECT COUNT(*) FROM events e WHERE e.log_pk = l.log_pk) END), 0)
                         FROM logs l WHERE l.grp = g.grp)
                 FROM groups g ORDER BY g.name, g.grp",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(GroupInfo {
                    id: GroupId(blob32(r, 0)?),
                    name: r.get(1)?,
                    genesis: EventId(blob32(r, 2)?),
                    creator: PublicKey(blob32(r, 3)?),
                    events: r.get::<_, i64>(4)? as u64,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Every stored event of `group`, by author, log, seq and id. Every version of a forked
    /// position is included (they follow each other, smallest id first), so the result depends
    /// only on the stored events, not on the order they arrived in.
    pub fn group_events(&self, group: GroupId) -> Result<Vec<VerifiedEvent>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT e.id, e.envelope, e.body FROM events e JOIN logs l USING (log_pk)
                 WHERE l.grp = ?1 ORDER BY l.author, l.log, e.seq, e.id",
            )?;
            let rows = stmt.query_map([&group.0[..]], row_to_raw)?;
            rows.map(|r| decode_stored(r?)).collect()
        })
    }

    /// The events of `group` that arrived after arrival number `after` (0 for all), in
    /// arrival order, with the arrival number of the last one (`after` if none): what a cache
    /// of derived state reads to catch up in proportion to what is new, not to the group.
    pub fn group_events_since(
        &self,
        group: GroupId,
        after: i64,
    ) -> Result<(Vec<VerifiedEvent>, i64), StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT e.seqno, e.id, e.envelope, e.body FROM events e JOIN logs l USING (log_pk)
                 WHERE e.seqno > ?2 AND l.grp = ?1 ORDER BY e.seqno",
            )?;
            let rows = stmt.query_map(rusqlite::params![&group.0[..], after], |r| {
                Ok((r.get::<_, i64>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
            })?;
            let mut last = after;
            let mut out = Vec::new();
            for row in rows {
                let (seqno, raw) = row?;
                last = last.max(seqno);
                out.push(decode_stored(raw)?);
            }
            Ok((out, last))
        })
    }

    /// One stored event by id.
    pub fn event(&self, id: EventId) -> Result<Option<VerifiedEvent>, StoreError> {
        self.read(|c| {
            let raw = c
                .query_row(
                    "SELECT id, envelope, body FROM events WHERE id = ?1",
                    [&id.0[..]],
                    row_to_raw,
                )
                .optional()?;
            raw.map(decode_stored).transpose()
        })
    }

    /// Whether an event with this id is stored (any version of any log).
    pub fn contains(&self, id: &EventId) -> Result<bool, StoreError> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT 1 FROM events WHERE id = ?1")?
                .query_row([&id.0[..]], |_| Ok(()))
                .optional()?
                .is_some())
        })
    }

    /// All fork proofs: for every stored position with several versions, one proof per version
    /// beyond the one with the smallest id, which is `existing` in each. Ordered by
    /// `conflicting`.
    pub fn forks(&self) -> Result<Vec<ForkProof>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(FORK_PAIRS)?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    (r.get(0)?, r.get(1)?, r.get(2)?),
                    (r.get(3)?, r.get(4)?, r.get(5)?),
                ))
            })?;
            rows.map(|r| {
                let (a, b) = r?;
                Ok(ForkProof {
                    existing: decode_stored(a)?,
                    conflicting: decode_stored(b)?,
                })
            })
            .collect()
        })
    }

    /// Ids of events waiting in quarantine and what each waits for.
    pub fn quarantine(&self) -> Result<Vec<(EventId, Vec<EventId>)>, StoreError> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT q.id FROM quarantine q ORDER BY q.arrived, q.id")?;
            let ids: Vec<[u8; 32]> = stmt
                .query_map([], |r| blob32(r, 0))?
                .collect::<Result<_, _>>()?;
            let mut waits = c.prepare_cached(
                "SELECT missing FROM quarantine_waits WHERE id = ?1 ORDER BY missing",
            )?;
            ids.into_iter()
                .map(|id| {
                    let missing = waits
                        .query_map([&id[..]], |r| blob32(r, 0).map(EventId))?
                        .collect::<Result<_, _>>()?;
                    Ok((EventId(id), missing))
                })
                .collect()
        })
    }

    /// How much the store holds.
    pub fn counts(&self) -> Result<Counts, StoreError> {
        self.read(|c| {
            let n = |sql: &str| -> Result<u64, StoreError> {
                Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
            };
            Ok(Counts {
                events: n("SELECT COALESCE(SUM(height + 1), 0) FROM logs WHERE forked = 0")?
                    + n("SELECT COUNT(*) FROM events WHERE log_pk IN
                         (SELECT log_pk FROM logs WHERE forked = 1)")?,
                logs: n("SELECT COUNT(*) FROM logs WHERE height >= 0")?,
                forks: n(FORK_COUNT)?,
                quarantined: n("SELECT COUNT(*) FROM quarantine")?,
            })
        })
    }

    /// A digest of everything the store holds that matters: every stored event id, every log's
    /// height, head and fork flag and seq, and every quarantined id (fork proofs are derived
    /// from the events). Two stores with the
    /// same contents have the same digest, whatever order the events arrived in.
    pub fn digest(&self) -> Result<[u8; 32], StoreError> {
        self.read(|c| {
            let mut h = blake3::Hasher::new_derive_key("dualpower store digest v1");
            for (sql, cols) in [
                ("SELECT id FROM events ORDER BY id", 1),
                (
                    "SELECT author, grp, log, height, COALESCE(head, x''), forked,
                            COALESCE(fork_seq, -1) FROM logs
                     WHERE height >= 0 ORDER BY author, grp, log",
                    7,
                ),
                ("SELECT id FROM quarantine ORDER BY id", 1),
            ] {
                h.update(sql.as_bytes());
                let mut stmt = c.prepare(sql)?;
                let mut rows = stmt.query([])?;
                while let Some(r) = rows.next()? {
                    for i in 0..cols {
                        match r.get_ref(i)? {
                            rusqlite::types::ValueRef::Integer(v) => h.update(&v.to_be_bytes()),
                            rusqlite::types::ValueRef::Blob(b) => {
                                h.update(&(b.len() as u64).to_be_bytes());
                                h.update(b)
                            }
                            _ => h.update(b"?"),
                        };
                    }
                }
            }
            Ok(*h.finalize().as_bytes())
        })
    }

    /// Bytes of the database files on disk (main file plus WAL).
    pub fn disk_bytes(&self) -> u64 {
        let wal = self.path.with_extension("sqlite-wal");
        [&self.path, &wal]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Stops the writer after it finished everything queued, and checkpoints the WAL.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), StoreError> {
        self.tx.take();
        if let Some(h) = self.writer.take() {
            h.join().map_err(|_| StoreError::WriterGone)?;
        }
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Every pair (smallest version, further version) at a forked position, as two raw rows.
const FORK_PAIRS: &str = "
    SELECT e.id, e.envelope, e.body, f.id, f.envelope, f.body
    FROM logs l JOIN events e ON e.log_pk = l.log_pk
    JOIN events f ON f.log_pk = e.log_pk AND f.seq = e.seq AND f.id > e.id
    WHERE l.forked = 1
      AND e.id = (SELECT MIN(m.id) FROM events m WHERE m.log_pk = e.log_pk AND m.seq = e.seq)
    ORDER BY f.id";

/// The number of rows [`FORK_PAIRS`] returns: versions beyond the first at every position.
const FORK_COUNT: &str = "
    SELECT COALESCE(SUM(n - 1), 0) FROM (
        SELECT COUNT(*) AS n FROM events
        WHERE log_pk IN (SELECT log_pk FROM logs WHERE forked = 1)
        GROUP BY log_pk, seq)";

type RawRow = (Vec<u8>, Vec<u8>, Option<Vec<u8>>);

/// An event's raw bytes: envelope and optional body, exactly as signed and stored.
pub type RawEvent = (Vec<u8>, Option<Vec<u8>>);

fn row_to_raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn decode_stored((id, envelope, body): RawRow) -> Result<VerifiedEvent, StoreError> {
    let ev =
        VerifiedEvent::from_trusted_store(envelope, body).map_err(|e| StoreError::Corrupt {
            id: hex::encode(&id),
            reason: e.to_string(),
        })?;
    if ev.id().0[..] != id[..] {
        return Err(StoreError::Corrupt {
            id: hex::encode(&id),
            reason: "envelope does not hash to the stored id".into(),
        });
    }
    Ok(ev)
}

pub(crate) fn blob32(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<[u8; 32]> {
    let v: Vec<u8> = r.get(i)?;
    v.try_into().map_err(|v: Vec<u8>| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Blob,
            format!("expected 32 bytes, found {}", v.len()).into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection (the writer's and the pooled readers', all made by `open_connection`)
    /// zeroes what it frees.
    #[test]
    fn every_connection_has_secure_delete_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
        let on: i64 = store
            .read(|c| Ok(c.pragma_query_value(None, "secure_delete", |r| r.get(0))?))
            .unwrap();
        assert_eq!(on, 1);
        let writer_like = open_connection(
            &dir.path().join(DB_FILE),
            OpenFlags::SQLITE_OPEN_READ_WRITE,
            true,
        )
        .unwrap();
        let on: i64 = writer_like
            .pragma_query_value(None, "secure_delete", |r| r.get(0))
            .unwrap();
        assert_eq!(on, 1);
    }
}
