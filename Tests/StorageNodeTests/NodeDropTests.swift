import Hashing
import ObjectModel
import StorageEngine
import StorageNode
import XCTest

/// The drops and repairs that used to be calls of their own, now node changes applied in commit groups: each reads
/// what the changes before it in its group wrote, so none races a commit of what it drops.
final class NodeDropTests: XCTestCase {
    let ma = Jurisdiction("MA")!

    func store() throws -> NodeStore {
        try NodeStore(node: NodeID("ma-1")!, jurisdiction: ma, engine: MemoryEngine(), nowMillis: 0)
    }

    func manifest(_ key: String, bucket: String = "b", sequence: UInt64, segments: [[UInt8]] = []) -> ObjectManifest {
        var manifest = ObjectManifest(bucket: bucket, key: key, versionID: .random(), sequence: sequence,
                                      sizeBytes: Int64(segments.reduce(0) { $0 + $1.count }),
                                      segmentSizeBytes: UInt32(segments.first?.count ?? Limits.segmentSizeBytes),
                                      etag: "e", lastModifiedMillis: 1)
        let digest = StreamingDigest(.sha256)
        for segment in segments { digest.update(segment) }
        manifest.storedDigest = StoredDigest.combine([digest.finalize()])
        return manifest
    }

    func stored(_ node: NodeStore, _ version: VersionID, _ index: UInt32) throws -> [UInt8] {
        try node.withSegment(ma, version: version, index: index) { Array($0) }
    }

    func testAnAbortAfterTheCommitInTheSameGroupLeavesTheVersion() throws {
        let node = try store()
        let object = manifest("k", sequence: 1, segments: [[1, 2, 3], [4]])
        try node.putSegment(ma, bucket: "b", key: "k", version: object.versionID, index: 0, bytes: [1, 2, 3])
        try node.putSegment(ma, bucket: "b", key: "k", version: object.versionID, index: 1, bytes: [4])
        // A gateway that lost the commit's answer aborts the version: the commit ahead of it in the group removed its
        // upload marker, so the abort finds a committed version and drops nothing.
        let outcomes = node.apply([.commit(ma, manifest: object, completing: nil, inlineSegment: nil),
                                   .abortSegments(ma, version: object.versionID)])
        XCTAssertEqual(try outcomes.map { try $0.get() }, [.committed, .superseded])
        XCTAssertEqual(try stored(node, object.versionID, 1), [4])
        // An abandoned version's segments and marker go.
        let abandoned = VersionID.random()
        try node.putSegment(ma, bucket: "b", key: "k", version: abandoned, index: 0, bytes: [9])
        XCTAssertEqual(try node.counts().uploads, 1)
        XCTAssertEqual(try node.apply([.abortSegments(ma, version: abandoned)])[0].get(), .committed)
        XCTAssertEqual(try node.counts().uploads, 0)
        XCTAssertThrowsError(try stored(node, abandoned, 0))
        XCTAssertEqual(try node.counts().segments, 2)
    }

    func testAnUploadAbortedInTheGroupOfItsLastPartLeavesNothing() throws {
        let node = try store()
        let upload = VersionID.random()
        let part = PartRef(number: 1, versionID: .random(), sizeBytes: 2, etag: "p1", checksumValue: nil)
        try node.putSegment(ma, bucket: "b", key: "mp", version: part.versionID, index: 0, bytes: [1, 2])
        var template = manifest("mp", sequence: 1)
        template.versionID = upload
        let outcomes = node.apply([.createUpload(ma, template: template),
                                   .commitPart(ma, upload: upload, record: PartRecord(part: part, sequence: 2,
                                                                                      lastModifiedMillis: 1)),
                                   .abortUpload(ma, bucket: "b", key: "mp", upload: upload)])
        XCTAssertEqual(try outcomes.map { try $0.get() }, [.committed, .committed, .committed])
        XCTAssertNil(try node.upload(ma, bucket: "b", key: "mp", upload: upload))
        XCTAssertEqual(try node.parts(ma, upload: upload, from: 0, limit: 10), [])
        XCTAssertThrowsError(try stored(node, part.versionID, 0), "the part's segment went with the upload")
        XCTAssertEqual(try node.counts().uploads, 0)
        // Aborting an upload the node does not know changes nothing.
        XCTAssertEqual(try node.apply([.abortUpload(ma, bucket: "b", key: "mp", upload: .random())])[0].get(),
                       .superseded)
    }

