import ObjectModel
import Placement
import Foundation
import XCTest

final class RendezvousTests: XCTestCase {
    let nodes = (1...5).map { NodeID("ma-\($0)")! }

    func testRankingIsDeterministicAndAPermutation() {
        let first = Rendezvous.rank(nodes, bucket: "b", key: "k")
        XCTAssertEqual(first, Rendezvous.rank(nodes.reversed(), bucket: "b", key: "k"))
        XCTAssertEqual(Set(first), Set(nodes))
    }

    func testKeysSpreadOverNodes() {
        var counts = [NodeID: Int]()
        for index in 0..<5000 { counts[Rendezvous.rank(nodes, bucket: "b", key: "key-\(index)")[0], default: 0] += 1 }
        for node in nodes { XCTAssertGreaterThan(counts[node] ?? 0, 800, "\(node) got \(counts[node] ?? 0)") }
    }

    func testRemovingANodeMovesOnlyItsKeys() {
        let fewer = nodes.filter { $0.rawValue != "ma-3" }
        for index in 0..<2000 {
            let before = Rendezvous.rank(nodes, bucket: "b", key: "k\(index)")[0]
            let after = Rendezvous.rank(fewer, bucket: "b", key: "k\(index)")[0]
            if before.rawValue != "ma-3" { XCTAssertEqual(before, after) }
        }
    }
}

final class TopologyTests: XCTestCase {
    func entry(_ code: String, _ ids: [String], regions: [String] = []) -> Topology.JurisdictionEntry {
        .init(code: Jurisdiction(code)!, regions: regions, nodes: ids.map { .init(id: NodeID($0)!) })
    }

    func testValidTopologyResolvesLocations() {
        let topology = Topology(jurisdictions: [entry("MA", ["ma-1", "ma-2"], regions: ["ma-central-1"]),
                                                entry("FR", ["fr-1", "fr-2"])],
                                defaultJurisdiction: Jurisdiction("MA")!)
        XCTAssertEqual(topology.problems(), [])
        XCTAssertEqual(topology.jurisdiction(forLocation: "fr"), Jurisdiction("FR"))
        XCTAssertEqual(topology.jurisdiction(forLocation: "ma-central-1"), Jurisdiction("MA"))
        XCTAssertNil(topology.jurisdiction(forLocation: "US"))
        XCTAssertNil(topology.jurisdiction(forLocation: "mars-1"))
    }

    func testProblemsNameTheField() {
        let topology = Topology(jurisdictions: [entry("MA", ["ma-1"]), entry("MA", ["ma-1", "x-2"])],
                                replicationFactor: 2, defaultJurisdiction: Jurisdiction("US")!)
        let problems = topology.problems().joined(separator: "\n")
        XCTAssertTrue(problems.contains("jurisdictions[0].nodes: MA has 1 node(s)"), problems)
        XCTAssertTrue(problems.contains("jurisdictions[1].code: duplicate jurisdiction MA"), problems)
        XCTAssertTrue(problems.contains("jurisdictions[1].nodes[0].id: duplicate node id \"ma-1\""), problems)
        XCTAssertTrue(problems.contains("defaultJurisdiction: US"), problems)
    }

    /// `qantara serve` without `--topology` runs the built-in development topology; the file in `Deploy/` is its
    /// editable copy and must say the same.
    func testBuiltInDevelopmentTopologyMatchesTheDeployExample() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("Deploy/topology.dev.json"))
        XCTAssertEqual(try JSONDecoder().decode(Topology.self, from: data), Topology.development)
        XCTAssertEqual(Topology.development.problems(), [])
    }
}
