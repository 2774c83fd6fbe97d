import Envelope
import Foundation
import Hashing
import ObjectModel
import SigV4
import Sovereignty

/// The jurisdiction's authority acts through its administrators, identities of this jurisdiction kept here: an
/// authority call must be signed by one of them (its SigV4 secret never leaves this store), come through a gateway of
/// this jurisdiction, and the irreversible acts wait until a quorum of distinct administrators approved them. No
/// other identity (not the deployment's global root, not a gateway) can act as this jurisdiction's authority.
extension KeyStore {
    /// How long a signed call stays usable, and a pending act open.
    static let callFreshnessSeconds = Int64(Limits.clockSkewSecondsMax)
    static let pendingLifetimeMillis: Int64 = 24 * 3600 * 1000
    /// How far ahead of this store's clock a call may be dated.
    static let callFutureSkewSeconds: Int64 = 60

    /// Creates the first administrators of a store that has none (at its key ceremony: the unseal secret or the HSM
    /// token's PIN holder runs it); returns their credentials, shown this once. Nothing when administrators exist.
    public func bootstrapAdministrators(count: Int) throws -> [AdministratorCredentials] {
        precondition(count >= 1)
        let metadata = RequestMetadata(requester: "key ceremony", jurisdiction: jurisdiction, operation: "bootstrap",
                                       requestID: "bootstrap")
        return try withState(metadata) { state, changed in
            guard state.administrators.isEmpty else { return [] }
            changed = true
            state.quorum = min(KeyState.quorumDefault, count)
            return (1...count).map { index in
                let credentials = newAdministrator(&state, name: "\(jurisdiction.code)-admin-\(index)")
                return credentials
            }
        }
    }

    func newAdministrator(_ state: inout KeyState, name: String) -> AdministratorCredentials {
        let id = AdministratorID.generate()
        let secret = AdministratorID.secret()
        state.administrators.append(.init(id: id, name: name, secret: secret, createdMillis: now()))
        return AdministratorCredentials(jurisdiction: jurisdiction, name: name, accessKeyId: id, secretAccessKey: secret)
    }

    /// Runs an authority call: checks the administrator's signature over it, that it names this jurisdiction and came
    /// through one of its gateways, then does the action, or records it as waiting for approvals, or counts an
    /// approval (running the approved action once a quorum agreed).
    public func administer(_ proof: AdministratorProof, body: [UInt8], metadata: RequestMetadata) async throws
        -> AuthorityOutcome
    {
        let request = try authorityRequest(body, metadata: metadata)
        return try withState(metadata) { state, changed in
            let administrator = try verify(proof, body: body, state: state, remember: true)
            let info = AdministratorInfo(id: administrator.id, name: administrator.name, jurisdiction: jurisdiction,
                                         createdMillis: administrator.createdMillis)
            state.pending.removeAll { $0.expiresMillis <= now() }
            if case .approve(let id, let digest) = request.action {
                return try approve(id, digest: digest, by: administrator, info: info, state: &state, changed: &changed,
                                   lockedTenants: metadata.lockedTenants)
            }
            if request.action.needsQuorum, state.quorum > 1 {
                let pending = KeyState.Pending(id: "r-" + Hex.encode(SecureRandom.bytes(6)), action: body,
                                               requestedBy: administrator.id, approvals: [administrator.id],
                                               createdMillis: now(), expiresMillis: now() + Self.pendingLifetimeMillis)
                try check(request.action, state)
                state.pending.append(pending)
                changed = true
                return AuthorityOutcome(administrator: info, executed: nil, result: nil,
                                        pending: try view(pending, quorum: state.quorum))
            }
            let result = try execute(request.action, state: &state, changed: &changed, signature: proof.signature,
                                     checkedKey: metadata.checkedKey, lockedTenants: metadata.lockedTenants)
            return AuthorityOutcome(administrator: info, executed: request.action, result: result, pending: nil)
        }
    }

    /// Checks an authority call as ``administer(_:body:metadata:)`` does (the administrator's signature over exactly
    /// these bytes, fresh, not presented before, addressed to this jurisdiction through one of its gateways) without
    /// running or remembering it. A gateway asks this first, so that nothing is looked up, scanned or recorded for a
    /// call no administrator of this jurisdiction signed.
    public func authenticateAdministrator(_ proof: AdministratorProof, body: [UInt8], metadata: RequestMetadata)
        async throws -> AdministratorInfo
    {
        _ = try authorityRequest(body, metadata: metadata)
        return try withState(metadata) { state, _ in
            let administrator = try verify(proof, body: body, state: state, remember: false)
            return AdministratorInfo(id: administrator.id, name: administrator.name, jurisdiction: jurisdiction,
                                     createdMillis: administrator.createdMillis)
        }
    }

