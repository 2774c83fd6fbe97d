import CBoringShim
import CSodium
import Hashing

/// The AEAD ciphers of the object format, selected per jurisdiction.
public enum AEADAlgorithm: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// AES-256-GCM through BoringSSL (swift-crypto's, statically linked with prefixed symbols): its VAES/AVX-512 and
    /// VAES/AVX2 code runs 2.2 times as fast as Debian 12's OpenSSL 3.0 on the same core (`Docs/benchmarks.md`),
    /// and the bytes are the same (checked against OpenSSL in `AEADTests`). The default.
    case aes256gcm = 1
    /// XChaCha20-Poly1305 through libsodium.
    case xchacha20poly1305 = 2

    /// Authentication tag appended to each sealed message.
    public static let tagSizeBytes = 16

    /// Nonce length the cipher takes.
    public var nonceSizeBytes: Int {
        switch self {
        case .aes256gcm: return 12
        case .xchacha20poly1305: return 24
        }
    }

    /// Configuration name (`aes-256-gcm`, `xchacha20-poly1305`).
    public var description: String {
        switch self {
        case .aes256gcm: return "aes-256-gcm"
        case .xchacha20poly1305: return "xchacha20-poly1305"
        }
    }

    /// Parses a configuration name.
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = match
    }
}

/// Errors of the envelope layer: every one means "do not trust these bytes".
public enum EnvelopeError: Error, Equatable, CustomStringConvertible {
    /// A tag did not verify: the bytes were altered, truncated, reordered or belong to another object or key.
    case authenticationFailed(String)
    /// A stored header or wrapped key is malformed or of an unknown version.
    case malformed(String)

    public var description: String {
        switch self {
        case .authenticationFailed(let what): return "authentication failed: \(what)"
        case .malformed(let what): return "malformed: \(what)"
        }
    }
}

extension AEADAlgorithm {
    /// Encrypts `buffer[0..<count - tag]` in place and writes the tag into its last 16 bytes.
    /// `buffer.count` = plaintext length + ``tagSizeBytes``.
    public func seal(key: SecretKey, nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
                     buffer: UnsafeMutableRawBufferPointer) {
        precondition(key.count == SecretKey.sizeBytes && nonce.count == nonceSizeBytes)
        precondition(buffer.count >= Self.tagSizeBytes)
        let length = buffer.count - Self.tagSizeBytes
        let base = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        key.withBytes { keyBytes in
            switch self {
            case .aes256gcm:
                let ok = qantara_aes256gcm_seal(keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                                nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                                aad.baseAddress?.assumingMemoryBound(to: UInt8.self), aad.count,
                                                base, length, base, base + length)
                precondition(ok == 1, "AES-256-GCM encryption failed")
            case .xchacha20poly1305:
                precondition(Sodium.ready)
                var tagLength: UInt64 = 0
                let result = crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
                    base, base + length, &tagLength, base, UInt64(length),
                    aad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(aad.count), nil,
                    nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
                precondition(result == 0 && tagLength == UInt64(Self.tagSizeBytes), "XChaCha20-Poly1305 failed")
            }
        }
    }

    /// Verifies and decrypts `buffer` (ciphertext then tag) in place; on success the plaintext is
    /// `buffer[0..<count - tag]`. Returns false, with the buffer's content unspecified, when the tag does not verify.
    public func open(key: SecretKey, nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
                     buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard buffer.count >= Self.tagSizeBytes else { return false }
        return open(key: key, nonce: nonce, aad: aad, sealed: UnsafeRawBufferPointer(buffer),
                    into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<(buffer.count - Self.tagSizeBytes)]))
    }

    /// Verifies `sealed` (ciphertext then tag) and decrypts it into `output` (`sealed.count - tag` bytes; it may be
    /// the same memory as `sealed`). Returns false, with `output` unspecified, when the tag does not verify.
    public func open(key: SecretKey, nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
                     sealed: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Bool {
        precondition(key.count == SecretKey.sizeBytes && nonce.count == nonceSizeBytes)
        guard sealed.count >= Self.tagSizeBytes, output.count == sealed.count - Self.tagSizeBytes else { return false }
        let length = output.count
        let input = sealed.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let tag = UnsafeMutablePointer(mutating: input + length)
        // An empty plaintext has no output memory; the ciphers still want a valid pointer.
        var scratch: UInt8 = 0
        return withUnsafeMutablePointer(to: &scratch) { scratchPointer in
        let out = output.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? scratchPointer
        return key.withBytes { keyBytes in
            switch self {
            case .aes256gcm:
                return qantara_aes256gcm_open(keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                              nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                              aad.baseAddress?.assumingMemoryBound(to: UInt8.self), aad.count,
                                              input, length, tag, out) == 1
            case .xchacha20poly1305:
                precondition(Sodium.ready)
                return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
                    out, nil, input, UInt64(length), tag,
                    aad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(aad.count),
                    nonce.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
            }
        }
        }
    }
}
