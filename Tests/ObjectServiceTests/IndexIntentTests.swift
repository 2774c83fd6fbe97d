import Foundation
import ObjectModel
@testable import ObjectService
import Placement
import StorageNode
import XCTest

/// Index intents: a write's or a permanent deletion's note to the listing index, durable in the same commit as the
/// manifest on each replica. What the index missed (its edit failed, or the gateway crashed before sending it) is
/// listed by the intent drain within seconds, without waiting for a rebalance pass; what it took is delivered again
/// as a no-op, and nothing the nodes no longer hold is listed again.
final class IndexIntentTests: XCTestCase {
    var harness: Harness!
    var faults: Faults!
    let ma = Jurisdiction("MA")!

    override func setUp() async throws {
        let faults = Faults(seed: 7)
        self.faults = faults
        harness = try await Harness(wrap: { FaultyNode($0, faults: faults) })
        _ = try await harness.service.createBucket(harness.principal("MA"), "records", location: "MA")
    }

    override func tearDown() async throws { try await harness.close() }

    var indexNodes: [NodeID] { harness.store.topology.indexReplicas(ma, bucket: "records") }

    /// How many replicas of `key` commit a write while the bucket's index replicas refuse index edits: those that
    /// are not index replicas (a node refusing them refuses a commit that carries one whole).
    func intentHolders(_ key: String) -> Int {
        harness.store.topology.preferred(ma, bucket: "records", key: key).filter { !indexNodes.contains($0) }.count
    }

    /// The entry each listing shows of `key` (nil: not listed).
    func listed(_ key: String) async throws -> ObjectManifest? {
        let page = try await harness.store.list(ma, bucket: "records", ListRequest(
            prefix: key, delimiter: nil, startAfter: nil, maxKeys: 10))
        XCTAssertTrue(page.fromIndex)
        return page.objects.first { $0.key == key }
    }

    /// A drain of MA. A read of a node's queue stamps later intents past its cutoff (with age 0, this millisecond), so
    /// an intent committed in the millisecond of an earlier read is seen a moment on: the drain waits that moment.
    func drain(olderThanMillis: Int64, resuming: [NodeID: [UInt8]] = [:], pagesMax: Int = .max) async
        -> IntentTally
    {
        try? await Task.sleep(for: .milliseconds(3))
        return await harness.store.drainIntents(ma, olderThanMillis: olderThanMillis, resuming: resuming,
                                                pagesMax: pagesMax)
    }

    /// Every intent the nodes of MA hold, however young.
    func intentsLeft() async throws -> [IndexIntent] {
        try await Task.sleep(for: .milliseconds(3))
        var all = [IndexIntent]()
        for id in harness.store.topology.nodes(of: ma)! {
            all += try await harness.node(id.rawValue).indexIntents(ma, from: [], olderThanMillis: 0, limit: 1000).intents
        }
        return all
    }

    func testAWriteTheIndexMissedIsListedByTheDrainWithoutAPass() async throws {
        // A key with a replica that is no index replica (the others, refusing index edits, refuse its commit whole).
        let orphan = try XCTUnwrap((0..<100).map { "orphan-\($0)" }.first { intentHolders($0) > 0 })
        let holders = intentHolders(orphan)
        faults.refusingIndexEdits = Set(indexNodes)
        do {
            try await harness.put("MA", "records", orphan, [7, 7, 7])
            XCTFail("a write no index replica kept was acknowledged")
        } catch ObjectServiceError.serviceUnavailable {}
        // While the index replicas still refuse, a drain keeps the intents, in place, for the next round.
        let refused = await drain(olderThanMillis: 0)
        XCTAssertEqual(refused.failed, holders)
        XCTAssertEqual(refused.delivered, 0)
        let kept = try await intentsLeft()
        XCTAssertEqual(kept.count, holders)
        faults.refusingIndexEdits = []
        let missing = try await listed(orphan)
        XCTAssertNil(missing, "the index never heard of it")
        // Too young: the gateway that wrote it may still be clearing it.
        let early = await drain(olderThanMillis: 3_600_000)
        XCTAssertEqual(early, IntentTally())
        let tally = await drain(olderThanMillis: 0)
        XCTAssertEqual(tally.delivered, holders, "one intent on each replica that took it")
        XCTAssertEqual(tally.failed, 0)
        let found = try await listed(orphan)
        XCTAssertEqual(found?.sizeBytes, 3)
        let left = try await intentsLeft()
        XCTAssertEqual(left, [], "delivered intents are cleared")
    }

