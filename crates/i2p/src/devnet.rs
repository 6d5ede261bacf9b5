//! A local I2P test network: a few embedded routers on 127.0.0.1 that know only each other.
//!
//! It exists because anonymous mode must be tested without the public network (no reseed, no
//! traffic leaving the machine) and because a separate `serve` process must be able to join
//! the same test network: [`Devnet::start`] starts the routers in-process and hands back a
//! [`DevnetInfo`] (network id plus the routers' RouterInfos), which [`DevnetInfo::write`] saves
//! as a small text file and [`DevnetInfo::read`] loads again (`--i2p-devnet FILE`; the format
//! is in [`info`]).

pub mod info;

use std::path::Path;
use std::time::Duration;

use thiserror::Error;

pub use self::info::{DevnetFileError, DevnetInfo, MAX_ROUTERS};
use crate::router::{I2pRouter, RouterConfig, RouterError};

/// Why a devnet could not be started.
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
