//! Bundles: a portable file of signed events, for moving a group's history without any network
//! (the "sneakernet" path: a USB stick, an email attachment).
//!
//! A bundle carries no authority of its own: every event in it is decoded and verified exactly as
//! if it came from a peer, so a tampered bundle can cost the importer nothing but time. The good
//! events are kept and each bad one is reported with its reason.
//!
//! Layout (all integers big-endian):
//!
//! ```text
//! "DPBUNDLE" version:u8=1 network:[u8;32]
//! ( 0x01 envelope_len:u32 envelope  body_len_plus_one:u32 body )*   -- body_len_plus_one = 0: no body
//! 0x00 count:u64                                                    -- end marker
//! ```
//!
//! Events are written in causal order (predecessors first, ties by id), so an import rarely
//! needs the quarantine, and the same store contents always give the same bundle bytes.

use std::io::{self, Read, Write};

use dualpower_core::event::{MAX_BODY_BYTES, MAX_ENVELOPE_BYTES};
use dualpower_core::{Event, EventId, GroupId, NetworkId, VerifiedEvent, causal, verify_batch};
use thiserror::Error;

use crate::{IngestError, Ingested, Store, StoreError};

const MAGIC: &[u8; 8] = b"DPBUNDLE";
const VERSION: u8 = 1;
const TAG_EVENT: u8 = 1;
const TAG_END: u8 = 0;
/// Events decoded, verified and stored together during an import.
const IMPORT_CHUNK: usize = 1024;

