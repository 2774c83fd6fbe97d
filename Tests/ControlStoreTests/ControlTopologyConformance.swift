import Foundation
import Logging
import ObjectModel
@testable import ObjectService
import Placement
import XCTest

/// One topology for every gateway (`c/topology`), on either store: the first gateway publishes its file, later ones
/// start with the stored one, and nothing that would move objects replaces it.
extension ControlStoreConformance {
    static func topology(_ store: any ControlStore) async throws {
        let logger = Logger(label: "test")
        let file = Topology.development
        let first = try await ControlTopology.resolve(file: file, origin: "first", store: store, logger: logger)
        // Published first, the deployment holds no object: its listing indexes are complete from the start.
        XCTAssertEqual(first.topology, file.indexedFromTheStart())
        XCTAssertTrue(first.topology.usesListingIndex(Jurisdiction("MA")!))
        XCTAssertFalse(file.usesListingIndex(Jurisdiction("MA")!))
        // A later gateway whose file only renames a site starts with the stored topology.
        var renamed = file
        renamed.jurisdictions[0].nodes[0].site = "renamed"
        let second = try await ControlTopology.resolve(file: renamed, origin: "second", store: store, logger: logger)
        XCTAssertEqual(second.topology, file.indexedFromTheStart())
        XCTAssertEqual(second.revision, first.revision)
        // One that would place objects elsewhere does not start.
        var fewer = file
        fewer.jurisdictions[0].nodes.removeLast()
        var otherFactor = file
        otherFactor.replicationFactor += 1
        for (other, what) in [(fewer, "the nodes of MA"), (otherFactor, "replicationFactor")] {
            do {
                _ = try await ControlTopology.resolve(file: other, origin: "third", store: store, logger: logger)
                XCTFail("\(what) accepted")
            } catch let failure as ControlTopology.Failure {
                XCTAssertTrue(failure.description.contains(what), failure.description)
            }
        }
        // Replacing: the same placement only, and only from the revision read.
        let replaced = try await ControlTopology.replace(with: renamed, ifRevision: first.revision, store: store)
        XCTAssertGreaterThan(replaced, first.revision)
        do {
            _ = try await ControlTopology.replace(with: file, ifRevision: first.revision, store: store)
            XCTFail("a stale revision replaced the topology")
        } catch let failure as ControlTopology.Failure { XCTAssertEqual(failure, .conflict) }
        do {
            _ = try await ControlTopology.replace(with: fewer, ifRevision: replaced, store: store)
            XCTFail("a placement change replaced the topology")
        } catch let failure as ControlTopology.Failure {
            guard case .placementChanged = failure else { return XCTFail("\(failure)") }
        }
        let now = try await ControlTopology.resolve(file: file, origin: "fourth", store: store, logger: logger)
        XCTAssertEqual(now.topology, renamed.indexedFromTheStart())
        // A placement change (qantara node add): later gateways start with it whatever their file says, and a file
        // of one process (the embedded control plane) gives its attributes without undoing it.
        let added = try await ControlTopology.change(
            .add(jurisdiction: Jurisdiction("MA")!, node: .init(id: NodeID("ma-4")!)), heldObjects: { _ in 0 },
            store: store)
        XCTAssertEqual(added.nodes(of: Jurisdiction("MA")!)?.count, 4)
        let later = try await ControlTopology.resolve(file: file, origin: "sixth", store: store, logger: logger)
        XCTAssertEqual(later.topology, added)
        let embedded = try await ControlTopology.resolve(file: file, origin: "seventh", store: store,
                                                         fileAttributes: true, logger: logger)
        XCTAssertEqual(embedded.topology.nodes(of: Jurisdiction("MA")!)?.count, 4)
        XCTAssertEqual(embedded.topology.entry(Jurisdiction("MA")!)?.nodes[0].site, nil, "the file's site")
        // Listings leave the indexes while a change awaits its pass, and come back once a clean pass settled it.
        XCTAssertFalse(embedded.topology.usesListingIndex(Jurisdiction("MA")!))
        let settled = try await ControlTopology.settle(Jurisdiction("MA")!, expected: embedded.topology, store: store)
        XCTAssertEqual(settled?.usesListingIndex(Jurisdiction("MA")!), true)
        do {
            _ = try await ControlTopology.change(.drain(NodeID("zz-1")!), heldObjects: { _ in 0 }, store: store)
            XCTFail("an unknown node was drained")
        } catch ControlTopology.Failure.refused(let refusal) { XCTAssertEqual(refusal.code, "NoSuchNode") }
        // A stored topology that does not load stops a gateway rather than being replaced.
        _ = try await store.write(ControlTopology.key, Array("{not json".utf8), ifRevision: nil)
        do {
            _ = try await ControlTopology.resolve(file: file, origin: "fifth", store: store, logger: logger)
            XCTFail("an unreadable topology was accepted")
        } catch let failure as ControlTopology.Failure {
            guard case .unreadable = failure else { return XCTFail("\(failure)") }
        }
    }
}
