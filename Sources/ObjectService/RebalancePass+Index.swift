import ObjectModel
import Placement
import StorageNode

/// A rebalance pass's share of the listing indexes. Each bucket's index replicas (by the pass's topology) are compared
/// with what the nodes hold, key range by key range: a page merged from every node's own manifests against each
/// replica's entries over the same keys. A key on which they disagree (an object the index lacks, after a crash
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

    /// Checks every index replica of `bucket` against the nodes' own manifests, one page of keys at a time.
    mutating func reconcileIndex(_ bucket: String) async {
        let ids = indexNodes(bucket)
        let replicas = ids.compactMap { store.client($0) }
        guard replicas.count == ids.count else {
            tally.failed += 1
            return
        }
        var after: String?
        var from = [[UInt8]](repeating: [], count: replicas.count)
        while !Task.isCancelled, !stale {
            let page: ManifestPage
            do {
                page = try await store.listEveryNode(jurisdiction, bucket: bucket, ListRequest(
                    prefix: "", delimiter: nil, startAfter: after, maxKeys: Limits.listKeysMax))
            } catch {
                tally.failed += 1
                return
            }
            // The page covers the keys after `after` up to its last one (to the end when it is the last page).
            let upper = page.isTruncated ? page.last.map { Array($0.utf8) } : nil
            var listed = [[UInt8]: ObjectManifest]()
            for manifest in page.objects { listed[Array(manifest.key.utf8)] = manifest }
            for (position, replica) in replicas.enumerated() {
                guard let entries = await self.entries(replica, bucket: bucket, from: from[position], through: upper)
                else { return }
                from[position] = upper.map { $0 + [0] } ?? []
                await reconcile(replica, bucket: bucket, listed: listed, entries: entries)
            }
            guard page.isTruncated, let last = page.last else { return }
            after = last
        }
    }

    /// `replica`'s index entries of `bucket` from `from` through `upper` (to the end when nil), by key bytes; nil
    /// (counted as a failure) when the replica does not answer.
    private mutating func entries(_ replica: any StorageNodeClient, bucket: String, from start: [UInt8],
                                  through upper: [UInt8]?) async -> [[UInt8]: ObjectManifest]? {
        var entries = [[UInt8]: ObjectManifest]()
        var from = start
        while true {
            guard let batch = try? await replica.list(jurisdiction, bucket: bucket, prefix: [], from: from,
                                                      limit: Limits.listBatchPerNode, space: .index) else {
                tally.failed += 1
                return nil
            }
            for entry in batch {
                let key = Array(entry.key.utf8)
                if let upper, upper.lexicographicallyPrecedes(key) { return entries }
                entries[key] = entry
            }
            guard batch.count == Limits.listBatchPerNode, let last = batch.last else { return entries }
            from = Array(last.key.utf8) + [0]
        }
    }

    /// Sets right the entries of one replica that disagree with the listed objects of the same key range.
    private mutating func reconcile(_ replica: any StorageNodeClient, bucket: String,
                                    listed: [[UInt8]: ObjectManifest], entries: [[UInt8]: ObjectManifest]) async {
        var suspects = Set<[UInt8]>()
        for (key, manifest) in listed where entries[key]?.versionID != manifest.versionID { suspects.insert(key) }
        for (key, entry) in entries where !entry.isTombstone && listed[key] == nil { suspects.insert(key) }
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
