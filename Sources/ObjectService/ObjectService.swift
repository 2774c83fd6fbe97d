import Logging
import ObjectModel
import Placement
import StorageNode

/// The core of the gateway: who may touch which bucket, where buckets live, and the object paths.
///
/// Every method takes the authenticated tenant; isolation between tenants is enforced here, once.
public final class ObjectService: Sendable {
    public let control: ControlPlane
    public let store: ObjectStore
    public let clock: SequenceClock
    public let logger: Logger

    public init(control: ControlPlane, store: ObjectStore, clock: SequenceClock, logger: Logger) {
        self.control = control
        self.store = store
        self.clock = clock
        self.logger = logger
    }

    /// The bucket, if `tenant` owns it: `NoSuchBucket` when it does not exist, `AccessDenied` when another
    /// tenant owns it.
    public func bucket(_ name: String, tenant: String) throws -> BucketRecord {
        guard let record = control.bucket(name) else { throw ObjectServiceError.noSuchBucket(name) }
        guard record.tenant == tenant else {
            throw ObjectServiceError.accessDenied("bucket \(name) belongs to another tenant")
        }
        return record
    }

    /// Creates a bucket pinned to the jurisdiction named by `location` (a code or a region the topology maps),
    /// or to the default jurisdiction without one.
    public func createBucket(_ name: String, tenant: String, location: String?) throws -> BucketRecord {
        if let reason = BucketName.problem(name) { throw ObjectServiceError.invalidBucketName(name, reason: reason) }
        let jurisdiction: Jurisdiction
        if let location, !location.isEmpty {
            guard let resolved = store.topology.jurisdiction(forLocation: location) else {
                throw ObjectServiceError.invalidLocationConstraint(location)
            }
            jurisdiction = resolved
        } else {
            jurisdiction = store.topology.defaultJurisdiction
        }
        let record = try control.createBucket(name, tenant: tenant, jurisdiction: jurisdiction)
        logger.info("bucket created", metadata: ["bucket": "\(name)", "tenant": "\(tenant)",
                                                 "jurisdiction": "\(jurisdiction)"])
        return record
    }

    /// Deletes an empty bucket and every stored trace of it (tombstones included).
    public func deleteBucket(_ name: String, tenant: String) async throws {
        let record = try bucket(name, tenant: tenant)
        let page = try await store.list(record.jurisdiction, bucket: name, ListRequest(maxKeys: 1))
        guard page.objects.isEmpty else { throw ObjectServiceError.bucketNotEmpty(name) }
        try await store.purgeBucket(record.jurisdiction, bucket: name)
        try control.deleteBucketRecord(name)
        logger.info("bucket deleted", metadata: ["bucket": "\(name)", "tenant": "\(tenant)"])
    }

    /// The buckets `tenant` owns.
    public func buckets(tenant: String) -> [BucketRecord] { control.buckets(tenant: tenant) }
}
