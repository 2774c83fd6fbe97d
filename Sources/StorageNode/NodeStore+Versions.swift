import ObjectModel
import StorageEngine

/// Which version of a key a read or deletion names: S3's `null` version, or a version with its own id (and the
/// sequence its id carries, so that its noncurrent record is one lookup).
public enum VersionSelector: Sendable, Equatable {
    case null
    case id(VersionID, sequence: UInt64)
}

/// A place in a listing of versions (keys in byte order, each key's versions newest first): the start of `key`'s
/// versions, or, with `after`, just past that version of `key`.
public struct VersionPosition: Sendable, Equatable {
    public var key: [UInt8]
    public var after: VersionMark?

    public init(key: [UInt8], after: VersionMark? = nil) {
        self.key = key
        self.after = after
    }

    /// Whether `manifest` comes before this place in the listing.
    public func follows(_ manifest: ObjectManifest) -> Bool {
        let key = Array(manifest.key.utf8)
        if key != self.key { return key.lexicographicallyPrecedes(self.key) }
        guard let after else { return false }
        return !after.isNewer(than: manifest)
    }

    /// The earlier of two places.
    public static func min(_ one: VersionPosition, _ other: VersionPosition) -> VersionPosition {
        if one.key != other.key { return one.key.lexicographicallyPrecedes(other.key) ? one : other }
        guard let first = one.after else { return one }
        guard let second = other.after else { return other }
        return first.isNewer(than: second) ? one : other
    }
}

extension VersionPosition {
    /// The position as the node protocol carries it: the key, then the version it follows, if any.
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.writeField(key)
        writer.write(UInt8(after == nil ? 0 : 1))
        if let after {
            writer.write(after.sequence)
            writer.writeRaw(after.version.bytes)
        }
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = BinaryReader(bytes)
        key = try reader.readField()
        if try reader.readUInt8() == 1 {
            let sequence = try reader.readUInt64()
            guard let version = VersionID(bytes: Array(try reader.readRaw(16))) else { throw FormatError("version id") }
            after = VersionMark(sequence: sequence, version: version)
        }
        guard reader.isAtEnd else { throw FormatError("trailing bytes after a version position") }
    }
}

/// One version's place in the order of a key's writes.
public struct VersionMark: Sendable, Equatable {
    public var sequence: UInt64
    public var version: VersionID

    public init(sequence: UInt64, version: VersionID) {
        self.sequence = sequence
        self.version = version
    }

    public init(_ manifest: ObjectManifest) { self.init(sequence: manifest.sequence, version: manifest.versionID) }

    /// Whether this mark is newer than `manifest` (the order of ``ObjectManifest/isNewer(than:)``).
    func isNewer(than manifest: ObjectManifest) -> Bool {
        if sequence != manifest.sequence { return sequence > manifest.sequence }
        return manifest.versionID.bytes.lexicographicallyPrecedes(version.bytes)
    }

    func isNewer(than other: VersionMark) -> Bool {
        if sequence != other.sequence { return sequence > other.sequence }
        return other.version.bytes.lexicographicallyPrecedes(version.bytes)
    }
}

/// What a permanent deletion may remove: the time the gateway judged the version's retention by, and whether it
/// allowed a GOVERNANCE bypass (a principal with the right asked for it). The node applies the rule again under its
/// commit lock, so a lock set after the gateway's check is never deleted past.
public struct LockCheck: Sendable, Equatable {
    public var nowMillis: Int64
    public var bypassGovernance: Bool
    /// The deletion removes a copy the version no longer needs on this node (a rebalance moved it, or it was an
    /// extra copy): the version stays, locked as it is, on the replicas placement names, so its lock does not apply
    /// here. Only the gateway's rebalance asks this, once it saw every preferred replica hold the version.
    public var relocating: Bool

    public init(nowMillis: Int64, bypassGovernance: Bool, relocating: Bool = false) {
        self.nowMillis = nowMillis
        self.bypassGovernance = bypassGovernance
        self.relocating = relocating
    }

