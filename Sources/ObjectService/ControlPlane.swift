import Foundation
import Hashing
import ObjectModel
import StorageEngine
import Synchronization

/// A tenant: the unit of isolation. One tenant never sees another's buckets or objects.
public struct TenantRecord: Codable, Sendable, Equatable {
    public var formatVersion = 1
    public var name: String
    public var createdMillis: Int64
}

/// An access key of a tenant. The secret is shown once, at creation; the control plane stores it sealed
/// (``StoredAccessKey``) and holds it in the clear in memory only.
public struct AccessKeyRecord: Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case active, revoked }
    public var accessKeyID: String
    public var secretAccessKey: String
    public var tenant: String
    public var status: Status
    public var createdMillis: Int64
    /// True for the root key, which may also call the admin API.
    public var isRoot: Bool
}

/// An access key as the control database stores it (format version 2): its secret sealed under the control key
/// (``ControlSecrets``). Version 1 held the secret in the clear; it is read, and rewritten sealed, at start.
struct StoredAccessKey: Codable {
    var formatVersion = 2
    var accessKeyID: String
    var sealedSecret: String?
    /// Version 1 only.
    var secretAccessKey: String?
    var tenant: String
    var status: AccessKeyRecord.Status
    var createdMillis: Int64
}

/// A bucket, owned by one tenant and pinned to one jurisdiction at creation.
public struct BucketRecord: Codable, Sendable, Equatable {
    public var formatVersion = 1
    public var name: String
    public var tenant: String
    public var jurisdiction: Jurisdiction
    public var createdMillis: Int64
}

/// The embedded control plane: tenants, access keys and buckets in an ordered key-value store, cached in memory.
///
/// Layout (JSON values, each with `formatVersion`): `t/<tenant>`, `k/<access key id>` (its secret sealed),
/// `b/<bucket>`, `j/<job id>` (key rewrap jobs); `s/key`, the wrapped control key (``ControlSecrets``).
public final class ControlPlane: Sendable {
    /// The tenant the root credentials act as on the S3 API.
    public static let rootTenant = "root"

    private struct Cache {
        var tenants: [String: TenantRecord] = [:]
        var keys: [String: AccessKeyRecord] = [:]
        var buckets: [String: BucketRecord] = [:]
    }

    private let engine: any KeyValueEngine
    var engineForJobs: any KeyValueEngine { engine }
    private let secrets: ControlSecrets
    private let cache = Mutex(Cache())
    /// Serialises writers, so check-then-write sequences (bucket creation) are atomic.
    private let writeLock = Mutex(())
    private let clock: SequenceClock

    /// Loads the control plane from `engine`, opening its sealed secrets with `secrets`, and installs the root key
    /// (kept in memory, not stored).
    public init(engine: any KeyValueEngine, root: (accessKeyID: String, secret: String), clock: SequenceClock,
                secrets: ControlSecrets) throws {
        self.engine = engine
        self.clock = clock
        self.secrets = secrets
        var loaded = Cache()
        let decoder = JSONDecoder()
        for pair in try engine.scan(from: Array("b/".utf8), to: Array("b0".utf8), limit: .max) {
            let record = try decoder.decode(BucketRecord.self, from: Data(pair.value))
            loaded.buckets[record.name] = record
        }
        var unsealed = [AccessKeyRecord]()
        for pair in try engine.scan(from: Array("k/".utf8), to: Array("k0".utf8), limit: .max) {
            let stored = try decoder.decode(StoredAccessKey.self, from: Data(pair.value))
            let secret: String
            if let sealed = stored.sealedSecret {
                secret = try secrets.open(sealed, id: stored.accessKeyID)
            } else if let clear = stored.secretAccessKey {
                secret = clear
            } else {
                throw ObjectServiceError.internalError("access key \(stored.accessKeyID) has no secret")
            }
            let record = AccessKeyRecord(accessKeyID: stored.accessKeyID, secretAccessKey: secret, tenant: stored.tenant,
                                         status: stored.status, createdMillis: stored.createdMillis, isRoot: false)
            if stored.sealedSecret == nil { unsealed.append(record) }
            loaded.keys[record.accessKeyID] = record
        }
        for pair in try engine.scan(from: Array("t/".utf8), to: Array("t0".utf8), limit: .max) {
            let record = try decoder.decode(TenantRecord.self, from: Data(pair.value))
            loaded.tenants[record.name] = record
        }
        if loaded.tenants[Self.rootTenant] == nil {
            let record = TenantRecord(name: Self.rootTenant, createdMillis: clock.nowMillis())
            try engine.put(Array("t/\(record.name)".utf8), try JSONEncoder().encode(record).bytes, sync: true)
            loaded.tenants[record.name] = record
        }
        loaded.keys[root.accessKeyID] = AccessKeyRecord(
            accessKeyID: root.accessKeyID, secretAccessKey: root.secret, tenant: Self.rootTenant, status: .active,
            createdMillis: 0, isRoot: true)
        cache.withLock { $0 = loaded }
        // Secrets stored in the clear by an earlier version are sealed now, and the old values compacted away.
        for record in unsealed { try store(record) }
        if !unsealed.isEmpty { try engine.compact() }
    }