    func testAcknowledgedChangesAreDeliveredAgainWithoutChangingTheListing() async throws {
        let caller = harness.principal("MA")
        try await harness.service.setBucketVersioning(caller, "records", .enabled)
        for index in 0..<20 { try await harness.put("MA", "records", "k\(index)", [UInt8(index)]) }
        let doomed = try await harness.put("MA", "records", "k3", [1, 2])
        _ = try await harness.service.deleteObjectVersion(caller, "records", "k3",
                                                          versionID: VersionName.name(doomed))
        try await harness.service.deleteObject(caller, "records", "k4")
        func listing() async throws -> [String] {
            try await harness.store.list(ma, bucket: "records", ListRequest(prefix: "", delimiter: nil, startAfter: nil,
                                                                            maxKeys: 100))
                .objects.map { "\($0.key) \($0.versionID)" }
        }
        let before = try await listing()
        let queued = try await intentsLeft()
        XCTAssertEqual(queued.count, 22 * harness.store.topology.replicas(of: ma),
                       "twenty writes, a delete marker and a deletion; the written intent of the version deleted left out")
        let tally = await drain(olderThanMillis: 0)
        XCTAssertEqual(tally.failed, 0)
        XCTAssertEqual(tally.delivered, queued.count)
        let after = try await listing()
        XCTAssertEqual(after, before, "the version deleted for good is not listed again")
        XCTAssertFalse(after.contains { $0.hasPrefix("k4 ") })
        let left = try await intentsLeft()
        XCTAssertEqual(left, [], "a drain clears what it delivered")
    }

    func testAPermanentDeletionAnIndexReplicaMissedIsFollowedByTheDrain() async throws {
        let doc = try await harness.deletionAnIndexReplicaMisses(faults, missing: indexNodes[1], bucket: "records",
                                                                 key: "doc")
        let (first, second) = (doc.kept, doc.deleted)
        faults.refusingIndexEdits = []
        // The replica that missed it still lists the deleted version, newest of the two entries.
        let before = try await listed("doc")
        XCTAssertEqual(before?.versionID, second.versionID)
        let tally = await drain(olderThanMillis: 0)
        XCTAssertEqual(tally.failed, 0)
        XCTAssertEqual(tally.delivered, 2 * harness.store.topology.replicas(of: ma),
                       "the first version's written intents, and a deleted one on each holder of the second")
        let after = try await listed("doc")
        XCTAssertEqual(after?.versionID, first.versionID)
        let left = try await intentsLeft()
        XCTAssertEqual(left, [])
    }

    /// A round reads at most so many pages a node, and the next goes on from there.
    func testARoundStopsAtItsPageLimitAndTheNextGoesOn() async throws {
        let node = harness.node(harness.store.topology.nodes(of: ma)![0].rawValue)
        let changes = (0..<1_200).map { index in
            NodeChange.commit(ma, manifest: ObjectManifest(
                bucket: "records", key: String(format: "bulk-%04d", index), versionID: .random(),
                sequence: harness.store.clock.nextSequence(), sizeBytes: 0, etag: "e", lastModifiedMillis: 1),
                completing: nil, inlineSegment: nil, intent: true)
        }
        for change in changes { _ = try await node.apply(change) }
        let first = await drain(olderThanMillis: 0, pagesMax: 1)
        XCTAssertEqual(first.delivered, 1_000)
        let position = try XCTUnwrap(first.resume[node.nodeID])
        let second = await drain(olderThanMillis: 0, resuming: first.resume, pagesMax: 1)
        XCTAssertEqual(second.delivered, 200)
        XCTAssertEqual(second.resume, [:], "the queue was read to its end")
        XCTAssertFalse(position.isEmpty)
        // A round resuming where another gateway has since cleared everything starts at the head next time.
        let stale = await drain(olderThanMillis: 0, resuming: first.resume, pagesMax: 1)
        XCTAssertEqual(stale.resume, [:])
        let page = try await harness.store.list(ma, bucket: "records", ListRequest(
            prefix: "bulk-", delimiter: nil, startAfter: nil, maxKeys: 1000))
        XCTAssertTrue(page.fromIndex)
        XCTAssertEqual(page.objects.count, 1000)
        XCTAssertTrue(page.isTruncated)
        let left = try await intentsLeft()
        XCTAssertEqual(left, [])
    }

