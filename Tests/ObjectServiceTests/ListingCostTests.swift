import Foundation
import ObjectModel
@testable import ObjectService
import Placement
import XCTest

/// A listing page costs about as many manifest reads as it has keys, whatever the number of nodes: each node is asked
/// for its share of the page, not for a full page.
final class ListingCostTests: XCTestCase {
    var harness: Harness!
    let ma = Jurisdiction("MA")!

    override func setUp() async throws {
        harness = try await Harness()
        _ = try await harness.service.createBucket(harness.principal("MA"), "records", location: "MA")
    }

    override func tearDown() async throws { try await harness.close() }

    /// Every page of a 600-key listing, 100 keys a page: the keys in order, and the manifests read for each.
    func pages() async throws -> (keys: [String], reads: [Int]) {
        var keys = [String](), reads = [Int](), after: String?
        repeat {
            let page = try await harness.store.list(ma, bucket: "records", ListRequest(prefix: "", delimiter: nil,
                                                                                      startAfter: after, maxKeys: 100))
            keys += page.objects.map(\.key)
            reads.append(page.manifestsRead)
            after = page.isTruncated ? page.last : nil
        } while after != nil
        return (keys, reads)
    }

    func testAPageReadsItsShareFromEachNodeWhateverTheirNumber() async throws {
        let all = (0..<600).map { String(format: "k%04d", $0) }
        for key in all { try await harness.put("MA", "records", key, Array(key.utf8)) }
        let three = try await pages()
        XCTAssertEqual(three.keys, all)
        try await growToTwelveNodes()
        let twelve = try await pages()
        XCTAssertEqual(twelve.keys, all)
        // R = 2: a page of 100 holds 200 replicas' manifests; with the margin and refills, under 4 per key (a full
        // batch from every node, as before, read 1,200 here).
        for reads in three.reads.dropLast() + twelve.reads.dropLast() {
            XCTAssertLessThanOrEqual(reads, 400, "three nodes: \(three.reads), twelve: \(twelve.reads)")
        }
        let average = { (reads: [Int]) in Double(reads.reduce(0, +)) / Double(reads.count) }
        XCTAssertLessThan(average(twelve.reads), 1.5 * average(three.reads), "the cost grew with the nodes")
    }

    /// Every page of a ListObjectVersions of 600 keys, 100 a page: the versions in order, and the reads of each.
    func versionPages() async throws -> (keys: [String], reads: [Int]) {
        var keys = [String](), reads = [Int](), marker: (String?, String?) = (nil, nil)
        repeat {
            let page = try await harness.store.listVersions(ma, bucket: "records", VersionListRequest(
                prefix: "", delimiter: nil, keyMarker: marker.0, versionIDMarker: marker.1, maxKeys: 100))
            keys += page.versions.map(\.manifest.key)
            reads.append(page.manifestsRead)
            marker = page.isTruncated ? (page.nextKeyMarker, page.nextVersionIDMarker) : (nil, nil)
        } while marker.0 != nil
        return (keys, reads)
    }

    func testAVersionsPageReadsItsShareFromEachNodeToo() async throws {
        let all = (0..<600).map { String(format: "k%04d", $0) }
        for key in all { try await harness.put("MA", "records", key, Array(key.utf8)) }
        try await growToTwelveNodes()
        let twelve = try await versionPages()
        XCTAssertEqual(twelve.keys, all)
        // R = 2 over twelve nodes: about 2 × 100 × 1.25 a page (a full batch of 1,000 from every node read about
        // 1,200 here, every node's whole share of the 600 keys).
        for reads in twelve.reads.dropLast() { XCTAssertLessThanOrEqual(reads, 400, "\(twelve.reads)") }
        // Three versions of each of 200 keys, and a page resumed after a real version: every version once, in order.
        try await harness.service.setBucketVersioning(harness.principal("MA"), "records", .enabled)
        var expected = [String]()
        for key in all.prefix(200) {
            for round in 0..<3 { try await harness.put("MA", "records", key, [UInt8(round)]) }
            expected += [key, key, key, key]  // three versions, then the null version of before
        }
        expected += all.dropFirst(200)
        let history = try await versionPages()
        XCTAssertEqual(history.keys, expected)
        // A page's keys carry four versions each here, so more nodes run out of their share and are asked again:
        // still under 3 × R reads per version listed (one full batch from every node would be 12,000).
        for reads in history.reads.dropLast() { XCTAssertLessThanOrEqual(reads, 600, "\(history.reads)") }
    }

    /// Adds ma-4 … ma-12 to MA and runs the rebalance pass that moves the records to them.
    func growToTwelveNodes() async throws {
        for index in 4...12 {
            _ = try await harness.service.changeTopology(harness.principal(root: true), .add(
                jurisdiction: ma, node: .init(id: NodeID("ma-\(index)")!)))
        }
        _ = await harness.store.rebalance(ma, buckets: ["records"], pace: .immediate)
    }
}
