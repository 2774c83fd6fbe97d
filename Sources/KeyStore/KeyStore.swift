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
    let path: String
    let backend: KeyStoreBackend
    let now: @Sendable () -> Int64

    enum Phase {
        case sealed
        case unsealed(KeyState, Sealer)
    }

    let phase = Mutex<Phase>(.sealed)
    /// Root versions replaced by a rotation, destroyed in the token once the state naming the new root is durable.
    let pendingDiscard = Mutex<[KeyState.RootVersion]>([])

    /// A key store whose sealed state lives at `path` (created on first unseal). It starts sealed.
    public init(jurisdiction: Jurisdiction, path: String, backend: KeyStoreBackend = .builtin(.interactive),
                now: @escaping @Sendable () -> Int64) {
        self.jurisdiction = jurisdiction
        self.path = path
        self.backend = backend
        self.now = now
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

    /// Opens the sealed state with `secret`, or creates it (with a first root key version) when there is none.
    /// Fails on a wrong secret or an altered file and stays sealed.
    public func unseal(secret: [UInt8]) throws {
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

    private func persist(_ state: KeyState, _ sealer: Sealer) throws {
        var plain = state.encoded()
        defer { wipe(&plain) }
        try SealedFile.writeAtomically(try seal(plain, with: sealer), to: path)
    }

    /// Runs `body` on the unsealed state after checking the requester; a mutation is persisted before it is kept.
    /// Longest validity of a grant this authority issues.
    public let maximumGrantLifetimeSeconds: Int64 = 30 * 86_400

    private func withState<R>(_ metadata: RequestMetadata, mutating: Bool = false, anyJurisdiction: Bool = false,
                              _ body: (inout KeyState) throws -> R) throws -> R {
        guard anyJurisdiction || metadata.jurisdiction == jurisdiction else {
            throw KeyStoreError.wrongJurisdiction(store: jurisdiction, requester: metadata.requester,
                                                  requesterJurisdiction: metadata.jurisdiction)
        }
        return try phase.withLock { phase in
            guard case .unsealed(var state, let sealing) = phase else { throw KeyStoreError.sealed(jurisdiction) }
            let result = try body(&state)
            if mutating {
                try persist(state, sealing)
                phase = .unsealed(state, sealing)
                for root in pendingDiscard.withLock({ roots in defer { roots = [] }; return roots }) { discardRoot(root) }
            }
            return result
        }
    }

    // MARK: Root wrapping of tenant keys

    private func tenantAAD(_ tenant: String, version: UInt32) -> [UInt8] {
        var writer = BinaryWriter()
        writer.writeString("qantara/v1/tenant-key")
        writer.writeString(jurisdiction.code)
        writer.writeString(tenant)
        writer.write(version)
        return writer.bytes
    }

    private func dataKeyAAD(_ tenant: String, version: UInt32, _ aad: [UInt8]) -> [UInt8] {
        var writer = BinaryWriter()
        writer.writeString("qantara/v1/ks-data-key")
        writer.writeString(jurisdiction.code)
        writer.writeString(tenant)
        writer.write(version)
        writer.writeField(aad)
        return writer.bytes
    }

    private func tenantKey(_ state: KeyState, _ tenant: String, version: UInt32) throws -> SecretKey {
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
    private func currentTenantKey(_ state: inout KeyState, _ tenant: String, created: inout Bool) throws
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

    private func checkTenant(_ tenant: String) throws {
        guard !tenant.isEmpty, tenant.utf8.count <= 64 else { throw KeyStoreError.invalidRequest("tenant name") }
    }

    // MARK: KeyStoreClient

    /// Any authenticated requester may ask: a fresh key only protects what the requester itself writes into this
    /// jurisdiction (writes into a jurisdiction are allowed from anywhere); it opens nothing stored.
    public func generateDataKey(tenant: String, aad: [UInt8], metadata: RequestMetadata) async throws -> GeneratedKey {
        try checkTenant(tenant)
        // A tenant's first key is created (and persisted) here; later calls change nothing.
        let existing = try withState(metadata, anyJurisdiction: true) { state -> GeneratedKey? in
            guard let current = state.tenants[tenant]?.current, state.tenants[tenant]?.destroyedMillis == nil else { return nil }
            return try makeDataKey(state, tenant: tenant, version: current.version, aad: aad)
        }
        if let existing { return existing }
        return try withState(metadata, mutating: true, anyJurisdiction: true) { state in
            var created = false
            let (version, _) = try currentTenantKey(&state, tenant, created: &created)
            return try makeDataKey(state, tenant: tenant, version: version, aad: aad)
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

    private func makeDataKey(_ state: KeyState, tenant: String, version: UInt32, aad: [UInt8]) throws -> GeneratedKey {
        let key = SecretKey.random()
        let wrapping = try tenantKey(state, tenant, version: version)
        return GeneratedKey(plaintext: key, wrapped: WrappedKey(tenantKeyVersion: version,
                            bytes: KeyWrap.wrap(key, under: wrapping, aad: dataKeyAAD(tenant, version: version, aad))))
    }

    private func open(_ state: KeyState, tenant: String, wrapped: WrappedKey, aad: [UInt8]) throws -> SecretKey {
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

    public func decrypt(tenant: String, wrapped: WrappedKey, aad: [UInt8], metadata: RequestMetadata) async throws
        -> SecretKey
    {
        let crossBorder = metadata.jurisdiction != jurisdiction
        return try withState(metadata, anyJurisdiction: crossBorder) { state in
            if crossBorder { try checkRelease(state, tenant: tenant, aad: aad, metadata: metadata) }
            return try open(state, tenant: tenant, wrapped: wrapped, aad: aad)
        }
    }

    /// The key store's own sovereignty check before releasing a key to a requester of another jurisdiction: the
    /// grant it names must be this authority's, valid, unrevoked, and cover the tenant, the bucket (read from the
    /// authenticated associated data), the requester's jurisdiction and the operation.
    private func checkRelease(_ state: KeyState, tenant: String, aad: [UInt8], metadata: RequestMetadata) throws {
        guard let grantID = metadata.grantID else {
            throw KeyStoreError.wrongJurisdiction(store: jurisdiction, requester: metadata.requester,
                                                  requesterJurisdiction: metadata.jurisdiction)
        }
        func refuse(_ reason: String) -> KeyStoreError {
            .grantRefused(store: jurisdiction, requester: metadata.requester, requesterJurisdiction: metadata.jurisdiction,
                          reason: reason)
        }
        guard let context = BucketKeyContext(decoding: aad) else { throw refuse("not a bucket key") }
        let decision = Sovereignty.decideKeyRelease(
            grantID: grantID, tenant: tenant, bucket: context.bucket, operation: metadata.operation,
            requester: metadata.jurisdiction, issuer: jurisdiction,
            grants: state.grants.map { SignedGrant(compact: $0.record.compact) },
            authorities: authorityMap(state), revoked: Set(state.grants.filter { $0.record.revokedMillis != nil }.map(\.id)),
            nowSeconds: now() / 1000)
        guard case .granted = decision else {
            if case .refused(let reason, _) = decision { throw refuse("\(reason.rawValue), grant \(grantID)") }
            throw refuse("grant \(grantID)")
        }
    }

    // MARK: Authority and grants

    /// Creates the authority key of a state that has none (a new store, or one written before grants existed).
    /// Returns whether the state changed.
    private func ensureAuthority(_ state: inout KeyState) -> Bool {
        guard state.authorities.isEmpty else { return false }
        let pair = Ed25519.KeyPair.generate()
        var secret = pair.exportSecret()
        defer { wipe(&secret) }
        state.authorities.append(.init(version: 1, createdMillis: now(), secret: SecretKey(copying: secret)))
        return true
    }

    private func keyPair(_ authority: KeyState.Authority) -> Ed25519.KeyPair {
        var secret = authority.secret.exportBytes()
        defer { wipe(&secret) }
        return Ed25519.KeyPair(secretKeyBytes: secret)
    }

    func kid(_ version: UInt32) -> String { "\(jurisdiction.code)-authority-v\(version)" }

    private func authorityMap(_ state: KeyState) -> Sovereignty.Authorities {
        var map = Sovereignty.Authorities()
        for authority in state.authorities {
            map[kid(authority.version)] = (jurisdiction, keyPair(authority).publicKey)
        }
        return map
    }

    public func authorities() async throws -> [AuthorityKey] {
        try phase.withLock { phase in
            guard case .unsealed(let state, _) = phase else { throw KeyStoreError.sealed(jurisdiction) }
            return state.authorities.map {
                AuthorityKey(jurisdiction: jurisdiction, kid: kid($0.version), publicKey: Base64.encode(keyPair($0).publicKey))
            }
        }
    }

    public func issueGrant(_ grant: Grant, metadata: RequestMetadata) async throws -> GrantStatus {
        try withState(metadata, mutating: true) { state in
            var grant = grant
            grant.issuer = jurisdiction
            let problems = grant.problems(maximumLifetimeSeconds: maximumGrantLifetimeSeconds)
            guard problems.isEmpty else { throw KeyStoreError.invalidRequest(problems.joined(separator: "; ")) }
            guard !state.grants.contains(where: { $0.id == grant.id }) else {
                throw KeyStoreError.invalidRequest("grant \(grant.id) exists")
            }
            _ = ensureAuthority(&state)
            let authority = state.authorities.last!
            let signed: SignedGrant
            do { signed = try SignedGrant.sign(grant, kid: kid(authority.version), with: keyPair(authority)) } catch {
                throw KeyStoreError.invalidRequest("cannot encode the grant: \(error)")
            }
            state.grants.append((grant.id, .init(compact: signed.compact, revokedMillis: nil)))
            return GrantStatus(id: grant.id, jws: signed.compact, revokedMillis: nil)
        }
    }

    public func signAuditHead(_ message: [UInt8], metadata: RequestMetadata) async throws -> AuditSignature {
        var prefix = BinaryWriter()
        prefix.writeString("qantara-audit-head/v1")
        prefix.writeString(jurisdiction.code)
        guard message.starts(with: prefix.bytes), message.count <= 256 else {
            throw KeyStoreError.invalidRequest("only audit heads of \(jurisdiction) are signed")
        }
        return try withState(metadata) { state in
            guard let authority = state.authorities.last else { throw KeyStoreError.corrupt("no authority key") }
            return AuditSignature(kid: kid(authority.version),
                                  signature: Base64URL.encode(keyPair(authority).sign(message)))
        }
    }

    public func grants(metadata: RequestMetadata) async throws -> [GrantStatus] {
        try withState(metadata, anyJurisdiction: true) { state in
            state.grants.map { GrantStatus(id: $0.id, jws: $0.record.compact, revokedMillis: $0.record.revokedMillis) }
        }
    }

    public func revokeGrant(id: String, metadata: RequestMetadata) async throws -> GrantStatus {
        try withState(metadata, mutating: true) { state in
            guard let index = state.grants.firstIndex(where: { $0.id == id }) else {
                throw KeyStoreError.invalidRequest("no grant \(id)")
            }
            if state.grants[index].record.revokedMillis == nil { state.grants[index].record.revokedMillis = now() }
            let record = state.grants[index].record
            return GrantStatus(id: id, jws: record.compact, revokedMillis: record.revokedMillis)
        }
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

    public func keys(tenant: String?, metadata: RequestMetadata) async throws -> [KeyVersionInfo] {
        try withState(metadata) { state in
            var result = [KeyVersionInfo]()
            if tenant == nil {
                for root in state.roots {
                    result.append(KeyVersionInfo(jurisdiction: jurisdiction, tenant: nil, version: root.version,
                                                 state: root.version == state.currentRoot.version ? .current : .active,
                                                 createdMillis: root.createdMillis))
                }
            }
            for (name, entry) in state.tenants.sorted(by: { $0.key < $1.key }) where tenant == nil || tenant == name {
                result += Self.describe(entry, name: name, jurisdiction: jurisdiction)
            }
            return result
        }
    }

    static func describe(_ entry: KeyState.Tenant, name: String, jurisdiction: Jurisdiction) -> [KeyVersionInfo] {
        entry.versions.map { version in
            let state: KeyVersionState
            if entry.destroyedMillis != nil {
                state = .destroyed
            } else if version.version == entry.current?.version {
                state = .current
            } else if version.version < entry.minimumDecryptionVersion {
                state = .retired
            } else {
                state = .active
            }
            return KeyVersionInfo(jurisdiction: jurisdiction, tenant: name, version: version.version, state: state,
                                  createdMillis: entry.destroyedMillis ?? version.createdMillis)
        }
    }

    public func rotate(tenant: String?, metadata: RequestMetadata) async throws -> KeyVersionInfo {
        try withState(metadata, mutating: true) { state in
            let created = now()
            guard let tenant else {
                // A new root version: every tenant key version is re-wrapped under it, so older roots go.
                let root = try makeRoot(version: state.currentRoot.version + 1)
                let retiredRoots = state.roots
                for (name, entry) in state.tenants where entry.destroyedMillis == nil {
                    var updated = entry
                    for index in updated.versions.indices {
                        let version = updated.versions[index].version
                        let key = try tenantKey(state, name, version: version)
                        updated.versions[index].wrapped = try wrapUnderRoot(key, root, aad: tenantAAD(name, version: version))
                        updated.versions[index].rootVersion = root.version
                    }
                    state.tenants[name] = updated
                }
                state.roots = [root]
                // Old roots wrap nothing now; the token's copies go once the new state is on disk (next call).
                pendingDiscard.withLock { $0 += retiredRoots }
                return KeyVersionInfo(jurisdiction: jurisdiction, tenant: nil, version: root.version, state: .current,
                                      createdMillis: created)
            }
            try checkTenant(tenant)
            var entry = state.tenants[tenant] ?? KeyState.Tenant()
            if entry.destroyedMillis != nil { throw KeyStoreError.tenantKeyDestroyed(jurisdiction, tenant: tenant) }
            let version = (entry.current?.version ?? 0) + 1
            let root = state.currentRoot
            entry.versions.append(.init(version: version, createdMillis: created, rootVersion: root.version,
                                        wrapped: try wrapUnderRoot(SecretKey.random(), root,
                                                                   aad: tenantAAD(tenant, version: version))))
            state.tenants[tenant] = entry
            return KeyVersionInfo(jurisdiction: jurisdiction, tenant: tenant, version: version, state: .current,
                                  createdMillis: created)
        }
    }

    public func retire(tenant: String, metadata: RequestMetadata) async throws -> [KeyVersionInfo] {
        try withState(metadata, mutating: true) { state in
            guard var entry = state.tenants[tenant], let current = entry.current else {
                throw KeyStoreError.noTenantKey(jurisdiction, tenant: tenant)
            }
            if entry.destroyedMillis != nil { throw KeyStoreError.tenantKeyDestroyed(jurisdiction, tenant: tenant) }
            entry.minimumDecryptionVersion = current.version
            state.tenants[tenant] = entry
            return Self.describe(entry, name: tenant, jurisdiction: jurisdiction)
        }
    }

    public func destroy(tenant: String, metadata: RequestMetadata) async throws {
        try withState(metadata, mutating: true) { state in
            var entry = state.tenants[tenant] ?? KeyState.Tenant()
            guard entry.destroyedMillis == nil else { return }
            // The wrapped material goes; the version numbers stay so `key list` shows what was destroyed.
            for index in entry.versions.indices { entry.versions[index].wrapped = [] }
            entry.destroyedMillis = now()
            state.tenants[tenant] = entry
        }
    }

    public func health() async throws -> KeyStoreHealth {
        KeyStoreHealth(jurisdiction: jurisdiction, sealed: isSealed, backend: backend.name)
    }
}
