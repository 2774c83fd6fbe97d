import CMD5

/// An MD5 in progress (for ETags and `Content-MD5`): OpenSSL's MD5, whose whole blocks may also be hashed by
/// ``MD5Lanes`` together with other uploads' in the 16 lanes of the vector unit.
///
/// Not thread-safe: one hasher belongs to one task, which must not call it again before an `update` returns.
public final class MD5Hasher: @unchecked Sendable {
    static let blockBytes = 64

    let context: OpaquePointer
    private var finished = false

    public init() {
        guard let context = qantara_md5_new() else { fatalError("MD5 context: out of memory") }
        self.context = context
    }

    deinit { qantara_md5_free(context) }

    /// Adds bytes to the hash, on the caller's thread.
    public func update(_ bytes: UnsafeRawBufferPointer) {
        precondition(!finished, "update after finalize")
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        qantara_md5_update(context, base, bytes.count)
    }

    /// Adds bytes to the hash, handing their whole blocks to `lanes` when there are enough of them to be worth the
    /// trip (the rest is hashed on the caller's thread). `bytes` is read until this returns.
    public func update(_ bytes: [UInt8], lanes: MD5Lanes) async {
        precondition(!finished, "update after finalize")
        let pending = qantara_md5_pending(context)
        let lead = pending == 0 ? 0 : min(Self.blockBytes - pending, bytes.count)
        let blocks = (bytes.count - lead) / Self.blockBytes
        guard lanes.isVector, blocks * Self.blockBytes >= MD5Lanes.minimumBytes else {
            bytes.withUnsafeBytes { update($0) }
            return
        }
        if lead > 0 { bytes.withUnsafeBytes { update(UnsafeRawBufferPointer(rebasing: $0[..<lead])) } }
        await lanes.hash(self, bytes, from: lead, blocks: blocks)
        let end = lead + blocks * Self.blockBytes
        if end < bytes.count { bytes.withUnsafeBytes { update(UnsafeRawBufferPointer(rebasing: $0[end...])) } }
    }

    /// Returns the 16-byte digest. The hasher cannot be used afterwards.
    public func finalize() -> [UInt8] {
        precondition(!finished, "finalize called twice")
        finished = true
        return [UInt8](unsafeUninitializedCapacity: 16) { digest, count in
            qantara_md5_final(context, digest.baseAddress)
            count = 16
        }
    }

    /// One-shot digest of `bytes`.
    public static func hash(_ bytes: some ContiguousBytes) -> [UInt8] {
        let hasher = MD5Hasher()
        bytes.withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }
}
