import Foundation
import ObjectModel
@testable import ObjectService
import Placement
import StorageNode
import XCTest

/// Anti-entropy by summaries: a rebalance pass over nodes that agree reads their summaries and nothing else, and
/// what one node lost (a version, an index entry) is found by its partition and put back, reading that partition
/// only.
final class AntiEntropyTests: XCTestCase {
    var harness: Harness!
    let ma = Jurisdiction("MA")!
    let fast = RebalancePace.immediate

    override func setUp() async throws {
        harness = try await Harness()
        _ = try await harness.service.createBucket(harness.principal("MA"), "records", location: "MA")
        for key in keys { try await harness.put("MA", "records", key, Array(key.utf8)) }
    }

    override func tearDown() async throws { try await harness.close() }

    let keys = (0..<60).map { String(format: "k%03d", $0) }

    func pass() async -> RebalanceTally { await harness.store.rebalance(ma, buckets: ["records"], pace: fast) }

    var replicas: Int { harness.store.topology.replicas(of: ma) }

    func preferred(_ key: String) -> [LocalStorageNode] {
        harness.store.topology.preferred(ma, bucket: "records", key: key).map { harness.node($0.rawValue) }
    }

    /// The keys of `records` sharing `key`'s partition.
    func partitionPeers(of key: String) -> [String] {
        keys.filter { KeyPartition.of(Array($0.utf8)) == KeyPartition.of(Array(key.utf8)) }
    }

    func testAPassOverNodesThatAgreeReadsOnlyTheirSummaries() async throws {
        let tally = await pass()
        XCTAssertEqual(tally.failed, 0)
        XCTAssertEqual(tally.scanned, 0, "no version looked at")
        XCTAssertEqual(tally.partitionsRead, 0)
        XCTAssertEqual(tally.summarized, keys.count * replicas, "each node's summary vouches for its versions")
        XCTAssertEqual(tally.copied + tally.dropped + tally.reindexed, 0)
    }

    func testAVersionOneReplicaLostIsCopiedBackReadingItsPartitionOnly() async throws {
        let key = "k017"
        let (lost, keeper) = (preferred(key)[0], preferred(key)[1])
        let manifest = try await XCTUnwrapAsync(try await lost.manifest(ma, bucket: "records", key: key))
        // The copy vanishes from one replica (a disk restored from an older backup), behind the gateway's back.
        _ = try await lost.deleteVersion(ma, bucket: "records", key: key, version: manifest.versionID,
                                         sequence: manifest.sequence,
                                         check: LockCheck(nowMillis: 0, bypassGovernance: false, relocating: true))
        let tally = await pass()
        XCTAssertEqual(tally.failed, 0)
        XCTAssertEqual(tally.copied, 1)
        XCTAssertEqual(tally.partitionsRead, 3, "one partition, on the two nodes that disagree, then against the index")
        // The versions looked at are those the two nodes hold in that partition, not the jurisdiction's.
        let shared = partitionPeers(of: key).filter {
            let ids = Set(preferred($0).map(\.nodeID))
            return ids.contains(lost.nodeID) && ids.contains(keeper.nodeID)
        }
        XCTAssertLessThanOrEqual(tally.scanned, 2 * partitionPeers(of: key).count)
        XCTAssertGreaterThanOrEqual(tally.scanned, 2 * shared.count - 1)
        XCTAssertLessThan(tally.scanned, keys.count)
        let restored = try await lost.manifest(ma, bucket: "records", key: key)
        XCTAssertEqual(restored?.versionID, manifest.versionID)
        let read = try await harness.get("MA", "records", key)
        XCTAssertEqual(read, Array(key.utf8))
        let again = await pass()
        XCTAssertEqual(again.scanned + again.copied + again.failed + again.partitionsRead, 0)
    }

    func testAnOverwriteOneReplicaMissedIsBroughtToIt() async throws {
        let key = "k023"
        let (stale, _) = (preferred(key)[0], preferred(key)[1])
        let old = try await XCTUnwrapAsync(try await stale.manifest(ma, bucket: "records", key: key))
        try await harness.put("MA", "records", key, Array("newer".utf8))
        let newer = try await XCTUnwrapAsync(try await stale.manifest(ma, bucket: "records", key: key))
        // The replica goes back to the old version (its newer one lost), as a node restored from a backup would.
        _ = try await stale.deleteVersion(ma, bucket: "records", key: key, version: newer.versionID,
                                          sequence: newer.sequence,
                                          check: LockCheck(nowMillis: 0, bypassGovernance: false, relocating: true))
        _ = try await stale.commit(ma, manifest: old)
        let restored = try await stale.manifest(ma, bucket: "records", key: key)
        XCTAssertEqual(restored?.versionID, old.versionID)
        let tally = await pass()
        XCTAssertEqual(tally.failed, 0)
        XCTAssertEqual(tally.copied, 1)
        let repaired = try await stale.manifest(ma, bucket: "records", key: key)
        XCTAssertEqual(repaired?.versionID, newer.versionID)
    }

