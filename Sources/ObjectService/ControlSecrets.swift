import Envelope
import Foundation
import Hashing
import KeyStore
import ObjectModel
import StorageEngine

/// Seals the control plane's secrets (tenants' secret access keys) under a key that the default jurisdiction's key
/// store wraps: the control database holds only ciphertext, so a copy of it (or of its write-ahead log) reveals no
/// credential. The key is unwrapped by the key store at start and kept in memory only.
///
/// Stored as `s/key`: the tenant key version (4 bytes, big-endian) then the wrapped key, under the key store's
/// reserved tenant ``tenant`` (not a valid tenant name, so no tenant shares it).
public final class ControlSecrets: Sendable {
    /// The key store tenant whose key wraps the control key.
    public static let tenant = ".control"
    static let storedKey = Array("s/key".utf8)
    static let context = Array("qantara/v1/control-secrets".utf8)
    let key: SecretKey

    init(key: SecretKey) { self.key = key }

    /// The control key of `engine`: unwrapped by `keyStore` (re-wrapped under its tenant key's current version when
    /// that changed), or made there on first use and stored wrapped.
    public static func open(engine: any KeyValueEngine, keyStore: any KeyStoreClient, metadata: RequestMetadata)
        async throws -> ControlSecrets
    {
        if let stored = try engine.get(storedKey), stored.count > 4 {
            let version = stored.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let wrapped = WrappedKey(tenantKeyVersion: version, bytes: Array(stored.dropFirst(4)))
            let key = try await keyStore.decrypt(tenant: tenant, wrapped: wrapped, aad: context, metadata: metadata)
            let current = try await keyStore.rewrap(tenant: tenant, wrapped: wrapped, aad: context, metadata: metadata)
            if current != wrapped { try engine.put(storedKey, encode(current), sync: true) }
            return ControlSecrets(key: key)
        }
        let generated = try await keyStore.generateDataKey(tenant: tenant, aad: context, metadata: metadata)
        try engine.put(storedKey, encode(generated.wrapped), sync: true)
        return ControlSecrets(key: generated.plaintext)
    }

    /// A control key held in memory only (tests, and the in-memory control plane).
    public static func ephemeral() -> ControlSecrets { ControlSecrets(key: SecretKey.random()) }

    static func encode(_ wrapped: WrappedKey) -> [UInt8] {
        let version = wrapped.tenantKeyVersion
        return [UInt8(version >> 24), UInt8((version >> 16) & 0xFF), UInt8((version >> 8) & 0xFF),
                UInt8(version & 0xFF)] + wrapped.bytes
    }

    /// `secret` sealed for the access key `id` (base64): bound to the id, so a sealed secret moved to another key
    /// does not open.
    func seal(_ secret: String, id: String) -> String {
        Base64.encode(KeyWrap.seal(Array(secret.utf8), under: key, aad: Self.aad(id)))
    }

    func open(_ sealed: String, id: String) throws -> String {
        guard let bytes = Base64.decode(sealed),
              let plain = try? KeyWrap.open(bytes, under: key, aad: Self.aad(id)) else {
            throw ObjectServiceError.internalError("the sealed secret of access key \(id) does not open")
        }
        return String(decoding: plain, as: UTF8.self)
    }

    static func aad(_ id: String) -> [UInt8] { Array("qantara/v1/access-key\u{0}\(id)".utf8) }
}
