// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Keys
/// @notice State keys and withdrawal leaf values of Keel's state tree (docs/protocol.md §4).
library Keys {
    /// @notice Tag of balance keys.
    uint8 internal constant BALANCE = 1;
    /// @notice Tag of nonce keys.
    uint8 internal constant NONCE = 2;
    /// @notice Tag of withdrawal keys.
    uint8 internal constant WITHDRAWAL = 3;
    /// @notice Tag of the withdrawal count key.
    uint8 internal constant WITHDRAWAL_COUNT = 4;

    /// @notice `keccak(abi.encode(uint8(4)))`, the key of the withdrawal count (checked by a test).
    bytes32 internal constant WITHDRAWAL_COUNT_KEY = 0x8a35acfbc15ff81a39ae7d344fd709f28e8600b4aa8c65c6b64bfe7fe36bd19b;

    /// @notice Key of the balance of `owner` in `token`: `keccak(abi.encode(uint8(1), owner, token))`.
    function balanceKey(address owner, address token) internal pure returns (bytes32) {
        return keccak256(abi.encode(BALANCE, owner, token));
    }

    /// @notice Key of the nonce of `owner`: `keccak(abi.encode(uint8(2), owner))`.
    function nonceKey(address owner) internal pure returns (bytes32) {
        return keccak256(abi.encode(NONCE, owner));
    }

    /// @notice Key of withdrawal number `index`: `keccak(abi.encode(uint8(3), index))`.
    function withdrawalKey(uint256 index) internal pure returns (bytes32) {
        return keccak256(abi.encode(WITHDRAWAL, index));
    }

    /// @notice Key of the withdrawal count: `keccak(abi.encode(uint8(4)))`.
    function withdrawalCountKey() internal pure returns (bytes32) {
        return WITHDRAWAL_COUNT_KEY;
    }

    /// @notice Value of a withdrawal leaf: `keccak(abi.encode(recipient, token, amount))`.
    function withdrawalValue(address recipient, address token, uint256 amount) internal pure returns (bytes32) {
        return keccak256(abi.encode(recipient, token, amount));
    }
}
