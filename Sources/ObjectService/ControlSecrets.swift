import Envelope
import Foundation
import Hashing
import KeyStore
import Logging
import ObjectModel

/// Seals the control plane's secrets (tenants' secret access keys) under one control key, so the control store (the
/// embedded database, etcd, their backups and write-ahead logs) holds only ciphertext. Every gateway needs the key in
/// memory (it verifies signatures made with any tenant's secret), and each opens it through its own jurisdiction's key
/// store alone: the key is stored once per jurisdiction, as an envelope whose data key that
/// jurisdiction's key store wraps under its reserved tenant ``tenant`` (not a valid tenant name, so no tenant shares it).
///
/// Stored as `s/keys` (JSON, `formatVersion` 1): `{"jurisdictions": {"MA": {"keyVersion": …, "wrapped": …,
/// "sealed": …}}}`. A gateway holding the key adds the envelope of a jurisdiction that has none: a data key the
/// other key store generates (allowed from anywhere: it opens nothing stored), the control key sealed under it.
/// Earlier versions kept `s/key` (the default jurisdiction's wrapped key itself, no `sealed`); read as such.
public final class ControlSecrets: Sendable {
    /// The key store tenant whose key wraps the control key.
    public static let tenant = ".control"
    static let documentKey = "s/keys"
    static let legacyKey = "s/key"
    static let context = Array("qantara/v1/control-secrets".utf8)
    let key: SecretKey

    init(key: SecretKey) { self.key = key }

    struct Document: Codable, Equatable {
        var formatVersion = 1
        var jurisdictions: [String: Wrapping]
    }

    /// The control key as one jurisdiction's key store protects it.
    struct Wrapping: Codable, Equatable {
        /// The key-store tenant key version that wraps `wrapped`.
        var keyVersion: UInt32
        /// A data key, wrapped by the jurisdiction's key store (base64).
        var wrapped: String
        /// The control key sealed under that data key (base64); absent: the data key is the control key.
        var sealed: String?

        var wrappedKey: WrappedKey? { Base64.decode(wrapped).map { WrappedKey(tenantKeyVersion: keyVersion, bytes: $0) } }
    }

    static func sealingAAD(_ jurisdiction: Jurisdiction) -> [UInt8] {
        Array("qantara/v1/control-key\u{0}\(jurisdiction.code)".utf8)
    }

    /// The control key of `store`, opened by `home`'s key store: made there on first use; when `home` has no
    /// envelope yet, waited for (up to `wait`) until a gateway holding the key adds one. Once open, envelopes are
    /// added for every jurisdiction of `keyStores` that has none, and `home`'s is re-wrapped when its tenant key
    /// version changed. `legacy`: the jurisdiction whose key store wrapped an earlier version's `s/key`.
    public static func open(store: any ControlStore, home: Jurisdiction, legacy: Jurisdiction,
                            keyStores: [any KeyStoreClient], metadata: RequestMetadata, wait: Duration = .seconds(120),
                            logger: Logger) async throws -> ControlSecrets {
        guard let own = keyStores.first(where: { $0.jurisdiction == home }) else {
            throw ObjectServiceError.internalError("no key store of \(home) for the control plane's secrets")
        }
        let deadline = ContinuousClock.now + wait
        var waiting = false
        while true {
            let current = try await store.get(documentKey)
            guard let current else {
                if let old = try await store.get(legacyKey), old.value.count > 4 {
                    let version = old.value.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                    let envelope = Wrapping(keyVersion: version, wrapped: Base64.encode(Array(old.value.dropFirst(4))))
                    _ = try await store.write(documentKey, try encode(Document(jurisdictions: [legacy.code: envelope])),
                                              ifRevision: 0)
                    continue
                }
                let generated = try await own.generateDataKey(tenant: tenant, aad: context, metadata: metadata)
                let document = Document(jurisdictions: [home.code: Wrapping(
                    keyVersion: generated.wrapped.tenantKeyVersion, wrapped: Base64.encode(generated.wrapped.bytes))])
                guard case .written = try await store.write(documentKey, try encode(document), ifRevision: 0) else { continue }
                logger.info("control key made", metadata: ["jurisdiction": "\(home)"])
                continue
            }
            var document = try decode(current.value)
            guard let envelope = document.jurisdictions[home.code] else {
                guard ContinuousClock.now < deadline else {
                    throw ObjectServiceError.serviceUnavailable("the control key has no envelope for \(home) yet: start a "
                        + "gateway of \(document.jurisdictions.keys.sorted().joined(separator: ", ")) that reaches "
                        + "\(home)'s key store first")
                }
                if !waiting {
                    logger.warning("waiting for a gateway holding the control key to add \(home)'s envelope")
                    waiting = true
                }
                try await Task.sleep(for: .seconds(1))
                continue
            }
            guard let wrapped = envelope.wrappedKey else { throw ObjectServiceError.internalError("s/keys: \(home) unreadable") }
            let dataKey = try await own.decrypt(tenant: tenant, wrapped: wrapped, aad: context, metadata: metadata)
            let secrets: ControlSecrets
            if let sealed = envelope.sealed {
                guard let bytes = Base64.decode(sealed),
                      let controlKey = try? KeyWrap.unwrap(bytes, under: dataKey, aad: sealingAAD(home)) else {
                    throw ObjectServiceError.internalError("the control key's envelope for \(home) does not open")
                }
                secrets = ControlSecrets(key: controlKey)
            } else {
                secrets = ControlSecrets(key: dataKey)
            }
            // Re-wrapped under the current tenant key version, and shared with jurisdictions that lack it.
            let rewrapped = try await own.rewrap(tenant: tenant, wrapped: wrapped, aad: context, metadata: metadata)
            if rewrapped != wrapped {
                document.jurisdictions[home.code]?.keyVersion = rewrapped.tenantKeyVersion
                document.jurisdictions[home.code]?.wrapped = Base64.encode(rewrapped.bytes)
            }
            for other in keyStores where document.jurisdictions[other.jurisdiction.code] == nil {
                do {
                    let generated = try await other.generateDataKey(tenant: tenant, aad: context, metadata: metadata)
                    let sealed = KeyWrap.wrap(secrets.key, under: generated.plaintext, aad: sealingAAD(other.jurisdiction))
                    document.jurisdictions[other.jurisdiction.code] = Wrapping(
                        keyVersion: generated.wrapped.tenantKeyVersion, wrapped: Base64.encode(generated.wrapped.bytes),
                        sealed: Base64.encode(sealed))
                } catch {
                    logger.warning("control key not shared with a jurisdiction yet; a gateway starting later adds it",
                        metadata: ["jurisdiction": "\(other.jurisdiction)", "error": "\(error)"])
                }
            }
            if try decode(current.value) != document {
                // Lost to a concurrent writer: start over from what it wrote (the key itself never changes).
                guard case .written = try await store.write(documentKey, try encode(document), ifRevision: current.revision)
                else { continue }
            }
            if try await store.get(legacyKey) != nil { try await store.delete(legacyKey, ifRevision: nil) }
            return secrets
        }
    }

    static func encode(_ document: Document) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(document))
    }

    static func decode(_ bytes: [UInt8]) throws -> Document {
        do { return try JSONDecoder().decode(Document.self, from: Data(bytes)) } catch {
            throw ObjectServiceError.internalError("s/keys is unreadable: \(error)")
        }
    }

    /// A control key held in memory only (tests, and the in-memory control plane).
    public static func ephemeral() -> ControlSecrets { ControlSecrets(key: SecretKey.random()) }

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