    /// Why `lock` forbids deleting its version, or nil.
    public func refusal(_ lock: ObjectLock) -> String? {
        if relocating { return nil }
        if lock.legalHold { return "the version is under legal hold" }
        guard let mode = lock.mode, lock.isRetained(at: nowMillis) else { return nil }
        if mode == .governance, bypassGovernance { return nil }
        return "the version is under \(mode.name) retention until \(Timestamps.iso8601(millis: lock.retainUntilMillis))"
    }
}

/// A node's page of versions: in listing order, and where the next page starts (nil: the listing is complete).
public struct VersionBatch: Sendable {
    public var versions: [ObjectManifest]
    public var next: VersionPosition?

    public init(versions: [ObjectManifest], next: VersionPosition?) {
        self.versions = versions
        self.next = next
    }
}

/// Versioned buckets on a node. The current version of a key stays under its manifest key (a GET of the latest is
/// still one read); older versions and delete markers move to the noncurrent space (``NodeKeys``) as a newer one
/// arrives, in the same durable batch. Versions without their own id (S3's `null` version) replace each other.
extension NodeStore {
    /// Stages a commit of a version of a key written in a versioned bucket: the newer of `manifest` and `current`
    /// becomes (or stays) current and the other joins the noncurrent versions, except that of two `null` versions
    /// only the newer is kept, and a plain tombstone (an unversioned delete) is never kept.
    func stageVersionedCommit(_ manifest: ObjectManifest, current: ObjectManifest?, wins: Bool,
                              completing upload: VersionID?, inlineSegment: [UInt8]?, group: GroupWrite,
                              into batch: inout WriteBatch) throws -> CommitOutcome {
        let key = NodeKeys.manifest(bucket: manifest.bucket, key: manifest.key)
        if inlineSegment == nil {
            for version in Set(manifest.segmentVersions) { batch.delete(NodeKeys.upload(version: version)) }
        }
        if let current, current.versionID == manifest.versionID {
            // The same version again (a retried commit): nothing changes.
            if let upload {
                try dropUpload(upload, bucket: manifest.bucket, key: manifest.key,
                               keeping: Set(current.segmentVersions), group: group, into: &batch)
            }
            return .superseded
        }
        if let upload {
            try dropUpload(upload, bucket: manifest.bucket, key: manifest.key, keeping: Set(manifest.segmentVersions),
                           group: group, into: &batch)
        }
        if wins {
            if let current, current.isListedVersion {
                if current.hasVersionID || manifest.hasVersionID || current.lock.isSet {
                    batch.put(NodeKeys.noncurrent(current), current.encoded())
                } else {
                    dropSegments(of: current, into: &batch)
                }
            }
            if !manifest.hasVersionID { try dropNoncurrentNulls(of: manifest, group: group, into: &batch) }
            if let inlineSegment { batch.put(NodeKeys.segment(version: manifest.versionID, index: 0), inlineSegment) }
            batch.put(key, manifest.encoded())
            return .committed
        }
        // Older than the current version: it joins the noncurrent versions (an old plain tombstone records nothing).
        guard manifest.isListedVersion else { return .superseded }
        if !manifest.hasVersionID {
            let newerNull = try noncurrentNulls(of: manifest, group: group).contains { $0.isNewer(than: manifest) }
                || (current.map { !$0.hasVersionID && $0.isListedVersion } ?? false)
            if newerNull, !manifest.lock.isSet {
                if inlineSegment == nil { dropSegments(of: manifest, into: &batch) }
                return .superseded
            }
            try dropNoncurrentNulls(of: manifest, group: group, into: &batch)
        }
        if let inlineSegment { batch.put(NodeKeys.segment(version: manifest.versionID, index: 0), inlineSegment) }
        batch.put(NodeKeys.noncurrent(manifest), manifest.encoded())
        return .committed
    }

    /// Adds to `batch` the removal of every segment of a version.
    func dropSegments(of manifest: ObjectManifest, into batch: inout WriteBatch) {
        for extent in manifest.extents { deleteSegments(of: extent, into: &batch) }
    }