    /// A part whose commit arrives after its segments were dropped (its upload aborted) is refused, not recorded: the
    /// record would name nothing and outlive the upload. Its own retried commit still finds its record.
    func testAPartCommittedAfterItsUploadWasAbortedLeavesNoRecord() throws {
        let node = try store()
        let upload = VersionID.random()
        var template = manifest("mp", sequence: 1)
        template.versionID = upload
        _ = try node.apply([.createUpload(ma, template: template)])[0].get()
        let late = PartRef(number: 2, versionID: .random(), sizeBytes: 3, etag: "p2", checksumValue: nil)
        try node.putSegment(ma, bucket: "b", key: "mp", version: late.versionID, index: 0, bytes: [1, 2, 3])
        let record = PartRecord(part: late, sequence: 3, lastModifiedMillis: 1)
        let outcomes = node.apply([.abortSegments(ma, version: late.versionID),
                                   .commitPart(ma, upload: upload, record: record)])
        XCTAssertEqual(try outcomes[0].get(), .committed)
        XCTAssertThrowsError(try outcomes[1].get(), "the gateway must not acknowledge a part whose bytes are gone") {
            XCTAssertEqual($0 as? NodeError, .missingSegment(node: NodeID("ma-1")!, version: late.versionID.description,
                                                             index: 0))
        }
        XCTAssertEqual(try node.parts(ma, upload: upload, from: 0, limit: 10), [])
        // A part stored and committed, its commit retried after its marker went: still its record.
        let kept = PartRef(number: 1, versionID: .random(), sizeBytes: 2, etag: "p1", checksumValue: nil)
        try node.putSegment(ma, bucket: "b", key: "mp", version: kept.versionID, index: 0, bytes: [4, 5])
        let first = PartRecord(part: kept, sequence: 4, lastModifiedMillis: 1)
        XCTAssertEqual(try node.apply([.commitPart(ma, upload: upload, record: first)])[0].get(), .committed)
        XCTAssertEqual(try node.apply([.commitPart(ma, upload: upload, record: first)])[0].get(), .superseded)
        XCTAssertEqual(try node.parts(ma, upload: upload, from: 0, limit: 10).map(\.part), [kept])
        XCTAssertEqual(try stored(node, kept.versionID, 0), [4, 5])
    }

    func testAPurgeGoesAloneBetweenTheChangesAroundIt() throws {
        let node = try store()
        let before = manifest("before", bucket: "gone", sequence: 1, segments: [[1]])
        let after = manifest("after", bucket: "gone", sequence: 2, segments: [[2]])
        let elsewhere = manifest("kept", sequence: 3, segments: [[3]])
        let outcomes = node.apply([
            .commit(ma, manifest: before, completing: nil, inlineSegment: [1]),
            .commit(ma, manifest: elsewhere, completing: nil, inlineSegment: [3]),
            .purge(ma, bucket: "gone"),
            .commit(ma, manifest: after, completing: nil, inlineSegment: [2]),
        ])
        XCTAssertEqual(try outcomes.map { try $0.get() }, [.committed, .committed, .committed, .committed])
        XCTAssertNil(try node.manifest(ma, bucket: "gone", key: "before"), "committed before the purge: purged")
        XCTAssertThrowsError(try stored(node, before.versionID, 0))
        XCTAssertEqual(try node.manifest(ma, bucket: "gone", key: "after")?.versionID, after.versionID)
        XCTAssertEqual(try node.manifest(ma, bucket: "b", key: "kept")?.versionID, elsewhere.versionID)
        XCTAssertEqual(try stored(node, after.versionID, 0), [2])
    }