/// Why a bundle could not be read or written as a whole.
#[derive(Debug, Error)]
pub enum BundleError {
    /// Reading or writing failed.
    #[error("bundle I/O: {0}")]
    Io(#[from] io::Error),
    /// The file is not a Dual Power bundle.
    #[error("not a Dual Power bundle (bad magic bytes)")]
    NotABundle,
    /// A bundle format this version does not know.
    #[error("unknown bundle version {0}")]
    UnknownVersion(u8),
    /// The bundle is for another network.
    #[error("bundle is for network {found}, this store is on {expected}")]
    WrongNetwork {
        /// The store's network.
        expected: NetworkId,
        /// The bundle's network.
        found: NetworkId,
    },
    /// A frame is malformed; nothing after it can be read.
    #[error("bundle is damaged at byte {offset}: {reason}")]
    Damaged {
        /// Byte offset of the frame.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The end marker's count differs from the events read.
    #[error("bundle says it holds {declared} events but {read} were read")]
    CountMismatch {
        /// From the end marker.
        declared: u64,
        /// Actually read.
        read: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Writes a bundle.
pub struct BundleWriter<W: Write> {
    out: W,
    count: u64,
}

impl<W: Write> BundleWriter<W> {
    /// Starts a bundle for `network`.
    pub fn new(mut out: W, network: &NetworkId) -> Result<Self, BundleError> {
        out.write_all(MAGIC)?;
        out.write_all(&[VERSION])?;
        out.write_all(&network.0)?;
        Ok(Self { out, count: 0 })
    }

    /// Appends one event.
    pub fn push(&mut self, envelope: &[u8], body: Option<&[u8]>) -> Result<(), BundleError> {
        self.out.write_all(&[TAG_EVENT])?;
        self.out.write_all(&(envelope.len() as u32).to_be_bytes())?;
        self.out.write_all(envelope)?;
        match body {
            Some(b) => {
                self.out.write_all(&(b.len() as u32 + 1).to_be_bytes())?;
                self.out.write_all(b)?;
            }
            None => self.out.write_all(&0u32.to_be_bytes())?,
        }
        self.count += 1;
        Ok(())
    }

    /// Writes the end marker and returns the output and the number of events.
    pub fn finish(mut self) -> Result<(W, u64), BundleError> {
        self.out.write_all(&[TAG_END])?;
        self.out.write_all(&self.count.to_be_bytes())?;
        self.out.flush()?;
        Ok((self.out, self.count))
    }
}

/// Reads a bundle frame by frame, checking every length before allocating.
pub struct BundleReader<R: Read> {
    input: R,
    offset: u64,
    read: u64,
    network: NetworkId,
    done: bool,
}

/// One frame: envelope bytes and optional body bytes, not yet decoded.
pub type Frame = (Vec<u8>, Option<Vec<u8>>);

impl<R: Read> BundleReader<R> {
    /// Reads and checks the bundle header.
    pub fn new(mut input: R) -> Result<Self, BundleError> {
        let mut head = [0u8; 8 + 1 + 32];
        input.read_exact(&mut head).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => BundleError::NotABundle,
            _ => BundleError::Io(e),
        })?;
        if &head[..8] != MAGIC {
            return Err(BundleError::NotABundle);
        }
        if head[8] != VERSION {
            return Err(BundleError::UnknownVersion(head[8]));
        }
        let mut network = [0u8; 32];
        network.copy_from_slice(&head[9..]);
        Ok(Self {
            input,
            offset: head.len() as u64,
            read: 0,
            network: NetworkId(network),
            done: false,
        })
    }

    /// The bundle's network.
    pub fn network(&self) -> NetworkId {
        self.network
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn damaged(&mut self, at: u64, reason: impl Into<String>) -> BundleError {
        self.done = true;
        BundleError::Damaged {
            offset: at,
            reason: reason.into(),
        }
    }

    fn exact(&mut self, buf: &mut [u8], at: u64) -> Result<(), BundleError> {
        match self.input.read_exact(buf) {
            Ok(()) => {
                self.offset += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Err(self.damaged(at, "file ends in the middle of an event (truncated)"))
            }
            Err(e) => {
                self.done = true;
                Err(BundleError::Io(e))
            }
        }
    }

    fn u32(&mut self, at: u64) -> Result<u32, BundleError> {
        let mut b = [0u8; 4];
        self.exact(&mut b, at)?;
        Ok(u32::from_be_bytes(b))
    }

    /// The next frame, `None` after a valid end marker.
    pub fn next_frame(&mut self) -> Option<Result<Frame, BundleError>> {
        if self.done {
            return None;
        }
        self.frame().transpose()
    }

    fn frame(&mut self) -> Result<Option<Frame>, BundleError> {
        let at = self.offset;
        let mut tag = [0u8; 1];
        match self.input.read_exact(&mut tag) {
            Ok(()) => self.offset += 1,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(self.damaged(at, "no end marker (truncated)"));
            }
            Err(e) => {
                self.done = true;
                return Err(BundleError::Io(e));
            }
        }
        match tag[0] {
            TAG_END => {
                let mut c = [0u8; 8];
                self.exact(&mut c, at)?;
                self.done = true;
                let declared = u64::from_be_bytes(c);
                if declared != self.read {
                    return Err(BundleError::CountMismatch {
                        declared,
                        read: self.read,
                    });
                }
                let mut extra = [0u8; 1];
                if self.input.read(&mut extra)? != 0 {
                    return Err(self.damaged(self.offset, "bytes after the end marker"));
                }
                Ok(None)
            }
            TAG_EVENT => {
                let len = self.u32(at)? as usize;
                if len > MAX_ENVELOPE_BYTES {
                    return Err(self.damaged(
                        at,
                        format!("envelope length {len} exceeds {MAX_ENVELOPE_BYTES}"),
                    ));
                }
                let mut envelope = vec![0u8; len];
                self.exact(&mut envelope, at)?;
                let body_len = self.u32(at)? as usize;
                let body = if body_len == 0 {
                    None
                } else {
                    let n = body_len - 1;
                    if n > MAX_BODY_BYTES {
                        return Err(
                            self.damaged(at, format!("body length {n} exceeds {MAX_BODY_BYTES}"))
                        );
                    }
                    let mut b = vec![0u8; n];
                    self.exact(&mut b, at)?;
                    Some(b)
                };
                self.read += 1;
                Ok(Some((envelope, body)))
            }
            other => Err(self.damaged(at, format!("unknown frame tag {other:#04x}"))),
        }
    }
}

/// One event of a bundle that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Position of the event in the bundle (0-based).
    pub index: u64,
    /// Its id, if the envelope could be hashed.
    pub id: Option<EventId>,
    /// Why it was rejected.
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Events read from the bundle.
    pub read: u64,
    /// Newly stored (including those released from quarantine).
    pub stored: u64,
    /// Already present.
    pub duplicates: u64,
    /// Waiting for missing predecessors.
    pub quarantined: u64,
    /// Events stored as a further version of a log position (also counted in `stored`).
    pub forks: u64,
    /// Events refused, with reasons.
    pub rejected: Vec<Rejected>,
    /// Set if the bundle itself was damaged; every event before the damage was processed.
    pub damaged: Option<String>,
}

impl Store {
    /// Writes every stored event of `group` (every version of a forked position included, so the
    /// fork proofs travel too) to a bundle in causal order. Returns the number of events written.
    pub fn export_group<W: Write>(&self, group: GroupId, out: W) -> Result<u64, BundleError> {
        let events = self.group_events(group)?;
        let order = causal::order_events(&events);
        let mut w = BundleWriter::new(out, self.network())?;
        for i in order {
            w.push(events[i].envelope(), events[i].body())?;
        }
        Ok(w.finish()?.1)
    }

