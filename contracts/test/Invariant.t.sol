// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {KeelTestBase} from "./utils/KeelTestBase.sol";
import {MockERC20, FeeOnTransferToken, RejectingReceiver} from "./utils/Mocks.sol";
import {Smt} from "./utils/Smt.sol";
import {Rollup} from "../src/Rollup.sol";
import {Bridge} from "../src/Bridge.sol";
import {ChallengeManager} from "../src/ChallengeManager.sol";
import {IRollup} from "../src/interfaces/IRollup.sol";
import {IBridge} from "../src/interfaces/IBridge.sol";
import {IChallengeManager} from "../src/interfaces/IChallengeManager.sol";
import {Keys} from "../src/lib/Keys.sol";

/// @notice Drives the whole system through random deposits (ETH, a plain and a fee-on-transfer
///         ERC-20), forced withdrawals, batches carrying withdrawals (some larger than what the
///         bridge holds), finalization, withdrawal payouts (including double spends and proofs
///         against removed batches), batch removals through won games, and credit withdrawals.
contract BridgeHandler is Test {
    struct Pending {
        uint256 batchIndex;
        uint64 batchId;
        uint256 index;
        address recipient;
        address token;
        uint256 amount;
        bytes32[] keys;
        bytes32[] values;
        uint256 position;
    }

    Rollup public immutable rollup;
    Bridge public immutable bridge;
    ChallengeManager public immutable manager;
    address public immutable sequencer;
    address public immutable challenger = makeAddr("inv-challenger");
    address[] public tokens;
    address[3] internal actors = [makeAddr("inv-a"), makeAddr("inv-b"), makeAddr("inv-c")];
    /// @dev A recipient contract that refuses ETH: its payouts are held for it to claim.
    RejectingReceiver public immutable refuser = new RejectingReceiver();

    mapping(address token => uint256) public ghostCredited;
    mapping(address token => uint256) public ghostPaid;
    uint256 public nextWithdrawalIndex;
    /// @dev The withdrawal counter before each batch, by batch index (to rewind on removal).
    mapping(uint256 batchIndex => uint256) internal _withdrawalsBefore;
    Pending[] internal _pending;

    uint256 public calls;
    uint256 public paidCount;
    uint256 public removals;
    uint256 public settledSlashes;
    uint256 public finalizations;
    uint256 public rejectedOverdrafts;
    uint256 public staleRefused;
    uint256 public claims;

    constructor(Rollup rollup_, Bridge bridge_, ChallengeManager manager_, address sequencer_, address[] memory t) {
        rollup = rollup_;
        bridge = bridge_;
        manager = manager_;
        sequencer = sequencer_;
        tokens = t;
    }

    function tokenCount() external view returns (uint256) {
        return tokens.length;
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[seed % actors.length];
    }

    function _token(uint256 seed) internal view returns (address) {
        return tokens[seed % tokens.length];
    }

    function depositETH(uint256 actorSeed, uint256 amount) external {
        ++calls;
        amount = _bound(amount, 1, 1e30);
        address a = _actor(actorSeed);
        vm.deal(a, amount);
        vm.prank(a);
        bridge.depositETH{value: amount}(a);
        ghostCredited[address(0)] += amount;
    }

    function depositERC20(uint256 actorSeed, uint256 tokenSeed, uint256 amount) external {
        ++calls;
        amount = _bound(amount, 1, 1e30);
        address a = _actor(actorSeed);
        MockERC20 t = MockERC20(tokens[1 + tokenSeed % (tokens.length - 1)]);
        t.mint(a, amount);
        vm.startPrank(a);
        t.approve(address(bridge), amount);
        uint256 before = t.balanceOf(address(bridge));
        bridge.depositERC20(address(t), a, amount);
        vm.stopPrank();
        ghostCredited[address(t)] += t.balanceOf(address(bridge)) - before;
    }

    function forceWithdraw(uint256 actorSeed, uint256 tokenSeed, uint128 amount) external {
        ++calls;
        amount = uint128(_bound(amount, 1, type(uint128).max));
        vm.prank(_actor(actorSeed));
        bridge.forceWithdraw(_token(tokenSeed), amount);
    }

    /// @dev Someone sends tokens or ETH straight to the bridge: more balance, same debt.
    function donate(uint256 tokenSeed, uint256 amount) external {
        ++calls;
        amount = _bound(amount, 1, 1e24);
        address t = _token(tokenSeed);
        if (t == address(0)) {
            vm.deal(address(bridge), address(bridge).balance + amount);
        } else {
            MockERC20(t).mint(address(bridge), amount);
        }
    }

    /// @dev Re-stakes the sequencer after a slash.
    function _ensureSequencerStaked() internal {
        uint256 required = rollup.requiredStake();
        if (rollup.stakes(sequencer) < required) {
            vm.deal(sequencer, required);
            vm.prank(sequencer);
            rollup.stake{value: required}();
        }
    }

    /// @dev The current tip's post-state root (zero when there is no batch).
    function _tipRoot(uint256 batchCount) internal view returns (bytes32) {
        return batchCount == 0 ? bytes32(0) : rollup.postStateRoot(batchCount - 1);
    }

    /// @dev The sequencer posts a batch on the current tip whose root holds 0–3 new withdrawals.
    function appendBatch(uint256 seed, uint8 count) external {
        ++calls;
        count = uint8(_bound(count, 0, 3));
        _ensureSequencerStaked();
        uint256 batchIndex = rollup.batchCount();
        _withdrawalsBefore[batchIndex] = nextWithdrawalIndex;
        bytes32[] memory keys = new bytes32[](count);
        bytes32[] memory values = new bytes32[](count);
        address[] memory recipients = new address[](count);
        address[] memory toks = new address[](count);
        uint256[] memory amounts = new uint256[](count);
        for (uint256 i; i < count; ++i) {
            seed = uint256(keccak256(abi.encode(seed, i)));
            toks[i] = _token(seed);
            recipients[i] = (seed >> 16) % 4 == 0 ? address(refuser) : _actor(seed >> 8);
            uint256 owed = bridge.outstanding(toks[i]);
            // Mostly affordable withdrawals; one in eight asks for more than the bridge owes.
            amounts[i] = (seed >> 16) % 8 == 0 ? owed + 1 + (seed >> 32) % 1e18 : (seed >> 32) % (owed + 1);
            keys[i] = Keys.withdrawalKey(nextWithdrawalIndex + i);
            values[i] = Keys.withdrawalValue(recipients[i], toks[i], amounts[i]);
        }
        bytes32 root = count == 0 ? keccak256(abi.encode("root", seed)) : Smt.root(keys, values);
        bytes memory records = new bytes(146);
        uint256 inboxEnd = bridge.inboxLength();
        bytes32 preStateRoot = _tipRoot(batchIndex);
        vm.prank(sequencer, sequencer);
        rollup.appendBatch(records, inboxEnd, root, batchIndex, preStateRoot);
        uint64 id = rollup.getBatch(batchIndex).id;
        for (uint256 i; i < count; ++i) {
            _pending.push(
                Pending(batchIndex, id, nextWithdrawalIndex + i, recipients[i], toks[i], amounts[i], keys, values, i)
            );
        }
        nextWithdrawalIndex += count;
    }

    /// @dev A posting computed for another tip (a stale or future index, or the right index on
    ///      another root, as after a reorg, a re-sent transaction or a removal and re-append) is
    ///      refused and changes nothing.
    function appendStale(uint256 seed) external {
        ++calls;
        _ensureSequencerStaked();
        uint256 count = rollup.batchCount();
        bytes32 tipRoot = _tipRoot(count);
        uint256 inboxEnd = bridge.inboxLength();
        uint256 expectedIndex = count;
        bytes32 expectedRoot = tipRoot;
        if (seed % 3 == 0 || (seed % 3 == 1 && count == 0)) {
            expectedIndex = count + 1 + (seed >> 8) % 4;
            vm.expectRevert(abi.encodeWithSelector(IRollup.UnexpectedBatchIndex.selector, expectedIndex, count));
        } else if (seed % 3 == 1) {
            expectedIndex = (seed >> 8) % count;
            vm.expectRevert(abi.encodeWithSelector(IRollup.UnexpectedBatchIndex.selector, expectedIndex, count));
        } else {
            expectedRoot = tipRoot ^ bytes32(1 | (seed >> 8));
            vm.expectRevert(abi.encodeWithSelector(IRollup.UnexpectedPreStateRoot.selector, expectedRoot, tipRoot));
        }
        vm.prank(sequencer, sequencer);
        rollup.appendBatch(new bytes(146), inboxEnd, keccak256(abi.encode("stale", seed)), expectedIndex, expectedRoot);
        require(rollup.batchCount() == count, "stale append landed");
        ++staleRefused;
    }

    function finalize() external {
        ++calls;
        uint256 count = rollup.batchCount();
        if (count == 0 || rollup.finalizedCount() == count) return;
        uint256 deadline = rollup.challengeDeadline(count - 1);
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp < deadline) vm.warp(deadline);
        if (rollup.finalizedCount() < count) ++finalizations;
        rollup.finalizeBatches(count - 1);
    }

    function finalizeWithdrawal(uint256 seed) external {
        ++calls;
        if (_pending.length == 0) return;
        Pending storage p = _pending[seed % _pending.length];
        bytes32[] memory siblings = Smt.proof(p.keys, p.values, p.position);
        if (!rollup.isFinal(p.batchIndex)) {
            vm.expectRevert(abi.encodeWithSelector(IBridge.BatchNotFinal.selector, p.batchIndex));
        } else if (Smt.root(p.keys, p.values) != rollup.postStateRoot(p.batchIndex)) {
            // The batch was removed and its index re-filled by a batch whose root lacks this leaf.
            assertFalse(rollup.isCurrent(p.batchIndex, p.batchId));
            vm.expectRevert(IBridge.InvalidWithdrawalProof.selector);
        } else if (bridge.isWithdrawalSpent(p.index)) {
            vm.expectRevert(abi.encodeWithSelector(IBridge.WithdrawalAlreadySpent.selector, p.index));
        } else if (p.amount > bridge.outstanding(p.token)) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IBridge.InsufficientOutstanding.selector, p.token, bridge.outstanding(p.token), p.amount
                )
            );
            ++rejectedOverdrafts;
        } else {
            ghostPaid[p.token] += p.amount;
            ++paidCount;
        }
        bridge.finalizeWithdrawal(p.batchIndex, p.index, p.recipient, p.token, p.amount, siblings);
    }

    /// @dev The refusing recipient takes what is held for it, to one of the actors.
    function claimHeld(uint256 seed) external {
        ++calls;
        address token = _token(seed);
        uint256 held = bridge.claimable(address(refuser), token);
        if (held == 0) {
            vm.expectRevert(abi.encodeWithSelector(IBridge.NothingToClaim.selector, address(refuser), token));
        } else {
            ++claims;
        }
        refuser.execute(address(bridge), abi.encodeCall(IBridge.claimWithdrawals, (token, _actor(seed >> 8))));
        assertEq(bridge.claimable(address(refuser), token), 0);
    }

    /// @dev A challenger beats the newest-but-`back` unfinalized batch: it and all later ones go.
    function removeBatch(uint256 back) external {
        ++calls;
        uint256 count = rollup.batchCount();
        uint256 fin = rollup.finalizedCount();
        if (count == fin) return;
        uint256 index = count - 1 - back % (count - fin);
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp >= rollup.challengeDeadline(index)) return;
        uint256 bond = rollup.challengeBond();
        address poster = rollup.getBatch(index).poster;
        vm.deal(challenger, challenger.balance + bond);
        vm.prank(challenger);
        uint256 gameId = manager.challenge{value: bond}(index, poster);
        IChallengeManager.Game memory g = manager.getGame(gameId);
        if (g.status == IChallengeManager.Status.ChallengerTurn) {
            // Win once the defence window after the challenge has passed, so the batch goes now.
            vm.warp(block.timestamp + rollup.moveTimeout());
            vm.prank(challenger);
            manager.proveStep(gameId, abi.encode(false, ~g.rootHi));
        } else {
            vm.warp(block.timestamp + rollup.moveTimeout() + 1);
            manager.timeout(gameId);
        }
        require(rollup.batchCount() == index, "not removed");
        nextWithdrawalIndex = _withdrawalsBefore[index];
        ++removals;
    }

    /// @dev Anyone settles an escrowed slashing reward: it is credited to the challenger once
    ///      every current batch before the removed one is final, and refused before.
    function settleSlash(uint256 seed) external {
        ++calls;
        uint256[] memory open = rollup.openSlashes();
        if (open.length == 0) return;
        uint256 slashId = open[seed % open.length];
        IRollup.Slash memory e = rollup.getSlash(slashId);
        // The number of current batches below the removed one (ids grow along the chain).
        uint256 count = rollup.batchCount();
        uint256 before;
        while (before < count && before < e.batchIndex && rollup.getBatch(before).id < e.batchId) {
            ++before;
        }
        if (rollup.finalizedCount() < before) {
            vm.expectRevert(abi.encodeWithSelector(IRollup.SlashNotSettleable.selector, slashId, before));
            rollup.settleSlash(slashId);
            return;
        }
        uint256 credited = manager.credits(e.beneficiary);
        rollup.settleSlash(slashId);
        assertEq(manager.credits(e.beneficiary), credited + e.amount);
        assertEq(rollup.getSlash(slashId).amount, 0);
        ++settledSlashes;
    }

    function withdrawCredits(bool asSequencer) external {
        ++calls;
        address who = asSequencer ? sequencer : challenger;
        if (manager.credits(who) == 0) return;
        vm.prank(who);
        manager.withdraw();
    }

    function warp(uint256 secondsAhead) external {
        ++calls;
        vm.warp(block.timestamp + _bound(secondsAhead, 0, 2 days));
    }
}