    /// Stores an access key, its secret sealed.
    private func store(_ record: AccessKeyRecord) throws {
        try store("k/\(record.accessKeyID)", StoredAccessKey(
            accessKeyID: record.accessKeyID, sealedSecret: secrets.seal(record.secretAccessKey, id: record.accessKeyID),
            tenant: record.tenant, status: record.status, createdMillis: record.createdMillis))
    }

    // MARK: Access keys

    /// The key with this id, active or revoked.
    public func accessKey(_ id: String) -> AccessKeyRecord? { cache.withLock { $0.keys[id] } }

    /// Creates an access key for `tenant`; the returned record holds the secret, shown once.
    public func createAccessKey(tenant: String) throws -> AccessKeyRecord {
        try writeLock.withLock { _ in
            guard cache.withLock({ $0.tenants[tenant] }) != nil else { throw ObjectServiceError.noSuchTenant(tenant) }
            let record = AccessKeyRecord(accessKeyID: Credentials.newAccessKeyID(), secretAccessKey: Credentials.newSecret(),
                                         tenant: tenant, status: .active, createdMillis: clock.nowMillis(), isRoot: false)
            try store(record)
            cache.withLock { $0.keys[record.accessKeyID] = record }
            return record
        }
    }

    /// The stored (non-root) keys of `tenant`, or of every tenant.
    public func accessKeys(tenant: String?) throws -> [AccessKeyRecord] {
        if let tenant, cache.withLock({ $0.tenants[tenant] }) == nil { throw ObjectServiceError.noSuchTenant(tenant) }
        return cache.withLock { cache in
            cache.keys.values.filter { !$0.isRoot && (tenant == nil || $0.tenant == tenant) }
                .sorted { $0.createdMillis != $1.createdMillis ? $0.createdMillis < $1.createdMillis : $0.accessKeyID < $1.accessKeyID }
        }
    }

    /// Revokes a key of `tenant`; later requests signed with it fail at once.
    public func revokeAccessKey(_ id: String, tenant: String) throws -> AccessKeyRecord {
        try writeLock.withLock { _ in
            guard var record = cache.withLock({ $0.keys[id] }), !record.isRoot, record.tenant == tenant else {
                throw ObjectServiceError.noSuchAccessKey(id)
            }
            record.status = .revoked
            try store(record)
            cache.withLock { $0.keys[id] = record }
            return record
        }
    }

    // MARK: Tenants

    public func createTenant(_ name: String) throws -> TenantRecord {
        if let problem = TenantName.problem(name) { throw ObjectServiceError.invalidArgument(problem) }
        return try writeLock.withLock { _ in
            guard cache.withLock({ $0.tenants[name] }) == nil else { throw ObjectServiceError.tenantAlreadyExists(name) }
            let record = TenantRecord(name: name, createdMillis: clock.nowMillis())
            try store("t/\(name)", record)
            cache.withLock { $0.tenants[name] = record }
            return record
        }
    }

