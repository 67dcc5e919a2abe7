//! Fault injection for adversarial tests (a dishonest sequencer). Off by default, refused unless
//! explicitly allowed with `KEEL_ALLOW_FAULT_INJECTION=yes-break-my-chain`, and refused on any L1
//! but a local anvil (chain id 31337), so a production sequencer cannot be made dishonest by a
//! stray variable.
//!
//! `KEEL_FAULT_WRONG_ROOT_AT_BATCH=N`: post batch N once with a wrong post-state root (the
//! ledger keeps the true one, so after the batch is removed the sequencer re-posts it honestly).

use std::sync::atomic::{AtomicBool, Ordering};

use alloy::primitives::B256;

/// The only L1 on which faults may be injected: anvil's default chain id.
pub const LOCAL_CHAIN_ID: u64 = 31_337;

/// Which faults to inject.
#[derive(Debug, Default)]
pub struct Faults {
    wrong_root_at: Option<u64>,
    injected: AtomicBool,
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Faults from the environment, checked against the L1 chain id.
    pub fn from_env(l1_chain_id: u64) -> anyhow::Result<Self> {
        Self::from_settings(
            std::env::var("KEEL_FAULT_WRONG_ROOT_AT_BATCH").ok().as_deref(),
            std::env::var("KEEL_ALLOW_FAULT_INJECTION").ok().as_deref(),
            l1_chain_id,
        )
    }

    /// Faults from the two settings, checked against the L1 chain id.
    pub fn from_settings(
        wrong_root_at: Option<&str>,
        allow: Option<&str>,
        l1_chain_id: u64,
    ) -> anyhow::Result<Self> {
        let Some(batch) = wrong_root_at else { return Ok(Self::none()) };
        if allow != Some("yes-break-my-chain") {
            anyhow::bail!(
                "KEEL_FAULT_WRONG_ROOT_AT_BATCH is set but fault injection is not allowed \
                 (it makes this sequencer dishonest; set KEEL_ALLOW_FAULT_INJECTION=yes-break-my-chain on a test chain)"
            );
        }
        if l1_chain_id != LOCAL_CHAIN_ID {
            anyhow::bail!("fault injection is refused on L1 chain {l1_chain_id}: only a local anvil ({LOCAL_CHAIN_ID}) allows it");
        }
        let batch = batch
            .parse()
            .map_err(|_| anyhow::anyhow!("KEEL_FAULT_WRONG_ROOT_AT_BATCH must be a batch index"))?;
        tracing::warn!(batch, "FAULT INJECTION ON: this sequencer will post a wrong root");
        Ok(Self { wrong_root_at: Some(batch), injected: AtomicBool::new(false) })
    }

    /// The root to post for batch `index`: the true one, or (once) a wrong one.
    pub fn root_to_post(&self, index: u64, root: B256) -> B256 {
        if self.wrong_root_at == Some(index) && !self.injected.swap(true, Ordering::SeqCst) {
            let mut wrong = root;
            wrong.0[31] ^= 0x01;
            tracing::warn!(batch = index, "injecting a wrong post-state root");
            return wrong;
        }
        root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_refused_unless_allowed_and_on_a_local_chain() {
        assert!(Faults::from_settings(None, None, 1).expect("no fault").wrong_root_at.is_none());
        assert!(Faults::from_settings(Some("1"), None, LOCAL_CHAIN_ID).is_err());
        assert!(Faults::from_settings(Some("1"), Some("yes"), LOCAL_CHAIN_ID).is_err());
        assert!(Faults::from_settings(Some("1"), Some("yes-break-my-chain"), 1).is_err());
        assert!(
            Faults::from_settings(Some("x"), Some("yes-break-my-chain"), LOCAL_CHAIN_ID).is_err()
        );
        let f = Faults::from_settings(Some("1"), Some("yes-break-my-chain"), LOCAL_CHAIN_ID)
            .expect("allowed");
        let root = B256::repeat_byte(7);
        assert_eq!(f.root_to_post(0, root), root);
        assert_ne!(f.root_to_post(1, root), root, "batch 1 is posted wrong once");
        assert_eq!(f.root_to_post(1, root), root, "and honestly after that");
    }
}
