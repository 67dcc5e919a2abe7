// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IOneStepProver} from "./interfaces/IOneStepProver.sol";
import {SparseMerkle} from "./lib/SparseMerkle.sol";
import {TxRoot} from "./lib/TxRoot.sol";
import {Keys} from "./lib/Keys.sol";
import {InboxEntries} from "./lib/InboxEntries.sol";

/// @title OneStepProver
/// @notice Executes exactly one step of Keel's state transition function on L1 from a witness of
///         sparse Merkle proofs (docs/protocol.md §5 and §8) and returns the true root after it.
/// @dev Every key is derived from the step itself; the witness only supplies proofs, consumed in
///      the normative access order of §5. A record that fails decoding or signature recovery is a
///      no-op step, not a revert; a malformed witness reverts.
contract OneStepProver is IOneStepProver {
    /// @notice An L1 inbox entry (docs/protocol.md §7).
    struct InboxEntry {
        uint8 kind;
        address sender;
        address recipient;
        address token;
        uint128 amount;
    }

    /// @notice The one-step witness (docs/protocol.md §8).
    struct StepWitness {
        bytes record;
        bytes32[] txProof;
        InboxEntry entry;
        SparseMerkle.Proof[] accesses;
    }

    /// @dev The current root and the next unconsumed access proof.
    struct Exec {
        bytes32 root;
        SparseMerkle.Proof[] accesses;
        uint256 next;
    }

    /// @notice The entry in the witness does not hash to the stored entry hash.
    error EntryHashMismatch(bytes32 computed, bytes32 expected);
    /// @notice The entry kind is neither a deposit nor a forced withdrawal.
    error InvalidEntryKind(uint8 kind);
    /// @notice An inbox step carries a record or tx proof, or a record step carries an inbox entry.
    error UnexpectedWitnessField();
    /// @notice The record is not 146 bytes long.
    error InvalidRecordLength(uint256 length);
    /// @notice The record is not at `recordIndex` under the batch's tx root.
    error RecordNotInBatch();
    /// @notice The step needs access number `index` but the witness has no more proofs.
    error MissingAccess(uint256 index);
    /// @notice The witness has `provided` proofs but the step made only `used` accesses.
    error UnusedAccesses(uint256 used, uint256 provided);

    uint8 private constant TRANSFER = 1;
    uint8 private constant WITHDRAW = 2;

    /// @dev secp256k1 group order n, and n/2 (the low-s bound of EIP-2).
    uint256 private constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    uint256 private constant SECP256K1_N_HALF = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("Keel");
    bytes32 private constant VERSION_HASH = keccak256("1");
    bytes32 private constant TRANSFER_TYPEHASH =
        keccak256("Transfer(address to,address token,uint128 amount,uint128 fee,uint64 nonce)");
    bytes32 private constant WITHDRAW_TYPEHASH =
        keccak256("Withdraw(address recipient,address token,uint128 amount,uint128 fee,uint64 nonce)");

    /// @dev The fields of a record (docs/protocol.md §3).
    struct Record {
        uint8 kind;
        address to;
        address token;
        uint128 amount;
        uint128 fee;
        uint64 nonce;
        bytes32 r;
        bytes32 s;
        uint8 v;
    }

    /// @inheritdoc IOneStepProver
    function proveStep(
        ChainConfig calldata config,
        bytes32 rootBefore,
        StepContext calldata context,
        bytes calldata witness
    ) external pure returns (bytes32 rootAfter) {
        StepWitness memory w = abi.decode(witness, (StepWitness));
        Exec memory ex = Exec({root: rootBefore, accesses: w.accesses, next: 0});

        if (context.isInbox) {
            if (w.record.length != 0 || w.txProof.length != 0) revert UnexpectedWitnessField();
            InboxEntry memory e = w.entry;
            bytes32 h = InboxEntries.hash(e.kind, e.sender, e.recipient, e.token, e.amount);
            if (h != context.entryHash) revert EntryHashMismatch(h, context.entryHash);
            if (e.kind == InboxEntries.DEPOSIT) {
                _deposit(ex, e);
            } else if (e.kind == InboxEntries.FORCED_WITHDRAWAL) {
                _forcedWithdrawal(ex, e);
            } else {
                revert InvalidEntryKind(e.kind);
            }
        } else {
            InboxEntry memory e = w.entry;
            if (
                e.kind != 0 || e.sender != address(0) || e.recipient != address(0) || e.token != address(0)
                    || e.amount != 0
            ) {
                revert UnexpectedWitnessField();
            }
            if (w.record.length != TxRoot.RECORD_SIZE) revert InvalidRecordLength(w.record.length);
            if (!TxRoot.verify(
                    context.txRoot, context.recordCount, context.recordIndex, keccak256(w.record), w.txProof
                )) {
                revert RecordNotInBatch();
            }
            _record(ex, config, w.record);
        }

        if (ex.next != ex.accesses.length) revert UnusedAccesses(ex.next, ex.accesses.length);
        return ex.root;
    }

    /// @notice The EIP-712 digest a sender signs for a record's fields (docs/protocol.md §2).
    /// @param config The chain configuration (its `l2ChainId` and `rollup` form the domain).
    /// @param kind 1 = Transfer, 2 = Withdraw (any other kind is hashed as a Withdraw).
    /// @param to The transfer's recipient on L2, or the withdrawal's recipient on L1.
    /// @param token The token (its L1 address; ETH is address(0)).
    /// @param amount The amount.
    /// @param fee The fee paid to the fee recipient.
    /// @param nonce The sender's nonce.
    /// @return The digest `keccak(0x19 ‖ 0x01 ‖ domainSeparator ‖ structHash)`.
    function digest(
        ChainConfig calldata config,
        uint8 kind,
        address to,
        address token,
        uint128 amount,
        uint128 fee,
        uint64 nonce
    ) external pure returns (bytes32) {
        return _digest(config.l2ChainId, config.rollup, kind, to, token, amount, fee, nonce);
    }

    /// @notice Decodes a record and recovers its sender as the STF does (docs/protocol.md §2, §3).
    /// @param config The chain configuration.
    /// @param record The 146-byte record.
    /// @return sender The recovered sender, or address(0) if the record is a no-op (invalid record
    ///         or signature).
    function recoverSender(ChainConfig calldata config, bytes calldata record) external pure returns (address sender) {
        if (record.length != TxRoot.RECORD_SIZE) revert InvalidRecordLength(record.length);
        (, sender) = _decode(config, record);
    }

    // ---------------------------------------------------------------- steps

    /// @dev §5.1.
    function _deposit(Exec memory ex, InboxEntry memory e) private pure {
        _credit(ex, Keys.balanceKey(e.recipient, e.token), e.amount);
    }

    /// @dev §5.2.
    function _forcedWithdrawal(Exec memory ex, InboxEntry memory e) private pure {
        bytes32 balKey = Keys.balanceKey(e.sender, e.token);
        uint256 b = uint256(_read(ex, balKey));
        if (b < e.amount) return;
        if (e.amount > 0) _write(ex, balKey, bytes32(b - e.amount));
        _appendWithdrawal(ex, e.sender, e.token, e.amount);
    }

    /// @dev §5.3 and §5.4.
    function _record(Exec memory ex, ChainConfig calldata config, bytes memory raw) private pure {
        (Record memory rec, address sender) = _decodeMemory(config, raw);
        if (sender == address(0)) return;

        bytes32 nonceKey = Keys.nonceKey(sender);
        uint256 nonce = uint256(_read(ex, nonceKey));
        if (nonce != rec.nonce) return;

        bytes32 balKey = Keys.balanceKey(sender, rec.token);
        uint256 b = uint256(_read(ex, balKey));
        uint256 total = uint256(rec.amount) + uint256(rec.fee);
        if (b < total) return;

        _write(ex, nonceKey, bytes32(nonce + 1));
        if (total > 0) _write(ex, balKey, bytes32(b - total));
        if (rec.kind == TRANSFER) {
            _credit(ex, Keys.balanceKey(rec.to, rec.token), rec.amount);
        } else {
            _appendWithdrawal(ex, rec.to, rec.token, rec.amount);
        }
        _credit(ex, Keys.balanceKey(config.feeRecipient, rec.token), rec.fee);
    }

    /// @dev Writes `withdrawalCount = c + 1`, then `withdrawal(c)`.
    function _appendWithdrawal(Exec memory ex, address recipient, address token, uint256 amount) private pure {
        SparseMerkle.Proof memory p = _next(ex);
        uint256 c = uint256(p.value);
        // c + 1 cannot wrap in any execution (one withdrawal per step); unchecked keeps the STF total.
        unchecked {
            ex.root = SparseMerkle.update(ex.root, Keys.WITHDRAWAL_COUNT_KEY, p, bytes32(c + 1));
        }
        _write(ex, Keys.withdrawalKey(c), Keys.withdrawalValue(recipient, token, amount));
    }

    // ---------------------------------------------------------------- accesses

    /// @dev Takes the next proof of the witness.
    function _next(Exec memory ex) private pure returns (SparseMerkle.Proof memory p) {
        uint256 i = ex.next;
        if (i >= ex.accesses.length) revert MissingAccess(i);
        p = ex.accesses[i];
        ex.next = i + 1;
    }

    /// @dev A read: the value of `key` under the current root.
    function _read(Exec memory ex, bytes32 key) private pure returns (bytes32) {
        return SparseMerkle.verify(ex.root, key, _next(ex));
    }

    /// @dev A write of `value` to `key` (its proof shows the old value under the current root).
    function _write(Exec memory ex, bytes32 key, bytes32 value) private pure {
        ex.root = SparseMerkle.update(ex.root, key, _next(ex), value);
    }

    /// @dev A modular credit of `amount` to the balance at `key`; no access when `amount` is zero.
    /// @dev The old value is the proof's `value`, which `update` checks against the current root.
    function _credit(Exec memory ex, bytes32 key, uint256 amount) private pure {
        if (amount == 0) return;
        SparseMerkle.Proof memory p = _next(ex);
        bytes32 newValue;
        unchecked {
            newValue = bytes32(uint256(p.value) + amount);
        }
        ex.root = SparseMerkle.update(ex.root, key, p, newValue);
    }

    // ---------------------------------------------------------------- records and signatures

    /// @dev Decodes a record held in calldata (for `recoverSender`).
    function _decode(ChainConfig calldata config, bytes calldata raw)
        private
        pure
        returns (Record memory rec, address sender)
    {
        return _decodeMemory(config, raw);
    }

    /// @dev Decodes a 146-byte record and recovers its sender; sender is address(0) when the
    ///      record is a no-op (`invalidRecord` or `invalidSignature`).
    function _decodeMemory(ChainConfig calldata config, bytes memory raw)
        private
        pure
        returns (Record memory rec, address sender)
    {
        assembly ("memory-safe") {
            let data := add(raw, 0x20)
            mstore(rec, byte(0, mload(data)))
            mstore(add(rec, 0x20), shr(96, mload(add(data, 1))))
            mstore(add(rec, 0x40), shr(96, mload(add(data, 21))))
            mstore(add(rec, 0x60), shr(128, mload(add(data, 41))))
            mstore(add(rec, 0x80), shr(128, mload(add(data, 57))))
            mstore(add(rec, 0xa0), shr(192, mload(add(data, 73))))
            mstore(add(rec, 0xc0), mload(add(data, 81)))
            mstore(add(rec, 0xe0), mload(add(data, 113)))
            mstore(add(rec, 0x100), byte(0, mload(add(data, 145))))
        }
        if (rec.kind != TRANSFER && rec.kind != WITHDRAW) return (rec, address(0));
        if (rec.v != 27 && rec.v != 28) return (rec, address(0));
        if (rec.r == 0 || uint256(rec.r) >= SECP256K1_N) return (rec, address(0));
        if (rec.s == 0 || uint256(rec.s) > SECP256K1_N_HALF) return (rec, address(0));
        bytes32 d =
            _digest(config.l2ChainId, config.rollup, rec.kind, rec.to, rec.token, rec.amount, rec.fee, rec.nonce);
        sender = ecrecover(d, rec.v, rec.r, rec.s);
    }

    /// @dev The EIP-712 digest of §2.
    function _digest(
        uint64 chainId,
        address rollup,
        uint8 kind,
        address to,
        address token,
        uint128 amount,
        uint128 fee,
        uint64 nonce
    ) private pure returns (bytes32) {
        bytes32 domainSeparator = keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chainId, rollup));
        bytes32 typeHash = kind == TRANSFER ? TRANSFER_TYPEHASH : WITHDRAW_TYPEHASH;
        bytes32 structHash = keccak256(abi.encode(typeHash, to, token, amount, fee, nonce));
        return keccak256(abi.encodePacked(hex"1901", domainSeparator, structHash));
    }
}
