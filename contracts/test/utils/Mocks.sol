// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IOneStepProver} from "../../src/interfaces/IOneStepProver.sol";
import {IBridge} from "../../src/interfaces/IBridge.sol";
import {IChallengeManager} from "../../src/interfaces/IChallengeManager.sol";

/// @notice A prover whose witness is `abi.encode(bool reject, bytes32 rootAfter)`: it reverts if
///         `reject`, else returns `rootAfter`. Lets game tests choose the outcome of a step.
contract MockProver is IOneStepProver {
    error MockRejected();

    function proveStep(ChainConfig calldata, bytes32, StepContext calldata, bytes calldata witness)
        external
        pure
        returns (bytes32)
    {
        (bool reject, bytes32 rootAfter) = abi.decode(witness, (bool, bytes32));
        if (reject) revert MockRejected();
        return rootAfter;
    }
}

/// @notice A plain ERC-20 with an open `mint`.
contract MockERC20 {
    string public name;
    string public symbol;
    uint8 public constant decimals = 18;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 amount);
    event Approval(address indexed owner, address indexed spender, uint256 amount);

    constructor(string memory name_, string memory symbol_) {
        name = name_;
        symbol = symbol_;
    }

    function mint(address to, uint256 amount) external {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function transfer(address to, uint256 amount) external virtual returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external virtual returns (bool) {
        _spend(from, amount);
        _move(from, to, amount);
        return true;
    }

    function _spend(address from, uint256 amount) internal {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) allowance[from][msg.sender] = allowed - amount;
    }

    function _move(address from, address to, uint256 amount) internal virtual {
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}

/// @notice Burns `feeBps` of every transfer: the recipient gets less than `amount`.
contract FeeOnTransferToken is MockERC20 {
    uint256 public immutable feeBps;

    constructor(uint256 feeBps_) MockERC20("Fee", "FEE") {
        feeBps = feeBps_;
    }

    function _move(address from, address to, uint256 amount) internal override {
        uint256 fee = amount * feeBps / 10_000;
        balanceOf[from] -= amount;
        balanceOf[to] += amount - fee;
        totalSupply -= fee;
        emit Transfer(from, to, amount - fee);
    }
}

/// @notice Like USDT: `transfer` and `transferFrom` return nothing.
contract NoReturnToken {
    mapping(address => uint256) public balanceOf;

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
    }

    function transfer(address to, uint256 amount) external {
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount;
    }

    function transferFrom(address from, address to, uint256 amount) external {
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
    }
}

/// @notice Returns `false` instead of moving anything.
contract FalseReturnToken {
    mapping(address => uint256) public balanceOf;

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
    }

    function transfer(address, uint256) external pure returns (bool) {
        return false;
    }

    function transferFrom(address, address, uint256) external pure returns (bool) {
        return false;
    }
}

/// @notice Re-enters `Bridge.depositERC20` from `transferFrom` (an ERC-777-style hook), to show
///         that a nested deposit cannot be counted twice by the balance-difference rule.
contract ReentrantToken is MockERC20 {
    IBridge public bridge;
    bool private _entered;

    constructor() MockERC20("Reenter", "RE") {}

    function setBridge(IBridge bridge_) external {
        bridge = bridge_;
    }

    /// @notice The revert data of the nested deposit (empty if it succeeded or was not tried).
    bytes public nestedRevert;

    function transferFrom(address from, address to, uint256 amount) external override returns (bool) {
        if (!_entered && address(bridge) != address(0)) {
            _entered = true;
            try bridge.depositERC20(address(this), from, amount) {}
            catch (bytes memory reason) {
                nestedRevert = reason;
            }
            _entered = false;
        }
        _spend(from, amount);
        _move(from, to, amount);
        return true;
    }
}

/// @notice Rejects every ETH transfer.
contract RejectingReceiver {
    receive() external payable {
        revert("no ETH");
    }

    /// @notice Calls `target` with `data` as this contract (e.g. to claim what a bridge holds for it).
    function execute(address target, bytes calldata data) external {
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
    }
}

/// @notice On receiving ETH, calls `target` with `data` once (to test reentrancy guards); the
///         outcome of the nested call is recorded, the outer transfer always succeeds.
contract ReentrantReceiver {
    address public target;
    bytes public data;
    bool public attempted;
    bool public nestedSucceeded;
    bytes public nestedRevert;

    function arm(address target_, bytes calldata data_) external {
        target = target_;
        data = data_;
    }

    function call(address to, bytes calldata data_) external payable returns (bytes memory) {
        (bool ok, bytes memory ret) = to.call{value: msg.value}(data_);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    receive() external payable {
        if (attempted || target == address(0)) return;
        attempted = true;
        (bool ok, bytes memory ret) = target.call(data);
        nestedSucceeded = ok;
        nestedRevert = ret;
    }
}

/// @notice A challenger contract whose `withdraw` payout re-enters `ChallengeManager.withdraw`.
contract ReentrantWithdrawer {
    IChallengeManager public immutable manager;
    uint256 public reentries;

    constructor(IChallengeManager manager_) {
        manager = manager_;
    }

    function challenge(uint256 batchIndex) external payable returns (uint256) {
        return manager.challenge{value: msg.value}(batchIndex, manager.rollup().getBatch(batchIndex).poster);
    }

    function withdraw() external {
        manager.withdraw();
    }

    receive() external payable {
        if (reentries == 0) {
            reentries = 1;
            manager.withdraw();
        }
    }
}
