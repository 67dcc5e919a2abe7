// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IOneStepProver
/// @notice Executes one step of Keel's state transition function from a witness
///         (docs/protocol.md §5 and §8) and returns the state root after the step.
interface IOneStepProver {
    /// @notice The chain configuration the STF depends on (docs/protocol.md §1).
    struct ChainConfig {
        uint64 l2ChainId;
        address rollup;
        address feeRecipient;
    }

    /// @notice What the step is, as known from L1 state (never from the witness).
    /// @dev For an inbox step `entryHash` is the stored hash of the entry and the record fields are
    ///      zero; for a record step `txRoot`, `recordIndex` and `recordCount` come from the batch.
    struct StepContext {
        bool isInbox;
        bytes32 entryHash;
        bytes32 txRoot;
        uint256 recordIndex;
        uint256 recordCount;
    }

    /// @notice Executes one step and returns the root after it.
    /// @param config The chain configuration.
    /// @param rootBefore The state root before the step (the game's agreed `rootLo`).
    /// @param context What the step is, from L1 state.
    /// @param witness `abi.encode(StepWitness)` as docs/protocol.md §8 defines it.
    /// @return rootAfter The true state root after the step.
    function proveStep(
        ChainConfig calldata config,
        bytes32 rootBefore,
        StepContext calldata context,
        bytes calldata witness
    ) external pure returns (bytes32 rootAfter);
}
