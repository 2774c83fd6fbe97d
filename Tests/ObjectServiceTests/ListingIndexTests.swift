import Foundation
import ObjectModel
@testable import ObjectService
import Placement
import StorageNode
import XCTest

/// A bucket's listing index: pages read from its R index replicas alone, every write and deletion in it before it is
/// acknowledged, and what a crash or a placement change leaves behind repaired by a rebalance pass.
final class ListingIndexTests: XCTestCase {
    var harness: Harness!
    let ma = Jurisdiction("MA")!
    var root: Principal { harness.principal(root: true) }

    override func setUp() async throws {
        harness = try await Harness()
        _ = try await harness.service.createBucket(harness.principal("MA"), "records", location: "MA")
    }

    override func tearDown() async throws { try await harness.close() }

    /// Every page of a listing of `records`, `size` keys a page.
    func pages(size: Int = 20) async throws -> [ManifestPage] {
        var result = [ManifestPage](), after: String?
        repeat {
            let page = try await harness.store.list(ma, bucket: "records", ListRequest(
                prefix: "", delimiter: nil, startAfter: after, maxKeys: size))
            result.append(page)
            after = page.isTruncated ? page.last : nil
        } while after != nil
        return result
    }

    func listed() async throws -> [String] { try await pages().flatMap { $0.objects.map(\.key) } }

    var indexNodes: [NodeID] { harness.store.topology.indexReplicas(ma, bucket: "records") }

    /// The index replicas' nodes, and the others of MA.
    func split() -> (index: [LocalStorageNode], others: [LocalStorageNode]) {
        let all = harness.store.topology.nodes(of: ma)!.map { harness.node($0.rawValue) }
        return (all.filter { indexNodes.contains($0.nodeID) }, all.filter { !indexNodes.contains($0.nodeID) })
    }

    /// Entries each node of MA keeps in the index of `records`.
    func entries() async throws -> [NodeID: [String]] {
        var result = [NodeID: [String]]()
        for node in try harness.store.all(ma) {
            result[node.nodeID] = try await node.list(ma, bucket: "records", prefix: [], from: [], limit: 1000,
                                                      space: .index).map(\.key)
        }
        return result
    }

    let keys = (0..<50).map { String(format: "k%03d", $0) }

    func fill() async throws {
        for key in keys { try await harness.put("MA", "records", key, Array(key.utf8)) }
    }

    func testAPageIsReadFromTheIndexReplicasAloneAndFromEveryNodeWhenOneIsSilent() async throws {
        try await fill()
        XCTAssertEqual(indexNodes.count, 2)
        let (index, others) = split()
        // The other node is not needed: the index replicas hold every key.
        for node in others { node.goOffline() }
        let fromIndex = try await pages()
        XCTAssertEqual(fromIndex.flatMap { $0.objects.map(\.key) }, keys)
        for page in fromIndex {
            XCTAssertTrue(page.fromIndex)
            XCTAssertEqual(page.nodesAsked, 2)
            XCTAssertLessThanOrEqual(page.manifestsRead, 2 * 21, "each replica reads a page and one more")
        }
        for node in others { try node.goOnline() }
        // An index replica down: the page is read from every node, still whole.
        index[0].goOffline()
        let merged = try await pages()
        XCTAssertEqual(merged.flatMap { $0.objects.map(\.key) }, keys)
        XCTAssertTrue(merged.allSatisfy { !$0.fromIndex && $0.nodesAsked == 3 })
        try index[0].goOnline()
    }

