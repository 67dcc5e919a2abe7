// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IBridge} from "./interfaces/IBridge.sol";
import {IRollup} from "./interfaces/IRollup.sol";
import {InboxEntries} from "./lib/InboxEntries.sol";
import {Keys} from "./lib/Keys.sol";
import {SparseMerkle} from "./lib/SparseMerkle.sol";

/// @title Bridge
/// @notice Keel's L1 inbox and vault. Deposits (ETH and ERC-20) and forced withdrawals are appended
///         to one append-only inbox of entry hashes with their L1 times; batches consume it in
///         order (docs/protocol.md §5, §7). Withdrawals written into L2 state are paid once a final
///         batch's post-state root proves their leaf.
/// @dev For every token the bridge tracks `outstanding` = credited on L2 − paid out on L1, and caps
///      it at `type(uint128).max` (docs/protocol.md §5 relies on that cap: no L2 balance can
///      overflow). ERC-20 deposits credit the balance increase actually observed, so fee-on-transfer
///      tokens cannot mint unbacked L2 balances; tokens whose balances shrink on their own
///      (negative rebasing) are not supported. Withdrawal indexes are unique over the chain's final
///      history (final batches are never removed, and leaves are never deleted), so spent
///      withdrawals are a bitmap keyed by index.
contract Bridge is IBridge {
    /// @inheritdoc IBridge
    IRollup public immutable rollup;

    /// @inheritdoc IBridge
    uint256 public inboxLength;
    /// @inheritdoc IBridge
    mapping(address token => uint256) public outstanding;
    /// @inheritdoc IBridge
    mapping(address recipient => mapping(address token => uint256)) public claimable;
    /// @inheritdoc IBridge
    mapping(address token => uint256) public unclaimed;
    mapping(uint256 index => bytes32) private _entryHashes;
    /// @dev Four 64-bit entry timestamps per word: entry `i` is at bits `64·(i mod 4)` of word `i / 4`.
    mapping(uint256 word => uint256) private _entryTimes;
    /// @dev Bit `i mod 256` of word `i / 256` is set once withdrawal `i` is paid.
    mapping(uint256 word => uint256) private _spent;

    bool private transient _locked;

    modifier nonReentrant() {
        if (_locked) revert Reentrancy();
        _locked = true;
        _;
        _locked = false;
    }

    /// @notice Deploys the bridge of `rollup_`.
    /// @param rollup_ The Rollup whose final batches authorize withdrawals.
    constructor(IRollup rollup_) {
        if (address(rollup_) == address(0)) revert ZeroRollup();
        rollup = rollup_;
    }

    /// @inheritdoc IBridge
    function depositETH(address recipient) external payable returns (uint256 index) {
        if (recipient == address(0)) revert ZeroRecipient();
        if (msg.value == 0) revert ZeroAmount();
        _addOutstanding(address(0), msg.value);
        // forge-lint: disable-next-line(unsafe-typecast)
        index = _append(InboxEntries.DEPOSIT, msg.sender, recipient, address(0), uint128(msg.value)); // ≤ 2^128 − 1
    }

    /// @inheritdoc IBridge
    function depositERC20(address token, address recipient, uint256 amount)
        external
        nonReentrant
        returns (uint256 index)
    {
        if (token == address(0)) revert NotAToken();
        if (recipient == address(0)) revert ZeroRecipient();
        if (amount == 0) revert ZeroAmount();
        if (amount > type(uint128).max) revert AmountTooLarge(amount);
        uint256 before = _balanceOf(token);
        _callToken(token, abi.encodeWithSelector(0x23b872dd, msg.sender, address(this), amount)); // transferFrom
        uint256 afterwards = _balanceOf(token);
        uint256 received = afterwards > before ? afterwards - before : 0;
        if (received == 0) revert ZeroAmount();
        _addOutstanding(token, received);
        // forge-lint: disable-next-line(unsafe-typecast)
        index = _append(InboxEntries.DEPOSIT, msg.sender, recipient, token, uint128(received)); // checked above
    }

    /// @inheritdoc IBridge
    function forceWithdraw(address token, uint128 amount) external returns (uint256 index) {
        if (amount == 0) revert ZeroAmount();
        index = _append(InboxEntries.FORCED_WITHDRAWAL, msg.sender, msg.sender, token, amount);
    }

    /// @inheritdoc IBridge
    function finalizeWithdrawal(
        uint256 batchIndex,
        uint256 index,
        address recipient,
        address token,
        uint256 amount,
        bytes32[] calldata siblings
    ) external nonReentrant {
        IRollup rollup_ = rollup;
        if (!rollup_.isFinal(batchIndex)) revert BatchNotFinal(batchIndex);
        bytes32 root = rollup_.postStateRoot(batchIndex);
        if (!SparseMerkle.verifyInclusion(
                root, Keys.withdrawalKey(index), Keys.withdrawalValue(recipient, token, amount), siblings
            )) revert InvalidWithdrawalProof();

        uint256 word = _spent[index >> 8];
        uint256 bit = uint256(1) << (index & 0xff);
        if (word & bit != 0) revert WithdrawalAlreadySpent(index);
        _spent[index >> 8] = word | bit;
        uint256 owed = outstanding[token];
        if (amount > owed) revert InsufficientOutstanding(token, owed, amount);
        outstanding[token] = owed - amount;
        emit WithdrawalFinalized(index, batchIndex, recipient, token, amount);

        if (amount == 0) return;
        bool paid;
        if (token == address(0)) {
            (paid,) = recipient.call{value: amount}("");
        } else {
            paid = _tryCallToken(token, abi.encodeWithSelector(0xa9059cbb, recipient, amount)); // transfer
        }
        // A recipient that cannot take the payout now (a contract that reverts, a token that
        // blocks it) must not make the withdrawal unpayable: the amount is held for it to claim.
        if (!paid) {
            claimable[recipient][token] += amount;
            unclaimed[token] += amount;
            emit WithdrawalHeld(index, recipient, token, amount);
        }
    }

    /// @inheritdoc IBridge
    function claimWithdrawals(address token, address to) external nonReentrant {
        if (to == address(0)) revert ZeroRecipient();
        uint256 amount = claimable[msg.sender][token];
        if (amount == 0) revert NothingToClaim(msg.sender, token);
        claimable[msg.sender][token] = 0;
        unclaimed[token] -= amount;
        emit WithdrawalsClaimed(msg.sender, token, to, amount);
        if (token == address(0)) {
            (bool ok,) = to.call{value: amount}("");
            if (!ok) revert TransferFailed();
        } else {
            _callToken(token, abi.encodeWithSelector(0xa9059cbb, to, amount)); // transfer
        }
    }

    /// @inheritdoc IBridge
    function entryHash(uint256 index) external view returns (bytes32) {
        if (index >= inboxLength) revert NoSuchEntry(index);
        return _entryHashes[index];
    }

    /// @inheritdoc IBridge
    function entryTimestamp(uint256 index) external view returns (uint256) {
        if (index >= inboxLength) revert NoSuchEntry(index);
        return uint64(_entryTimes[index >> 2] >> ((index & 3) << 6));
    }

    /// @inheritdoc IBridge
    function isWithdrawalSpent(uint256 index) external view returns (bool) {
        return _spent[index >> 8] & (uint256(1) << (index & 0xff)) != 0;
    }

    function _addOutstanding(address token, uint256 amount) private {
        if (amount > type(uint128).max) revert AmountTooLarge(amount);
        uint256 owed = outstanding[token];
        if (owed + amount > type(uint128).max) revert OutstandingCapExceeded(token, owed, amount);
        outstanding[token] = owed + amount;
    }

    function _append(uint8 kind, address sender, address recipient, address token, uint128 amount)
        private
        returns (uint256 index)
    {
        index = inboxLength;
        bytes32 h = InboxEntries.hash(kind, sender, recipient, token, amount);
        _entryHashes[index] = h;
        _entryTimes[index >> 2] |= block.timestamp << ((index & 3) << 6);
        inboxLength = index + 1;
        emit InboxEntryAppended(index, sender, recipient, kind, token, amount, h, block.timestamp);
    }

    function _balanceOf(address token) private view returns (uint256) {
        (bool ok, bytes memory data) = token.staticcall(abi.encodeWithSelector(0x70a08231, address(this)));
        if (!ok || data.length < 32) revert BadTokenReturn();
        return abi.decode(data, (uint256));
    }

    /// @dev A call that succeeds iff the token returns `true` or nothing (and has code).
    function _callToken(address token, bytes memory data) private {
        if (!_tryCallToken(token, data)) revert TransferFailed();
    }

    /// @dev Whether the call succeeded and the token returned `true` or nothing (and has code).
    function _tryCallToken(address token, bytes memory data) private returns (bool) {
        (bool ok, bytes memory ret) = token.call(data);
        if (!ok) return false;
        if (ret.length == 0) return token.code.length != 0;
        return ret.length == 32 && abi.decode(ret, (uint256)) == 1;
    }
}
