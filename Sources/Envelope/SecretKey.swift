import CSodium
import Hashing

/// Key material that is wiped from memory when the last reference goes (`sodium_memzero`), never printed, and
/// compared in constant time. Immutable, so it can cross tasks.
// The buffer is written only in init, so sharing it across tasks is safe.
public final class SecretKey: @unchecked Sendable, CustomStringConvertible {
    /// Length of every key Qantara uses (AES-256, XChaCha20, HMAC-SHA256 keys).
    public static let sizeBytes = 32

    private let storage: UnsafeMutableRawBufferPointer

    /// Copies `bytes` into a fresh buffer; the caller should wipe its own copy.
    public init(copying bytes: some Collection<UInt8>) {
        storage = .allocate(byteCount: bytes.count, alignment: 16)
        storage.copyBytes(from: bytes)
    }

    /// A fresh random key of ``sizeBytes``.
    public static func random() -> SecretKey {
        precondition(Sodium.ready)
        let key = SecretKey(zeroed: sizeBytes)
        randombytes_buf(key.storage.baseAddress!, sizeBytes)
        return key
    }

    private init(zeroed count: Int) {
        storage = .allocate(byteCount: count, alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit {
        sodium_memzero(storage.baseAddress, storage.count)
        storage.deallocate()
    }

    public var count: Int { storage.count }

    /// Runs `body` over the key bytes; do not let them escape.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(storage))
    }

    /// A copy of the key bytes, for wrapping; wipe it with ``wipe(_:)`` when done.
    public func exportBytes() -> [UInt8] { Array(UnsafeRawBufferPointer(storage)) }

    public var description: String { "SecretKey(\(count) bytes, redacted)" }
}

/// Overwrites secret bytes held in an array.
public func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) }
    bytes.removeAll()
}
