import Metrics
import Hashing
import KeyStore
import Logging
import ObjectModel
import Sovereignty

/// Applies the sovereignty rule inside the object service, for every request that reaches a bucket of jurisdiction J
/// through a gateway of G ≠ J: it asks J's key store to decide (the grants and revocations J keeps, not a copy),
/// records the decision in J's audit log before anything is served, and refuses or lets the request through.
///
/// Reads (GET, HEAD, listings, copy sources) need a grant; a conditional write is decided as the HeadObject it
/// amounts to (its 412 or 200 would tell whether the key exists and what it holds); managing the bucket is J's alone.
/// Unconditional writes into J are allowed and not decided here.
final class SovereigntyGate: Sendable {
    let crypto: ObjectCrypto
    let audit: AuditTrail
    let logger: Logger
    /// Slows floods of refused requests (see ``RefusalPacer``).
    let pacer: RefusalPacer

    init(crypto: ObjectCrypto, audit: AuditTrail, clock: SequenceClock, logger: Logger) {
        self.crypto = crypto
        self.audit = audit
        self.logger = logger
        pacer = RefusalPacer(now: { clock.nowMillis() })
    }

    /// A cross-border read a grant let through: what opening the object and counting its bytes need.
    struct Crossing: Sendable {
        let principal: Principal
        let bucket: BucketRecord
        let operation: ReadOperation
        let key: String?
        let grantID: String
        /// The grant limits bytes: each read's bytes are counted at J's key store before they are sent.
        let limitsBytes: Bool
        /// The grant limits requests: an object read that finds no object (so releases no key) is counted.
        let limitsRequests: Bool
    }

    /// Decides a read of `bucket` (of `key`, or of the listing of `prefix`) by `principal`: nil when it does not cross
    /// a border, the crossing when a grant covers it. A refusal is audited and thrown as
    /// ``ObjectServiceError/sovereigntyRefused(bucket:jurisdiction:gateway:reason:)``. A read that releases no key
    /// (a listing, a `conditionalWrite` decided as the HeadObject it amounts to) counts against a request limit
    /// here; an object read counts when its key is released, or when it finds no object (``chargeMiss(_:)``).
    @discardableResult
    func checkRead(_ principal: Principal, _ bucket: BucketRecord, _ operation: ReadOperation, key: String? = nil,
                   prefix: String? = nil, conditionalWrite: Bool = false) async throws -> Crossing? {
        guard principal.gateway != bucket.jurisdiction else { return nil }
        let read = CrossBorderRead(operation: operation, tenant: bucket.tenant, bucket: bucket.name, key: key,
                                   prefix: prefix, countsRequest: !operation.releasesKey || conditionalWrite)
        let verdict: CrossBorderVerdict
        do {
            let keyStore = try crypto.keyStore(bucket.jurisdiction, as: principal.gateway)
            verdict = try await crypto.translate {
                try await keyStore.decideRead(read, metadata: crypto.metadata(principal.gateway, operation.rawValue))
            }
        } catch {
            // Without J's word nothing crosses the border (fail closed), and the refusal is still recorded.
            logger.warning("cross-border read not decided", metadata: ["jurisdiction": "\(bucket.jurisdiction)",
                                                                       "error": "\(error)"])
            verdict = CrossBorderVerdict(grantID: nil, refusal: .noGrant, limitsBytes: false)
        }
        try await record(principal, bucket, operation.rawValue, key: key, prefix: prefix, verdict: verdict,
                         extra: conditionalWrite ? ["write": "conditional"] : [:])
        guard let grantID = verdict.grantID, verdict.refusal == nil else {
            await pacer.pace(principal.accessKeyID)
            throw refusal(principal, bucket, verdict.refusal ?? .noGrant)
        }
        return Crossing(principal: principal, bucket: bucket, operation: operation, key: key, grantID: grantID,
                        limitsBytes: verdict.limitsBytes, limitsRequests: verdict.limitsRequests)
    }

    /// Refuses, audited (and paced like a refused read when it comes through another jurisdiction's gateway), a
    /// request refused before it reached a decision: a copy between jurisdictions, an upload this gateway did not
    /// start.
    func refuse(_ principal: Principal, _ bucket: BucketRecord, _ operation: String, key: String?,
                reason: RefusalReason, error: ObjectServiceError) async throws -> ObjectServiceError {
        try await record(principal, bucket, operation, key: key, verdict: CrossBorderVerdict(
            grantID: nil, refusal: reason, limitsBytes: false))
        if principal.gateway != bucket.jurisdiction { await pacer.pace(principal.accessKeyID) }
        return error
    }

