//! Networking for Dual Power: the libp2p swarm, live gossip and the catch-up sync protocol.
//!
//! This crate knows bytes and peers, not storage: it defines what goes over the wire
//! ([`protocol`]) and how the swarm is assembled ([`swarm`]). The node crate connects it to the
//! store: it validates every received event with the same code as every other input, and decides
//! what to accept, fetch or penalise.

pub mod gate;
pub mod guard;
pub mod protocol;
pub mod swarm;

pub use protocol::{
    GroupAccess, Handshake, IdKnowledge, Inbound, JoinRefusal, Label, LogHeight, Nonce, Proof,
    ProofError, RawEvent, Request, Response, Side, Tip, Want, capability_key, group_tag,
    membership_message,
};
pub use swarm::{
    Behaviour, BehaviourEvent, Boxed, MakeTransport, NetConfig, NetError, OwnTransport,
    build_swarm, build_swarm_over, build_swarm_with_metrics, gossip_received, node_keypair,
    topic_score_params, upgrade_raw,
};
