import Hashing
import ObjectModel
import Placement

/// The anti-entropy of a rebalance pass: instead of walking every version on every node, each node summarises what
/// it holds of a bucket per key partition and per peer, and the pass compares summaries and exchanges only the
/// partitions that differ (as Dynamo, Cassandra and Garage compare Merkle trees or partition hashes).
///
/// A key's partition is the first byte of SHA-256 of its bytes (256 partitions, so a key's versions share one); a
/// version's summary hash is the first 8 bytes of SHA-256 over its key, id, order and kind (``summaryHash``), added
/// (wrapping) into the partition's sum, with a count beside it.
public enum KeyPartition {
    /// How many partitions a bucket's keys fall in.
    public static let count = 256

    /// The partition of `key`.
    public static func of(_ key: some Collection<UInt8>) -> UInt8 {
        StreamingDigest.hash(.sha256, Array(key))[0]
    }
}

/// A set of key partitions (a 256-bit map).
public struct KeyPartitions: Sendable, Equatable {
    private var words = [UInt64](repeating: 0, count: 4)

    public init() {}

    /// Every partition.
    public static var all: KeyPartitions {
        var set = KeyPartitions()
        set.words = [UInt64](repeating: .max, count: 4)
        return set
    }

    public func contains(_ partition: UInt8) -> Bool { words[Int(partition >> 6)] & (1 << UInt64(partition & 63)) != 0 }
    public mutating func insert(_ partition: UInt8) { words[Int(partition >> 6)] |= 1 << UInt64(partition & 63) }
    public mutating func formUnion(_ other: KeyPartitions) { for index in 0..<4 { words[index] |= other.words[index] } }
    public var isEmpty: Bool { words.allSatisfy { $0 == 0 } }
    public var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// 32 bytes, partition 0 in the low bit of the first.
    public func encoded() -> [UInt8] {
        words.flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * UInt64($0))) } }
    }

    public init(decoding bytes: [UInt8]) throws {
        guard bytes.count == 32 else { throw FormatError("a partition set is 32 bytes, not \(bytes.count)") }
        for index in 0..<4 {
            words[index] = (0..<8).reduce(0) { $0 | UInt64(bytes[8 * index + $1]) << (8 * UInt64($1)) }
        }
    }
}

/// Sums of summary hashes per key partition, with counts.
public struct PartitionSums: Sendable, Equatable {
    public private(set) var sums = [UInt64](repeating: 0, count: KeyPartition.count)
    public private(set) var counts = [UInt32](repeating: 0, count: KeyPartition.count)

    public init() {}

    public mutating func add(_ partition: UInt8, _ hash: UInt64) {
        sums[Int(partition)] &+= hash
        counts[Int(partition)] &+= 1
    }

    public mutating func add(_ other: PartitionSums) {
        for index in 0..<KeyPartition.count {
            sums[index] &+= other.sums[index]
            counts[index] &+= other.counts[index]
        }
    }

    /// The partitions whose sum or count differ.
    public func differing(_ other: PartitionSums) -> KeyPartitions {
        var set = KeyPartitions()
        for index in 0..<KeyPartition.count where sums[index] != other.sums[index] || counts[index] != other.counts[index] {
            set.insert(UInt8(index))
        }
        return set
    }

    /// How many versions the sums cover.
    public var total: Int { counts.reduce(0) { $0 + Int($1) } }

    /// Only the partitions that hold something: a count, then (partition, sum, count) each.
    func write(into writer: inout BinaryWriter) {
        let used = (0..<KeyPartition.count).filter { counts[$0] != 0 || sums[$0] != 0 }
        writer.write(UInt32(used.count))
        for index in used {
            writer.write(UInt8(index))
            writer.write(sums[index])
            writer.write(counts[index])
        }
    }

    init(reading reader: inout BinaryReader) throws {
        let used = Int(try reader.readUInt32())
        guard used <= KeyPartition.count else { throw FormatError("\(used) partitions") }
        for _ in 0..<used {
            let index = Int(try reader.readUInt8())
            sums[index] = try reader.readUInt64()
            counts[index] = try reader.readUInt32()
        }
    }
}

/// Where the keys of a bucket belong, by a rebalance pass's topology: what a node needs to summarise its share.
public struct SummaryPlan: Sendable, Equatable, Codable {
    /// The jurisdiction's nodes taking placements, and its draining ones (ranked after them).
    public var active: [NodeID]
    public var draining: [NodeID]
    /// Replicas per object.
    public var replicas: Int
    /// The bucket's listing index replicas.
    public var indexReplicas: [NodeID]
    /// Plain tombstones last modified before this time (milliseconds) are counted as collectable.
    public var tombstonesBefore: Int64
    /// Versions and index entries last modified at this time (milliseconds) or later are left out of the sums: nodes
    /// summarised a little apart would otherwise disagree on every write made in between. The next pass compares
    /// them. Nil: every version is summed.
    public var summedBefore: Int64?

