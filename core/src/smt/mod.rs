//! The compact sparse Merkle tree that commits to Keel's state (`docs/protocol.md` §4).
//!
//! An empty subtree hashes to zero, a subtree with exactly one leaf is that leaf's hash wherever
//! it sits, any other subtree is `keccak(0x01 ‖ left ‖ right)`. Nodes are stored by their hash
//! behind [`NodeStore`], so every root ever computed stays readable as long as its nodes are kept:
//! that is how the sequencer and verifiers read the state before any unfinalized batch.
//!
//! Writes are applied in batches ([`SparseMerkleTree::update`]): each touched node is hashed once
//! per batch however many of the batch's keys pass through it, and independent subtrees are
//! hashed on separate cores.

mod proof;

pub use proof::{ProofError, SmtProof, Terminal};

use std::sync::Arc;

use alloy_primitives::{keccak256, map::B256Map, B256};

/// Below this many writes a subtree is updated on the current thread.
const PARALLEL_THRESHOLD: usize = 2_048;

/// A stored node: the preimage of a node hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    /// A subtree with one leaf.
    Leaf {
        /// The leaf's key.
        key: B256,
        /// The leaf's value.
        value: B256,
    },
    /// A subtree with two or more leaves.
    Internal {
        /// Hash of the subtree whose next bit is 0.
        left: B256,
        /// Hash of the subtree whose next bit is 1.
        right: B256,
    },
}

impl Node {
    /// The node's hash.
    pub fn hash(&self) -> B256 {
        match self {
            Self::Leaf { key, value } => hash_leaf(key, value),
            Self::Internal { left, right } => hash_internal(left, right),
        }
    }
}

/// `keccak(0x00 ‖ key ‖ value)`.
#[inline]
pub fn hash_leaf(key: &B256, value: &B256) -> B256 {
    let mut buf = [0u8; 65];
    buf[1..33].copy_from_slice(key.as_slice());
    buf[33..65].copy_from_slice(value.as_slice());
    keccak256(buf)
}

/// `keccak(0x01 ‖ left ‖ right)`.
#[inline]
pub fn hash_internal(left: &B256, right: &B256) -> B256 {
    let mut buf = [0u8; 65];
    buf[0] = 1;
    buf[1..33].copy_from_slice(left.as_slice());
    buf[33..65].copy_from_slice(right.as_slice());
    keccak256(buf)
}

/// Bit `depth` of `key`, bit 0 being the most significant.
#[inline]
pub(crate) fn bit(key: &B256, depth: usize) -> bool {
    (key.0[depth / 8] >> (7 - depth % 8)) & 1 == 1
}

/// How many leading bits two keys share (256 if equal).
pub(crate) fn common_prefix_len(a: &B256, b: &B256) -> usize {
    for i in 0..32 {
        let x = a.0[i] ^ b.0[i];
        if x != 0 {
            return i * 8 + x.leading_zeros() as usize;
        }
    }
    256
}

/// A failure to read the tree.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A node the root refers to is not in the store (pruned, or the root is unknown).
    #[error("tree node {0} is not in the node store")]
    MissingNode(B256),
    /// The store itself failed.
    #[error("node store failed: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Read access to nodes by hash. Implemented over memory here; the services may implement it
/// over a database.
pub trait NodeStore: Sync {
    /// The node whose hash is `hash`, if stored.
    fn node(&self, hash: &B256) -> Result<Option<Node>, TreeError>;
}

/// A node store in memory.
#[derive(Clone, Debug, Default)]
pub struct MemoryNodeStore {
    nodes: B256Map<Node>,
}

impl MemoryNodeStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add nodes.
    pub fn insert_all(&mut self, nodes: impl IntoIterator<Item = (B256, Node)>) {
        self.nodes.extend(nodes);
    }

    /// How many nodes are stored.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node is stored.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

impl NodeStore for MemoryNodeStore {
    fn node(&self, hash: &B256) -> Result<Option<Node>, TreeError> {
        Ok(self.nodes.get(hash).copied())
    }
}

impl<S: NodeStore + Send> NodeStore for Arc<S> {
    fn node(&self, hash: &B256) -> Result<Option<Node>, TreeError> {
        (**self).node(hash)
    }
}

