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

extension MerkleTree {
    /// The hash of the subtree of leaves `[start, end)` (a subtree the RFC's recursion reaches) from the hashes of
    /// complete subtrees `stored(level, index)` gives (the `2^level` leaves from `index << level`), for levels below
    /// `height`.
    public static func hash(_ start: UInt64, _ end: UInt64, height: Int,
                     _ stored: (Int, UInt64) throws -> [UInt8]) rethrows -> [UInt8] {
        let count = end - start
        if count & (count - 1) == 0 && start % count == 0 {
            let level = count.trailingZeroBitCount
            if level < height { return try stored(level, start >> UInt64(level)) }
        }
        let k = split(count)
        return nodeHash(try hash(start, start + k, height: height, stored), try hash(start + k, end, height: height, stored))
    }

    /// RFC 6962 §2.1.1's PATH(m, D[start:end]).
    public static func path(_ m: UInt64, _ start: UInt64, _ end: UInt64, height: Int,
                     _ stored: (Int, UInt64) throws -> [UInt8]) rethrows -> [[UInt8]] {
        let n = end - start
        guard n > 1 else { return [] }
        let k = split(n)
        if m < k { return try path(m, start, start + k, height: height, stored) + [try hash(start + k, end, height: height, stored)] }
        return try path(m - k, start + k, end, height: height, stored) + [try hash(start, start + k, height: height, stored)]
    }

    /// RFC 6962 §2.1.2's SUBPROOF(m, D[start:end], complete).
    public static func subproof(_ m: UInt64, _ start: UInt64, _ end: UInt64, complete: Bool, height: Int,
                         _ stored: (Int, UInt64) throws -> [UInt8]) rethrows -> [[UInt8]] {
        let n = end - start
        if m == n { return complete ? [] : [try hash(start, end, height: height, stored)] }
        let k = split(n)
        if m <= k {
            return try subproof(m, start, start + k, complete: complete, height: height, stored)
                + [try hash(start + k, end, height: height, stored)]
        }
        return try subproof(m - k, start + k, end, complete: false, height: height, stored)
            + [try hash(start, start + k, height: height, stored)]
    }

    /// The root of a complete tree over `hashes` (a power of two of leaf hashes, concatenated).
    public static func perfectRoot(_ hashes: [UInt8]) -> [UInt8] {
        var level = stride(from: 0, to: hashes.count, by: hashSize).map { Array(hashes[$0..<$0 + hashSize]) }
        precondition(!level.isEmpty && level.count & (level.count - 1) == 0)
        while level.count > 1 {
            level = stride(from: 0, to: level.count, by: 2).map { nodeHash(level[$0], level[$0 + 1]) }
        }
        return level[0]
    }
}

/// A growing Merkle tree that keeps the hash of every complete subtree, level by level (level 0: the leaves' hashes;
/// level `l`: the hashes of the aligned subtrees of `2^l` leaves), as flat arrays: 64 bytes a leaf. Appending a leaf
/// costs one hash per level it completes; the root of any size and the proofs between sizes read O(log n) stored
/// hashes and hash O(log n) times.
///
/// A tree can also let go of the levels below ``blockHeight`` for complete blocks of 256 leaves
/// (``pruneCompleteBlocks()``): it then keeps 1/256 of them, and its owner reads the rest back from where it keeps the
/// leaves' hashes (the audit log's tree does). The methods below are for a tree that kept everything.
public struct MerkleLevels: Sendable {
    var levels: [[UInt8]] = [[]]
    /// Leaves of the first complete blocks whose hashes below ``blockHeight`` are no longer kept.
    public private(set) var pruned: UInt64 = 0
    /// Height of a block (a hash tile's): levels from it up are always kept.
    public static let blockHeight = 8

    public init() {}

    /// Number of leaves.
    public var size: UInt64 { pruned + UInt64(levels[0].count / MerkleTree.hashSize) }

    /// Hashes held in memory.
    public var keptHashes: Int { levels.reduce(0) { $0 + $1.count } / MerkleTree.hashSize }

