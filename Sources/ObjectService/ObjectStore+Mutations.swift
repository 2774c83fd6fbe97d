import Envelope
import ObjectModel
import SigV4
import StorageNode
import Synchronization

extension ObjectStore {
    /// Starts a PUT of `key` into `bucket`, pinned to `jurisdiction`, served by a gateway in `gateway` (the
    /// bucket's jurisdiction when nil; a write from elsewhere gets its own bucket key, see ``ObjectCrypto``).
    func writer(_ jurisdiction: Jurisdiction, tenant: String, bucket: String, key: String,
                       metadata: ObjectMetadata, condition: WriteCondition? = nil,
                       expectations: PayloadExpectations, gateway: Jurisdiction? = nil,
                       operation: String = "PutObject", caller: [String: String] = [:]) async throws -> ObjectWriter {
        // Tags live only in sealed metadata: the benchmark build's plaintext setting has none to keep them in.
        guard crypto.settings.enabled || metadata.tags.isEmpty else {
            throw ObjectServiceError.invalidRequest("objects stored without encryption (a benchmark build's plaintext "
                + "setting) cannot carry tags")
        }
        let version = VersionID.random()
        let binding = ObjectBinding(jurisdiction: jurisdiction, tenant: tenant, bucket: bucket, key: key, version: version)
        let writer = try ObjectWriter(store: self, jurisdiction: jurisdiction, bucket: bucket, key: key,
                                      target: .object(metadata, condition: condition), expectations: expectations,
                                      version: version,
                                      cipher: try await crypto.newObject(binding, operation: operation,
                                                                         gateway: gateway, caller: caller))
        writer.placementDetails = caller
        return writer
    }

    /// Commits a new object version (sequence assigned here) on `targets`; with a condition, checks it against the
    /// newest version first, under a per-key lock so conditional writes through this gateway serialise.
    /// Returns what the commit did (``CommitReport``) and the committed manifest.
    func commitObject(_ manifest: ObjectManifest, on targets: [any StorageNodeClient], jurisdiction: Jurisdiction,
                      condition: WriteCondition?, completing upload: VersionID? = nil, inline: [UInt8]? = nil)
        async throws -> (CommitReport, ObjectManifest)
    {
        guard let condition else {
            let windowKey = ConditionalWindows.key(manifest.bucket, manifest.key)
            conditionalWindows.beginPlainWrite(windowKey)
            defer { conditionalWindows.endPlainWrite(windowKey) }
            var manifest = manifest
            manifest.sequence = clock.nextSequence()
            policy(manifest.bucket).apply(to: &manifest, nowMillis: clock.nowMillis())
            return (await commit(manifest, on: targets, jurisdiction: jurisdiction, completing: upload, inline: inline),
                    manifest)
        }
        let lockKey = "\(manifest.bucket)\u{0}\(manifest.key)"
        let windowKey = ConditionalWindows.key(manifest.bucket, manifest.key)
        await keyLocks.lock(lockKey)
        conditionalWindows.openWindow(windowKey)
        var windowOpen = true
        do {
            let current = try await locate(jurisdiction, bucket: manifest.bucket, key: manifest.key)
            switch condition {
            case .absent:
                if current != nil { throw ObjectServiceError.preconditionFailed("If-None-Match") }
            case .etagMatches(let etags):
                guard let current else { throw ObjectServiceError.noSuchKey(bucket: manifest.bucket, key: manifest.key) }
                guard ReadConditions.matches(etags, current.manifest.etag) else {
                    throw ObjectServiceError.preconditionFailed("If-Match")
                }
            }
            var manifest = manifest
            manifest.sequence = clock.nextSequence()
            policy(manifest.bucket).apply(to: &manifest, nowMillis: clock.nowMillis())
            windowOpen = false
            guard !conditionalWindows.closeWindow(windowKey) else {
                throw ObjectServiceError.conditionalRequestConflict
            }
            let report = await commit(manifest, on: targets, jurisdiction: jurisdiction, completing: upload,
                                      inline: inline)
            await keyLocks.unlock(lockKey)
            return (report, manifest)
        } catch {
            if windowOpen { _ = conditionalWindows.closeWindow(windowKey) }
            await keyLocks.unlock(lockKey)
            throw error
        }
    }

    /// Commits a part record on every target; returns the targets that failed.
    func commitPart(_ record: PartRecord, upload: VersionID, on targets: [any StorageNodeClient],
                    jurisdiction: Jurisdiction) async -> [any StorageNodeClient] {
        await commit(.commitPart(jurisdiction, upload: upload, record: record), on: targets)
    }

