import Foundation
import Hashing
import KeyStore
import ObjectModel
import SigV4
import Sovereignty

/// A jurisdiction's authority operations, done by its administrators through its own gateways: grants, key rotation,
/// rewrap, retirement and destruction, its audit log, its administrators and their approvals. The gateway forwards
/// the administrator's signed call to its jurisdiction's key store, which checks the signature itself (the gateway
/// cannot forge one) and runs, or holds for approvals, what the call says; the gateway adds what only it can do (check
/// a bucket, run a rewrap job, serve the audit log) and records every call and outcome in the jurisdiction's log.
/// The global root credentials are no administrator of any jurisdiction.
extension ObjectService {
    /// What the gateway answers an authority call: the key store's outcome, and the audit log or rewrap job the call
    /// was authorized to see or start.
    public struct AuthorityAnswer: Sendable {
        public var outcome: AuthorityOutcome
        public var auditLog: AuditLogExport?
        public var job: RewrapJob?
    }

    /// Runs an authority call received by the gateway of `gateway`: `request` is the HTTP request as signed (by an
    /// administrator's SigV4 credentials, in its headers), `body` its verified body.
    public func administer(_ request: SignableRequest, body: [UInt8], gateway: Jurisdiction, requestID: String)
        async throws -> AuthorityAnswer
    {
        let parsed = try SigV4Verifier.parse(request)
        guard !parsed.isPresigned else {
            throw ObjectServiceError.accessDenied("authority calls are signed in their headers, not presigned")
        }
        try SigV4Verifier.requireSignedAmzHeaders(parsed, request: request)
        let call: AuthorityRequest
        do { call = try JSONDecoder().decode(AuthorityRequest.self, from: Data(body)) } catch {
            throw ObjectServiceError.invalidArgument("the body is not an authority request: \(error)")
        }
        let jurisdiction = call.jurisdiction
        try requireJurisdiction(jurisdiction)
        guard jurisdiction == gateway else {
            throw ObjectServiceError.accessDenied("the authority of \(jurisdiction) acts only through a gateway in "
                + "\(jurisdiction), not \(gateway)")
        }
        let proof = AdministratorProof(
            accessKeyID: parsed.accessKeyID, amzDate: parsed.amzDate, scope: parsed.scope, signature: parsed.signature,
            canonicalRequest: Canonical.request(request, signedHeaders: parsed.signedHeaders,
                                                payloadHash: parsed.payloadHash))
        var metadata = adminMetadata(jurisdiction, "authority")
        // Who signed it, first: a call no administrator of J signed reaches no check of J's data and no record in
        // its log (it is logged here, and paced like other refusals).
        let administrator: AdministratorInfo
        do {
            administrator = try await store.crypto.translate {
                try await keyStore(jurisdiction).authenticateAdministrator(proof, body: body, metadata: metadata)
            }
        } catch {
            logger.warning("authority call refused", metadata: ["jurisdiction": "\(jurisdiction)",
                                                                "requestID": "\(requestID)", "error": "\(error)"])
            await gate.pacer.pace("authority:" + parsed.accessKeyID)
            throw error
        }
        metadata.checkedKey = try await precheck(call.action, jurisdiction)
        metadata.lockedTenants = try await lockedTenants(call.action, jurisdiction)
        let (kind, event) = call.action.audited
        var fields = call.action.auditFields.merging(["event": event, "administrator": administrator.id,
                                                      "name": administrator.name, "requestID": requestID,
                                                      "gateway": gateway.code]) { $1 }
        try await audit.record(jurisdiction, kind: kind, fields: fields.merging(["phase": "requested"]) { $1 })
        let outcome: AuthorityOutcome
        do {
            outcome = try await store.crypto.translate {
                try await keyStore(jurisdiction).administer(proof, body: body, metadata: metadata)
            }
        } catch {
            _ = try? await audit.record(jurisdiction, kind: kind, fields: fields.merging(
                ["phase": "refused", "error": String(describing: error)]) { $1 })
            throw error
        }
        fields["administrator"] = outcome.administrator.id
        fields["name"] = outcome.administrator.name
        var answer = AuthorityAnswer(outcome: outcome)
        guard let executed = outcome.executed else {
            // Recorded as waiting: an irreversible act requested, or approved by fewer than its quorum so far.
            if let pending = outcome.pending {
                fields["pendingRequest"] = pending.id
                fields["approvals"] = "\(pending.approvals.count)/\(pending.required)"
            }
            try await audit.record(jurisdiction, kind: kind, fields: fields.merging(["phase": "awaiting-approval"]) { $1 })
            return answer
        }
        let details = try await afterward(executed, outcome.result, jurisdiction, &answer)
        if executed == call.action {
            try await audit.record(jurisdiction, kind: kind, fields: fields.merging(details) { $1 }
                .merging(["phase": "done"]) { $1 })
        } else if let pending = outcome.pending {
            // An approval completed a quorum: the approval, then the act it let run, with who agreed.
            try await audit.record(jurisdiction, kind: kind, fields: fields.merging(["phase": "done"]) { $1 })
            let (executedKind, executedEvent) = executed.audited
            try await audit.record(jurisdiction, kind: executedKind, fields: executed.auditFields.merging(details) { $1 }
                .merging(["event": executedEvent, "phase": "done", "approvedRequest": pending.id,
                          "requestedBy": pending.requestedBy, "approvals": pending.approvals.joined(separator: ","),
                          "requestID": requestID, "gateway": gateway.code]) { $1 })
        }
        return answer
    }

