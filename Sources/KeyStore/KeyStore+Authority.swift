import Envelope
import Hashing
import ObjectModel
import Sovereignty

/// The jurisdiction's authority: its signing key, the sovereignty grants it issues and revokes, its signatures of
/// audit heads, and the check of a grant before a key is released across a border.
extension KeyStore {
    /// The key store's own sovereignty check before releasing a key to a requester of another jurisdiction: the
    /// grant it names must be this authority's, valid, unrevoked, and cover the tenant, the bucket (read from the
    /// authenticated associated data), the requester's jurisdiction and the operation. A key made for a multipart
    /// upload that the requester's jurisdiction started goes back to it for that upload's operations without a
    /// grant (see ``Sovereignty/decideKeyRelease``).
    func checkRelease(_ state: KeyState, tenant: String, aad: [UInt8], metadata: RequestMetadata) throws {
        let context = BucketKeyContext(decoding: aad)
        guard metadata.grantID != nil || (context?.issuedTo != nil && context?.issuedTo == metadata.jurisdiction) else {
            throw KeyStoreError.wrongJurisdiction(store: jurisdiction, requester: metadata.requester,
                                                  requesterJurisdiction: metadata.jurisdiction)
        }
        guard let context else { throw KeyStoreError.grantRefused(jurisdiction, metadata, "not a bucket key") }
        let decision = Sovereignty.decideKeyRelease(
            grantID: metadata.grantID, tenant: tenant, bucket: context.bucket, operation: metadata.operation,
            requester: metadata.jurisdiction, issuer: jurisdiction, issuedTo: context.issuedTo,
            grants: state.grants.map { SignedGrant(compact: $0.record.compact) },
            authorities: authorityMap(state), revoked: Set(state.grants.filter { $0.record.revokedMillis != nil }.map(\.id)),
            nowSeconds: now() / 1000)
        if case .refused(let reason, let grantID) = decision {
            throw KeyStoreError.grantRefused(jurisdiction, metadata, reason, grantID: grantID)
        }
    }

    // MARK: Authority and grants

    /// Creates the authority key of a state that has none (a new store, or one written before grants existed).
    /// Returns whether the state changed.
    func ensureAuthority(_ state: inout KeyState) -> Bool {
        guard state.authorities.isEmpty else { return false }
        let pair = Ed25519.KeyPair.generate()
        var secret = pair.exportSecret()
        defer { wipe(&secret) }
        state.authorities.append(.init(version: 1, createdMillis: now(), secret: SecretKey(copying: secret)))
        return true
    }

    func keyPair(_ authority: KeyState.Authority) -> Ed25519.KeyPair {
        var secret = authority.secret.exportBytes()
        defer { wipe(&secret) }
        return Ed25519.KeyPair(secretKeyBytes: secret)
    }

    func kid(_ version: UInt32) -> String { "\(jurisdiction.code)-authority-v\(version)" }

    func authorityMap(_ state: KeyState) -> Sovereignty.Authorities {
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
            state.grants.map { Self.status($0.id, $0.record) }
        }
    }

    static func status(_ id: String, _ record: KeyState.GrantRecord) -> GrantStatus {
        GrantStatus(id: id, jws: record.compact, revokedMillis: record.revokedMillis, usedRequests: record.usedRequests,
                    usedBytes: record.usedBytes)
    }

    public func useGrant(id: String, requests: Int64, bytes: Int64, metadata: RequestMetadata) async throws
        -> GrantStatus
    {
        guard requests >= 0, bytes >= 0 else { throw KeyStoreError.invalidRequest("negative grant use") }
        return try withState(metadata, mutating: true, anyJurisdiction: true) { state in
            guard let index = state.grants.firstIndex(where: { $0.id == id }) else {
                throw KeyStoreError.invalidRequest("no grant \(id)")
            }
            var record = state.grants[index].record
            let grant: Grant
            do { grant = try SignedGrant(compact: record.compact).verify(authorities: authorityMap(state)) } catch {
                throw KeyStoreError.corrupt("grant \(id) does not verify: \(error)")
            }
            guard metadata.jurisdiction == jurisdiction || grant.recipients.contains(metadata.jurisdiction) else {
                throw KeyStoreError.wrongJurisdiction(store: jurisdiction, requester: metadata.requester,
                                                      requesterJurisdiction: metadata.jurisdiction)
            }
            func refuse(_ reason: RefusalReason) -> KeyStoreError {
                .grantRefused(jurisdiction, metadata, reason, grantID: id)
            }
            if record.revokedMillis != nil { throw refuse(.revoked) }
            if let maximum = grant.maxRequests, record.usedRequests + requests > maximum { throw refuse(.limitExceeded) }
            if let maximum = grant.maxBytes, record.usedBytes + bytes > maximum { throw refuse(.limitExceeded) }
            record.usedRequests += requests
            record.usedBytes += bytes
            state.grants[index].record = record
            return Self.status(id, record)
        }
    }

    public func revokeGrant(id: String, metadata: RequestMetadata) async throws -> GrantStatus {
        try withState(metadata, mutating: true) { state in
            guard let index = state.grants.firstIndex(where: { $0.id == id }) else {
                throw KeyStoreError.invalidRequest("no grant \(id)")
            }
            if state.grants[index].record.revokedMillis == nil { state.grants[index].record.revokedMillis = now() }
            return Self.status(id, state.grants[index].record)
        }
    }
}
