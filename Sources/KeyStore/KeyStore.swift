import Envelope
import Hashing
import ObjectModel
import Sovereignty
import Synchronization

/// The built-in key store of one jurisdiction: root and tenant keys generated here, kept sealed at rest under a
/// key derived from the unseal secret, never returned in the clear; data keys wrapped and unwrapped here.
///
/// It is also the in-process ``KeyStoreClient``. Every call is checked against the requester's jurisdiction.
public final class KeyStore: KeyStoreClient {
    public let jurisdiction: Jurisdiction
    /// The sealed state file.
    public let path: String
    let backend: KeyStoreBackend
    let now: @Sendable () -> Int64

    enum Phase {
        case sealed
        case unsealed(KeyState, Sealer)
    }

    let phase = Mutex<Phase>(.sealed)
    /// Authority calls seen recently: a signed call is accepted once.
    let recentCalls = Mutex(RecentCalls())
    /// When this store started (seconds): the calls it saw before are forgotten, so a call signed earlier is
    /// refused rather than replayable after a restart.
    let startedSeconds: Int64
    /// Root versions replaced by a rotation, destroyed in the token once the state naming the new root is durable.
    let pendingDiscard = Mutex<[KeyState.RootVersion]>([])

    /// A key store whose sealed state lives at `path` (created on first unseal). It starts sealed.
    /// Default longest validity of a grant: 30 days.
    public static let defaultMaximumGrantLifetimeSeconds: Int64 = 30 * 86_400

    public init(jurisdiction: Jurisdiction, path: String, backend: KeyStoreBackend = .builtin(.interactive),
                maximumGrantLifetimeSeconds: Int64 = KeyStore.defaultMaximumGrantLifetimeSeconds,
                now: @escaping @Sendable () -> Int64) {
        self.jurisdiction = jurisdiction
        self.path = path
        self.backend = backend
        self.maximumGrantLifetimeSeconds = maximumGrantLifetimeSeconds
        self.now = now
        startedSeconds = now() / 1000
    }

    /// A built-in store whose unseal secret is stretched with `cost`.
    public convenience init(jurisdiction: Jurisdiction, path: String, cost: SealedFile.Cost,
                            now: @escaping @Sendable () -> Int64) {
        self.init(jurisdiction: jurisdiction, path: path, backend: .builtin(cost), now: now)
    }

    /// Opens a PKCS#11-backed store through its token (logged in with its PIN already), creating the state and a
    /// first root key in the token on first use.
    public func open() throws {
        guard case .pkcs11(let token) = backend else {
            throw KeyStoreError.invalidRequest("the built-in key store opens with its unseal secret")
        }
        let (loaded, sealer) = try openWithToken(token)
        if var state = loaded {
            guard state.jurisdiction == jurisdiction else {
                throw KeyStoreError.corrupt("the sealed state at \(path) belongs to \(state.jurisdiction), not \(jurisdiction)")
            }
            if ensureAuthority(&state) { try persist(state, sealer) }
            phase.withLock { $0 = .unsealed(state, sealer) }
        } else {
            var state = KeyState(jurisdiction: jurisdiction)
            state.roots.append(try makeRoot(version: 1))
            _ = ensureAuthority(&state)
            try persist(state, sealer)
            phase.withLock { $0 = .unsealed(state, sealer) }
        }
    }

    /// Opens the sealed state with `secret`, or, with `create`, makes it (with a first root key version) when there is
    /// none. Fails on a wrong secret or an altered file and stays sealed. Without `create` a missing state is an
    /// error: whoever unseals a running store never chooses the secret of a new one.
    public func unseal(secret: [UInt8], create: Bool = true) throws {
        guard case .builtin(let cost) = backend else {
            throw KeyStoreError.invalidRequest("a PKCS#11 key store opens through its token")
        }
        guard !secret.isEmpty else { throw KeyStoreError.invalidRequest("the unseal secret is empty") }
        if let file = try SealedFile.readFile(path) {
            let (bytes, sealing) = try SealedFile.unseal(file, secret: secret, jurisdiction: jurisdiction)
            var plain = bytes
            defer { wipe(&plain) }
            var state = try KeyState(decoding: plain)
            guard state.jurisdiction == jurisdiction else {
                throw KeyStoreError.corrupt("the sealed state at \(path) belongs to \(state.jurisdiction), not \(jurisdiction)")
            }
            if ensureAuthority(&state) { try persist(state, .secret(sealing)) }
            phase.withLock { $0 = .unsealed(state, .secret(sealing)) }
        } else {
            guard create else {
                throw KeyStoreError.invalidRequest("no key store state at \(path): a new store is created only at its "
                    + "start, with the unseal secret its operators chose (QANTARA_UNSEAL_SECRET)")
            }
            let sealing = try SealedFile.SealingKey(secret: secret, salt: SecureRandom.bytes(SealedFile.saltSizeBytes),
                                                    cost: cost)
            var state = KeyState(jurisdiction: jurisdiction)
            state.roots.append(try makeRoot(version: 1))
            _ = ensureAuthority(&state)
            try persist(state, .secret(sealing))
            phase.withLock { $0 = .unsealed(state, .secret(sealing)) }
        }
    }

