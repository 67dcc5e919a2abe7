// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IRollup} from "./IRollup.sol";

/// @title IBridge
/// @notice Keel's L1 inbox (deposits and forced withdrawals, docs/protocol.md §7) and the payout of
///         withdrawals proven against final batches.
interface IBridge {
    /// @notice Inbox entry `index` was appended. `entryHash` is
    ///         `keccak(abi.encode(kind, sender, recipient, token, amount))`; `timestamp` is its L1 time.
    event InboxEntryAppended(
        uint256 indexed index,
        address indexed sender,
        address indexed recipient,
        uint8 kind,
        address token,
        uint128 amount,
        bytes32 entryHash,
        uint256 timestamp
    );
    /// @notice Withdrawal `index`, proven against final batch `batchIndex`, paid `amount` of
    ///         `token` to `recipient`.
    event WithdrawalFinalized(
        uint256 indexed index, uint256 indexed batchIndex, address indexed recipient, address token, uint256 amount
    );

    /// @notice Withdrawal `index` was spent but `recipient` did not take the payout (a contract that
    ///         reverts on receiving ETH, a token transfer that failed): `amount` of `token` is held
    ///         for `recipient` to take with `claimWithdrawals`.
    event WithdrawalHeld(uint256 indexed index, address indexed recipient, address token, uint256 amount);
    /// @notice `recipient` took the `amount` of `token` held for it, paid to `to`.
    event WithdrawalsClaimed(address indexed recipient, address indexed token, address to, uint256 amount);

    /// @notice The rollup address is zero.
    error ZeroRollup();
    /// @notice Nothing of `token` is held for `recipient`.
    error NothingToClaim(address recipient, address token);
    /// @notice A deposit to the zero L2 account (which no key controls).
    error ZeroRecipient();
    /// @notice An amount of zero.
    error ZeroAmount();
    /// @notice `depositERC20` with the ETH token `address(0)`.
    error NotAToken();
    /// @notice An amount above `type(uint128).max`.
    error AmountTooLarge(uint256 amount);
    /// @notice The deposit would lift the token's outstanding total above `type(uint128).max`.
    error OutstandingCapExceeded(address token, uint256 outstanding, uint256 amount);
    /// @notice The batch is not final.
    error BatchNotFinal(uint256 batchIndex);
    /// @notice Withdrawal `index` was already paid.
    error WithdrawalAlreadySpent(uint256 index);
    /// @notice The proof does not show the withdrawal leaf under the batch's post-state root.
    error InvalidWithdrawalProof();
    /// @notice The withdrawal exceeds what the bridge owes in that token (cannot happen unless the
    ///         fraud proofs failed).
    error InsufficientOutstanding(address token, uint256 outstanding, uint256 amount);
    /// @notice The ETH or token transfer failed.
    error TransferFailed();
    /// @notice The token's `balanceOf` failed or did not return a word (not an ERC-20 contract).
    error BadTokenReturn();
    /// @notice There is no inbox entry `index`.
    error NoSuchEntry(uint256 index);
    /// @notice Reentrant call.
    error Reentrancy();

    /// @notice Deposits `msg.value` wei of ETH to `recipient` on L2.
    /// @param recipient The L2 account credited.
    /// @return index The inbox index of the deposit.
    function depositETH(address recipient) external payable returns (uint256 index);

    /// @notice Deposits `amount` of `token` (pulled with `transferFrom`; approve first) to
    ///         `recipient` on L2. The L2 credit is what the bridge's balance actually grew by, so a
    ///         fee-on-transfer token credits less than `amount`.
    /// @param token The ERC-20 token (not `address(0)`).
    /// @param recipient The L2 account credited.
    /// @param amount The amount to pull.
    /// @return index The inbox index of the deposit.
    function depositERC20(address token, address recipient, uint256 amount) external returns (uint256 index);

    /// @notice Asks L2 to withdraw `amount` of `token` from the caller's L2 balance to the caller on
    ///         L1; the sequencer must include it within `forceInclusionDelay`.
    /// @param token The token (`address(0)` for ETH).
    /// @param amount The amount.
    /// @return index The inbox index of the request.
    function forceWithdraw(address token, uint128 amount) external returns (uint256 index);

    /// @notice Pays withdrawal `index` once a final batch's post-state root holds its leaf. Anyone may
    ///         call; the payout goes to `recipient`. When `recipient` does not take it (the ETH call
    ///         or the token transfer fails), the withdrawal is still spent and the amount is held
    ///         for `recipient` (`WithdrawalHeld`, `claimable`, `claimWithdrawals`).
    /// @param batchIndex A final batch.
    /// @param index The withdrawal's index in L2 state.
    /// @param recipient The L1 recipient.
    /// @param token The token (`address(0)` for ETH).
    /// @param amount The amount.
    /// @param siblings The sparse Merkle siblings of the withdrawal leaf, root first.
    function finalizeWithdrawal(
        uint256 batchIndex,
        uint256 index,
        address recipient,
        address token,
        uint256 amount,
        bytes32[] calldata siblings
    ) external;

    /// @notice Pays the caller everything of `token` held for it (withdrawals whose payout it did
    ///         not take) to `to`.
    /// @param token The token (`address(0)` for ETH).
    /// @param to Where to send it (not zero).
    function claimWithdrawals(address token, address to) external;

    /// @notice What is held of `token` for `recipient`: withdrawals paid to it that it did not take.
    function claimable(address recipient, address token) external view returns (uint256);
    /// @notice What is held of `token` for all recipients together.
    function unclaimed(address token) external view returns (uint256);
    /// @notice The rollup whose final batches authorize withdrawals.
    function rollup() external view returns (IRollup);
    /// @notice The number of inbox entries.
    function inboxLength() external view returns (uint256);
    /// @notice The hash of inbox entry `index`. Reverts if there is none.
    function entryHash(uint256 index) external view returns (bytes32);
    /// @notice The L1 time of inbox entry `index`. Reverts if there is none.
    function entryTimestamp(uint256 index) external view returns (uint256);
    /// @notice What the bridge owes in `token`: deposited minus paid out (always ≤ 2^128 − 1).
    function outstanding(address token) external view returns (uint256);
    /// @notice Whether withdrawal `index` was paid.
    function isWithdrawalSpent(uint256 index) external view returns (bool);
}
