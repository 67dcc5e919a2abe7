//! One-step witnesses (`docs/protocol.md` §8): producing them from a state, encoding them for the
//! on-chain OneStepProver, and executing them exactly as the prover does.
//!
//! [`execute_witness`] is the Rust mirror of the Solidity prover: the STF runs over a
//! [`StateAccess`] that takes each access's proof from the witness, in order, and checks it. The
//! shared vectors make the two agree; the Rust mirror lets tests tamper with witnesses cheaply.

use alloy_primitives::{Address, Bytes, B256};
use alloy_sol_types::{sol, SolValue};

use crate::{
    config::ChainConfig,
    smt::{
        NodeStore, OverlayNodeStore, ProofError, SmtProof, SparseMerkleTree, Terminal, TreeError,
    },
    state::{BatchSteps, RootedState},
    stf::{apply_step, InboxEntry, InboxKind, Outcome, StateAccess, Step},
    tx::{Domain, Record, RECORD_LEN},
    txroot::{verify_tx_proof, TxTree},
};

/// The ABI forms of the witness, identical to the Solidity structs.
pub mod abi {
    use super::sol;

    sol! {
        /// A sparse Merkle proof (`docs/protocol.md` §4).
        #[derive(Debug, PartialEq, Eq)]
        struct SmtProof { bytes32 value; uint8 terminal; bytes32 otherKey; bytes32 otherValue; bytes32[] siblings; }
        /// An inbox entry (`docs/protocol.md` §7).
        #[derive(Debug, PartialEq, Eq)]
        struct InboxEntry { uint8 kind; address sender; address recipient; address token; uint128 amount; }
        /// The witness of one step (`docs/protocol.md` §8).
        #[derive(Debug, PartialEq, Eq)]
        struct StepWitness { bytes record; bytes32[] txProof; InboxEntry entry; SmtProof[] accesses; }
    }
}

/// What a step is, as the prover learns it from L1 state (never from the witness).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepContext {
    /// The step is an inbox entry whose stored hash is `entry_hash`.
    Inbox {
        /// The hash L1 stored for the entry.
        entry_hash: B256,
    },
    /// The step is record `index` of the `count` records under `tx_root`.
    Record {
        /// The batch's tx root.
        tx_root: B256,
        /// The record's index in the batch.
        index: usize,
        /// How many records the batch has.
        count: usize,
    },
}

/// The witness of one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepWitness {
    /// An inbox entry step.
    Inbox {
        /// The entry.
        entry: InboxEntry,
        /// One proof per access.
        accesses: Vec<SmtProof>,
    },
    /// A record step.
    Record {
        /// The record.
        record: Record,
        /// Its inclusion proof in the tx root.
        tx_proof: Vec<B256>,
        /// One proof per access.
        accesses: Vec<SmtProof>,
    },
}

/// Why a witness does not prove a step.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// The bytes are not an ABI-encoded `StepWitness`.
    #[error("witness is not a valid ABI StepWitness: {0}")]
    Abi(String),
    /// The witness is for an inbox entry but the step is a record, or the other way round.
    #[error("the witness is for a different kind of step")]
    WrongStepKind,
    /// The record is not 146 bytes.
    #[error("the record is {0} bytes, not {RECORD_LEN}")]
    RecordLength(usize),
    /// The record is not the batch's record at that index.
    #[error("the record is not in the batch's tx root at that index")]
    RecordNotInBatch,
    /// The entry does not hash to the stored entry hash.
    #[error("the inbox entry does not match the stored entry hash")]
    EntryMismatch,
    /// The entry kind byte is not 1 or 2.
    #[error("unknown inbox entry kind {0}")]
    UnknownEntryKind(u8),
    /// A proof's terminal code is not 0, 1 or 2, or its fields do not fit the code.
    #[error("access {0}: malformed proof")]
    MalformedProof(usize),
    /// The step needs more accesses than the witness has.
    #[error("the witness has {0} accesses; the step needs more")]
    MissingAccess(usize),
    /// The witness has accesses the step does not make.
    #[error("the witness has {given} accesses; the step made {used}")]
    UnusedAccesses {
        /// Accesses in the witness.
        given: usize,
        /// Accesses the step made.
        used: usize,
    },
    /// An access's proof is wrong.
    #[error("access {index}: {error}")]
    BadProof {
        /// Which access.
        index: usize,
        /// What is wrong.
        error: ProofError,
    },
}

