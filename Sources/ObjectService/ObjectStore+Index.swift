import Metrics
import ObjectModel
import StorageNode

/// The listing index of each bucket: per key, the newest version the gateways committed, on the bucket's R index
/// replicas (`Topology.indexReplicas`), told after each commit and before the write is acknowledged. A listing reads
/// every index replica, so one that holds an entry is enough for it to be listed; a rebalance pass rebuilds what a
/// crash between a commit and its index edit left out (``ObjectStore/rebalance(_:buckets:pace:storedEpoch:progress:)``).
extension ObjectStore {
    /// Clients of the index replicas of `bucket` by the topology now.
    func indexReplicas(_ jurisdiction: Jurisdiction, bucket: String) -> [any StorageNodeClient] {
        let now = snapshot
        return now.topology.indexReplicas(jurisdiction, bucket: bucket).map { now.nodes[$0]! }
    }

    /// Tells the bucket's index replicas of a committed version (an object, a delete marker, a tombstone). Throws
    /// (503) when none of them kept it: the write must not be acknowledged, since a listing might not show it.
    func index(_ manifest: ObjectManifest, jurisdiction: Jurisdiction) async throws {
        try await edit(.merge(manifest), bucket: manifest.bucket, jurisdiction: jurisdiction)
    }

    /// After a permanent deletion of `deleted`: the key's entry, if it is still that version, becomes what the nodes
    /// now hold newest (an older version, or nothing).
    func reindex(afterDeleting deleted: ObjectManifest, jurisdiction: Jurisdiction) async throws {
        let now = try await newest(jurisdiction, bucket: deleted.bucket, key: deleted.key)
        try await edit(.replace(bucket: deleted.bucket, key: deleted.key, expected: VersionMark(deleted),
                                with: now?.manifest), bucket: deleted.bucket, jurisdiction: jurisdiction)
    }

    private func edit(_ edit: IndexEdit, bucket: String, jurisdiction: Jurisdiction) async throws {
        let replicas = indexReplicas(jurisdiction, bucket: bucket)
        let failed = await commit(.index(jurisdiction, [edit]), on: replicas)
        if !failed.isEmpty {
            Counter(label: "qantara_index_edits_failed_total", dimensions: [("jurisdiction", jurisdiction.code)])
                .increment(by: failed.count)
            logger.warning("a listing index replica missed an edit; the rebalance pass repairs it", metadata: [
                "bucket": "\(bucket)", "nodes": "\(failed.map(\.nodeID.rawValue).joined(separator: ","))"])
        }
        guard failed.count < replicas.count else {
            throw ObjectServiceError.serviceUnavailable("no listing index replica of bucket \(bucket) in "
                + "\(jurisdiction) answered (\(replicas.map(\.nodeID.rawValue).joined(separator: ", ")))")
        }
    }
}
