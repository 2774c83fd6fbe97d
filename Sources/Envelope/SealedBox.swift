import CSodium
import Hashing
import ObjectModel

/// Anonymous public-key encryption (libsodium's sealed boxes: X25519, XSalsa20-Poly1305): anyone can seal a
/// message to a public key, only the holder of its secret key opens it. A new administrator's credentials travel
/// this way, sealed by the key store to the enrolment key the administrator made, so no one who relays or approves
/// them can read them.
public enum SealedBox {
    public static let publicKeySizeBytes = Int(crypto_box_publickeybytes())
    public static let secretKeySizeBytes = Int(crypto_box_secretkeybytes())
    static let overheadBytes = Int(crypto_box_sealbytes())

    /// A key pair: the public key to publish, the secret key kept by its owner alone.
    public struct KeyPair: Sendable {
        public let publicKey: [UInt8]
        public let secretKey: SecretKey

        public init(publicKey: [UInt8], secretKey: SecretKey) {
            self.publicKey = publicKey
            self.secretKey = secretKey
        }

        public static func generate() -> KeyPair {
            precondition(Sodium.ready)
            var publicKey = [UInt8](repeating: 0, count: publicKeySizeBytes)
            var secret = [UInt8](repeating: 0, count: secretKeySizeBytes)
            crypto_box_keypair(&publicKey, &secret)
            defer { wipe(&secret) }
            return KeyPair(publicKey: publicKey, secretKey: SecretKey(copying: secret))
        }
    }

    /// `message` sealed to `publicKey`; nil when that is not an X25519 public key.
    public static func seal(_ message: [UInt8], to publicKey: [UInt8]) -> [UInt8]? {
        precondition(Sodium.ready)
        guard publicKey.count == publicKeySizeBytes else { return nil }
        var sealed = [UInt8](repeating: 0, count: message.count + overheadBytes)
        guard crypto_box_seal(&sealed, message, UInt64(message.count), publicKey) == 0 else { return nil }
        return sealed
    }

    /// The message sealed to `keyPair`'s public key; nil when the box was not sealed to it or was altered.
    public static func open(_ sealed: [UInt8], with keyPair: KeyPair) -> [UInt8]? {
        precondition(Sodium.ready)
        guard sealed.count >= overheadBytes, keyPair.publicKey.count == publicKeySizeBytes,
              keyPair.secretKey.count == secretKeySizeBytes else { return nil }
        var message = [UInt8](repeating: 0, count: sealed.count - overheadBytes)
        let opened = keyPair.secretKey.withBytes { secret in
            crypto_box_seal_open(&message, sealed, UInt64(sealed.count), keyPair.publicKey,
                                 secret.bindMemory(to: UInt8.self).baseAddress!) == 0
        }
        return opened ? message : nil
    }

    /// A short fingerprint of a public key (the first 16 bytes of its SHA-256, hex in groups of four), for people
    /// to compare over another channel.
    public static func fingerprint(_ publicKey: [UInt8]) -> String {
        let hex = Array(Hex.encode(Array(StreamingDigest.hash(.sha256, publicKey).prefix(16))))
        return stride(from: 0, to: hex.count, by: 4).map { String(hex[$0..<min($0 + 4, hex.count)]) }
            .joined(separator: "-")
    }
}
