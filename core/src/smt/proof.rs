//! Sparse Merkle proofs: what a proof says, how anyone checks it against a root, and how a
//! write moves the root using nothing but the proof (`docs/protocol.md` §4). The Solidity
//! library implements these same three functions.

use alloy_primitives::B256;
use serde::{Deserialize, Serialize};

use super::{bit, common_prefix_len, hash_internal, hash_leaf};

/// Where a key's path ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Terminal {
    /// An empty subtree: the key has no leaf (value zero).
    Empty,
    /// The key's own leaf, holding `value`.
    Leaf {
        /// The key's value.
        value: B256,
    },
    /// Another key's leaf: the key has no leaf (value zero).
    Other {
        /// That leaf's key.
        key: B256,
        /// That leaf's value.
        value: B256,
    },
}

impl Terminal {
    /// The code used in the ABI form: 0 empty, 1 own leaf, 2 another key's leaf.
    pub fn code(&self) -> u8 {
        match self {
            Self::Empty => 0,
            Self::Leaf { .. } => 1,
            Self::Other { .. } => 2,
        }
    }
}

/// A proof of a key's value: the siblings of its path from the root down, and how the path ends.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SmtProof {
    /// `siblings[i]` is the sibling of the path node at depth `i + 1`.
    pub siblings: Vec<B256>,
    /// How the path ends.
    pub terminal: Terminal,
}

/// Why a proof does not prove a key's value against a root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// More than 256 siblings.
    #[error("a proof has at most 256 siblings, got {0}")]
    TooDeep(usize),
    /// The folded proof does not give the root.
    #[error("the proof leads to root {computed}, not {expected}")]
    RootMismatch {
        /// The root the state commits to.
        expected: B256,
        /// The root the proof folds to.
        computed: B256,
    },
    /// Terminal "another key's leaf" names the key itself, or a key off the path.
    #[error("the neighbouring leaf of a non-inclusion proof is the key itself or off its path")]
    BadNeighbour,
    /// The last sibling is empty, which a canonical tree never has.
    #[error("the proof is not canonical: its last sibling is empty")]
    NotCanonical,
}

impl SmtProof {
    /// The value the proof claims for its key (zero when the key has no leaf).
    pub fn value(&self) -> B256 {
        match self.terminal {
            Terminal::Leaf { value } => value,
            Terminal::Empty | Terminal::Other { .. } => B256::ZERO,
        }
    }

    fn check_shape(&self, key: &B256) -> Result<(), ProofError> {
        let d = self.siblings.len();
        if d > 256 {
            return Err(ProofError::TooDeep(d));
        }
        if let Terminal::Other { key: other, .. } = &self.terminal {
            if other == key || common_prefix_len(key, other) < d {
                return Err(ProofError::BadNeighbour);
            }
        }
        if d > 0 && self.siblings[d - 1].is_zero() {
            return Err(ProofError::NotCanonical);
        }
        Ok(())
    }

    fn fold(&self, key: &B256, mut node: B256) -> B256 {
        for (depth, sibling) in self.siblings.iter().enumerate().rev() {
            node = if bit(key, depth) {
                hash_internal(sibling, &node)
            } else {
                hash_internal(&node, sibling)
            };
        }
        node
    }

    fn terminal_hash(&self, key: &B256) -> B256 {
        match &self.terminal {
            Terminal::Empty => B256::ZERO,
            Terminal::Leaf { value } => hash_leaf(key, value),
            Terminal::Other { key, value } => hash_leaf(key, value),
        }
    }

    /// Check that this proves `key`'s value against `root`; return that value.
    pub fn verify(&self, root: &B256, key: &B256) -> Result<B256, ProofError> {
        self.check_shape(key)?;
        let computed = self.fold(key, self.terminal_hash(key));
        if computed != *root {
            return Err(ProofError::RootMismatch { expected: *root, computed });
        }
        Ok(self.value())
    }

    /// The root after setting `key` to `value`, in the tree this proof verifies against. Call
    /// [`SmtProof::verify`] first: this checks the proof's shape but not that it matches a root.
    pub fn updated_root(&self, key: &B256, value: &B256) -> Result<B256, ProofError> {
        self.check_shape(key)?;
        let new_leaf = hash_leaf(key, value);
        let terminal = match &self.terminal {
            Terminal::Empty | Terminal::Leaf { .. } => new_leaf,
            Terminal::Other { key: other, value: other_value } => {
                let split = common_prefix_len(key, other);
                let other_leaf = hash_leaf(other, other_value);
                let mut node = if bit(key, split) {
                    hash_internal(&other_leaf, &new_leaf)
                } else {
                    hash_internal(&new_leaf, &other_leaf)
                };
                for depth in (self.siblings.len()..split).rev() {
                    node = if bit(key, depth) {
                        hash_internal(&B256::ZERO, &node)
                    } else {
                        hash_internal(&node, &B256::ZERO)
                    };
                }
                node
            }
        };
        Ok(self.fold(key, terminal))
    }
}
