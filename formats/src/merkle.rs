//! RFC 6962 (RFC 9162) Merkle tree hashing.
//!
//! `MTH({}) = SHA-256("")`, leaf `SHA-256(0x00 || d)`, node `SHA-256(0x01 || left || right)`, split
//! at the largest power of two smaller than n; odd nodes are promoted, never duplicated.

use sha2::{Digest, Sha256};

use crate::chain::Hash32;

pub fn leaf_hash(data: &[u8]) -> Hash32 {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

pub fn empty_root() -> Hash32 {
    Sha256::digest([]).into()
}

/// Incremental RFC 6962 tree over leaf hashes (a compact range: one hash per set bit of the size).
#[derive(Debug, Clone, Default)]
pub struct MerkleBuilder {
    /// Perfect subtree roots, largest first; sizes are the set bits of `size`.
    stack: Vec<(u64, Hash32)>,
    size: u64,
}

impl MerkleBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf given its *data* (hashed as a leaf).
    pub fn push_data(&mut self, data: &[u8]) {
        self.push_leaf_hash(leaf_hash(data));
    }

    /// Appends an already computed leaf hash.
    pub fn push_leaf_hash(&mut self, leaf: Hash32) {
        let mut node = (1u64, leaf);
        while let Some(&(sz, top)) = self.stack.last() {
            if sz != node.0 {
                break;
            }
            self.stack.pop();
            node = (sz * 2, node_hash(&top, &node.1));
        }
        self.stack.push(node);
        self.size += 1;
    }

    /// Appends the root of a perfect subtree of `size` leaves (a power of two), which must start
    /// at a multiple of `size`: the same tree as pushing its leaves one by one. Returns false,
    /// and changes nothing, when `size` is not a power of two or the tree's size is not a
    /// multiple of it.
    pub fn push_subtree(&mut self, size: u64, root: Hash32) -> bool {
        if !size.is_power_of_two() || !self.size.is_multiple_of(size) {
            return false;
        }
        let mut node = (size, root);
        while let Some(&(sz, top)) = self.stack.last() {
            if sz != node.0 {
                break;
            }
            self.stack.pop();
            node = (sz * 2, node_hash(&top, &node.1));
        }
        self.stack.push(node);
        self.size += size;
        true
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 6962 root of everything pushed so far.
    pub fn root(&self) -> Hash32 {
        let mut iter = self.stack.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_root();
        };
        for (_, h) in iter {
            acc = node_hash(h, &acc);
        }
        acc
    }
}

/// The root over a list of leaf data items.
pub fn root_of<T: AsRef<[u8]>>(items: &[T]) -> Hash32 {
    let mut b = MerkleBuilder::new();
    for i in items {
        b.push_data(i.as_ref());
    }
    b.root()
}

/// The 8-leaf reference tree of transparency-dev/merkle `testonly/constants.go`
/// (also google/certificate-transparency `merkle_tree_test.cc`), leaf data in hex.
pub const REFERENCE_LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];
/// The roots of the first 0 to 8 [`REFERENCE_LEAVES`] (hex): what any RFC 6962
/// implementation (ours, the bundle's `verify.py`) must compute.
pub const REFERENCE_ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_roots_for_every_prefix() {
        let leaves: Vec<Vec<u8>> = REFERENCE_LEAVES
            .iter()
            .map(|h| hex::decode(h).unwrap())
            .collect();
        for n in 0..=8 {
            assert_eq!(
                hex::encode(root_of(&leaves[..n])),
                REFERENCE_ROOTS[n],
                "n = {n}"
            );
        }
    }

    /// Recursive definition straight from RFC 6962 section 2.1, to cross-check larger sizes.
    fn mth(leaves: &[Hash32]) -> Hash32 {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = n.next_power_of_two() / 2;
                let k = if k == n { n / 2 } else { k };
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn incremental_matches_recursive_definition() {
        let leaves: Vec<Hash32> = (0u32..300).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut b = MerkleBuilder::new();
        for (i, l) in leaves.iter().enumerate() {
            b.push_leaf_hash(*l);
            if i % 7 == 0 || i == 299 {
                assert_eq!(b.root(), mth(&leaves[..=i]), "size {}", i + 1);
            }
        }
    }

    #[test]
    fn a_subtree_pushed_whole_is_the_same_tree_as_its_leaves() {
        let leaves: Vec<Hash32> = (0u32..200).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        // Runs of 1, 2, 4, 8, 16, 32 leaves, each pushed whole where it is aligned; every
        // prefix that ends a run has the root of the recursive definition.
        let mut b = MerkleBuilder::new();
        let mut at = 0usize;
        for size in [4usize, 4, 8, 16, 32, 1, 1, 2, 4, 8, 16, 32, 64] {
            let run = &leaves[at..at + size];
            let mut sub = MerkleBuilder::new();
            for l in run {
                sub.push_leaf_hash(*l);
            }
            assert!(
                b.push_subtree(size as u64, sub.root()),
                "at {at}, size {size}"
            );
            at += size;
            assert_eq!(b.size(), at as u64);
            assert_eq!(b.root(), mth(&leaves[..at]), "size {at}");
        }
        // Not aligned, or not a power of two: refused, the tree unchanged.
        let before = (b.size(), b.root());
        assert!(!b.push_subtree(3, leaves[0]));
        b.push_leaf_hash(leaves[at]);
        let before_unaligned = (b.size(), b.root());
        assert!(!b.push_subtree(2, leaves[0]));
        assert_eq!((b.size(), b.root()), before_unaligned);
        assert_ne!(before, before_unaligned);
    }
}
