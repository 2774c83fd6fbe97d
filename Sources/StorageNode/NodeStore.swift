import Glibc
import ObjectModel
import StorageEngine
import Synchronization

/// The storage node's logic over one ordered key-value engine: blocking, synchronous, jurisdiction-checked.
///
/// ``LocalStorageNode`` runs it on a thread pool for the gateway; a network node server wraps the same type.
public final class NodeStore: Sendable {
    public let node: NodeID
    public let jurisdiction: Jurisdiction
    let engine: any KeyValueEngine
    /// Where segments of at least ``fileThresholdBytes`` go; nil keeps every segment in the engine.
    let files: SegmentFiles?
    /// Versions whose file-key deletion was staged: their files go once that deletion is durable (``reapFiles()``).
    let condemned = Mutex<[VersionID]>([])
    /// Segments this large go to files (with `files`): full segments, and the last ones of large objects.
    public static let fileThresholdBytes = 64 * 1024
    /// Serialises the read-compare-writes of records (manifests, part records): a group of changes reads and
    /// writes under it. In a running node one thread applies every group (``GroupCommitter``); a repair's write and
    /// a purge's pages, run on the thread pool, and the sweeps take it too, briefly.
    let changeLock = Mutex(())
    /// The latest commit time given to an index intent (``stage(_:into:)``).
    let intentClock = Mutex<Int64>(0)

    /// Opens a node over `engine`: stamps a new database, or checks the stamp of an existing one and
    /// refuses a database of another jurisdiction or node. Sweeps uploads left by a crash.
    ///
    /// With `segmentDirectory`, segments of ``fileThresholdBytes`` and more are kept there as files
    /// (``SegmentFiles``) rather than in the engine; files left without their key by a crash are removed.
    public init(node: NodeID, jurisdiction: Jurisdiction, engine: any KeyValueEngine, nowMillis: Int64,
                segmentDirectory: String? = nil) throws {
        self.node = node
        self.jurisdiction = jurisdiction
        self.engine = engine
        files = try segmentDirectory.map(SegmentFiles.init)
        if let raw = try engine.get(NodeKeys.stamp) {
            let stamp: NodeStamp
            do { stamp = try NodeStamp(decoding: raw) } catch { throw NodeError.corrupt("node stamp: \(error)") }
            guard stamp.jurisdiction == jurisdiction else {
                throw NodeError.stampMismatch("database is stamped for jurisdiction \(stamp.jurisdiction) "
                    + "(node \(stamp.node)); refusing to open it as a node of \(jurisdiction)")
            }
            guard stamp.node == node else {
                throw NodeError.stampMismatch("database belongs to node \(stamp.node); refusing to open it as \(node)")
            }
        } else {
            let stamp = NodeStamp(node: node, jurisdiction: jurisdiction, createdMillis: nowMillis)
            try engine.put(NodeKeys.stamp, stamp.encoded(), sync: true)
        }
        try sweepUploads()
        try sweepFiles()
    }

    func check(_ requested: Jurisdiction) throws {
        guard requested == jurisdiction else {
            throw NodeError.wrongJurisdiction(node: node, nodeJurisdiction: jurisdiction, requested: requested)
        }
    }

    /// Drops the segments of every upload that never committed (used at open, after a crash).
    public func sweepUploads() throws {
        let markers = try engine.scan(from: [NodeKeys.uploadTag], to: [NodeKeys.uploadTag + 1], limit: .max)
        guard !markers.isEmpty else { return }
        var batch = WriteBatch()
        for marker in markers {
            guard let version = VersionID(bytes: Array(marker.key.dropFirst())) else { continue }
            try deleteSegments(of: version, into: &batch)
        }
        try writeSynced(batch)
    }

    /// Makes `manifest` current for its key unless the node holds a newer one, durably. When `completing` names a
    /// multipart upload, its upload and part records go in the same batch, with the segments of parts the object
    /// does not use. `inlineSegment` is the only segment of a one-segment object, written in the same batch.
    public func commit(_ requested: Jurisdiction, manifest: ObjectManifest, completing upload: VersionID? = nil,
                       inlineSegment: [UInt8]? = nil) throws -> CommitOutcome
    {
        try apply([.commit(requested, manifest: manifest, completing: upload, inlineSegment: inlineSegment)])[0].get()
    }

