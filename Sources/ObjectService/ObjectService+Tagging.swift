import ObjectModel
import StorageNode

/// Object tagging through the one door. Reading an object's tags is reading its metadata (a HeadObject across a
/// border: refused without a grant). Changing them rewrites the object's sealed metadata in place, which only the
/// object's own jurisdiction does, like every other management of what is stored there.
extension ObjectService {
    /// The tags of `key`'s current version.
    public func objectTags(_ principal: Principal, _ bucket: String, _ key: String) async throws -> [(String, String)] {
        try await object(principal, bucket, key, operation: .headObject).info.metadata.tags
    }

    /// Replaces the tags of `key`'s current version (empty: removes them); the object's data, ETag and modification
    /// time stay as they are. A write of the key that lands meanwhile wins, and this call answers
    /// `ConditionalRequestConflict` rather than putting the old version back.
    public func setObjectTags(_ principal: Principal, _ bucket: String, _ key: String, _ tags: [(String, String)],
                              operation: String) async throws {
        if let problem = ObjectTags.problem(tags) { throw ObjectServiceError.invalidTag(problem) }
        let (record, lease) = try admitWrite(principal, bucket)
        defer { lease.release() }
        try await gate.checkManagement(principal, record, operation)
        guard let found = try await store.locate(record.jurisdiction, bucket: record.name, key: key) else {
            throw ObjectServiceError.noSuchKey(bucket: record.name, key: key)
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
        let (failed, _) = try await store.commitObject(manifest, on: found.replicas, jurisdiction: record.jurisdiction,
                                                       condition: .versionIs(manifest.versionID))
        guard failed.isEmpty else {
            throw ObjectServiceError.serviceUnavailable("the tags were not stored on storage node "
                + failed.map(\.nodeID.rawValue).joined(separator: ", "))
        }
    }
}
