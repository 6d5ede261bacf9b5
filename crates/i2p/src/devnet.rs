//! A local I2P test network: a few embedded routers on 127.0.0.1 that know only each other.
//!
//! It exists because anonymous mode must be tested without the public network (no reseed, no
//! traffic leaving the machine) and because a separate `serve` process must be able to join
//! the same test network: [`Devnet::start`] starts the routers in-process and hands back a
//! [`DevnetInfo`] (network id plus the routers' RouterInfos), which [`DevnetInfo::write`] saves
//! as a small text file and [`DevnetInfo::read`] loads again (`--i2p-devnet FILE`).
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
use std::time::Duration;

use emissary_core::crypto::{base64_decode, base64_encode};
use emissary_core::primitives::RouterInfo;
use emissary_util::runtime::tokio::Runtime as Rt;
use thiserror::Error;

use crate::router::{I2pRouter, RouterConfig, RouterError};

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

/// Why a devnet could not be started, or its file read or written.
#[derive(Debug, Error)]
pub enum DevnetError {
    /// A devnet router failed to start.
    #[error("devnet router {index}: {source}")]
    Router {
        /// Which router.
        index: usize,
        /// Why.
        #[source]
        source: RouterError,
    },
    /// Asked for no routers, or more than [`MAX_ROUTERS`].
    #[error("a devnet has 1 to {MAX_ROUTERS} routers, not {0}")]
    Size(usize),
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
    pub fn from_text(text: &str) -> Result<Self, DevnetError> {
        let fail = |line: usize, reason: &str| DevnetError::Format {
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
    pub fn write(&self, path: &Path) -> Result<(), DevnetError> {
        std::fs::write(path, self.to_text()).map_err(|source| DevnetError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads the file.
    pub fn read(path: &Path) -> Result<Self, DevnetError> {
        let io = |source| DevnetError::Io {
            path: path.to_owned(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_FILE_LEN {
            return Err(DevnetError::TooLarge {
                path: path.to_owned(),
                len,
            });
        }
        Self::from_text(&std::fs::read_to_string(path).map_err(io)?)
    }
}

/// Routers of a running devnet.
pub struct Devnet {
    routers: Vec<I2pRouter>,
    info: DevnetInfo,
}

impl Devnet {
    /// Starts `n` routers on 127.0.0.1, every one a floodfill, each with its data in
    /// `dir/router-<i>`, on a random network id. Each router bootstraps from the ones started
    /// before it; netDb flooding does the rest. Routers are spawned on the current runtime.
    pub async fn start(dir: &Path, n: usize) -> Result<Self, DevnetError> {
        if n == 0 || n > MAX_ROUTERS {
            return Err(DevnetError::Size(n));
        }
        // Random id in 16..=254: far from the public network's 2 and from small ids other
        // test networks pick by hand.
        let net_id = 16 + rand::random::<u8>() % 239;
        let mut info = DevnetInfo {
            net_id,
            routers: Vec::with_capacity(n),
        };
        let mut routers = Vec::with_capacity(n);
        for index in 0..n {
            let mut cfg = RouterConfig::devnet(dir.join(format!("router-{index}")), info.clone());
            // Every devnet router serves the netDb: with only two floodfills, one that missed a
            // lease set (or a reply lost on the way) left lookups failing for minutes.
            cfg.floodfill = true;
            let router = I2pRouter::start(cfg)
                .await
                .map_err(|source| DevnetError::Router { index, source })?;
            info.routers.push(router.router_info().to_vec());
            routers.push(router);
        }
        Ok(Self { routers, info })
    }

    /// What a client router needs to join ([`RouterConfig::devnet`]).
    pub fn info(&self) -> &DevnetInfo {
        &self.info
    }

    /// The running routers.
    pub fn routers(&self) -> &[I2pRouter] {
        &self.routers
    }

    /// Stops every router immediately (a devnet has no transit traffic worth draining).
    pub async fn shutdown(self) {
        for router in self.routers {
            router.shutdown(Duration::ZERO).await;
        }
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
                Err(DevnetError::Format { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }
}