    func testALostIndexEntryAndAPhantomOneAreFoundByTheirPartitions() async throws {
        let ids = harness.store.topology.indexReplicas(ma, bucket: "records")
        let index = harness.node(ids[0].rawValue)
        let found = try await index.list(ma, bucket: "records", prefix: Array("k031".utf8), from: [], limit: 1,
                                         space: .index)
        let entry = try XCTUnwrap(found.first)
        _ = try await index.apply(.index(ma, [.replace(bucket: "records", key: "k031", expected: VersionMark(entry),
                                                        with: nil)]))
        // An entry of a tombstone no node holds (its collection's index edit was lost).
        var phantom = entry
        phantom.key = "gone"
        phantom.isTombstone = true
        phantom.sequence += 1_000
        _ = try await index.apply(.index(ma, [.merge(phantom)]))
        let tally = await pass()
        XCTAssertEqual(tally.failed, 0)
        XCTAssertEqual(tally.reindexed, 2)
        let suspects = Set(["k031", "gone"].map { KeyPartition.of(Array($0.utf8)) })
        XCTAssertEqual(tally.partitionsRead, suspects.count, "no data partition differs; the index is read on two")
        XCTAssertLessThanOrEqual(tally.scanned, 2, "only the two keys the index disagrees on are read again")
        let listed = try await index.list(ma, bucket: "records", prefix: [], from: [], limit: 1000, space: .index)
        XCTAssertEqual(listed.map(\.key), keys)
        let again = await pass()
        XCTAssertEqual(again.reindexed + again.scanned + again.failed, 0)
    }

    func testAnExtraCopyIsDroppedAndAnOldTombstoneCollectedReadingTheirPartitionsOnly() async throws {
        // A copy on a node placement does not name (a substitute's, during an outage).
        let key = "k042"
        let preferredIDs = Set(preferred(key).map(\.nodeID))
        let stray = try XCTUnwrap(try harness.store.all(ma).first { !preferredIDs.contains($0.nodeID) })
        let manifest = try await XCTUnwrapAsync(try await preferred(key)[0].manifest(ma, bucket: "records", key: key))
        try await harness.store.copy(manifest, from: [preferred(key)[0]], to: stray, requester: "test")
        var tally = await pass()
        XCTAssertEqual(tally.failed, 0)
        XCTAssertEqual(tally.dropped, 1)
        XCTAssertEqual(tally.partitionsRead, 1, "the stray copy's partition, on its node")
        XCTAssertLessThan(tally.scanned, keys.count)
        let left = try await stray.manifest(ma, bucket: "records", key: key)
        XCTAssertNil(left)
        // A deletion's tombstone, once past its grace, is collected by walking its partition on its nodes.
        _ = try await harness.service.deleteObject(harness.principal("MA"), "records", "k050")
        // Past its grace of 0 ms: modified before the pass's time, not in the same millisecond.
        try await Task.sleep(for: .milliseconds(3))
        tally = await harness.store.rebalance(ma, buckets: ["records"], pace: RebalancePace(
            bytesPerSecond: 1 << 40, tombstoneGraceMillis: 0, summarySettleMillis: 0))
        XCTAssertEqual(tally.failed, 0)
        XCTAssertEqual(tally.collected, 1)
        XCTAssertLessThanOrEqual(tally.partitionsRead, replicas + 1, "its partition on its nodes, and on the index")
        XCTAssertLessThan(tally.scanned, keys.count)
        for node in try harness.store.all(ma) {
            let held = try await node.manifest(ma, bucket: "records", key: "k050")
            XCTAssertNil(held, "\(node.nodeID)")
        }
    }

    func testTheLatestWritesWaitForTheNextPassOnceTheJurisdictionIsSettled() async throws {
        XCTAssertTrue(harness.store.topology.usesListingIndex(ma))
        let key = "k005"
        let lost = preferred(key)[0]
        let manifest = try await XCTUnwrapAsync(try await lost.manifest(ma, bucket: "records", key: key))
        _ = try await lost.deleteVersion(ma, bucket: "records", key: key, version: manifest.versionID,
                                         sequence: manifest.sequence,
                                         check: LockCheck(nowMillis: 0, bypassGovernance: false, relocating: true))
        // Written a moment ago: a routine pass leaves it out of the sums (writes may still be reaching their
        // replicas), so nothing differs and nothing is read.
        let routine = RebalancePace(bytesPerSecond: 1 << 40, tombstoneGraceMillis: 86_400_000)
        var tally = await harness.store.rebalance(ma, buckets: ["records"], pace: routine)
        XCTAssertEqual(tally.partitionsRead + tally.copied + tally.failed, 0)
        XCTAssertEqual(tally.summarized, keys.count * replicas - 1)
        // Once it is older than the settling time, the pass compares it and copies it back.
        tally = await harness.store.rebalance(ma, buckets: ["records"], pace: RebalancePace(
            bytesPerSecond: 1 << 40, tombstoneGraceMillis: 86_400_000, summarySettleMillis: 1))
        XCTAssertEqual(tally.copied, 1)
        let restored = try await lost.manifest(ma, bucket: "records", key: key)
        XCTAssertEqual(restored?.versionID, manifest.versionID)
    }
}
