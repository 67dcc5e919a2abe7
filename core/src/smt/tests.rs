use proptest::prelude::*;

use super::*;

fn key_with_prefix(prefix: &B256, shared_bits: usize, tail: u8) -> B256 {
    // Same first `shared_bits` bits as `prefix`, then the opposite bit, then `tail` bytes.
    let mut k = *prefix;
    let flip = shared_bits.min(255);
    k.0[flip / 8] ^= 1 << (7 - flip % 8);
    for i in (flip / 8 + 1)..32 {
        k.0[i] = tail.wrapping_add(i as u8);
    }
    k
}

fn arb_b256() -> impl Strategy<Value = B256> {
    proptest::array::uniform32(any::<u8>()).prop_map(B256::from)
}

/// Keys that are random or share long prefixes with a base key, so splits happen deep down.
fn arb_keys() -> impl Strategy<Value = Vec<(B256, B256)>> {
    (
        arb_b256(),
        proptest::collection::vec(
            (0usize..256, any::<u8>(), any::<bool>(), arb_b256(), arb_b256()),
            0..40,
        ),
    )
        .prop_map(|(base, specs)| {
            specs
                .into_iter()
                .map(|(shared, tail, random, rk, v)| {
                    let k = if random { rk } else { key_with_prefix(&base, shared, tail) };
                    (k, v)
                })
                .collect()
        })
}

#[test]
fn empty_tree_has_zero_root_and_zero_values() {
    let tree = SparseMerkleTree::new(MemoryNodeStore::new());
    let key = B256::repeat_byte(1);
    assert_eq!(tree.get(&B256::ZERO, &key).expect("empty"), B256::ZERO);
    let proof = tree.prove(&B256::ZERO, &key).expect("empty");
    assert_eq!(proof.siblings.len(), 0);
    assert_eq!(proof.verify(&B256::ZERO, &key), Ok(B256::ZERO));
}

#[test]
fn one_leaf_root_is_its_leaf_hash_and_zero_value_is_a_leaf() {
    let mut tree = SparseMerkleTree::new(MemoryNodeStore::new());
    let key = B256::repeat_byte(1);
    let root = tree.update(&B256::ZERO, [(key, B256::ZERO)]).expect("update");
    assert_eq!(root, hash_leaf(&key, &B256::ZERO));
    assert_ne!(root, B256::ZERO);
}

#[test]
fn keys_differing_only_in_last_bit_split_at_depth_255() {
    let mut tree = SparseMerkleTree::new(MemoryNodeStore::new());
    let a = B256::ZERO;
    let mut b = B256::ZERO;
    b.0[31] = 1;
    let va = B256::repeat_byte(0xAA);
    let vb = B256::repeat_byte(0xBB);
    let root = tree.update(&B256::ZERO, [(a, va), (b, vb)]).expect("update");
    assert_eq!(root, reference_root(&[(a, va), (b, vb)]));
    let pa = tree.prove(&root, &a).expect("prove");
    assert_eq!(pa.siblings.len(), 256);
    assert_eq!(pa.verify(&root, &a), Ok(va));
    // Split by proof: insert b into a tree holding only a.
    let root_a = tree.update(&B256::ZERO, [(a, va)]).expect("update");
    let proof_b = tree.prove(&root_a, &b).expect("prove");
    assert_eq!(proof_b.terminal, Terminal::Other { key: a, value: va });
    assert_eq!(proof_b.updated_root(&b, &vb), Ok(root));
}

#[test]
fn tampered_proofs_are_rejected() {
    let mut tree = SparseMerkleTree::new(MemoryNodeStore::new());
    let leaves: Vec<(B256, B256)> =
        (0..20u8).map(|i| (crate::keccak256([i]), B256::repeat_byte(i + 1))).collect();
    let root = tree.update(&B256::ZERO, leaves.clone()).expect("update");
    let (key, value) = leaves[3];
    let proof = tree.prove(&root, &key).expect("prove");
    assert_eq!(proof.verify(&root, &key), Ok(value));

    let mut wrong_value = proof.clone();
    wrong_value.terminal = Terminal::Leaf { value: B256::repeat_byte(9) };
    assert!(matches!(wrong_value.verify(&root, &key), Err(ProofError::RootMismatch { .. })));

    let mut wrong_sibling = proof.clone();
    wrong_sibling.siblings[0] = B256::repeat_byte(7);
    assert!(wrong_sibling.verify(&root, &key).is_err());

    let mut claims_absent = proof.clone();
    claims_absent.terminal = Terminal::Empty;
    assert!(claims_absent.verify(&root, &key).is_err());

    let mut empty_last = proof.clone();
    empty_last.siblings.push(B256::ZERO);
    assert_eq!(empty_last.verify(&root, &key), Err(ProofError::NotCanonical));

    // A proof of another key does not prove this one.
    let other = tree.prove(&root, &leaves[4].0).expect("prove");
    assert!(other.verify(&root, &key).is_err());
}

