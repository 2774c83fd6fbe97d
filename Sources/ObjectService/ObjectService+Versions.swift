import ObjectModel
import Sovereignty
import StorageNode

/// A version or delete marker as ListObjectVersions shows it.
public struct VersionSummary: Sendable, Equatable {
    public var key: String
    public var versionID: String
    public var isLatest: Bool
    public var isDeleteMarker: Bool
    public var sizeBytes: Int64
    public var etag: String
    public var lastModifiedMillis: Int64
    public var checksumAlgorithm: String?
}

/// One page of ListObjectVersions.
public struct VersionListing: Sendable {
    public var versions: [VersionSummary]
    public var commonPrefixes: [String]
    public var isTruncated: Bool
    public var nextKeyMarker: String?
    public var nextVersionIDMarker: String?
}

/// What a DeleteObject did: the version it removed or the delete marker it wrote.
public struct DeleteOutcome: Sendable, Equatable {
    /// `x-amz-version-id`: the delete marker written, or the version deleted (nil in an unversioned bucket).
    public var versionID: String?
    /// `x-amz-delete-marker`: a marker was written, or the version deleted was one.
    public var deleteMarker: Bool

    public init(versionID: String? = nil, deleteMarker: Bool = false) {
        self.versionID = versionID
        self.deleteMarker = deleteMarker
    }
}

/// Versioning through the one door. The bucket's versioning is configured only through its own jurisdiction, like
/// its other management; reading a version is the read it amounts to (GetObject, HeadObject, ListObjects across a
/// border: refused without a grant); deleting a version for good, which can no more be undone than the write it
/// erases, is done only through the bucket's own jurisdiction, where its object lock is checked.
extension ObjectService {
    /// GetBucketVersioning: nil while versioning was never configured.
    public func bucketVersioning(_ principal: Principal, _ bucket: String) async throws -> VersioningState? {
        let record = try resolve(principal, bucket)
        try await gate.checkManagement(principal, record, "GetBucketVersioning")
        return record.versioning
    }

    /// PutBucketVersioning. A bucket with object lock stays Enabled.
    public func setBucketVersioning(_ principal: Principal, _ bucket: String, _ state: VersioningState) async throws {
        let record = try resolve(principal, bucket)
        try await gate.checkManagement(principal, record, "PutBucketVersioning")
        _ = try await control.updateBucket(record.name) { stored in
            guard stored.createdMillis == record.createdMillis else { throw ObjectServiceError.noSuchBucket(bucket) }
            if stored.objectLock != nil, state != .enabled {
                throw ObjectServiceError.invalidBucketState("An Object Lock configuration is present on this bucket, "
                    + "so the versioning state cannot be changed.")
            }
            stored.versioning = state
        }
        logger.info("bucket versioning", metadata: ["bucket": "\(bucket)", "status": "\(state.rawValue)"])
    }

    /// One version of `key` by its version id, opened for GetObject or HeadObject (the same decision across a border
    /// as the latest's, taken before the version is looked up).
    public func objectVersion(_ principal: Principal, _ bucket: String, _ key: String, versionID: String,
                              operation: ReadOperation, conditions: ReadConditions = ReadConditions()) async throws
        -> StoredObject
    {
        precondition(operation == .getObject || operation == .headObject, "not an object read")
        let record = try resolve(principal, bucket)
        let crossing = try await gate.checkRead(principal, record, operation, key: key)
        let found = try await findVersion(record, key, versionID, crossing: crossing)
        let stored = try await open(record, found, operation: operation, crossing: crossing, principal: principal)
        try conditions.check(etag: stored.info.etag, lastModifiedMillis: stored.info.lastModifiedMillis,
                             copySource: false)
        return stored
    }

    /// The version `versionID` of `key`: `InvalidArgument` for a name Qantara never gives out, `NoSuchVersion` when
    /// no node holds it. A delete marker answers `MethodNotAllowed` at home (with `markers`, it is returned); across
    /// a border it answers like a missing version, as a delete marker of the latest does. With `everyNode`, every
    /// node is asked and must answer (a permanent deletion, a lock decision).
    func findVersion(_ record: BucketRecord, _ key: String, _ versionID: String, crossing: SovereigntyGate.Crossing?,
                     markers: Bool = false, everyNode: Bool = false) async throws -> ObjectStore.Located {
        guard let selector = VersionName.selector(versionID) else {
            throw ObjectServiceError.invalidArgument("Invalid version id specified")
        }
        let found = try await store.version(record.jurisdiction, bucket: record.name, key: key, selector: selector,
                                            everyNode: everyNode)
        guard let found, !(found.manifest.isTombstone && crossing != nil) else {
            if let crossing { try await gate.chargeMiss(crossing) }
            throw ObjectServiceError.noSuchVersion(bucket: record.name, key: key, version: versionID)
        }
        if found.manifest.isTombstone, !markers {
            throw ObjectServiceError.deleteMarker(bucket: record.name, key: key, version: versionID, byVersion: true)
        }
        return found
    }

