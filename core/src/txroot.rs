//! The batch tx root: a binary Merkle tree over `keccak(record)` leaves, padded with zero words
//! to a power of two, internal nodes `keccak(left ‖ right)` (`docs/protocol.md` §6). L1 computes
//! it from the calldata of `appendBatch`; the one-step prover checks a record against it.

use alloy_primitives::{keccak256, B256};
use rs_merkle::{Hasher, MerkleTree};

use crate::tx::Record;

/// Keccak-256 as an `rs_merkle` hasher: `hash(left ‖ right)` with no prefix.
#[derive(Clone, Copy, Debug)]
pub struct Keccak256Hasher;

impl Hasher for Keccak256Hasher {
    type Hash = [u8; 32];

    fn hash(data: &[u8]) -> [u8; 32] {
        keccak256(data).0
    }
}

/// The tree of a batch's records, for its root and inclusion proofs.
#[derive(Clone)]
pub struct TxTree {
    tree: MerkleTree<Keccak256Hasher>,
    count: usize,
}

impl std::fmt::Debug for TxTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxTree").field("count", &self.count).field("root", &self.root()).finish()
    }
}

impl TxTree {
    /// Build the tree of `records`.
    pub fn new(records: &[Record]) -> Self {
        Self::from_leaves(records.iter().map(|r| r.hash().0).collect())
    }

    /// Build the tree from leaf hashes (`keccak(record)` each).
    pub fn from_leaves(mut leaves: Vec<[u8; 32]>) -> Self {
        let count = leaves.len();
        if count > 0 {
            leaves.resize(count.next_power_of_two(), [0u8; 32]);
        }
        Self { tree: MerkleTree::from_leaves(&leaves), count }
    }

    /// The tx root (zero for no records).
    pub fn root(&self) -> B256 {
        self.tree.root().map(B256::from).unwrap_or_default()
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The inclusion proof of record `index`: siblings from the leaf level up.
    pub fn proof(&self, index: usize) -> Option<Vec<B256>> {
        if index >= self.count {
            return None;
        }
        Some(self.tree.proof(&[index]).proof_hashes().iter().map(|h| B256::from(*h)).collect())
    }
}

/// The tx root of `records`.
pub fn tx_root(records: &[Record]) -> B256 {
    TxTree::new(records).root()
}

/// The depth of the tx tree of `count` records: `log2` of the padded size.
pub fn tx_tree_depth(count: usize) -> usize {
    if count <= 1 {
        0
    } else {
        count.next_power_of_two().trailing_zeros() as usize
    }
}

/// Whether `proof` shows that `leaf` is record `index` of the `count` records under `root`.
pub fn verify_tx_proof(
    root: &B256,
    count: usize,
    index: usize,
    leaf: &B256,
    proof: &[B256],
) -> bool {
    if index >= count || proof.len() != tx_tree_depth(count) {
        return false;
    }
    let mut node = *leaf;
    for (level, sibling) in proof.iter().enumerate() {
        let mut buf = [0u8; 64];
        if (index >> level) & 1 == 0 {
            buf[..32].copy_from_slice(node.as_slice());
            buf[32..].copy_from_slice(sibling.as_slice());
        } else {
            buf[..32].copy_from_slice(sibling.as_slice());
            buf[32..].copy_from_slice(node.as_slice());
        }
        node = keccak256(buf);
    }
    node == *root
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::RECORD_LEN;

    fn records(n: usize) -> Vec<Record> {
        (0..n).map(|i| Record([(i % 251) as u8; RECORD_LEN])).collect()
    }

    fn naive_root(records: &[Record]) -> B256 {
        if records.is_empty() {
            return B256::ZERO;
        }
        let mut level: Vec<B256> = records.iter().map(Record::hash).collect();
        level.resize(records.len().next_power_of_two(), B256::ZERO);
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|p| keccak256([p[0].as_slice(), p[1].as_slice()].concat()))
                .collect();
        }
        level[0]
    }

    #[test]
    fn roots_match_the_definition_and_proofs_verify() {
        for n in [0usize, 1, 2, 3, 5, 8, 33, 1000] {
            let recs = records(n);
            let tree = TxTree::new(&recs);
            assert_eq!(tree.root(), naive_root(&recs), "n = {n}");
            for i in (0..n).step_by((n / 7).max(1)) {
                let proof = tree.proof(i).expect("index in range");
                assert_eq!(proof.len(), tx_tree_depth(n));
                assert!(
                    verify_tx_proof(&tree.root(), n, i, &recs[i].hash(), &proof),
                    "n = {n}, i = {i}"
                );
                // The same proof does not place the record at another index or another root.
                if n > 1 {
                    assert!(
                        !verify_tx_proof(&tree.root(), n, (i + 1) % n, &recs[i].hash(), &proof)
                            || recs[i] == recs[(i + 1) % n]
                    );
                }
                assert!(!verify_tx_proof(&B256::repeat_byte(1), n, i, &recs[i].hash(), &proof));
            }
            assert!(tree.proof(n).is_none());
        }
        assert_eq!(tx_root(&records(1)), records(1)[0].hash());
    }

    #[test]
    fn padding_leaves_cannot_be_proven_as_records() {
        let recs = records(3);
        let tree = TxTree::new(&recs);
        // Index 3 is a padding word; the count rules it out even with a "valid" path.
        let proof = tree.proof(2).expect("in range");
        assert!(!verify_tx_proof(&tree.root(), 3, 3, &B256::ZERO, &proof));
    }
}
