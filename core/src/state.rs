//! States the STF runs over, and batch execution.
//!
//! - [`MemoryState`]: the hot state of a node: every leaf in a flat map (one hash-map lookup per
//!   read) plus the tree, whose root is brought up to date once per batch ([`MemoryState::commit`]).
//! - [`RootedState`]: the state under any stored root, read through the tree; used to replay a
//!   past batch step by step (`R_k` for a dispute) without copying the whole state.

use alloy_primitives::{map::B256Map, B256};

use crate::{
    config::ChainConfig,
    smt::{MemoryNodeStore, NodeStore, OverlayNodeStore, SparseMerkleTree, TreeError},
    stf::{apply_step, InboxEntry, Outcome, StateAccess, Step},
    tx::PreparedRecord,
};

/// The whole state in memory: flat leaves for execution, the tree for roots and proofs.
#[derive(Clone, Debug, Default)]
pub struct MemoryState {
    leaves: B256Map<B256>,
    /// Writes since the last commit, in order (the tree keeps the last write of a key).
    pending: Vec<(B256, B256)>,
    tree: SparseMerkleTree<MemoryNodeStore>,
    root: B256,
}

impl MemoryState {
    /// The empty genesis state (root zero).
    pub fn new() -> Self {
        Self::default()
    }

    /// The root as of the last [`MemoryState::commit`].
    pub fn committed_root(&self) -> B256 {
        self.root
    }

    /// Whether writes are waiting for a commit.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Bring the tree up to date with every write since the last commit; return the new root.
    /// Each touched node is hashed once, however many writes pass through it.
    pub fn commit(&mut self) -> Result<B256, TreeError> {
        if self.pending.is_empty() {
            return Ok(self.root);
        }
        let writes = std::mem::take(&mut self.pending);
        self.root = self.tree.update(&self.root, writes)?;
        Ok(self.root)
    }

    /// The current value of a key, including uncommitted writes.
    pub fn value(&self, key: &B256) -> B256 {
        self.leaves.get(key).copied().unwrap_or_default()
    }

    /// How many leaves the state has.
    pub fn leaf_count(&self) -> usize {
        self.leaves.len()
    }

    /// The tree, to read or prove under any root it has stored.
    pub fn tree(&self) -> &SparseMerkleTree<MemoryNodeStore> {
        &self.tree
    }
}

impl StateAccess for MemoryState {
    type Error = std::convert::Infallible;

    fn read(&mut self, key: B256) -> Result<B256, Self::Error> {
        Ok(self.value(&key))
    }

    fn update(
        &mut self,
        key: B256,
        new_value: impl FnOnce(B256) -> B256,
    ) -> Result<B256, Self::Error> {
        let slot = self.leaves.entry(key).or_default();
        let old = *slot;
        *slot = new_value(old);
        self.pending.push((key, *slot));
        Ok(old)
    }
}

/// The state under a given root, read through the tree; writes go to an overlay of the node
/// store and never touch the base.
#[derive(Debug)]
pub struct RootedState<S> {
    tree: SparseMerkleTree<OverlayNodeStore<S>>,
    root: B256,
    pending: B256Map<B256>,
    pending_order: Vec<(B256, B256)>,
}

impl<S: NodeStore> RootedState<S> {
    /// The state under `root`, whose nodes `store` holds.
    pub fn new(store: S, root: B256) -> Self {
        Self {
            tree: SparseMerkleTree::new(OverlayNodeStore::new(store)),
            root,
            pending: B256Map::default(),
            pending_order: Vec::new(),
        }
    }

    /// Apply the writes since the last commit to the tree; return the new root.
    pub fn commit(&mut self) -> Result<B256, TreeError> {
        if !self.pending_order.is_empty() {
            let writes = std::mem::take(&mut self.pending_order);
            self.pending.clear();
            self.root = self.tree.update_overlay(&self.root, writes)?;
        }
        Ok(self.root)
    }

    /// The root as of the last commit.
    pub fn committed_root(&self) -> B256 {
        self.root
    }

    /// The node store: the base plus every node this state has created.
    pub fn store(&self) -> &OverlayNodeStore<S> {
        self.tree.store()
    }
}

impl<S: NodeStore> StateAccess for RootedState<S> {
    type Error = TreeError;

    fn read(&mut self, key: B256) -> Result<B256, TreeError> {
        match self.pending.get(&key) {
            Some(v) => Ok(*v),
            None => self.tree.get(&self.root, &key),
        }
    }

    fn update(
        &mut self,
        key: B256,
        new_value: impl FnOnce(B256) -> B256,
    ) -> Result<B256, TreeError> {
        let old = self.read(key)?;
        let new = new_value(old);
        self.pending.insert(key, new);
        self.pending_order.push((key, new));
        Ok(old)
    }
}

/// The steps of one batch: the inbox entries it consumes, then its records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchSteps {
    /// Inbox entries `[inboxStart, inboxEnd)`, in order.
    pub entries: Vec<InboxEntry>,
    /// The records, with senders recovered.
    pub records: Vec<PreparedRecord>,
}

impl BatchSteps {
    /// Number of steps `n = m + t`.
    pub fn len(&self) -> usize {
        self.entries.len() + self.records.len()
    }

    /// Whether the batch has no step.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Step `k`, if it exists.
    pub fn step(&self, k: usize) -> Option<Step<'_>> {
        if k < self.entries.len() {
            Some(Step::Inbox(&self.entries[k]))
        } else {
            self.records.get(k - self.entries.len()).map(Step::Record)
        }
    }

    /// The steps in order.
    pub fn steps(&self) -> impl Iterator<Item = Step<'_>> {
        self.entries.iter().map(Step::Inbox).chain(self.records.iter().map(Step::Record))
    }
}

/// What executing a batch gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchExecution {
    /// `R_n`.
    pub post_root: B256,
    /// The outcome of each step.
    pub outcomes: Vec<Outcome>,
}

/// Execute a batch on the hot state and commit its post-state root.
pub fn execute_batch(
    config: &ChainConfig,
    state: &mut MemoryState,
    batch: &BatchSteps,
) -> Result<BatchExecution, TreeError> {
    let mut outcomes = Vec::with_capacity(batch.len());
    for step in batch.steps() {
        let Ok(outcome) = apply_step(config, step, state);
        outcomes.push(outcome);
    }
    Ok(BatchExecution { post_root: state.commit()?, outcomes })
}

/// `R_0 … R_n` of a batch, replayed from the pre-batch root `R_0` (whose nodes `store` holds).
pub fn step_roots<S: NodeStore>(
    config: &ChainConfig,
    store: S,
    pre_root: B256,
    batch: &BatchSteps,
) -> Result<Vec<B256>, TreeError> {
    let mut state = RootedState::new(store, pre_root);
    let mut roots = Vec::with_capacity(batch.len() + 1);
    roots.push(pre_root);
    for step in batch.steps() {
        apply_step(config, step, &mut state)?;
        roots.push(state.commit()?);
    }
    Ok(roots)
}
