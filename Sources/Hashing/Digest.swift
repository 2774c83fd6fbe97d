import COpenSSL

/// A message digest algorithm offered by OpenSSL's libcrypto.
public enum DigestAlgorithm: Sendable {
    case md5, sha1, sha256

    fileprivate var evp: OpaquePointer {
        switch self {
        case .md5: return EVP_md5()
        case .sha1: return EVP_sha1()
        case .sha256: return EVP_sha256()
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
/// Not thread-safe: one hasher belongs to one task, as the EVP context it owns.
public final class StreamingDigest {
    private let context: OpaquePointer
    public let algorithm: DigestAlgorithm
    private var finished = false

    public init(_ algorithm: DigestAlgorithm) {
        self.algorithm = algorithm
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed: out of memory") }
        self.context = context
        let ok = EVP_DigestInit_ex(context, algorithm.evp, nil)
        precondition(ok == 1, "EVP_DigestInit_ex failed")
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Adds bytes to the hash.
    public func update(_ buffer: UnsafeRawBufferPointer) {
        precondition(!finished, "update after finalize")
        guard buffer.count > 0 else { return }
        let ok = EVP_DigestUpdate(context, buffer.baseAddress, buffer.count)
        precondition(ok == 1, "EVP_DigestUpdate failed")
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
        var length: UInt32 = 0
        let ok = out.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        precondition(ok == 1 && Int(length) == algorithm.lengthBytes, "EVP_DigestFinal_ex failed")
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
