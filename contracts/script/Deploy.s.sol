// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Script, console} from "forge-std/Script.sol";
import {Rollup} from "../src/Rollup.sol";
import {Bridge} from "../src/Bridge.sol";
import {ChallengeManager} from "../src/ChallengeManager.sol";
import {OneStepProver} from "../src/OneStepProver.sol";
import {IRollup} from "../src/interfaces/IRollup.sol";

/// @notice Deploys Rollup, Bridge, OneStepProver and ChallengeManager and wires them together.
/// @dev Configuration from the environment (defaults in parentheses, times in seconds, amounts in wei):
///      KEEL_L2_CHAIN_ID (1000001), KEEL_FEE_RECIPIENT (the broadcaster), KEEL_SEQUENCER (the
///      broadcaster), KEEL_CHALLENGE_PERIOD (604800), KEEL_MOVE_TIMEOUT (86400),
///      KEEL_REQUIRED_STAKE (1 ether), KEEL_CHALLENGE_BOND (0.1 ether),
///      KEEL_FORCE_INCLUSION_DELAY (86400), KEEL_SEQUENCER_INACTIVITY_PERIOD (604800),
///      KEEL_DEGREE (8), KEEL_CHALLENGER_SHARE_BPS (5000).
///      Example: `forge script script/Deploy.s.sol --rpc-url $RPC --private-key $KEY --broadcast`.
contract Deploy is Script {
    /// @notice The deployed addresses.
    struct Deployment {
        address rollup;
        address bridge;
        address prover;
        address challengeManager;
    }

    /// @notice Deploys with the configuration from the environment.
    function run() external returns (Deployment memory d) {
        address broadcaster = msg.sender;
        IRollup.Config memory config = IRollup.Config({
            l2ChainId: uint64(vm.envOr("KEEL_L2_CHAIN_ID", uint256(1_000_001))),
            feeRecipient: vm.envOr("KEEL_FEE_RECIPIENT", broadcaster),
            sequencer: vm.envOr("KEEL_SEQUENCER", broadcaster),
            challengePeriod: uint64(vm.envOr("KEEL_CHALLENGE_PERIOD", uint256(7 days))),
            moveTimeout: uint64(vm.envOr("KEEL_MOVE_TIMEOUT", uint256(1 days))),
            requiredStake: vm.envOr("KEEL_REQUIRED_STAKE", uint256(1 ether)),
            challengeBond: vm.envOr("KEEL_CHALLENGE_BOND", uint256(0.1 ether)),
            forceInclusionDelay: uint64(vm.envOr("KEEL_FORCE_INCLUSION_DELAY", uint256(1 days))),
            sequencerInactivityPeriod: uint64(vm.envOr("KEEL_SEQUENCER_INACTIVITY_PERIOD", uint256(7 days))),
            degree: uint64(vm.envOr("KEEL_DEGREE", uint256(8))),
            challengerShareBps: uint16(vm.envOr("KEEL_CHALLENGER_SHARE_BPS", uint256(5000)))
        });
        d = deploy(config);
        console.log("Rollup", d.rollup);
        console.log("Bridge", d.bridge);
        console.log("OneStepProver", d.prover);
        console.log("ChallengeManager", d.challengeManager);
    }

    /// @notice Deploys with `config` (the broadcaster becomes the rollup's deployer).
    function deploy(IRollup.Config memory config) public returns (Deployment memory d) {
        vm.startBroadcast();
        Rollup rollup = new Rollup(config);
        Bridge bridge = new Bridge(rollup);
        OneStepProver prover = new OneStepProver();
        ChallengeManager manager = new ChallengeManager(rollup, bridge, prover);
        rollup.initialize(bridge, manager);
        vm.stopBroadcast();
        d = Deployment(address(rollup), address(bridge), address(prover), address(manager));
    }
}
