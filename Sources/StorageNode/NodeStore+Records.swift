import ObjectModel
import StorageEngine

/// In-place changes of one stored version's record, staged in a group of changes (``NodeStore/apply(_:)``) like the
/// commits they are ordered with: each a compare under the node's commit lock, so a newer write is never overwritten
/// or brought back.
extension NodeStore {
    /// The record of version `version` of `key` (the current one, or a noncurrent one; with `upload`, the multipart
    /// upload `version`'s template), as the group's writes so far leave it.
    func record(bucket: String, key: String, version: VersionID, sequence: UInt64?, upload: Bool,
                        group: GroupWrite) throws -> KeyValue? {
        let recordKey = upload ? NodeKeys.multipart(bucket: bucket, key: key, upload: version)
                               : NodeKeys.manifest(bucket: bucket, key: key)
        guard let raw = try group.value(recordKey) else { return nil }
        if !upload, let noncurrent = try noncurrentRecord(bucket: bucket, key: key, version: version,
                                                          sequence: sequence, unlessCurrent: raw, group: group) {
            return noncurrent
        }
        return KeyValue(key: recordKey, value: raw)
    }

    /// Stages the replacement of one sealed field of a version (its encryption header, or its sealed metadata), if
    /// the version is still stored with one.
    func stageSealed(bucket: String, key: String, version: VersionID, sequence: UInt64?, upload: Bool,
                     field: SealedField, bytes: [UInt8], group: GroupWrite,
                     into batch: inout WriteBatch) throws -> CommitOutcome {
        guard let found = try record(bucket: bucket, key: key, version: version, sequence: sequence, upload: upload,
                                     group: group) else { return .superseded }
        var manifest = try ObjectManifest(decoding: found.value)
        guard manifest.versionID == version, !manifest.isTombstone, manifest.envelope != nil else { return .superseded }
        switch field {
        case .envelope: manifest.envelope = bytes
        case .metadata:
            guard manifest.sealedMetadata != nil else { return .superseded }
            manifest.sealedMetadata = bytes
        }
        batch.put(found.key, manifest.encoded())
        return .committed
    }

    /// Stages a version's new object lock, if the version still has the lock `expected`.
    func stageLock(bucket: String, key: String, version: VersionID, sequence: UInt64, expected: ObjectLock,
                   lock: ObjectLock, group: GroupWrite, into batch: inout WriteBatch) throws -> CommitOutcome {
        guard let found = try record(bucket: bucket, key: key, version: version, sequence: sequence, upload: false,
                                     group: group) else { return .superseded }
        var manifest = try ObjectManifest(decoding: found.value)
        guard manifest.versionID == version, !manifest.isTombstone, manifest.lock == expected else { return .superseded }
        manifest.lock = lock
        // A locked version is history to keep: no later write drops it, even one that knows nothing of versioning.
        manifest.keepsHistory = true
        batch.put(found.key, manifest.encoded())
        return .committed
    }
}