    /// The authority request in `body`, which must name this jurisdiction and come through one of its gateways.
    func authorityRequest(_ body: [UInt8], metadata: RequestMetadata) throws -> AuthorityRequest {
        guard metadata.jurisdiction == jurisdiction else {
            throw KeyStoreError.notAuthority(store: jurisdiction, reason: "the authority of \(jurisdiction) acts only "
                + "through gateways of \(jurisdiction), not \(metadata.jurisdiction)")
        }
        let request: AuthorityRequest
        do { request = try JSONDecoder().decode(AuthorityRequest.self, from: Data(body)) } catch {
            throw KeyStoreError.invalidRequest("the authority call's body is not an authority request")
        }
        guard request.jurisdiction == jurisdiction else {
            throw KeyStoreError.notAuthority(store: jurisdiction, reason: "the call is addressed to the authority of "
                + "\(request.jurisdiction), not \(jurisdiction)")
        }
        return request
    }

    /// The administrator whose signature the proof carries, for exactly these body bytes, signed recently (not
    /// before this store started, nor more than a minute ahead of its clock) and not presented before; `remember`
    /// records the call as presented.
    func verify(_ proof: AdministratorProof, body: [UInt8], state: KeyState, remember: Bool) throws
        -> KeyState.Administrator
    {
        guard let administrator = state.administrators.first(where: {
            ConstantTime.equals(Array($0.id.utf8), Array(proof.accessKeyID.utf8))
        }) else {
            throw KeyStoreError.notAuthority(store: jurisdiction, reason: "\(proof.accessKeyID) is not an administrator "
                + "of \(jurisdiction)")
        }
        let scope = proof.scope.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard scope.count == 4, scope[3] == "aws4_request", proof.amzDate.hasPrefix(scope[0]),
              let signedAt = Timestamps.parseAmzDate(proof.amzDate),
              abs(now() / 1000 - signedAt) <= Self.callFreshnessSeconds else {
            throw KeyStoreError.notAuthority(store: jurisdiction, reason: "the call's signature is malformed or stale")
        }
        // Calls seen before a restart are not remembered: one signed before it could be a replay. A call dated
        // ahead of this clock could be one too, once the store restarts before its date: little future is allowed.
        guard signedAt >= startedSeconds else {
            throw KeyStoreError.notAuthority(store: jurisdiction, reason: "the call was signed before this key store "
                + "started: sign it again")
        }
        guard signedAt <= now() / 1000 + Self.callFutureSkewSeconds else {
            throw KeyStoreError.notAuthority(store: jurisdiction, reason: "the call is dated more than "
                + "\(Self.callFutureSkewSeconds) s ahead of this key store's clock: check the clocks")
        }
        let lines = proof.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 6, lines[0] == "POST", lines[1] == AdministratorProof.path,
              lines.last! == Hex.encode(StreamingDigest.hash(.sha256, body)) else {
            throw KeyStoreError.notAuthority(store: jurisdiction, reason: "the signature does not cover this call's body")
        }
        let key = Canonical.signingKey(secret: administrator.secret, date: scope[0], region: scope[1], service: scope[2])
        let expected = Canonical.signature(signingKey: key, stringToSign: Canonical.stringToSign(
            amzDate: proof.amzDate, scope: proof.scope, canonicalRequest: proof.canonicalRequest))
        guard ConstantTime.equals(Array(expected.utf8), Array(proof.signature.lowercased().utf8)) else {
            throw KeyStoreError.notAuthority(store: jurisdiction, reason: "the administrator's signature does not verify")
        }
        let signature = proof.signature.lowercased()
        guard recentCalls.withLock({ remember ? $0.insert(signature, at: now()) : !$0.contains(signature, at: now()) })
        else {
            throw KeyStoreError.notAuthority(store: jurisdiction, reason: "this signed call was already presented")
        }
        return administrator
    }

