import Hashing

/// HKDF-SHA256 (RFC 5869), used to derive per-object payload, commitment and metadata keys from a data key.
public enum HKDF {
    /// `length` bytes (at most 32 × 255) of output keying material.
    public static func derive(key: SecretKey, salt: [UInt8], info: [UInt8], length: Int = SecretKey.sizeBytes)
        -> SecretKey
    {
        precondition(length > 0 && length <= 32 * 255, "HKDF output length out of range")
        var prk = key.withBytes { HMACSHA256.authenticate(key: salt.isEmpty ? [UInt8](repeating: 0, count: 32) : salt,
                                                          message: $0) }
        defer { wipe(&prk) }
        var output = [UInt8]()
        output.reserveCapacity(length + 32)
        var block = [UInt8]()
        var counter: UInt8 = 1
        while output.count < length {
            block = HMACSHA256.authenticate(key: prk, message: block + info + [counter])
            output += block
            counter += 1
        }
        defer { wipe(&output); wipe(&block) }
        return SecretKey(copying: output.prefix(length))
    }
}
