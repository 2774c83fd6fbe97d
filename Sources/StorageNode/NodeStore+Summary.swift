import ObjectModel
import StorageEngine

/// A node's side of anti-entropy (``BucketSummary``): one local read of a bucket's records summarises them per peer
/// and key partition, and a listing filtered by partitions hands over only the keys of partitions that differ.
extension NodeStore {
    /// The node's summary of `bucket` under `plan` (one read of its versions and index entries).
    public func summarize(_ requested: Jurisdiction, bucket: String, plan: SummaryPlan) throws -> BucketSummary {
        var cursor = SummaryCursor()
        while !cursor.done { try summarize(requested, bucket: bucket, plan: plan, cursor: &cursor) }
        return cursor.summary
    }

    /// Goes on with a summary from `cursor`, reading about `budget` records (so that a long summary gives the node's
    /// threads back between steps); `cursor.done` once it is complete.
    public func summarize(_ requested: Jurisdiction, bucket: String, plan: SummaryPlan, cursor: inout SummaryCursor,
                          budget: Int = 10_000) throws {
        try check(requested)
        guard plan.replicas >= 1, plan.replicas <= plan.active.count + plan.draining.count else {
            throw FormatError("a summary plan of \(plan.replicas) replicas over \(plan.active.count) nodes")
        }
        var read = 0
        while let position = cursor.versions, read < budget {
            let batch = try versionRecords(bucket: bucket, prefix: [], from: position, limit: Self.summaryBatch,
                                           tombstones: true)
            read += max(1, batch.versions.count)
            for manifest in batch.versions { cursor.add(manifest, bucket: bucket, plan: plan, node: node) }
            cursor.versions = batch.next
        }
        let base = NodeKeys.indexPrefix(bucket: bucket)
        let indexing = plan.indexReplicas.contains(node)
        if indexing, cursor.summary.index == nil { cursor.summary.index = PartitionSums() }
        while cursor.versions == nil, let from = cursor.entries, read < budget {
            let page = try engine.scan(from: base + from, to: prefixSuccessor(base), limit: Self.summaryBatch)
            read += max(1, page.count)
            for pair in page {
                if indexing {
                    let entry = try decodeRecord(pair.value)
                    guard plan.sums(entry.lastModifiedMillis) else { continue }
                    cursor.summary.index?.add(KeyPartition.of(pair.key.dropFirst(base.count)), entry.summaryHash)
                } else {
                    cursor.summary.strayIndexEntries += 1
                }
            }
            cursor.entries = page.count == Self.summaryBatch ? page.last.map { Array($0.key.dropFirst(base.count)) + [0] }
                : nil
        }
    }

    /// Records of `bucket` in `space` whose keys fall in `partitions`, from `position` on, in listing order (keys in
    /// byte order, a key's versions newest first): at most `limit` of them, fewer when the read stopped after
    /// ``partitionScanFactor`` × `limit` records of other partitions. `next` is where the listing goes on (nil: done).
    /// Of `.current`, listing entries (what an index compare needs); of `.versions`, whole manifests (what a copy
    /// needs).
    public func listPartitions(_ requested: Jurisdiction, bucket: String, space: RecordSpace, partitions: KeyPartitions,
                               from position: VersionPosition, limit: Int) throws -> VersionBatch {
        try check(requested)
        guard limit > 0 else { throw FormatError("limit must be positive") }
        var found = [ObjectManifest](), read = 0
        var lastKey: [UInt8]?, inPartition = false
        func wanted(_ key: [UInt8]) -> Bool {
            if key != lastKey {
                lastKey = key
                inPartition = partitions.contains(KeyPartition.of(key))
            }
            return inPartition
        }
        switch space {
        case .versions:
            var position = position
            while true {
                let batch = try versionRecords(bucket: bucket, prefix: [], from: position, limit: limit, tombstones: true)
                read += max(1, batch.versions.count)
                for manifest in batch.versions where wanted(Array(manifest.key.utf8)) {
                    found.append(manifest)
                    if found.count == limit {
                        // Just past the last version given (which may leave the batch's end unread).
                        let next = VersionPosition(key: Array(manifest.key.utf8), after: VersionMark(manifest))
                        return VersionBatch(versions: found, next: next)
                    }
                }
                guard let next = batch.next else { return VersionBatch(versions: found, next: nil) }
                position = next
                if read >= Self.partitionScanFactor * limit { return VersionBatch(versions: found, next: next) }
            }
        case .current, .index:
            let base = space == .current ? NodeKeys.manifestPrefix(bucket: bucket) : NodeKeys.indexPrefix(bucket: bucket)
            var from = base + position.key
            while true {
                let page = try engine.scan(from: from, to: prefixSuccessor(base), limit: limit)
                read += max(1, page.count)
                for pair in page where wanted(Array(pair.key.dropFirst(base.count))) {
                    found.append(try decodeRecord(pair.value).listingEntry)
                    if found.count == limit {
                        return VersionBatch(versions: found,
                                            next: VersionPosition(key: Array(pair.key.dropFirst(base.count)) + [0]))
                    }
                }
                guard page.count == limit, let last = page.last else { return VersionBatch(versions: found, next: nil) }
                from = last.key + [0]
                if read >= Self.partitionScanFactor * limit {
                    return VersionBatch(versions: found, next: VersionPosition(key: Array(from.dropFirst(base.count))))
                }
            }
        }
    }

    /// Records read at a time by a summary.
    static let summaryBatch = 1_000
    /// How many records of other partitions one partition listing reads at most before it answers.
    public static let partitionScanFactor = 8

    func decodeRecord(_ raw: [UInt8]) throws -> ObjectManifest {
        do { return try ObjectManifest(decoding: raw) } catch { throw NodeError.corrupt("manifest on \(node): \(error)") }
    }
}

/// A summary being made (``NodeStore/summarize(_:bucket:plan:cursor:budget:)``).
public struct SummaryCursor: Sendable {
    public internal(set) var summary = BucketSummary()
    /// Where the versions read goes on (nil once they are all read), then the index entries.
    var versions: VersionPosition? = VersionPosition(key: [])
    var entries: [UInt8]? = []
    private var lastKey: [UInt8]?
    private var partition: UInt8 = 0
    private var preferred = ArraySlice<NodeID>()

    public init() {}

    public var done: Bool { versions == nil && entries == nil }

    /// Counts one version (versions come in listing order: a key's together, its current one first).
    mutating func add(_ manifest: ObjectManifest, bucket: String, plan: SummaryPlan, node: NodeID) {
        let key = Array(manifest.key.utf8)
        let newest = key != lastKey
        if newest {
            lastKey = key
            partition = KeyPartition.of(key)
            preferred = plan.preferred(bucket: bucket, key: manifest.key)
        }
        summary.versions += 1
        guard preferred.contains(node) else {
            summary.misplaced += 1
            summary.misplacedPartitions.insert(partition)
            return
        }
        if manifest.isTombstone, !manifest.isListedVersion, manifest.lastModifiedMillis < plan.tombstonesBefore {
            summary.collectable += 1
            summary.collectablePartitions.insert(partition)
        }
        guard plan.sums(manifest.lastModifiedMillis) else { return }
        let hash = manifest.summaryHash
        for peer in preferred where peer != node { summary.shared[peer, default: PartitionSums()].add(partition, hash) }
        if newest, preferred.first == node { summary.primary.add(partition, hash) }
    }
}
