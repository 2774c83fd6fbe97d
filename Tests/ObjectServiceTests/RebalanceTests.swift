import Foundation
import ObjectModel
@testable import ObjectService
import Placement
import StorageNode
import XCTest

/// Placement changes under stored data: every object ends on exactly the nodes placement names, readable throughout,
/// never on a node of another jurisdiction; tombstones and extra copies are collected.
final class RebalanceTests: XCTestCase {
    var harness: Harness!
    let ma = Jurisdiction("MA")!
    let fast = RebalancePace.immediate
    var root: Principal { harness.principal(root: true) }

    override func setUp() async throws {
        harness = try await Harness()
        _ = try await harness.service.createBucket(harness.principal("MA"), "records", location: "MA")
    }

    override func tearDown() async throws { try await harness.close() }

    var maNodes: [any StorageNodeClient] { (try? harness.store.all(ma)) ?? [] }

    /// The nodes of MA (in the topology or not) holding `key`'s current manifest, tombstones included.
    func holders(_ key: String, among ids: [String] = ["ma-1", "ma-2", "ma-3", "ma-4"]) async throws -> Set<String> {
        var result = Set<String>()
        for id in ids {
            guard let node = harness.store.client(NodeID(id)!) else { continue }
            if try await node.manifest(ma, bucket: "records", key: key) != nil { result.insert(id) }
        }
        return result
    }

    func preferred(_ key: String) -> Set<String> {
        Set(harness.store.topology.preferred(ma, bucket: "records", key: key).map(\.rawValue))
    }

    func pass(_ pace: RebalancePace? = nil) async -> RebalanceTally {
        await harness.store.rebalance(ma, buckets: ["records"], pace: pace ?? fast)
    }

    let keys = (0..<40).map { "k\($0)" }

    func fill() async throws {
        for (index, key) in keys.enumerated() {
            try await harness.put("MA", "records", key, randomBytes(300 + index * 37, seed: UInt64(index + 1)))
        }
    }

    func assertPlacedAndReadable(file: StaticString = #filePath, line: UInt = #line) async throws {
        for (index, key) in keys.enumerated() {
            let held = try await holders(key)
            XCTAssertEqual(held, preferred(key), "\(key)", file: file, line: line)
            let read = try await harness.get("MA", "records", key)
            XCTAssertEqual(read, randomBytes(300 + index * 37, seed: UInt64(index + 1)), key, file: file, line: line)
        }
    }

    func testAnAddedNodeGetsTheObjectsItIsPreferredForAndTheOldCopiesGo() async throws {
        try await fill()
        let (topology, code) = try await harness.service.changeTopology(root, .add(jurisdiction: ma, node: .init(id: NodeID("ma-4")!)))
        XCTAssertEqual(code, ma)
        XCTAssertEqual(topology.placementEpoch, 1)
        // Before any data moved, every object reads (from its old replicas).
        for key in keys { _ = try await XCTUnwrapAsync(try await harness.get("MA", "records", key)) }
        let tally = await pass()
        XCTAssertGreaterThan(tally.copied, 0)
        XCTAssertEqual(tally.copied, tally.dropped, "each move is a copy and a drop")
        XCTAssertEqual(tally.failed, 0)
        try await assertPlacedAndReadable()
        var onNew = 0
        for key in keys where try await holders(key, among: ["ma-4"]) == ["ma-4"] { onNew += 1 }
        XCTAssertGreaterThan(onNew, 0, "the new node holds its share")
        // A second pass finds nothing to do.
        let again = await pass()
        XCTAssertEqual(again.copied + again.dropped + again.failed, 0)
        // The change and the moves are in MA's log.
        let change = try XCTUnwrap(try harness.auditRecords("MA", kind: "topology").last)
        XCTAssertEqual(change["change"], "add")
        XCTAssertEqual(change["node"], "ma-4")
        let placements = try harness.auditRecords("MA", kind: PlacementEvent.kind)
        XCTAssertEqual(placements.filter { $0["op"] == "drop" }.count, tally.dropped)
        XCTAssertEqual(placements.filter { $0["op"] == "repair" && $0["repaired"] == "ma-4" }.count, tally.copied)
    }

