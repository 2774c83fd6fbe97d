import ObjectModel
import StorageEngine

/// One change to a bucket's listing index on a node (``NodeChange/index(_:_:)``).
///
/// The index of a bucket holds, per key, the newest version the gateways told it of (an object, a delete marker or a
/// tombstone), in key order, on the bucket's index replicas (`Topology.indexReplicas`), so that a listing page reads
/// as many entries as it has keys from R nodes, whatever the number of nodes. Entries are listing views
/// (``ObjectManifest/listingEntry``): no segments, no keys, no metadata.
public enum IndexEdit: Sendable, Equatable {
    /// Records `manifest` as its key's entry unless the entry is at least as new (a write or a deletion, told beside
    /// its commit; a rebalance pass telling what the nodes hold). Merges commute: the newest wins in any order.
    case merge(ObjectManifest)
    /// Replaces the entry of `key` with `manifest` (nil: removes it) if the entry is still the version `expected`:
    /// after a permanent deletion of that version, or when a rebalance pass finds the entry ahead of what the nodes
    /// hold. A newer entry, merged meanwhile, stays.
    case replace(bucket: String, key: String, expected: VersionMark, with: ObjectManifest?)

    var bucket: String {
        switch self {
        case .merge(let manifest): manifest.bucket
        case .replace(let bucket, _, _, _): bucket
        }
    }
}

extension IndexEdit {
    /// `edits` in runs that each encode to at most `bytesMax` (and at most 1,000 edits): what one request may carry
    /// under the node's body limit, whatever the keys' lengths.
    public static func batched(_ edits: [IndexEdit], bytesMax: Int = 512 * 1024) -> [[IndexEdit]] {
        var batches = [[IndexEdit]](), current = [IndexEdit](), bytes = 0
        for edit in edits {
            let size: Int
            switch edit {
            case .merge(let manifest): size = manifest.listingEntry.encoded().count + 8
            case .replace(let bucket, let key, _, let manifest):
                size = bucket.utf8.count + key.utf8.count + 40 + (manifest?.listingEntry.encoded().count ?? 0)
            }
            if !current.isEmpty, bytes + size > bytesMax || current.count == Limits.listBatchPerNode {
                batches.append(current)
                (current, bytes) = ([], 0)
            }
            current.append(edit)
            bytes += size
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }

    /// A list of edits as the node protocol carries it: a count, then each edit, manifests as listing entries
    /// (`Docs/formats.md`, "Node protocol").
    public static func encoded(_ edits: [IndexEdit]) -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(UInt32(edits.count))
        for edit in edits {
            switch edit {
            case .merge(let manifest):
                writer.write(UInt8(1))
                writer.writeField(manifest.listingEntry.encoded())
            case .replace(let bucket, let key, let expected, let manifest):
                writer.write(UInt8(2))
                writer.writeString(bucket)
                writer.writeString(key)
                writer.write(expected.sequence)
                writer.writeRaw(expected.version.bytes)
                writer.write(UInt8(manifest == nil ? 0 : 1))
                if let manifest { writer.writeField(manifest.listingEntry.encoded()) }
            }
        }
        return writer.bytes
    }

    public static func decoding(_ bytes: [UInt8]) throws -> [IndexEdit] {
        var reader = BinaryReader(bytes)
        let count = Int(try reader.readUInt32())
        guard count <= Limits.listBatchPerNode else { throw FormatError("too many index edits: \(count)") }
        var edits = [IndexEdit]()
        edits.reserveCapacity(count)
        for _ in 0..<count {
            switch try reader.readUInt8() {
            case 1:
                edits.append(.merge(try ObjectManifest(decoding: try reader.readField())))
            case 2:
                let bucket = try reader.readString(), key = try reader.readString()
                let sequence = try reader.readUInt64()
                guard let version = VersionID(bytes: Array(try reader.readRaw(16))) else { throw FormatError("version id") }
                let manifest = try reader.readFlag() ? try ObjectManifest(decoding: try reader.readField()) : nil
                edits.append(.replace(bucket: bucket, key: key, expected: VersionMark(sequence: sequence, version: version),
                                      with: manifest))
            case let tag:
                throw FormatError("unknown index edit \(tag)")
            }
        }
        guard reader.isAtEnd else { throw FormatError("trailing bytes after index edits") }
        return edits
    }
}

extension ObjectManifest {
    /// What a listing shows of the version (key, version, order, size, ETag, checksum algorithm, time, whether it is
    /// a tombstone or a delete marker): the manifest without its parts, encryption header, sealed or plain metadata
    /// and stored digest, so that the index carries no key material and a rewrap or tag change leaves it alone.
    public var listingEntry: ObjectManifest {
        var entry = self
        entry.parts = []
        entry.envelope = nil
        entry.sealedMetadata = nil
        entry.metadata = ObjectMetadata()
        entry.storedDigest = nil
        entry.checksumValue = nil
        entry.lock = ObjectLock()
        return entry
    }
}

extension NodeStore {
    /// Stages index edits, each against what the group wrote before it: `.committed` when any changed an entry.
    func stageIndex(_ edits: [IndexEdit], group: GroupWrite, into batch: inout WriteBatch) throws -> CommitOutcome {
        var changed = false
        var staged = [[UInt8]: [UInt8]?]()
        for edit in edits {
            let key: [UInt8]
            switch edit {
            case .merge(let manifest): key = NodeKeys.index(bucket: manifest.bucket, key: manifest.key)
            case .replace(let bucket, let name, _, let manifest):
                // The entry put in place is of the key it replaces: an entry never lands under another key.
                if let manifest, manifest.bucket != bucket || !manifest.key.utf8.elementsEqual(name.utf8) {
                    throw FormatError("an index edit of \(bucket)/\(name) carries an entry of "
                        + "\(manifest.bucket)/\(manifest.key)")
                }
                key = NodeKeys.index(bucket: bucket, key: name)
            }
            // Bucket names hold no NUL: one that did would reach into another bucket's index.
            guard !edit.bucket.utf8.contains(0) else { throw FormatError("a bucket name with a NUL byte") }
            let raw = try staged[key] ?? group.value(key)
            // An entry that does not parse is a listing view gone bad, not data: a merge puts a good one in its place
            // (so it never blocks the commit a merge goes with), a replace leaves it to the next merge or pass.
            let entry = raw.flatMap { try? ObjectManifest(decoding: $0) }
            switch edit {
            case .merge(let manifest):
                if let entry, !manifest.isNewer(than: entry) { continue }
                staged[key] = .some(manifest.listingEntry.encoded())
            case .replace(_, _, let expected, let manifest):
                guard let entry, VersionMark(entry) == expected else { continue }
                staged[key] = .some(manifest?.listingEntry.encoded())
            }
            changed = true
        }
        for (key, value) in staged {
            if let value { batch.put(key, value) } else { batch.delete(key) }
        }
        return changed ? .committed : .superseded
    }
}
