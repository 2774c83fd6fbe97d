import Hashing
import ObjectModel
import StorageEngine

/// The repair of a damaged extent (``NodeChange/repairSegments(_:_:)``): segments staged by a segment stream under a
/// version of their own replace the extent's damaged ones, only if the whole extent then matches the digest its
/// manifest records. The staged segments are read once, and the bytes checked are the bytes written.
extension NodeStore {
    /// Applies a repair with its digest check, which reads the whole extent, made before the commit lock: the lock is
    /// held only to see that the version is still stored and the staged version still uncommitted, and to write the
    /// segments checked. The in-process node applies repairs this way rather than on its commit thread.
    public func repair(_ requested: Jurisdiction, _ repair: SegmentRepair) throws -> CommitOutcome {
        try check(requested)
        let checked = try checkRepair(repair, group: GroupWrite(engine: engine))
        return try changeLock.withLock { _ in
            try applyGroup([.repairSegments(requested, repair)], checkedRepair: checked)[0].get()
        }
    }

    /// Stages a repair: the staged segments written over the extent's, if `staged` is an uncommitted version of its
    /// own (its upload marker there as the group leaves it; neither the extent nor the version repaired), the version
    /// is still stored as the group leaves it (a repair never brings back the segments of a version deleted
    /// meanwhile) and the extent with them matches its manifest's digest (`checked`, made before the lock, or checked
    /// here); the staged segments dropped once the repair is taken or refused.
    func stageRepair(_ repair: SegmentRepair, checked: CheckedRepair?, group: GroupWrite, into batch: inout WriteBatch)
        throws -> CommitOutcome
    {
        // Only an upload in progress is dropped: a repair naming a committed version as staged changes nothing.
        guard repair.staged != repair.extent, repair.staged != repair.version,
              try group.value(NodeKeys.upload(version: repair.staged)) != nil else { return .superseded }
        var outcome = CommitOutcome.superseded
        if let checked = try checked ?? checkRepair(repair, group: group), checked.matches,
           try storedExtent(repair, group: group) != nil {
            for (index, bytes) in zip(repair.indices, checked.segments) {
                if let files, bytes.count >= Self.fileThresholdBytes {
                    try files.write(repair.extent, index: index, bytes: bytes)
                    batch.delete(NodeKeys.segment(version: repair.extent, index: index))
                    batch.put(NodeKeys.segmentFile(version: repair.extent), [])
                } else {
                    batch.put(NodeKeys.segment(version: repair.extent, index: index), bytes)
                }
            }
            outcome = .committed
        }
        try deleteSegments(of: repair.staged, into: &batch)
        return outcome
    }

    private func storedExtent(_ repair: SegmentRepair, group: GroupWrite) throws
        -> (manifest: ObjectManifest, extent: Extent, position: Int)?
    {
        try storedExtent(bucket: repair.bucket, key: repair.key, version: repair.version, sequence: repair.sequence,
                         extent: repair.extent, group: group)
    }

    /// The staged segments, read once, and whether the extent with them in place of the repair's `indices` matches
    /// the digest its manifest records; nil when the version is not stored or a staged segment is missing. Nothing
    /// else can be written by a repair: the bytes must be the ones the writing gateway stored.
    func checkRepair(_ repair: SegmentRepair, group: GroupWrite) throws -> CheckedRepair? {
        guard let found = try storedExtent(repair, group: group) else { return nil }
        var staged = [[UInt8]]()
        for position in repair.indices.indices {
            guard let bytes = try? withSegment(jurisdiction, version: repair.staged, index: UInt32(position),
                                               { Array($0) }) else { return nil }
            staged.append(bytes)
        }
        guard !repair.indices.isEmpty, repair.indices.count <= Limits.repairSegmentsMax,
              Set(repair.indices).count == repair.indices.count,
              repair.indices.allSatisfy({ Int($0) < found.extent.segmentCount }),
              let expected = expectedDigest(found.manifest, position: found.position) else {
            return CheckedRepair(segments: staged, matches: false)
        }
        var replacing = [UInt32: [UInt8]]()
        for (index, bytes) in zip(repair.indices, staged) { replacing[index] = bytes }
        // Every segment of an extent carries the same overhead (its tag, or none): the replacements too, so bytes
        // cannot move across a segment boundary and still add up to the digest.
        var overheads = Set<Int>()
        let whole = StreamingDigest(.sha256)
        for index in 0..<UInt32(found.extent.segmentCount) {
            let length = found.extent.segmentLength(Int(index))
            if let bytes = replacing[index] {
                overheads.insert(bytes.count - length)
                bytes.withUnsafeBytes { whole.update($0) }
                continue
            }
            do {
                try withSegment(jurisdiction, version: repair.extent, index: index) { stored in
                    overheads.insert(stored.count - length)
                    whole.update(stored)
                }
            } catch { return CheckedRepair(segments: staged, matches: false) }
        }
        guard overheads.count == 1, let overhead = overheads.first, overhead >= 0,
              overhead <= Limits.segmentOverheadBytesMax else { return CheckedRepair(segments: staged, matches: false) }
        return CheckedRepair(segments: staged, matches: matches(whole.finalize(), expected))
    }
}

/// A repair's staged segments as read once, and whether the extent with them matches its recorded digest.
struct CheckedRepair {
    let segments: [[UInt8]]
    let matches: Bool
}
