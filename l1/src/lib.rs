//! Keel's L1 side: bindings to the contracts, deployment, and typed helpers for everything the
//! sequencer, the verifiers and the CLI do on L1.
//!
//! - [`bindings`]: alloy `sol!` bindings generated from the committed forge artifacts in
//!   `l1/artifacts/` (refreshed by `scripts/export-artifacts.sh`; CI checks they are fresh), so
//!   building this crate needs neither Node nor forge.
//! - [`deploy`]: deploy and wire the four contracts; the deployment file other parts read.
//! - [`client`]: post batches, read batches with their records from calldata, read the inbox,
//!   bridge calls, and the moves of the dispute game.
//! - [`devnode`]: start the pinned anvil for tests and the devnet.
//! - [`fault_guard`]: the consent and local-chain check every fault injection passes.

pub mod bindings;
pub mod client;
pub mod deploy;
pub mod devnode;
mod error;
pub mod fault_guard;

pub use client::{
    DefenceInfo, DefenderStatus, GameInfo, GameStatus, L1Client, PostedBatch, PostedInboxEntry,
    SlashInfo,
};
pub use deploy::{deploy, Deployment, RollupParams};
pub use error::L1Error;
