// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {DevToken} from "../src/dev/DevToken.sol";

contract DevTokenTest is Test {
    DevToken internal token;
    address internal alice = address(0xA11CE);
    address internal bob = address(0xB0B);

    function setUp() public {
        token = new DevToken("Dev", "DEV");
    }

    function test_mint_anyone_succeeds() public {
        vm.expectEmit(address(token));
        emit DevToken.Transfer(address(0), alice, 5);
        vm.prank(bob);
        token.mint(alice, 5);
        assertEq(token.balanceOf(alice), 5);
        assertEq(token.totalSupply(), 5);
    }

    function test_transfer_moves_succeeds() public {
        token.mint(alice, 5);
        vm.prank(alice);
        token.transfer(bob, 3);
        assertEq(token.balanceOf(alice), 2);
        assertEq(token.balanceOf(bob), 3);
    }

    function test_transfer_overBalance_reverts() public {
        token.mint(alice, 1);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(DevToken.InsufficientBalance.selector, alice, 1, 2));
        token.transfer(bob, 2);
    }

    function test_transferFrom_withinAllowance_succeeds() public {
        token.mint(alice, 5);
        vm.prank(alice);
        token.approve(bob, 4);
        vm.prank(bob);
        token.transferFrom(alice, bob, 4);
        assertEq(token.balanceOf(bob), 4);
        assertEq(token.allowance(alice, bob), 0);
    }

    function test_transferFrom_overAllowance_reverts() public {
        token.mint(alice, 5);
        vm.prank(alice);
        token.approve(bob, 1);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(DevToken.InsufficientAllowance.selector, alice, bob, 1, 2));
        token.transferFrom(alice, bob, 2);
    }
}