    func testADrainedNodeEmptiesAndOnlyThenCanBeRemoved() async throws {
        try await fill()
        _ = try await harness.service.changeTopology(root, .drain(NodeID("ma-1")!))
        do {
            _ = try await harness.service.changeTopology(root, .remove(NodeID("ma-1")!, force: false))
            XCTFail("a node holding objects was removed")
        } catch ObjectServiceError.topologyRefused(let code, _) { XCTAssertEqual(code, "NodeNotDrained") }
        // New writes go to the nodes taking placements only.
        try await harness.put("MA", "records", "new", Array("new".utf8))
        let value = try await holders("new").contains("ma-1")
        XCTAssertFalse(value)
        _ = await pass()
        let drained = await harness.node("ma-1").status()
        XCTAssertEqual(drained.versionCount, 0)
        try await assertPlacedAndReadable()
        _ = try await harness.service.changeTopology(root, .remove(NodeID("ma-1")!, force: false))
        XCTAssertEqual(harness.store.topology.nodes(of: ma)?.map(\.rawValue), ["ma-2", "ma-3"])
        try await assertPlacedAndReadable()
        // Removing a node that is not draining needs --force.
        do {
            _ = try await harness.service.changeTopology(root, .remove(NodeID("ma-2")!, force: false))
            XCTFail("a node taking placements was removed")
        } catch ObjectServiceError.topologyRefused(let code, _) { XCTAssertEqual(code, "NodeNotDrained") }
    }

    func testARaisedReplicationFactorIsMetAndThenSettled() async throws {
        try await fill()
        let (raised, _) = try await harness.service.changeTopology(root, .replicas(jurisdiction: ma, factor: 3))
        XCTAssertEqual(raised.replicas(of: ma), 3)
        XCTAssertEqual(raised.settledReplicas(of: ma), 2, "objects have two copies until the rebalance")
        // Three nodes of three: a read sees absence only when every node answers.
        XCTAssertEqual(harness.store.readQuorum(ma, 3), 2)
        let rebalancer = Rebalancer(service: harness.service, logger: .init(label: "test"))
        let finished = await rebalancer.pass(ma)
        XCTAssertTrue(finished)
        for key in keys {
            let value = try await holders(key).count
            XCTAssertEqual(value, 3, key)
        }
        XCTAssertEqual(harness.store.topology.settledReplicas(of: ma), 3)
        XCTAssertNil(harness.store.topology.entry(ma)?.settledReplicas)
        // Lowered again: the third copies go.
        _ = try await harness.service.changeTopology(root, .replicas(jurisdiction: ma, factor: 2))
        _ = await pass()
        try await assertPlacedAndReadable()
    }

    func testWritesAndDeletesDuringAMoveAreNeitherLostNorResurrected() async throws {
        try await fill()
        _ = try await harness.service.changeTopology(root, .add(jurisdiction: ma, node: .init(id: NodeID("ma-4")!)))
        _ = try await harness.service.changeTopology(root, .drain(NodeID("ma-2")!))
        // Before the pass: overwrite half, delete a quarter.
        for (index, key) in keys.enumerated() where index % 2 == 0 {
            try await harness.put("MA", "records", key, Array("rewritten \(key)".utf8))
        }
        for (index, key) in keys.enumerated() where index % 4 == 1 {
            try await harness.service.deleteObject(harness.principal(), "records", key)
        }
        _ = await pass()
        for (index, key) in keys.enumerated() {
            let read = try await harness.get("MA", "records", key)
            if index % 2 == 0 {
                XCTAssertEqual(read, Array("rewritten \(key)".utf8), key)
            } else if index % 4 == 1 {
                XCTAssertNil(read, "\(key) came back")
            } else {
                XCTAssertEqual(read, randomBytes(300 + index * 37, seed: UInt64(index + 1)), key)
            }
            let value = try await holders(key)
            XCTAssertEqual(value, preferred(key), key)
        }
        let value = await harness.node("ma-2").status().versionCount
        XCTAssertEqual(value, 0)
    }

    func testTombstonesAreCollectedAfterTheirGraceAndExtraCopiesGo() async throws {
        try await fill()
        // A preferred replica down: the write goes to a substitute.
        let key = keys[3]
        let preferredNow = preferred(key).sorted()
        harness.node(preferredNow[0]).goOffline()
        try await harness.put("MA", "records", key, Array("while down".utf8))
        try harness.node(preferredNow[0]).goOnline()
        let withExtra = try await holders(key).count
        XCTAssertEqual(withExtra, 3, "the substitute holds an extra copy")
        _ = await pass()
        let afterPass = try await holders(key)
        XCTAssertEqual(afterPass, preferred(key))
        let read = try await harness.get("MA", "records", key)
        XCTAssertEqual(read, Array("while down".utf8))

        for key in keys { try await harness.service.deleteObject(harness.principal(), "records", key) }
        let young = await pass()
        XCTAssertEqual(young.collected, 0, "tombstones within their grace stay")
        for key in keys {
            let value = try await holders(key).isEmpty
            XCTAssertFalse(value)
        }
        // With a node down, none is collected: it might hold an older version.
        harness.node("ma-3").goOffline()
        let partial = await pass(.init(bytesPerSecond: 1 << 40, tombstoneGraceMillis: 0))
        XCTAssertEqual(partial.collected, 0)
        try harness.node("ma-3").goOnline()
        let old = await pass(.init(bytesPerSecond: 1 << 40, tombstoneGraceMillis: 0))
        XCTAssertEqual(old.collected, keys.count)
        for key in keys {
            let value = try await holders(key)
            XCTAssertEqual(value, [], key)
            let read = try await harness.get("MA", "records", key)
            XCTAssertNil(read, key)
        }
        for node in maNodes {
            let value = await node.status().versionCount
            XCTAssertEqual(value, 0, "\(node.nodeID)")
        }
    }