    /// What must hold before the key store is asked: the bucket a grant names belongs to its tenant in J; no stored
    /// data key still needs the versions a retirement would refuse; no data a destruction would erase is under
    /// object lock (COMPLIANCE retention or legal hold). Returns, for a retirement, the version checked
    /// (the key store retires below it only if no rotation came in between).
    func precheck(_ action: AuthorityAction, _ jurisdiction: Jurisdiction) async throws -> CheckedKeyVersion? {
        switch action {
        case .listKeys(let tenant?), .rotateKey(let tenant?), .rewrapKeys(let tenant?):
            // A tenant the deployment does not know has no keys to list, and gets none made by a rotation. (A
            // destruction stays possible after a tenant is gone: its keys may outlive it.)
            guard control.tenants().contains(where: { $0.name.utf8.elementsEqual(tenant.utf8) }) else {
                throw ObjectServiceError.noSuchTenant(tenant)
            }
        case .issueGrant(let grant):
            guard let record = control.bucket(grant.bucket), record.tenant.utf8.elementsEqual(grant.tenant.utf8),
                  record.jurisdiction == jurisdiction else {
                throw ObjectServiceError.noSuchBucket("tenant \(grant.tenant) has no bucket \(grant.bucket) in "
                    + "\(jurisdiction)")
            }
        case .retireKey(let tenant):
            // Writes that started earlier may hold a key under an older version (taken before a rotation, or cached
            // since): new writes take keys at the current version, and the check waits for the earlier ones to commit
            // (or fail) before it counts what the stored data keys depend on.
            store.crypto.flush(jurisdiction, tenant: tenant)
            let buckets = control.buckets(tenant: tenant).filter { $0.jurisdiction == jurisdiction }.map(\.name)
            guard await writes.drain(buckets) else {
                throw ObjectServiceError.preconditionFailed("writes of tenant \(tenant) in \(jurisdiction) that started "
                    + "before the check are still running: retry when they are done")
            }
            let versions = try await keys(jurisdiction: jurisdiction, tenant: tenant)
            guard let current = versions.first(where: { $0.state == .current }) else {
                throw ObjectServiceError.keyUnavailable("tenant \(tenant) has no usable key in \(jurisdiction)")
            }
            let dependent = try await countEnvelopes(jurisdiction, tenant: tenant) {
                $0.tenantKeyVersion < current.version
            }
            guard dependent == 0 else {
                throw ObjectServiceError.preconditionFailed("\(dependent) stored data key(s) of tenant \(tenant) in "
                    + "\(jurisdiction) still depend on versions older than \(current.version): run `qantara key "
                    + "rewrap` first")
            }
            return CheckedKeyVersion(tenant: tenant, version: current.version)
        case .destroyKey(let tenant):
            // Crypto-shredding erases every version under the key: object lock's promise to regulators (COMPLIANCE
            // retention, legal hold) binds administrators too.
            if let locked = try await lockedData(jurisdiction, tenant: tenant) {
                throw ObjectServiceError.preconditionFailed("object lock protects data of tenant \(tenant) in "
                    + "\(jurisdiction): \(locked); its key cannot be destroyed until the retention ends and holds are "
                    + "lifted")
            }
        default:
            break
        }
        return nil
    }

