import ObjectModel
import StorageNode

/// A node change as `POST /v1/change?j` carries it: the one way records are written over the wire, as
/// ``StorageNodeClient/startCommit(_:done:)`` is in the protocol (`Docs/formats.md`, "Node protocol"). The
/// jurisdiction travels in the query; the body is a `u8` kind, then the change's fields.
extension NodeWire {
    private enum ChangeKind: UInt8 {
        case commit = 1, commitPart, deleteVersion, index, replaceSealed, replaceLock, createUpload, clearIntents,
             abortSegments, abortUpload, purge, repairSegments
    }

    /// The jurisdiction a change addresses.
    static func jurisdiction(of change: NodeChange) -> Jurisdiction {
        switch change {
        case .commit(let jurisdiction, _, _, _, _, _), .commitPart(let jurisdiction, _, _),
             .deleteVersion(let jurisdiction, _, _, _, _, _), .index(let jurisdiction, _),
             .replaceSealed(let jurisdiction, _, _, _, _, _, _, _), .replaceLock(let jurisdiction, _, _, _, _, _, _),
             .createUpload(let jurisdiction, _), .clearIntents(let jurisdiction, _, _, _),
             .abortSegments(let jurisdiction, _), .abortUpload(let jurisdiction, _, _, _), .purge(let jurisdiction, _),
             .repairSegments(let jurisdiction, _):
            return jurisdiction
        }
    }

    static func encode(_ change: NodeChange) -> [UInt8] {
        var capacity = 256
        if case .commit(_, _, _, let segment?, _, _) = change { capacity += segment.count }
        var writer = BinaryWriter(capacity: capacity)
        switch change {
        case .commit(_, let manifest, let upload, let segment, let intent, let index):
            writer.write(ChangeKind.commit.rawValue)
            writer.writeField(manifest.encoded())
            // Bit 1: an upload follows; bit 2: record an index intent; bit 4: merge into the listing index (a node
            // before intents reads 0 or 1 only, one before index merges 0 to 3).
            writer.write(UInt8((upload == nil ? 0 : 1) | (intent ? 2 : 0) | (index ? 4 : 0)))
            if let upload { writer.writeRaw(upload.bytes) }
            writer.write(UInt8(segment == nil ? 0 : 1))
            if let segment { writer.writeField(segment) }
        case .commitPart(_, let upload, let record):
            writer.write(ChangeKind.commitPart.rawValue)
            writer.writeRaw(upload.bytes)
            writer.writeField(record.encoded())
        case .deleteVersion(_, let bucket, let key, let version, let sequence, let check):
            writer.write(ChangeKind.deleteVersion.rawValue)
            writer.writeString(bucket)
            writer.writeString(key)
            writer.writeRaw(version.bytes)
            writer.write(sequence)
            writer.write(check.nowMillis)
            writer.write(UInt8((check.bypassGovernance ? 1 : 0) | (check.relocating ? 2 : 0)))
        case .index(_, let edits):
            writer.write(ChangeKind.index.rawValue)
            writer.writeField(IndexEdit.encoded(edits))
        case .replaceSealed(_, let bucket, let key, let version, let sequence, let upload, let field, let bytes):
            writer.write(ChangeKind.replaceSealed.rawValue)
            writer.writeString(bucket)
            writer.writeString(key)
            writer.writeRaw(version.bytes)
            writer.write(UInt8(sequence == nil ? 0 : 1))
            if let sequence { writer.write(sequence) }
            writer.write(UInt8(upload ? 1 : 0))
            writer.writeString(field.rawValue)
            writer.writeField(bytes)
        case .replaceLock(_, let bucket, let key, let version, let sequence, let expected, let lock):
            writer.write(ChangeKind.replaceLock.rawValue)
            writer.writeString(bucket)
            writer.writeString(key)
            writer.writeRaw(version.bytes)
            writer.write(sequence)
            writer.writeField(expected.encoded())
            writer.writeField(lock.encoded())
        case .createUpload(_, let template):
            writer.write(ChangeKind.createUpload.rawValue)
            writer.writeField(template.encoded())
        case .clearIntents(_, let from, let through, let keeping):
            writer.write(ChangeKind.clearIntents.rawValue)
            writer.writeField(from)
            writer.writeField(through)
            writer.write(UInt32(keeping.count))
            for position in keeping { writer.writeField(position) }
        case .abortSegments(_, let version):
            writer.write(ChangeKind.abortSegments.rawValue)
            writer.writeRaw(version.bytes)
        case .abortUpload(_, let bucket, let key, let upload):
            writer.write(ChangeKind.abortUpload.rawValue)
            writer.writeString(bucket)
            writer.writeString(key)
            writer.writeRaw(upload.bytes)
        case .purge(_, let bucket):
            writer.write(ChangeKind.purge.rawValue)
            writer.writeString(bucket)
        case .repairSegments(_, let repair):
            writer.write(ChangeKind.repairSegments.rawValue)
            writer.writeString(repair.bucket)
            writer.writeString(repair.key)
            writer.writeRaw(repair.version.bytes)
            writer.write(repair.sequence)
            writer.writeRaw(repair.extent.bytes)
            writer.writeRaw(repair.staged.bytes)
            writer.write(UInt32(repair.indices.count))
            for index in repair.indices { writer.write(index) }
        }
        return writer.bytes
    }

