//! The SQLite schema and its migrations.
//!
//! Only verified bytes are stored: events keep their exact envelope and body so they can be
//! re-verified and re-sent byte for byte. Everything else (log heights, the group index) is derived
//! from those bytes and could be rebuilt from them.

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

const V1: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

-- One row per (author, group, log). `height` is the highest stored seq (-1 = none); events of a
-- log are always stored as a contiguous prefix 0..=height (since V4: every stored event's
-- predecessor is stored, but a forked log may hold several versions at a seq).
CREATE TABLE logs (
    log_pk  INTEGER PRIMARY KEY,
    author  BLOB NOT NULL,
    grp     BLOB NOT NULL,
    log     INTEGER NOT NULL,
    height  INTEGER NOT NULL DEFAULT -1,
    head    BLOB,
    forked  INTEGER NOT NULL DEFAULT 0,
    touched INTEGER NOT NULL DEFAULT 0,
    UNIQUE (author, grp, log)
) STRICT;
CREATE INDEX logs_by_group ON logs (grp, touched);

-- `seqno` is the local arrival order: rows are appended, so pages stay full.
CREATE TABLE events (
    seqno    INTEGER PRIMARY KEY,
    log_pk   INTEGER NOT NULL REFERENCES logs (log_pk),
    seq      INTEGER NOT NULL,
    id       BLOB NOT NULL,
    envelope BLOB NOT NULL,
    body     BLOB
) STRICT;
CREATE UNIQUE INDEX events_by_log ON events (log_pk, seq);
CREATE UNIQUE INDEX events_by_id ON events (id);

-- A fork proof: a second, validly signed event at a (log, seq) that already holds another.
CREATE TABLE forks (
    conflicting BLOB PRIMARY KEY,
    log_pk      INTEGER NOT NULL REFERENCES logs (log_pk),
    seq         INTEGER NOT NULL,
    existing    BLOB NOT NULL,
    envelope    BLOB NOT NULL,
    body        BLOB
) STRICT;

-- Verified events that wait for a predecessor or dependency.
CREATE TABLE quarantine (
    id       BLOB PRIMARY KEY,
    log_pk   INTEGER NOT NULL REFERENCES logs (log_pk),
    seq      INTEGER NOT NULL,
    envelope BLOB NOT NULL,
    body     BLOB,
    arrived  INTEGER NOT NULL
) STRICT;
CREATE INDEX quarantine_by_log ON quarantine (log_pk);
CREATE TABLE quarantine_waits (
    missing BLOB NOT NULL,
    id      BLOB NOT NULL,
    PRIMARY KEY (missing, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX quarantine_waits_by_id ON quarantine_waits (id);

-- Index of valid group genesis events (derived: rebuildable from `events`).
CREATE TABLE groups (
    grp     BLOB PRIMARY KEY,
    name    TEXT NOT NULL,
    genesis BLOB NOT NULL,
    creator BLOB NOT NULL
) STRICT;
"#;

/// Groups this node keeps in sync although it may not hold their genesis yet (joined by id).
const V2: &str = r#"
CREATE TABLE follows (
    grp BLOB PRIMARY KEY
) STRICT;
"#;

/// Local secrets (prekey private halves, opened epoch secrets), encrypted by the caller with a
/// key derived from the identity, so a copied database without the passphrase reveals nothing.
const V3: &str = r#"
CREATE TABLE secrets (
    scope BLOB NOT NULL,
    name  BLOB NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (scope, name)
) STRICT, WITHOUT ROWID;
"#;

/// Forks are data: every validly signed version at a (log, seq) is an event, so the (log, seq)
/// index is no longer unique, and a log records the lowest seq holding more than one version.
/// Fork proofs are derived from `events` from now on; rows of the old `forks` table are fed back
/// through the ingest rules by the writer when it opens the store (see `Writer::new`), and the
/// fork flags are recomputed by that, so they are cleared here.
const V4: &str = r#"
DROP INDEX events_by_log;
CREATE INDEX events_by_log ON events (log_pk, seq);
ALTER TABLE logs ADD COLUMN fork_seq INTEGER;
UPDATE logs SET forked = 0;
"#;

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(V1), M::up(V2), M::up(V3), M::up(V4)])
}

/// Brings a database to the newest schema.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), rusqlite_migration::Error> {
    migrations().to_latest(conn)
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }
}
