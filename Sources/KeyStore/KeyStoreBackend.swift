import CPKCS11
import Envelope
import Hashing
import ObjectModel

/// Where a key store's root keys live and how its state is sealed at rest.
public enum KeyStoreBackend: Sendable {
    /// Root keys inside the state file, the file sealed under a key derived from the unseal secret (Argon2id).
    case builtin(SealedFile.Cost)
    /// Root keys inside a PKCS#11 token (non-extractable AES keys; wrapping done by the token), the state file
    /// sealed by a token key too.
    case pkcs11(PKCS11Token)

    var name: String {
        switch self {
        case .builtin: return "builtin"
        case .pkcs11: return "pkcs11"
        }
    }
}

/// What seals the state of an open key store.
enum Sealer {
    case secret(SealedFile.SealingKey)
    case token(PKCS11Token, stateKey: CK_OBJECT_HANDLE)
}

/// Root-key operations of one jurisdiction's hierarchy, whatever holds the root.
extension KeyStore {
    /// Label of a token object of this jurisdiction.
    func tokenLabel(_ name: String) -> String { "qantara-\(jurisdiction.code)-\(name)" }

    /// A new root key version: random material (builtin) or a key generated inside the token.
    func makeRoot(version: UInt32) throws -> KeyState.RootVersion {
        switch backend {
        case .builtin:
            return KeyState.RootVersion(version: version, createdMillis: now(), material: SecretKey.random())
        case .pkcs11(let token):
            do { _ = try token.generateAESKey(label: tokenLabel("root-v\(version)")) } catch {
                throw KeyStoreError.unavailable("\(error)")
            }
            return KeyState.RootVersion(version: version, createdMillis: now(), material: nil)
        }
    }

    /// Drops a root version no tenant key depends on any more (the token object is destroyed).
    func discardRoot(_ root: KeyState.RootVersion) {
        if case .pkcs11(let token) = backend, let handle = try? token.findKey(tokenLabel("root-v\(root.version)")) {
            try? token.destroy(handle)
        }
    }

    /// Wraps a tenant key under a root version. The token's format starts with `0x02`, the built-in one (KeyWrap)
    /// with `0x01`.
    func wrapUnderRoot(_ key: SecretKey, _ root: KeyState.RootVersion, aad: [UInt8]) throws -> [UInt8] {
        if let material = root.material { return KeyWrap.wrap(key, under: material, aad: aad) }
        guard case .pkcs11(let token) = backend else { throw KeyStoreError.corrupt("root v\(root.version) has no material") }
        do {
            guard let handle = try token.findKey(tokenLabel("root-v\(root.version)")) else {
                throw KeyStoreError.corrupt("root v\(root.version) of \(jurisdiction) is missing from token \(token.tokenLabel)")
            }
            return [0x02] + (try token.encrypt(handle, plaintext: key.exportBytes(), aad: aad))
        } catch let error as PKCS11Token.Failure {
            throw KeyStoreError.unavailable("\(error)")
        }
    }

    /// Opens a tenant key wrapped under a root version.
    func unwrapUnderRoot(_ wrapped: [UInt8], _ root: KeyState.RootVersion, aad: [UInt8]) throws -> SecretKey {
        if let material = root.material { return try KeyWrap.unwrap(wrapped, under: material, aad: aad) }
        guard case .pkcs11(let token) = backend, wrapped.first == 0x02 else {
            throw KeyStoreError.corrupt("tenant key wrapped in an unknown format")
        }
        do {
            guard let handle = try token.findKey(tokenLabel("root-v\(root.version)")) else {
                throw KeyStoreError.corrupt("root v\(root.version) of \(jurisdiction) is missing from token \(token.tokenLabel)")
            }
            guard var plain = try token.decrypt(handle, sealed: Array(wrapped.dropFirst()), aad: aad),
                  plain.count == SecretKey.sizeBytes else {
                throw EnvelopeError.authenticationFailed("tenant key does not open under the token's root key")
            }
            defer { wipe(&plain) }
            return SecretKey(copying: plain)
        } catch let error as PKCS11Token.Failure {
            throw KeyStoreError.unavailable("\(error)")
        }
    }

    // MARK: State at rest

    static let tokenStateMagic: [UInt8] = Array("QKP1".utf8)

    func stateAAD() -> [UInt8] { Self.tokenStateMagic + [1] + Array(jurisdiction.code.utf8) }

    /// Seals the encoded state for the file.
    func seal(_ plain: [UInt8], with sealer: Sealer) throws -> [UInt8] {
        switch sealer {
        case .secret(let key):
            return SealedFile.seal(plain, with: key)
        case .token(let token, let stateKey):
            do {
                return Self.tokenStateMagic + [1] + (try token.encrypt(stateKey, plaintext: plain, aad: stateAAD()))
            } catch {
                throw KeyStoreError.unavailable("\(error)")
            }
        }
    }

    /// Opens the token-sealed state file, creating the token's state key on first use.
    func openWithToken(_ token: PKCS11Token) throws -> (KeyState?, Sealer) {
        do {
            let label = tokenLabel("state")
            let file = try SealedFile.readFile(path)
            guard let file else {
                let stateKey = try token.findKey(label) ?? token.generateAESKey(label: label)
                return (nil, .token(token, stateKey: stateKey))
            }
            guard file.count > 5, Array(file.prefix(4)) == Self.tokenStateMagic, file[4] == 1 else {
                throw KeyStoreError.corrupt("\(path) is not a token-sealed key-store state")
            }
            guard let stateKey = try token.findKey(label) else {
                throw KeyStoreError.corrupt("token \(token.tokenLabel) lacks the state key \(label) of \(path)")
            }
            guard var plain = try token.decrypt(stateKey, sealed: Array(file.dropFirst(5)), aad: stateAAD()) else {
                throw KeyStoreError.corrupt("the sealed state of \(jurisdiction) fails authentication: the file was "
                    + "altered or damaged")
            }
            defer { wipe(&plain) }
            return (try KeyState(decoding: plain), .token(token, stateKey: stateKey))
        } catch let error as PKCS11Token.Failure {
            throw KeyStoreError.unavailable("\(error)")
        }
    }
}
