import ObjectModel
import StorageEngine

/// A node's durable note that a bucket's listing index must learn of a change to a key: written in the same synced
/// batch as a client's write of a version (``NodeChange/commit(_:manifest:completing:inlineSegment:intent:)`` with
/// `intent`) or a client's permanent deletion of one (``NodeChange/deleteVersion(_:bucket:key:version:sequence:check:)``
/// that is not a relocation), so that the index edit is as durable as the manifest it follows, although the index
/// lives on other nodes.
///
/// The gateway tells the index beside the commit and, once the index took it, clears the intents
/// (``NodeChange/clearIntents(_:_:)``, batched after the acknowledgement). An intent still there some seconds later
/// (the index edit failed, or the gateway crashed before it or before the clear) is delivered by any gateway's intent
/// drain: a written version merged into the index, a deleted one followed by setting the entry back to what the nodes
/// hold newest. A listing is thus wrong after a crash for seconds, not until the next anti-entropy pass.
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

    /// What names the intent for its clearing.
    public var reference: IntentReference {
        IntentReference(kind: kind, bucket: bucket, key: key, version: mark.version)
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

/// Names one intent on a node: its kind, key and version (what its record key is made of).
public struct IntentReference: Sendable, Hashable {
    public var kind: IndexIntent.Kind
    public var bucket: String
    public var key: String
    public var version: VersionID

    public init(kind: IndexIntent.Kind, bucket: String, key: String, version: VersionID) {
        self.kind = kind
        self.bucket = bucket
        self.key = key
        self.version = version
    }

    /// References as ``NodeChange/clearIntents(_:_:)`` carries them: a count (at most 1,000), then each.
    public static func encoded(_ references: [IntentReference]) -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(UInt32(references.count))
        for reference in references {
            writer.write(reference.kind.rawValue)
            writer.writeString(reference.bucket)
            writer.writeString(reference.key)
            writer.writeRaw(reference.version.bytes)
        }
        return writer.bytes
    }

    public static func decoding(_ bytes: [UInt8]) throws -> [IntentReference] {
        var reader = BinaryReader(bytes)
        let count = Int(try reader.readUInt32())
        guard count <= Limits.listBatchPerNode else { throw FormatError("too many intent references: \(count)") }
        var references = [IntentReference]()
        references.reserveCapacity(count)
        for _ in 0..<count {
            guard let kind = IndexIntent.Kind(rawValue: try reader.readUInt8()) else {
                throw FormatError("index intent kind")
            }
            let bucket = try reader.readString(), key = try reader.readString()
            guard let version = VersionID(bytes: Array(try reader.readRaw(16))) else { throw FormatError("version id") }
            references.append(IntentReference(kind: kind, bucket: bucket, key: key, version: version))
        }
        guard reader.isAtEnd else { throw FormatError("trailing bytes after intent references") }
        return references
    }
}

/// A node's page of intents old enough to deliver, in record order, and where the next page starts (nil: done).
public struct IntentPage: Sendable, Equatable {
    public var intents: [IndexIntent]
    /// Written intents of versions the node no longer holds (overwritten or deleted since): to clear, not deliver,
    /// since merging one would list a version that is gone.
    public var gone: [IntentReference]
    public var next: [UInt8]?

    public init(intents: [IndexIntent], gone: [IntentReference] = [], next: [UInt8]?) {
        self.intents = intents
        self.gone = gone
        self.next = next
    }

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(UInt32(intents.count))
        for intent in intents { writer.writeField(intent.encoded()) }
        writer.writeField(IntentReference.encoded(gone))
        writer.write(UInt8(next == nil ? 0 : 1))
        if let next { writer.writeField(next) }
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = BinaryReader(bytes)
        let count = Int(try reader.readUInt32())
        guard count <= Limits.listBatchPerNode else { throw FormatError("too many intents: \(count)") }
        intents = try (0..<count).map { _ in try IndexIntent(decoding: try reader.readField()) }
        gone = try IntentReference.decoding(try reader.readField())
        switch try reader.readUInt8() {
        case 0: next = nil
        case 1: next = try reader.readField()
        case let flag: throw FormatError("intent page flag \(flag)")
        }
        guard reader.isAtEnd else { throw FormatError("trailing bytes after an intent page") }
    }
}

extension NodeStore {
    /// How many records an intent page reads at most per intent it may return (the rest are too young).
    static let intentScanFactor = 8

    /// Intents committed at least `olderThanMillis` ago by the node's clock, from `from` (a page's `next`) on: at
    /// most `limit` of them (written intents of versions no longer held counted among them, as `gone`), fewer when
    /// the read stopped after ``intentScanFactor`` × `limit` younger ones.
    public func indexIntents(_ requested: Jurisdiction, from: [UInt8], olderThanMillis: Int64, limit: Int) throws
        -> IntentPage
    {
        try check(requested)
        guard limit > 0, limit <= Limits.listBatchPerNode else { throw FormatError("limit must be 1...1000") }
        let cutoff = Self.wallClockMillis() - olderThanMillis
        let reading = limit * Self.intentScanFactor
        let records = try engine.scan(from: [NodeKeys.intentTag] + from, to: [NodeKeys.intentTag + 1], limit: reading)
        var page = IntentPage(intents: [], next: nil)
        for record in records {
            let intent: IndexIntent
            do { intent = try IndexIntent(decoding: record.value) } catch {
                throw NodeError.corrupt("index intent on \(node): \(error)")
            }
            guard intent.millis <= cutoff else { continue }
            if intent.kind == .written, try !holds(intent) { page.gone.append(intent.reference) } else {
                page.intents.append(intent)
            }
            if page.intents.count + page.gone.count == limit {
                page.next = Array(record.key.dropFirst()) + [0]
                return page
            }
        }
        page.next = records.count == reading ? records.last.map { Array($0.key.dropFirst()) + [0] } : nil
        return page
    }

    /// Whether the node holds the version an intent names, current or noncurrent.
    private func holds(_ intent: IndexIntent) throws -> Bool {
        if let raw = try engine.get(NodeKeys.manifest(bucket: intent.bucket, key: intent.key)),
           try decodeRecord(raw).versionID == intent.mark.version { return true }
        return try engine.get(NodeKeys.noncurrent(bucket: intent.bucket, key: intent.key, sequence: intent.mark.sequence,
                                                  version: intent.mark.version)) != nil
    }

    /// Adds `intent` to `batch` (it replaces one of the same key, kind and version).
    func stage(_ intent: IndexIntent, into batch: inout WriteBatch) {
        batch.put(NodeKeys.intent(intent.reference), intent.encoded())
    }

    /// Adds the removal of the referenced intents (absent ones are no error) to `batch`.
    func stageClear(_ references: [IntentReference], into batch: inout WriteBatch) throws -> CommitOutcome {
        guard references.count <= Limits.listBatchPerNode else { throw FormatError("too many intent references") }
        for reference in references {
            guard !reference.bucket.utf8.contains(0) else { throw FormatError("a bucket name with a NUL byte") }
            batch.delete(NodeKeys.intent(reference))
        }
        return .committed
    }
}