    /// Forgets every key in memory; calls fail with ``KeyStoreError/sealed(_:)`` until the next unseal.
    public func seal() { phase.withLock { $0 = .sealed } }

    public var isSealed: Bool { phase.withLock { if case .sealed = $0 { return true } else { return false } } }

    func persist(_ state: KeyState, _ sealer: Sealer) throws {
        var plain = state.encoded()
        defer { wipe(&plain) }
        try SealedFile.writeAtomically(try seal(plain, with: sealer), to: path)
    }

    /// Longest validity of a grant this authority issues.
    public let maximumGrantLifetimeSeconds: Int64

    /// Runs `body` on the unsealed state after checking the requester; a mutation is persisted before it is kept.
    func withState<R>(_ metadata: RequestMetadata, mutating: Bool = false, anyJurisdiction: Bool = false,
                              _ body: (inout KeyState) throws -> R) throws -> R {
        try withState(metadata, anyJurisdiction: anyJurisdiction) { state, changed in
            changed = mutating
            return try body(&state)
        }
    }

    /// Runs `body` on the unsealed state after checking the requester; when `body` sets its flag, the changed state is
    /// persisted before it is kept (a body that throws changes nothing).
    func withState<R>(_ metadata: RequestMetadata, anyJurisdiction: Bool = false,
                      _ body: (inout KeyState, inout Bool) throws -> R) throws -> R {
        guard anyJurisdiction || metadata.jurisdiction == jurisdiction else {
            throw KeyStoreError.wrongJurisdiction(store: jurisdiction, requester: metadata.requester,
                                                  requesterJurisdiction: metadata.jurisdiction)
        }
        return try phase.withLock { phase in
            guard case .unsealed(var state, let sealing) = phase else { throw KeyStoreError.sealed(jurisdiction) }
            var mutating = false
            let result = try body(&state, &mutating)
            if mutating {
                try persist(state, sealing)
                phase = .unsealed(state, sealing)
                for root in pendingDiscard.withLock({ roots in defer { roots = [] }; return roots }) { discardRoot(root) }
            }
            return result
        }
    }

    // MARK: Root wrapping of tenant keys

    func tenantAAD(_ tenant: String, version: UInt32) -> [UInt8] {
        var writer = BinaryWriter()
        writer.writeString("qantara/v1/tenant-key")
        writer.writeString(jurisdiction.code)
        writer.writeString(tenant)
        writer.write(version)
        return writer.bytes
    }

    func dataKeyAAD(_ tenant: String, version: UInt32, _ aad: [UInt8]) -> [UInt8] {
        var writer = BinaryWriter()
        writer.writeString("qantara/v1/ks-data-key")
        writer.writeString(jurisdiction.code)
        writer.writeString(tenant)
        writer.write(version)
        writer.writeField(aad)
        return writer.bytes
    }

    func tenantKey(_ state: KeyState, _ tenant: String, version: UInt32) throws -> SecretKey {
        guard let entry = state.tenants[tenant], let record = entry.versions.first(where: { $0.version == version }) else {
            if state.tenants[tenant]?.destroyedMillis != nil {
                throw KeyStoreError.tenantKeyDestroyed(jurisdiction, tenant: tenant)
            }
            throw KeyStoreError.unknownVersion(jurisdiction, tenant: tenant, version: version)
        }
        guard let root = state.roots.first(where: { $0.version == record.rootVersion }) else {
            throw KeyStoreError.corrupt("tenant \(tenant) v\(version) is wrapped by missing root v\(record.rootVersion)")
        }
        do {
            return try unwrapUnderRoot(record.wrapped, root, aad: tenantAAD(tenant, version: version))
        } catch {
            throw KeyStoreError.corrupt("tenant \(tenant) v\(version) does not open under root v\(root.version)")
        }
    }

    /// The tenant's current version and key, creating version 1 on first use; refused once destroyed.
    func currentTenantKey(_ state: inout KeyState, _ tenant: String, created: inout Bool) throws
        -> (UInt32, SecretKey)
    {
        var entry = state.tenants[tenant] ?? KeyState.Tenant()
        if entry.destroyedMillis != nil { throw KeyStoreError.tenantKeyDestroyed(jurisdiction, tenant: tenant) }
        if let current = entry.current { return (current.version, try tenantKey(state, tenant, version: current.version)) }
        let key = SecretKey.random()
        let root = state.currentRoot
        entry.versions.append(.init(version: 1, createdMillis: now(), rootVersion: root.version,
                                    wrapped: try wrapUnderRoot(key, root, aad: tenantAAD(tenant, version: 1))))
        state.tenants[tenant] = entry
        created = true
        return (1, key)
    }

    func checkTenant(_ tenant: String) throws {
        guard !tenant.isEmpty, tenant.utf8.count <= 64 else { throw KeyStoreError.invalidRequest("tenant name") }
    }

    // MARK: KeyStoreClient

