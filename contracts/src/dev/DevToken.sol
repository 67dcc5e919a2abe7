// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title DevToken
/// @notice A plain ERC-20 that anyone can mint, for local devnets and end-to-end tests only: it
///         lets the devnet and the tests deposit a real token through the Bridge. Never deploy it
///         on a public chain.
contract DevToken {
    /// @notice The token's name.
    string public name;
    /// @notice The token's symbol.
    string public symbol;
    /// @notice Decimals, as usual for ERC-20s.
    uint8 public constant decimals = 18;
    /// @notice All tokens minted.
    uint256 public totalSupply;
    /// @notice Balances.
    mapping(address owner => uint256) public balanceOf;
    /// @notice Allowances.
    mapping(address owner => mapping(address spender => uint256)) public allowance;

    /// @notice Tokens moved (from zero when minted).
    event Transfer(address indexed from, address indexed to, uint256 amount);
    /// @notice An allowance set.
    event Approval(address indexed owner, address indexed spender, uint256 amount);

    /// @notice The balance does not cover the amount.
    error InsufficientBalance(address owner, uint256 balance, uint256 amount);
    /// @notice The allowance does not cover the amount.
    error InsufficientAllowance(address owner, address spender, uint256 allowance, uint256 amount);

    /// @notice Creates the token.
    /// @param name_ The name.
    /// @param symbol_ The symbol.
    constructor(string memory name_, string memory symbol_) {
        name = name_;
        symbol = symbol_;
    }

    /// @notice Mints `amount` to `to` (anyone may: this is a development token).
    /// @param to The recipient.
    /// @param amount The amount.
    function mint(address to, uint256 amount) external {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    /// @notice Lets `spender` move up to `amount` of the caller's tokens.
    /// @param spender Who may spend.
    /// @param amount How much.
    /// @return Always true.
    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    /// @notice Moves `amount` of the caller's tokens to `to`.
    /// @param to The recipient.
    /// @param amount The amount.
    /// @return Always true (reverts on failure).
    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    /// @notice Moves `amount` of `from`'s tokens to `to`, within the caller's allowance.
    /// @param from The owner.
    /// @param to The recipient.
    /// @param amount The amount.
    /// @return Always true (reverts on failure).
    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < amount) revert InsufficientAllowance(from, msg.sender, allowed, amount);
            allowance[from][msg.sender] = allowed - amount;
            emit Approval(from, msg.sender, allowed - amount);
        }
        _move(from, to, amount);
        return true;
    }

    function _move(address from, address to, uint256 amount) private {
        uint256 balance = balanceOf[from];
        if (balance < amount) revert InsufficientBalance(from, balance, amount);
        balanceOf[from] = balance - amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}
