import Glibc
import NIOCore
import ObjectModel
import StorageEngine

/// Segments on a node: written unsynced while an object streams in, read back for GETs, deleted with their version.
/// Small ones are engine values; with a segment directory, those of ``NodeStore/fileThresholdBytes`` and more are
/// ``SegmentFiles``, whose bookkeeping (durable before a commit, removed after a durable deletion, swept at open)
/// lives here too.
extension NodeStore {
    /// Stores one segment of an uncommitted version, not synced (its commit makes it durable); the first one records
    /// the upload and when it began, so a crash before the commit leaves nothing behind once the node reopens, and an
    /// upload its gateway abandoned (it crashed) is swept a day later (``sweepStaleUploads(startedBefore:)``).
    public func putSegment(_ requested: Jurisdiction, bucket: String, key: String, version: VersionID, index: UInt32,
                           bytes: [UInt8]) throws {
        try check(requested)
        var batch = WriteBatch()
        if index == 0 {
            var writer = BinaryWriter()
            writer.writeString(bucket)
            writer.writeString(key)
            writer.write(Self.wallClockMillis())
            batch.put(NodeKeys.upload(version: version), writer.bytes)
        }
        if let files, bytes.count >= Self.fileThresholdBytes {
            try files.write(version, index: index, bytes: bytes)
            batch.put(NodeKeys.segmentFile(version: version), [])
        } else {
            batch.put(NodeKeys.segment(version: version, index: index), bytes)
        }
        try engine.write(batch, sync: false)
    }

    /// Milliseconds since 1970, from the system clock.
    static func wallClockMillis() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    /// How long an upload may stay uncommitted before its segments count as abandoned.
    public static let staleUploadMillis: Int64 = 24 * 3600 * 1000

    /// Drops the segments of uploads that began before `cutoff` (milliseconds since 1970) and never committed: what
    /// a gateway that crashed mid-upload left. Markers written before uploads carried their start are left for the
    /// sweep at open. Returns how many uploads it dropped.
    public func sweepStaleUploads(startedBefore cutoff: Int64) throws -> Int {
        try changeLock.withLock { _ in
            var batch = WriteBatch()
            var swept = 0
            for marker in try engine.scan(from: [NodeKeys.uploadTag], to: [NodeKeys.uploadTag + 1], limit: .max) {
                var reader = BinaryReader(marker.value)
                guard let version = VersionID(bytes: Array(marker.key.dropFirst())),
                      (try? reader.readString()) != nil, (try? reader.readString()) != nil, !reader.isAtEnd,
                      let started = try? reader.readInt64(), started < cutoff else { continue }
                try deleteSegments(of: version, into: &batch)
                swept += 1
            }
            if !batch.isEmpty { try writeSynced(batch) }
            return swept
        }
    }

    /// Adds to `batch` the removal of a committed run's segments. A committed manifest or part record knows how many
    /// segments each of its runs has (the writer stores exactly those) and its commit removed the upload marker, so
    /// no scan is needed: an iterator seek per overwritten object cost a small PUT a tenth of its CPU.
    func deleteSegments(of extent: Extent, into batch: inout WriteBatch) {
        // Every key, file or not: an inline segment stays in the engine whatever its size, and so do the segments of
        // a database written before segment files.
        for index in 0..<extent.segmentCount {
            batch.delete(NodeKeys.segment(version: extent.versionID, index: UInt32(index)))
        }
        // Only a run whose first (largest) segment reaches the threshold, once stored, can have a file: a small
        // object's overwrite stays one key deletion.
        if extent.segmentCount > 0,
           extent.segmentLength(0) + Limits.segmentOverheadBytesMax >= Self.fileThresholdBytes {
            deleteFile(of: extent.versionID, into: &batch)
        }
    }

    /// Adds to `batch` the deletion of a version's file key, and condemns the file (removed once that is durable).
    func deleteFile(of version: VersionID, into batch: inout WriteBatch) {
        guard files != nil else { return }
        batch.delete(NodeKeys.segmentFile(version: version))
        condemned.withLock { $0.append(version) }
    }

