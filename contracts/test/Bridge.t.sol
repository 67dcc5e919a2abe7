// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {KeelTestBase} from "./utils/KeelTestBase.sol";
import {
    MockERC20,
    FeeOnTransferToken,
    NoReturnToken,
    FalseReturnToken,
    ReentrantToken,
    RejectingReceiver,
    ReentrantReceiver
} from "./utils/Mocks.sol";
import {Smt} from "./utils/Smt.sol";
import {Bridge} from "../src/Bridge.sol";
import {IBridge} from "../src/interfaces/IBridge.sol";
import {IRollup} from "../src/interfaces/IRollup.sol";
import {InboxEntries} from "../src/lib/InboxEntries.sol";
import {Keys} from "../src/lib/Keys.sol";

contract BridgeTest is KeelTestBase {
    uint256 internal constant MAX128 = type(uint128).max;
    MockERC20 internal token;

    function setUp() public {
        deployDefault();
        stakeFor(sequencer);
        token = new MockERC20("Token", "TKN");
    }

    // ------------------------------------------------------------------ helpers

    /// @dev Appends a final batch whose post-state root holds exactly the given withdrawals
    ///      (index i ↦ (recipients[i], tokens[i], amounts[i]) at withdrawal index `firstIndex + i`).
    function finalBatchWithWithdrawals(
        uint256 firstIndex,
        address[] memory recipients,
        address[] memory tokens,
        uint256[] memory amounts
    ) internal returns (uint256 batchIndex, bytes32[] memory keys, bytes32[] memory values) {
        keys = new bytes32[](recipients.length);
        values = new bytes32[](recipients.length);
        for (uint256 i; i < recipients.length; ++i) {
            keys[i] = Keys.withdrawalKey(firstIndex + i);
            values[i] = Keys.withdrawalValue(recipients[i], tokens[i], amounts[i]);
        }
        batchIndex = appendSimple(Smt.root(keys, values));
        finalizeAll();
    }

    function one(address a) internal pure returns (address[] memory r) {
        r = new address[](1);
        r[0] = a;
    }

    function oneU(uint256 a) internal pure returns (uint256[] memory r) {
        r = new uint256[](1);
        r[0] = a;
    }

    function fundToken(MockERC20 t, address from, uint256 amount) internal {
        t.mint(from, amount);
        vm.prank(from);
        t.approve(address(bridge), type(uint256).max);
    }

    // ------------------------------------------------------------------ constructor

    function test_constructor_zeroRollup_reverts() public {
        vm.expectRevert(IBridge.ZeroRollup.selector);
        new Bridge(IRollup(address(0)));
    }

    // ------------------------------------------------------------------ depositETH

    function test_depositETH_appendsEntry_succeeds() public {
        vm.deal(alice, 5 ether);
        bytes32 h = InboxEntries.hash(InboxEntries.DEPOSIT, alice, bob, address(0), 3 ether);
        vm.expectEmit(address(bridge));
        emit IBridge.InboxEntryAppended(0, alice, bob, 1, address(0), 3 ether, h, block.timestamp);
        vm.prank(alice);
        uint256 index = bridge.depositETH{value: 3 ether}(bob);
        assertEq(index, 0);
        assertEq(bridge.inboxLength(), 1);
        assertEq(bridge.entryHash(0), h);
        assertEq(bridge.entryHash(0), keccak256(abi.encode(uint8(1), alice, bob, address(0), uint128(3 ether))));
        assertEq(bridge.entryTimestamp(0), block.timestamp);
        assertEq(bridge.outstanding(address(0)), 3 ether);
        assertEq(address(bridge).balance, 3 ether);
    }

    function test_depositETH_timestampsPacked_succeeds() public {
        // Nine entries cross three packed timestamp words.
        for (uint256 i; i < 9; ++i) {
            vm.warp(1_000_000 + i * 7);
            depositETH(alice, alice, 1 + i);
        }
        for (uint256 i; i < 9; ++i) {
            assertEq(bridge.entryTimestamp(i), 1_000_000 + i * 7);
            // forge-lint: disable-next-line(unsafe-typecast)
            assertEq(bridge.entryHash(i), InboxEntries.hash(1, alice, alice, address(0), uint128(1 + i)));
        }
        assertEq(bridge.outstanding(address(0)), 45);
    }

    function test_depositETH_zero_reverts() public {
        vm.prank(alice);
        vm.expectRevert(IBridge.ZeroAmount.selector);
        bridge.depositETH(bob);
    }

    function test_depositETH_zeroRecipient_reverts() public {
        vm.deal(alice, 1 ether);
        vm.prank(alice);
        vm.expectRevert(IBridge.ZeroRecipient.selector);
        bridge.depositETH{value: 1 ether}(address(0));
    }

    function test_depositETH_aboveUint128_reverts() public {
        uint256 amount = MAX128 + 1;
        vm.deal(alice, amount);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IBridge.AmountTooLarge.selector, amount));
        bridge.depositETH{value: amount}(bob);
    }

    function test_depositETH_outstandingCap_reverts() public {
        depositETH(alice, alice, MAX128);
        vm.deal(bob, 1);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IBridge.OutstandingCapExceeded.selector, address(0), MAX128, 1));
        bridge.depositETH{value: 1}(bob);
    }

    function testFuzz_depositETH_amount_succeeds(uint256 amount) public {
        amount = bound(amount, 1, MAX128);
        depositETH(alice, bob, amount);
        assertEq(bridge.outstanding(address(0)), amount);
        // forge-lint: disable-next-line(unsafe-typecast)
        assertEq(bridge.entryHash(0), InboxEntries.hash(1, alice, bob, address(0), uint128(amount)));
    }

    // ------------------------------------------------------------------ depositERC20

    function test_depositERC20_appendsEntry_succeeds() public {
        fundToken(token, alice, 100);
        bytes32 h = InboxEntries.hash(InboxEntries.DEPOSIT, alice, bob, address(token), 60);
        vm.expectEmit(address(bridge));
        emit IBridge.InboxEntryAppended(0, alice, bob, 1, address(token), 60, h, block.timestamp);
        vm.prank(alice);
        uint256 index = bridge.depositERC20(address(token), bob, 60);
        assertEq(index, 0);
        assertEq(bridge.entryHash(0), h);
        assertEq(bridge.outstanding(address(token)), 60);
        assertEq(token.balanceOf(address(bridge)), 60);
        assertEq(token.balanceOf(alice), 40);
    }

    function test_depositERC20_repeated_succeeds() public {
        fundToken(token, alice, 1000);
        for (uint256 i; i < 6; ++i) {
            vm.prank(alice);
            assertEq(bridge.depositERC20(address(token), bob, 100 + i), i);
        }
        assertEq(bridge.outstanding(address(token)), 615);
        assertEq(bridge.inboxLength(), 6);
        assertEq(bridge.entryHash(5), InboxEntries.hash(1, alice, bob, address(token), 105));
    }

    function test_depositERC20_feeOnTransferCreditsReceived_succeeds() public {
        FeeOnTransferToken fot = new FeeOnTransferToken(100); // 1 %
        fundToken(fot, alice, 10_000);
        vm.prank(alice);
        bridge.depositERC20(address(fot), bob, 10_000);
        assertEq(fot.balanceOf(address(bridge)), 9_900);
        assertEq(bridge.outstanding(address(fot)), 9_900);
        assertEq(bridge.entryHash(0), InboxEntries.hash(1, alice, bob, address(fot), 9_900));
    }

    function test_depositERC20_noReturnToken_succeeds() public {
        NoReturnToken t = new NoReturnToken();
        t.mint(alice, 50);
        vm.prank(alice);
        bridge.depositERC20(address(t), alice, 50);
        assertEq(bridge.outstanding(address(t)), 50);
    }

    function test_depositERC20_falseReturn_reverts() public {
        FalseReturnToken t = new FalseReturnToken();
        t.mint(alice, 50);
        vm.prank(alice);
        vm.expectRevert(IBridge.TransferFailed.selector);
        bridge.depositERC20(address(t), alice, 50);
    }

    function test_depositERC20_notAContract_reverts() public {
        vm.prank(alice);
        vm.expectRevert(IBridge.BadTokenReturn.selector);
        bridge.depositERC20(makeAddr("eoa"), alice, 50);
    }

    function test_depositERC20_ethToken_reverts() public {
        vm.prank(alice);
        vm.expectRevert(IBridge.NotAToken.selector);
        bridge.depositERC20(address(0), alice, 1);
    }

    function test_depositERC20_zeroRecipient_reverts() public {
        fundToken(token, alice, 1);
        vm.prank(alice);
        vm.expectRevert(IBridge.ZeroRecipient.selector);
        bridge.depositERC20(address(token), address(0), 1);
    }

    function test_depositERC20_zeroAmount_reverts() public {
        vm.prank(alice);
        vm.expectRevert(IBridge.ZeroAmount.selector);
        bridge.depositERC20(address(token), alice, 0);
    }

    function test_depositERC20_nothingArrives_reverts() public {
        // A 100 % fee token: the bridge's balance does not grow.
        FeeOnTransferToken fot = new FeeOnTransferToken(10_000);
        fundToken(fot, alice, 10);
        vm.prank(alice);
        vm.expectRevert(IBridge.ZeroAmount.selector);
        bridge.depositERC20(address(fot), alice, 10);
    }

    function test_depositERC20_aboveUint128_reverts() public {
        fundToken(token, alice, MAX128 + 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IBridge.AmountTooLarge.selector, MAX128 + 1));
        bridge.depositERC20(address(token), alice, MAX128 + 1);
    }

    function test_depositERC20_outstandingCap_reverts() public {
        fundToken(token, alice, MAX128);
        vm.prank(alice);
        bridge.depositERC20(address(token), alice, MAX128 - 5);
        fundToken(token, bob, 10);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IBridge.OutstandingCapExceeded.selector, address(token), MAX128 - 5, 6));
        bridge.depositERC20(address(token), bob, 6);
        // Exactly up to the cap is fine.
        vm.prank(bob);
        bridge.depositERC20(address(token), bob, 5);
        assertEq(bridge.outstanding(address(token)), MAX128);
    }

    function test_depositERC20_reentrantToken_reverts() public {
        ReentrantToken t = new ReentrantToken();
        t.setBridge(bridge);
        fundToken(t, alice, 100);
        vm.prank(address(t));
        t.approve(address(bridge), type(uint256).max);
        t.mint(address(t), 100);
        vm.prank(alice);
        bridge.depositERC20(address(t), alice, 40);
        // The nested deposit was refused, so the outer one counted its 40 exactly once.
        assertEq(t.nestedRevert(), abi.encodeWithSelector(IBridge.Reentrancy.selector));
        assertEq(bridge.outstanding(address(t)), 40);
        assertEq(bridge.inboxLength(), 1);
        assertEq(t.balanceOf(address(bridge)), 40);
    }

    function testFuzz_depositERC20_feeOnTransfer_succeeds(uint256 amount, uint16 feeBps) public {
        feeBps = uint16(bound(feeBps, 0, 9_999));
        amount = bound(amount, 10_000, MAX128);
        FeeOnTransferToken fot = new FeeOnTransferToken(feeBps);
        fundToken(fot, alice, amount);
        vm.prank(alice);
        bridge.depositERC20(address(fot), bob, amount);
        uint256 received = amount - amount * feeBps / 10_000;
        assertEq(bridge.outstanding(address(fot)), received);
        assertEq(fot.balanceOf(address(bridge)), received);
        // forge-lint: disable-next-line(unsafe-typecast)
        assertEq(bridge.entryHash(0), InboxEntries.hash(1, alice, bob, address(fot), uint128(received)));
    }

    // ------------------------------------------------------------------ forceWithdraw

    function test_forceWithdraw_appendsEntry_succeeds() public {
        bytes32 h = InboxEntries.hash(InboxEntries.FORCED_WITHDRAWAL, alice, alice, address(token), 7);
        vm.expectEmit(address(bridge));
        emit IBridge.InboxEntryAppended(0, alice, alice, 2, address(token), 7, h, block.timestamp);
        vm.prank(alice);
        uint256 index = bridge.forceWithdraw(address(token), 7);
        assertEq(index, 0);
        assertEq(bridge.entryHash(0), h);
        assertEq(bridge.outstanding(address(token)), 0);
    }

    function test_forceWithdraw_zero_reverts() public {
        vm.prank(alice);
        vm.expectRevert(IBridge.ZeroAmount.selector);
        bridge.forceWithdraw(address(0), 0);
    }

    function test_forceWithdraw_mustBeIncluded_reverts() public {
        vm.prank(alice);
        bridge.forceWithdraw(address(0), 1 ether);
        vm.warp(block.timestamp + FORCE_INCLUSION_DELAY);
        vm.prank(sequencer, sequencer);
        vm.expectRevert(abi.encodeWithSelector(IRollup.ForceInclusionRequired.selector, 0));
        rollup.appendBatch(dummyRecords(1), 0, bytes32(0), 0, bytes32(0));
    }

    // ------------------------------------------------------------------ finalizeWithdrawal

    function test_finalizeWithdrawal_eth_succeeds() public {
        depositETH(alice, alice, 5 ether);
        (uint256 batchIndex, bytes32[] memory keys, bytes32[] memory values) =
            finalBatchWithWithdrawals(0, one(carol), one(address(0)), oneU(2 ether));
        bytes32[] memory siblings = Smt.proof(keys, values, 0);

        vm.expectEmit(address(bridge));
        emit IBridge.WithdrawalFinalized(0, batchIndex, carol, address(0), 2 ether);
        vm.prank(bob); // anyone may relay
        bridge.finalizeWithdrawal(batchIndex, 0, carol, address(0), 2 ether, siblings);
        assertEq(carol.balance, 2 ether);
        assertEq(address(bridge).balance, 3 ether);
        assertEq(bridge.outstanding(address(0)), 3 ether);
        assertTrue(bridge.isWithdrawalSpent(0));
        assertFalse(bridge.isWithdrawalSpent(1));
    }

    function test_finalizeWithdrawal_erc20Multiple_succeeds() public {
        fundToken(token, alice, 1000);
        vm.prank(alice);
        bridge.depositERC20(address(token), alice, 1000);
        depositETH(alice, alice, 1 ether);

        address[] memory recipients = new address[](3);
        address[] memory tokens = new address[](3);
        uint256[] memory amounts = new uint256[](3);
        (recipients[0], tokens[0], amounts[0]) = (bob, address(token), 300);
        (recipients[1], tokens[1], amounts[1]) = (carol, address(0), 0.5 ether);
        (recipients[2], tokens[2], amounts[2]) = (carol, address(token), 700);
        (uint256 batchIndex, bytes32[] memory keys, bytes32[] memory values) =
            finalBatchWithWithdrawals(5, recipients, tokens, amounts);

        for (uint256 i; i < 3; ++i) {
            bridge.finalizeWithdrawal(
                batchIndex, 5 + i, recipients[i], tokens[i], amounts[i], Smt.proof(keys, values, i)
            );
        }
        assertEq(token.balanceOf(bob), 300);
        assertEq(token.balanceOf(carol), 700);
        assertEq(carol.balance, 0.5 ether);
        assertEq(bridge.outstanding(address(token)), 0);
        assertEq(bridge.outstanding(address(0)), 0.5 ether);
        assertEq(token.balanceOf(address(bridge)), 0);
    }

    function test_finalizeWithdrawal_noReturnToken_succeeds() public {
        NoReturnToken t = new NoReturnToken();
        t.mint(alice, 50);
        vm.prank(alice);
        bridge.depositERC20(address(t), alice, 50);
        (uint256 batchIndex, bytes32[] memory keys, bytes32[] memory values) =
            finalBatchWithWithdrawals(0, one(bob), one(address(t)), oneU(20));
        bridge.finalizeWithdrawal(batchIndex, 0, bob, address(t), 20, Smt.proof(keys, values, 0));
        assertEq(t.balanceOf(bob), 20);
    }

    function test_finalizeWithdrawal_zeroAmount_succeeds() public {
        (uint256 batchIndex, bytes32[] memory keys, bytes32[] memory values) =
            finalBatchWithWithdrawals(0, one(bob), one(address(token)), oneU(0));
        bridge.finalizeWithdrawal(batchIndex, 0, bob, address(token), 0, Smt.proof(keys, values, 0));
        assertTrue(bridge.isWithdrawalSpent(0));
    }

    function test_finalizeWithdrawal_laterFinalBatch_succeeds() public {
        // A withdrawal written in batch 0 is still in batch 1's root (leaves are never deleted),
        // and may be proven against either.
        depositETH(alice, alice, 1 ether);
        bytes32[] memory keys = new bytes32[](2);
        bytes32[] memory values = new bytes32[](2);
        keys[0] = Keys.withdrawalKey(0);
        values[0] = Keys.withdrawalValue(bob, address(0), 1 ether);
        keys[1] = keccak256("some balance key");
        values[1] = bytes32(uint256(42));
        appendSimple(Smt.leafHash(keys[0], values[0]));
        appendSimple(Smt.root(keys, values));
        finalizeAll();
        bridge.finalizeWithdrawal(1, 0, bob, address(0), 1 ether, Smt.proof(keys, values, 0));
        assertEq(bob.balance, 1 ether);
        // ... but only once, whichever batch is used.
        vm.expectRevert(abi.encodeWithSelector(IBridge.WithdrawalAlreadySpent.selector, 0));
        bridge.finalizeWithdrawal(0, 0, bob, address(0), 1 ether, new bytes32[](0));
    }

    function test_finalizeWithdrawal_doubleSpend_reverts() public {
        depositETH(alice, alice, 5 ether);
        (uint256 batchIndex, bytes32[] memory keys, bytes32[] memory values) =
            finalBatchWithWithdrawals(0, one(carol), one(address(0)), oneU(2 ether));
        bytes32[] memory siblings = Smt.proof(keys, values, 0);
        bridge.finalizeWithdrawal(batchIndex, 0, carol, address(0), 2 ether, siblings);
        vm.expectRevert(abi.encodeWithSelector(IBridge.WithdrawalAlreadySpent.selector, 0));
        bridge.finalizeWithdrawal(batchIndex, 0, carol, address(0), 2 ether, siblings);
        assertEq(carol.balance, 2 ether);
    }

    function test_finalizeWithdrawal_notFinal_reverts() public {
        depositETH(alice, alice, 5 ether);
        bytes32 root = Smt.leafHash(Keys.withdrawalKey(0), Keys.withdrawalValue(carol, address(0), 1 ether));
        uint256 batchIndex = appendSimple(root);
        vm.expectRevert(abi.encodeWithSelector(IBridge.BatchNotFinal.selector, batchIndex));
        bridge.finalizeWithdrawal(batchIndex, 0, carol, address(0), 1 ether, new bytes32[](0));
        // The challenge period alone is not enough: someone must finalize the batch.
        vm.warp(block.timestamp + CHALLENGE_PERIOD);
        vm.expectRevert(abi.encodeWithSelector(IBridge.BatchNotFinal.selector, batchIndex));
        bridge.finalizeWithdrawal(batchIndex, 0, carol, address(0), 1 ether, new bytes32[](0));
        rollup.finalizeBatches(batchIndex);
        bridge.finalizeWithdrawal(batchIndex, 0, carol, address(0), 1 ether, new bytes32[](0));
        assertEq(carol.balance, 1 ether);
    }

    function test_finalizeWithdrawal_noSuchBatch_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IBridge.BatchNotFinal.selector, 3));
        bridge.finalizeWithdrawal(3, 0, carol, address(0), 1, new bytes32[](0));
    }

    function test_finalizeWithdrawal_badProof_reverts() public {
        depositETH(alice, alice, 5 ether);
        address[] memory recipients = new address[](2);
        address[] memory tokens = new address[](2);
        uint256[] memory amounts = new uint256[](2);
        (recipients[0], amounts[0]) = (carol, 1 ether);
        (recipients[1], amounts[1]) = (bob, 2 ether);
        (uint256 batchIndex, bytes32[] memory keys, bytes32[] memory values) =
            finalBatchWithWithdrawals(0, recipients, tokens, amounts);
        bytes32[] memory siblings = Smt.proof(keys, values, 0);

        // Wrong amount, recipient, token, index; tampered and missing siblings.
        vm.expectRevert(IBridge.InvalidWithdrawalProof.selector);
        bridge.finalizeWithdrawal(batchIndex, 0, carol, address(0), 2 ether, siblings);
        vm.expectRevert(IBridge.InvalidWithdrawalProof.selector);
        bridge.finalizeWithdrawal(batchIndex, 0, bob, address(0), 1 ether, siblings);
        vm.expectRevert(IBridge.InvalidWithdrawalProof.selector);
        bridge.finalizeWithdrawal(batchIndex, 0, carol, address(token), 1 ether, siblings);
        vm.expectRevert(IBridge.InvalidWithdrawalProof.selector);
        bridge.finalizeWithdrawal(batchIndex, 1, carol, address(0), 1 ether, siblings);
        bytes32[] memory tampered = Smt.proof(keys, values, 0);
        tampered[tampered.length - 1] = bytes32(uint256(tampered[tampered.length - 1]) ^ 1);
        vm.expectRevert(IBridge.InvalidWithdrawalProof.selector);
        bridge.finalizeWithdrawal(batchIndex, 0, carol, address(0), 1 ether, tampered);
        vm.expectRevert(IBridge.InvalidWithdrawalProof.selector);
        bridge.finalizeWithdrawal(batchIndex, 0, carol, address(0), 1 ether, new bytes32[](0));
        assertFalse(bridge.isWithdrawalSpent(0));
    }

    function test_finalizeWithdrawal_exceedsOutstanding_reverts() public {
        // A (fraudulent) final root paying more than was ever deposited cannot drain other funds.
        depositETH(alice, alice, 1 ether);
        (uint256 batchIndex, bytes32[] memory keys, bytes32[] memory values) =
            finalBatchWithWithdrawals(0, one(carol), one(address(0)), oneU(2 ether));
        vm.deal(address(bridge), 10 ether);
        vm.expectRevert(abi.encodeWithSelector(IBridge.InsufficientOutstanding.selector, address(0), 1 ether, 2 ether));
        bridge.finalizeWithdrawal(batchIndex, 0, carol, address(0), 2 ether, Smt.proof(keys, values, 0));
    }

    function test_finalizeWithdrawal_ethTransferFails_succeeds() public {
        // A recipient that reverts on ETH cannot block its withdrawal: it is spent, the amount held.
        RejectingReceiver r = new RejectingReceiver();
        depositETH(alice, alice, 1 ether);
        (uint256 batchIndex, bytes32[] memory keys, bytes32[] memory values) =
            finalBatchWithWithdrawals(0, one(address(r)), one(address(0)), oneU(1 ether));
        vm.expectEmit(address(bridge));
        emit IBridge.WithdrawalFinalized(0, batchIndex, address(r), address(0), 1 ether);
        vm.expectEmit(address(bridge));
        emit IBridge.WithdrawalHeld(0, address(r), address(0), 1 ether);
        bridge.finalizeWithdrawal(batchIndex, 0, address(r), address(0), 1 ether, Smt.proof(keys, values, 0));
        assertTrue(bridge.isWithdrawalSpent(0));
        assertEq(bridge.claimable(address(r), address(0)), 1 ether);
        assertEq(bridge.unclaimed(address(0)), 1 ether);
        assertEq(bridge.outstanding(address(0)), 0);
        assertEq(address(bridge).balance, 1 ether);
        // The second try of the same withdrawal is refused: it is paid (held) once.
        vm.expectRevert(abi.encodeWithSelector(IBridge.WithdrawalAlreadySpent.selector, 0));
        bridge.finalizeWithdrawal(batchIndex, 0, address(r), address(0), 1 ether, Smt.proof(keys, values, 0));
    }

    /// @dev Withdrawal 0 of 1 ether to a contract that refuses ETH, finalized: it is held for it.
    function heldEthWithdrawal() internal returns (RejectingReceiver r) {
        r = new RejectingReceiver();
        depositETH(alice, alice, 1 ether);
        (uint256 batchIndex, bytes32[] memory keys, bytes32[] memory values) =
            finalBatchWithWithdrawals(0, one(address(r)), one(address(0)), oneU(1 ether));
        bridge.finalizeWithdrawal(batchIndex, 0, address(r), address(0), 1 ether, Smt.proof(keys, values, 0));
    }

    function test_claimWithdrawals_heldEth_succeeds() public {
        RejectingReceiver r = heldEthWithdrawal();
        uint256 before = bob.balance;
        vm.expectEmit(address(bridge));
        emit IBridge.WithdrawalsClaimed(address(r), address(0), bob, 1 ether);
        r.execute(address(bridge), abi.encodeCall(IBridge.claimWithdrawals, (address(0), bob)));
        assertEq(bob.balance, before + 1 ether);
        assertEq(bridge.claimable(address(r), address(0)), 0);
        assertEq(bridge.unclaimed(address(0)), 0);
        assertEq(address(bridge).balance, 0);
        // Nothing is left to claim.
        vm.expectRevert(abi.encodeWithSelector(IBridge.NothingToClaim.selector, address(r), address(0)));
        r.execute(address(bridge), abi.encodeCall(IBridge.claimWithdrawals, (address(0), bob)));
    }

    function test_claimWithdrawals_otherAccount_reverts() public {
        // Only the recipient itself can take what is held for it.
        RejectingReceiver r = heldEthWithdrawal();
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IBridge.NothingToClaim.selector, bob, address(0)));
        bridge.claimWithdrawals(address(0), bob);
        assertEq(bridge.claimable(address(r), address(0)), 1 ether);
    }

    function test_claimWithdrawals_zeroDestination_reverts() public {
        vm.prank(bob);
        vm.expectRevert(IBridge.ZeroRecipient.selector);
        bridge.claimWithdrawals(address(0), address(0));
    }

    function test_claimWithdrawals_destinationRejects_reverts() public {
        // The claimant picks where the funds go; a destination that refuses keeps them held.
        RejectingReceiver r = heldEthWithdrawal();
        vm.expectRevert(IBridge.TransferFailed.selector);
        r.execute(address(bridge), abi.encodeCall(IBridge.claimWithdrawals, (address(0), address(r))));
        assertEq(bridge.claimable(address(r), address(0)), 1 ether);
    }

    function test_finalizeWithdrawal_tokenTransferFails_succeeds() public {
        FalseReturnToken t = new FalseReturnToken();
        // Pretend something was deposited so the outstanding check passes.
        vm.store(address(bridge), keccak256(abi.encode(address(t), uint256(1))), bytes32(uint256(10)));
        assertEq(bridge.outstanding(address(t)), 10);
        (uint256 batchIndex, bytes32[] memory keys, bytes32[] memory values) =
            finalBatchWithWithdrawals(0, one(bob), one(address(t)), oneU(10));
        vm.expectEmit(address(bridge));
        emit IBridge.WithdrawalHeld(0, bob, address(t), 10);
        bridge.finalizeWithdrawal(batchIndex, 0, bob, address(t), 10, Smt.proof(keys, values, 0));
        assertTrue(bridge.isWithdrawalSpent(0));
        assertEq(bridge.claimable(bob, address(t)), 10);
        assertEq(bridge.unclaimed(address(t)), 10);
        // The token still refuses: the claim reverts and the amount stays held for a later try.
        vm.prank(bob);
        vm.expectRevert(IBridge.TransferFailed.selector);
        bridge.claimWithdrawals(address(t), bob);
        assertEq(bridge.claimable(bob, address(t)), 10);
    }

    function test_finalizeWithdrawal_reentrantRecipient_reverts() public {
        ReentrantReceiver r = new ReentrantReceiver();
        depositETH(alice, alice, 3 ether);
        address[] memory recipients = new address[](2);
        address[] memory tokens = new address[](2);
        uint256[] memory amounts = new uint256[](2);
        (recipients[0], amounts[0]) = (address(r), 1 ether);
        (recipients[1], amounts[1]) = (address(r), 1 ether);
        (uint256 batchIndex, bytes32[] memory keys, bytes32[] memory values) =
            finalBatchWithWithdrawals(0, recipients, tokens, amounts);
        // While being paid withdrawal 0, the recipient tries to finalize withdrawal 1.
        r.arm(
            address(bridge),
            abi.encodeCall(
                Bridge.finalizeWithdrawal, (batchIndex, 1, address(r), address(0), 1 ether, Smt.proof(keys, values, 1))
            )
        );
        bridge.finalizeWithdrawal(batchIndex, 0, address(r), address(0), 1 ether, Smt.proof(keys, values, 0));
        assertFalse(r.nestedSucceeded());
        assertEq(r.nestedRevert(), abi.encodeWithSelector(IBridge.Reentrancy.selector));
        assertEq(address(r).balance, 1 ether);
        assertFalse(bridge.isWithdrawalSpent(1));
    }

    function testFuzz_finalizeWithdrawal_index_succeeds(uint256 index, uint128 amount) public {
        amount = uint128(bound(amount, 1, MAX128));
        depositETH(alice, alice, amount);
        (uint256 batchIndex, bytes32[] memory keys, bytes32[] memory values) =
            finalBatchWithWithdrawals(index, one(carol), one(address(0)), oneU(amount));
        bridge.finalizeWithdrawal(batchIndex, index, carol, address(0), amount, Smt.proof(keys, values, 0));
        assertTrue(bridge.isWithdrawalSpent(index));
        assertEq(carol.balance, amount);
        assertEq(bridge.outstanding(address(0)), 0);
    }

    // ------------------------------------------------------------------ views

    function test_entryHash_noSuchEntry_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(IBridge.NoSuchEntry.selector, 0));
        bridge.entryHash(0);
        vm.expectRevert(abi.encodeWithSelector(IBridge.NoSuchEntry.selector, 0));
        bridge.entryTimestamp(0);
        depositETH(alice, alice, 1);
        vm.expectRevert(abi.encodeWithSelector(IBridge.NoSuchEntry.selector, 1));
        bridge.entryHash(1);
    }

    function test_rollup_returnsRollup_succeeds() public view {
        assertEq(address(bridge.rollup()), address(rollup));
    }
}
