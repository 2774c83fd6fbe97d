import CSodium
import Envelope
import Hashing

/// Ed25519 signatures (libsodium): the authority keys of jurisdictions sign grants and audit-log heads with them.
public enum Ed25519 {
    public static let publicKeySizeBytes = 32
    public static let signatureSizeBytes = 64

    /// A signing key pair; the secret half is wiped when the value goes.
    public struct KeyPair: Sendable {
        public let publicKey: [UInt8]
        let secret: SecretKey

        /// A fresh key pair.
        public static func generate() -> KeyPair {
            precondition(Sodium.ready)
            var publicKey = [UInt8](repeating: 0, count: publicKeySizeBytes)
            var secret = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
            precondition(crypto_sign_keypair(&publicKey, &secret) == 0)
            defer { wipe(&secret) }
            return KeyPair(publicKey: publicKey, secret: SecretKey(copying: secret))
        }

        /// The pair whose 64-byte libsodium secret key is `secret` (its seed followed by its public key).
        public init(secretKeyBytes secret: [UInt8]) {
            precondition(secret.count == Int(crypto_sign_SECRETKEYBYTES))
            self.secret = SecretKey(copying: secret)
            self.publicKey = Array(secret.suffix(publicKeySizeBytes))
        }

        init(publicKey: [UInt8], secret: SecretKey) {
            self.publicKey = publicKey
            self.secret = secret
        }

        /// The secret key bytes, for sealing in a key store; wipe them after use.
        public func exportSecret() -> [UInt8] { secret.exportBytes() }

        /// A detached signature of `message`.
        public func sign(_ message: [UInt8]) -> [UInt8] {
            var signature = [UInt8](repeating: 0, count: signatureSizeBytes)
            secret.withBytes { key in
                _ = crypto_sign_detached(&signature, nil, message, UInt64(message.count),
                                         key.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
            return signature
        }
    }

    /// Whether `signature` is `publicKey`'s signature of `message`.
    public static func verify(_ signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == signatureSizeBytes, publicKey.count == publicKeySizeBytes else { return false }
        precondition(Sodium.ready)
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }
}
