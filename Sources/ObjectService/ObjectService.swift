import Logging
import Synchronization
import ObjectModel
import Placement
import SigV4
import StorageNode

/// The core of the gateway and its one door: every operation on buckets and objects goes through a method here that
/// takes the authenticated ``Principal``, and each such method, before it touches storage, checks that the
/// principal's tenant owns the bucket and asks the sovereignty rule about the principal's gateway. The storage itself
/// (``ObjectStore``), the key stores and the control plane are internal: a caller cannot reach them another way.
public final class ObjectService: Sendable {
    let control: ControlPlane
    let store: ObjectStore
    let gate: SovereigntyGate
    /// Attestations being assembled now (``Limits/attestationsInFlightMax`` at most).
    let attestationsInFlight = Atomic<Int>(0)
    let audit: AuditTrail
    public let clock: SequenceClock
    let logger: Logger
    /// Writes in flight per bucket, which a deletion waits for.
    let writes = BucketWrites()
    /// The last public readiness answers (`/health/ready`).
    let readinessCache = ReadinessCache()
    /// Opens the clients of nodes that placement changes add; nil: none can be added.
    let nodeOpener: NodeOpener?
    /// The rebalance passes due and their progress (``Rebalancer`` runs them).
    public let rebalancing: RebalanceSchedule

    /// The service over `nodes` (a client for every node of `topology`), with the key stores `crypto` reaches and the
    /// audit trail every decision and key event is written to.
    /// `rebalanced` are the jurisdictions whose rebalance passes this gateway runs (nil: all).
    public init(control: ControlPlane, topology: Topology, nodes: [any StorageNodeClient], crypto: ObjectCrypto,
                audit: AuditTrail, clock: SequenceClock, logger: Logger, nodeOpener: NodeOpener? = nil,
                rebalanced: Set<Jurisdiction>? = nil) {
        self.control = control
        self.nodeOpener = nodeOpener
        self.rebalancing = RebalanceSchedule(jurisdictions: rebalanced ?? Set(topology.jurisdictions.map(\.code)),
                                             clock: clock)
        self.store = ObjectStore(topology: topology, nodes: nodes, clock: clock, crypto: crypto, logger: logger,
                                 policy: { [control] name in BucketPolicy(control.bucket(name)) })
        self.gate = SovereigntyGate(crypto: crypto, audit: audit, clock: clock, logger: logger)
        self.audit = audit
        self.clock = clock
        self.logger = logger
    }

    public var topology: Topology { store.topology }

    /// Checks a request's SigV4 signature with the secret of its access key, which must be active; returns who is
    /// calling through the gateway of `gateway`, and how the body is signed.
    public func authenticate(_ request: SignableRequest, gateway: Jurisdiction, requestID: String) throws
        -> (Principal, VerifiedRequest)
    {
        let parsed = try SigV4Verifier.parse(request)
        guard let key = control.accessKey(parsed.accessKeyID) else {
            throw ObjectServiceError.invalidAccessKey(parsed.accessKeyID, revoked: false)
        }
        guard key.status == .active else { throw ObjectServiceError.invalidAccessKey(parsed.accessKeyID, revoked: true) }
        let verified = try SigV4Verifier.verify(parsed, request: request, secret: key.secretAccessKey,
                                                nowSeconds: clock.nowSeconds())
        // The root credentials may bypass GOVERNANCE retention, as AWS's root user may; other keys only when given it.
        return (Principal(tenant: key.tenant, accessKeyID: key.accessKeyID, isRoot: key.isRoot,
                          mayBypassGovernance: key.isRoot || key.mayBypassGovernance, gateway: gateway,
                          requestID: requestID), verified)
    }

    /// The bucket, if the principal's tenant owns it: `NoSuchBucket` when it does not exist, `AccessDenied` when
    /// another tenant owns it. Every bucket and object operation starts here.
    func resolve(_ principal: Principal, _ name: String) throws -> BucketRecord {
        guard let record = control.bucket(name) else { throw ObjectServiceError.noSuchBucket(name) }
        guard record.tenant.utf8.elementsEqual(principal.tenant.utf8) else {
            throw ObjectServiceError.accessDenied("bucket \(name) belongs to another tenant")
        }
        return record
    }

