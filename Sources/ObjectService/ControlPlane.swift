import Foundation
import Hashing
import Logging
import ObjectModel
import StorageEngine
import Synchronization

/// The control plane: tenants, access keys and buckets, kept in a ``ControlStore`` (the embedded RocksDB store, or
/// etcd shared by every gateway) and cached in memory, so a request's authentication and bucket lookup never wait on
/// the store, and object traffic continues while the store is unreachable (changes are then refused with 503).
/// Other gateways' changes arrive through the store's watch (``ControlWatcher``) within a second.
///
/// Layout (JSON values, each with `formatVersion`): `t/<tenant>`, `k/<access key id>` (its secret sealed),
/// `b/<bucket>`; `s/keys`, the control key wrapped for each jurisdiction (``ControlSecrets``). Key rewrap jobs are
/// this gateway's own work, kept in its local database (`j/<job id>`).
public final class ControlPlane: Sendable {
    /// The tenant the root credentials act as on the S3 API.
    public static let rootTenant = "root"

    struct Cache {
        var tenants: [String: TenantRecord] = [:]
        var keys: [String: AccessKeyRecord] = [:]
        var buckets: [String: BucketRecord] = [:]
        /// The store's revision of each key the cache reflects (deleted keys too), so a late or replayed change
        /// never undoes a newer one.
        var revisions: [String: Int64] = [:]
        /// Every change up to this revision is in the cache.
        var revision: Int64 = 0

        /// Takes what `other` holds under the record `key` (a tenant, an access key or a bucket; nothing: absent).
        mutating func take(_ key: String, from other: Cache) {
            let name = String(key.dropFirst(2))
            switch key.prefix(2) {
            case "t/": tenants[name] = other.tenants[name]
            case "k/": keys[name] = other.keys[name]
            case "b/": buckets[name] = other.buckets[name]
            default: break
            }
        }
    }

    let store: any ControlStore
    let jobEngine: any KeyValueEngine
    let secrets: ControlSecrets
    let cache = Mutex(Cache())
    private let root: AccessKeyRecord
    private let clock: SequenceClock
    private let logger: Logger

    /// Loads the control plane from `store`, opening its sealed secrets with `secrets`, and installs the root key
    /// (kept in memory, not stored). `jobs` keeps this gateway's key rewrap jobs.
    /// A record that does not load is left out (and logged); when access keys are stored but none opens, the control
    /// key is not theirs, and the start fails.
    public static func open(store: any ControlStore, jobs: any KeyValueEngine, root: (accessKeyID: String, secret: String),
                            clock: SequenceClock, secrets: ControlSecrets,
                            logger: Logger = Logger(label: "qantara.control")) async throws -> ControlPlane {
        let control = ControlPlane(store: store, jobs: jobs, root: root, clock: clock, secrets: secrets, logger: logger)
        let snapshot = try await control.reload()
        let stored = snapshot.entries.filter { $0.key.hasPrefix("k/") }
        if !stored.isEmpty, control.cache.withLock({ $0.keys.isEmpty }) {
            throw ObjectServiceError.internalError("none of the \(stored.count) stored access keys opens under this control "
                + "key: the control plane (\(store.name)) belongs to another control key")
        }
        if control.cache.withLock({ $0.tenants[rootTenant] }) == nil {
            _ = try? await control.createTenant(rootTenant)
        }
        // Secrets stored in the clear by an earlier version are sealed now (unless changed meanwhile), and the old
        // values compacted away.
        let unsealed = stored.filter {
            guard let record = try? JSONDecoder().decode(StoredAccessKey.self, from: Data($0.value)) else { return false }
            return record.sealedSecret == nil
        }
        for entry in unsealed {
            if let record = control.cache.withLock({ $0.keys[String(entry.key.dropFirst(2))] }) {
                try await control.store(record, ifRevision: entry.revision)
            }
        }
        if !unsealed.isEmpty { try await store.compact() }
        return control
    }

    /// An embedded control plane over one local database (tests; `qantara serve` passes its own stores).
    public static func open(engine: any KeyValueEngine, root: (accessKeyID: String, secret: String), clock: SequenceClock,
                            secrets: ControlSecrets) async throws -> ControlPlane {
        try await open(store: EmbeddedControlStore(engine: engine), jobs: engine, root: root, clock: clock, secrets: secrets)
    }

