//! The running Dual Power node: the event loop that joins the store and the network, and the
//! local API through which commands reach it.
//!
//! [`node::run`] owns the libp2p swarm; everything received (gossip, sync answers) goes through
//! strict decoding, batch signature verification and the store's link rules, exactly like a
//! bundle import. [`api`] exposes the node on 127.0.0.1 behind a token.

pub mod api;
pub mod clock;
pub mod decisions;
pub mod names;
pub mod node;
pub mod ops;
pub mod query;
pub mod sync;
pub mod work;

pub use node::{Command, Handle, NodeConfig, NodeError, NodeEvent, Status, run};