    /// The change a request body carries, addressed to `jurisdiction` (the query's); throws on any malformed field,
    /// unknown kind or trailing byte, and on an inline segment that is not a one-segment object's.
    static func decodeChange(_ bytes: [UInt8], jurisdiction: Jurisdiction) throws -> NodeChange {
        var reader = BinaryReader(bytes)
        func version() throws -> VersionID {
            guard let id = VersionID(bytes: Array(try reader.readRaw(16))) else { throw FormatError("version id") }
            return id
        }
        func flag() throws -> Bool { try reader.readFlag() }
        let change: NodeChange
        switch ChangeKind(rawValue: try reader.readUInt8()) {
        case .commit:
            let manifest = try ObjectManifest(decoding: try reader.readField())
            let flags = try reader.readUInt8()
            guard flags & ~7 == 0 else { throw FormatError("commit flags \(flags)") }
            let upload = flags & 1 != 0 ? try version() : nil
            let segment = try flag() ? try reader.readField() : nil
            if let segment {
                guard upload == nil else { throw FormatError("an inline segment with a completed upload") }
                try checkInline(segment, of: manifest)
            }
            change = .commit(jurisdiction, manifest: manifest, completing: upload, inlineSegment: segment,
                             intent: flags & 2 != 0, index: flags & 4 != 0)
        case .commitPart:
            let upload = try version()
            change = .commitPart(jurisdiction, upload: upload, record: try PartRecord(decoding: try reader.readField()))
        case .deleteVersion:
            let (bucket, key) = (try reader.readString(), try reader.readString())
            let id = try version()
            let sequence = try reader.readUInt64(), now = try reader.readInt64()
            let flags = try reader.readUInt8()
            guard flags & ~3 == 0 else { throw FormatError("deletion flags \(flags)") }
            change = .deleteVersion(jurisdiction, bucket: bucket, key: key, version: id, sequence: sequence,
                                    check: LockCheck(nowMillis: now, bypassGovernance: flags & 1 != 0,
                                                     relocating: flags & 2 != 0))
        case .index:
            change = .index(jurisdiction, try IndexEdit.decoding(try reader.readField()))
        case .replaceSealed:
            let (bucket, key) = (try reader.readString(), try reader.readString())
            let id = try version()
            let sequence = try flag() ? try reader.readUInt64() : nil
            let upload = try flag()
            guard let field = SealedField(rawValue: try reader.readString()) else { throw FormatError("sealed field") }
            change = .replaceSealed(jurisdiction, bucket: bucket, key: key, version: id, sequence: sequence,
                                    upload: upload, field: field, bytes: try reader.readField())
        case .replaceLock:
            let (bucket, key) = (try reader.readString(), try reader.readString())
            let id = try version()
            let sequence = try reader.readUInt64()
            let expected = try ObjectLock(decoding: try reader.readField())
            change = .replaceLock(jurisdiction, bucket: bucket, key: key, version: id, sequence: sequence,
                                  expected: expected, lock: try ObjectLock(decoding: try reader.readField()))
        case .createUpload:
            change = .createUpload(jurisdiction, template: try ObjectManifest(decoding: try reader.readField()))
        case .clearIntents:
            let (from, through) = (try reader.readField(), try reader.readField())
            let count = Int(try reader.readUInt32())
            guard count <= Limits.listBatchPerNode else { throw FormatError("too many intents kept: \(count)") }
            let keeping = try (0..<count).map { _ in try reader.readField() }
            change = .clearIntents(jurisdiction, from: from, through: through, keeping: keeping)
        case .abortSegments:
            change = .abortSegments(jurisdiction, version: try version())
        case .abortUpload:
            let (bucket, key) = (try reader.readString(), try reader.readString())
            change = .abortUpload(jurisdiction, bucket: bucket, key: key, upload: try version())
        case .purge:
            change = .purge(jurisdiction, bucket: try reader.readString())
        case .repairSegments:
            let (bucket, key) = (try reader.readString(), try reader.readString())
            let id = try version()
            let sequence = try reader.readUInt64()
            let (extent, staged) = (try version(), try version())
            guard staged != extent, staged != id else { throw FormatError("a repair staged under the version it repairs") }
            let count = Int(try reader.readUInt32())
            guard (1...Limits.repairSegmentsMax).contains(count) else {
                throw FormatError("a repair of 1 to \(Limits.repairSegmentsMax) segments, not \(count)")
            }
            let indices = try (0..<count).map { _ in try reader.readUInt32() }
            change = .repairSegments(jurisdiction, SegmentRepair(bucket: bucket, key: key, version: id,
                                                                 sequence: sequence, extent: extent, staged: staged,
                                                                 indices: indices))
        case nil:
            throw FormatError("unknown node change")
        }
        guard reader.isAtEnd else { throw FormatError("trailing bytes after a node change") }
        return change
    }

    /// Throws unless `segment` can be the only stored segment of `manifest`'s object (it may be longer than the
    /// object: an authentication tag follows the ciphertext).
    static func checkInline(_ segment: [UInt8], of manifest: ObjectManifest) throws {
        guard manifest.parts.isEmpty, manifest.sizeBytes > 0, manifest.sizeBytes <= Int64(manifest.segmentSizeBytes), segment.count >= Int(manifest.sizeBytes),
              segment.count <= Int(manifest.segmentSizeBytes) + Limits.segmentOverheadBytesMax else {
            throw FormatError("an inline segment of an object that is not one segment")
        }
    }
}
