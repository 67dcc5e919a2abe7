//! Where each piece of L2 state lives in the sparse Merkle tree (`docs/protocol.md` §4).
//!
//! Keys hash an `abi.encode` of a tag and the fields, so the Solidity prover derives the same keys
//! with `keccak256(abi.encode(...))`.

use alloy_primitives::{keccak256, Address, B256, U256};

/// Tag of balance keys.
pub const BALANCE_TAG: u8 = 1;
/// Tag of nonce keys.
pub const NONCE_TAG: u8 = 2;
/// Tag of withdrawal keys.
pub const WITHDRAWAL_TAG: u8 = 3;
/// Tag of the withdrawal count key.
pub const WITHDRAWAL_COUNT_TAG: u8 = 4;

fn word_of_address(out: &mut [u8], a: &Address) {
    out[12..32].copy_from_slice(a.as_slice());
}

/// `keccak256(abi.encode(uint8(1), owner, token))`.
pub fn balance_key(owner: &Address, token: &Address) -> B256 {
    let mut buf = [0u8; 96];
    buf[31] = BALANCE_TAG;
    word_of_address(&mut buf[32..64], owner);
    word_of_address(&mut buf[64..96], token);
    keccak256(buf)
}

/// `keccak256(abi.encode(uint8(2), owner))`.
pub fn nonce_key(owner: &Address) -> B256 {
    let mut buf = [0u8; 64];
    buf[31] = NONCE_TAG;
    word_of_address(&mut buf[32..64], owner);
    keccak256(buf)
}

/// `keccak256(abi.encode(uint8(3), uint256(index)))`.
pub fn withdrawal_key(index: U256) -> B256 {
    let mut buf = [0u8; 64];
    buf[31] = WITHDRAWAL_TAG;
    buf[32..64].copy_from_slice(&index.to_be_bytes::<32>());
    keccak256(buf)
}

/// `keccak256(abi.encode(uint8(4)))`.
pub fn withdrawal_count_key() -> B256 {
    let mut buf = [0u8; 32];
    buf[31] = WITHDRAWAL_COUNT_TAG;
    keccak256(buf)
}

/// The value of a withdrawal leaf: `keccak256(abi.encode(recipient, token, uint256(amount)))`.
pub fn withdrawal_value(recipient: &Address, token: &Address, amount: u128) -> B256 {
    let mut buf = [0u8; 96];
    word_of_address(&mut buf[0..32], recipient);
    word_of_address(&mut buf[32..64], token);
    buf[80..96].copy_from_slice(&amount.to_be_bytes());
    keccak256(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_sol_types::SolValue;

    // uint8 and uint256 have the same ABI encoding: one left-padded word.

    #[test]
    fn keys_match_abi_encode() {
        let owner = Address::repeat_byte(0x11);
        let token = Address::repeat_byte(0x22);
        assert_eq!(
            balance_key(&owner, &token),
            keccak256((U256::from(1), owner, token).abi_encode())
        );
        assert_eq!(nonce_key(&owner), keccak256((U256::from(2), owner).abi_encode()));
        assert_eq!(
            withdrawal_key(U256::from(7)),
            keccak256((U256::from(3), U256::from(7)).abi_encode())
        );
        assert_eq!(withdrawal_count_key(), keccak256(U256::from(4).abi_encode()));
        assert_eq!(
            withdrawal_value(&owner, &token, 5),
            keccak256((owner, token, U256::from(5)).abi_encode())
        );
    }
}
