import ObjectModel
import StorageEngine

/// A node's durable note that a bucket's listing index must learn of a change to a key: written in the same synced
/// batch as a client's write of a version (``NodeChange/commit(_:manifest:completing:inlineSegment:intent:)`` with
/// `intent`) or a client's permanent deletion of one (``NodeChange/deleteVersion(_:bucket:key:version:sequence:check:)``
/// that is not a relocation), so that the index edit is as durable as the manifest it follows, although the index
/// lives on other nodes.
///
/// The gateway tells the index beside the commit, before the acknowledgement. Intents are kept in the order the node
/// committed them, and every gateway's intent drain delivers those some seconds old again, a page at a time, then
/// clears the page by range deletions around what it could not deliver
/// (``NodeChange/clearIntents(_:from:through:keeping:)``): a written version is merged into the index (a no-op when
/// the live edit took it), a deleted one sets the entry back if the index still shows it. What the live edit missed
/// (it failed, or the gateway crashed before sending it) is thus listed within seconds, not at the next anti-entropy
/// pass, and a node's intents cost a range deletion per page instead of a deletion per write (whose tombstones a
/// queue scanned from its start would read again and again).
public struct IndexIntent: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        /// The version was written (an object, a delete marker, a tombstone): its entry merges into the index.
        case written = 1
        /// The version was deleted for good: the entry, if it is that version, becomes what the nodes hold newest.
        case deleted = 2
    }

    public var kind: Kind
    public var bucket: String
    public var key: String
    public var mark: VersionMark
    /// Of a written version: its listing entry (``ObjectManifest/listingEntry``).
    public var entry: ObjectManifest?
    /// When the node committed it, by the node's clock (milliseconds since 1970).
    public var millis: Int64

    public init(written manifest: ObjectManifest, millis: Int64) {
        kind = .written
        bucket = manifest.bucket
        key = manifest.key
        mark = VersionMark(manifest)
        entry = manifest.listingEntry
        self.millis = millis
    }

    public init(deleted key: String, bucket: String, mark: VersionMark, millis: Int64) {
        kind = .deleted
        self.bucket = bucket
        self.key = key
        self.mark = mark
        entry = nil
        self.millis = millis
    }

    /// The intent as the node keeps it and the protocol carries it (`Docs/formats.md`, "Node protocol").
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(kind.rawValue)
        writer.write(millis)
        switch kind {
        case .written: writer.writeField(entry!.encoded())
        case .deleted:
            writer.writeString(bucket)
            writer.writeString(key)
            writer.write(mark.sequence)
            writer.writeRaw(mark.version.bytes)
        }
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = BinaryReader(bytes)
        guard let kind = Kind(rawValue: try reader.readUInt8()) else { throw FormatError("index intent kind") }
        let millis = try reader.readInt64()
        switch kind {
        case .written:
            self.init(written: try ObjectManifest(decoding: try reader.readField()), millis: millis)
        case .deleted:
            let bucket = try reader.readString(), key = try reader.readString()
            let sequence = try reader.readUInt64()
            guard let version = VersionID(bytes: Array(try reader.readRaw(16))) else { throw FormatError("version id") }
            self.init(deleted: key, bucket: bucket, mark: VersionMark(sequence: sequence, version: version),
                      millis: millis)
        }
        guard reader.isAtEnd else { throw FormatError("trailing bytes after an index intent") }
    }
}

/// A node's page of intents old enough to deliver, in commit order. `end` is just past the last intent the node read
/// (nil: none), where the next page starts and up to which a clear reaches; `more` says whether intents old enough
/// may follow.
public struct IntentPage: Sendable, Equatable {
    public var intents: [IndexIntent]
    public var end: [UInt8]?
    public var more: Bool

    public init(intents: [IndexIntent], end: [UInt8]?, more: Bool) {
        self.intents = intents
        self.end = end
        self.more = more
    }

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(UInt32(intents.count))
        for intent in intents { writer.writeField(intent.encoded()) }
        writer.write(UInt8(end == nil ? 0 : 1))
        if let end { writer.writeField(end) }
        writer.write(UInt8(more ? 1 : 0))
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = BinaryReader(bytes)
        let count = Int(try reader.readUInt32())
        guard count <= Limits.listBatchPerNode else { throw FormatError("too many intents: \(count)") }
        intents = try (0..<count).map { _ in try IndexIntent(decoding: try reader.readField()) }
        end = try reader.readFlag() ? try reader.readField() : nil
        more = try reader.readFlag()
        guard reader.isAtEnd else { throw FormatError("trailing bytes after an intent page") }
    }
}

