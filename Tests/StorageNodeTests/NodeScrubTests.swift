import Foundation
import Hashing
import ObjectModel
import StorageEngine
import StorageNode
import XCTest

/// The scrubber through the node protocol (in process and over HTTP): damage found without any key, and repaired
/// only with the bytes the manifest's digest names.
extension NodeClientConformanceTests {
    func sha256(_ bytes: [UInt8]) -> [UInt8] {
        let digest = StreamingDigest(.sha256)
        digest.update(bytes)
        return digest.finalize()
    }

    /// An object of two segments (one small, one large enough for a segment file) with its stored digest.
    func storedObject(_ node: any StorageNodeClient) async throws -> (ObjectManifest, [[UInt8]]) {
        let segmentSize = 70_000
        let segments = [[UInt8](repeating: 1, count: segmentSize), [UInt8](repeating: 2, count: 10)]
        var manifest = ObjectManifest(bucket: "bkt", key: "scrubbed", versionID: .random(), sequence: 5,
                                      sizeBytes: Int64(segmentSize + 10), segmentSizeBytes: UInt32(segmentSize),
                                      etag: "e", lastModifiedMillis: 1)
        manifest.storedDigest = StoredDigest.combine([sha256(segments.flatMap { $0 })])
        for (index, bytes) in segments.enumerated() {
            try await node.putSegment(ma, bucket: "bkt", key: "scrubbed", version: manifest.versionID,
                                      index: UInt32(index), bytes: bytes)
        }
        _ = try await node.commit(ma, manifest: manifest)
        return (manifest, segments)
    }

    func testScrubFindsDamageAndOnlyTheRecordedBytesRepairIt() async throws {
        let node = try await client()
        let (manifest, segments) = try await storedObject(node)
        let clean = try await node.scrubNow(ma)
        XCTAssertEqual(clean.damaged, [])
        XCTAssertGreaterThanOrEqual(clean.scrubbedBytes, 70_010)
        // Damage the small segment behind the node's back (as a flipped bit on disk would).
        try await node.putSegment(ma, bucket: "bkt", key: "scrubbed", version: manifest.versionID, index: 1,
                                  bytes: [2, 2, 2, 2, 2, 9, 2, 2, 2, 2])
        let found = try await node.scrubNow(ma)
        XCTAssertEqual(found.damaged.map(\.version), [manifest.versionID.description])
        let state = try await node.scrubState(ma)
        XCTAssertEqual(state.damaged.count, 1)
        let digests = try await node.segmentDigests(ma, bucket: "bkt", key: "scrubbed", version: manifest.versionID,
                                                    sequence: manifest.sequence, extent: manifest.versionID)
        XCTAssertEqual(digests?.healthy, false)
        XCTAssertEqual(digests?.segments.first, Hex.encode(sha256(segments[0])))
        XCTAssertNotEqual(digests?.segments.last, Hex.encode(sha256(segments[1])))
        // Other bytes than the recorded ones are refused; the recorded ones repair it.
        let forged = try await node.repairSegments(ma, bucket: "bkt", key: "scrubbed", version: manifest.versionID,
                                                   sequence: manifest.sequence, extent: manifest.versionID,
                                                   segments: [RepairSegment(index: 1, bytes: [7, 7, 7, 7, 7, 7, 7, 7, 7, 7])])
        XCTAssertFalse(forged)
        // Nor the recorded bytes cut at other boundaries (the concatenation matches, the segments do not).
        let shifted = try await node.repairSegments(
            ma, bucket: "bkt", key: "scrubbed", version: manifest.versionID, sequence: manifest.sequence,
            extent: manifest.versionID, segments: [RepairSegment(index: 0, bytes: segments[0] + segments[1].prefix(2)),
                                                   RepairSegment(index: 1, bytes: Array(segments[1].dropFirst(2)))])
        XCTAssertFalse(shifted)
        // A refused repair leaves nothing of what it staged.
        let staged = await node.status().uploadsInProgress
        XCTAssertEqual(staged, 0)
        let repaired = try await node.repairSegments(ma, bucket: "bkt", key: "scrubbed", version: manifest.versionID,
                                                     sequence: manifest.sequence, extent: manifest.versionID,
                                                     segments: [RepairSegment(index: 1, bytes: segments[1])])
        XCTAssertTrue(repaired)
        let read = try await node.segment(ma, version: manifest.versionID, index: 1)
        XCTAssertEqual(Array(read.readableBytesView), segments[1])
        let after = try await node.scrubNow(ma)
        XCTAssertEqual(after.damaged, [])
        // A version the node does not hold has nothing to show or repair.
        let absent = try await node.segmentDigests(ma, bucket: "bkt", key: "scrubbed", version: .random(), sequence: 5,
                                                   extent: manifest.versionID)
        XCTAssertNil(absent)
    }

    func testADamagedSegmentFileIsFoundAndRepaired() async throws {
        let node = try await client()
        let (manifest, segments) = try await storedObject(node)
        // The large segment lives in a file: damage a byte of it on disk.
        let root = directory.path + "/segments/" + Hex.encode([manifest.versionID.bytes[0]]) + "/"
            + manifest.versionID.description
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: root))
        try handle.seek(toOffset: 8 + 100)
        try handle.write(contentsOf: Data([0xFF]))
        try handle.close()
        let found = try await node.scrubNow(ma)
        XCTAssertEqual(found.damaged.count, 1, "\(found)")
        let repaired = try await node.repairSegments(ma, bucket: "bkt", key: "scrubbed", version: manifest.versionID,
                                                     sequence: manifest.sequence, extent: manifest.versionID,
                                                     segments: [RepairSegment(index: 0, bytes: segments[0])])
        XCTAssertTrue(repaired)
        let after = try await node.scrubNow(ma)
        XCTAssertEqual(after.damaged, [])
    }
}