    public init(active: [NodeID], draining: [NodeID], replicas: Int, indexReplicas: [NodeID], tombstonesBefore: Int64,
                summedBefore: Int64? = nil) {
        self.active = active
        self.draining = draining
        self.replicas = replicas
        self.indexReplicas = indexReplicas
        self.tombstonesBefore = tombstonesBefore
        self.summedBefore = summedBefore
    }

    /// Whether a version or index entry modified at `millis` is summed.
    public func sums(_ millis: Int64) -> Bool { summedBefore.map { millis < $0 } ?? true }

    /// The nodes that should hold `key`, as `Topology.preferred` ranks them.
    public func preferred(bucket: String, key: String) -> ArraySlice<NodeID> {
        let ranked = Rendezvous.rank(active, bucket: bucket, key: key)
        guard ranked.count < replicas, !draining.isEmpty else { return ranked.prefix(replicas) }
        return (ranked + Rendezvous.rank(draining, bucket: bucket, key: key)).prefix(replicas)
    }
}

/// A node's summary of what it holds of one bucket (``StorageNodeClient/summarize(_:bucket:plan:)``).
public struct BucketSummary: Sendable, Equatable {
    /// For each peer: the versions this node holds (tombstones included) of keys that placement gives to both.
    /// Two nodes agree on their shared keys when each one's sums for the other are equal, partition by partition.
    public var shared: [NodeID: PartitionSums] = [:]
    /// Versions this node holds of keys placement does not give it (extra copies, a drain's leftovers), and the
    /// partitions of their keys.
    public var misplaced = 0
    public var misplacedPartitions = KeyPartitions()
    /// Plain tombstones older than the plan's horizon, on keys placement gives to this node, and their partitions.
    public var collectable = 0
    public var collectablePartitions = KeyPartitions()
    /// The current versions (tombstones included) of the keys whose first preferred replica is this node, as listing
    /// entries: summed over the nodes, what a complete listing index holds.
    public var primary = PartitionSums()
    /// The node's listing index entries of the bucket, when it is one of its index replicas.
    public var index: PartitionSums?
    /// Index entries of the bucket held though the node is not one of its index replicas.
    public var strayIndexEntries = 0
    /// Versions read.
    public var versions = 0

    public init() {}

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(UInt32(shared.count))
        for (peer, sums) in shared.sorted(by: { $0.key < $1.key }) {
            writer.writeString(peer.rawValue)
            sums.write(into: &writer)
        }
        writer.write(UInt64(misplaced))
        writer.writeRaw(misplacedPartitions.encoded())
        writer.write(UInt64(collectable))
        writer.writeRaw(collectablePartitions.encoded())
        primary.write(into: &writer)
        writer.write(UInt8(index == nil ? 0 : 1))
        index?.write(into: &writer)
        writer.write(UInt64(strayIndexEntries))
        writer.write(UInt64(versions))
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = BinaryReader(bytes)
        let peers = Int(try reader.readUInt32())
        guard peers <= 100_000 else { throw FormatError("\(peers) peers") }
        for _ in 0..<peers {
            guard let peer = NodeID(try reader.readString()) else { throw FormatError("a peer's node id") }
            shared[peer] = try PartitionSums(reading: &reader)
        }
        misplaced = Int(clamping: try reader.readUInt64())
        misplacedPartitions = try KeyPartitions(decoding: Array(try reader.readRaw(32)))
        collectable = Int(clamping: try reader.readUInt64())
        collectablePartitions = try KeyPartitions(decoding: Array(try reader.readRaw(32)))
        primary = try PartitionSums(reading: &reader)
        index = try reader.readFlag() ? try PartitionSums(reading: &reader) : nil
        strayIndexEntries = Int(clamping: try reader.readUInt64())
        versions = Int(clamping: try reader.readUInt64())
        // Fields a newer node adds after these are not read.
    }
}

/// Which records of a bucket ``StorageNodeClient/listPartitions(_:bucket:space:partitions:from:limit:)`` reads.
public enum RecordSpace: String, Sendable {
    /// Every version the node holds: current and noncurrent, delete markers and plain tombstones.
    case versions
    /// The current version of each key (tombstones included), as listing entries (``ObjectManifest/listingEntry``).
    case current
    /// The bucket's listing index entries.
    case index
}

extension ObjectManifest {
    /// What a summary adds for this version: the first 8 bytes of SHA-256 over its key, NUL, id, sequence and kind
    /// (a manifest and its listing entry hash alike; a lock, tag or rewrap change does not alter it).
    public var summaryHash: UInt64 {
        var input = Array(key.utf8)
        input.append(0)
        input += versionID.bytes
        input += (0..<8).map { UInt8(truncatingIfNeeded: sequence >> (56 - 8 * UInt64($0))) }
        input.append((isTombstone ? 1 : 0) | (isDeleteMarker ? 2 : 0))
        return StreamingDigest.hash(.sha256, input).prefix(8).reduce(0) { ($0 << 8) | UInt64($1) }
    }
}