    /// Counts an approval of a pending act by a distinct administrator; runs the act once a quorum agreed.
    func approve(_ id: String, digest: String, by administrator: KeyState.Administrator, info: AdministratorInfo,
                 state: inout KeyState, changed: inout Bool, lockedTenants: [String]?) throws -> AuthorityOutcome {
        guard let index = state.pending.firstIndex(where: { $0.id == id }) else {
            throw KeyStoreError.invalidRequest("no pending request \(id) (it may have expired or run)")
        }
        guard AuthorityRequest.digest(state.pending[index].action) == digest.lowercased() else {
            throw KeyStoreError.notAuthority(store: jurisdiction, reason: "request \(id) is not the act this approval "
                + "names (digest differs): read it again with `qantara approvals`")
        }
        guard !state.pending[index].approvals.contains(administrator.id) else {
            throw KeyStoreError.notAuthority(store: jurisdiction, reason: "\(administrator.name) already approved \(id): "
                + "another administrator must")
        }
        state.pending[index].approvals.append(administrator.id)
        changed = true
        let pending = state.pending[index]
        guard pending.approvals.count >= state.quorum else {
            return AuthorityOutcome(administrator: info, executed: nil, result: nil,
                                    pending: try view(pending, quorum: state.quorum))
        }
        state.pending.remove(at: index)
        let action = try JSONDecoder().decode(AuthorityRequest.self, from: Data(pending.action)).action
        let result = try execute(action, state: &state, changed: &changed, signature: pending.id,
                                 checkedKey: nil, lockedTenants: lockedTenants)
        return AuthorityOutcome(administrator: info, executed: action, result: result,
                                pending: try view(pending, quorum: state.quorum))
    }

    func view(_ pending: KeyState.Pending, quorum: Int) throws -> PendingApproval {
        PendingApproval(id: pending.id,
                        action: try JSONDecoder().decode(AuthorityRequest.self, from: Data(pending.action)).action,
                        request: pending.action, requestedBy: pending.requestedBy, approvals: pending.approvals, required: quorum,
                        createdMillis: pending.createdMillis, expiresMillis: pending.expiresMillis)
    }

    /// Refuses, before anyone approves it, an act that could not run (so approvals are not asked for in vain).
    func check(_ action: AuthorityAction, _ state: KeyState) throws {
        switch action {
        case .setQuorum(let quorum):
            guard quorum >= 1, quorum <= state.administrators.count else {
                throw KeyStoreError.invalidRequest("a quorum is 1 to \(state.administrators.count) (the administrators)")
            }
        case .createAdministrator(let name, let enrolmentKey):
            guard !name.isEmpty, name.utf8.count <= 64 else { throw KeyStoreError.invalidRequest("administrator name") }
            // A key nothing can be sealed to (a low-order point) is refused now, not after the approvals.
            guard let key = Base64.decode(enrolmentKey), key.count == SealedBox.publicKeySizeBytes,
                  SealedBox.seal([0], to: key) != nil else {
                throw KeyStoreError.invalidRequest("an enrolment key is a base64 X25519 public key (qantara admin "
                    + "keygen makes one)")
            }
        case .certifyNode(let csr):
            // A request that could not be certified is refused now, not after the approvals.
            _ = try certify(csr, state: state, roles: [.node, .gateway, .operator])
        case .destroyKey(let tenant), .retireKey(let tenant):
            // Only tenants' own keys: the reserved ones (the control plane's `.control`, which seals every access
            // key's secret) are never retired or destroyed by an authority call.
            if let problem = TenantName.problem(tenant) {
                throw KeyStoreError.invalidRequest("\(problem): reserved keys are neither retired nor destroyed")
            }
        default:
            break
        }
    }

