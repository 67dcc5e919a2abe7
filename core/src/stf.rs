//! The state transition function: one step (an inbox entry or a record) applied to a state
//! (`docs/protocol.md` §5).
//!
//! The STF talks to state only through [`StateAccess`], and the order of its `read`/`write`
//! calls *is* the access list of the spec. The same function runs over the sequencer's in-memory
//! state, the witness recorder that produces one-step proofs, and the proof consumer that mirrors
//! the on-chain prover, so all three agree on the order by construction.

use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};

use crate::{
    config::ChainConfig,
    keys::{balance_key, nonce_key, withdrawal_count_key, withdrawal_key, withdrawal_value},
    tx::{PreparedRecord, RecordError, TxKind},
};

/// The seam between the STF and a state: reads and writes of 32-byte words by key, in order.
///
/// Each call is one access of the spec's access list. A write gets the old value from the
/// state (on L1, from the write's own proof), so `update` takes a function of the old value.
pub trait StateAccess {
    /// What can go wrong reading or writing (nothing, for memory).
    type Error;
    /// The value of `key` (zero when it has no leaf).
    fn read(&mut self, key: B256) -> Result<B256, Self::Error>;
    /// Set `key` to `new_value(old)`, creating its leaf if needed; return the old value.
    fn update(
        &mut self,
        key: B256,
        new_value: impl FnOnce(B256) -> B256,
    ) -> Result<B256, Self::Error>;
}

/// The two kinds of L1 inbox entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum InboxKind {
    /// ETH or an ERC-20 deposited on L1, credited to `recipient` on L2.
    Deposit = 1,
    /// A withdrawal `sender` asked for on L1, which the sequencer cannot refuse.
    ForcedWithdrawal = 2,
}

/// One entry of the L1 inbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InboxEntry {
    /// Deposit or forced withdrawal.
    pub kind: InboxKind,
    /// The L1 account that made the entry.
    pub sender: Address,
    /// The L2 account credited (deposit); equals `sender` for a forced withdrawal.
    pub recipient: Address,
    /// The token, by its L1 address; ETH is `address(0)`.
    pub token: Address,
    /// The amount, in the token's smallest unit.
    pub amount: u128,
}

impl InboxEntry {
    /// `keccak256(abi.encode(uint8 kind, sender, recipient, token, uint128 amount))`: what L1 stores.
    pub fn hash(&self) -> B256 {
        let mut buf = [0u8; 160];
        buf[31] = self.kind as u8;
        buf[44..64].copy_from_slice(self.sender.as_slice());
        buf[76..96].copy_from_slice(self.recipient.as_slice());
        buf[108..128].copy_from_slice(self.token.as_slice());
        buf[144..160].copy_from_slice(&self.amount.to_be_bytes());
        crate::keccak256(buf)
    }
}

/// One step of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// An L1 inbox entry the batch consumes.
    Inbox(&'a InboxEntry),
    /// One of the batch's records, with its sender recovered (or why it is not valid).
    Record(&'a PreparedRecord),
}

/// Why a step changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoOpReason {
    /// The record's bytes break a decoding rule, or its signature does not recover.
    #[error("invalid record: {0}")]
    InvalidRecord(RecordError),
    /// The record's nonce is not the sender's next nonce.
    #[error("nonce {got} given, {expected} expected")]
    BadNonce {
        /// The sender's nonce in state.
        expected: U256,
        /// The nonce the record carries.
        got: u64,
    },
    /// The balance does not cover amount plus fee.
    #[error("balance {available} is below the {required} required")]
    InsufficientBalance {
        /// The balance in state.
        available: U256,
        /// `amount + fee` (or the forced withdrawal's amount).
        required: U256,
    },
}

impl NoOpReason {
    /// The reason's name in `docs/protocol.md` §5.5.
    pub fn name(&self) -> &'static str {
        match self {
            Self::InvalidRecord(e) if e.is_signature_failure() => "invalidSignature",
            Self::InvalidRecord(_) => "invalidRecord",
            Self::BadNonce { .. } => "badNonce",
            Self::InsufficientBalance { .. } => "insufficientBalance",
        }
    }
}

/// What a step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The step's writes were made.
    Applied,
    /// The step changed nothing.
    NoOp(NoOpReason),
}

impl Outcome {
    /// Whether the step changed the state.
    pub fn is_applied(&self) -> bool {
        matches!(self, Self::Applied)
    }

