import ObjectModel
import StorageEngine

/// The node changes that drop what a write left or a bucket held: an abandoned version's segments, a multipart
/// upload, a whole bucket. Each is a node change (``NodeChange``) like the writes it is ordered with, checked under the
/// node's commit lock, so a drop never races a commit of what it drops.
extension NodeStore {
    /// Stages the removal of an uncommitted version's segments (``NodeChange/abortSegments(_:version:)``). The
    /// upload marker is read as the group leaves it: a commit earlier in the group removed it, and the version stays.
    func stageAbort(_ version: VersionID, group: GroupWrite, into batch: inout WriteBatch) throws -> CommitOutcome {
        guard try group.value(NodeKeys.upload(version: version)) != nil else { return .superseded }
        try deleteSegments(of: version, into: &batch)
        return .committed
    }

    /// Stages the removal of a multipart upload's template, part records and parts' segments
    /// (``NodeChange/abortUpload(_:bucket:key:upload:)``); parts are dropped even when the template is gone (a part
    /// that committed after an earlier abort).
    func stageAbortUpload(_ upload: VersionID, bucket: String, key: String, group: GroupWrite,
                          into batch: inout WriteBatch) throws -> CommitOutcome {
        let template = try group.value(NodeKeys.multipart(bucket: bucket, key: key, upload: upload))
        try dropUpload(upload, bucket: bucket, key: key, keeping: [], group: group, into: &batch)
        return template == nil ? .superseded : .committed
    }

    /// Removes every manifest, noncurrent version, index entry, upload and segment of a bucket, in one synced write;
    /// refuses, removing nothing, when a version is under object lock. The caller holds the commit lock.
    func purgeLocked(_ requested: Jurisdiction, bucket: String) throws -> CommitOutcome {
        try check(requested)
        let base = NodeKeys.manifestPrefix(bucket: bucket)
        let end = prefixSuccessor(base)!
        var batch = WriteBatch()
        var from = base
        while true {
            let page = try engine.scan(from: from, to: end, limit: 1000)
            for pair in page {
                if let manifest = try? ObjectManifest(decoding: pair.value) {
                    try refuseLocked(manifest)
                    for extent in manifest.extents { deleteSegments(of: extent, into: &batch) }
                }
            }
            guard let last = page.last, page.count == 1000 else { break }
            from = last.key + [0]
        }
        batch.deleteRange(from: base, to: end)
        let index = NodeKeys.indexPrefix(bucket: bucket)
        batch.deleteRange(from: index, to: prefixSuccessor(index)!)
        try purgeNoncurrent(bucket: bucket, into: &batch)
        let uploads = NodeKeys.multipartPrefix(bucket: bucket)
        for pair in try engine.scan(from: uploads, to: prefixSuccessor(uploads), limit: .max) {
            if let template = try? ObjectManifest(decoding: pair.value) {
                try dropUpload(template.versionID, bucket: bucket, key: template.key, keeping: [], into: &batch)
            }
        }
        try writeSynced(batch)
        return .committed
    }

    /// Applies ``NodeChange/purge(_:bucket:)``.
    public func purge(_ requested: Jurisdiction, bucket: String) throws {
        _ = try apply([.purge(requested, bucket: bucket)])[0].get()
    }
}
