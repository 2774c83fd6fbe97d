/// RFC 6962 (and RFC 9162 §2.1) Merkle tree hashing: a leaf is hashed as `SHA-256(0x00 || data)`, an inner node as
/// `SHA-256(0x01 || left || right)`, the tree of `n` leaves splits at the largest power of two below `n`, and the
/// empty tree's hash is `SHA-256("")`. Proofs are lists of 32-byte hashes, in the order the RFC gives them.
public enum MerkleTree {
    public static let hashSize = 32

    public static func leafHash(_ data: some ContiguousBytes) -> [UInt8] {
        var bytes: [UInt8] = [0]
        data.withUnsafeBytes { bytes.append(contentsOf: $0) }
        return StreamingDigest.hash(.sha256, bytes)
    }

    public static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(1 + 2 * hashSize)
        bytes.append(1)
        bytes.append(contentsOf: left)
        bytes.append(contentsOf: right)
        return StreamingDigest.hash(.sha256, bytes)
    }

    public static var emptyRoot: [UInt8] { StreamingDigest.hash(.sha256, [UInt8]()) }

    /// The largest power of two strictly below `n` (n ≥ 2).
    static func split(_ n: UInt64) -> UInt64 {
        var k: UInt64 = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    // MARK: Verification (RFC 9162 §2.1.3.2 and §2.1.4.2)

    /// Whether `proof` shows that the leaf with hash `leaf` is leaf `index` of the tree of `size` leaves with `root`.
    public static func verifyInclusion(index: UInt64, size: UInt64, leaf: [UInt8], proof: [[UInt8]], root: [UInt8])
        -> Bool
    {
        guard index < size, proof.allSatisfy({ $0.count == hashSize }) else { return false }
        var fn = index, sn = size - 1
        var hash = leaf
        for sibling in proof {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                hash = nodeHash(sibling, hash)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
                }
            } else {
                hash = nodeHash(hash, sibling)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && hash == root
    }

    /// Whether `proof` shows that the tree of `newSize` leaves with `newRoot` extends the tree of `oldSize` leaves with
    /// `oldRoot` (the first `oldSize` leaves unchanged, in order).
    public static func verifyConsistency(oldSize: UInt64, oldRoot: [UInt8], newSize: UInt64, newRoot: [UInt8],
                                         proof: [[UInt8]]) -> Bool
    {
        guard oldSize <= newSize, proof.allSatisfy({ $0.count == hashSize }) else { return false }
        if oldSize == newSize { return proof.isEmpty && oldRoot == newRoot }
        if oldSize == 0 { return proof.isEmpty && oldRoot == emptyRoot }
        guard !proof.isEmpty else { return false }
        var path = proof
        if oldSize & (oldSize - 1) == 0 { path.insert(oldRoot, at: 0) }
        var fn = oldSize - 1, sn = newSize - 1
        while fn & 1 == 1 { fn >>= 1; sn >>= 1 }
        var oldHash = path[0], newHash = path[0]
        for sibling in path.dropFirst() {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                oldHash = nodeHash(sibling, oldHash)
                newHash = nodeHash(sibling, newHash)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
                }
            } else {
                newHash = nodeHash(newHash, sibling)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && oldHash == oldRoot && newHash == newRoot
    }
}

/// A growing Merkle tree that keeps the hash of every complete subtree, level by level (level 0: the leaves' hashes;
/// level `l`: the hashes of the aligned subtrees of `2^l` leaves), as flat arrays: 64 bytes a leaf. Appending a leaf
/// costs one hash per level it completes; the root of any size and the proofs between sizes read O(log n) stored
/// hashes and hash O(log n) times.
public struct MerkleLevels: Sendable {
    var levels: [[UInt8]] = [[]]

    public init() {}

    /// Number of leaves.
    public var size: UInt64 { UInt64(levels[0].count / MerkleTree.hashSize) }