    /// Applies `changes` in order, each reading what the ones before it wrote, and makes them durable in one synced
    /// write (a purge among them splits the group, below): the group commit of a node's small writes. A change that
    /// fails (wrong jurisdiction, corrupt record) adds nothing and fails alone; when the write fails, every change
    /// fails.
    public func apply(_ changes: [NodeChange]) -> [Result<CommitOutcome, any Error>] {
        // A purge goes alone, once the changes before it are durable, a page at a time (``purge(_:bucket:)``): a
        // bucket's records are too many to track in a group or to hold the lock for.
        guard changes.contains(where: \.isPurge) else { return changeLock.withLock { _ in applyGroup(changes) } }
        var outcomes = [Result<CommitOutcome, any Error>]()
        var pending = [NodeChange]()
        for change in changes {
            guard case .purge(let requested, let bucket) = change else {
                pending.append(change)
                continue
            }
            outcomes += changeLock.withLock { [pending] _ in applyGroup(pending) }
            pending.removeAll()
            outcomes.append(Result {
                try purge(requested, bucket: bucket)
                return .committed
            })
        }
        return outcomes + changeLock.withLock { [pending] _ in applyGroup(pending) }
    }

    /// Applies `changes` (no purge among them) in one synced write; the caller holds the commit lock. `checkedRepair`
    /// is a repair's check made before the lock (``repair(_:_:)``), for a group of that repair alone; nil: checked
    /// here.
    func applyGroup(_ changes: [NodeChange], checkedRepair: CheckedRepair? = nil) -> [Result<CommitOutcome, any Error>] {
        var group = GroupWrite(engine: engine)
        var outcomes = changes.map { change in Result { try stage(change, checkedRepair: checkedRepair, into: &group) } }
        if !group.batch.isEmpty {
            do {
                try syncSegmentFiles(for: changes)
                try writeSynced(group.batch)
            } catch {
                outcomes = outcomes.map { $0.flatMap { _ in .failure(error) } }
            }
        }
        return outcomes
    }

    /// Adds one change's writes to `group`, or nothing when it throws.
    private func stage(_ change: NodeChange, checkedRepair: CheckedRepair?, into group: inout GroupWrite) throws
        -> CommitOutcome
    {
        var batch = WriteBatch()
        let outcome: CommitOutcome
        switch change {
        case .commit(let requested, let manifest, let upload, let inlineSegment, let intent, let index):
            try check(requested)
            // An inline segment is a one-segment object's, written by one request: it completes no upload.
            guard upload == nil || inlineSegment == nil else {
                throw FormatError("a commit with an inline segment completes no upload")
            }
            outcome = try stageCommit(manifest, completing: upload, inlineSegment: inlineSegment, group: group,
                                      into: &batch)
            if intent, outcome == .committed {
                stage(IndexIntent(written: manifest, millis: 0), into: &batch)
            }
            if index { _ = try stageIndex([.merge(manifest)], group: group, into: &batch) }
        case .commitPart(let requested, let upload, let record):
            try check(requested)
            outcome = try stagePart(record, upload: upload, group: group, into: &batch)
        case .deleteVersion(let requested, let bucket, let key, let version, let sequence, let lockCheck):
            try check(requested)
            outcome = try stageVersionDeletion(bucket: bucket, key: key, version: version, sequence: sequence,
                                               check: lockCheck, group: group, into: &batch)
            if outcome == .committed, !lockCheck.relocating {
                stage(IndexIntent(deleted: key, bucket: bucket, mark: VersionMark(sequence: sequence, version: version),
                                  millis: 0), into: &batch)
            }
        case .index(let requested, let edits):
            try check(requested)
            outcome = try stageIndex(edits, group: group, into: &batch)
        case .replaceSealed(let requested, let bucket, let key, let version, let sequence, let upload, let field,
                            let bytes):
            try check(requested)
            outcome = try stageSealed(bucket: bucket, key: key, version: version, sequence: sequence, upload: upload,
                                      field: field, bytes: bytes, group: group, into: &batch)
        case .replaceLock(let requested, let bucket, let key, let version, let sequence, let expected, let lock):
            try check(requested)
            outcome = try stageLock(bucket: bucket, key: key, version: version, sequence: sequence,
                                    expected: expected, lock: lock, group: group, into: &batch)
        case .createUpload(let requested, let template):
            try check(requested)
            batch.put(NodeKeys.multipart(bucket: template.bucket, key: template.key, upload: template.versionID),
                      template.encoded())
            outcome = .committed
        case .clearIntents(let requested, let from, let through, let keeping):
            try check(requested)
            outcome = try stageClear(from: from, through: through, keeping: keeping, into: &batch)
        case .abortSegments(let requested, let version):
            try check(requested)
            outcome = try stageAbort(version, group: group, into: &batch)
        case .abortUpload(let requested, let bucket, let key, let upload):
            try check(requested)
            outcome = try stageAbortUpload(upload, bucket: bucket, key: key, group: group, into: &batch)
        case .repairSegments(let requested, let repair):
            try check(requested)
            outcome = try stageRepair(repair, checked: checkedRepair, group: group, into: &batch)
        case .purge:
            preconditionFailure("a purge is applied alone (apply(_:))")
        }
        group.add(batch)
        return outcome
    }