    /// The noncurrent `null` versions of `manifest`'s key (at most one, unless replicas crossed).
    private func noncurrentNulls(of manifest: ObjectManifest, group: GroupWrite) throws -> [ObjectManifest] {
        let (start, end) = NodeKeys.noncurrentRange(bucket: manifest.bucket, key: manifest.key)
        return try group.scan(from: start, to: end).map { try ObjectManifest(decoding: $0.value) }
            .filter { !$0.hasVersionID }
    }

    /// Adds to `batch` the removal of the noncurrent `null` versions of `manifest`'s key, which a newer `null`
    /// version replaces.
    private func dropNoncurrentNulls(of manifest: ObjectManifest, group: GroupWrite, into batch: inout WriteBatch) throws {
        // A locked null version stays (as noncurrent history) until deleted by its version id.
        for old in try noncurrentNulls(of: manifest, group: group)
        where old.versionID != manifest.versionID && !old.lock.isSet {
            batch.delete(NodeKeys.noncurrent(old))
            dropSegments(of: old, into: &batch)
        }
    }

    /// Stages the permanent deletion of one version of a key (current or not) and its segments; when it was the
    /// current one, the newest noncurrent version becomes current. `.superseded` when the node does not hold it.
    func stageVersionDeletion(bucket: String, key: String, version: VersionID, sequence: UInt64, check: LockCheck,
                              group: GroupWrite, into batch: inout WriteBatch) throws -> CommitOutcome {
        let currentKey = NodeKeys.manifest(bucket: bucket, key: key)
        if let raw = try group.value(currentKey) {
            let current = try ObjectManifest(decoding: raw)
            if current.versionID == version {
                if let refusal = check.refusal(current.lock) { throw NodeError.objectLocked(refusal) }
                dropSegments(of: current, into: &batch)
                let (start, end) = NodeKeys.noncurrentRange(bucket: bucket, key: key)
                if let newest = try group.scan(from: start, to: end, limit: 1).first {
                    batch.delete(newest.key)
                    batch.put(currentKey, newest.value)
                } else {
                    batch.delete(currentKey)
                }
                return .committed
            }
        }
        let record = NodeKeys.noncurrent(bucket: bucket, key: key, sequence: sequence, version: version)
        guard let raw = try group.value(record) else { return .superseded }
        let manifest = try ObjectManifest(decoding: raw)
        if let refusal = check.refusal(manifest.lock) { throw NodeError.objectLocked(refusal) }
        dropSegments(of: manifest, into: &batch)
        batch.delete(record)
        return .committed
    }

    /// One version of a key (an object or a delete marker), current or not; nil when the node does not hold it.
    public func version(_ requested: Jurisdiction, bucket: String, key: String, selector: VersionSelector) throws
        -> ObjectManifest?
    {
        let current = try manifest(requested, bucket: bucket, key: key)
        switch selector {
        case .id(let version, let sequence):
            if let current, current.versionID == version { return current.isListedVersion ? current : nil }
            guard let raw = try engine.get(NodeKeys.noncurrent(bucket: bucket, key: key, sequence: sequence,
                                                                version: version)) else { return nil }
            return try decodeVersion(raw)
        case .null:
            if let current, !current.hasVersionID, current.isListedVersion { return current }
            let (start, end) = NodeKeys.noncurrentRange(bucket: bucket, key: key)
            for pair in try engine.scan(from: start, to: end, limit: .max) {
                let manifest = try decodeVersion(pair.value)
                if !manifest.hasVersionID { return manifest }
            }
            return nil
        }
    }

    /// The noncurrent record of `version` of a key, unless the current manifest (`current`, encoded) is that version:
    /// one lookup with the version's `sequence`, a scan of the key's versions without it.
    func noncurrentRecord(bucket: String, key: String, version: VersionID, sequence: UInt64?,
                          unlessCurrent current: [UInt8], group: GroupWrite) throws -> KeyValue? {
        guard try ObjectManifest(decoding: current).versionID != version else { return nil }
        if let sequence {
            let record = NodeKeys.noncurrent(bucket: bucket, key: key, sequence: sequence, version: version)
            return try group.value(record).map { KeyValue(key: record, value: $0) }
        }
        let (start, end) = NodeKeys.noncurrentRange(bucket: bucket, key: key)
        for pair in try group.scan(from: start, to: end) where try decodeVersion(pair.value).versionID == version {
            return pair
        }
        return nil
    }

