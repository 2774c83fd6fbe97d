import ObjectModel
import StorageNode

/// The object lock a write asks for (`x-amz-object-lock-*` headers), before it is checked.
public struct ObjectLockRequest: Sendable, Equatable {
    /// `GOVERNANCE` or `COMPLIANCE`.
    public var mode: String?
    public var retainUntilMillis: Int64?
    public var legalHold: Bool?

    public init(mode: String? = nil, retainUntilMillis: Int64? = nil, legalHold: Bool? = nil) {
        self.mode = mode
        self.retainUntilMillis = retainUntilMillis
        self.legalHold = legalHold
    }

    public var isEmpty: Bool { mode == nil && retainUntilMillis == nil && legalHold == nil }
}

/// A version's retention as GetObjectRetention shows it.
public struct RetentionView: Sendable, Equatable {
    public var mode: String
    public var retainUntilMillis: Int64
}

/// S3 Object Lock through the one door: a bucket's lock configuration, a version's retention and legal hold. All
/// are management of what is stored in the bucket's jurisdiction, done only through its gateways. The rule that
/// protects locked versions from deletion is ``ObjectService/checkDeletable(_:_:bypassGovernance:)``; this file
/// holds the rules for setting and changing locks.
extension ObjectService {
    /// The object lock of a new version: what its write asked for, checked (the bucket must have object lock, a mode
    /// comes with a future date); the bucket's default retention applies at commit when the write names none
    /// (``BucketPolicy``).
    func lock(_ record: BucketRecord, _ request: ObjectLockRequest?, principal: Principal) throws -> ObjectLock {
        guard let request, !request.isEmpty else { return ObjectLock() }
        // A lock binds J's administrators (it can stop a key destruction): only J's gateways set one. A write from
        // elsewhere still gets the bucket's default retention, which J configured.
        guard principal.gateway == record.jurisdiction else {
            throw ObjectServiceError.managedElsewhere(bucket: record.name, jurisdiction: record.jurisdiction,
                                                      gateway: principal.gateway)
        }
        guard record.objectLock != nil else {
            throw ObjectServiceError.invalidRequest("Bucket is missing Object Lock Configuration")
        }
        var lock = ObjectLock(legalHold: request.legalHold ?? false)
        switch (request.mode, request.retainUntilMillis) {
        case (nil, nil): break
        case (let name?, let until?):
            lock.mode = try mode(name)
            lock.retainUntilMillis = try futureDate(until)
        default:
            throw ObjectServiceError.invalidArgument("x-amz-object-lock-retain-until-date and x-amz-object-lock-mode "
                + "must both be supplied")
        }
        return lock
    }

    private func mode(_ name: String) throws -> ObjectLock.Mode {
        guard let mode = ObjectLock.Mode(name: name) else {
            throw ObjectServiceError.invalidArgument("Unknown wormMode directive.")
        }
        return mode
    }

    private func futureDate(_ millis: Int64) throws -> Int64 {
        guard millis > clock.nowMillis() else {
            throw ObjectServiceError.invalidArgument("The retain until date must be in the future!")
        }
        return millis
    }

    // MARK: The bucket's configuration

    /// GetObjectLockConfiguration: `ObjectLockConfigurationNotFoundError` for a bucket without object lock.
    public func bucketObjectLock(_ principal: Principal, _ bucket: String) async throws -> BucketObjectLock {
        let record = try resolve(principal, bucket)
        try await gate.checkManagement(principal, record, "GetObjectLockConfiguration")
        guard let lock = record.objectLock else {
            throw ObjectServiceError.noObjectLockConfiguration("Object Lock configuration does not exist for this bucket")
        }
        return lock
    }