    /// Levels holding hashes (the recursions use stored subtrees below this height).
    public var height: Int { levels.count }

    public mutating func append(leafHash: [UInt8]) {
        precondition(leafHash.count == MerkleTree.hashSize)
        levels[0].append(contentsOf: leafHash)
        var level = 0
        var index = size - 1
        while index & 1 == 1 {
            // A pair below the block height lies in the newest block, which is kept.
            let parent = MerkleTree.nodeHash(kept(level, index - 1)!, kept(level, index)!)
            if levels.count == level + 1 { levels.append([]) }
            levels[level + 1].append(contentsOf: parent)
            level += 1
            index >>= 1
        }
    }

    public mutating func append(leaf data: some ContiguousBytes) { append(leafHash: MerkleTree.leafHash(data)) }

    /// Lets go of the hashes below ``blockHeight`` of every complete block (its root is kept at that height).
    public mutating func pruneCompleteBlocks() {
        let block = UInt64(1) << UInt64(Self.blockHeight)
        while size - pruned >= block {
            for level in 0..<Self.blockHeight {
                levels[level].removeFirst(Int(block >> UInt64(level)) * MerkleTree.hashSize)
            }
            pruned += block
        }
    }

    /// The kept hash of the complete subtree at (`level`, `index`), or nil if it was let go.
    public func kept(_ level: Int, _ index: UInt64) -> [UInt8]? {
        let first = level < Self.blockHeight ? pruned >> UInt64(level) : 0
        guard index >= first else { return nil }
        let start = Int(index - first) * MerkleTree.hashSize
        return Array(levels[level][start..<start + MerkleTree.hashSize])
    }

    func stored(_ level: Int, _ index: UInt64) -> [UInt8] {
        guard let hash = kept(level, index) else { preconditionFailure("hash \(level)/\(index) was let go") }
        return hash
    }

    /// A hash tile (C2SP `tlog-tiles`, tiles of height 8): the `width` hashes of tree level `8 × level` from position
    /// `index × 256`, each the root of a complete subtree; nil unless the tree has all of them (kept).
    public func tile(level: Int, index: UInt64, width: Int) -> [UInt8]? {
        let treeLevel = level * 8
        guard level >= 0, level < 8, (1...256).contains(width), treeLevel < levels.count,
              index < UInt64.max / 256 else { return nil }
        let start = index * 256
        let first = treeLevel < Self.blockHeight ? pruned >> UInt64(treeLevel) : 0
        let available = first + UInt64(levels[treeLevel].count / MerkleTree.hashSize)
        guard start >= first, start + UInt64(width) <= available else { return nil }
        let offset = Int(start - first) * MerkleTree.hashSize
        return Array(levels[treeLevel][offset..<offset + width * MerkleTree.hashSize])
    }

    /// Hash of leaf `index`.
    public func leafHash(_ index: UInt64) -> [UInt8] { stored(0, index) }

    /// The root of the tree of the first `size` leaves.
    public func root(size: UInt64) -> [UInt8] {
        precondition(size <= self.size)
        return size == 0 ? MerkleTree.emptyRoot : MerkleTree.hash(0, size, height: levels.count, stored)
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 6962 §2.1.1).
    public func inclusionProof(index: UInt64, size: UInt64) -> [[UInt8]] {
        precondition(index < size && size <= self.size)
        return MerkleTree.path(index, 0, size, height: levels.count, stored)
    }

    /// The consistency proof from the tree of `oldSize` leaves to the tree of `newSize` (RFC 6962 §2.1.2); empty when
    /// the sizes are equal or the old tree is empty.
    public func consistencyProof(oldSize: UInt64, newSize: UInt64) -> [[UInt8]] {
        precondition(oldSize <= newSize && newSize <= size)
        guard oldSize > 0, oldSize < newSize else { return [] }
        return MerkleTree.subproof(oldSize, 0, newSize, complete: true, height: levels.count, stored)
    }
}
