import ObjectModel
import Placement
import StorageNode

/// A rebalance pass's share of the listing indexes: it tells the index replicas of each bucket (by the pass's
/// topology) of every current version the nodes hold, sets back entries ahead of what the nodes hold, and empties
/// the index a node keeps for a bucket it no longer indexes. A clean pass leaves every bucket's index complete, which
/// is what lets listings read it again after a placement change (`Topology.usesListingIndex`).
extension RebalancePass {
    /// The index replicas of `bucket` by the pass's topology.
    mutating func indexNodes(_ bucket: String) -> [NodeID] {
        if let known = indexReplicas[bucket] { return known }
        let ids = placement.indexReplicas(jurisdiction, bucket: bucket)
        indexReplicas[bucket] = ids
        return ids
    }

    /// Merges current manifests a node holds (tombstones included) into the bucket's index on each index replica:
    /// newest wins there, so telling an older version changes nothing.
    mutating func index(_ held: [ObjectManifest], bucket: String) async {
        guard !held.isEmpty else { return }
        let change = NodeChange.index(jurisdiction, held.map { .merge($0) })
        for id in indexNodes(bucket) {
            do {
                guard let replica = store.client(id) else { throw NodeError.unavailable(id) }
                _ = try await replica.apply(change)
            } catch {
                tally.failed += 1
                store.logger.warning("a listing index replica missed a rebalance's entries", metadata: [
                    "node": "\(id)", "bucket": "\(bucket)", "error": "\(error)"])
            }
        }
    }

    /// Checks `node`'s index entries of `bucket`. On an index replica, each against what the nodes hold newest now:
    /// an entry ahead of them (a version deleted for good, a tombstone collected, an edit whose deletion failed
    /// afterwards) is set back to that, or removed when nothing is left. Elsewhere (a node that indexed the bucket
    /// before a placement change), every entry goes, once the pass's topology is still the deployment's.
    mutating func checkIndex(_ node: any StorageNodeClient, bucket: String) async {
        let replica = indexNodes(bucket).contains(node.nodeID)
        var from = [UInt8]()
        while !Task.isCancelled, !stale {
            guard let entries = try? await node.list(jurisdiction, bucket: bucket, prefix: [], from: from,
                                                     limit: Limits.listBatchPerNode, space: .index) else {
                tally.failed += 1
                return
            }
            var edits = [IndexEdit]()
            if replica {
                for entry in entries {
                    tally.scanned += 1
                    await throttle()
                    do {
                        let newest = try await store.newest(jurisdiction, bucket: bucket, key: entry.key)?.manifest
                        if let newest, !entry.isNewer(than: newest) {
                            if newest.versionID != entry.versionID { edits.append(.merge(newest)) }
                            continue
                        }
                        edits.append(.replace(bucket: bucket, key: entry.key, expected: VersionMark(entry), with: newest))
                    } catch {
                        tally.failed += 1
                    }
                }
            } else {
                guard !entries.isEmpty, await current() else { return }
                edits = entries.map { .replace(bucket: bucket, key: $0.key, expected: VersionMark($0), with: nil) }
            }
            if !edits.isEmpty {
                do {
                    _ = try await node.apply(.index(jurisdiction, edits))
                    tally.reindexed += edits.count
                } catch {
                    tally.failed += 1
                }
            }
            guard entries.count == Limits.listBatchPerNode, let last = entries.last else { return }
            from = Array(last.key.utf8) + [0]
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