    func testDeletionsDeleteMarkersAndPermanentDeletionsFollowInTheIndex() async throws {
        try await fill()
        try await harness.service.deleteObject(harness.principal("MA"), "records", "k001")
        var listed = try await listed()
        XCTAssertEqual(listed, keys.filter { $0 != "k001" })
        try await harness.service.setBucketVersioning(harness.principal("MA"), "records", .enabled)
        let first = try await harness.put("MA", "records", "doc", [1, 2, 3])
        let second = try await harness.put("MA", "records", "doc", [1, 2, 3, 4, 5])
        var doc = try await pages().flatMap(\.objects).first { $0.key == "doc" }
        XCTAssertEqual(doc?.versionID, second.versionID)
        // The current version deleted for good: the one before it is listed again.
        _ = try await harness.service.deleteObjectVersion(harness.principal("MA"), "records", "doc",
                                                          versionID: VersionName.name(second))
        doc = try await pages().flatMap(\.objects).first { $0.key == "doc" }
        XCTAssertEqual(doc?.versionID, first.versionID)
        XCTAssertEqual(doc?.sizeBytes, 3)
        // A delete marker hides it; deleting the marker for good shows it again.
        let marker = try await harness.service.deleteObject(harness.principal("MA"), "records", "doc")
        listed = try await self.listed()
        XCTAssertFalse(listed.contains("doc"))
        _ = try await harness.service.deleteObjectVersion(harness.principal("MA"), "records", "doc",
                                                          versionID: try XCTUnwrap(marker.versionID))
        listed = try await self.listed()
        XCTAssertTrue(listed.contains("doc"))
        let final = try await pages()
        XCTAssertTrue(final.allSatisfy(\.fromIndex))
    }

    func testAPassRepairsWhatACrashLeftOutOfTheIndexOrAheadOfTheNodes() async throws {
        try await fill()
        let replicas = indexNodes.map { harness.node($0.rawValue) }
        // A crash between a commit and its index edit: the object is on its nodes, not in the index.
        let lost = try XCTUnwrapAsync(try await harness.store.newest(ma, bucket: "records", key: "k007")?.manifest)
        for node in replicas {
            _ = try await node.apply(.index(ma, [.replace(bucket: "records", key: "k007", expected: VersionMark(lost),
                                                          with: nil)]))
        }
        // A deletion whose index edit was lost: the nodes hold a tombstone, the index the object.
        let deleted = try XCTUnwrapAsync(try await harness.store.newest(ma, bucket: "records", key: "k008")?.manifest)
        let tombstone = ObjectManifest(bucket: "records", key: "k008", versionID: .random(),
                                       sequence: harness.store.clock.nextSequence(), isTombstone: true,
                                       lastModifiedMillis: deleted.lastModifiedMillis)
        for node in try harness.store.all(ma) { _ = try await node.commit(ma, manifest: tombstone) }
        // An entry ahead of the nodes (a version deleted for good whose index edit was lost): nothing holds it.
        let phantom = ObjectManifest(bucket: "records", key: "k999", versionID: .random(),
                                     sequence: harness.store.clock.nextSequence(), sizeBytes: 1, etag: "e")
        for node in replicas { _ = try await node.apply(.index(ma, [.merge(phantom)])) }
        var listed = try await listed()
        XCTAssertFalse(listed.contains("k007"))
        XCTAssertTrue(listed.contains("k008"))
        XCTAssertTrue(listed.contains("k999"))

        let tally = await harness.store.rebalance(ma, buckets: ["records"], pace: .immediate)
        XCTAssertEqual(tally.failed, 0)
        XCTAssertGreaterThanOrEqual(tally.reindexed, 2, "the phantom on each index replica")
        listed = try await self.listed()
        XCTAssertEqual(listed, keys.filter { $0 != "k008" })
        let final = try await pages()
        XCTAssertTrue(final.allSatisfy(\.fromIndex))
    }

    func testAfterAPlacementChangeListingsReadEveryNodeUntilAPassRebuildsTheIndexes() async throws {
        try await fill()
        let before = Set(indexNodes)
        for index in 4...12 {
            _ = try await harness.service.changeTopology(root, .add(jurisdiction: ma, node: .init(id: NodeID("ma-\(index)")!)))
        }
        XCTAssertFalse(harness.store.topology.usesListingIndex(ma))
        let during = try await pages()
        XCTAssertEqual(during.flatMap { $0.objects.map(\.key) }, keys)
        XCTAssertTrue(during.allSatisfy { !$0.fromIndex && $0.nodesAsked == 12 })
        let rebalancer = Rebalancer(service: harness.service, logger: .init(label: "test"))
        let finished = await rebalancer.pass(ma)
        XCTAssertTrue(finished)
        XCTAssertTrue(harness.store.topology.usesListingIndex(ma))
        let after = try await pages()
        XCTAssertEqual(after.flatMap { $0.objects.map(\.key) }, keys)
        for page in after {
            XCTAssertTrue(page.fromIndex)
            XCTAssertEqual(page.nodesAsked, 2, "twelve nodes, two asked")
            XCTAssertLessThanOrEqual(page.manifestsRead, 2 * 21)
        }
        // The index lives on the new index replicas only: the nodes that held it before and no longer index the
        // bucket were emptied.
        let held = try await entries()
        for (node, keys) in held {
            XCTAssertEqual(keys.isEmpty, !indexNodes.contains(node), "\(node) (index replicas before: \(before))")
        }
    }

