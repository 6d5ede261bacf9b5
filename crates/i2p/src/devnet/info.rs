//! What a router needs to join a devnet, and the small text file that carries it from the
//! process running the devnet to a `serve --i2p-devnet FILE` process. Apart from the devnet's
//! routers so that [`crate::router`] can take it without depending on them.
//!
//! File format (text, one item per line, RouterInfos in I2P base64):
//!
//! ```text
//! dualpower-i2p-devnet 1
//! net_id 171
//! router <RouterInfo>
//! router <RouterInfo>
//! ```

use std::path::{Path, PathBuf};

use emissary_core::crypto::{base64_decode, base64_encode};
use emissary_core::primitives::RouterInfo;
use emissary_util::runtime::tokio::Runtime as Rt;
use thiserror::Error;

/// First line of a devnet file.
const MAGIC: &str = "dualpower-i2p-devnet 1";
/// Largest devnet file read (a RouterInfo is well under 2 KiB).
const MAX_FILE_LEN: u64 = 256 * 1024;
/// Most routers a devnet may have.
pub const MAX_ROUTERS: usize = 64;
/// The public network's id, which a devnet must not use.
const MAINNET_ID: u8 = 2;

/// What a router needs to join a devnet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevnetInfo {
    /// The devnet's network id (never 2, the public network's).
    pub net_id: u8,
    /// Serialized RouterInfos of the devnet's routers.
    pub routers: Vec<Vec<u8>>,
}

/// Why a devnet file could not be read or written.
#[derive(Debug, Error)]
pub enum DevnetFileError {
    /// Reading or writing the file failed.
    #[error("devnet file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than any devnet file.
    #[error("devnet file {path} is {len} bytes; not a devnet file")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// The text is not a devnet description.
    #[error("devnet file, line {line}: {reason}")]
    Format {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

impl DevnetInfo {
    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut out = format!("{MAGIC}\nnet_id {}\n", self.net_id);
        for ri in &self.routers {
            out.push_str("router ");
            out.push_str(&base64_encode(ri));
            out.push('\n');
        }
        out
    }

    /// Parses the file's text; every RouterInfo must parse and carry the file's network id.
    pub fn from_text(text: &str) -> Result<Self, DevnetFileError> {
        let fail = |line: usize, reason: &str| DevnetFileError::Format {
            line,
            reason: reason.to_owned(),
        };
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
        match lines.next() {
            Some((_, MAGIC)) => {}
            _ => return Err(fail(1, "not a dualpower-i2p devnet file")),
        }
        let net_id = match lines.next() {
            Some((n, l)) => l
                .strip_prefix("net_id ")
                .and_then(|v| v.parse::<u8>().ok())
                .filter(|id| *id != MAINNET_ID)
                .ok_or_else(|| fail(n, "expected `net_id N` with N a byte other than 2"))?,
            None => return Err(fail(2, "missing net_id")),
        };
        let mut routers = Vec::new();
        for (n, line) in lines {
            if line.is_empty() {
                continue;
            }
            let b64 = line
                .strip_prefix("router ")
                .ok_or_else(|| fail(n, "expected `router <base64 RouterInfo>`"))?;
            let bytes = base64_decode(b64).ok_or_else(|| fail(n, "not I2P base64"))?;
            let ri = RouterInfo::parse::<Rt>(&bytes)
                .map_err(|e| fail(n, &format!("not a RouterInfo: {e:?}")))?;
            if ri.net_id() != net_id {
                return Err(fail(n, "RouterInfo of another network"));
            }
            if routers.len() == MAX_ROUTERS {
                return Err(fail(n, "too many routers"));
            }
            routers.push(bytes);
        }
        if routers.is_empty() {
            return Err(fail(3, "no routers"));
        }
        Ok(Self { net_id, routers })
    }

    /// Writes the file.
    pub fn write(&self, path: &Path) -> Result<(), DevnetFileError> {
        std::fs::write(path, self.to_text()).map_err(|source| DevnetFileError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads the file.
    pub fn read(path: &Path) -> Result<Self, DevnetFileError> {
        let io = |source| DevnetFileError::Io {
            path: path.to_owned(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_FILE_LEN {
            return Err(DevnetFileError::TooLarge {
                path: path.to_owned(),
                len,
            });
        }
        Self::from_text(&std::fs::read_to_string(path).map_err(io)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_files_are_refused_with_line_numbers() {
        let cases = [
            ("", 1),
            ("something else\n", 1),
            ("dualpower-i2p-devnet 1\nnet_id 2\n", 2),
            ("dualpower-i2p-devnet 1\nnet_id 300\n", 2),
            ("dualpower-i2p-devnet 1\nnet_id 99\n", 3),
            ("dualpower-i2p-devnet 1\nnet_id 99\nrouter !!!\n", 3),
            ("dualpower-i2p-devnet 1\nnet_id 99\nrouter AAAA\n", 3),
            ("dualpower-i2p-devnet 1\nnet_id 99\nnode x\n", 3),
        ];
        for (text, line) in cases {
            match DevnetInfo::from_text(text) {
                Err(DevnetFileError::Format { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }
}
