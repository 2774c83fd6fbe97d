import Hashing

/// Wraps one 256-bit key under another with AES-256-GCM, a random nonce and associated data that binds the wrapped
/// key to what it protects. Layout (61 bytes): version `0x01`, nonce (12), encrypted key (32), tag (16).
public enum KeyWrap {
    public static let formatVersion: UInt8 = 1
    public static let wrappedSizeBytes = 1 + 12 + SecretKey.sizeBytes + AEADAlgorithm.tagSizeBytes

    /// `key` encrypted under `wrapping`, bound to `aad`.
    public static func wrap(_ key: SecretKey, under wrapping: SecretKey, aad: [UInt8]) -> [UInt8] {
        precondition(key.count == SecretKey.sizeBytes)
        var out = [UInt8](repeating: 0, count: wrappedSizeBytes)
        out[0] = formatVersion
        let nonce = SecureRandom.bytes(12)
        out.replaceSubrange(1..<13, with: nonce)
        key.withBytes { out.replaceSubrange(13..<(13 + SecretKey.sizeBytes), with: $0) }
        nonce.withUnsafeBytes { nonceBytes in
            aad.withUnsafeBytes { aadBytes in
                out.withUnsafeMutableBytes { buffer in
                    AEADAlgorithm.aes256gcm.seal(key: wrapping, nonce: nonceBytes, aad: aadBytes,
                                                 buffer: UnsafeMutableRawBufferPointer(rebasing: buffer[13...]))
                }
            }
        }
        return out
    }

    /// The key inside `wrapped`, if it was wrapped under `wrapping` with exactly `aad`.
    public static func unwrap(_ wrapped: [UInt8], under wrapping: SecretKey, aad: [UInt8]) throws -> SecretKey {
        guard wrapped.count == wrappedSizeBytes, wrapped[0] == formatVersion else {
            throw EnvelopeError.malformed("wrapped key of \(wrapped.count) bytes, version \(wrapped.first ?? 0)")
        }
        var buffer = Array(wrapped[13...])
        defer { wipe(&buffer) }
        let nonce = Array(wrapped[1..<13])
        let ok = nonce.withUnsafeBytes { nonceBytes in
            aad.withUnsafeBytes { aadBytes in
                buffer.withUnsafeMutableBytes {
                    AEADAlgorithm.aes256gcm.open(key: wrapping, nonce: nonceBytes, aad: aadBytes, buffer: $0)
                }
            }
        }
        guard ok else { throw EnvelopeError.authenticationFailed("wrapped key does not open under this key and binding") }
        return SecretKey(copying: buffer.prefix(SecretKey.sizeBytes))
    }
}