    /// Up to about `limit` versions of `bucket` whose keys start with `prefix`, from `position` on, in listing
    /// order: the current manifests and the noncurrent records, read side by side (plain tombstones left out).
    public func listVersions(_ requested: Jurisdiction, bucket: String, prefix: [UInt8], from position: VersionPosition,
                             limit: Int) throws -> VersionBatch {
        try check(requested)
        return try versionRecords(bucket: bucket, prefix: prefix, from: position, limit: limit, tombstones: false)
    }

    /// ``listVersions(_:bucket:prefix:from:limit:)``, with the plain tombstones when `tombstones`.
    func versionRecords(bucket: String, prefix: [UInt8], from position: VersionPosition, limit: Int,
                        tombstones: Bool) throws -> VersionBatch {
        precondition(limit > 0)
        let startKey = position.key.lexicographicallyPrecedes(prefix) ? prefix : position.key
        let base = NodeKeys.manifestPrefix(bucket: bucket)
        let currents = try engine.scan(from: base + startKey, to: prefixSuccessor(base + prefix), limit: limit)
            .map { try decodeVersion($0.value) }
        let noncurrentBase = NodeKeys.noncurrentBucket(bucket)
        var noncurrentStart = noncurrentBase + NodeKeys.escaped(startKey)
        if let after = position.after, startKey == position.key {
            noncurrentStart = NodeKeys.noncurrent(bucket: bucket, key: String(decoding: startKey, as: UTF8.self),
                                                  sequence: after.sequence, version: after.version) + [0]
        }
        let older = try engine.scan(from: noncurrentStart,
                                    to: prefixSuccessor(noncurrentBase + NodeKeys.escaped(prefix)), limit: limit)
            .map { try decodeVersion($0.value) }
        // Each truncated read is complete only up to its last record: the page ends at the earlier of the two.
        var next: VersionPosition?
        if currents.count == limit, let last = currents.last {
            next = VersionPosition(key: Array(last.key.utf8) + [0])
        }
        if older.count == limit, let last = older.last {
            let bound = VersionPosition(key: Array(last.key.utf8), after: VersionMark(last))
            next = next.map { VersionPosition.min($0, bound) } ?? bound
        }
        let versions = (currents.filter { tombstones || $0.isListedVersion } + older)
            .filter { !position.follows($0) }
            .filter { next?.follows($0) ?? true }
            .sorted { $0.precedesInVersionOrder($1) }
        return VersionBatch(versions: versions, next: next)
    }

    /// The bytes of the noncurrent versions, for the node's status.
    func noncurrentBytes() throws -> Int64 {
        var bytes: Int64 = 0
        var from: [UInt8] = [NodeKeys.noncurrentTag]
        let end: [UInt8] = [NodeKeys.noncurrentTag + 1]
        while true {
            let page = try engine.scan(from: from, to: end, limit: 1000)
            for pair in page { bytes += (try? ObjectManifest(decoding: pair.value).sizeBytes) ?? 0 }
            guard let last = page.last, page.count == 1000 else { break }
            from = last.key + [0]
        }
        return bytes
    }

    /// A bucket being purged must hold no locked version: throws for one.
    func refuseLocked(_ manifest: ObjectManifest) throws {
        guard manifest.lock.isSet else { return }
        throw NodeError.objectLocked("bucket \(manifest.bucket) holds a version under object lock (\(manifest.key)): "
            + "it cannot be purged")
    }

    private func decodeVersion(_ raw: [UInt8]) throws -> ObjectManifest {
        do { return try ObjectManifest(decoding: raw) } catch { throw NodeError.corrupt("manifest on \(node): \(error)") }
    }
}