impl StepWitness {
    /// The proofs, in access order.
    pub fn accesses(&self) -> &[SmtProof] {
        match self {
            Self::Inbox { accesses, .. } | Self::Record { accesses, .. } => accesses,
        }
    }

    /// The proofs, mutably (for tests that tamper with witnesses).
    pub fn accesses_mut(&mut self) -> &mut Vec<SmtProof> {
        match self {
            Self::Inbox { accesses, .. } | Self::Record { accesses, .. } => accesses,
        }
    }

    /// The ABI form.
    pub fn to_abi(&self) -> abi::StepWitness {
        let proofs = self.accesses().iter().map(proof_to_abi).collect();
        match self {
            Self::Inbox { entry, .. } => abi::StepWitness {
                record: Bytes::new(),
                txProof: vec![],
                entry: entry_to_abi(entry),
                accesses: proofs,
            },
            Self::Record { record, tx_proof, .. } => abi::StepWitness {
                record: Bytes::copy_from_slice(record.as_bytes()),
                txProof: tx_proof.clone(),
                entry: abi::InboxEntry {
                    kind: 0,
                    sender: Address::ZERO,
                    recipient: Address::ZERO,
                    token: Address::ZERO,
                    amount: 0,
                },
                accesses: proofs,
            },
        }
    }

    /// `abi.encode(witness)`: the bytes `proveStep` takes.
    pub fn abi_encode(&self) -> Vec<u8> {
        self.to_abi().abi_encode()
    }

    /// Decode `abi.encode(witness)`. An empty record means an inbox step.
    pub fn abi_decode(bytes: &[u8]) -> Result<Self, WitnessError> {
        let w =
            abi::StepWitness::abi_decode(bytes).map_err(|e| WitnessError::Abi(e.to_string()))?;
        let accesses = w
            .accesses
            .iter()
            .enumerate()
            .map(|(i, p)| proof_from_abi(p).ok_or(WitnessError::MalformedProof(i)))
            .collect::<Result<Vec<_>, _>>()?;
        if w.record.is_empty() {
            let kind = match w.entry.kind {
                1 => InboxKind::Deposit,
                2 => InboxKind::ForcedWithdrawal,
                other => return Err(WitnessError::UnknownEntryKind(other)),
            };
            let entry = InboxEntry {
                kind,
                sender: w.entry.sender,
                recipient: w.entry.recipient,
                token: w.entry.token,
                amount: w.entry.amount,
            };
            Ok(Self::Inbox { entry, accesses })
        } else {
            let record = Record::from_slice(&w.record)
                .map_err(|_| WitnessError::RecordLength(w.record.len()))?;
            Ok(Self::Record { record, tx_proof: w.txProof, accesses })
        }
    }
}

fn entry_to_abi(e: &InboxEntry) -> abi::InboxEntry {
    abi::InboxEntry {
        kind: e.kind as u8,
        sender: e.sender,
        recipient: e.recipient,
        token: e.token,
        amount: e.amount,
    }
}

/// The ABI form of a proof.
pub fn proof_to_abi(p: &SmtProof) -> abi::SmtProof {
    let (other_key, other_value) = match p.terminal {
        Terminal::Other { key, value } => (key, value),
        _ => (B256::ZERO, B256::ZERO),
    };
    abi::SmtProof {
        value: p.value(),
        terminal: p.terminal.code(),
        otherKey: other_key,
        otherValue: other_value,
        siblings: p.siblings.clone(),
    }
}

/// A proof from its ABI form; `None` if the fields do not fit the terminal code (the prover
/// rejects the same cases).
pub fn proof_from_abi(p: &abi::SmtProof) -> Option<SmtProof> {
    let terminal = match p.terminal {
        0 if p.value.is_zero() && p.otherKey.is_zero() && p.otherValue.is_zero() => Terminal::Empty,
        1 if p.otherKey.is_zero() && p.otherValue.is_zero() => Terminal::Leaf { value: p.value },
        2 if p.value.is_zero() => Terminal::Other { key: p.otherKey, value: p.otherValue },
        _ => return None,
    };
    Some(SmtProof { siblings: p.siblings.clone(), terminal })
}