    /// Adds to `batch` the removal of a version's segments and upload marker. The segments are deleted one key at a
    /// time: a range tombstone per overwritten object would pile up in the memtable, and RocksDB re-fragments every
    /// memtable range tombstone on each read.
    func deleteSegments(of version: VersionID, into batch: inout WriteBatch) throws {
        let (start, end) = NodeKeys.segmentRange(version: version)
        for key in try engine.keys(from: start, to: end, limit: .max) { batch.delete(key) }
        batch.delete(NodeKeys.upload(version: version))
        deleteFile(of: version, into: &batch)
    }

    /// ``withSegment(_:version:index:_:)`` when the segment is in memory (a small one in the memtable or block cache,
    /// a file's in the page cache); `.needsIO` otherwise.
    public func withSegmentInMemory<R>(_ requested: Jurisdiction, version: VersionID, index: UInt32,
                                       _ body: (UnsafeRawBufferPointer) throws -> R) throws -> InMemoryRead<R> {
        try check(requested)
        let read = try engine.withValueInMemory(NodeKeys.segment(version: version, index: index),
                                                verifyChecksums: false, body)
        guard case .done(nil) = read else { return read }
        if let files {
            switch try files.read(version, index: index, cachedOnly: true, body) {
            case .found(let result): return .done(result)
            case .needsIO: return .needsIO
            case .absent: break
            }
        }
        throw NodeError.missingSegment(node: node, version: version.description, index: index)
    }

    /// One segment, copied once from the engine into a NIO buffer that goes to the socket as it is.
    public func segment(_ requested: Jurisdiction, version: VersionID, index: UInt32) throws -> ByteBuffer {
        try withSegment(requested, version: version, index: index) { raw in
            var buffer = ByteBufferAllocator().buffer(capacity: raw.count)
            buffer.writeBytes(raw)
            return buffer
        }
    }

    /// Runs `body` over a segment's bytes, in the engine's buffer or the one its file was read into.
    public func withSegment<R>(_ requested: Jurisdiction, version: VersionID, index: UInt32,
                               _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try check(requested)
        // Segments are ciphertext that the gateway authenticates (AEAD tag per segment), which also catches what
        // RocksDB's checksum would; skipping that check saves the hottest loop of a large GET.
        if let result = try engine.withValue(NodeKeys.segment(version: version, index: index), verifyChecksums: false,
                                             body) {
            return result
        }
        if let files, case .found(let result) = try files.read(version, index: index, cachedOnly: false, body) {
            return result
        }
        throw NodeError.missingSegment(node: node, version: version.description, index: index)
    }

    /// Removes segment files whose version's key is gone: a crash came between the key's deletion and the file's.
    func sweepFiles() throws {
        guard let files else { return }
        for version in try files.versions() where try engine.get(NodeKeys.segmentFile(version: version)) == nil {
            try files.remove(version)
        }
    }

    /// Removes the files of condemned versions whose key deletion is durable: called after each synced write, which
    /// also makes every earlier write durable. A version whose key is still there (its deleting batch is not written
    /// yet, or failed) stays condemned and keeps its file.
    private func reapFiles() {
        guard let files else { return }
        let versions = condemned.withLock { list -> [VersionID] in
            defer { list.removeAll() }
            return list
        }
        guard !versions.isEmpty else { return }
        var kept = [VersionID]()
        for version in versions {
            guard (try? engine.get(NodeKeys.segmentFile(version: version))) == .some(nil) else {
                kept.append(version)
                continue
            }
            try? files.remove(version)
        }
        if !kept.isEmpty { condemned.withLock { $0 += kept } }
    }

    /// Writes `batch` synced, then removes the files its deletions freed.
    func writeSynced(_ batch: WriteBatch) throws {
        try engine.write(batch, sync: true)
        reapFiles()
    }

    /// Makes the segment files of the versions `changes` commit durable (before their records are written).
    /// Cheap when they are already synced (``LocalStorageNode`` syncs them on its pool before queueing a commit); a
    /// repair's, written in its stage, are synced here.
    public func syncSegmentFiles(for changes: [NodeChange]) throws {
        guard let files else { return }
        let versions = changes.flatMap(\.segmentVersions)
        if files.hasUnsynced(versions) { try files.sync(versions) }
    }

    /// Whether committing `change` would first have to sync segment files (no I/O).
    public func needsSegmentSync(_ change: NodeChange) -> Bool {
        files?.hasUnsynced(change.segmentVersions) ?? false
    }
}