    /// For an act that may destroy a key (a destruction, or an approval that may complete one): the tenants of
    /// `jurisdiction` whose data object lock protects now, which the key store will not destroy; nil for other acts.
    func lockedTenants(_ action: AuthorityAction, _ jurisdiction: Jurisdiction) async throws -> [String]? {
        let tenants: [String]
        switch action {
        case .destroyKey(let tenant): tenants = [tenant]
        case .approve: tenants = Set(control.allBuckets().filter { $0.jurisdiction == jurisdiction }.map(\.tenant)).sorted()
        default: return nil
        }
        var locked = [String]()
        for tenant in tenants where try await lockedData(jurisdiction, tenant: tenant) != nil { locked.append(tenant) }
        return locked
    }

    /// What the gateway does once an action ran: forget cached keys a rotation, retirement or destruction changed;
    /// start a rewrap job; read the audit log. Returns the audit record's extra fields.
    func afterward(_ action: AuthorityAction, _ result: AuthorityResult?, _ jurisdiction: Jurisdiction,
                   _ answer: inout AuthorityAnswer) async throws -> [String: String] {
        switch action {
        case .rotateKey(let tenant):
            store.crypto.flush(jurisdiction, tenant: tenant)
            if case .key(let info) = result { return ["version": String(info.version)] }
        case .retireKey(let tenant), .destroyKey(let tenant):
            store.crypto.flush(jurisdiction, tenant: tenant)
            logger.notice("tenant key \(action.summary)", metadata: ["jurisdiction": "\(jurisdiction)"])
        case .rewrapKeys(let tenant):
            let job = try await startRewrap(jurisdiction: jurisdiction, tenant: tenant)
            answer.job = job
            return ["job": job.id]
        case .rewrapStatus(let id):
            guard let job = try control.job(id), job.jurisdiction == jurisdiction else {
                throw ObjectServiceError.invalidArgument("no rewrap job \(id) in \(jurisdiction)")
            }
            answer.job = job
        case .readAudit:
            answer.auditLog = try await exportAudit(jurisdiction)
        case .certifyNode:
            if case .certificate(let issued) = result { return issued.auditFields }
        case .issueGrant, .revokeGrant:
            if case .grant(let status) = result, let grant = SignedGrant(compact: status.jws).payload() {
                return ["grant": status.id, "notBefore": String(grant.notBefore), "expires": String(grant.expires)]
            }
        default:
            break
        }
        return [:]
    }
}

/// A jurisdiction's audit log as an administrator reads it: its entries and checkpoints as stored, the last
/// checkpoint J's key store signed of it (what a cut or rewritten log no longer matches), and J's authority keys.
public struct AuditLogExport: Sendable {
    public var entries: [String]
    public var checkpoints: [String]
    public var latest: String?
    /// Why no fresh checkpoint could be signed for this read (the key store refused or was unreachable).
    public var checkpointError: String?
    public var authorities: [AuthorityKey]
    /// The last checkpoint J's key store signed of every log of J's events (this one and those other gateways write).
    public var origins: [String]
}

extension ObjectService {
    /// J's audit log, checkpointed first so the export is signed through its newest entry when the key store agrees.
    func exportAudit(_ jurisdiction: Jurisdiction) async throws -> AuditLogExport {
        let log = try audit.log(jurisdiction)
        var checkpointError: String?
        do { _ = try await AuditCheckpointSigner.checkpoint(log, crypto: store.crypto) } catch {
            checkpointError = "\(error)"
        }
        let (client, metadata) = try store.crypto.checkpointSigner(jurisdiction)
        let published = try await store.crypto.translate { try await client.authorities() }
        let latest = try await store.crypto.translate { try await client.latestCheckpoint(metadata: metadata) }
        let origins = try await store.crypto.translate { try await client.checkpoints(metadata: metadata) }
        return AuditLogExport(entries: try log.entryLines(), checkpoints: try log.checkpointLines(), latest: latest,
                              checkpointError: checkpointError, authorities: published, origins: origins)
    }
}

extension ObjectService.AuthorityAnswer {
    init(outcome: AuthorityOutcome) {
        self.outcome = outcome
        auditLog = nil
        job = nil
    }
}