    public mutating func append(leafHash: [UInt8]) {
        precondition(leafHash.count == MerkleTree.hashSize)
        levels[0].append(contentsOf: leafHash)
        var level = 0
        var index = levels[0].count / MerkleTree.hashSize - 1
        while index & 1 == 1 {
            let parent = MerkleTree.nodeHash(stored(level, index - 1), stored(level, index))
            if levels.count == level + 1 { levels.append([]) }
            levels[level + 1].append(contentsOf: parent)
            level += 1
            index >>= 1
        }
    }

    public mutating func append(leaf data: some ContiguousBytes) { append(leafHash: MerkleTree.leafHash(data)) }

    func stored(_ level: Int, _ index: Int) -> [UInt8] {
        let start = index * MerkleTree.hashSize
        return Array(levels[level][start..<start + MerkleTree.hashSize])
    }

    /// A hash tile (C2SP `tlog-tiles`, tiles of height 8): the `width` hashes of tree level `8 × level` from position
    /// `index × 256`, each the root of a complete subtree; nil unless the tree has all of them.
    public func tile(level: Int, index: UInt64, width: Int) -> [UInt8]? {
        let treeLevel = level * 8
        guard level >= 0, level < 8, (1...256).contains(width), treeLevel < levels.count,
              index < UInt64.max / 256 else { return nil }
        let start = Int(index) * 256
        let available = levels[treeLevel].count / MerkleTree.hashSize
        guard start + width <= available else { return nil }
        return Array(levels[treeLevel][start * MerkleTree.hashSize..<(start + width) * MerkleTree.hashSize])
    }

    /// Hash of leaf `index`.
    public func leafHash(_ index: UInt64) -> [UInt8] { stored(0, Int(index)) }

    /// The root of the tree of the first `size` leaves.
    public func root(size: UInt64) -> [UInt8] {
        precondition(size <= self.size)
        return size == 0 ? MerkleTree.emptyRoot : hash(0, size)
    }

    /// The hash of the subtree of leaves `[start, end)`, a subtree the RFC's recursion reaches (`start` a multiple
    /// of the largest power of two not above `end - start`, or the right part of such a split).
    func hash(_ start: UInt64, _ end: UInt64) -> [UInt8] {
        let count = end - start
        if count & (count - 1) == 0 && start % count == 0 {
            let level = count.trailingZeroBitCount
            if level < levels.count { return stored(level, Int(start >> UInt64(level))) }
        }
        let k = MerkleTree.split(count)
        return MerkleTree.nodeHash(hash(start, start + k), hash(start + k, end))
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 6962 §2.1.1).
    public func inclusionProof(index: UInt64, size: UInt64) -> [[UInt8]] {
        precondition(index < size && size <= self.size)
        return path(index, 0, size)
    }

    func path(_ m: UInt64, _ start: UInt64, _ end: UInt64) -> [[UInt8]] {
        let n = end - start
        guard n > 1 else { return [] }
        let k = MerkleTree.split(n)
        if m < k { return path(m, start, start + k) + [hash(start + k, end)] }
        return path(m - k, start + k, end) + [hash(start, start + k)]
    }

    /// The consistency proof from the tree of `oldSize` leaves to the tree of `newSize` (RFC 6962 §2.1.2); empty when
    /// the sizes are equal or the old tree is empty.
    public func consistencyProof(oldSize: UInt64, newSize: UInt64) -> [[UInt8]] {
        precondition(oldSize <= newSize && newSize <= size)
        guard oldSize > 0, oldSize < newSize else { return [] }
        return subproof(oldSize, 0, newSize, complete: true)
    }

    func subproof(_ m: UInt64, _ start: UInt64, _ end: UInt64, complete: Bool) -> [[UInt8]] {
        let n = end - start
        if m == n { return complete ? [] : [hash(start, end)] }
        let k = MerkleTree.split(n)
        if m <= k { return subproof(m, start, start + k, complete: complete) + [hash(start + k, end)] }
        return subproof(m - k, start + k, end, complete: false) + [hash(start, start + k)]
    }
}
