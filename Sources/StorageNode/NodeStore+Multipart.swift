import ObjectModel
import StorageEngine

/// Multipart uploads on a node: the upload's template and its part records, kept until completion or abort.
extension NodeStore {
    /// Records a new multipart upload; `template` carries its metadata, its version id is the upload id.
    public func createUpload(_ requested: Jurisdiction, template: ObjectManifest) throws {
        _ = try apply([.createUpload(requested, template: template)])[0].get()
    }

    /// The upload's template, or nil when this node has no record of it.
    public func upload(_ requested: Jurisdiction, bucket: String, key: String, upload: VersionID) throws -> ObjectManifest? {
        try check(requested)
        return try engine.get(NodeKeys.multipart(bucket: bucket, key: key, upload: upload)).map {
            try ObjectManifest(decoding: $0)
        }
    }

    /// Uploads in progress in `bucket` whose keys start with `prefix`, from position `from` (key, NUL, upload id) on,
    /// in order; at most `limit` (and never more than a listing page and one), so a caller cannot make a node read
    /// every upload at once.
    public func listUploads(_ requested: Jurisdiction, bucket: String, prefix: [UInt8], from: [UInt8], limit: Int)
        throws -> [ObjectManifest]
    {
        try check(requested)
        let base = NodeKeys.multipartPrefix(bucket: bucket, keyPrefix: prefix)
        let position = NodeKeys.multipartPrefix(bucket: bucket, keyPrefix: from)
        let start = base.lexicographicallyPrecedes(position) ? position : base
        guard let end = prefixSuccessor(base), start.lexicographicallyPrecedes(end) else { return [] }
        return try engine.scan(from: start, to: end, limit: min(limit, Limits.listKeysMax + 1)).map {
            try ObjectManifest(decoding: $0.value)
        }
    }

    /// Makes `record` the part of its number unless a later upload of that number is there; durably.
    public func commitPart(_ requested: Jurisdiction, upload: VersionID, record: PartRecord) throws -> CommitOutcome {
        try apply([.commitPart(requested, upload: upload, record: record)])[0].get()
    }

    func stagePart(_ record: PartRecord, upload: VersionID, group: GroupWrite, into batch: inout WriteBatch) throws
        -> CommitOutcome
    {
        let key = NodeKeys.part(upload: upload, number: record.part.number)
        let current = try group.value(key).map { try PartRecord(decoding: $0) }
        // A part whose segments are gone (its upload aborted, or swept as abandoned, since they were written) is
        // refused: its record would name nothing, and outlive its upload. Its commit retried finds its own record.
        if record.part.sizeBytes > 0, current?.part.versionID != record.part.versionID,
           try group.value(NodeKeys.upload(version: record.part.versionID)) == nil {
            throw NodeError.missingSegment(node: node, version: record.part.versionID.description, index: 0)
        }
        batch.delete(NodeKeys.upload(version: record.part.versionID))
        if let current {
            if !record.isNewer(than: current) {
                if current.part.versionID != record.part.versionID {
                    try deleteSegments(of: record.part.versionID, into: &batch)
                }
                return .superseded
            }
            if current.part.versionID != record.part.versionID {
                try deleteSegments(of: current.part.versionID, into: &batch)
            }
        }
        batch.put(key, record.encoded())
        return .committed
    }

    /// Part records of an upload with numbers `>= from`, in order.
    public func parts(_ requested: Jurisdiction, upload: VersionID, from: UInt32, limit: Int) throws -> [PartRecord] {
        try check(requested)
        let (_, end) = NodeKeys.partRange(upload: upload)
        return try engine.scan(from: NodeKeys.part(upload: upload, number: from), to: end,
                               limit: min(limit, Limits.partNumberMax)).map {
            try PartRecord(decoding: $0.value)
        }
    }
}
