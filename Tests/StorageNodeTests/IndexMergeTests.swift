import ObjectModel
import StorageEngine
@testable import StorageNode
import XCTest

/// A listing index entry gone bad on disk is a listing view, not data: the next merge (a write's, in its commit or
/// beside it) puts a good one in its place, and never fails the commit it goes with.
final class IndexMergeTests: XCTestCase {
    let ma = Jurisdiction("MA")!

    func testAMergeReplacesAnEntryThatDoesNotParseWithoutFailingItsCommit() throws {
        let engine = MemoryEngine()
        let node = try NodeStore(node: NodeID("ma-1")!, jurisdiction: ma, engine: engine, nowMillis: 0)
        try engine.put(NodeKeys.index(bucket: "b", key: "k"), [0xFF, 1, 2], sync: true)
        let written = ObjectManifest(bucket: "b", key: "k", versionID: .random(), sequence: 3, sizeBytes: 1, etag: "e",
                                     lastModifiedMillis: 1)
        // A replace cannot compare with it: left alone.
        XCTAssertEqual(try node.apply([.index(ma, [.replace(bucket: "b", key: "k", expected: VersionMark(written),
                                                            with: nil)])])[0].get(), .superseded)
        XCTAssertEqual(try node.apply([.commit(ma, manifest: written, completing: nil, inlineSegment: [7],
                                               intent: true, index: true)])[0].get(), .committed)
        XCTAssertEqual(try node.list(ma, bucket: "b", prefix: [], from: [], limit: 10, space: .index),
                       [written.listingEntry])
        XCTAssertEqual(try node.manifest(ma, bucket: "b", key: "k")?.versionID, written.versionID)
    }
}