/// A state that records a proof for every access, against the root at that moment.
struct WitnessRecorder<S> {
    tree: SparseMerkleTree<OverlayNodeStore<S>>,
    root: B256,
    accesses: Vec<SmtProof>,
}

impl<S: NodeStore> StateAccess for WitnessRecorder<S> {
    type Error = TreeError;

    fn read(&mut self, key: B256) -> Result<B256, TreeError> {
        let proof = self.tree.prove(&self.root, &key)?;
        let value = proof.value();
        self.accesses.push(proof);
        Ok(value)
    }

    fn update(
        &mut self,
        key: B256,
        new_value: impl FnOnce(B256) -> B256,
    ) -> Result<B256, TreeError> {
        let proof = self.tree.prove(&self.root, &key)?;
        let old = proof.value();
        self.accesses.push(proof);
        self.root = self.tree.update_overlay(&self.root, [(key, new_value(old))])?;
        Ok(old)
    }
}

/// A produced witness with what the step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenStep {
    /// The witness.
    pub witness: StepWitness,
    /// The root after the step.
    pub root_after: B256,
    /// What the step did.
    pub outcome: Outcome,
}

/// Produce the witness of `step` from the state under `root_before` (whose nodes `store` holds).
/// `tx_proof` is the record's inclusion proof (ignored for an inbox step).
pub fn prove_step<S: NodeStore>(
    config: &ChainConfig,
    store: S,
    root_before: B256,
    step: Step<'_>,
    tx_proof: Vec<B256>,
) -> Result<ProvenStep, TreeError> {
    let mut recorder = WitnessRecorder {
        tree: SparseMerkleTree::new(OverlayNodeStore::new(store)),
        root: root_before,
        accesses: Vec::new(),
    };
    let outcome = apply_step(config, step, &mut recorder)?;
    let accesses = recorder.accesses;
    let witness = match step {
        Step::Inbox(entry) => StepWitness::Inbox { entry: *entry, accesses },
        Step::Record(prepared) => {
            StepWitness::Record { record: prepared.record, tx_proof, accesses }
        }
    };
    Ok(ProvenStep { witness, root_after: recorder.root, outcome })
}

/// A state that takes each access's proof from a witness and checks it: the prover's view.
struct ProofConsumer<'a> {
    root: B256,
    proofs: &'a [SmtProof],
    used: usize,
}

impl ProofConsumer<'_> {
    fn next(&mut self, key: &B256) -> Result<&SmtProof, WitnessError> {
        let index = self.used;
        let proof = self.proofs.get(index).ok_or(WitnessError::MissingAccess(self.proofs.len()))?;
        proof.verify(&self.root, key).map_err(|error| WitnessError::BadProof { index, error })?;
        self.used += 1;
        Ok(proof)
    }
}

impl StateAccess for ProofConsumer<'_> {
    type Error = WitnessError;

    fn read(&mut self, key: B256) -> Result<B256, WitnessError> {
        Ok(self.next(&key)?.value())
    }

    fn update(
        &mut self,
        key: B256,
        new_value: impl FnOnce(B256) -> B256,
    ) -> Result<B256, WitnessError> {
        let index = self.used;
        let proof = self.next(&key)?;
        let old = proof.value();
        self.root = proof
            .updated_root(&key, &new_value(old))
            .map_err(|error| WitnessError::BadProof { index, error })?;
        Ok(old)
    }
}

