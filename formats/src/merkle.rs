//! RFC 6962 (RFC 9162) Merkle tree hashing.
//!
//! `MTH({}) = SHA-256("")`, leaf `SHA-256(0x00 || d)`, node `SHA-256(0x01 || left || right)`, split
//! at the largest power of two smaller than n; odd nodes are promoted, never duplicated.

use sha2::{Digest, Sha256};

use crate::chain::Hash32;

pub fn leaf_hash(data: &[u8]) -> Hash32 {
    if let Ok(hash) = <&Hash32>::try_from(data) {
        return leaf_of_hash(hash);
    }
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    // 0x01 || left || right is 65 bytes: two padded blocks, the length 520 bits.
    let mut blocks = [[0u8; 64]; 2];
    blocks[0][0] = 1;
    blocks[0][1..33].copy_from_slice(left);
    blocks[0][33..].copy_from_slice(&right[..31]);
    blocks[1][0] = right[31];
    blocks[1][1] = 0x80;
    blocks[1][56..].copy_from_slice(&(65u64 * 8).to_be_bytes());
    digest_of_padded(&blocks)
}

/// The leaf hash of a 32-byte item (every leaf verify builds is a link hash): 0x00 || item is
/// 33 bytes, one padded block, the length 264 bits.
fn leaf_of_hash(item: &Hash32) -> Hash32 {
    let mut block = [0u8; 64];
    block[1..33].copy_from_slice(item);
    block[33] = 0x80;
    block[56..].copy_from_slice(&(33u64 * 8).to_be_bytes());
    digest_of_padded(&[block])
}

/// SHA-256 of a message already padded into whole blocks (FIPS 180-4 section 5.1.1): the
/// compression function straight from the initial state, without the streaming hasher's
/// buffering, for the tree's fixed-size leaves and nodes.
fn digest_of_padded(blocks: &[[u8; 64]]) -> Hash32 {
    let mut state: [u32; 8] = [
        0x6a09_e667,
        0xbb67_ae85,
        0x3c6e_f372,
        0xa54f_f53a,
        0x510e_527f,
        0x9b05_688c,
        0x1f83_d9ab,
        0x5be0_cd19,
    ];
    sha2::block_api::compress256(&mut state, blocks);
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
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
        self.push_node(1, leaf);
    }

    /// Appends the root of a perfect subtree of `size` leaves (a power of two), which must start
    /// at a multiple of `size`: the same tree as pushing its leaves one by one. Returns false,
    /// and changes nothing, when `size` is not a power of two or the tree's size is not a
    /// multiple of it.
    pub fn push_subtree(&mut self, size: u64, root: Hash32) -> bool {
        if !size.is_power_of_two() || !self.size.is_multiple_of(size) {
            return false;
        }
        self.push_node(size, root);
        true
    }

    /// Pushes a perfect subtree of `size` leaves that starts where the tree ends, merging it
    /// with the stack's equal-sized subtrees on its left.
    #[inline]
    fn push_node(&mut self, size: u64, root: Hash32) {
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
    fn fixed_size_leaves_and_nodes_hash_as_the_streaming_hasher_does() {
        for seed in 0u8..=255 {
            let a: Hash32 = std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8));
            let b: Hash32 = std::array::from_fn(|i| seed ^ (i as u8).wrapping_mul(7));
            let mut leaf = Sha256::new();
            leaf.update([0u8]);
            leaf.update(a);
            assert_eq!(
                leaf_hash(&a),
                <Hash32>::from(leaf.finalize()),
                "seed {seed}"
            );
            let mut node = Sha256::new();
            node.update([1u8]);
            node.update(a);
            node.update(b);
            assert_eq!(
                node_hash(&a, &b),
                <Hash32>::from(node.finalize()),
                "seed {seed}"
            );
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