impl<S: NodeStore + ?Sized> NodeStore for &S {
    fn node(&self, hash: &B256) -> Result<Option<Node>, TreeError> {
        (**self).node(hash)
    }
}

/// A store that reads through to a base store and keeps its own additions: a scratch copy of a
/// tree on which writes can be tried without touching the base (used for witnesses).
#[derive(Debug)]
pub struct OverlayNodeStore<S> {
    base: S,
    added: MemoryNodeStore,
}

impl<S: NodeStore> OverlayNodeStore<S> {
    /// An overlay with nothing added.
    pub fn new(base: S) -> Self {
        Self { base, added: MemoryNodeStore::new() }
    }
}

impl<S: NodeStore> NodeStore for OverlayNodeStore<S> {
    fn node(&self, hash: &B256) -> Result<Option<Node>, TreeError> {
        match self.added.node(hash)? {
            Some(n) => Ok(Some(n)),
            None => self.base.node(hash),
        }
    }
}

/// The result of a batched update: the new root and the nodes it created, which the caller
/// stores so the new root can be read.
#[derive(Clone, Debug, Default)]
pub struct TreeUpdate {
    /// The root after the writes.
    pub root: B256,
    /// Nodes created by the update, by hash.
    pub nodes: Vec<(B256, Node)>,
}

/// Tree operations over a node store.
#[derive(Clone, Debug, Default)]
pub struct SparseMerkleTree<S> {
    store: S,
}

impl<S: NodeStore> SparseMerkleTree<S> {
    /// A tree over a store.
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// The node store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The node store, mutably.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    fn load(&self, hash: &B256) -> Result<Node, TreeError> {
        self.store.node(hash)?.ok_or(TreeError::MissingNode(*hash))
    }

    /// The value of `key` under `root` (zero when it has no leaf).
    pub fn get(&self, root: &B256, key: &B256) -> Result<B256, TreeError> {
        let mut node = *root;
        let mut depth = 0;
        loop {
            if node.is_zero() {
                return Ok(B256::ZERO);
            }
            match self.load(&node)? {
                Node::Leaf { key: k, value } => {
                    return Ok(if k == *key { value } else { B256::ZERO });
                }
                Node::Internal { left, right } => {
                    node = if bit(key, depth) { right } else { left };
                    depth += 1;
                }
            }
        }
    }

    /// A proof of `key`'s value under `root`.
    pub fn prove(&self, root: &B256, key: &B256) -> Result<SmtProof, TreeError> {
        let mut siblings = Vec::new();
        let mut node = *root;
        loop {
            if node.is_zero() {
                return Ok(SmtProof { siblings, terminal: Terminal::Empty });
            }
            match self.load(&node)? {
                Node::Leaf { key: k, value } => {
                    let terminal = if k == *key {
                        Terminal::Leaf { value }
                    } else {
                        Terminal::Other { key: k, value }
                    };
                    return Ok(SmtProof { siblings, terminal });
                }
                Node::Internal { left, right } => {
                    let (next, sibling) =
                        if bit(key, siblings.len()) { (right, left) } else { (left, right) };
                    siblings.push(sibling);
                    node = next;
                }
            }
        }
    }

    /// Compute the root after `writes` (key, value) under `root`, without storing anything.
    /// `writes` may be in any order; a later write of a key wins over an earlier one.
    pub fn compute_update(
        &self,
        root: &B256,
        writes: impl IntoIterator<Item = (B256, B256)>,
    ) -> Result<TreeUpdate, TreeError> {
        let mut sorted: Vec<(B256, B256)> = writes.into_iter().collect();
        // A stable sort keeps the write order among equal keys; keep the last of each run.
        sorted.sort_by_key(|w| w.0);
        let mut unique: Vec<(B256, B256)> = Vec::with_capacity(sorted.len());
        for w in sorted {
            match unique.last_mut() {
                Some(last) if last.0 == w.0 => *last = w,
                _ => unique.push(w),
            }
        }
        let mut nodes = Vec::with_capacity(unique.len() * 4);
        let root = self.update_subtree(*root, 0, &unique, &mut nodes)?;
        Ok(TreeUpdate { root, nodes })
    }

    fn update_subtree(
        &self,
        node: B256,
        depth: usize,
        writes: &[(B256, B256)],
        out: &mut Vec<(B256, Node)>,
    ) -> Result<B256, TreeError> {
        if writes.is_empty() {
            return Ok(node);
        }
        if node.is_zero() {
            return Ok(build_subtree(depth, writes, out));
        }
        match self.load(&node)? {
            Node::Leaf { key, value } => {
                // The existing leaf joins the writes unless one of them overwrites it.
                match writes.binary_search_by(|w| w.0.cmp(&key)) {
                    Ok(_) => Ok(build_subtree(depth, writes, out)),
                    Err(pos) => {
                        let mut merged = Vec::with_capacity(writes.len() + 1);
                        merged.extend_from_slice(&writes[..pos]);
                        merged.push((key, value));
                        merged.extend_from_slice(&writes[pos..]);
                        Ok(build_subtree(depth, &merged, out))
                    }
                }
            }
            Node::Internal { left, right } => {
                let split = writes.partition_point(|w| !bit(&w.0, depth));
                let (lw, rw) = writes.split_at(split);
                let (new_left, new_right) = if writes.len() >= PARALLEL_THRESHOLD {
                    let mut right_out = Vec::new();
                    let (l, r) = rayon::join(
                        || self.update_subtree(left, depth + 1, lw, out),
                        || self.update_subtree(right, depth + 1, rw, &mut right_out),
                    );
                    out.append(&mut right_out);
                    (l?, r?)
                } else {
                    (
                        self.update_subtree(left, depth + 1, lw, out)?,
                        self.update_subtree(right, depth + 1, rw, out)?,
                    )
                };
                Ok(push_internal(new_left, new_right, out))
            }
        }
    }
}