/// Execute a witness as the OneStepProver does: check the step's data against what L1 stores,
/// run the STF over the witness's proofs, and return the root after the step.
pub fn execute_witness(
    config: &ChainConfig,
    context: &StepContext,
    root_before: B256,
    witness: &StepWitness,
) -> Result<(B256, Outcome), WitnessError> {
    let domain = Domain::new(*config);
    let prepared;
    let step = match (context, witness) {
        (StepContext::Inbox { entry_hash }, StepWitness::Inbox { entry, .. }) => {
            if entry.hash() != *entry_hash {
                return Err(WitnessError::EntryMismatch);
            }
            Step::Inbox(entry)
        }
        (
            StepContext::Record { tx_root, index, count },
            StepWitness::Record { record, tx_proof, .. },
        ) => {
            if !verify_tx_proof(tx_root, *count, *index, &record.hash(), tx_proof) {
                return Err(WitnessError::RecordNotInBatch);
            }
            prepared = domain.prepare(*record);
            Step::Record(&prepared)
        }
        _ => return Err(WitnessError::WrongStepKind),
    };
    let mut consumer = ProofConsumer { root: root_before, proofs: witness.accesses(), used: 0 };
    let outcome = apply_step(config, step, &mut consumer)?;
    if consumer.used != consumer.proofs.len() {
        return Err(WitnessError::UnusedAccesses {
            given: consumer.proofs.len(),
            used: consumer.used,
        });
    }
    Ok((consumer.root, outcome))
}

/// Produce the witness of step `k` of a batch whose pre-state root is `pre_root` (its nodes in
/// `store`): replay steps `0..k` on a scratch overlay to reach `R_k`, then record step `k`.
/// Returns the context the prover will get from L1 along with the witness. `tx_tree` must be
/// the tree of the batch's records.
pub fn prove_batch_step<S: NodeStore>(
    config: &ChainConfig,
    store: S,
    pre_root: B256,
    batch: &BatchSteps,
    tx_tree: &TxTree,
    k: usize,
) -> Result<Option<(StepContext, ProvenStep)>, TreeError> {
    let Some(step) = batch.step(k) else { return Ok(None) };
    let mut replay = RootedState::new(store, pre_root);
    for earlier in batch.steps().take(k) {
        apply_step(config, earlier, &mut replay)?;
    }
    let root_k = replay.commit()?;
    let m = batch.entries.len();
    let (context, tx_proof) = match step {
        Step::Inbox(entry) => (StepContext::Inbox { entry_hash: entry.hash() }, Vec::new()),
        Step::Record(_) => (
            StepContext::Record { tx_root: tx_tree.root(), index: k - m, count: tx_tree.len() },
            tx_tree.proof(k - m).unwrap_or_default(),
        ),
    };
    let proven = prove_step(config, replay.store(), root_k, step, tx_proof)?;
    Ok(Some((context, proven)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn config() -> ChainConfig {
        ChainConfig {
            l2_chain_id: 1,
            rollup_address: Address::repeat_byte(1),
            fee_recipient: Address::repeat_byte(2),
        }
    }

    proptest! {
        /// Random bytes never panic the decoder, and a witness that decodes never panics the
        /// prover mirror nor proves anything against a random root.
        #[test]
        fn random_witness_bytes_are_rejected(bytes in proptest::collection::vec(any::<u8>(), 0..2_000), root in any::<[u8; 32]>()) {
            if let Ok(w) = StepWitness::abi_decode(&bytes) {
                let ctx = StepContext::Inbox { entry_hash: B256::ZERO };
                let _ = execute_witness(&config(), &ctx, B256::from(root), &w);
            }
        }

        /// Well-formed ABI with random contents: decodes or errors, and never verifies against a
        /// root it was not made for.
        #[test]
        fn random_abi_witnesses_do_not_verify(
            siblings in proptest::collection::vec(any::<[u8; 32]>(), 0..40),
            terminal in 0u8..5,
            value in any::<[u8; 32]>(),
            amount in any::<u128>(),
            root in any::<[u8; 32]>(),
        ) {
            let proof = abi::SmtProof {
                value: B256::from(value),
                terminal,
                otherKey: B256::ZERO,
                otherValue: B256::ZERO,
                siblings: siblings.into_iter().map(B256::from).collect(),
            };
            let entry = InboxEntry { kind: InboxKind::Deposit, sender: Address::ZERO, recipient: Address::ZERO, token: Address::ZERO, amount };
            let w = abi::StepWitness { record: Bytes::new(), txProof: vec![], entry: entry_to_abi(&entry), accesses: vec![proof] };
            if let Ok(w) = StepWitness::abi_decode(&w.abi_encode()) {
                let ctx = StepContext::Inbox { entry_hash: entry.hash() };
                let result = execute_witness(&config(), &ctx, B256::from(root), &w);
                prop_assert!(result.is_err());
            }
        }
    }
}
