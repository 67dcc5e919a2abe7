//! Deploying Keel's contracts and the deployment file that records where they are.

use std::path::Path;

use alloy::{
    primitives::{Address, U256},
    providers::{DynProvider, Provider},
};
use serde::{Deserialize, Serialize};

use crate::{
    bindings::{
        challenge_manager::ChallengeManager, one_step_prover::OneStepProver, rollup::IRollup,
        Bridge, Rollup,
    },
    L1Error,
};

/// The Rollup's configuration, fixed at deployment. Times in seconds, amounts in wei.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollupParams {
    /// The EIP-712 chain id of L2 transactions.
    pub l2_chain_id: u64,
    /// The L2 account credited with every fee.
    pub fee_recipient: Address,
    /// The sequencer's L1 account (posts batches, defends them).
    pub sequencer: Address,
    /// Seconds after posting during which a batch can be challenged.
    pub challenge_period_secs: u64,
    /// Seconds each party has for its move in a game.
    pub move_timeout_secs: u64,
    /// Stake a poster must keep on the Rollup, in wei.
    pub required_stake_wei: U256,
    /// Bond a challenger posts per game, in wei.
    pub challenge_bond_wei: U256,
    /// Seconds after which an inbox entry must be consumed by the next batch.
    pub force_inclusion_delay_secs: u64,
    /// Seconds without a sequencer batch after which any staked party may post.
    pub sequencer_inactivity_period_secs: u64,
    /// The degree k of the dissection game.
    pub degree: u64,
    /// Share of a slashed stake paid to the winning challenger, in basis points.
    pub challenger_share_bps: u16,
}

impl RollupParams {
    /// Parameters for a local devnet or tests: short periods, small stake and bond.
    pub fn devnet(l2_chain_id: u64, sequencer: Address, fee_recipient: Address) -> Self {
        Self {
            l2_chain_id,
            fee_recipient,
            sequencer,
            challenge_period_secs: 600,
            move_timeout_secs: 120,
            required_stake_wei: U256::from(10u128.pow(18)),
            challenge_bond_wei: U256::from(10u128.pow(17)),
            force_inclusion_delay_secs: 300,
            sequencer_inactivity_period_secs: 900,
            degree: 8,
            challenger_share_bps: 5_000,
        }
    }

    fn to_config(&self) -> IRollup::Config {
        IRollup::Config {
            l2ChainId: self.l2_chain_id,
            feeRecipient: self.fee_recipient,
            sequencer: self.sequencer,
            challengePeriod: self.challenge_period_secs,
            moveTimeout: self.move_timeout_secs,
            requiredStake: self.required_stake_wei,
            challengeBond: self.challenge_bond_wei,
            forceInclusionDelay: self.force_inclusion_delay_secs,
            sequencerInactivityPeriod: self.sequencer_inactivity_period_secs,
            degree: self.degree,
            challengerShareBps: self.challenger_share_bps,
        }
    }
}

/// Where Keel lives on an L1: what every other part needs to find it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// The L1 chain id.
    pub l1_chain_id: u64,
    /// The Rollup contract (also the EIP-712 verifying contract of L2 transactions).
    pub rollup: Address,
    /// The Bridge contract (inbox, deposits, withdrawals).
    pub bridge: Address,
    /// The ChallengeManager contract.
    pub challenge_manager: Address,
    /// The OneStepProver contract.
    pub one_step_prover: Address,
    /// The L1 block the Rollup was deployed in: where readers start scanning logs.
    pub start_block: u64,
    /// The configuration the Rollup was deployed with.
    pub params: RollupParams,
}

impl Deployment {
    /// The L2 chain configuration the STF needs.
    pub fn chain_config(&self) -> keel_core::ChainConfig {
        keel_core::ChainConfig {
            l2_chain_id: self.params.l2_chain_id,
            rollup_address: self.rollup,
            fee_recipient: self.params.fee_recipient,
        }
    }

    /// Read a deployment file.
    pub fn load(path: &Path) -> Result<Self, L1Error> {
        let err =
            |reason: String| L1Error::DeploymentFile { path: path.display().to_string(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| err(e.to_string()))
    }

    /// Write the deployment file (pretty JSON).
    pub fn save(&self, path: &Path) -> Result<(), L1Error> {
        let err =
            |reason: String| L1Error::DeploymentFile { path: path.display().to_string(), reason };
        let text = serde_json::to_string_pretty(self).map_err(|e| err(e.to_string()))?;
        std::fs::write(path, text + "\n").map_err(|e| err(e.to_string()))
    }
}

/// Deploy and wire the four contracts from the provider's default sender; returns where they are.
pub async fn deploy(provider: &DynProvider, params: &RollupParams) -> Result<Deployment, L1Error> {
    let l1_chain_id = provider.get_chain_id().await?;
    let rollup = Rollup::deploy(provider.clone(), params.to_config()).await?;
    let start_block = provider.get_block_number().await?;
    let bridge = Bridge::deploy(provider.clone(), *rollup.address()).await?;
    let prover = OneStepProver::deploy(provider.clone()).await?;
    let manager = ChallengeManager::deploy(
        provider.clone(),
        *rollup.address(),
        *bridge.address(),
        *prover.address(),
    )
    .await?;
    crate::client::confirm(rollup.initialize(*bridge.address(), *manager.address()).send().await?)
        .await?;
    tracing::info!(rollup = %rollup.address(), bridge = %bridge.address(), "deployed Keel contracts");
    Ok(Deployment {
        l1_chain_id,
        rollup: *rollup.address(),
        bridge: *bridge.address(),
        challenge_manager: *manager.address(),
        one_step_prover: *prover.address(),
        start_block,
        params: params.clone(),
    })
}