    func testAPurgeRefusedForALockedVersionRemovesNothingAndFailsAlone() throws {
        let node = try store()
        var locked = manifest("held", bucket: "gone", sequence: 1, segments: [[1]])
        locked.lock = ObjectLock(legalHold: true)
        locked.keepsHistory = true
        let plain = manifest("plain", bucket: "gone", sequence: 2, segments: [[2]])
        _ = try node.commit(ma, manifest: locked, inlineSegment: [1])
        _ = try node.commit(ma, manifest: plain, inlineSegment: [2])
        let next = manifest("next", sequence: 3, segments: [[3]])
        let outcomes = node.apply([.purge(ma, bucket: "gone"),
                                   .commit(ma, manifest: next, completing: nil, inlineSegment: [3])])
        XCTAssertThrowsError(try outcomes[0].get()) {
            guard case NodeError.objectLocked = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(try outcomes[1].get(), .committed)
        XCTAssertEqual(try node.list(ma, bucket: "gone", prefix: [], from: [], limit: 10).map(\.key), ["held", "plain"])
        XCTAssertEqual(try stored(node, plain.versionID, 0), [2])
    }

    /// A repair names segments staged by a segment stream; they replace the damaged ones only if the extent then
    /// matches its digest and the version is still there as the group leaves it, and are dropped in every case.
    func testARepairTakesOnlyRecordedBytesOfAVersionStillStoredAndDropsWhatWasStaged() throws {
        let node = try store()
        let segments: [[UInt8]] = [[1, 1, 1], [2, 2, 2], [3]]
        let object = manifest("k", sequence: 1, segments: segments)
        let damaged: [[UInt8]] = [[1, 1, 1], [2, 9, 2], [3]]
        for (index, bytes) in damaged.enumerated() {
            try node.putSegment(ma, bucket: "b", key: "k", version: object.versionID, index: UInt32(index), bytes: bytes)
        }
        _ = try node.commit(ma, manifest: object)
        func stage(_ bytes: [[UInt8]]) throws -> VersionID {
            let staged = VersionID.random()
            for (index, segment) in bytes.enumerated() {
                try node.putSegment(ma, bucket: "b", key: "k", version: staged, index: UInt32(index), bytes: segment)
            }
            return staged
        }
        func repair(_ staged: VersionID, _ indices: [UInt32]) -> NodeChange {
            .repairSegments(ma, SegmentRepair(bucket: "b", key: "k", version: object.versionID, sequence: 1,
                                              extent: object.versionID, staged: staged, indices: indices))
        }
        let refused: [(String, VersionID, [UInt32])] = [
            ("other bytes", try stage([[2, 2, 7]]), [1]),
            ("the right bytes at the wrong index", try stage([[2, 2, 2]]), [0]),
            ("an index past the extent", try stage([[2, 2, 2]]), [3]),
            ("one index twice", try stage([[2, 2, 2], [2, 2, 2]]), [1, 1]),
            ("bytes moved across a boundary", try stage([[2, 2], [2, 3]]), [1, 2]),
            ("staged segments missing", VersionID.random(), [1]),
        ]
        for (name, staged, indices) in refused {
            XCTAssertEqual(try node.apply([repair(staged, indices)])[0].get(), .superseded, name)
            XCTAssertEqual(try stored(node, object.versionID, 1), [2, 9, 2], name)
        }
        XCTAssertEqual(try node.counts().uploads, 0, "every refused repair dropped what it staged")
        // A repair naming a committed version as staged (the extent itself, or another object) drops nothing of it.
        let other = manifest("other", sequence: 2, segments: [[5]])
        _ = try node.commit(ma, manifest: other, inlineSegment: [5])
        XCTAssertEqual(try node.apply([repair(object.versionID, [0])])[0].get(), .superseded)
        XCTAssertEqual(try node.apply([repair(other.versionID, [1])])[0].get(), .superseded)
        XCTAssertEqual(try stored(node, object.versionID, 0), [1, 1, 1])
        XCTAssertEqual(try stored(node, other.versionID, 0), [5])
        // The recorded bytes repair it, through the in-process node's path (its check made before the commit lock).
        let good = try stage([[2, 2, 2]])
        XCTAssertEqual(try node.repair(ma, SegmentRepair(bucket: "b", key: "k", version: object.versionID, sequence: 1,
                                                         extent: object.versionID, staged: good, indices: [1])),
                       .committed)
        XCTAssertEqual(try stored(node, object.versionID, 1), [2, 2, 2])
        XCTAssertEqual(try node.counts().uploads, 0)
        XCTAssertThrowsError(try stored(node, good, 0))

        // A version deleted ahead of the repair in its group is not brought back.
        let late = try stage([[2, 2, 2]])
        let outcomes = node.apply([
            .deleteVersion(ma, bucket: "b", key: "k", version: object.versionID, sequence: 1,
                           check: LockCheck(nowMillis: 0, bypassGovernance: false, relocating: false)),
            repair(late, [1]),
        ])
        XCTAssertEqual(try outcomes.map { try $0.get() }, [.committed, .superseded])
        XCTAssertThrowsError(try stored(node, object.versionID, 1))
        XCTAssertEqual(try node.counts().uploads, 0)
        XCTAssertEqual(try node.counts().segments, 1, "the other object's")
    }

    /// A purge goes a page at a time: more records than a page, in every space of the bucket, all go, and nothing of
    /// another bucket.
    func testAPurgeOfMoreThanAPageRemovesEveryRecordOfTheBucketOnly() throws {
        let node = try store()
        let count = NodeStore.purgePage + 234
        let changes = (0..<count).flatMap { index -> [NodeChange] in
            let object = manifest(String(format: "k%05d", index), bucket: "gone", sequence: UInt64(index + 1),
                                  segments: [[UInt8(index % 256)]])
            return [.commit(ma, manifest: object, completing: nil, inlineSegment: [UInt8(index % 256)], index: true)]
        }
        XCTAssertTrue(node.apply(changes).allSatisfy { (try? $0.get()) == .committed })
        let kept = manifest("kept", sequence: 1, segments: [[1]])
        _ = try node.commit(ma, manifest: kept, inlineSegment: [1])
        var template = manifest("mp", bucket: "gone", sequence: 1)
        template.versionID = .random()
        // The lock its object will have: an upload is no version, and does not hold the purge back.
        template.lock = ObjectLock(legalHold: true)
        _ = try node.apply([.createUpload(ma, template: template)])[0].get()
        XCTAssertEqual(try node.apply([.purge(ma, bucket: "gone")])[0].get(), .committed)
        XCTAssertEqual(try node.list(ma, bucket: "gone", prefix: [], from: [], limit: 10), [])
        XCTAssertEqual(try node.list(ma, bucket: "gone", prefix: [], from: [], limit: 10, space: .index), [])
        XCTAssertNil(try node.upload(ma, bucket: "gone", key: "mp", upload: template.versionID))
        XCTAssertEqual(try node.counts().segments, 1)
        XCTAssertEqual(try node.manifest(ma, bucket: "b", key: "kept")?.versionID, kept.versionID)
    }
}
