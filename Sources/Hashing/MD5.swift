import CMD5

/// An MD5 in progress (for ETags and `Content-MD5`), in a form whose whole blocks may be hashed here, one message
/// at a time, or by ``MD5Lanes`` together with other uploads' in the 16 lanes of the vector unit.
///
/// Not thread-safe: one hasher belongs to one task, which must not call it again before an `update` returns.
public final class MD5Hasher: @unchecked Sendable {
    static let blockBytes = 64

    /// A, B, C, D (16 bytes), then the partial block not hashed yet (64 bytes).
    private let storage: UnsafeMutableRawPointer
    private var tailCount = 0
    private var lengthBytes: UInt64 = 0
    private var finished = false

    public init() {
        storage = UnsafeMutableRawPointer.allocate(byteCount: 16 + Self.blockBytes, alignment: 16)
        let initial: [UInt32] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476]
        for (index, word) in initial.enumerated() { state[index] = word }
    }

    deinit { storage.deallocate() }

    var state: UnsafeMutablePointer<UInt32> { storage.assumingMemoryBound(to: UInt32.self) }
    private var tail: UnsafeMutablePointer<UInt8> { (storage + 16).assumingMemoryBound(to: UInt8.self) }

    /// Adds bytes to the hash, on the caller's thread.
    public func update(_ bytes: UnsafeRawBufferPointer) {
        precondition(!finished, "update after finalize")
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        lengthBytes += UInt64(bytes.count)
        var offset = 0
        if tailCount > 0 {
            let take = min(Self.blockBytes - tailCount, bytes.count)
            (tail + tailCount).update(from: base.assumingMemoryBound(to: UInt8.self), count: take)
            tailCount += take
            offset = take
            guard tailCount == Self.blockBytes else { return }
            qantara_md5_blocks(state, tail, 1)
            tailCount = 0
        }
        let blocks = (bytes.count - offset) / Self.blockBytes
        if blocks > 0 {
            qantara_md5_blocks(state, (base + offset).assumingMemoryBound(to: UInt8.self), blocks)
            offset += blocks * Self.blockBytes
        }
        let rest = bytes.count - offset
        if rest > 0 {
            tail.update(from: (base + offset).assumingMemoryBound(to: UInt8.self), count: rest)
            tailCount = rest
        }
    }

    /// Adds bytes to the hash, handing their whole blocks to `lanes` when there are enough of them to be worth the
    /// trip (the rest is hashed on the caller's thread). `bytes` is read until this returns.
    public func update(_ bytes: [UInt8], lanes: MD5Lanes) async {
        precondition(!finished, "update after finalize")
        let lead = tailCount == 0 ? 0 : min(Self.blockBytes - tailCount, bytes.count)
        let blocks = (bytes.count - lead) / Self.blockBytes
        guard lanes.isVector, blocks * Self.blockBytes >= MD5Lanes.minimumBytes else {
            bytes.withUnsafeBytes { update($0) }
            return
        }
        if lead > 0 { bytes.withUnsafeBytes { update(UnsafeRawBufferPointer(rebasing: $0[..<lead])) } }
        await lanes.hash(self, bytes, from: lead, blocks: blocks)
        lengthBytes += UInt64(blocks * Self.blockBytes)
        let end = lead + blocks * Self.blockBytes
        if end < bytes.count { bytes.withUnsafeBytes { update(UnsafeRawBufferPointer(rebasing: $0[end...])) } }
    }

    /// Returns the 16-byte digest. The hasher cannot be used afterwards.
    public func finalize() -> [UInt8] {
        precondition(!finished, "finalize called twice")
        let bits = lengthBytes &* 8
        // Padding: 0x80, zeros up to 56 bytes into a block, then the length in bits, little-endian.
        var padding = [UInt8](repeating: 0, count: (tailCount < 56 ? 56 : 120) - tailCount + 8)
        padding[0] = 0x80
        for index in 0..<8 { padding[padding.count - 8 + index] = UInt8(truncatingIfNeeded: bits >> (8 * index)) }
        let length = lengthBytes
        padding.withUnsafeBytes { update($0) }
        precondition(tailCount == 0)
        lengthBytes = length
        finished = true
        return (0..<16).map { UInt8(truncatingIfNeeded: state[$0 / 4] >> (8 * ($0 % 4))) }
    }

    /// One-shot digest of `bytes`.
    public static func hash(_ bytes: some ContiguousBytes) -> [UInt8] {
        let hasher = MD5Hasher()
        bytes.withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }
}