impl SparseMerkleTree<MemoryNodeStore> {
    /// Apply `writes` under `root`, store the new nodes, and return the new root.
    pub fn update(
        &mut self,
        root: &B256,
        writes: impl IntoIterator<Item = (B256, B256)>,
    ) -> Result<B256, TreeError> {
        let update = self.compute_update(root, writes)?;
        self.store.insert_all(update.nodes);
        Ok(update.root)
    }
}

impl<S: NodeStore> SparseMerkleTree<OverlayNodeStore<S>> {
    /// Apply `writes` under `root` in the overlay and return the new root.
    pub fn update_overlay(
        &mut self,
        root: &B256,
        writes: impl IntoIterator<Item = (B256, B256)>,
    ) -> Result<B256, TreeError> {
        let update = self.compute_update(root, writes)?;
        self.store.added.insert_all(update.nodes);
        Ok(update.root)
    }
}

fn push_internal(left: B256, right: B256, out: &mut Vec<(B256, Node)>) -> B256 {
    let h = hash_internal(&left, &right);
    out.push((h, Node::Internal { left, right }));
    h
}

/// The subtree at `depth` holding exactly `leaves` (sorted, unique, non-empty).
fn build_subtree(depth: usize, leaves: &[(B256, B256)], out: &mut Vec<(B256, Node)>) -> B256 {
    if let [(key, value)] = leaves {
        let h = hash_leaf(key, value);
        out.push((h, Node::Leaf { key: *key, value: *value }));
        return h;
    }
    let split = leaves.partition_point(|w| !bit(&w.0, depth));
    let (l, r) = leaves.split_at(split);
    let left = if l.is_empty() { B256::ZERO } else { build_subtree(depth + 1, l, out) };
    let right = if r.is_empty() { B256::ZERO } else { build_subtree(depth + 1, r, out) };
    push_internal(left, right, out)
}

/// The root of a tree holding exactly `leaves`, computed from scratch by the definition. A
/// reference for tests; real code updates incrementally.
pub fn reference_root(leaves: &[(B256, B256)]) -> B256 {
    fn rec(depth: usize, leaves: &[(B256, B256)]) -> B256 {
        match leaves {
            [] => B256::ZERO,
            [(k, v)] => hash_leaf(k, v),
            _ => {
                let (l, r): (Vec<_>, Vec<_>) = leaves.iter().partition(|(k, _)| !bit(k, depth));
                hash_internal(&rec(depth + 1, &l), &rec(depth + 1, &r))
            }
        }
    }
    let mut map: std::collections::BTreeMap<B256, B256> = Default::default();
    map.extend(leaves.iter().copied());
    let v: Vec<_> = map.into_iter().collect();
    rec(0, &v)
}

#[cfg(test)]
mod tests;
