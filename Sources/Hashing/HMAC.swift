import CBoringShim
import COpenSSL
import CSodium

/// HMAC-SHA256, as SigV4, HKDF and the key commitment use it. Computed with BoringSSL (through the `CBoringShim`
/// target): it runs SHA-256 on the CPU's SHA extensions and looks nothing up per call, where libsodium's plain C
/// SHA-256 made HMAC a few percent of a small PUT's CPU and OpenSSL 3's one-shot `HMAC()` fetches the algorithms by
/// name on every call.
public enum HMACSHA256 {
    /// Computes HMAC-SHA256(key, message).
    public static func authenticate(key: some ContiguousBytes, message: some ContiguousBytes) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 32) { out, count in
            // An empty buffer may have no address; BoringSSL is given a valid one either way.
            var empty: UInt8 = 0
            let ok = withUnsafePointer(to: &empty) { emptyPointer in
                key.withUnsafeBytes { keyBuffer in
                    message.withUnsafeBytes { messageBuffer in
                        qantara_hmac_sha256(keyBuffer.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? emptyPointer,
                                            keyBuffer.count,
                                            messageBuffer.baseAddress?.assumingMemoryBound(to: UInt8.self)
                                                ?? emptyPointer,
                                            messageBuffer.count, out.baseAddress)
                    }
                }
            }
            precondition(ok == 1, "HMAC-SHA256 failed")
            count = 32
        }
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

/// Cryptographically secure random bytes from BoringSSL's per-thread DRBG (a data key, salt, nonces and a request
/// id per PUT: OpenSSL 3.0's `RAND_bytes` cost each a provider lookup and a fresh AES-CTR context).
public enum SecureRandom {
    /// Returns `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { qantara_random_bytes(buffer.baseAddress, count) }
            initialized = count
        }
    }
}

/// libsodium must be initialised once before use. `sodium_init` takes a lock on every call, so callers on hot
/// paths check this once-initialised flag instead.
public enum Sodium {
    public static let ready: Bool = sodium_init() >= 0
}