    /// Imports a bundle: every event is decoded, verified (in batches) and stored like one from a
    /// peer. Bad events are reported and skipped; good ones are kept. `progress` is called with the
    /// number of bundle bytes consumed so far.
    pub fn import<R: Read>(
        &self,
        input: R,
        mut progress: impl FnMut(u64),
    ) -> Result<ImportReport, BundleError> {
        let mut reader = BundleReader::new(input)?;
        if reader.network() != *self.network() {
            return Err(BundleError::WrongNetwork {
                expected: *self.network(),
                found: reader.network(),
            });
        }
        let mut report = ImportReport::default();
        let mut chunk: Vec<(u64, Frame)> = Vec::with_capacity(IMPORT_CHUNK);
        loop {
            let next = reader.next_frame();
            let end = match next {
                Some(Ok(frame)) => {
                    chunk.push((report.read, frame));
                    report.read += 1;
                    false
                }
                Some(Err(e)) => {
                    if let BundleError::Store(_) | BundleError::Io(_) = e {
                        return Err(e);
                    }
                    report.damaged = Some(e.to_string());
                    true
                }
                None => true,
            };
            if chunk.len() >= IMPORT_CHUNK || (end && !chunk.is_empty()) {
                self.import_chunk(std::mem::take(&mut chunk), &mut report)?;
                progress(reader.offset());
            }
            if end {
                break;
            }
        }
        Ok(report)
    }

    fn import_chunk(
        &self,
        chunk: Vec<(u64, Frame)>,
        report: &mut ImportReport,
    ) -> Result<(), BundleError> {
        let mut decoded = Vec::with_capacity(chunk.len());
        let mut indices = Vec::with_capacity(chunk.len());
        for (index, (envelope, body)) in chunk {
            let id = EventId(*blake3::hash(&envelope).as_bytes());
            match Event::decode(envelope, body) {
                Ok(ev) => {
                    decoded.push(ev);
                    indices.push(index);
                }
                Err(e) => report.rejected.push(Rejected {
                    index,
                    id: Some(id),
                    reason: e.to_string(),
                }),
            }
        }
        let mut verified: Vec<VerifiedEvent> = Vec::with_capacity(decoded.len());
        let mut verified_idx = Vec::with_capacity(decoded.len());
        let ids: Vec<EventId> = decoded.iter().map(|e| e.id()).collect();
        for ((res, index), id) in verify_batch(decoded, self.network())
            .into_iter()
            .zip(indices)
            .zip(ids)
        {
            match res {
                Ok(v) => {
                    verified.push(v);
                    verified_idx.push(index);
                }
                Err(e) => report.rejected.push(Rejected {
                    index,
                    id: Some(id),
                    reason: e.to_string(),
                }),
            }
        }
        let vids: Vec<EventId> = verified.iter().map(|v| v.id()).collect();
        let outcomes = self.ingest(verified)?;
        for ((outcome, index), id) in outcomes.into_iter().zip(verified_idx).zip(vids) {
            tally(report, index, id, outcome);
        }
        report.rejected.sort_by_key(|r| r.index);
        Ok(())
    }
}

fn tally(
    report: &mut ImportReport,
    index: u64,
    id: EventId,
    outcome: Result<Ingested, IngestError>,
) {
    match outcome {
        Ok(Ingested::Stored { released, .. }) => {
            report.stored += 1 + released.len() as u64;
            report.quarantined = report.quarantined.saturating_sub(released.len() as u64);
        }
        Ok(Ingested::Duplicate { .. }) => report.duplicates += 1,
        Ok(Ingested::Quarantined { .. }) => report.quarantined += 1,
        Ok(Ingested::ForkDetected { released, .. }) => {
            report.forks += 1;
            report.stored += 1 + released.len() as u64;
            report.quarantined = report.quarantined.saturating_sub(released.len() as u64);
        }
        Err(e) => report.rejected.push(Rejected {
            index,
            id: Some(id),
            reason: e.to_string(),
        }),
    }
}