    private func stageCommit(_ manifest: ObjectManifest, completing upload: VersionID?, inlineSegment: [UInt8]?,
                             group: GroupWrite, into batch: inout WriteBatch) throws -> CommitOutcome {
        precondition(inlineSegment == nil || (manifest.parts.isEmpty && manifest.segmentCount == 1),
                     "an inline segment is the only segment of a single-PUT object")
        let key = NodeKeys.manifest(bucket: manifest.bucket, key: manifest.key)
        let offered = Set(manifest.segmentVersions)
        // Segments written beforehand left upload markers; an inline segment did not.
        if inlineSegment == nil { for version in offered { batch.delete(NodeKeys.upload(version: version)) } }
        let current = try group.value(key).map { try ObjectManifest(decoding: $0) }
        let wins = current.map { manifest.isNewer(than: $0) } ?? true
        // Once a key was written in a versioned bucket its versions are kept, whatever a stale writer says; a version
        // under object lock is never dropped by a write, whatever the writer knows of its bucket.
        if manifest.keepsHistory || current?.keepsHistory == true || current?.lock.isSet == true {
            return try stageVersionedCommit(manifest, current: current, wins: wins, completing: upload,
                                            inlineSegment: inlineSegment, group: group, into: &batch)
        }
        let kept: Set<VersionID> = wins ? offered : Set(current!.segmentVersions)
        if let upload {
            try dropUpload(upload, bucket: manifest.bucket, key: manifest.key, keeping: kept, group: group,
                           into: &batch)
        }
        if !wins {
            if inlineSegment == nil {
                for extent in manifest.extents where !kept.contains(extent.versionID) {
                    deleteSegments(of: extent, into: &batch)
                }
            }
            return .superseded
        }
        if let current {
            for extent in current.extents where !kept.contains(extent.versionID) {
                deleteSegments(of: extent, into: &batch)
            }
        }
        if let inlineSegment { batch.put(NodeKeys.segment(version: manifest.versionID, index: 0), inlineSegment) }
        batch.put(key, manifest.encoded())
        return .committed
    }

    /// Adds to `batch` the removal of an upload's records and of its parts' segments not in `keeping`.
    /// With `group`, the part records are read as the group's changes so far leave them (a part committed in the
    /// same group as the upload's completion goes too).
    func dropUpload(_ upload: VersionID, bucket: String, key: String, keeping: Set<VersionID>,
                    group: GroupWrite? = nil, into batch: inout WriteBatch) throws {
        let (start, end) = NodeKeys.partRange(upload: upload)
        let parts = try group?.scan(from: start, to: end, limit: Limits.partNumberMax + 1)
            ?? engine.scan(from: start, to: end, limit: Limits.partNumberMax + 1)
        for pair in parts {
            let record = try PartRecord(decoding: pair.value)
            if !keeping.contains(record.part.versionID) { try deleteSegments(of: record.part.versionID, into: &batch) }
            batch.delete(pair.key)
        }
        batch.delete(NodeKeys.multipart(bucket: bucket, key: key, upload: upload))
    }

    public func manifest(_ requested: Jurisdiction, bucket: String, key: String) throws -> ObjectManifest? {
        try check(requested)
        guard let raw = try engine.get(NodeKeys.manifest(bucket: bucket, key: key)) else { return nil }
        do { return try ObjectManifest(decoding: raw) } catch {
            throw NodeError.corrupt("manifest of \(bucket)/\(key) on \(node): \(error)")
        }
    }

    /// ``manifest(_:bucket:key:)`` when the engine has it in memory; `.needsIO` when reading it would wait for the
    /// disk.
    public func manifestInMemory(_ requested: Jurisdiction, bucket: String, key: String) throws
        -> InMemoryRead<ObjectManifest>
    {
        try check(requested)
        let read = try engine.withValueInMemory(NodeKeys.manifest(bucket: bucket, key: key), verifyChecksums: true) {
            Array($0)
        }
        guard case .done(let raw) = read else { return .needsIO }
        guard let raw else { return .done(nil) }
        do { return .done(try ObjectManifest(decoding: raw)) } catch {
            throw NodeError.corrupt("manifest of \(bucket)/\(key) on \(node): \(error)")
        }
    }

