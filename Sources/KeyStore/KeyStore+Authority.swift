import Envelope
import Hashing
import ObjectModel
import Sovereignty

/// The jurisdiction's authority: its signing key, the sovereignty grants it issues and revokes, its signatures of
/// audit-log checkpoints.
extension KeyStore {
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
            return try state.authorities.map {
                AuthorityKey(jurisdiction: jurisdiction, kid: kid($0.version), publicKey: Base64.encode(keyPair($0).publicKey),
                             certificate: try certificatePEM($0))
            }
        }
    }

    /// Checks, signs with the authority key and keeps a grant of this jurisdiction.
    func sign(_ grant: Grant, state: inout KeyState) throws -> GrantStatus {
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

    // MARK: Audit-log checkpoints

    /// The origin of the audit log `requester` (of its jurisdiction G) writes of this jurisdiction's events:
    /// `qantara/<J>/audit/<G>/<requester>`, so identities of two jurisdictions never share a log.
    func auditOrigin(_ metadata: RequestMetadata) throws -> String {
        let origin = AuditVerifier.originPrefix(jurisdiction) + metadata.jurisdiction.code + "/" + metadata.requester
        guard Checkpoint.isValidName(origin) else {
            throw KeyStoreError.invalidRequest("requester \(metadata.requester) cannot name an audit log")
        }
        return origin
    }

    /// Signs a checkpoint of the requester's audit log of this jurisdiction, only if `request` proves it a consistent
    /// extension of the last checkpoint signed for that log: a log that was cut, rewritten or forked never gets a
    /// new signature. Any gateway may keep a log of this jurisdiction's events (a foreign gateway records the
    /// cross-border decisions it asks here); each log has its own origin, `qantara/<J>/audit/<G>/<requester>`.
    /// Asking again for the size last signed, with its root, returns the checkpoint kept without writing anything.
    public func signCheckpoint(_ request: CheckpointRequest, metadata: RequestMetadata) async throws -> String {
        let origin = try auditOrigin(metadata)
        guard request.size > 0 else { throw KeyStoreError.invalidRequest("an empty log has no checkpoint") }
        guard let root = Base64.decode(request.root), root.count == MerkleTree.hashSize,
              request.proof.count <= 128 else {
            throw KeyStoreError.invalidRequest("a checkpoint request names a 32-byte root and at most 128 proof hashes")
        }
        let proof = try request.proof.map { hash -> [UInt8] in
            guard let bytes = Base64.decode(hash), bytes.count == MerkleTree.hashSize else {
                throw KeyStoreError.invalidRequest("a consistency proof is a list of 32-byte hashes")
            }
            return bytes
        }
        return try withState(metadata, anyJurisdiction: true) { state, changed in
            var last: Checkpoint?
            if let kept = state.checkpoints[origin] {
                guard let checkpoint = SignedNote(kept).flatMap({ Checkpoint(body: $0.text) }) else {
                    throw KeyStoreError.corrupt("the last checkpoint of \(origin) does not parse")
                }
                last = checkpoint
            }
            let lastSize = last?.size ?? 0
            guard request.oldSize == lastSize else {
                throw KeyStoreError.invalidRequest("the last checkpoint signed of \(origin) has \(lastSize) entries, "
                    + "not \(request.oldSize): prove consistency from it")
            }
            guard MerkleTree.verifyConsistency(oldSize: lastSize, oldRoot: last?.root ?? MerkleTree.emptyRoot,
                                               newSize: request.size, newRoot: root, proof: proof) else {
                throw KeyStoreError.invalidRequest("refused: a log of \(request.size) entries with this root is not a "
                    + "consistent extension of the \(lastSize) entries signed before (the log of \(origin) was cut, "
                    + "rewritten or forked)")
            }
            if let kept = state.checkpoints[origin], request.size == lastSize { return kept }
            _ = ensureAuthority(&state)
            let authority = state.authorities.last!
            let checkpoint = Checkpoint(origin: origin, size: request.size, root: root,
                                        extensions: ["time \(now())"])
            let pair = keyPair(authority)
            let key = NoteKey(name: kid(authority.version), publicKey: pair.publicKey)
            let note = SignedNote(text: checkpoint.body, signatures: [key.sign(checkpoint.body, with: pair)])
            state.checkpoints[origin] = note.serialized
            changed = true
            return note.serialized
        }
    }

    /// The last checkpoint signed of every audit log of this jurisdiction's events, whoever writes it, for this
    /// jurisdiction's own gateways (what its administrators and regulators compare the logs they are given with).
    public func checkpoints(metadata: RequestMetadata) async throws -> [String] {
        try withState(metadata) { state in
            state.checkpoints.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map(\.value)
        }
    }

    /// The last checkpoint signed of the requester's audit log of this jurisdiction (nil: none yet).
    public func latestCheckpoint(metadata: RequestMetadata) async throws -> String? {
        let origin = try auditOrigin(metadata)
        return try withState(metadata, anyJurisdiction: true) { state in state.checkpoints[origin] }
    }

    /// Every grant for a requester of this jurisdiction; for one of another jurisdiction, only the grants naming it
    /// as a recipient: what other jurisdictions were granted is none of its business.
    public func grants(metadata: RequestMetadata) async throws -> [GrantStatus] {
        try withState(metadata, anyJurisdiction: true) { state in
            state.grants.filter { entry in
                metadata.jurisdiction == jurisdiction
                    || SignedGrant(compact: entry.record.compact).payload()?.recipients.contains(metadata.jurisdiction) == true
            }.map { Self.status($0.id, $0.record) }
        }
    }

    static func status(_ id: String, _ record: KeyState.GrantRecord) -> GrantStatus {
        GrantStatus(id: id, jws: record.compact, revokedMillis: record.revokedMillis, usedRequests: record.usedRequests,
                    usedBytes: record.usedBytes)
    }

    public func useGrant(id: String, requests: Int64, bytes: Int64, metadata: RequestMetadata) async throws
        -> GrantStatus
    {
        guard requests >= 0, bytes >= 0, requests <= Self.grantUseMax, bytes <= Self.grantUseMax else {
            throw KeyStoreError.invalidRequest("a grant use counts 0 to \(Self.grantUseMax) requests and bytes")
        }
        return try withState(metadata, mutating: true, anyJurisdiction: true) { state in
            guard let index = state.grants.firstIndex(where: { $0.id == id }) else {
                throw KeyStoreError.invalidRequest("no grant \(id)")
            }
            let grant = try verifiedGrant(state, index)
            guard metadata.jurisdiction == jurisdiction || grant.recipients.contains(metadata.jurisdiction) else {
                throw KeyStoreError.wrongJurisdiction(store: jurisdiction, requester: metadata.requester,
                                                      requesterJurisdiction: metadata.jurisdiction)
            }
            if state.grants[index].record.revokedMillis != nil {
                throw KeyStoreError.grantRefused(jurisdiction, metadata, .revoked, grantID: id)
            }
            try charge(&state.grants[index].record, grant, requests: requests, bytes: bytes, metadata: metadata)
            return Self.status(id, state.grants[index].record)
        }
    }

    /// The most requests or bytes one use may count: far below what would overflow a counter.
    static let grantUseMax: Int64 = 1 << 50

    /// The grant at `index`, its signature checked with this authority's keys.
    func verifiedGrant(_ state: KeyState, _ index: Int) throws -> Grant {
        let id = state.grants[index].id
        do { return try SignedGrant(compact: state.grants[index].record.compact).verify(authorities: authorityMap(state)) } catch {
            throw KeyStoreError.corrupt("grant \(id) does not verify: \(error)")
        }
    }

    /// Counts a use against the grant's limits, or refuses it (`limit-exceeded`) when it would pass one. Counters
    /// saturate instead of overflowing: a grant used without limits for ever cannot trap the key store.
    func charge(_ record: inout KeyState.GrantRecord, _ grant: Grant, requests: Int64, bytes: Int64,
                metadata: RequestMetadata) throws {
        let (usedRequests, requestsOverflow) = record.usedRequests.addingReportingOverflow(requests)
        let (usedBytes, bytesOverflow) = record.usedBytes.addingReportingOverflow(bytes)
        if let maximum = grant.maxRequests, requestsOverflow || usedRequests > maximum {
            throw KeyStoreError.grantRefused(jurisdiction, metadata, .limitExceeded, grantID: grant.id)
        }
        if let maximum = grant.maxBytes, bytesOverflow || usedBytes > maximum {
            throw KeyStoreError.grantRefused(jurisdiction, metadata, .limitExceeded, grantID: grant.id)
        }
        record.usedRequests = requestsOverflow ? .max : usedRequests
        record.usedBytes = bytesOverflow ? .max : usedBytes
    }
}
