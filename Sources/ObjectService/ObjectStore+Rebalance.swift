import Foundation
import ObjectModel
import Placement
import StorageNode

/// How a rebalance pass runs.
struct RebalancePace: Sendable {
    /// Stored bytes copied per second at most, so that foreground traffic keeps its throughput.
    var bytesPerSecond: Int64
    /// A tombstone is collected once it is this old (and every node of its jurisdiction answers).
    var tombstoneGraceMillis: Int64
    /// In a pass that follows no placement change, versions written this long before a bucket's summaries are asked,
    /// or later, are left out of them (they may still be reaching their replicas, and nodes summarised a moment
    /// apart would disagree on every write made in between); the next pass compares them.
    var summarySettleMillis: Int64 = 10_000
}

extension ObjectStore {
    /// One pass over what the nodes of `jurisdiction` hold in `buckets`: the anti-entropy that follows a topology
    /// change or a node's return, and the collector of what is no longer needed. Each node first summarises each
    /// bucket (``RebalancePass/sweep(_:nodes:)``), and only what summaries disagree on is looked at. For every version
    /// looked at:
    /// - each node placement names for its key (the first R of the ranking) that lacks it gets a copy (segments,
    ///   then manifest), so new nodes fill, a raised replication factor is met, and a node back from an outage gets
    ///   what it missed (a newer version, a tombstone, an older version of a versioned key);
    /// - a node placement does not name drops its copy once every named node holds the version (or, in a bucket
    ///   without versioning, something newer), so draining nodes empty and substitutes' extra copies go; a key's
    ///   versions are dropped oldest first, and a newer one only once every older one was, so a node never shows an
    ///   older version as its current one;
    /// - a plain tombstone older than the grace period is removed from every node once every node of the
    ///   jurisdiction answers that it holds that tombstone or nothing of the key.
    /// Nothing leaves the jurisdiction: sources and targets are its nodes. Moves are placement events in its log.
    /// The pass places by the topology it started with; before removing anything it checks that this is still the
    /// deployment's (`storedEpoch`: the placement epoch the control plane holds now), and ends (a failure, retried)
    /// when it is not, so two gateways that see different topologies never both drop a version's copies.
    /// `progress` is called after each version with the tally so far.
    func rebalance(_ jurisdiction: Jurisdiction, buckets: [String], pace: RebalancePace,
                   storedEpoch: (@Sendable () async -> Int?)? = nil,
                   progress: @escaping @Sendable (RebalanceTally) -> Void = { _ in }) async -> RebalanceTally {
        let placement = topology
        let local: @Sendable () async -> Int? = { [self] in topology.placementEpoch }
        var pass = RebalancePass(store: self, jurisdiction: jurisdiction, placement: placement, pace: pace,
                                 storedEpoch: storedEpoch ?? local, progress: progress)
        var reachable = [any StorageNodeClient]()
        for node in (try? all(jurisdiction)) ?? [] {
            if node.isLikelyAvailable ? true : await node.ping() {
                reachable.append(node)
            } else {
                pass.tally.failed += 1
            }
        }
        for bucket in buckets {
            guard !Task.isCancelled, !pass.stale else { return pass.tally }
            await pass.sweep(bucket, nodes: reachable)
        }
        if pass.tally != RebalanceTally() {
            logger.info("rebalance pass finished", metadata: [
                "jurisdiction": "\(jurisdiction)", "copied": "\(pass.tally.copied)", "dropped": "\(pass.tally.dropped)",
                "collected": "\(pass.tally.collected)", "failed": "\(pass.tally.failed)"])
        }
        return pass.tally
    }