    /// Up to `limit` current manifests (or, from `.index`, listing index entries) of `bucket` whose keys start with
    /// `prefix` and are `>= from`, in key order.
    public func list(_ requested: Jurisdiction, bucket: String, prefix: [UInt8], from: [UInt8], limit: Int,
                     space: ListedSpace = .objects) throws -> [ObjectManifest]
    {
        try check(requested)
        let base = space == .objects ? NodeKeys.manifestPrefix(bucket: bucket) : NodeKeys.indexPrefix(bucket: bucket)
        let prefixKey = base + prefix
        let fromKey = base + from
        let start = fromKey.lexicographicallyPrecedes(prefixKey) ? prefixKey : fromKey
        let end = prefixSuccessor(prefixKey)
        return try engine.scan(from: start, to: end, limit: limit).map { pair in
            do { return try ObjectManifest(decoding: pair.value) } catch {
                throw NodeError.corrupt("manifest on \(node): \(error)")
            }
        }
    }

    /// Live objects, uploads in progress and stored segments.
    public func counts() throws -> NodeCounts {
        var objects = 0
        var storedBytes: Int64 = 0
        var from: [UInt8] = [NodeKeys.manifestTag]
        let end: [UInt8] = [NodeKeys.manifestTag + 1]
        while true {
            let page = try engine.scan(from: from, to: end, limit: 1000)
            for pair in page {
                // Byte 1 of an encoded manifest is its tombstone flag (delete markers are tombstones too).
                guard pair.value.count > 1, pair.value[1] == 0 else { continue }
                objects += 1
                storedBytes += (try? ObjectManifest(decoding: pair.value).sizeBytes) ?? 0
            }
            guard let last = page.last, page.count == 1000 else { break }
            from = last.key + [0]
        }
        storedBytes += try noncurrentBytes()
        let uploads = try engine.count(from: [NodeKeys.uploadTag], to: [NodeKeys.uploadTag + 1])
        var segments = try engine.count(from: [NodeKeys.segmentTag], to: [NodeKeys.segmentTag + 1])
        if let files {
            for key in try engine.keys(from: [NodeKeys.segmentFileTag], to: [NodeKeys.segmentFileTag + 1], limit: .max) {
                if let version = VersionID(bytes: Array(key.dropFirst())) { segments += files.slotCount(version) }
            }
        }
        var space = statvfs()
        let free = files.flatMap { statvfs($0.root, &space) == 0 ? Int64(space.f_bavail) * Int64(space.f_frsize) : nil }
        let versions = try engine.count(from: [NodeKeys.manifestTag], to: [NodeKeys.manifestTag + 1])
            + engine.count(from: [NodeKeys.noncurrentTag], to: [NodeKeys.noncurrentTag + 1])
        return NodeCounts(objects: objects, uploads: uploads, segments: segments, storedBytes: storedBytes,
                          freeBytes: free, versions: versions)
    }

    /// Closes the engine.
    public func close() { engine.close() }

    /// See ``StorageNodeClient/replaceSealed(_:bucket:key:version:sequence:upload:field:bytes:)``.
    public func replaceSealed(_ requested: Jurisdiction, bucket: String, key: String, version: VersionID,
                              sequence: UInt64? = nil, upload: Bool, field: SealedField, bytes: [UInt8]) throws -> Bool {
        try apply([.replaceSealed(requested, bucket: bucket, key: key, version: version, sequence: sequence,
                                  upload: upload, field: field, bytes: bytes)])[0].get() == .committed
    }

    /// See ``StorageNodeClient/replaceLock(_:bucket:key:version:sequence:expected:lock:)``.
    public func replaceLock(_ requested: Jurisdiction, bucket: String, key: String, version: VersionID,
                            sequence: UInt64, expected: ObjectLock, lock: ObjectLock) throws -> Bool {
        try apply([.replaceLock(requested, bucket: bucket, key: key, version: version, sequence: sequence,
                                expected: expected, lock: lock)])[0].get() == .committed
    }

    /// Flushes and compacts the database.
    public func compact(_ requested: Jurisdiction) throws {
        try check(requested)
        try engine.compact()
    }

}

/// What a node holds, for its status (a named struct, not a tuple: see SWIFT-NOTES on the optimiser).
public struct NodeCounts: Sendable {
    public var objects = 0
    public var uploads = 0
    public var segments = 0
    public var storedBytes: Int64 = 0
    public var freeBytes: Int64?
    /// Current manifests (tombstones included) and noncurrent records.
    public var versions = 0
}