    /// PutObjectLockConfiguration: enables object lock on a bucket whose versioning is Enabled (for good: it cannot
    /// be turned off), and sets or clears its default retention.
    public func setBucketObjectLock(_ principal: Principal, _ bucket: String, defaultRetention: DefaultRetention?)
        async throws
    {
        let record = try resolve(principal, bucket)
        try await gate.checkManagement(principal, record, "PutObjectLockConfiguration")
        if let retention = defaultRetention {
            _ = try mode(retention.mode)
            let days = retention.days ?? 0, years = retention.years ?? 0
            guard (retention.days == nil) != (retention.years == nil), days >= 0, years >= 0, days + years > 0,
                  days <= 36_500, years <= 100 else {
                throw ObjectServiceError.invalidArgument("Default retention period must be a positive integer value "
                    + "of either Days or Years")
            }
        }
        _ = try await control.updateBucket(record.name) { stored in
            guard stored.createdMillis == record.createdMillis else { throw ObjectServiceError.noSuchBucket(bucket) }
            guard stored.versioning == .enabled else {
                throw ObjectServiceError.invalidBucketState("Versioning must be 'Enabled' on the bucket to apply a "
                    + "Object Lock configuration")
            }
            stored.objectLock = BucketObjectLock(defaultRetention: defaultRetention)
        }
        logger.info("bucket object lock", metadata: ["bucket": "\(bucket)",
                                                     "default": "\(defaultRetention.map { "\($0)" } ?? "none")"])
    }

    // MARK: A version's retention and legal hold

    /// GetObjectRetention: `NoSuchObjectLockConfiguration` when the version has none.
    public func objectRetention(_ principal: Principal, _ bucket: String, _ key: String, versionID: String?)
        async throws -> RetentionView
    {
        let found = try await lockedVersion(principal, bucket, key, versionID, "GetObjectRetention").1
        guard let mode = found.manifest.lock.mode else { throw ObjectServiceError.noObjectRetention }
        return RetentionView(mode: mode.name, retainUntilMillis: found.manifest.lock.retainUntilMillis)
    }

    /// GetObjectLegalHold.
    public func objectLegalHold(_ principal: Principal, _ bucket: String, _ key: String, versionID: String?)
        async throws -> Bool
    {
        try await lockedVersion(principal, bucket, key, versionID, "GetObjectLegalHold").1.manifest.lock.legalHold
    }

    /// PutObjectRetention. A retention may always be extended; it may be shortened, removed or turned from
    /// COMPLIANCE into anything else by no one while it holds, and from GOVERNANCE only by a principal allowed to
    /// bypass it who asks to. Returns the version id changed.
    @discardableResult
    public func setObjectRetention(_ principal: Principal, _ bucket: String, _ key: String, versionID: String?,
                                   mode name: String?, retainUntilMillis: Int64?, bypassGovernance: Bool) async throws
        -> String?
    {
        let newMode = try name.map(mode)
        guard (newMode == nil) == (retainUntilMillis == nil) else { throw ObjectServiceError.invalidRequest(
            "a retention needs both a mode and a retain-until date") }
        let until = try retainUntilMillis.map(futureDate)
        return try await changeLock(principal, bucket, key, versionID, "PutObjectRetention") { lock in
            let now = clock.nowMillis()
            if lock.isRetained(at: now), let current = lock.mode {
                let shortened = until.map { $0 < lock.retainUntilMillis } ?? true
                let weakened = current == .compliance && newMode != .compliance
                if current == .compliance, shortened || weakened {
                    throw ObjectServiceError.objectLocked("Access Denied because object protected by object lock: "
                        + "a COMPLIANCE retention can only be extended")
                }
                if current == .governance, shortened, !(bypassGovernance && principal.mayBypassGovernance) {
                    throw ObjectServiceError.objectLocked("Access Denied because object protected by object lock: "
                        + "shortening a GOVERNANCE retention needs x-amz-bypass-governance-retention and the right "
                        + "to use it")
                }
            }
            lock.mode = newMode
            lock.retainUntilMillis = until ?? 0
        }
    }

    /// PutObjectLegalHold (anyone who may write the bucket; a hold binds everyone, the root included, until lifted).
    @discardableResult
    public func setObjectLegalHold(_ principal: Principal, _ bucket: String, _ key: String, versionID: String?,
                                   on: Bool) async throws -> String? {
        try await changeLock(principal, bucket, key, versionID, "PutObjectLegalHold") { $0.legalHold = on }
    }