contract InvariantTest is KeelTestBase {
    BridgeHandler internal handler;
    address[] internal tokens;

    function setUp() public {
        deployDefault();
        tokens.push(address(0));
        tokens.push(address(new MockERC20("Token", "TKN")));
        tokens.push(address(new FeeOnTransferToken(150)));
        handler = new BridgeHandler(rollup, bridge, manager, sequencer, tokens);
        targetContract(address(handler));
    }

    /// @dev The bridge always holds at least what it owes, in every token.
    /// forge-config: default.invariant.runs = 128
    /// forge-config: default.invariant.depth = 64
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_bridgeHoldsOutstanding() public view {
        for (uint256 i; i < tokens.length; ++i) {
            address t = tokens[i];
            uint256 balance = t == address(0) ? address(bridge).balance : MockERC20(t).balanceOf(address(bridge));
            // What it owes: the outstanding L2 debt plus payouts held for recipients to claim.
            assertGe(balance, bridge.outstanding(t) + bridge.unclaimed(t), "bridge under-collateralized");
        }
    }

    /// @dev What the bridge owes is exactly what arrived minus what was paid, and stays below 2^128.
    /// forge-config: default.invariant.runs = 128
    /// forge-config: default.invariant.depth = 64
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_outstandingIsCreditedMinusPaid() public view {
        for (uint256 i; i < tokens.length; ++i) {
            address t = tokens[i];
            assertEq(bridge.outstanding(t), handler.ghostCredited(t) - handler.ghostPaid(t));
            assertLe(bridge.outstanding(t), type(uint128).max);
        }
    }

    /// @dev The rollup holds exactly the stakes and the escrowed slashing rewards, and the manager
    ///      exactly the unwithdrawn credits (every game is resolved within one handler call).
    /// forge-config: default.invariant.runs = 128
    /// forge-config: default.invariant.depth = 64
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_stakesAndCreditsBacked() public view {
        uint256[] memory open = rollup.openSlashes();
        uint256 escrowed;
        for (uint256 i; i < open.length; ++i) {
            escrowed += rollup.getSlash(open[i]).amount;
        }
        assertEq(address(rollup).balance, rollup.stakes(sequencer) + escrowed);
        assertEq(address(manager).balance, manager.credits(sequencer) + manager.credits(handler.challenger()));
        assertLe(rollup.finalizedCount(), rollup.batchCount());
    }

    /// @dev Summary of what the runs exercised (shown with -vv).
    function afterInvariant() public {
        emit log_named_uint("handler calls", handler.calls());
        emit log_named_uint("withdrawals paid", handler.paidCount());
        emit log_named_uint("overdrafts refused", handler.rejectedOverdrafts());
        emit log_named_uint("removals", handler.removals());
        emit log_named_uint("slash rewards settled", handler.settledSlashes());
        emit log_named_uint("finalizations", handler.finalizations());
        emit log_named_uint("stale appends refused", handler.staleRefused());
        emit log_named_uint("held payouts claimed", handler.claims());
    }
}