#[test]
fn neighbour_must_be_on_the_path_and_not_the_key() {
    let mut tree = SparseMerkleTree::new(MemoryNodeStore::new());
    let a = B256::repeat_byte(0x0F);
    let root = tree.update(&B256::ZERO, [(a, B256::repeat_byte(1))]).expect("update");
    let proof = SmtProof {
        siblings: vec![],
        terminal: Terminal::Other { key: a, value: B256::repeat_byte(1) },
    };
    assert_eq!(proof.verify(&root, &a), Err(ProofError::BadNeighbour));
    let b = B256::repeat_byte(0xF0);
    assert_eq!(proof.verify(&root, &b), Ok(B256::ZERO));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Batched updates in several rounds give the root the definition gives for the final map,
    /// and every key (present or absent) has a proof that verifies and updates like the batch.
    #[test]
    fn batched_updates_match_reference(rounds in proptest::collection::vec(arb_keys(), 1..4), probe in arb_b256()) {
        let mut tree = SparseMerkleTree::new(MemoryNodeStore::new());
        let mut root = B256::ZERO;
        let mut all: std::collections::BTreeMap<B256, B256> = Default::default();
        for writes in rounds {
            root = tree.update(&root, writes.clone()).expect("update");
            all.extend(writes);
            let leaves: Vec<_> = all.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(root, reference_root(&leaves));
        }
        for (k, v) in all.iter().take(10).chain(std::iter::once((&probe, &B256::ZERO))) {
            let expected = all.get(k).copied().unwrap_or_default();
            prop_assert_eq!(tree.get(&root, k).expect("get"), expected);
            let proof = tree.prove(&root, k).expect("prove");
            prop_assert_eq!(proof.verify(&root, k), Ok(expected));
            // Writing through the proof equals writing through the tree.
            let new_value = crate::keccak256(v);
            let via_proof = proof.updated_root(k, &new_value).expect("valid proof");
            let via_tree = tree.compute_update(&root, [(*k, new_value)]).expect("update").root;
            prop_assert_eq!(via_proof, via_tree);
        }
    }

    /// A batch of writes equals the same writes applied one at a time.
    #[test]
    fn batch_equals_sequential(writes in arb_keys()) {
        let mut tree = SparseMerkleTree::new(MemoryNodeStore::new());
        let batch_root = tree.compute_update(&B256::ZERO, writes.clone()).expect("update").root;
        let mut root = B256::ZERO;
        for w in writes {
            root = tree.update(&root, [w]).expect("update");
        }
        prop_assert_eq!(batch_root, root);
    }

    /// Random proofs never panic and never verify against a random root.
    #[test]
    fn random_proofs_do_not_panic(sibs in proptest::collection::vec(arb_b256(), 0..300), key in arb_b256(), root in arb_b256(), t in 0u8..3, ok in arb_b256()) {
        let terminal = match t { 0 => Terminal::Empty, 1 => Terminal::Leaf { value: ok }, _ => Terminal::Other { key: ok, value: ok } };
        let proof = SmtProof { siblings: sibs, terminal };
        prop_assert!(proof.verify(&root, &key).is_err());
        let _ = proof.updated_root(&key, &root);
    }
}

#[test]
fn large_update_uses_parallel_path_and_matches_reference() {
    let leaves: Vec<(B256, B256)> = (0..10_000u32)
        .map(|i| (crate::keccak256(i.to_be_bytes()), B256::from(alloy_primitives::U256::from(i))))
        .collect();
    let mut tree = SparseMerkleTree::new(MemoryNodeStore::new());
    let root = tree.update(&B256::ZERO, leaves[..6_000].to_vec()).expect("update");
    let root = tree.update(&root, leaves[3_000..].to_vec()).expect("update");
    assert_eq!(root, reference_root(&leaves));
}
