//! Invite codes: what a member hands to a newcomer (pasted as text or scanned as a QR code).
//!
//! A code carries the group id, the invite event's id, the invite's secret key (whoever holds
//! it may ask to join, and may sync the group until the invite expires) and, optionally, the
//! addresses of the inviter's node so the newcomer's node can reach it. Text form:
//! `dpinvite1` followed by base58 of canonical CBOR and a 4-byte BLAKE3 checksum, so a typo is
//! reported as a typo.

use dualpower_core::cbor::{Reader, Writer};
use dualpower_core::{EventId, GroupId, Identity};
use thiserror::Error;

const PREFIX: &str = "dpinvite1";
/// Most node addresses in a code.
pub const MAX_ADDRS: usize = 8;
/// Longest address, in bytes: an I2P address (`/garlic64/…/p2p/…`, anonymous mode) is about
/// 600.
pub const MAX_ADDR_BYTES: usize = 800;
/// Longest code: eight addresses of an ordinary length, or a few I2P ones.
const MAX_CODE_CHARS: usize = 4096;

/// Why a code is not a valid invite code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InviteError {
    /// Does not start with the prefix.
    #[error("not an invite code (it should start with `{PREFIX}`)")]
    Prefix,
    /// Too long to be a code.
    #[error("invite code is {0} characters, too long to be one")]
    TooLong(usize),
    /// Not base58.
    #[error("invite code has a character that is not base58 (mistyped?)")]
    Base58,
    /// The checksum does not match.
    #[error("invite code checksum does not match (mistyped or cut off?)")]
    Checksum,
    /// The content does not decode.
    #[error("invite code content is malformed: {0}")]
    Malformed(String),
}

/// A decoded invite code.
#[derive(Clone, PartialEq, Eq)]
pub struct InviteCode {
    /// The group.
    pub group: GroupId,
    /// The invite event.
    pub invite: EventId,
    /// Seed of the invite key (secret).
    pub secret: [u8; 32],
    /// Addresses of the inviter's node (multiaddrs with `/p2p/`), may be empty.
    pub addrs: Vec<String>,
}

impl std::fmt::Debug for InviteCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InviteCode")
            .field("group", &self.group)
            .field("invite", &self.invite)
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

impl InviteCode {
    /// The invite key.
    pub fn key(&self) -> Identity {
        Identity::from_seed(&self.secret)
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        let mut w = Writer::default();
        w.array(4)
            .bytes(&self.group.0)
            .bytes(&self.invite.0)
            .bytes(&self.secret)
            .array(self.addrs.len());
        for a in &self.addrs {
            w.text(a);
        }
        let mut bytes = w.into_bytes();
        let sum = blake3::hash(&bytes);
        bytes.extend_from_slice(&sum.as_bytes()[..4]);
        format!("{PREFIX}{}", bs58::encode(bytes).into_string())
    }

    /// Parses the text form (surrounding whitespace is ignored).
    pub fn parse(text: &str) -> Result<InviteCode, InviteError> {
        let text = text.trim();
        if text.len() > MAX_CODE_CHARS {
            return Err(InviteError::TooLong(text.len()));
        }
        let body = text.strip_prefix(PREFIX).ok_or(InviteError::Prefix)?;
        let bytes = bs58::decode(body)
            .into_vec()
            .map_err(|_| InviteError::Base58)?;
        if bytes.len() < 4 {
            return Err(InviteError::Checksum);
        }
        let (content, sum) = bytes.split_at(bytes.len() - 4);
        if &blake3::hash(content).as_bytes()[..4] != sum {
            return Err(InviteError::Checksum);
        }
        let bad = |e: dualpower_core::cbor::CborError| InviteError::Malformed(e.to_string());
        let mut r = Reader::new(content, 3);
        if r.array("invite code", 4).map_err(bad)? != 4 {
            return Err(InviteError::Malformed("expected 4 fields".into()));
        }
        let group = GroupId(r.bytes_n::<32>("group").map_err(bad)?);
        let invite = EventId(r.bytes_n::<32>("invite").map_err(bad)?);
        let secret = r.bytes_n::<32>("secret").map_err(bad)?;
        let n = r.array("addrs", MAX_ADDRS).map_err(bad)?;
        let mut addrs = Vec::with_capacity(n);
        for _ in 0..n {
            addrs.push(r.text("addr", MAX_ADDR_BYTES).map_err(bad)?.to_owned());
        }
        r.leave();
        r.leave();
        r.finish().map_err(bad)?;
        Ok(InviteCode {
            group,
            invite,
            secret,
            addrs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_typos_are_caught() {
        let c = InviteCode {
            group: GroupId([1; 32]),
            invite: EventId([2; 32]),
            secret: [3; 32],
            addrs: vec!["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWabc".into()],
        };
        let t = c.to_text();
        assert_eq!(InviteCode::parse(&format!("  {t}\n")), Ok(c));
        let mut chars: Vec<char> = t.chars().collect();
        let i = chars.len() - 10;
        chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(InviteCode::parse(&typo), Err(InviteError::Checksum));
        assert_eq!(InviteCode::parse("hello"), Err(InviteError::Prefix));
        assert_eq!(InviteCode::parse("dpinvite10OIl"), Err(InviteError::Base58));
        assert!(InviteCode::parse(&t[..t.len() - 3]).is_err());
    }
}
