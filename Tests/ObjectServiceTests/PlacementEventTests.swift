import Foundation
import Hashing
import NIOCore
import ObjectModel
@testable import ObjectService
import SigV4
import Sovereignty
import StorageEngine
import StorageNode
import XCTest

/// Every placement of an object version's bytes is an entry of its jurisdiction's log, naming the nodes that hold
/// it and the digest of what they store (the digest each node recomputes for an attestation).
final class PlacementEventTests: XCTestCase {
    var harness: Harness!
    let ma = Jurisdiction("MA")!

    override func setUp() async throws {
        harness = try await Harness()
        _ = try await harness.service.createBucket(harness.principal("MA"), "records", location: "MA")
    }

    override func tearDown() async throws { try await harness.close() }

    func placements() throws -> [AuditEntry] {
        try harness.audit.log(ma).entries().filter { $0.kind == PlacementEvent.kind }
    }

    /// The stored digest as a node holding the version computes it from its segments.
    func storedDigest(on node: LocalStorageNode, _ key: String) async throws -> [UInt8] {
        let found = try await node.manifest(ma, bucket: "records", key: key)
        let manifest = try XCTUnwrap(found)
        var extents = [[UInt8]]()
        for extent in manifest.extents {
            let digest = StreamingDigest(.sha256)
            for index in 0..<extent.segmentCount {
                let segment = try await node.segment(ma, version: extent.versionID, index: UInt32(index))
                digest.update(Array(segment.readableBytesView))
            }
            extents.append(digest.finalize())
        }
        return StoredDigest.combine(extents)
    }

    func holders(_ key: String) async throws -> [LocalStorageNode] {
        var result = [LocalStorageNode]()
        for node in harness.nodes where node.jurisdiction == ma {
            if let manifest = try await node.manifest(ma, bucket: "records", key: key), !manifest.isTombstone {
                result.append(node)
            }
        }
        return result
    }

    func put(_ key: String, _ bytes: [UInt8]) async throws {
        let writer = try await harness.service.putObject(harness.principal(), "records", key, metadata: ObjectMetadata(),
                                                         condition: nil,
                                                         expectations: PayloadExpectations(sizeBytes: Int64(bytes.count)))
        _ = try await harness.write(writer: writer, bytes)
    }

    func testPutsOfEverySizeAreLoggedWithTheirNodesAndTheDigestTheNodesHold() async throws {
        for (key, size) in [("small", 4096), ("empty", 0), ("large", 2 * Limits.segmentSizeBytes + 77)] {
            try await put(key, randomBytes(size, seed: UInt64(size)))
            let event = try XCTUnwrap(try placements().last)
            XCTAssertEqual(event.fields["op"], "put")
            XCTAssertEqual(event.fields["key"], key)
            XCTAssertEqual(event.fields["size"], String(size))
            XCTAssertEqual(event.fields["tenant"], "acme")
            let nodes = try await holders(key)
            XCTAssertEqual(Set(event.fields["nodes"]!.split(separator: ",").map(String.init)),
                           Set(nodes.map(\.nodeID.rawValue)))
            for node in nodes {
                let digest = try await storedDigest(on: node, key)
                XCTAssertEqual(event.fields["sha256"], Hex.encode(digest), "\(key) on \(node.nodeID)")
                let manifest = try await node.manifest(ma, bucket: "records", key: key)
                XCTAssertEqual(manifest?.storedDigest, digest)
                XCTAssertEqual(event.fields["version"], manifest?.versionID.description)
                let seq = try harness.audit.latestPlacement(ma, bucket: "records", key: key, version: manifest!.versionID)
                XCTAssertEqual(seq, event.seq)
            }
        }
    }