    /// Copies a version's segments from `sources` to `target`, commits its manifest there, and records the
    /// placement; returns the stored bytes copied.
    @discardableResult
    func copy(_ manifest: ObjectManifest, from sources: [any StorageNodeClient], to target: any StorageNodeClient,
              requester: String) async throws -> Int64 {
        let jurisdiction = target.jurisdiction
        var bytes: Int64 = 0
        for extent in manifest.extents {
            // One upload stream per extent; each segment from the first source that serves it.
            let upload = target.openSegmentUpload(jurisdiction, bucket: manifest.bucket, key: manifest.key,
                                                  version: extent.versionID)
            do {
                for index in 0..<UInt32(extent.segmentCount) {
                    var segment: [UInt8]?
                    for source in sources where source.nodeID != target.nodeID {
                        segment = try? await source.readSegment(jurisdiction, version: extent.versionID, index: index) {
                            Array($0)
                        }
                        if segment != nil { break }
                    }
                    guard let segment else {
                        throw NodeError.missingSegment(node: target.nodeID, version: extent.versionID.description,
                                                       index: index)
                    }
                    try await upload.write(index: index, bytes: segment)
                    bytes += Int64(segment.count)
                }
                try await upload.finish()
            } catch {
                try? await target.abort(jurisdiction, version: extent.versionID)
                throw error
            }
        }
        _ = try await target.commit(jurisdiction, manifest: manifest)
        try await reconcile(manifest, copiedTo: target, from: sources)
        try await recordPlacement(jurisdiction, PlacementEvent(
            operation: manifest.isTombstone && !manifest.isDeleteMarker ? .delete : .repair, bucket: manifest.bucket,
            key: manifest.key, version: manifest.versionID,
            nodes: sources.map(\.nodeID).filter { $0 != target.nodeID } + [target.nodeID],
            storedDigest: manifest.storedDigest, sizeBytes: manifest.sizeBytes,
            details: ["repaired": target.nodeID.rawValue, "requester": requester]))
        return bytes
    }
}

extension ObjectStore {
    /// After a copy of a version of a versioned key: a permanent deletion or a lock change that ran while it
    /// travelled never reached the new copy, so the copy follows the source (removed when the source no longer holds
    /// the version, its lock set to the source's when they differ).
    fileprivate func reconcile(_ manifest: ObjectManifest, copiedTo target: any StorageNodeClient,
                               from sources: [any StorageNodeClient]) async throws {
        guard manifest.isListedVersion, manifest.keepsHistory,
              let source = sources.first(where: { $0.nodeID != target.nodeID }) else { return }
        let jurisdiction = target.jurisdiction
        let selector = VersionSelector.id(manifest.versionID, sequence: manifest.sequence)
        let now = try await source.version(jurisdiction, bucket: manifest.bucket, key: manifest.key, selector: selector)
        guard let now else {
            _ = try await target.deleteVersion(
                jurisdiction, bucket: manifest.bucket, key: manifest.key, version: manifest.versionID,
                sequence: manifest.sequence,
                check: LockCheck(nowMillis: clock.nowMillis(), bypassGovernance: false, relocating: true))
            throw ObjectServiceError.serviceUnavailable("the version was deleted while it was copied")
        }
        if now.lock != manifest.lock {
            _ = try await target.replaceLock(jurisdiction, bucket: manifest.bucket, key: manifest.key,
                                             version: manifest.versionID, sequence: manifest.sequence,
                                             expected: manifest.lock, lock: now.lock)
        }
    }
}

/// The state of one rebalance pass over one jurisdiction (see ``ObjectStore/rebalance(_:buckets:pace:progress:)``).
struct RebalancePass {
    let store: ObjectStore
    let jurisdiction: Jurisdiction
    /// The topology the pass places by, from its start.
    let placement: Topology
    let pace: RebalancePace
    let storedEpoch: @Sendable () async -> Int?
    let progress: @Sendable (RebalanceTally) -> Void
    var tally = RebalanceTally()
    /// Set once the deployment's topology is no longer the pass's: it stops.
    private(set) var stale = false
    private var checkedAt: ContinuousClock.Instant?
    private let started = ContinuousClock.now
    /// The index replicas of each bucket by the pass's topology.
    var indexReplicas = [String: [NodeID]]()
    /// A key's versions on the node being walked, newest first, and whether each may be dropped there.
    private var group: [(manifest: ObjectManifest, droppable: Bool)] = []

    /// The most versions of one key whose drops are decided together; a key with more keeps its copies this pass.
    static let groupMax = 10_000

    init(store: ObjectStore, jurisdiction: Jurisdiction, placement: Topology, pace: RebalancePace,
         storedEpoch: @escaping @Sendable () async -> Int?, progress: @escaping @Sendable (RebalanceTally) -> Void) {
        self.store = store
        self.jurisdiction = jurisdiction
        self.placement = placement
        self.pace = pace
        self.storedEpoch = storedEpoch
        self.progress = progress
    }

