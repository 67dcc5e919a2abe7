//! The chain configuration, fixed at deployment and read from L1, and the EIP-712 domain it defines.

use alloy_primitives::{keccak256, Address, B256, U256};
use serde::{Deserialize, Serialize};

/// `keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")`.
const DOMAIN_TYPEHASH_PREIMAGE: &[u8] =
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";

/// The parameters every party must agree on to execute L2 transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainConfig {
    /// The EIP-712 `chainId` that L2 transactions are signed for.
    pub l2_chain_id: u64,
    /// The Rollup contract on L1; the EIP-712 `verifyingContract`.
    pub rollup_address: Address,
    /// The L2 account credited with every transaction fee.
    pub fee_recipient: Address,
}

impl ChainConfig {
    /// The EIP-712 domain separator of `{name: "Keel", version: "1", chainId, verifyingContract}`.
    ///
    /// Callers on a hot path should compute it once ([`crate::tx::Domain`] caches it).
    pub fn domain_separator(&self) -> B256 {
        let mut buf = [0u8; 160];
        buf[0..32].copy_from_slice(keccak256(DOMAIN_TYPEHASH_PREIMAGE).as_slice());
        buf[32..64].copy_from_slice(keccak256(b"Keel").as_slice());
        buf[64..96].copy_from_slice(keccak256(b"1").as_slice());
        buf[96..128].copy_from_slice(&U256::from(self.l2_chain_id).to_be_bytes::<32>());
        buf[140..160].copy_from_slice(self.rollup_address.as_slice());
        keccak256(buf)
    }
}
