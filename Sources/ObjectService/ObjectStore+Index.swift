import Metrics
import ObjectModel
import StorageNode

/// The listing index of each bucket: per key, the newest version the gateways committed, on the bucket's R index
/// replicas (`Topology.indexReplicas`), told beside each commit and before the write is acknowledged. A listing reads
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

    /// After a permanent deletion of the version `deleted` of `key`: the key's entry, if it is still that version,
    /// becomes what the nodes now hold newest (an older version, or nothing). Every index replica must take it (503
    /// otherwise, as the deletion itself needs every node): a replica that missed it would still list the deleted
    /// version, newer than what is current now. What is newest is read again afterwards: when a deletion of it ran
    /// meanwhile (another gateway's, whose own edit found the entry still on the version this one deleted), the entry
    /// follows it too.
    func reindex(afterDeleting deleted: VersionMark, bucket: String, key: String, jurisdiction: Jurisdiction)
        async throws
    {
        var expected = deleted
        var now = try await newestEverywhere(jurisdiction, bucket: bucket, key: key)
        for _ in 0..<Self.reindexRounds {
            try await edit(.replace(bucket: bucket, key: key, expected: expected, with: now), bucket: bucket,
                           jurisdiction: jurisdiction, everyReplica: true)
            let again = try await newestEverywhere(jurisdiction, bucket: bucket, key: key)
            guard let set = now, again?.versionID != set.versionID else { return }
            (expected, now) = (VersionMark(set), again)
        }
        throw ObjectServiceError.serviceUnavailable("the versions of \(key) kept changing while the listing index "
            + "followed a deletion; retry")
    }

    /// How many times ``reindex(afterDeleting:bucket:key:jurisdiction:)`` follows deletions that ran meanwhile.
    static let reindexRounds = 4

    /// The newest manifest of a key (tombstones included) among every node of `jurisdiction`, each of them answering:
    /// the exact state an index entry is set back to (the preferred replicas agreeing is not enough here, since a
    /// version's deletion may have reached a substitute alone).
    func newestEverywhere(_ jurisdiction: Jurisdiction, bucket: String, key: String) async throws -> ObjectManifest? {
        let answers = await fetchManifests(try all(jurisdiction), jurisdiction, bucket: bucket, key: key)
        guard answers.allSatisfy({ !$0.answer.isFailure }) else {
            throw ObjectServiceError.serviceUnavailable("a storage node of \(jurisdiction) did not answer")
        }
        return answers.compactMap(\.answer.manifest).max { $1.isNewer(than: $0) }
    }

    /// Applies `edit` on the bucket's index replicas: on at least one (a merge: a listing reads them all), or on
    /// every one (`everyReplica`: a set-back, which the others' newer entry would otherwise outvote).
    private func edit(_ edit: IndexEdit, bucket: String, jurisdiction: Jurisdiction, everyReplica: Bool = false)
        async throws {
        let replicas = indexReplicas(jurisdiction, bucket: bucket)
        try indexEdited(bucket: bucket, jurisdiction: jurisdiction, replicas: replicas,
                        failed: await commit(.index(jurisdiction, [edit]), on: replicas), everyReplica: everyReplica)
    }

    /// Counts and logs the index `replicas` that missed an edit (`failed`); throws (503) unless at least one took it,
    /// or every one (`everyReplica`).
    func indexEdited(bucket: String, jurisdiction: Jurisdiction, replicas: [any StorageNodeClient],
                     failed: [any StorageNodeClient], everyReplica: Bool = false) throws {
        if !failed.isEmpty {
            Counter(label: "qantara_index_edits_failed_total", dimensions: [("jurisdiction", jurisdiction.code)])
                .increment(by: failed.count)
            logger.warning("a listing index replica missed an edit; the rebalance pass repairs it", metadata: [
                "bucket": "\(bucket)", "nodes": "\(failed.map(\.nodeID.rawValue).joined(separator: ","))"])
        }
        guard failed.count < replicas.count, !everyReplica || failed.isEmpty else {
            throw ObjectServiceError.serviceUnavailable("the listing index of bucket \(bucket) in \(jurisdiction) "
                + "did not take the change (index replicas \(replicas.map(\.nodeID.rawValue).joined(separator: ", ")); "
                + "\(failed.count) failed)")
        }
    }
}