    private init(store: any ControlStore, jobs: any KeyValueEngine, root: (accessKeyID: String, secret: String),
                 clock: SequenceClock, secrets: ControlSecrets, logger: Logger) {
        self.store = store
        self.logger = logger
        self.jobEngine = jobs
        self.secrets = secrets
        self.clock = clock
        self.root = AccessKeyRecord(accessKeyID: root.accessKeyID, secretAccessKey: root.secret, tenant: Self.rootTenant,
                                    status: .active, createdMillis: 0, isRoot: true)
    }

    /// Replaces the cache with the store's current records (at start, and when a watch fell too far behind). A record
    /// that does not load is logged and left out (fail closed), never a reason to keep an older cache; what this
    /// gateway changed after the snapshot was read stays.
    /// `discardingNewer`: the store's history restarted (a restore), so nothing this gateway knew counts.
    @discardableResult
    func reload(discardingNewer: Bool = false) async throws -> ControlSnapshot {
        let snapshot = try await store.snapshot(prefix: "")
        var loaded = Cache()
        loaded.revision = snapshot.revision
        for entry in snapshot.entries {
            do { try apply(.put(entry), to: &loaded) } catch {
                loaded.revisions[entry.key] = entry.revision
                logger.error("a control-plane record does not load; kept out of the cache", metadata: [
                    "key": "\(entry.key)", "revision": "\(entry.revision)", "error": "\(error)"])
            }
        }
        cache.withLock { current in
            for (key, revision) in current.revisions where revision > snapshot.revision && !discardingNewer {
                loaded.revisions[key] = revision
                loaded.take(key, from: current)
            }
            current = loaded
        }
        return snapshot
    }

    /// Applies a change the watch reported (or this gateway made), unless the cache already holds a newer one.
    func apply(_ change: ControlChange) throws {
        // Decoding and opening happen outside the lock. A record that does not decode or open is reported and fails
        // closed: what the cache held under its name is dropped (a revoked key that cannot be read stays unusable).
        var staged = Cache(), failure: (any Error)?
        do { try apply(change, to: &staged) } catch { failure = error }
        cache.withLock { cache in
            let key: String
            switch change {
            case .put(let entry): key = entry.key
            case .deleted(let deleted, _): key = deleted
            }
            guard change.revision > (cache.revisions[key] ?? 0) else { return }
            cache.revisions[key] = change.revision
            cache.take(key, from: staged)
        }
        if let failure { throw failure }
    }

    /// Notes that every change up to `revision` was applied.
    func advance(to revision: Int64) { cache.withLock { $0.revision = max($0.revision, revision) } }

    var revision: Int64 { cache.withLock { $0.revision } }

    private func apply(_ change: ControlChange, to cache: inout Cache) throws {
        let decoder = JSONDecoder()
        switch change {
        case .deleted(let key, let revision):
            cache.revisions[key] = revision
        case .put(let entry):
            cache.revisions[entry.key] = entry.revision
            let name = String(entry.key.dropFirst(2)), value = Data(entry.value)
            switch entry.key.prefix(2) {
            case "t/": cache.tenants[name] = try decoder.decode(TenantRecord.self, from: value)
            case "b/": cache.buckets[name] = try decoder.decode(BucketRecord.self, from: value)
            case "k/": cache.keys[name] = try accessKey(try decoder.decode(StoredAccessKey.self, from: value))
            default: break
            }
        }
    }

    private func accessKey(_ stored: StoredAccessKey) throws -> AccessKeyRecord {
        let secret: String
        if let sealed = stored.sealedSecret {
            secret = try secrets.open(sealed, id: stored.accessKeyID)
        } else if let clear = stored.secretAccessKey {
            secret = clear
        } else {
            throw ObjectServiceError.internalError("access key \(stored.accessKeyID) has no secret")
        }
        return AccessKeyRecord(accessKeyID: stored.accessKeyID, secretAccessKey: secret, tenant: stored.tenant,
                               status: stored.status, createdMillis: stored.createdMillis, isRoot: false,
                               mayBypassGovernance: stored.mayBypassGovernance ?? false)
    }