    func testAVersionedKeyMovesWithItsHistoryAndItsLock() async throws {
        _ = try await harness.service.createBucket(harness.principal("MA"), "vault", location: "MA",
                                                   objectLock: true)
        var versions = [ObjectManifest]()
        for round in 0..<4 {
            versions.append(try await harness.put("MA", "vault", "ledger", Array("entry \(round)".utf8)))
        }
        // The oldest version under legal hold: it moves (its lock with it), and stays undeletable.
        let held = VersionName.name(versions[0])
        try await harness.service.setObjectLegalHold(harness.principal(), "vault", "ledger", versionID: held, on: true)
        let holdersBefore = Set(try await maNodes.asyncFilter {
            try await $0.manifest(self.ma, bucket: "vault", key: "ledger") != nil
        }.map(\.nodeID.rawValue))
        let drained = try XCTUnwrap(holdersBefore.sorted().first)
        _ = try await harness.service.changeTopology(root, .drain(NodeID(drained)!))
        _ = await harness.store.rebalance(ma, buckets: ["vault"], pace: fast)
        let value = await harness.node(drained).status().versionCount
        XCTAssertEqual(value, 0)
        let listed = try await harness.store.listVersions(ma, bucket: "vault", VersionListRequest())
        XCTAssertEqual(listed.versions.map(\.manifest.versionID), versions.reversed().map(\.versionID))
        for node in maNodes where node.nodeID.rawValue != drained {
            guard try await node.manifest(ma, bucket: "vault", key: "ledger") != nil else { continue }
            let page = try await node.listVersions(ma, bucket: "vault", prefix: [], from: VersionPosition(key: []),
                                                   limit: 10)
            XCTAssertEqual(page.versions.count, 4, "\(node.nodeID) holds the whole history")
            XCTAssertTrue(page.versions.last?.lock.legalHold == true, "\(node.nodeID) keeps the hold")
        }
        do {
            _ = try await harness.service.deleteObjectVersion(harness.principal(root: true), "vault", "ledger",
                                                             versionID: held)
            XCTFail("a version under legal hold was deleted after its move")
        } catch ObjectServiceError.objectLocked { }
    }

    func testANodeOfAnotherJurisdictionNeverJoins() async throws {
        // The opener gives a node of FR for an id claimed for MA: refused before the topology changes.
        let epoch = harness.store.topology.placementEpoch
        do {
            _ = try await harness.service.changeTopology(root, .add(jurisdiction: ma, node: .init(id: NodeID("fr-1")!)))
            XCTFail("a node of FR joined MA")
        } catch ObjectServiceError.topologyRefused(let code, _) { XCTAssertEqual(code, "NodeExists") }
        XCTAssertEqual(harness.store.topology.placementEpoch, epoch)
        // Only the root credentials change placement.
        do {
            _ = try await harness.service.changeTopology(harness.principal(), .drain(NodeID("ma-1")!))
            XCTFail("a tenant drained a node")
        } catch ObjectServiceError.accessDenied { }
        do {
            _ = try await harness.service.changeTopology(root, .drain(NodeID("zz-9")!))
            XCTFail("an unknown node was drained")
        } catch ObjectServiceError.topologyRefused(let code, _) { XCTAssertEqual(code, "NoSuchNode") }
    }
}

extension Sequence {
    func asyncFilter(_ predicate: (Element) async throws -> Bool) async rethrows -> [Element] {
        var result = [Element]()
        for element in self where try await predicate(element) { result.append(element) }
        return result
    }
}

func XCTUnwrapAsync<T>(_ value: T?, file: StaticString = #filePath, line: UInt = #line) throws -> T {
    try XCTUnwrap(value, file: file, line: line)
}
