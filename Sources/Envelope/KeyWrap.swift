import Hashing

/// Seals a short byte string (a 256-bit key, a credential) under a key with AES-256-GCM, a random nonce and
/// associated data that binds it to what it protects. Layout: version `0x01`, nonce (12), ciphertext, tag (16); a
/// wrapped key is 61 bytes.
public enum KeyWrap {
    public static let formatVersion: UInt8 = 1
    static let headerSizeBytes = 13
    public static let wrappedSizeBytes = headerSizeBytes + SecretKey.sizeBytes + AEADAlgorithm.tagSizeBytes

    /// `key` encrypted under `wrapping`, bound to `aad`.
    public static func wrap(_ key: SecretKey, under wrapping: SecretKey, aad: [UInt8]) -> [UInt8] {
        precondition(key.count == SecretKey.sizeBytes)
        var plain = key.exportBytes()
        defer { wipe(&plain) }
        return seal(plain, under: wrapping, aad: aad)
    }

    /// The key inside `wrapped`, if it was wrapped under `wrapping` with exactly `aad`.
    public static func unwrap(_ wrapped: [UInt8], under wrapping: SecretKey, aad: [UInt8]) throws -> SecretKey {
        guard wrapped.count == wrappedSizeBytes else {
            throw EnvelopeError.malformed("wrapped key of \(wrapped.count) bytes, version \(wrapped.first ?? 0)")
        }
        var plain = try open(wrapped, under: wrapping, aad: aad)
        defer { wipe(&plain) }
        return SecretKey(copying: plain)
    }

    /// `plaintext` sealed under `key`, bound to `aad`.
    public static func seal(_ plaintext: [UInt8], under key: SecretKey, aad: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: headerSizeBytes + plaintext.count + AEADAlgorithm.tagSizeBytes)
        out[0] = formatVersion
        let nonce = SecureRandom.bytes(12)
        out.replaceSubrange(1..<headerSizeBytes, with: nonce)
        out.replaceSubrange(headerSizeBytes..<(headerSizeBytes + plaintext.count), with: plaintext)
        nonce.withUnsafeBytes { nonceBytes in
            aad.withUnsafeBytes { aadBytes in
                out.withUnsafeMutableBytes { buffer in
                    AEADAlgorithm.aes256gcm.seal(key: key, nonce: nonceBytes, aad: aadBytes,
                                                 buffer: UnsafeMutableRawBufferPointer(rebasing: buffer[headerSizeBytes...]))
                }
            }
        }
        return out
    }

    /// The plaintext of `sealed`, if it was sealed under `key` with exactly `aad`.
    public static func open(_ sealed: [UInt8], under key: SecretKey, aad: [UInt8]) throws -> [UInt8] {
        guard sealed.count >= headerSizeBytes + AEADAlgorithm.tagSizeBytes, sealed[0] == formatVersion else {
            throw EnvelopeError.malformed("sealed value of \(sealed.count) bytes, version \(sealed.first ?? 0)")
        }
        var buffer = Array(sealed[headerSizeBytes...])
        let nonce = Array(sealed[1..<headerSizeBytes])
        let ok = nonce.withUnsafeBytes { nonceBytes in
            aad.withUnsafeBytes { aadBytes in
                buffer.withUnsafeMutableBytes {
                    AEADAlgorithm.aes256gcm.open(key: key, nonce: nonceBytes, aad: aadBytes, buffer: $0)
                }
            }
        }
        guard ok else {
            wipe(&buffer)
            throw EnvelopeError.authenticationFailed("wrapped key does not open under this key and binding")
        }
        buffer.removeLast(AEADAlgorithm.tagSizeBytes)
        return buffer
    }
}