    /// Refuses managing `bucket` (deleting it, configuring it) through a gateway of another jurisdiction: J's gateways
    /// alone manage J's buckets (a DeleteBucket's 409 or 204 would also tell whether it holds anything). Audited.
    func checkManagement(_ principal: Principal, _ bucket: BucketRecord, _ operation: String) async throws {
        guard principal.gateway != bucket.jurisdiction else { return }
        try await record(principal, bucket, operation, verdict: CrossBorderVerdict(
            grantID: nil, refusal: .homeOnly, limitsBytes: false))
        await pacer.pace(principal.accessKeyID)
        throw ObjectServiceError.managedElsewhere(bucket: bucket.name, jurisdiction: bucket.jurisdiction,
                                                  gateway: principal.gateway)
    }

    /// Records that J's key store refused to release the key of an object a decision had let through (a grant
    /// revoked or used up in between), and returns the refusal to throw.
    func refusedRelease(_ crossing: Crossing, reason: RefusalReason) async throws -> ObjectServiceError {
        try await record(crossing.principal, crossing.bucket, crossing.operation.rawValue, key: crossing.key,
                         verdict: CrossBorderVerdict(grantID: crossing.grantID, refusal: reason, limitsBytes: false))
        await pacer.pace(crossing.principal.accessKeyID)
        return refusal(crossing.principal, crossing.bucket, reason)
    }

    /// Counts an object read that found no object (and so released no key) against its grant's request limit: a
    /// missing key costs a request like an existing one.
    func chargeMiss(_ crossing: Crossing) async throws {
        guard crossing.limitsRequests else { return }
        try await charge(requests: 1, bytes: 0, to: crossing)
    }

    /// Counts `bytes` about to be served under a crossing against its grant's byte limit, at J's key store, before
    /// they are sent; a read that would exceed it is refused and audited.
    func charge(bytes: Int64, to crossing: Crossing) async throws {
        guard crossing.limitsBytes, bytes > 0 else { return }
        try await charge(requests: 0, bytes: bytes, to: crossing)
    }

    private func charge(requests: Int64, bytes: Int64, to crossing: Crossing) async throws {
        let gateway = crossing.principal.gateway
        do {
            let keyStore = try crypto.keyStore(crossing.bucket.jurisdiction, as: gateway)
            let metadata = crypto.metadata(gateway, "grant use", grantID: crossing.grantID)
            _ = try await keyStore.useGrant(id: crossing.grantID, requests: requests, bytes: bytes, metadata: metadata)
        } catch let error as KeyStoreError where error.refusalReason != nil {
            throw try await refusedRelease(crossing, reason: error.refusalReason!)
        } catch let error as KeyStoreError {
            logger.warning("grant use not counted", metadata: ["grant": "\(crossing.grantID)", "error": "\(error)"])
            try await crypto.translate { throw error }
        }
    }

    /// Records a cross-border decision in J's audit log (durably, before it takes effect).
    private func record(_ principal: Principal, _ bucket: BucketRecord, _ operation: String, key: String? = nil,
                        prefix: String? = nil, verdict: CrossBorderVerdict, extra: [String: String] = [:]) async throws {
        var fields = principal.auditFields.merging(extra) { $1 }
        fields["jurisdiction"] = bucket.jurisdiction.code
        fields["operation"] = operation
        fields["bucket"] = bucket.name
        fields["owner"] = bucket.tenant
        if let key { fields["key"] = key }
        if let prefix { fields["prefix"] = prefix }
        if let reason = verdict.refusal {
            fields["outcome"] = "refused"
            fields["reason"] = reason.rawValue
        } else {
            fields["outcome"] = "allowed"
        }
        if let grantID = verdict.grantID { fields["grant"] = grantID }
        try await audit.record(bucket.jurisdiction, kind: "decision", fields: fields)
        Counter(label: "qantara_cross_border_decisions_total", dimensions: [
            ("jurisdiction", bucket.jurisdiction.code), ("gateway", principal.gateway.code),
            ("outcome", fields["outcome"]!), ("reason", verdict.refusal?.rawValue ?? "grant"),
        ]).increment()
    }

    private func refusal(_ principal: Principal, _ bucket: BucketRecord, _ reason: RefusalReason) -> ObjectServiceError {
        .sovereigntyRefused(bucket: bucket.name, jurisdiction: bucket.jurisdiction, gateway: principal.gateway,
                            reason: reason.rawValue)
    }
}