    /// The preferred replicas of a key, by the pass's topology.
    func preferred(_ bucket: String, _ key: String) -> ArraySlice<NodeID> {
        placement.preferred(jurisdiction, bucket: bucket, key: key)
    }

    /// Whether the pass may remove copies: the deployment still places by its topology (asked of the control plane
    /// at most once a second, and of this gateway every time).
    mutating func current() async -> Bool {
        guard !stale else { return false }
        let epoch = placement.placementEpoch
        if store.topology.placementEpoch != epoch { stale = true }
        if !stale, checkedAt.map({ ContinuousClock.now - $0 >= .seconds(1) }) ?? true {
            checkedAt = .now
            if await storedEpoch() != epoch { stale = true }
        }
        if stale {
            tally.failed += 1
            store.logger.notice("the topology changed during a rebalance pass; it stops, and the next pass follows the new one", metadata: ["jurisdiction": "\(jurisdiction)"])
        }
        return !stale
    }

    /// Every version `node` holds in `bucket` whose key falls in `partitions` (all of them: the node walked whole),
    /// plain tombstones included, in listing order: each is placed; a node placement does not name drops what its
    /// preferred replicas hold; old plain tombstones are collected.
    mutating func walk(_ node: any StorageNodeClient, bucket: String, partitions: KeyPartitions) async {
        let versioned = store.policy(bucket).versioning != nil
        tally.partitionsRead += partitions.count
        var position = VersionPosition(key: [])
        defer { group.removeAll(keepingCapacity: true) }
        while !Task.isCancelled, !stale {
            guard let batch = try? await node.listPartitions(jurisdiction, bucket: bucket, space: .versions,
                                                             partitions: partitions, from: position,
                                                             limit: Limits.listBatchPerNode) else {
                tally.failed += 1
                return
            }
            for manifest in batch.versions {
                if let last = group.last, !last.manifest.key.utf8.elementsEqual(manifest.key.utf8) { await settle(node) }
                let covered = await place(manifest, held: node, versioned: versioned)
                if manifest.isTombstone, !manifest.isListedVersion {
                    // A plain tombstone is its key's only record: dropped where placement does not name the node,
                    // collected (once old enough) where it does.
                    if !preferred(bucket, manifest.key).contains(node.nodeID) {
                        if covered { await drop(manifest, from: node) }
                    } else if !versioned {
                        await collect(manifest)
                    }
                } else if group.count <= Self.groupMax {
                    // A key with more versions than a group holds keeps its copies on this node this pass.
                    group.append((manifest, covered))
                }
            }
            guard let next = batch.next else { break }
            position = next
        }
        await settle(node)
    }

    /// Makes sure every node placement names for `manifest`'s key holds it; returns whether they all do (or, without
    /// versioning, hold something newer), so `holder` may drop its copy if placement does not name it.
    mutating func place(_ manifest: ObjectManifest, held holder: any StorageNodeClient,
                        versioned: Bool) async -> Bool {
        tally.scanned += 1
        defer { progress(tally) }
        await throttle()
        var covered = true
        for id in preferred(manifest.bucket, manifest.key) where id != holder.nodeID {
            guard let target = store.client(id), target.isLikelyAvailable else {
                covered = false
                tally.failed += 1
                continue
            }
            do {
                if try await Self.holds(target, manifest, versioned: versioned) { continue }
                let bytes = try await store.copy(manifest, from: [holder], to: target, requester: "rebalance")
                tally.copied += 1
                tally.bytesMoved += bytes
            } catch {
                covered = false
                tally.failed += 1
                store.logger.warning("a rebalance copy failed", metadata: [
                    "node": "\(id)", "bucket": "\(manifest.bucket)", "error": "\(error)"])
            }
        }
        return covered
    }

    /// Whether `node` holds `manifest`'s version, or (without versioning) a newer version of its key, which
    /// supersedes it there.
    static func holds(_ node: any StorageNodeClient, _ manifest: ObjectManifest, versioned: Bool) async throws -> Bool {
        let jurisdiction = node.jurisdiction
        if manifest.isListedVersion, try await node.version(
            jurisdiction, bucket: manifest.bucket, key: manifest.key,
            selector: .id(manifest.versionID, sequence: manifest.sequence)) != nil {
            return true
        }
        guard let current = try await node.manifest(jurisdiction, bucket: manifest.bucket, key: manifest.key) else {
            return false
        }
        if current.versionID == manifest.versionID { return true }
        return !versioned && current.isNewer(than: manifest)
    }