    /// Commits `manifest` on every target and tells the bucket's listing index, in one synced round (every change
    /// sent at once, one suspension for all): the one door of every version a client writes or deletes (PUT, copy,
    /// multipart completion, delete). A target that is also an index replica of the bucket merges the version into
    /// its index in the same durable batch as the manifest; the other index replicas get an edit of their own. Every
    /// target records an index intent in its batch (which the intent drain delivers seconds later, so what the edits
    /// missed is listed then: an edit set back meanwhile, a gateway placing by an older topology). When no target
    /// took the version, the index entry is set back to what the nodes hold newest (or, when they cannot all say,
    /// left for the next rebalance pass to set right).
    func commit(_ manifest: ObjectManifest, on targets: [any StorageNodeClient], jurisdiction: Jurisdiction,
                completing upload: VersionID? = nil, inline: [UInt8]? = nil) async -> CommitReport
    {
        let indexNodes = indexReplicas(jurisdiction, bucket: manifest.bucket)
        var nodes = targets, changes = [NodeChange]()
        for target in targets {
            let indexes = indexNodes.contains { $0.nodeID == target.nodeID }
            changes.append(.commit(jurisdiction, manifest: manifest, completing: upload, inlineSegment: inline,
                                   intent: true, index: indexes))
        }
        for node in indexNodes where !targets.contains(where: { $0.nodeID == node.nodeID }) {
            nodes.append(node)
            changes.append(.index(jurisdiction, [.merge(manifest)]))
        }
        let failed = await commit(changes, on: nodes)
        let failedTargets = targets.indices.filter { failed[$0] }.map { targets[$0] }
        let failedIndexes = nodes.indices.filter { position in
            failed[position] && indexNodes.contains { $0.nodeID == nodes[position].nodeID }
        }.map { nodes[$0] }
        var report = CommitReport(failed: failedTargets)
        do {
            try indexEdited(bucket: manifest.bucket, jurisdiction: jurisdiction, replicas: indexNodes,
                            failed: failedIndexes)
        } catch {
            report.unindexed = error as? ObjectServiceError
                ?? .serviceUnavailable("the listing index did not take the version: \(error)")
        }
        guard failedTargets.count < targets.count else {
            if report.unindexed == nil {
                // A target whose answer was lost after it committed holds the version: the entry then stays.
                try? await reindex(afterDeleting: VersionMark(manifest), bucket: manifest.bucket, key: manifest.key,
                                   jurisdiction: jurisdiction)
            }
            report.unindexed = nil
            return report
        }
        return report
    }

    /// Commits `change` on every target; returns the targets that failed.
    func commit(_ change: NodeChange, on targets: [any StorageNodeClient]) async -> [any StorageNodeClient] {
        let failed = await commit([NodeChange](repeating: change, count: targets.count), on: targets)
        return zip(targets, failed).filter(\.1).map(\.0)
    }