    /// Any authenticated requester may ask: a fresh key only protects what the requester itself writes into this
    /// jurisdiction (writes into a jurisdiction are allowed from anywhere); it opens nothing stored. A key marked as
    /// issued to a jurisdiction (for a multipart upload started there) is made only for a requester of that
    /// jurisdiction, and never for this one's own.
    public func generateDataKey(tenant: String, aad: [UInt8], metadata: RequestMetadata) async throws -> GeneratedKey {
        try checkTenant(tenant)
        if let issuedTo = BucketKeyContext(decoding: aad)?.issuedTo,
           issuedTo != metadata.jurisdiction || issuedTo == jurisdiction {
            throw KeyStoreError.invalidRequest("a key issued to \(issuedTo) is made only for a requester of "
                + "\(issuedTo), in another jurisdiction than \(jurisdiction)")
        }
        // A tenant's first key is created (and persisted) here; later calls change nothing.
        let existing = try withState(metadata, anyJurisdiction: true) { state -> GeneratedKey? in
            guard let current = state.tenants[tenant]?.current, state.tenants[tenant]?.destroyedMillis == nil else { return nil }
            return try makeDataKey(state, tenant: tenant, version: current.version, aad: aad)
        }
        if let existing { return existing }
        return try withState(metadata, mutating: true, anyJurisdiction: true) { state in
            var created = false
            let (version, _) = try currentTenantKey(&state, tenant, created: &created)
            var key = try makeDataKey(state, tenant: tenant, version: version, aad: aad)
            key.createdTenantKey = created
            return key
        }
    }

    public func encrypt(tenant: String, plaintext: SecretKey, aad: [UInt8], metadata: RequestMetadata) async throws
        -> WrappedKey
    {
        try checkTenant(tenant)
        guard plaintext.count == SecretKey.sizeBytes else {
            throw KeyStoreError.invalidRequest("only \(SecretKey.sizeBytes)-byte keys are wrapped")
        }
        return try withState(metadata, mutating: true) { state in
            var created = false
            let (version, wrapping) = try currentTenantKey(&state, tenant, created: &created)
            return WrappedKey(tenantKeyVersion: version,
                              bytes: KeyWrap.wrap(plaintext, under: wrapping, aad: dataKeyAAD(tenant, version: version, aad)))
        }
    }

    func makeDataKey(_ state: KeyState, tenant: String, version: UInt32, aad: [UInt8]) throws -> GeneratedKey {
        let key = SecretKey.random()
        let wrapping = try tenantKey(state, tenant, version: version)
        return GeneratedKey(plaintext: key, wrapped: WrappedKey(tenantKeyVersion: version,
                            bytes: KeyWrap.wrap(key, under: wrapping, aad: dataKeyAAD(tenant, version: version, aad))))
    }

    func open(_ state: KeyState, tenant: String, wrapped: WrappedKey, aad: [UInt8]) throws -> SecretKey {
        guard let entry = state.tenants[tenant] else { throw KeyStoreError.noTenantKey(jurisdiction, tenant: tenant) }
        if entry.destroyedMillis != nil { throw KeyStoreError.tenantKeyDestroyed(jurisdiction, tenant: tenant) }
        guard wrapped.tenantKeyVersion >= entry.minimumDecryptionVersion else {
            throw KeyStoreError.versionRetired(jurisdiction, tenant: tenant, version: wrapped.tenantKeyVersion,
                                               minimum: entry.minimumDecryptionVersion)
        }
        let wrapping = try tenantKey(state, tenant, version: wrapped.tenantKeyVersion)
        do {
            return try KeyWrap.unwrap(wrapped.bytes, under: wrapping,
                                      aad: dataKeyAAD(tenant, version: wrapped.tenantKeyVersion, aad))
        } catch {
            throw KeyStoreError.wrappedKeyRejected(jurisdiction, tenant: tenant)
        }
    }

    /// Only for requesters of this jurisdiction: what it opens (a bucket key) opens every object written under it. A
    /// requester of another jurisdiction gets one object's data key at most (``releaseDataKey(_:metadata:)``).
    public func decrypt(tenant: String, wrapped: WrappedKey, aad: [UInt8], metadata: RequestMetadata) async throws
        -> SecretKey
    {
        try withState(metadata) { state in try open(state, tenant: tenant, wrapped: wrapped, aad: aad) }
    }

    public func rewrap(tenant: String, wrapped: WrappedKey, aad: [UInt8], metadata: RequestMetadata) async throws
        -> WrappedKey
    {
        try withState(metadata) { state in
            let key = try open(state, tenant: tenant, wrapped: wrapped, aad: aad)
            guard let current = state.tenants[tenant]?.current else { throw KeyStoreError.noTenantKey(jurisdiction, tenant: tenant) }
            if current.version == wrapped.tenantKeyVersion { return wrapped }
            let wrapping = try tenantKey(state, tenant, version: current.version)
            return WrappedKey(tenantKeyVersion: current.version,
                              bytes: KeyWrap.wrap(key, under: wrapping, aad: dataKeyAAD(tenant, version: current.version, aad)))
        }
    }

    public func health() async throws -> KeyStoreHealth {
        KeyStoreHealth(jurisdiction: jurisdiction, sealed: isSealed, backend: backend.name)
    }
}