    /// ``resolve(_:_:)`` for a write, admitted into the bucket (see ``BucketWrites``) until the returned lease is
    /// released or dropped: `OperationAborted` while the bucket is being deleted, `NoSuchBucket` once it is gone.
    func admitWrite(_ principal: Principal, _ name: String) throws -> (BucketRecord, WriteLease) {
        let record = try resolve(principal, name)
        guard let lease = writes.admit(name) else { throw ObjectServiceError.operationAborted(name) }
        // A deletion may have ended between the lookup and the admission: the bucket must still be this one.
        guard let current = control.bucket(name), current.createdMillis == record.createdMillis,
              current.tenant.utf8.elementsEqual(record.tenant.utf8) else {
            lease.release()
            throw ObjectServiceError.noSuchBucket(name)
        }
        return (record, lease)
    }

    func info(_ record: BucketRecord) -> BucketInfo {
        // Name, jurisdiction and creation time are the bucket directory every gateway holds (the control plane), not
        // data or metadata stored in the bucket's jurisdiction: they are shown through any gateway.
        BucketInfo(name: record.name, jurisdiction: record.jurisdiction, createdMillis: record.createdMillis)
    }

    // MARK: Buckets

    /// The buckets the principal's tenant owns, by name.
    public func listBuckets(_ principal: Principal) -> [BucketInfo] {
        control.buckets(tenant: principal.tenant).map(info)
    }

    /// Creates a bucket pinned to the jurisdiction `location` names (a code or a region the topology maps), or,
    /// without one, to the jurisdiction of the gateway that receives the request (as S3 creates a bucket in the
    /// region of the endpoint). Creating a bucket in J writes into J: allowed through any gateway.
    public func createBucket(_ principal: Principal, _ name: String, location: String?, objectLock: Bool = false)
        async throws -> BucketInfo
    {
        if let reason = BucketName.problem(name) { throw ObjectServiceError.invalidBucketName(name, reason: reason) }
        let jurisdiction: Jurisdiction
        if let location, !location.isEmpty {
            guard let resolved = store.topology.jurisdiction(forLocation: location) else {
                throw ObjectServiceError.invalidLocationConstraint(location)
            }
            jurisdiction = resolved
        } else {
            jurisdiction = principal.gateway
        }
        let record = try await control.createBucket(name, tenant: principal.tenant, jurisdiction: jurisdiction,
                                                    objectLock: objectLock ? BucketObjectLock() : nil)
        logger.info("bucket created", metadata: ["bucket": "\(name)", "tenant": "\(principal.tenant)",
                                                 "jurisdiction": "\(jurisdiction)"])
        return info(record)
    }

    /// The bucket's name and jurisdiction (HeadBucket, GetBucketLocation).
    public func headBucket(_ principal: Principal, _ name: String) throws -> BucketInfo {
        info(try resolve(principal, name))
    }

    /// Deletes an empty bucket and every stored trace of it; only through a gateway of the bucket's jurisdiction.
    /// New writes are held off and those in flight finish first, so nothing lands after the bucket was found empty.
    public func deleteBucket(_ principal: Principal, _ name: String) async throws {
        let record = try resolve(principal, name)
        try await gate.checkManagement(principal, record, "DeleteBucket")
        guard await writes.close(name) else { throw ObjectServiceError.operationAborted(name) }
        defer { writes.reopen(name) }
        // Every version and delete marker counts, as in S3 (an unversioned bucket lists its objects as versions).
        let page = try await store.listVersions(record.jurisdiction, bucket: name, VersionListRequest(maxKeys: 1),
                                                everyNode: true)
        guard page.versions.isEmpty else { throw ObjectServiceError.bucketNotEmpty(name) }
        // Another gateway may have deleted it and someone made it again: purge only the bucket this one knows.
        try await control.confirmBucket(name)
        try await store.purgeBucket(record.jurisdiction, bucket: name)
        try await control.deleteBucketRecord(name)
        logger.info("bucket deleted", metadata: ["bucket": "\(name)", "tenant": "\(principal.tenant)"])
    }
}