    /// Commits `changes[i]` on `targets[i]`, all at once; returns which failed, in order. One suspension for all the
    /// nodes, resumed by the last to answer: no task per node.
    func commit(_ changes: [NodeChange], on targets: [any StorageNodeClient]) async -> [Bool] {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<[Bool], Never>) in
            let answers = FanIn(count: targets.count, continuation)
            for (position, target) in targets.enumerated() {
                target.startCommit(changes[position]) { answers.record(position, failed: (try? $0.get()) == nil) }
            }
        }
    }

    /// Runs `body` on every item in parallel; returns the positions of the items on which it threw, in order.
    static func failedPositions<Item: Sendable>(_ items: [Item],
                                                _ body: @escaping @Sendable (Item) async throws -> Void) async -> [Int] {
        await withTaskGroup(of: Int?.self) { group in
            for (position, item) in items.enumerated() {
                group.addTask {
                    do {
                        try await body(item)
                        return nil
                    } catch {
                        return position
                    }
                }
            }
            var failed = [Int]()
            for await position in group { if let position { failed.append(position) } }
            return failed.sorted()
        }
    }

    /// Deletes a key: writes a tombstone, newer than any copy, to every node holding the key and to the R preferred
    /// available nodes, so a replica that missed the delete cannot bring the object back. Deleting a missing key
    /// succeeds, as in S3. In a versioned bucket the tombstone is a delete marker, written whatever the key holds,
    /// and returned.
    @discardableResult
    func delete(_ jurisdiction: Jurisdiction, bucket: String, key: String, evenIfMissing: Bool = false,
                caller: [String: String] = [:]) async throws -> ObjectManifest? {
        let policy = policy(bucket)
        let ranking = try ranked(jurisdiction, bucket: bucket, key: key)
        var holders = [any StorageNodeClient]()
        var reachable = [any StorageNodeClient]()
        var live = false
        var newest: ObjectManifest?
        for (client, answer) in await fetchManifests(ranking, jurisdiction, bucket: bucket, key: key) {
            guard !answer.isFailure else { continue }
            reachable.append(client)
            if let manifest = answer.manifest {
                holders.append(client)
                if !manifest.isTombstone { live = true }
                if newest.map({ manifest.isNewer(than: $0) }) ?? true { newest = manifest }
            }
        }
        guard reachable.count >= readQuorum(jurisdiction, ranking.count) else {
            throw ObjectServiceError.serviceUnavailable("too few storage nodes of \(jurisdiction) answered")
        }
        // Nothing to delete only when every node answered: one that did not may hold a write in doubt (committed on
        // it alone, a replica short), which would come back after this deletion unless a tombstone supersedes it.
        guard live || evenIfMissing || policy.versioning != nil || reachable.count < ranking.count else {
            // Nothing to delete, but a deletion whose index edit failed may be retried here: its tombstone goes to
            // the index before the deletion is acknowledged.
            if let newest { try await index(newest, jurisdiction: jurisdiction) }
            return nil
        }
        var targets = holders
        for client in reachable.prefix(replicas(jurisdiction))
        where !targets.contains(where: { $0.nodeID == client.nodeID }) {
            targets.append(client)
        }
        let windowKey = ConditionalWindows.key(bucket, key)
        conditionalWindows.beginPlainWrite(windowKey)
        defer { conditionalWindows.endPlainWrite(windowKey) }
        var tombstone = ObjectManifest(bucket: bucket, key: key, versionID: .random(), sequence: clock.nextSequence(),
                                       isTombstone: true, lastModifiedMillis: clock.nowMillis())
        policy.apply(to: &tombstone, nowMillis: clock.nowMillis())
        let report = await commit(tombstone, on: targets, jurisdiction: jurisdiction)
        let failed = report.failed
        if failed.count < targets.count {
            try await recordPlacement(jurisdiction, PlacementEvent(
                operation: .delete, bucket: bucket, key: key, version: tombstone.versionID,
                nodes: targets.map(\.nodeID), storedDigest: nil, sizeBytes: 0, details: caller).failing(on: failed))
        }
        guard failed.isEmpty else {
            throw ObjectServiceError.serviceUnavailable("delete failed on storage node "
                + failed.map(\.nodeID.rawValue).joined(separator: ", "))
        }
        try report.acknowledge()
        return tombstone.isDeleteMarker ? tombstone : nil
    }

    /// Removes every stored byte of a bucket from its jurisdiction's nodes. All of them must be online, so no
    /// node keeps data of a bucket that no longer exists.
    func purgeBucket(_ jurisdiction: Jurisdiction, bucket: String) async throws {
        let clients = try all(jurisdiction)
        if let down = clients.first(where: { !$0.isLikelyAvailable }) {
            throw ObjectServiceError.serviceUnavailable("storage node \(down.nodeID) is unavailable; "
                + "a bucket can be deleted only while every node of \(jurisdiction) is online")
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in clients {
                group.addTask { try await client.purge(jurisdiction, bucket: bucket) }
            }
            try await group.waitForAll()
        }
    }
}

/// What committing a version did: the targets that failed, and why the bucket's listing index did not take it, if
/// it did not. The version is then durable on the targets that committed (its placement events are written) but must
/// not be acknowledged: ``acknowledge()`` throws.
struct CommitReport {
    var failed: [any StorageNodeClient]
    var unindexed: ObjectServiceError?

    /// Throws when the index did not take the version (503): call once its placement events are written.
    func acknowledge() throws {
        if let unindexed { throw unindexed }
    }
}

/// Gathers whether each of `count` concurrent calls failed, and resumes a continuation once all have answered.
private final class FanIn: Sendable {
    private let state: Mutex<(failed: [Bool], left: Int)>
    private let continuation: UnsafeContinuation<[Bool], Never>

    init(count: Int, _ continuation: UnsafeContinuation<[Bool], Never>) {
        state = Mutex((failed: [Bool](repeating: false, count: count), left: count))
        self.continuation = continuation
        if count == 0 { continuation.resume(returning: []) }
    }

    func record(_ position: Int, failed: Bool) {
        let done = state.withLock { state -> [Bool]? in
            state.failed[position] = failed
            state.left -= 1
            return state.left == 0 ? state.failed : nil
        }
        if let done { continuation.resume(returning: done) }
    }
}
