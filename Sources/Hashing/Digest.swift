import CBoringShim

/// A message digest algorithm, computed by BoringSSL (see `boringshim.h`).
public enum DigestAlgorithm: Sendable {
    case md5, sha1, sha256

    fileprivate var shim: Int32 {
        switch self {
        case .md5: return Int32(QANTARA_DIGEST_MD5)
        case .sha1: return Int32(QANTARA_DIGEST_SHA1)
        case .sha256: return Int32(QANTARA_DIGEST_SHA256)
        }
    }

    /// Length of the digest in bytes.
    public var lengthBytes: Int {
        switch self {
        case .md5: return 16
        case .sha1: return 20
        case .sha256: return 32
        }
    }
}

/// An incremental hash: feed buffers with `update`, read the digest once with `finalize`.
///
/// Not thread-safe: one hasher belongs to one task, as the context it owns.
public final class StreamingDigest {
    private let context: UnsafeMutableRawPointer
    public let algorithm: DigestAlgorithm
    private var finished = false

    public init(_ algorithm: DigestAlgorithm) {
        self.algorithm = algorithm
        guard let context = qantara_digest_new(algorithm.shim) else { fatalError("digest context: out of memory") }
        self.context = context
    }

    deinit { qantara_digest_free(context) }

    /// Adds bytes to the hash.
    public func update(_ buffer: UnsafeRawBufferPointer) {
        precondition(!finished, "update after finalize")
        guard buffer.count > 0 else { return }
        qantara_digest_update(context, buffer.baseAddress, buffer.count)
    }

    /// Adds bytes to the hash.
    public func update(_ bytes: some ContiguousBytes) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Returns the digest. The hasher cannot be used afterwards.
    public func finalize() -> [UInt8] {
        precondition(!finished, "finalize called twice")
        finished = true
        var out = [UInt8](repeating: 0, count: algorithm.lengthBytes)
        let length = out.withUnsafeMutableBufferPointer { qantara_digest_final(context, $0.baseAddress) }
        precondition(length == algorithm.lengthBytes, "digest finalisation failed")
        return out
    }

    /// One-shot digest of `bytes`.
    public static func hash(_ algorithm: DigestAlgorithm, _ bytes: some ContiguousBytes) -> [UInt8] {
        let digest = StreamingDigest(algorithm)
        digest.update(bytes)
        return digest.finalize()
    }
}

/// Minimal `ContiguousBytes`, so callers need not import Foundation.
public protocol ContiguousBytes {
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

extension Array: ContiguousBytes where Element == UInt8 {}
extension ArraySlice: ContiguousBytes where Element == UInt8 {}
extension UnsafeRawBufferPointer: ContiguousBytes {
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try body(self) }
}
