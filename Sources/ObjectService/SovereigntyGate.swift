import Foundation
import Hashing
import KeyStore
import Logging
import ObjectModel
import ServiceLifecycle
import Sovereignty
import Synchronization

/// Applies the sovereignty rule at a gateway: for a read of a bucket of jurisdiction J served in G ≠ J, it asks
/// the pure ``Sovereignty/decide(_:bucketJurisdiction:grants:authorities:revoked:usage:nowSeconds:)`` with the grants
/// and authority keys of J's key store (re-read at most every second, so a revocation takes effect within a second),
/// records the decision in J's audit log (durably, before the request goes on), and refuses or lets it through.
public final class SovereigntyGate: Sendable {
    let store: ObjectStore
    let directory: String
    let clock: SequenceClock
    let logger: Logger
    /// How long grants and revocations read from a key store are used.
    let grantsLifetimeMillis: Int64 = 1000

    struct Known {
        var grants: [SignedGrant]
        var revoked: Set<String>
        var authorities: Sovereignty.Authorities
        var fetchedMillis: Int64
    }

    let known = Mutex<[Jurisdiction: Known]>([:])
    let logs = Mutex<[Jurisdiction: AuditLog]>([:])
    let usage = Mutex<[String: GrantUsage]>([:])

    /// A gate keeping each jurisdiction's audit log under `directory/<J>`.
    public init(store: ObjectStore, directory: String, clock: SequenceClock, logger: Logger) {
        self.store = store
        self.directory = directory
        self.clock = clock
        self.logger = logger
    }

    /// J's audit log, opened on first use.
    public func auditLog(_ jurisdiction: Jurisdiction) throws -> AuditLog {
        try logs.withLock { logs in
            if let log = logs[jurisdiction] { return log }
            let clock = self.clock
            let log = try AuditLog(jurisdiction: jurisdiction, directory: directory + "/\(jurisdiction.code)",
                                   now: { clock.nowMillis() })
            logs[jurisdiction] = log
            return log
        }
    }

    /// Appends an audit entry to J's log; failing to write it fails the operation it records.
    public func record(_ jurisdiction: Jurisdiction, kind: String, fields: [String: String]) throws {
        do {
            try auditLog(jurisdiction).append(kind: kind, fields: fields)
        } catch {
            logger.error("audit log not writable", metadata: ["jurisdiction": "\(jurisdiction)", "error": "\(error)"])
            throw ObjectServiceError.serviceUnavailable("the audit log of \(jurisdiction) cannot be written; "
                + "the operation is refused until it can")
        }
    }

    func knowledge(_ jurisdiction: Jurisdiction, from gateway: Jurisdiction) async throws -> Known {
        let now = clock.nowMillis()
        if let cached = known.withLock({ $0[jurisdiction] }), now - cached.fetchedMillis < grantsLifetimeMillis {
            return cached
        }
        let keyStore = try store.crypto.keyStore(jurisdiction, as: gateway)
        let metadata = RequestMetadata(requester: store.crypto.requester, jurisdiction: gateway,
                                       operation: "sovereignty check", requestID: Hex.encode(SecureRandom.bytes(8)))
        let statuses = try await store.crypto.translate { try await keyStore.grants(metadata: metadata) }
        let published = try await store.crypto.translate { try await keyStore.authorities() }
        var authorities = Sovereignty.Authorities()
        for key in published where key.jurisdiction == jurisdiction {
            if let bytes = Base64.decode(key.publicKey) { authorities[key.kid] = (key.jurisdiction, bytes) }
        }
        let fresh = Known(grants: statuses.map { SignedGrant(compact: $0.jws) },
                          revoked: Set(statuses.filter { $0.revokedMillis != nil }.map(\.id)),
                          authorities: authorities, fetchedMillis: now)
        known.withLock { $0[jurisdiction] = fresh }
        return fresh
    }

    /// Counts bytes served under a grant (its `maxBytes` limit).
    public func addServedBytes(_ bytes: Int64, grant: String) {
        usage.withLock { $0[grant, default: GrantUsage()].bytes += bytes }
    }