    /// `applied`, or the no-op reason's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::NoOp(r) => r.name(),
        }
    }
}

fn word(v: U256) -> B256 {
    B256::from(v.to_be_bytes::<32>())
}

fn uint(w: B256) -> U256 {
    U256::from_be_bytes(w.0)
}

/// Add `amount` to the balance at `key`; a zero credit makes no access.
fn credit<S: StateAccess>(state: &mut S, key: B256, amount: U256) -> Result<(), S::Error> {
    if !amount.is_zero() {
        state.update(key, |old| word(uint(old).wrapping_add(amount)))?;
    }
    Ok(())
}

/// Subtract `amount` from the balance at `key`, which a read showed covers it; a zero debit makes
/// no access.
fn debit<S: StateAccess>(state: &mut S, key: B256, amount: U256) -> Result<(), S::Error> {
    if !amount.is_zero() {
        state.update(key, |old| word(uint(old).wrapping_sub(amount)))?;
    }
    Ok(())
}

/// Append a withdrawal: `count += 1`, then the leaf at the old count.
fn append_withdrawal<S: StateAccess>(
    state: &mut S,
    recipient: &Address,
    token: &Address,
    amount: u128,
) -> Result<(), S::Error> {
    let count =
        uint(state.update(withdrawal_count_key(), |c| word(uint(c).wrapping_add(U256::from(1))))?);
    let value = withdrawal_value(recipient, token, amount);
    state.update(withdrawal_key(count), |_| value)?;
    Ok(())
}

/// Apply one step to `state`. Every check that can make the step a no-op is a read made before
/// the step's first write, so a no-op writes nothing.
pub fn apply_step<S: StateAccess>(
    config: &ChainConfig,
    step: Step<'_>,
    state: &mut S,
) -> Result<Outcome, S::Error> {
    match step {
        Step::Inbox(entry) => apply_inbox_entry(entry, state),
        Step::Record(prepared) => apply_record(config, prepared, state),
    }
}

fn apply_inbox_entry<S: StateAccess>(
    entry: &InboxEntry,
    state: &mut S,
) -> Result<Outcome, S::Error> {
    let amount = U256::from(entry.amount);
    match entry.kind {
        InboxKind::Deposit => {
            credit(state, balance_key(&entry.recipient, &entry.token), amount)?;
            Ok(Outcome::Applied)
        }
        InboxKind::ForcedWithdrawal => {
            let key = balance_key(&entry.sender, &entry.token);
            let available = uint(state.read(key)?);
            if available < amount {
                return Ok(Outcome::NoOp(NoOpReason::InsufficientBalance {
                    available,
                    required: amount,
                }));
            }
            debit(state, key, amount)?;
            append_withdrawal(state, &entry.sender, &entry.token, entry.amount)?;
            Ok(Outcome::Applied)
        }
    }
}

fn apply_record<S: StateAccess>(
    config: &ChainConfig,
    prepared: &PreparedRecord,
    state: &mut S,
) -> Result<Outcome, S::Error> {
    let (tx, sender) = match prepared.sender {
        Ok(ok) => ok,
        Err(e) => return Ok(Outcome::NoOp(NoOpReason::InvalidRecord(e))),
    };
    let nonce_key = nonce_key(&sender);
    let nonce = uint(state.read(nonce_key)?);
    if nonce != U256::from(tx.nonce) {
        return Ok(Outcome::NoOp(NoOpReason::BadNonce { expected: nonce, got: tx.nonce }));
    }
    let sender_key = balance_key(&sender, &tx.token);
    let available = uint(state.read(sender_key)?);
    let amount = U256::from(tx.amount);
    let fee = U256::from(tx.fee);
    let required = amount + fee;
    if available < required {
        return Ok(Outcome::NoOp(NoOpReason::InsufficientBalance { available, required }));
    }
    state.update(nonce_key, |n| word(uint(n).wrapping_add(U256::from(1))))?;
    debit(state, sender_key, required)?;
    match tx.kind {
        TxKind::Transfer => credit(state, balance_key(&tx.to, &tx.token), amount)?,
        TxKind::Withdraw => append_withdrawal(state, &tx.to, &tx.token, tx.amount)?,
    }
    credit(state, balance_key(&config.fee_recipient, &tx.token), fee)?;
    Ok(Outcome::Applied)
}