    /// DeleteObject without a version id: a tombstone, or in a versioned bucket a delete marker (returned).
    @discardableResult
    public func deleteObject(_ principal: Principal, _ bucket: String, _ key: String) async throws -> DeleteOutcome {
        let (record, lease) = try admitWrite(principal, bucket)
        defer { lease.release() }
        let marker = try await store.delete(record.jurisdiction, bucket: record.name, key: key,
                                            evenIfMissing: principal.gateway != record.jurisdiction,
                                            caller: principal.auditFields)
        return DeleteOutcome(versionID: marker.map(VersionName.name), deleteMarker: marker != nil)
    }

    /// DeleteObject with a version id: removes that version for good (a delete marker too), unless object lock
    /// protects it. A version that does not exist answers as deleted, as in S3.
    public func deleteObjectVersion(_ principal: Principal, _ bucket: String, _ key: String, versionID: String,
                                    bypassGovernance: Bool = false) async throws -> DeleteOutcome {
        let (record, lease) = try admitWrite(principal, bucket)
        defer { lease.release() }
        try await gate.checkManagement(principal, record, "DeleteObjectVersion")
        let found: ObjectStore.Located
        do {
            // Every node is asked: the lock decided on is the strongest any replica holds.
            found = try await findVersion(record, key, versionID, crossing: nil, markers: true, everyNode: true)
        } catch ObjectServiceError.noSuchVersion {
            // Deleted already; but a deletion whose index edit failed is retried here, so the index follows it
            // before the deletion is acknowledged.
            if case .id(let version, let sequence)? = VersionName.selector(versionID) {
                try await store.reindex(afterDeleting: VersionMark(sequence: sequence, version: version),
                                        bucket: record.name, key: key, jurisdiction: record.jurisdiction)
            }
            return DeleteOutcome(versionID: versionID)
        }
        try checkDeletable(principal, found.manifest, bypassGovernance: bypassGovernance)
        // The nodes apply the same rule again under their commit locks: a lock set since is not deleted past.
        let check = LockCheck(nowMillis: clock.nowMillis(),
                              bypassGovernance: bypassGovernance && principal.mayBypassGovernance)
        try await store.deleteVersion(record.jurisdiction, found.manifest, check: check, caller: principal.auditFields)
        return DeleteOutcome(versionID: versionID, deleteMarker: found.manifest.isDeleteMarker)
    }

    /// Object lock's rule for deleting a version (or shortening its retention): no one, the root included, removes a
    /// version under legal hold or under a COMPLIANCE retention before its date; a GOVERNANCE retention yields only
    /// to a principal allowed to bypass it who asks to.
    func checkDeletable(_ principal: Principal, _ manifest: ObjectManifest, bypassGovernance: Bool) throws {
        let lock = manifest.lock
        if lock.legalHold {
            throw ObjectServiceError.objectLocked("Access Denied because object protected by object lock: the version "
                + "is under legal hold")
        }
        guard lock.isRetained(at: clock.nowMillis()), let mode = lock.mode else { return }
        if mode == .governance, bypassGovernance, principal.mayBypassGovernance { return }
        throw ObjectServiceError.objectLocked("Access Denied because object protected by object lock: \(mode.name) "
            + "retention until \(Timestamps.iso8601(millis: lock.retainUntilMillis))")
    }

    /// ListObjectVersions: a read of the bucket's metadata, refused across a border like ListObjects.
    public func listObjectVersions(_ principal: Principal, _ bucket: String, _ request: VersionListRequest)
        async throws -> VersionListing
    {
        let record = try resolve(principal, bucket)
        try await gate.checkRead(principal, record, .listObjects, prefix: request.prefix)
        let page = try await store.listVersions(record.jurisdiction, bucket: record.name, request)
        return VersionListing(
            versions: page.versions.map { entry in
                VersionSummary(key: entry.manifest.key, versionID: VersionName.name(entry.manifest),
                               isLatest: entry.isLatest, isDeleteMarker: entry.manifest.isTombstone,
                               sizeBytes: entry.manifest.sizeBytes, etag: entry.manifest.etag,
                               lastModifiedMillis: entry.manifest.lastModifiedMillis,
                               checksumAlgorithm: entry.manifest.checksumAlgorithm)
            },
            commonPrefixes: page.commonPrefixes, isTruncated: page.isTruncated,
            nextKeyMarker: page.isTruncated ? page.nextKeyMarker : nil,
            nextVersionIDMarker: page.isTruncated ? page.nextVersionIDMarker : nil)
    }
}