    /// The version a lock request names (the latest without a version id), in a bucket with object lock.
    private func lockedVersion(_ principal: Principal, _ bucket: String, _ key: String, _ versionID: String?,
                               _ operation: String) async throws -> (BucketRecord, ObjectStore.Located) {
        let record = try resolve(principal, bucket)
        try await gate.checkManagement(principal, record, operation)
        guard record.objectLock != nil else {
            throw ObjectServiceError.invalidRequest("Bucket is missing Object Lock Configuration")
        }
        let found: ObjectStore.Located
        if let versionID {
            found = try await findVersion(record, key, versionID, crossing: nil, everyNode: true)
        } else {
            guard let newest = try await store.newest(record.jurisdiction, bucket: record.name, key: key),
                  newest.manifest.isListedVersion else {
                throw ObjectServiceError.noSuchKey(bucket: record.name, key: key)
            }
            found = newest
        }
        if found.manifest.isTombstone {
            throw ObjectServiceError.deleteMarker(bucket: record.name, key: key, version: VersionName.name(found.manifest),
                                                  byVersion: true)
        }
        return (record, found)
    }

    /// Changes the lock of one version, one change of a key at a time through this gateway, on every node that
    /// holds the version.
    private func changeLock(_ principal: Principal, _ bucket: String, _ key: String, _ versionID: String?,
                            _ operation: String, _ change: (inout ObjectLock) throws -> Void) async throws -> String? {
        let lease = try admitWrite(principal, bucket).1
        defer { lease.release() }
        let lockKey = "\(bucket)\u{0}\(key)"
        await store.keyLocks.lock(lockKey)
        do {
            let (record, found) = try await lockedVersion(principal, bucket, key, versionID, operation)
            let changed = try await store.changeLock(record.jurisdiction, found.manifest) { strongest in
                var lock = strongest
                try change(&lock)
                return lock
            }
            await store.keyLocks.unlock(lockKey)
            // A regulator reads every lock change in J's log, as it reads every placement.
            let lock = changed.lock
            try await audit.record(record.jurisdiction, kind: "object-lock", fields: principal.auditFields.merging([
                "operation": operation, "bucket": record.name, "key": key, "version": VersionName.name(found.manifest),
                "mode": lock.mode?.name ?? "none",
                "retainUntil": lock.mode == nil ? "" : Timestamps.iso8601(millis: lock.retainUntilMillis),
                "legalHold": lock.legalHold ? "ON" : "OFF"]) { $1 })
            logger.info("object lock changed", metadata: [
                "bucket": "\(bucket)", "version": "\(VersionName.name(found.manifest))", "operation": "\(operation)"])
            return VersionName.shown(found.manifest)
        } catch {
            await store.keyLocks.unlock(lockKey)
            throw error
        }
    }

    /// Whether `tenant` has data in `jurisdiction` that a key destruction would erase against its object lock: a
    /// version under COMPLIANCE retention that still holds, or under legal hold. Returns a description of the first
    /// one found.
    func lockedData(_ jurisdiction: Jurisdiction, tenant: String) async throws -> String? {
        let now = clock.nowMillis()
        for record in control.allBuckets()
        where record.jurisdiction == jurisdiction && record.tenant == tenant && record.objectLock != nil {
            var marker: (key: String, version: String?)?
            while true {
                // Every node must answer: a version held by fewer than R nodes must not be missed.
                let page = try await store.listVersions(jurisdiction, bucket: record.name, VersionListRequest(
                    keyMarker: marker?.key, versionIDMarker: marker?.version, maxKeys: 1000), everyNode: true)
                for entry in page.versions {
                    let lock = entry.manifest.lock
                    if lock.legalHold || (lock.mode == .compliance && lock.isRetained(at: now)) {
                        let what = lock.legalHold ? "under legal hold"
                            : "under COMPLIANCE retention until \(Timestamps.iso8601(millis: lock.retainUntilMillis))"
                        return "\(record.name)/\(entry.manifest.key) (version \(VersionName.name(entry.manifest))) is \(what)"
                    }
                }
                guard page.isTruncated, let key = page.nextKeyMarker else { break }
                marker = (key, page.nextVersionIDMarker)
            }
        }
        return nil
    }
}