    /// Stores an access key, its secret sealed (only over the given revision, when one is).
    private func store(_ record: AccessKeyRecord, ifRevision expected: Int64? = nil) async throws {
        try await write("k/\(record.accessKeyID)", StoredAccessKey(
            accessKeyID: record.accessKeyID, sealedSecret: secrets.seal(record.secretAccessKey, id: record.accessKeyID),
            tenant: record.tenant, status: record.status, createdMillis: record.createdMillis,
            mayBypassGovernance: record.mayBypassGovernance ? true : nil), ifRevision: expected)
    }

    /// Writes a record (unconditionally, or over the revision given: 0 only where absent) and applies it to the cache;
    /// on a conflict, what the key holds (nil when it is absent).
    @discardableResult
    private func write(_ key: String, _ value: some Encodable, ifRevision expected: Int64? = nil) async throws
        -> ControlWrite
    {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = Array(try encoder.encode(value))
        let outcome = try await reaching { try await store.write(key, bytes, ifRevision: expected) }
        switch outcome {
        case .written(let revision): try apply(.put(ControlEntry(key: key, value: bytes, revision: revision)))
        case .conflict(let current): if let current { try? apply(.put(current)) }
        }
        return outcome
    }

    /// Runs a store operation, answering 503 when the store cannot be reached.
    func reaching<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as ControlStoreError {
            throw ObjectServiceError.serviceUnavailable("control changes are refused while the control plane (\(store.name)) "
                + "is unreachable; object reads and writes continue (\(error))")
        }
    }

    // MARK: Access keys

    /// The key with this id, active or revoked.
    public func accessKey(_ id: String) -> AccessKeyRecord? {
        id == root.accessKeyID ? root : cache.withLock { $0.keys[id] }
    }

    /// Creates an access key for `tenant`; the returned record holds the secret, shown once.
    public func createAccessKey(tenant: String, mayBypassGovernance: Bool = false) async throws -> AccessKeyRecord {
        guard cache.withLock({ $0.tenants[tenant] }) != nil else { throw ObjectServiceError.noSuchTenant(tenant) }
        let record = AccessKeyRecord(accessKeyID: Credentials.newAccessKeyID(), secretAccessKey: Credentials.newSecret(),
                                     tenant: tenant, status: .active, createdMillis: clock.nowMillis(), isRoot: false,
                                     mayBypassGovernance: mayBypassGovernance)
        try await store(record)
        return record
    }

    /// The stored (non-root) keys of `tenant`, or of every tenant.
    public func accessKeys(tenant: String?) throws -> [AccessKeyRecord] {
        if let tenant, cache.withLock({ $0.tenants[tenant] }) == nil { throw ObjectServiceError.noSuchTenant(tenant) }
        return cache.withLock { cache in
            cache.keys.values.filter { tenant == nil || $0.tenant == tenant }
                .sorted { $0.createdMillis != $1.createdMillis ? $0.createdMillis < $1.createdMillis : $0.accessKeyID < $1.accessKeyID }
        }
    }

    /// Revokes a key of `tenant`; later requests signed with it fail at once, on every gateway within a second.
    public func revokeAccessKey(_ id: String, tenant: String) async throws -> AccessKeyRecord {
        guard var record = cache.withLock({ $0.keys[id] }), record.tenant == tenant else {
            throw ObjectServiceError.noSuchAccessKey(id)
        }
        record.status = .revoked
        try await store(record)
        return record
    }

    // MARK: Tenants

    public func createTenant(_ name: String) async throws -> TenantRecord {
        if let problem = TenantName.problem(name) { throw ObjectServiceError.invalidArgument(problem) }
        let record = TenantRecord(name: name, createdMillis: clock.nowMillis())
        guard case .written = try await write("t/\(name)", record, ifRevision: 0) else {
            throw ObjectServiceError.tenantAlreadyExists(name)
        }
        return record
    }

    public func tenants() -> [TenantRecord] { cache.withLock { $0.tenants.values.sorted { $0.name < $1.name } } }

    // MARK: Buckets

    public func bucket(_ name: String) -> BucketRecord? { cache.withLock { $0.buckets[name] } }

    /// Every bucket of every tenant.
    public func allBuckets() -> [BucketRecord] { cache.withLock { Array($0.buckets.values) } }

    public func buckets(tenant: String) -> [BucketRecord] {
        cache.withLock { $0.buckets.values.filter { $0.tenant.utf8.elementsEqual(tenant.utf8) }.sorted { $0.name < $1.name } }
    }

    /// Records a new bucket; names are global across tenants and gateways, as in S3: of two gateways creating the
    /// same name at the same moment, the store's transaction lets one win.
    public func createBucket(_ name: String, tenant: String, jurisdiction: Jurisdiction,
                             objectLock: BucketObjectLock? = nil) async throws -> BucketRecord {
        if let existing = bucket(name) {
            throw existing.tenant == tenant ? ObjectServiceError.bucketAlreadyOwnedByYou(name)
                : ObjectServiceError.bucketAlreadyExists(name)
        }
        // Object lock needs versions: a bucket created with it is versioned for good.
        let record = BucketRecord(name: name, tenant: tenant, jurisdiction: jurisdiction, createdMillis: clock.nowMillis(),
                                  versioning: objectLock == nil ? nil : .enabled, objectLock: objectLock)
        if case .conflict(let winner) = try await write("b/\(name)", record, ifRevision: 0) {
            let owner = winner.flatMap { try? JSONDecoder().decode(BucketRecord.self, from: Data($0.value)) }
            throw owner?.tenant == tenant ? ObjectServiceError.bucketAlreadyOwnedByYou(name)
                : ObjectServiceError.bucketAlreadyExists(name)
        }
        return record
    }

    /// Changes a bucket's configuration, only over the record this gateway knows (another gateway's change meanwhile
    /// answers `OperationAborted`, to be retried); returns the stored record.
    public func updateBucket(_ name: String, _ change: (inout BucketRecord) throws -> Void) async throws -> BucketRecord {
        let key = "b/\(name)"
        guard var record = bucket(name) else { throw ObjectServiceError.noSuchBucket(name) }
        let known = cache.withLock { $0.revisions[key] }
        try change(&record)
        guard case .written = try await write(key, record, ifRevision: known) else {
            throw ObjectServiceError.operationAborted(name)
        }
        return record
    }

    /// Checks that the bucket this gateway knows is the one the store holds (not deleted and made again by another
    /// gateway meanwhile); a control change, so refused (503) while the store is unreachable.
    public func confirmBucket(_ name: String) async throws {
        let key = "b/\(name)"
        let known = cache.withLock { $0.revisions[key] }
        let current = try await reaching { try await store.get(key) }
        guard let current, current.revision == known else {
            if let current { try? apply(.put(current)) }
            throw ObjectServiceError.operationAborted(name)
        }
    }

    /// Removes the bucket's record, only if it is still the one this gateway knows.
    public func deleteBucketRecord(_ name: String) async throws {
        let key = "b/\(name)"
        let known = cache.withLock { $0.revisions[key] }
        switch try await reaching({ try await store.delete(key, ifRevision: known) }) {
        case .written(let revision): try apply(.deleted(key: key, revision: revision))
        case .conflict(let current):
            if let current { try? apply(.put(current)) }
            throw ObjectServiceError.operationAborted(name)
        }
    }
}

extension ControlPlane {
    /// Stores a job's progress durably.
    public func saveJob(_ job: RewrapJob) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try jobEngine.put(Array("j/\(job.id)".utf8), Array(try encoder.encode(job)), sync: true)
    }

    /// Every stored job, oldest first.
    public func jobs() throws -> [RewrapJob] {
        try jobEngine.scan(from: Array("j/".utf8), to: Array("j0".utf8), limit: .max)
            .map { try JSONDecoder().decode(RewrapJob.self, from: Data($0.value)) }
            .sorted { $0.createdMillis < $1.createdMillis }
    }

    public func job(_ id: String) throws -> RewrapJob? { try jobs().first { $0.id == id } }
}
