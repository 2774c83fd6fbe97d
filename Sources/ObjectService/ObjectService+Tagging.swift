import ObjectModel
import StorageNode

/// Object tagging through the one door. Reading an object's tags is reading its metadata (a HeadObject across a
/// border: refused without a grant). Changing them rewrites the object's sealed metadata in place, which only the
/// object's own jurisdiction does, like every other management of what is stored there.
extension ObjectService {
    /// `key`'s current version (or version `versionID`) as HeadObject reads it: its tags are in its metadata.
    public func objectTags(_ principal: Principal, _ bucket: String, _ key: String, versionID: String? = nil)
        async throws -> ObjectInfo
    {
        guard let versionID else { return try await object(principal, bucket, key, operation: .headObject).info }
        return try await objectVersion(principal, bucket, key, versionID: versionID, operation: .headObject).info
    }

    /// Replaces the tags of `key`'s current version (empty: removes them); the object's data, ETag, modification
    /// time and place in the order of writes stay as they are. Each replica swaps the sealed metadata only if it
    /// still holds that version (its own compare, under its commit lock): a write of the key from any gateway that
    /// lands meanwhile wins, and this call answers `ConditionalRequestConflict`, never bringing the old version back.
    /// Returns the version id of the version changed (nil in an unversioned bucket).
    @discardableResult
    public func setObjectTags(_ principal: Principal, _ bucket: String, _ key: String, _ tags: [(String, String)],
                              versionID: String? = nil, operation: String) async throws -> String? {
        if let problem = ObjectTags.problem(tags) { throw ObjectServiceError.invalidTag(problem) }
        let (record, lease) = try admitWrite(principal, bucket)
        defer { lease.release() }
        try await gate.checkManagement(principal, record, operation)
        // Tag changes of one key through this gateway go one at a time, so replicas do not end up with two sets.
        let lockKey = "\(record.name)\u{0}\(key)"
        await store.keyLocks.lock(lockKey)
        do {
            let changed = try await replaceTags(principal, record, key, tags, versionID: versionID, operation: operation)
            await store.keyLocks.unlock(lockKey)
            return changed
        } catch {
            await store.keyLocks.unlock(lockKey)
            throw error
        }
    }

    private func replaceTags(_ principal: Principal, _ record: BucketRecord, _ key: String, _ tags: [(String, String)],
                             versionID: String?, operation: String) async throws -> String? {
        let found: ObjectStore.Located
        if let versionID {
            found = try await findVersion(record, key, versionID, crossing: nil)
        } else {
            guard let latest = try await store.locate(record.jurisdiction, bucket: record.name, key: key) else {
                throw ObjectServiceError.noSuchKey(bucket: record.name, key: key)
            }
            found = latest
        }
        let opened = try await store.opened(found, jurisdiction: record.jurisdiction, tenant: record.tenant,
                                            operation: operation, gateway: principal.gateway,
                                            caller: principal.auditFields)
        guard let cipher = opened.cipher else {
            throw ObjectServiceError.invalidRequest("\(key) is stored without encryption (a benchmark build's "
                + "plaintext setting): it cannot carry tags")
        }
        var metadata = opened.manifest.metadata
        metadata.tags = tags
        var manifest = found.manifest
        ObjectCrypto.sealMetadata(metadata, into: &manifest, cipher: cipher)
        guard let sealed = manifest.sealedMetadata else { throw ObjectServiceError.internalError("metadata not sealed") }
        var replaced = 0
        var failed = [String]()
        for replica in found.replicas {
            do {
                if try await replica.replaceSealed(record.jurisdiction, bucket: record.name, key: key,
                                                   version: manifest.versionID, sequence: manifest.sequence,
                                                   upload: false, field: .metadata,
                                                   bytes: sealed) {
                    replaced += 1
                }
            } catch {
                failed.append(replica.nodeID.rawValue)
            }
        }
        guard failed.isEmpty else {
            throw ObjectServiceError.serviceUnavailable("the tags were not stored on storage node "
                + failed.joined(separator: ", "))
        }
        guard replaced == found.replicas.count else { throw ObjectServiceError.conditionalRequestConflict }
        return VersionName.shown(found.manifest)
    }
}
