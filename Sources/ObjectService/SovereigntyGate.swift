import Foundation
import Hashing
import KeyStore
import Logging
import NIOPosix
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
    /// Where audit appends (which sync to disk) run, off the request handlers' event loops.
    let threadPool: NIOThreadPool
    /// How long grants and revocations read from a key store are used.
    let grantsLifetimeMillis: Int64 = 1000

    struct Known {
        var grants: [SignedGrant]
        var revoked: Set<String>
        /// What every gateway has used of each grant, as J's key store counts it.
        var usage: [String: GrantUsage]
        var authorities: Sovereignty.Authorities
        var fetchedMillis: Int64
    }

    let known = Mutex<[Jurisdiction: Known]>([:])
    let logs = Mutex<[Jurisdiction: AuditLog]>([:])

    /// A gate keeping each jurisdiction's audit log under `directory/<J>`, appending on `threadPool` (the one the
    /// gateway's storage nodes read and write their disks on).
    public init(store: ObjectStore, directory: String, clock: SequenceClock, threadPool: NIOThreadPool,
                logger: Logger) {
        self.store = store
        self.directory = directory
        self.clock = clock
        self.threadPool = threadPool
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

    /// Appends an audit entry to J's log; failing to write it fails the operation it records. The append syncs the
    /// log to disk, so it runs on the thread pool: request handlers run on their connection's event loop, which
    /// must not wait for a disk.
    public func record(_ jurisdiction: Jurisdiction, kind: String, fields: [String: String]) async throws {
        do {
            _ = try await threadPool.runIfActive { try self.auditLog(jurisdiction).append(kind: kind, fields: fields) }
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
        var usage = [String: GrantUsage]()
        for status in statuses where status.usedRequests > 0 || status.usedBytes > 0 {
            usage[status.id] = GrantUsage(bytes: status.usedBytes, requests: status.usedRequests)
        }
        let fresh = Known(grants: statuses.map { SignedGrant(compact: $0.jws) },
                          revoked: Set(statuses.filter { $0.revokedMillis != nil }.map(\.id)), usage: usage,
                          authorities: authorities, fetchedMillis: now)
        known.withLock { $0[jurisdiction] = fresh }
        return fresh
    }

    /// Drops what is cached of `jurisdiction`'s grants (after an issue or a revocation through this gateway).
    public func forgetGrants(_ jurisdiction: Jurisdiction) {
        _ = known.withLock { $0.removeValue(forKey: jurisdiction) }
    }

    /// A cross-border read let through by a grant: what ``charge(bytes:to:)`` needs to count its bytes.
    public struct Crossing: Sendable {
        public let request: SovereigntyRequest
        public let bucketJurisdiction: Jurisdiction
        public let grantID: String
        let limits: (requests: Int64?, bytes: Int64?)
        let requestID: String
        let requester: String
    }

    /// Decides a read; a cross-border decision is audited in the bucket's jurisdiction before it takes effect.
    /// Returns the crossing when a grant lets the read through, nil when it does not cross a border (or writes).
    /// A grant with limits is charged one request at J's key store, which counts for every gateway.
    /// Throws ``ObjectServiceError/sovereigntyRefused(bucket:jurisdiction:gateway:reason:)`` on refusal.
    @discardableResult
    public func check(_ request: SovereigntyRequest, bucketJurisdiction: Jurisdiction, requestID: String,
                      requester: String) async throws -> Crossing? {
        guard request.gateway != bucketJurisdiction else { return nil }
        guard case .read = request.kind else { return nil }
        var decision: SovereigntyDecision
        var limits: (requests: Int64?, bytes: Int64?) = (nil, nil)
        do {
            let knowledge = try await knowledge(bucketJurisdiction, from: request.gateway)
            decision = Sovereignty.decide(request, bucketJurisdiction: bucketJurisdiction, grants: knowledge.grants,
                                          authorities: knowledge.authorities, revoked: knowledge.revoked,
                                          usage: knowledge.usage, nowSeconds: clock.nowMillis() / 1000)
            if case .granted(let grantID) = decision,
               let grant = knowledge.grants.lazy.compactMap({ $0.payload() }).first(where: { $0.id == grantID }) {
                limits = (grant.maxRequests, grant.maxBytes)
            }
        } catch {
            // Without J's grants nothing crosses the border (fail closed), and the refusal is still recorded.
            decision = .refused(.noGrant, grantID: nil)
            logger.warning("grants unavailable", metadata: ["jurisdiction": "\(bucketJurisdiction)", "error": "\(error)"])
        }
        if case .granted(let grantID) = decision, limits.requests != nil || limits.bytes != nil {
            decision = try await use(grantID, requests: 1, bytes: 0, bucketJurisdiction: bucketJurisdiction,
                                 gateway: request.gateway)
        }
        try await audit(decision, request, bucketJurisdiction: bucketJurisdiction, requestID: requestID,
                        requester: requester)
        guard case .granted(let grantID) = decision else { return nil }
        return Crossing(request: request, bucketJurisdiction: bucketJurisdiction, grantID: grantID, limits: limits,
                        requestID: requestID, requester: requester)
    }

    /// Counts `bytes` about to be served under a crossing against its grant's byte limit, at J's key store, before
    /// they are sent; a read that would exceed it is refused and audited.
    public func charge(bytes: Int64, to crossing: Crossing) async throws {
        guard crossing.limits.bytes != nil, bytes > 0 else { return }
        let decision = try await use(crossing.grantID, requests: 0, bytes: bytes,
                                 bucketJurisdiction: crossing.bucketJurisdiction, gateway: crossing.request.gateway)
        guard case .refused = decision else { return }
        try await audit(decision, crossing.request, bucketJurisdiction: crossing.bucketJurisdiction,
                  requestID: crossing.requestID, requester: crossing.requester)
    }

    /// Charges a use of a grant at J's key store: granted, or refused with the key store's reason. An unreachable
    /// key store throws (the read fails, closed, with 503: nothing was decided or served).
    func use(_ grantID: String, requests: Int64, bytes: Int64, bucketJurisdiction: Jurisdiction,
             gateway: Jurisdiction) async throws -> SovereigntyDecision {
        do {
            let keyStore = try store.crypto.keyStore(bucketJurisdiction, as: gateway)
            let metadata = RequestMetadata(requester: store.crypto.requester, jurisdiction: gateway,
                                           operation: "grant use", requestID: Hex.encode(SecureRandom.bytes(8)),
                                           grantID: grantID)
            _ = try await keyStore.useGrant(id: grantID, requests: requests, bytes: bytes, metadata: metadata)
            return .granted(grantID: grantID)
        } catch let error as KeyStoreError where error.refusalReason != nil {
            return .refused(error.refusalReason!, grantID: grantID)
        } catch {
            logger.warning("grant use not counted", metadata: ["grant": "\(grantID)", "error": "\(error)"])
            return try await store.crypto.translate { throw error }
        }
    }

    /// Records a cross-border decision in J's audit log (durably) and throws if it is a refusal.
    func audit(_ decision: SovereigntyDecision, _ request: SovereigntyRequest, bucketJurisdiction: Jurisdiction,
               requestID: String, requester: String) async throws {
        guard case .read(let operation) = request.kind else { return }
        var fields = ["gateway": request.gateway.code, "jurisdiction": bucketJurisdiction.code,
                      "operation": operation.rawValue, "tenant": request.tenant, "bucket": request.bucket,
                      "requestID": requestID, "requester": requester]
        if let key = request.key { fields["key"] = key }
        if let prefix = request.prefix { fields["prefix"] = prefix }
        switch decision {
        case .granted(let grantID):
            fields["outcome"] = "allowed"
            fields["grant"] = grantID
        case .refused(let reason, let grantID):
            fields["outcome"] = "refused"
            fields["reason"] = reason.rawValue
            if let grantID { fields["grant"] = grantID }
        case .sameJurisdiction, .writeInto:
            break
        }
        try await record(bucketJurisdiction, kind: "decision", fields: fields)
        if case .refused(let reason, _) = decision {
            throw ObjectServiceError.sovereigntyRefused(bucket: request.bucket, jurisdiction: bucketJurisdiction,
                                                        gateway: request.gateway, reason: reason.rawValue)
        }
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
