import ObjectModel
import StorageEngine

/// A change to a node's records that depends on what they hold: applied in groups (``NodeStore/apply(_:)``).
public enum NodeChange: Sendable {
    /// See ``NodeStore/commit(_:manifest:completing:inlineSegment:)``. With `intent` (a client's write, not a copy),
    /// an ``IndexIntent`` of the version goes in the same batch when the node takes it. With `index` (the node is an
    /// index replica of the bucket), the manifest is merged into the bucket's listing index in the same batch
    /// (``IndexEdit/merge(_:)``, whatever the commit's outcome, as a separate edit would be): the edit cannot be
    /// missed where the version is.
    case commit(Jurisdiction, manifest: ObjectManifest, completing: VersionID?, inlineSegment: [UInt8]?,
                intent: Bool = false, index: Bool = false)
    /// See ``NodeStore/commitPart(_:upload:record:)``.
    case commitPart(Jurisdiction, upload: VersionID, record: PartRecord)
    /// See ``StorageNodeClient/deleteVersion(_:bucket:key:version:sequence:check:)``. Unless it relocates, a deleted
    /// ``IndexIntent`` goes in the same batch when the node removes the version.
    case deleteVersion(Jurisdiction, bucket: String, key: String, version: VersionID, sequence: UInt64, check: LockCheck)
    /// Edits of listing index entries (``IndexEdit``), applied in order; `.committed` when any entry changed.
    case index(Jurisdiction, [IndexEdit])
    /// See ``StorageNodeClient/replaceSealed(_:bucket:key:version:sequence:upload:field:bytes:)``: `.committed` when
    /// the field was replaced.
    case replaceSealed(Jurisdiction, bucket: String, key: String, version: VersionID, sequence: UInt64?, upload: Bool,
                       field: SealedField, bytes: [UInt8])
    /// See ``StorageNodeClient/replaceLock(_:bucket:key:version:sequence:expected:lock:)``: `.committed` when the
    /// lock was set.
    case replaceLock(Jurisdiction, bucket: String, key: String, version: VersionID, sequence: UInt64,
                     expected: ObjectLock, lock: ObjectLock)
    /// See ``StorageNodeClient/createUpload(_:template:)``.
    case createUpload(Jurisdiction, template: ObjectManifest)
    /// Removes the index intents from position `from` to `through` (a page's start and ``IntentPage/end``) but those
    /// at the positions `keeping` (``IndexIntent/position``: what the drain could not deliver, at most 1,000), which
    /// stay where they are.
    case clearIntents(Jurisdiction, from: [UInt8], through: [UInt8], keeping: [[UInt8]])
    /// Drops the segments of a version no commit took (its upload marker is still there): an abandoned write.
    /// `.superseded` when there was nothing to drop: a version whose commit removed its marker keeps its segments,
    /// whatever the caller believes (a gateway that lost a commit's answer aborts a version the node holds).
    case abortSegments(Jurisdiction, version: VersionID)
    /// Drops a multipart upload: its template, its part records and their segments (parts committed earlier in the
    /// same group too). `.superseded` when the node had no template of it.
    case abortUpload(Jurisdiction, bucket: String, key: String, upload: VersionID)
    /// Removes every record and segment of a bucket (the bucket is being deleted): refused, with nothing removed, when
    /// a version is under object lock. Applied alone, after the changes queued before it.
    case purge(Jurisdiction, bucket: String)
    /// Replaces damaged segments of an extent with staged ones, if the extent then matches the digest its manifest
    /// records (``SegmentRepair``); `.superseded` (and the staged segments dropped) otherwise.
    case repairSegments(Jurisdiction, SegmentRepair)
}

/// A repair of a damaged extent: the segments of an uncommitted version `staged` (written by a segment stream like
/// any other, `0..<indices.count`) replace the extent's segments `indices`, in order. The node takes them only if its
/// whole extent then matches the digest its manifest records: nothing else can be written this way.
public struct SegmentRepair: Sendable, Equatable {
    public var bucket: String
    public var key: String
    public var version: VersionID
    public var sequence: UInt64
    /// The extent of the version (its own id, or a part's) being repaired.
    public var extent: VersionID
    public var staged: VersionID
    public var indices: [UInt32]