    /// Does an authority action on the state (the caller persists it when `changed`).
    func execute(_ action: AuthorityAction, state: inout KeyState, changed: inout Bool, signature: String,
                 checkedKey: CheckedKeyVersion?, lockedTenants: [String]?) throws -> AuthorityResult
    {
        try check(action, state)
        switch action {
        case .issueGrant(let request):
            changed = true
            return .grant(try issue(request, state: &state, signature: signature))
        case .revokeGrant(let id):
            guard let index = state.grants.firstIndex(where: { $0.id == id }) else {
                throw KeyStoreError.invalidRequest("no grant \(id)")
            }
            if state.grants[index].record.revokedMillis == nil {
                state.grants[index].record.revokedMillis = now()
                changed = true
            }
            return .grant(Self.status(id, state.grants[index].record))
        case .listGrants:
            return .grants(state.grants.map { Self.status($0.id, $0.record) })
        case .listKeys(let tenant):
            return .keys(describeKeys(state, tenant: tenant))
        case .rotateKey(let tenant):
            changed = true
            return .key(try rotate(&state, tenant: tenant))
        case .retireKey(let tenant):
            changed = true
            return .keys(try retire(&state, tenant: tenant, checked: checkedKey))
        case .destroyKey(let tenant):
            // Object lock binds administrators: the gateway must have looked, and found nothing of the tenant locked.
            guard let locked = lockedTenants else {
                throw KeyStoreError.invalidRequest("a key destruction runs only through a gateway that checked object "
                    + "lock first")
            }
            guard !locked.contains(tenant) else {
                throw KeyStoreError.invalidRequest("object lock protects data of tenant \(tenant) in \(jurisdiction) "
                    + "(COMPLIANCE retention or legal hold): its key cannot be destroyed until the locks end")
            }
            changed = true
            destroy(&state, tenant: tenant)
            return .keys(describeKeys(state, tenant: tenant))
        case .rewrapKeys, .rewrapStatus, .readAudit:
            return .authorized
        case .createAdministrator(let name, let enrolmentKey):
            // Sealed to the new administrator's own key: whoever completes the quorum (or relays the answer) gets
            // nothing to sign with, so one person cannot mint a second vote.
            guard let enrolment = AdministratorEnrolment(newAdministrator(&state, name: name),
                                                         enrolmentKey: enrolmentKey) else {
                throw KeyStoreError.invalidRequest("the enrolment key is not a public key")
            }
            changed = true
            return .enrolment(enrolment)
        case .listAdministrators:
            return .administrators(state.administrators.map {
                AdministratorInfo(id: $0.id, name: $0.name, jurisdiction: jurisdiction, createdMillis: $0.createdMillis)
            })
        case .setQuorum(let quorum):
            changed = true
            state.quorum = quorum
            return .quorum(quorum)
        case .listPending:
            // A pending act this version cannot read (written by an older one) is left out, not fatal to the list.
            return .pending(state.pending.compactMap { try? view($0, quorum: state.quorum) })
        case .approve:
            throw KeyStoreError.invalidRequest("an approval approves a pending request")
        case .certifyNode(let csr):
            let issued = try certify(csr, state: state, roles: [.node, .gateway, .operator])
            bind(issued, in: &state)
            changed = true
            return .certificate(issued)
        case .revokeCertificate(let serial, let reason):
            let serial = serial.lowercased()
            guard !serial.isEmpty, serial.count <= 40, Hex.decode(serial) != nil, !reason.isEmpty,
                  reason.utf8.count <= 200, !reason.contains(where: \.isNewline) else {
                throw KeyStoreError.invalidRequest("a revocation names a certificate serial (hex) and a one-line reason")
            }
            if !state.revocations.contains(where: { $0.serial == serial }) {
                state.revocations.append(.init(serial: serial, revokedMillis: now(), reason: reason))
                changed = true
            }
            return .revocations(try revocationList(state))
        case .listRevocations:
            return .revocations(try revocationList(state))
        }
    }

    /// Signs and keeps a grant; its id comes from the call's signature (or the approved request's id), so a call
    /// replayed cannot issue a second grant.
    func issue(_ request: GrantRequest, state: inout KeyState, signature: String) throws -> GrantStatus {
        let nowSeconds = now() / 1000
        let notBefore = request.notBefore ?? nowSeconds
        let (expires, overflow) = notBefore.addingReportingOverflow(request.expiresInSeconds)
        guard !overflow else { throw KeyStoreError.invalidRequest("expires: out of range") }
        let id = "g-" + Hex.encode(Array(StreamingDigest.hash(.sha256, Array(signature.utf8)).prefix(6)))
        let grant = Grant(id: id, issuer: jurisdiction, recipients: request.recipients, tenant: request.tenant,
                          bucket: request.bucket, key: request.key, prefix: request.prefix ?? "",
                          operations: request.operations, purpose: request.purpose, legalBasis: request.legalBasis,
                          notBefore: notBefore, expires: expires, issuedAt: nowSeconds, maxBytes: request.maxBytes,
                          maxRequests: request.maxRequests)
        return try sign(grant, state: &state)
    }
}

/// Identifiers and secrets of administrators: `QA` and 18 characters, like access keys (`QK…`) but never mistaken
/// for one; 240-bit secrets.
enum AdministratorID {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    static func generate() -> String {
        "QA" + String(decoding: SecureRandom.bytes(18).map { alphabet[Int($0 & 31)] }, as: UTF8.self)
    }

    static func secret() -> String {
        String(Base64.encode(SecureRandom.bytes(30)).map { $0 == "+" ? "-" : ($0 == "/" ? "_" : $0) })
    }
}

/// Signatures of authority calls seen within their freshness window: a call presented twice is refused.
struct RecentCalls {
    private var seen: [String: Int64] = [:]

    /// Whether `signature` was seen within the window.
    func contains(_ signature: String, at nowMillis: Int64) -> Bool {
        guard let previous = seen[signature] else { return false }
        return nowMillis - previous < 2 * KeyStore.callFreshnessSeconds * 1000
    }

    /// Records `signature` at `nowMillis`; false when it was seen within the window.
    mutating func insert(_ signature: String, at nowMillis: Int64) -> Bool {
        let window = 2 * KeyStore.callFreshnessSeconds * 1000
        if seen.count > 10_000 { seen = seen.filter { nowMillis - $0.value < window } }
        if let previous = seen[signature], nowMillis - previous < window { return false }
        seen[signature] = nowMillis
        return true
    }
}
