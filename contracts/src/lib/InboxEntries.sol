// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title InboxEntries
/// @notice Hashes of L1 inbox entries (docs/protocol.md §7).
library InboxEntries {
    /// @notice Kind of a deposit entry.
    uint8 internal constant DEPOSIT = 1;
    /// @notice Kind of a forced-withdrawal entry.
    uint8 internal constant FORCED_WITHDRAWAL = 2;

    /// @notice `keccak(abi.encode(kind, sender, recipient, token, amount))`, the stored hash of an entry.
    function hash(uint8 kind, address sender, address recipient, address token, uint128 amount)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(kind, sender, recipient, token, amount));
    }
}
