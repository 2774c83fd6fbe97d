import COpenSSL

/// HMAC-SHA256, as SigV4 uses it.
public enum HMACSHA256 {
    /// Computes HMAC-SHA256(key, message).
    public static func authenticate(key: some ContiguousBytes, message: some ContiguousBytes) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        key.withUnsafeBytes { keyBuffer in
            message.withUnsafeBytes { messageBuffer in
                out.withUnsafeMutableBufferPointer { outBuffer in
                    let result = HMAC(EVP_sha256(), keyBuffer.baseAddress, Int32(keyBuffer.count),
                                      messageBuffer.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                      messageBuffer.count, outBuffer.baseAddress, &length)
                    precondition(result != nil && length == 32, "HMAC failed")
                }
            }
        }
        return out
    }
}

/// Comparisons of secrets that take the same time whatever the inputs hold.
public enum ConstantTime {
    /// True when `a` and `b` have the same length and bytes; the time depends only on the length.
    public static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { aBuffer in
            b.withUnsafeBytes { bBuffer in
                CRYPTO_memcmp(aBuffer.baseAddress, bBuffer.baseAddress, a.count) == 0
            }
        }
    }
}

/// Cryptographically secure random bytes from OpenSSL's DRBG.
public enum SecureRandom {
    /// Returns `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(ok == 1, "RAND_bytes failed")
        return out
    }
}
