import ObjectModel
import Placement
import StorageNode

/// A rebalance pass's share of the listing indexes. Each bucket's index replicas (by the pass's topology) are compared
/// with what the nodes hold on the key partitions their summaries disagree on (all of them after a placement change),
/// window by window in key order: every node's current versions merged against each replica's entries over the same
/// keys, tombstones included. A key on which they disagree (an object the index lacks, after a crash
/// between a commit and its index edit or a placement change; an entry the nodes no longer hold, after a deletion
/// whose edit was lost) is read again from every node, and the replica's entry is set to that (a compare on the
/// entry, so an edit that ran meanwhile is never undone). A node that no longer indexes a bucket is emptied of its
/// entries. A clean pass thus leaves every index complete, which lets listings read them again after a placement
/// change (`Topology.usesListingIndex`).
extension RebalancePass {
    /// The index replicas of `bucket` by the pass's topology.
    mutating func indexNodes(_ bucket: String) -> [NodeID] {
        if let known = indexReplicas[bucket] { return known }
        let ids = placement.indexReplicas(jurisdiction, bucket: bucket)
        indexReplicas[bucket] = ids
        return ids
    }

    /// Checks the index replicas of `bucket` on the keys of `partitions`: every node's current versions there, merged
    /// newest first, against each replica's entries, window by window in key order.
    mutating func reconcileIndex(_ bucket: String, partitions: KeyPartitions) async {
        let ids = indexNodes(bucket)
        let replicas = ids.compactMap { store.client($0) }
        guard replicas.count == ids.count, let holders = try? store.all(jurisdiction) else {
            tally.failed += 1
            return
        }
        tally.partitionsRead += partitions.count
        var streams = holders.map { PartitionStream(node: $0, space: .current) }
            + replicas.map { PartitionStream(node: $0, space: .index) }
        while !Task.isCancelled, !stale {
            for index in streams.indices where streams[index].buffer.isEmpty && streams[index].next != nil {
                let stream = streams[index]
                guard let batch = try? await stream.node.listPartitions(
                    jurisdiction, bucket: bucket, space: stream.space, partitions: partitions, from: stream.next!,
                    limit: Limits.listBatchPerNode) else {
                    tally.failed += 1
                    return
                }
                streams[index].buffer = batch.versions
                streams[index].next = batch.next
            }
            // Every stream has given all its keys below the bound (all of them when it is nil).
            let bound = streams.compactMap { $0.next?.key }.min { $0.lexicographicallyPrecedes($1) }
            var listed = [[UInt8]: ObjectManifest]()
            for index in streams.indices where streams[index].space == .current {
                for manifest in streams[index].take(below: bound) {
                    let key = Array(manifest.key.utf8)
                    if let known = listed[key], !manifest.isNewer(than: known) { continue }
                    listed[key] = manifest
                }
            }
            for index in streams.indices where streams[index].space == .index {
                let entries = Dictionary(streams[index].take(below: bound).map { (Array($0.key.utf8), $0) }) { $1 }
                await reconcile(streams[index].node, bucket: bucket, listed: listed, entries: entries)
            }
            guard bound != nil else { return }
        }
    }

    /// Sets right the entries of one replica that disagree with the listed objects of the same key range.
    /// `listed` holds the keys' newest versions on the nodes, tombstones included.
    private mutating func reconcile(_ replica: any StorageNodeClient, bucket: String, listed: [[UInt8]: ObjectManifest],
                                    entries: [[UInt8]: ObjectManifest]) async {
        var suspects = Set<[UInt8]>()
        for (key, manifest) in listed where entries[key]?.versionID != manifest.versionID { suspects.insert(key) }
        for key in entries.keys where listed[key] == nil { suspects.insert(key) }
        var edits = [IndexEdit]()
        for key in suspects.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            tally.scanned += 1
            await throttle()
            let name = String(decoding: key, as: UTF8.self)
            let newest: ObjectManifest?
            do { newest = try await store.newestEverywhere(jurisdiction, bucket: bucket, key: name) } catch {
                tally.failed += 1
                continue
            }
            switch (entries[key], newest) {
            case (nil, nil):
                continue
            case (nil, let newest?):
                edits.append(.merge(newest))
            case (let entry?, nil):
                edits.append(.replace(bucket: bucket, key: name, expected: VersionMark(entry), with: nil))
            case (let entry?, let newest?):
                guard entry.versionID != newest.versionID else { continue }
                edits.append(entry.isNewer(than: newest)
                    ? .replace(bucket: bucket, key: name, expected: VersionMark(entry), with: newest) : .merge(newest))
            }
        }
        await apply(edits, on: replica)
    }

    /// Removes `node`'s index entries of `bucket` when the node is not one of its index replicas (it was one before
    /// a placement change), once the pass's topology is still the deployment's.
    mutating func clearIndex(_ node: any StorageNodeClient, bucket: String) async {
        guard !indexNodes(bucket).contains(node.nodeID) else { return }
        while !Task.isCancelled, !stale {
            guard let entries = try? await node.list(jurisdiction, bucket: bucket, prefix: [], from: [],
                                                     limit: Limits.listBatchPerNode, space: .index) else {
                tally.failed += 1
                return
            }
            guard !entries.isEmpty, await current() else { return }
            let before = tally.failed
            await apply(entries.map { .replace(bucket: bucket, key: $0.key, expected: VersionMark($0), with: nil) },
                        on: node)
            guard tally.failed == before, entries.count == Limits.listBatchPerNode else { return }
        }
    }

    /// Applies `edits` on `node` in runs under the node's body limit, counting them.
    private mutating func apply(_ edits: [IndexEdit], on node: any StorageNodeClient) async {
        for batch in IndexEdit.batched(edits) {
            do {
                _ = try await node.apply(.index(jurisdiction, batch))
                tally.reindexed += batch.count
            } catch {
                tally.failed += 1
                store.logger.warning("a listing index edit failed", metadata: [
                    "node": "\(node.nodeID)", "error": "\(error)"])
            }
        }
    }

    /// Removes a collected tombstone's entry from the bucket's index replicas (unless a newer entry replaced it).
    mutating func unindex(_ tombstone: ObjectManifest) async {
        let change = NodeChange.index(jurisdiction, [.replace(bucket: tombstone.bucket, key: tombstone.key,
                                                              expected: VersionMark(tombstone), with: nil)])
        for id in indexNodes(tombstone.bucket) {
            guard let replica = store.client(id), (try? await replica.apply(change)) != nil else {
                tally.failed += 1
                continue
            }
        }
    }
}

/// One node's records of some partitions, read in key order window by window (``RebalancePass/reconcileIndex(_:partitions:)``).
private struct PartitionStream {
    let node: any StorageNodeClient
    let space: RecordSpace
    /// Read, not yet taken.
    var buffer: [ObjectManifest] = []
    /// Where the next read starts; nil once the node gave everything.
    var next: VersionPosition? = VersionPosition(key: [])

    /// Removes and returns the buffered records whose keys sort below `bound` (all of them when nil).
    mutating func take(below bound: [UInt8]?) -> [ObjectManifest] {
        guard let bound else { defer { buffer = [] }; return buffer }
        let cut = buffer.firstIndex { !Array($0.key.utf8).lexicographicallyPrecedes(bound) } ?? buffer.count
        defer { buffer.removeFirst(cut) }
        return Array(buffer[..<cut])
    }
}