extension IndexIntent {
    /// Where the intent is in its node's queue (its record key after the tag): what a clear keeps it by.
    public var position: [UInt8] { Array(NodeKeys.intent(self).dropFirst()) }
}

extension NodeStore {
    /// Intents committed at least `olderThanMillis` ago by the node's clock, from `from` (a page's `end`) on, in
    /// commit order: at most `limit` read. A written intent whose version the node no longer holds (overwritten or
    /// deleted since) is left out (merging it would list a version that is gone), but counts as read; so does a
    /// record that does not decode, which must not stop the queue. A failed read fails the page.
    public func indexIntents(_ requested: Jurisdiction, from: [UInt8], olderThanMillis: Int64, limit: Int) throws
        -> IntentPage
    {
        try check(requested)
        guard limit > 0, limit <= Limits.listBatchPerNode else { throw FormatError("limit must be 1...1000") }
        guard olderThanMillis >= 0 else { throw FormatError("an intent age below 0") }
        // Through the commit lock: a group that staged an intent holds it until its batch is written, so once the
        // lock is taken every intent stamped so far is readable, and every one staged after gets a time past the
        // cutoff; a clear up to this page's end takes none it did not read.
        let cutoff = changeLock.withLock { _ in
            let cutoff = Self.wallClockMillis() - olderThanMillis
            intentClock.withLock { $0 = max($0, cutoff + 1) }
            return cutoff
        }
        let records = try engine.scan(from: [NodeKeys.intentTag] + from,
                                      to: NodeKeys.intents(before: max(0, cutoff + 1)), limit: limit)
        var intents = [IndexIntent]()
        for record in records {
            guard let intent = try? IndexIntent(decoding: record.value) else { continue }
            if try intent.kind == .deleted || holds(intent) { intents.append(intent) }
        }
        return IntentPage(intents: intents, end: records.last.map { Array($0.key.dropFirst()) + [0] },
                          more: records.count == limit)
    }

    /// Whether the node holds the version an intent names, current or noncurrent (a current manifest that does not
    /// decode is not that version).
    private func holds(_ intent: IndexIntent) throws -> Bool {
        if let raw = try engine.get(NodeKeys.manifest(bucket: intent.bucket, key: intent.key)),
           (try? ObjectManifest(decoding: raw))?.versionID == intent.mark.version { return true }
        return try engine.get(NodeKeys.noncurrent(bucket: intent.bucket, key: intent.key, sequence: intent.mark.sequence,
                                                  version: intent.mark.version)) != nil
    }

    /// Adds `intent` to `batch`, stamped with the node's commit time now (never earlier than an intent before it, nor
    /// than a cutoff a read of the queue used): its own `millis` is not read.
    func stage(_ intent: IndexIntent, into batch: inout WriteBatch) {
        var intent = intent
        intent.millis = intentClock.withLock { last in
            last = max(last, Self.wallClockMillis())
            return last
        }
        batch.put(NodeKeys.intent(intent), intent.encoded())
    }

    /// Adds to `batch` the removal of the intents from position `from` to `through`, but those at the positions
    /// `keeping`, by range deletions around them.
    func stageClear(from: [UInt8], through: [UInt8], keeping: [[UInt8]], into batch: inout WriteBatch) throws
        -> CommitOutcome
    {
        guard from.count <= NodeKeys.intentKeyBytes, through.count <= NodeKeys.intentKeyBytes,
              keeping.count <= Limits.listBatchPerNode, keeping.allSatisfy({ $0.count <= NodeKeys.intentKeyBytes })
        else { throw FormatError("intent positions too long, or too many") }
        guard !through.lexicographicallyPrecedes(from) else { throw FormatError("an intent range ending before it starts") }
        let end = [NodeKeys.intentTag] + through
        var start = [NodeKeys.intentTag] + from
        for kept in keeping.map({ [NodeKeys.intentTag] + $0 }).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            guard !kept.lexicographicallyPrecedes(start) else { continue }
            guard kept.lexicographicallyPrecedes(end) else { break }
            if start.lexicographicallyPrecedes(kept) { batch.deleteRange(from: start, to: kept) }
            start = kept + [0]
        }
        if start.lexicographicallyPrecedes(end) { batch.deleteRange(from: start, to: end) }
        return .committed
    }
}