    /// Drops what is cached of `jurisdiction`'s grants (after an issue or a revocation through this gateway).
    public func forgetGrants(_ jurisdiction: Jurisdiction) {
        _ = known.withLock { $0.removeValue(forKey: jurisdiction) }
    }

    /// Decides a read; a cross-border decision is audited in the bucket's jurisdiction before it takes effect.
    /// Throws ``ObjectServiceError/sovereigntyRefused(bucket:jurisdiction:gateway:reason:)`` on refusal.
    @discardableResult
    public func check(_ request: SovereigntyRequest, bucketJurisdiction: Jurisdiction, requestID: String,
                      requester: String) async throws -> SovereigntyDecision {
        guard request.gateway != bucketJurisdiction else { return .sameJurisdiction }
        guard case .read(let operation) = request.kind else { return .writeInto }
        let decision: SovereigntyDecision
        do {
            let knowledge = try await knowledge(bucketJurisdiction, from: request.gateway)
            decision = Sovereignty.decide(request, bucketJurisdiction: bucketJurisdiction, grants: knowledge.grants,
                                          authorities: knowledge.authorities, revoked: knowledge.revoked,
                                          usage: usage.withLock { $0 }, nowSeconds: clock.nowMillis() / 1000)
        } catch {
            // Without J's grants nothing crosses the border (fail closed), and the refusal is still recorded.
            decision = .refused(.noGrant, grantID: nil)
            logger.warning("grants unavailable", metadata: ["jurisdiction": "\(bucketJurisdiction)", "error": "\(error)"])
        }
        var fields = ["gateway": request.gateway.code, "jurisdiction": bucketJurisdiction.code,
                      "operation": operation.rawValue, "tenant": request.tenant, "bucket": request.bucket,
                      "requestID": requestID, "requester": requester]
        if let key = request.key { fields["key"] = key }
        if let prefix = request.prefix { fields["prefix"] = prefix }
        switch decision {
        case .granted(let grantID):
            fields["outcome"] = "allowed"
            fields["grant"] = grantID
            usage.withLock { $0[grantID, default: GrantUsage()].requests += 1 }
        case .refused(let reason, let grantID):
            fields["outcome"] = "refused"
            fields["reason"] = reason.rawValue
            if let grantID { fields["grant"] = grantID }
        case .sameJurisdiction, .writeInto:
            break
        }
        try record(bucketJurisdiction, kind: "decision", fields: fields)
        if case .refused(let reason, _) = decision {
            throw ObjectServiceError.sovereigntyRefused(bucket: request.bucket, jurisdiction: bucketJurisdiction,
                                                        gateway: request.gateway, reason: reason.rawValue)
        }
        return decision
    }

    /// Signs the new end of every audit log with its jurisdiction's authority key, through its key store.
    public func signHeads() async {
        for (jurisdiction, log) in logs.withLock({ $0 }) {
            guard var head = log.unsignedHead(kid: "") else { continue }
            do {
                let keyStore = try store.crypto.keyStore(jurisdiction)
                let metadata = RequestMetadata(requester: store.crypto.requester, jurisdiction: jurisdiction,
                                               operation: "audit head", requestID: Hex.encode(SecureRandom.bytes(8)))
                let signature = try await keyStore.signAuditHead(AuditLog.signingInput(head), metadata: metadata)
                head.kid = signature.kid
                head.signature = signature.signature
                try log.appendHead(head)
            } catch {
                logger.warning("audit head not signed", metadata: ["jurisdiction": "\(jurisdiction)", "error": "\(error)"])
            }
        }
    }
}

/// Signs audit-log heads every second (and once more at shutdown).
public struct AuditHeadSigner: Service {
    let gate: SovereigntyGate

    public init(gate: SovereigntyGate) { self.gate = gate }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await gate.signHeads()
            try? await Task.sleep(for: .seconds(1))
        }
        await gate.signHeads()
    }
}
