import ObjectModel
@testable import Placement
import XCTest

/// Placement changes as pure functions of the topology: what each does, and what each refuses.
final class TopologyChangeTests: XCTestCase {
    let ma = Jurisdiction("MA")!
    let development = Topology.development
    func id(_ name: String) -> NodeID { NodeID(name)! }

    func apply(_ change: TopologyChange, to topology: Topology? = nil, held: Int? = 0) throws -> Topology {
        try change.applied(to: topology ?? development, heldObjects: { _ in held })
    }

    func refusal(_ change: TopologyChange, to topology: Topology? = nil, held: Int? = 0) -> String? {
        do {
            _ = try apply(change, to: topology, held: held)
            return nil
        } catch { return error.refusalCode }
    }

    func testAddDrainRemoveAdvanceTheEpochAndDrainingNodesAreRankedLast() throws {
        let added = try apply(.add(jurisdiction: ma, node: .init(id: id("ma-4"))))
        XCTAssertEqual(added.nodes(of: ma)?.map(\.rawValue), ["ma-1", "ma-2", "ma-3", "ma-4"])
        XCTAssertEqual(added.placementEpoch, 1)
        let drained = try apply(.drain(id("ma-1")), to: added)
        XCTAssertEqual(drained.placementEpoch, 2)
        for key in (0..<200).map({ "k\($0)" }) {
            let ranking = drained.ranked(ma, bucket: "b", key: key)
            XCTAssertEqual(ranking.last, id("ma-1"), "a draining node is never preferred while others take placements")
            XCTAssertFalse(drained.preferred(ma, bucket: "b", key: key).contains(id("ma-1")))
        }
        let removed = try apply(.remove(id("ma-1"), force: false), to: drained, held: 0)
        XCTAssertEqual(removed.nodes(of: ma)?.map(\.rawValue), ["ma-2", "ma-3", "ma-4"])
        XCTAssertNil(removed.entry(ma)?.settledReplicas)
    }

    func testRefusals() throws {
        XCTAssertEqual(refusal(.add(jurisdiction: Jurisdiction("DE")!, node: .init(id: id("de-1")))), "NoSuchJurisdiction")
        XCTAssertEqual(refusal(.add(jurisdiction: ma, node: .init(id: id("fr-1")))), "NodeExists")
        XCTAssertEqual(refusal(.drain(id("zz-1"))), "NoSuchNode")
        XCTAssertEqual(refusal(.remove(id("ma-1"), force: false)), "NodeNotDrained", "not draining")
        let draining = try apply(.drain(id("ma-1")))
        XCTAssertEqual(refusal(.drain(id("ma-1")), to: draining), "NodeDraining")
        XCTAssertEqual(refusal(.remove(id("ma-1"), force: false), to: draining, held: 3), "NodeNotDrained")
        XCTAssertEqual(refusal(.remove(id("ma-1"), force: false), to: draining, held: nil), "NodeUnavailable")
        // Two of three draining leaves fewer nodes taking placements than the replication factor.
        XCTAssertEqual(refusal(.drain(id("ma-2")), to: draining), "InvalidTopology")
        XCTAssertEqual(refusal(.replicas(jurisdiction: ma, factor: 4)), "InvalidTopology")
        XCTAssertEqual(refusal(.replicas(jurisdiction: ma, factor: 0)), "InvalidArgument")
    }

    func testRaisingReplicationKeepsTheSettledCountUntilRebalanced() throws {
        let raised = try apply(.replicas(jurisdiction: ma, factor: 3))
        XCTAssertEqual(raised.replicas(of: ma), 3)
        XCTAssertEqual(raised.settledReplicas(of: ma), 2)
        XCTAssertEqual(raised.replicas(of: Jurisdiction("FR")!), 2, "one jurisdiction's factor only")
        XCTAssertEqual(raised.settled(ma).settledReplicas(of: ma), 3)
        let lowered = try apply(.replicas(jurisdiction: ma, factor: 2), to: raised)
        XCTAssertNil(lowered.entry(ma)?.replicationFactor, "back to the topology's default")
        XCTAssertNil(lowered.entry(ma)?.settledReplicas)
        // A lost node removed by force: its objects have a copy fewer until the rebalance.
        let forced = try apply(.remove(id("ma-1"), force: true))
        XCTAssertEqual(forced.settledReplicas(of: ma), 1)
        XCTAssertEqual(forced.nodes(of: ma)?.count, 2)
    }

    func testAFileKeepsThePlacementAndGivesItsAttributes() throws {
        let changed = try apply(.add(jurisdiction: ma, node: .init(id: id("ma-4"), address: "10.0.0.4:7001")))
        var file = development
        file.jurisdictions[0].regions = ["ma-west-1"]
        file.jurisdictions[0].nodes[0].site = "rabat-2"
        let merged = changed.withAttributes(of: file)
        XCTAssertEqual(merged.nodes(of: ma)?.count, 4)
        XCTAssertEqual(merged.entry(ma)?.regions, ["ma-west-1"])
        XCTAssertEqual(merged.entry(ma)?.nodes[0].site, "rabat-2")
        XCTAssertEqual(merged.entry(ma)?.nodes[3].address, "10.0.0.4:7001", "a node the file lacks keeps its own")
    }
}

private extension Error {
    var refusalCode: String? { (self as? TopologyChange.Refusal).map(\.code) }
}