    public func tenants() -> [TenantRecord] { cache.withLock { $0.tenants.values.sorted { $0.name < $1.name } } }

    // MARK: Buckets

    public func bucket(_ name: String) -> BucketRecord? { cache.withLock { $0.buckets[name] } }

    /// Every bucket of every tenant.
    public func allBuckets() -> [BucketRecord] { cache.withLock { Array($0.buckets.values) } }

    public func buckets(tenant: String) -> [BucketRecord] {
        cache.withLock { $0.buckets.values.filter { $0.tenant == tenant }.sorted { $0.name < $1.name } }
    }

    /// Records a new bucket; names are global across tenants, as in S3.
    public func createBucket(_ name: String, tenant: String, jurisdiction: Jurisdiction) throws -> BucketRecord {
        try writeLock.withLock { _ in
            if let existing = cache.withLock({ $0.buckets[name] }) {
                throw existing.tenant == tenant ? ObjectServiceError.bucketAlreadyOwnedByYou(name)
                    : ObjectServiceError.bucketAlreadyExists(name)
            }
            let record = BucketRecord(name: name, tenant: tenant, jurisdiction: jurisdiction, createdMillis: clock.nowMillis())
            try store("b/\(name)", record)
            cache.withLock { $0.buckets[name] = record }
            return record
        }
    }

    public func deleteBucketRecord(_ name: String) throws {
        try writeLock.withLock { _ in
            var batch = WriteBatch()
            batch.delete(Array("b/\(name)".utf8))
            try engine.write(batch, sync: true)
            _ = cache.withLock { $0.buckets.removeValue(forKey: name) }
        }
    }

    private func store(_ key: String, _ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try engine.put(Array(key.utf8), try encoder.encode(value).bytes, sync: true)
    }
}

extension Data {
    var bytes: [UInt8] { [UInt8](self) }
}

/// Generation of access key ids and secrets.
public enum Credentials {
    private static let upperAlnum = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// A 20-character access key id starting with `QK`, like AWS's `AKIA…` ids.
    public static func newAccessKeyID() -> String {
        "QK" + String(decoding: SecureRandom.bytes(18).map { upperAlnum[Int($0 & 31)] }, as: UTF8.self)
    }

    /// A 40-character secret (240 random bits).
    public static func newSecret() -> String {
        String(Base64.encode(SecureRandom.bytes(30)).map { $0 == "+" ? "-" : ($0 == "/" ? "_" : $0) })
    }
}

/// A key rewrap job, persisted under `j/<id>` so it resumes after a crash.
public struct RewrapJob: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable { case running, done, failed }
    public var formatVersion = 1
    public var id: String
    public var jurisdiction: Jurisdiction
    /// Nil: every tenant of the jurisdiction.
    public var tenant: String?
    public var state: State
    /// Buckets to visit (snapshot at start), the one being visited, and the last key done in it.
    public var buckets: [String]
    public var bucketIndex: Int
    public var after: String?
    /// Objects counted at start; objects examined and data keys re-wrapped so far.
    public var total: Int
    public var examined: Int
    public var rewrapped: Int
    public var error: String?
    public var createdMillis: Int64
    public var updatedMillis: Int64
}

extension ControlPlane {
    /// Stores a job's progress durably.
    public func saveJob(_ job: RewrapJob) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try engineForJobs.put(Array("j/\(job.id)".utf8), try encoder.encode(job).bytes, sync: true)
    }

    /// Every stored job, oldest first.
    public func jobs() throws -> [RewrapJob] {
        try engineForJobs.scan(from: Array("j/".utf8), to: Array("j0".utf8), limit: .max)
            .map { try JSONDecoder().decode(RewrapJob.self, from: Data($0.value)) }
            .sorted { $0.createdMillis < $1.createdMillis }
    }

    public func job(_ id: String) throws -> RewrapJob? { try jobs().first { $0.id == id } }
}