    func testCopiesMultipartUploadsAndDeletesAreLogged() async throws {
        let service = harness.service
        try await put("source", randomBytes(70_000, seed: 1))
        let source = try XCTUnwrap(try placements().last?.fields["version"])
        _ = try await service.copyObject(harness.principal(), from: CopySource(bucket: "records", key: "source", conditions: ReadConditions()),
                                         to: "records", "copy", metadata: .copy, condition: nil, checksumAlgorithm: nil)
        let copy = try XCTUnwrap(try placements().last)
        XCTAssertEqual(copy.fields["op"], "copy")
        XCTAssertEqual(copy.fields["source-key"], "source")
        XCTAssertEqual(copy.fields["source-version"], source)
        let copyHolder = try await holders("copy")[0]
        let copyDigest = try await storedDigest(on: copyHolder, "copy")
        XCTAssertEqual(copy.fields["sha256"], Hex.encode(copyDigest))

        let upload = try await service.createUpload(harness.principal(), "records", "parts", metadata: ObjectMetadata(),
                                                    checksumAlgorithm: nil)
        var completed = [CompletedPart]()
        for (number, bytes) in [(1, randomBytes(5 << 20, seed: 4)), (2, randomBytes(1000, seed: 5))] {
            let writer = try await service.partWriter(harness.principal(), "records", "parts", uploadID: upload,
                                                      partNumber: number,
                                                      expectations: PayloadExpectations(sizeBytes: Int64(bytes.count)))
            guard case .part(let record) = try await harness.write(writer: writer, bytes) else { return XCTFail() }
            XCTAssertEqual(record.part.storedDigest.count, 32)
            completed.append(CompletedPart(number: number, etag: record.part.etag))
        }
        XCTAssertTrue(try placements().allSatisfy { $0.fields["key"] != "parts" }, "parts are not placements")
        _ = try await service.completeUpload(harness.principal(), "records", "parts", uploadID: upload,
                                             parts: completed, condition: nil)
        let complete = try XCTUnwrap(try placements().last)
        XCTAssertEqual(complete.fields["op"], "complete")
        XCTAssertEqual(complete.fields["parts"], "2")
        for node in try await holders("parts") {
            let digest = try await storedDigest(on: node, "parts")
            XCTAssertEqual(complete.fields["sha256"], Hex.encode(digest), "\(node.nodeID)")
        }

        try await service.deleteObject(harness.principal(), "records", "copy")
        let delete = try XCTUnwrap(try placements().last)
        XCTAssertEqual(delete.fields["op"], "delete")
        XCTAssertNil(delete.fields["sha256"])
        let tombstone = try await harness.store.newest(ma, bucket: "records", key: "copy")
        XCTAssertEqual(delete.fields["version"], tombstone?.manifest.versionID.description)
    }

    func testARepairIsLoggedWithTheNodeItCopiedTo() async throws {
        try await put("k", randomBytes(1000, seed: 1))
        let first = try await holders("k")
        first[0].goOffline()
        try await put("k", randomBytes(2000, seed: 2))
        try first[0].goOnline()
        _ = await harness.store.rebalance(ma, buckets: ["records"],
                                          pace: .immediate)
        let repair = try XCTUnwrap(try placements().last { $0.fields["op"] == "repair" })
        XCTAssertEqual(repair.fields["op"], "repair")
        XCTAssertEqual(repair.fields["repaired"], first[0].nodeID.rawValue)
        XCTAssertTrue(repair.fields["nodes"]!.split(separator: ",").contains(Substring(first[0].nodeID.rawValue)))
        let digest = try await storedDigest(on: first[0], "k")
        XCTAssertEqual(repair.fields["sha256"], Hex.encode(digest))
    }

    /// A write whose replicas committed keeps its bytes when its record cannot be written: the client gets a 503,
    /// and the version stays whole (its segments are not dropped as an aborted upload's are).
    func testACommittedVersionStaysWholeWhenItsEventCannotBeRecorded() async throws {
        try await put("k", Array("before".utf8))
        let logPath = harness.directory.path + "/audit/MA/audit.log"
        try FileManager.default.removeItem(atPath: logPath)
        try FileManager.default.createDirectory(atPath: logPath, withIntermediateDirectories: false)
        let data = randomBytes(3 * Limits.segmentSizeBytes / 2, seed: 5)
        do {
            try await put("k", data)
            XCTFail("the write was acknowledged without its record")
        } catch {
            XCTAssertTrue("\(error)".contains("audit log"), "\(error)")
        }
        let read = try await harness.get("MA", "records", "k")
        XCTAssertEqual(read, data)
    }

    /// The index is derived from the log: an index that lost everything finds the same events once caught up.
    func testTheIndexIsRebuiltFromTheLog() async throws {
        try await put("a", Array("one".utf8))
        try await put("b", Array("two".utf8))
        let events = try placements()
        let log = try harness.audit.log(ma)
        let index = PlacementIndex(engine: MemoryEngine())
        try index.catchUp(log)
        for event in events {
            XCTAssertEqual(try index.latest(ma, bucket: "records", key: event.fields["key"]!,
                                            version: event.fields["version"]!), event.seq)
        }
        XCTAssertNil(try index.latest(ma, bucket: "records", key: "a", version: VersionID.random().description))
        XCTAssertEqual(try log.line(seq: events[0].seq), try log.entryLines()[Int(events[0].seq) - 1])
    }
}