    func testADeletionIsAcknowledgedOnlyOnceEveryIndexReplicaFollowedIt() async throws {
        try await harness.close()
        let faults = Faults(seed: 1)
        harness = try await Harness(wrap: { FaultyNode($0, faults: faults) })
        _ = try await harness.service.createBucket(harness.principal("MA"), "records", location: "MA")
        let caller = harness.principal("MA")
        // One index replica misses the set-back: its entry, the deleted version, would outvote the other's.
        let doc = try await harness.deletionAnIndexReplicaMisses(faults, missing: indexNodes[1], bucket: "records",
                                                                 key: "doc")
        let (first, second) = (doc.kept, doc.deleted)
        // The client retries once the replica answers: the version is gone from the nodes, and the index follows.
        faults.refusingIndexEdits = []
        _ = try await harness.service.deleteObjectVersion(caller, "records", "doc", versionID: VersionName.name(second))
        let listed = try await pages().flatMap(\.objects).first { $0.key == "doc" }
        XCTAssertEqual(listed?.versionID, first.versionID)
        // An unversioned deletion no index replica took: 503, and the retry (nothing left to delete) indexes the
        // tombstone before answering.
        _ = try await harness.service.createBucket(caller, "plain", location: "MA")
        try await harness.put("MA", "plain", "gone", [9])
        faults.refusingIndexEdits = Set(harness.store.topology.indexReplicas(ma, bucket: "plain"))
        do {
            try await harness.service.deleteObject(caller, "plain", "gone")
            XCTFail("a deletion the index did not take was acknowledged")
        } catch ObjectServiceError.serviceUnavailable {}
        faults.refusingIndexEdits = []
        try await harness.service.deleteObject(caller, "plain", "gone")
        let plain = try await harness.store.list(ma, bucket: "plain", ListRequest(prefix: "", delimiter: nil,
                                                                                startAfter: nil, maxKeys: 10))
        XCTAssertTrue(plain.fromIndex)
        XCTAssertEqual(plain.objects.map(\.key), [], "a deleted key is listed")
    }

    func testAWriteNoIndexReplicaKeepsIsNotAcknowledgedAndAPassIndexesIt() async throws {
        _ = try await harness.service.changeTopology(root, .add(jurisdiction: ma, node: .init(id: NodeID("ma-4")!)))
        let rebalancer = Rebalancer(service: harness.service, logger: .init(label: "test"))
        let settled = await rebalancer.pass(ma)
        XCTAssertTrue(settled)
        let (index, _) = split()
        for node in index { node.goOffline() }
        do {
            try await harness.put("MA", "records", "orphan", [7, 7, 7])
            XCTFail("a write no index replica kept was acknowledged")
        } catch let error as ObjectServiceError {
            guard case .serviceUnavailable(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("listing index"), message)
        }
        // Durable on its replicas, it has its placement event, as every version placed.
        let placed = try harness.auditRecords("MA", kind: "placement").filter { $0["key"] == "orphan" }
        XCTAssertEqual(placed.count, 1, "\(placed)")
        for node in index { try node.goOnline() }
        // Its data is committed (the write may have happened, as a 503 allows); the pass lists it.
        var listed = try await listed()
        XCTAssertFalse(listed.contains("orphan"))
        _ = await harness.store.rebalance(ma, buckets: ["records"], pace: .immediate)
        listed = try await self.listed()
        XCTAssertEqual(listed, ["orphan"])
    }
}