    /// The index is told beside the commit: when no replica took the version, its entry (merged already) is set
    /// back to what the nodes hold newest, and the write is not acknowledged.
    func testAWriteNoReplicaTookIsSetBackInTheIndex() async throws {
        let first = try await harness.put("MA", "records", "doc", [1])
        faults.refusingCommits = Set(harness.store.topology.nodes(of: ma)!)
        do {
            try await harness.put("MA", "records", "doc", [2, 2])
            XCTFail("a write no replica took was acknowledged")
        } catch ObjectServiceError.serviceUnavailable {}
        do {
            try await harness.put("MA", "records", "never", [3])
            XCTFail("a write no replica took was acknowledged")
        } catch ObjectServiceError.serviceUnavailable {}
        faults.refusingCommits = []
        let doc = try await listed("doc")
        XCTAssertEqual(doc?.versionID, first.versionID, "the entry is back on the version the nodes hold")
        XCTAssertEqual(doc?.sizeBytes, 1)
        let never = try await listed("never")
        XCTAssertNil(never)
        for id in indexNodes {
            let entries = try await harness.node(id.rawValue).list(ma, bucket: "records", prefix: [], from: [],
                                                                    limit: 10, space: .index)
            XCTAssertEqual(entries.map(\.versionID), [first.versionID], "\(id)")
        }
    }

    func testAGatewayCrashAfterTheCommitLeavesIntentsTheDrainDelivers() async throws {
        try await harness.put("MA", "records", "kept", [1])
        // A gateway commits a version on its replicas and dies before telling the index.
        let crashed = ObjectManifest(bucket: "records", key: "crashed", versionID: .random(),
                                     sequence: harness.store.clock.nextSequence(), sizeBytes: 0, etag: "e",
                                     lastModifiedMillis: harness.store.clock.nowMillis())
        let replicas = harness.store.topology.preferred(ma, bucket: "records", key: "crashed")
        for id in replicas {
            _ = try await harness.node(id.rawValue).apply(.commit(ma, manifest: crashed, completing: nil,
                                                                  inlineSegment: nil, intent: true))
        }
        // Another crashed the same way on "kept"; a later write of "kept" was acknowledged (indexed) after it.
        let overwritten = ObjectManifest(bucket: "records", key: "kept", versionID: .random(),
                                         sequence: harness.store.clock.nextSequence(), sizeBytes: 0, etag: "e",
                                         lastModifiedMillis: harness.store.clock.nowMillis())
        for id in harness.store.topology.preferred(ma, bucket: "records", key: "kept") {
            _ = try await harness.node(id.rawValue).apply(.commit(ma, manifest: overwritten, completing: nil,
                                                                  inlineSegment: nil, intent: true))
        }
        let latest = try await harness.put("MA", "records", "kept", [1, 2, 3, 4])
        let none = try await listed("crashed")
        XCTAssertNil(none)
        // The drain runs as the gateway's service does: every interval, intents older than its age.
        let drain = IntentDrain(service: harness.service, interval: .milliseconds(50), age: .zero)
        let running = Task { try await drain.run() }
        defer { running.cancel() }
        let deadline = ContinuousClock.now + .seconds(10)
        while try await listed("crashed") == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let delivered = try await listed("crashed")
        XCTAssertEqual(delivered?.versionID, crashed.versionID)
        let kept = try await listed("kept")
        XCTAssertEqual(kept?.versionID, latest.versionID, "the overwritten version's intent was gone, not merged")
        while try await !intentsLeft().isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let left = try await intentsLeft()
        XCTAssertEqual(left, [])
    }

    /// A write's replica that is also an index replica of the bucket takes the entry with the manifest, in one batch
    /// (every replica records an intent all the same); the other index replicas get an edit of their own.
    func testAnIndexReplicaAmongTheReplicasTakesTheEntryWithTheManifest() async throws {
        let all = harness.store.topology.nodes(of: ma)!
        let key = try XCTUnwrap((0..<100).map { "both-\($0)" }.first { key in
            let replicas = harness.store.topology.preferred(ma, bucket: "records", key: key)
            return replicas.contains { indexNodes.contains($0) } && replicas.contains { !indexNodes.contains($0) }
        })
        let replicas = Array(harness.store.topology.preferred(ma, bucket: "records", key: key))
        // Only the index replicas that hold the version: the others refuse index edits (and commits carrying one).
        faults.refusingIndexEdits = Set(indexNodes.filter { !replicas.contains($0) })
        let written = try await harness.put("MA", "records", key, [4, 2])
        faults.refusingIndexEdits = []
        for id in all {
            let node = harness.node(id.rawValue)
            let entries = try await node.list(ma, bucket: "records", prefix: [], from: [], limit: 10, space: .index)
            let holds = try await node.manifest(ma, bucket: "records", key: key)
            let indexes = indexNodes.contains(id) && replicas.contains(id)
            XCTAssertEqual(entries.map(\.versionID), indexes ? [written.versionID] : [], "\(id)")
            XCTAssertEqual(holds?.versionID, replicas.contains(id) ? written.versionID : nil, "\(id)")
        }
        let intents = try await intentsLeft()
        XCTAssertEqual(intents.count, replicas.count, "an intent on every replica")
    }
}