    /// Drops the walked key's versions from `node` where placement does not name it: oldest first, stopping at the
    /// first that must stay, so what remains there is the key's newest versions as the node had them.
    private mutating func settle(_ node: any StorageNodeClient) async {
        defer { group.removeAll(keepingCapacity: true) }
        guard let first = group.first, group.count <= Self.groupMax,
              !preferred(first.manifest.bucket, first.manifest.key).contains(node.nodeID) else { return }
        for entry in group.reversed() {
            guard entry.droppable, await drop(entry.manifest, from: node) else { return }
        }
    }

    /// Removes `node`'s copy of a version the nodes placement names hold; returns whether it is gone.
    @discardableResult
    private mutating func drop(_ manifest: ObjectManifest, from node: any StorageNodeClient) async -> Bool {
        guard await current() else { return false }
        do {
            let outcome = try await node.deleteVersion(
                jurisdiction, bucket: manifest.bucket, key: manifest.key, version: manifest.versionID,
                sequence: manifest.sequence,
                check: LockCheck(nowMillis: store.clock.nowMillis(), bypassGovernance: false, relocating: true))
            guard outcome == .committed else { return true }
            tally.dropped += 1
            let keepers = Array(preferred(manifest.bucket, manifest.key))
            try await store.recordPlacement(jurisdiction, PlacementEvent(
                operation: .drop, bucket: manifest.bucket, key: manifest.key, version: manifest.versionID,
                nodes: keepers, storedDigest: manifest.storedDigest, sizeBytes: manifest.sizeBytes,
                details: ["dropped": node.nodeID.rawValue, "requester": "rebalance"]))
            return true
        } catch {
            tally.failed += 1
            store.logger.warning("a rebalance drop failed", metadata: [
                "node": "\(node.nodeID)", "bucket": "\(manifest.bucket)", "error": "\(error)"])
            return false
        }
    }

    /// Removes a plain tombstone past its grace period from every node, if every node of the jurisdiction answers
    /// and none holds anything of its key but that tombstone (a node holding an older version keeps it, so the
    /// deletion is never undone).
    private mutating func collect(_ tombstone: ObjectManifest) async {
        guard store.clock.nowMillis() - tombstone.lastModifiedMillis >= pace.tombstoneGraceMillis,
              await current(), let nodes = try? store.all(jurisdiction) else { return }
        var holders = [any StorageNodeClient]()
        for node in nodes {
            guard node.isLikelyAvailable else { return }
            let held: ObjectManifest?
            do { held = try await node.manifest(jurisdiction, bucket: tombstone.bucket, key: tombstone.key) } catch {
                return
            }
            guard let held else { continue }
            guard held.versionID == tombstone.versionID else { return }
            holders.append(node)
        }
        var removed = [NodeID]()
        for node in holders {
            guard (try? await node.deleteVersion(
                jurisdiction, bucket: tombstone.bucket, key: tombstone.key, version: tombstone.versionID,
                sequence: tombstone.sequence, check: LockCheck(nowMillis: store.clock.nowMillis(),
                                                               bypassGovernance: false, relocating: true))) != nil
            else {
                tally.failed += 1
                continue
            }
            removed.append(node.nodeID)
        }
        guard !removed.isEmpty else { return }
        tally.collected += 1
        await unindex(tombstone)
        _ = try? await store.recordPlacement(jurisdiction, PlacementEvent(
            operation: .collect, bucket: tombstone.bucket, key: tombstone.key, version: tombstone.versionID,
            nodes: removed, storedDigest: nil, sizeBytes: 0, details: ["requester": "rebalance"]))
    }

    /// What looking at one version costs against the pace (its lookups on the other replicas), so that a pass that
    /// copies nothing still reads at a bounded rate.
    static let scanCostBytes: Int64 = 4096

    /// Waits so that the bytes copied and the versions looked at so far do not exceed the pace.
    func throttle() async {
        let spent = tally.bytesMoved + Int64(tally.scanned) * Self.scanCostBytes
        let due = Duration.seconds(Double(spent) / Double(max(1, pace.bytesPerSecond)))
        let elapsed = ContinuousClock.now - started
        if due > elapsed { try? await Task.sleep(for: due - elapsed) }
    }
}