    public init(bucket: String, key: String, version: VersionID, sequence: UInt64, extent: VersionID,
                staged: VersionID, indices: [UInt32]) {
        (self.bucket, self.key, self.version, self.sequence) = (bucket, key, version, sequence)
        (self.extent, self.staged, self.indices) = (extent, staged, indices)
    }
}

extension NodeChange {
    /// Whether the change is a bucket's purge (applied alone).
    var isPurge: Bool {
        if case .purge = self { return true }
        return false
    }

    /// The versions whose segments the change commits.
    var segmentVersions: [VersionID] {
        switch self {
        case .commit(_, let manifest, _, _, _, _): manifest.segmentVersions
        case .commitPart(_, _, let record): [record.part.versionID]
        // A repair writes the extent's segment files in its stage: they are synced before its records.
        case .repairSegments(_, let repair): [repair.extent]
        case .deleteVersion, .index, .replaceSealed, .replaceLock, .createUpload, .clearIntents, .abortSegments,
             .abortUpload, .purge: []
        }
    }
}

/// The writes of a group of changes so far, and what they make each key hold for the changes after them.
struct GroupWrite {
    let engine: any KeyValueEngine
    private(set) var batch = WriteBatch()
    /// The value each written record key will hold (nil: deleted). Changes read only records back (manifests,
    /// current and noncurrent; part records; upload templates and markers; index entries), so segment keys are not
    /// tracked.
    private var written: [[UInt8]: [UInt8]?] = [:]

    init(engine: any KeyValueEngine) { self.engine = engine }

    private static func isRecord(_ key: [UInt8]) -> Bool {
        key.first == NodeKeys.manifestTag || key.first == NodeKeys.partTag || key.first == NodeKeys.noncurrentTag
            || key.first == NodeKeys.indexTag || key.first == NodeKeys.multipartTag || key.first == NodeKeys.uploadTag
    }

    /// The first `limit` records of `[start, end)` as they are once the group's writes so far are applied, in key
    /// order.
    func scan(from start: [UInt8], to end: [UInt8], limit: Int = .max) throws -> [KeyValue] {
        let pending = written.filter { !$0.key.lexicographicallyPrecedes(start) && $0.key.lexicographicallyPrecedes(end) }
        // Enough stored records that `limit` remain after the group's deletions among them.
        let reading = limit == .max ? .max : limit + pending.count
        var merged = [[UInt8]: [UInt8]]()
        for pair in try engine.scan(from: start, to: end, limit: reading) { merged[pair.key] = pair.value }
        for (key, value) in pending { merged[key] = value }
        let sorted = merged.map { KeyValue(key: $0.key, value: $0.value) }
            .sorted { $0.key.lexicographicallyPrecedes($1.key) }
        return Array(sorted.prefix(limit))
    }

    /// The value `key` (a manifest or part record key) holds once the group's writes so far are applied.
    func value(_ key: [UInt8]) throws -> [UInt8]? {
        precondition(Self.isRecord(key), "only record keys are read back within a group")
        if let pending = written[key] { return pending }
        return try engine.get(key)
    }

    mutating func add(_ changes: WriteBatch) {
        for operation in changes.operations {
            switch operation {
            case .put(let key, let value): if Self.isRecord(key) { written[key] = .some(value) }
            case .delete(let key): if Self.isRecord(key) { written[key] = .some(nil) }
            case .deleteRange(let start, let end):
                // Records are deleted one by one, so that later changes read what the group left; index intents,
                // never read back in a group, are cleared by range.
                precondition(start.first == NodeKeys.intentTag && end.first == NodeKeys.intentTag,
                             "a grouped change deletes records one by one")
            }
        }
        batch.append(changes)
    }
}
