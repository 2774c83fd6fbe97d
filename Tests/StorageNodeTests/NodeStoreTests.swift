import Foundation
import NIOPosix
import Hashing
import ObjectModel
import StorageEngine
import StorageNode
import XCTest

final class NodeStoreTests: XCTestCase {
    let ma = Jurisdiction("MA")!
    let fr = Jurisdiction("FR")!
    var directory: URL!

    override func setUp() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("qantara-node-\(UUID())")
    }

    override func tearDown() { try? FileManager.default.removeItem(at: directory) }

    func manifest(_ key: String, sequence: UInt64, size: Int64 = 3, tombstone: Bool = false) -> ObjectManifest {
        ObjectManifest(bucket: "b", key: key, versionID: .random(), sequence: sequence, isTombstone: tombstone,
                       sizeBytes: size, etag: "e", lastModifiedMillis: 1)
    }

    func testDatabaseStampedForAnotherJurisdictionIsRefused() throws {
        let engine = try RocksDBEngine(path: directory.path)
        _ = try NodeStore(node: NodeID("ma-1")!, jurisdiction: ma, engine: engine, nowMillis: 0)
        engine.close()
        let reopened = try RocksDBEngine(path: directory.path)
        defer { reopened.close() }
        XCTAssertThrowsError(try NodeStore(node: NodeID("ma-1")!, jurisdiction: fr, engine: reopened, nowMillis: 0)) {
            guard case NodeError.stampMismatch(let message) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(message.contains("stamped for jurisdiction MA"), message)
        }
        XCTAssertThrowsError(try NodeStore(node: NodeID("ma-2")!, jurisdiction: ma, engine: reopened, nowMillis: 0))
        XCTAssertNoThrow(try NodeStore(node: NodeID("ma-1")!, jurisdiction: ma, engine: reopened, nowMillis: 0))
    }

    func testWritesAddressedToAnotherJurisdictionAreRefused() throws {
        let node = try NodeStore(node: NodeID("ma-1")!, jurisdiction: ma, engine: MemoryEngine(), nowMillis: 0)
        let version = VersionID.random()
        XCTAssertThrowsError(try node.putSegment(fr, bucket: "b", key: "k", version: version, index: 0, bytes: [1])) {
            XCTAssertEqual($0 as? NodeError, .wrongJurisdiction(node: NodeID("ma-1")!, nodeJurisdiction: ma, requested: fr))
        }
        XCTAssertThrowsError(try node.commit(fr, manifest: manifest("k", sequence: 1)))
        XCTAssertThrowsError(try node.manifest(fr, bucket: "b", key: "k"))
        XCTAssertThrowsError(try node.list(fr, bucket: "b", prefix: [], from: [], limit: 10))
        XCTAssertEqual(try node.counts().objects, 0)
    }

    func testUploadsAbandonedForADayAreSweptAndOthersStay() throws {
        let node = try NodeStore(node: NodeID("ma-1")!, jurisdiction: ma, engine: MemoryEngine(), nowMillis: 0)
        let abandoned = VersionID.random()
        try node.putSegment(ma, bucket: "b", key: "k", version: abandoned, index: 0, bytes: [1, 2, 3])
        try node.putSegment(ma, bucket: "b", key: "k", version: abandoned, index: 1, bytes: [4])
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        // Begun less than a day ago: an upload still streaming, left alone.
        XCTAssertEqual(try node.sweepStaleUploads(startedBefore: now - NodeStore.staleUploadMillis), 0)
        XCTAssertEqual(try node.counts().uploads, 1)
        // A day later (the cutoff after its start): its segments and marker go.
        XCTAssertEqual(try node.sweepStaleUploads(startedBefore: now + 1000), 1)
        XCTAssertEqual(try node.counts().uploads, 0)
        XCTAssertThrowsError(try node.segment(ma, version: abandoned, index: 0))
        XCTAssertThrowsError(try node.segment(ma, version: abandoned, index: 1))
        // A committed version is never an upload: nothing of it is swept.
        let kept = manifest("kept", sequence: 1)
        try node.putSegment(ma, bucket: "b", key: "kept", version: kept.versionID, index: 0, bytes: [1, 2, 3])
        XCTAssertEqual(try node.commit(ma, manifest: kept), .committed)
        XCTAssertEqual(try node.sweepStaleUploads(startedBefore: now + 100_000), 0)
        XCTAssertEqual(Array(try node.segment(ma, version: kept.versionID, index: 0).readableBytesView), [1, 2, 3])
    }

    func testNewerManifestWinsAndOlderIsDropped() throws {
        let node = try NodeStore(node: NodeID("ma-1")!, jurisdiction: ma, engine: MemoryEngine(), nowMillis: 0)
        let older = manifest("k", sequence: 10), newer = manifest("k", sequence: 20)
        try node.putSegment(ma, bucket: "b", key: "k", version: newer.versionID, index: 0, bytes: [1, 2, 3])
        XCTAssertEqual(try node.commit(ma, manifest: newer), .committed)
        try node.putSegment(ma, bucket: "b", key: "k", version: older.versionID, index: 0, bytes: [9, 9, 9])
        XCTAssertEqual(try node.commit(ma, manifest: older), .superseded)
        XCTAssertEqual(try node.manifest(ma, bucket: "b", key: "k"), newer)
        XCTAssertThrowsError(try node.segment(ma, version: older.versionID, index: 0))
        XCTAssertEqual(Array(try node.segment(ma, version: newer.versionID, index: 0).readableBytesView), [1, 2, 3])
        // A later version replaces it and frees its segments.
        let latest = manifest("k", sequence: 30)
        try node.putSegment(ma, bucket: "b", key: "k", version: latest.versionID, index: 0, bytes: [4, 5, 6])
        XCTAssertEqual(try node.commit(ma, manifest: latest), .committed)
        XCTAssertThrowsError(try node.segment(ma, version: newer.versionID, index: 0))
        XCTAssertEqual(try node.counts().objects, 1)
    }

    func testAGroupOfChangesReadsItsOwnWritesAndAFailureStaysAlone() throws {
        let node = try NodeStore(node: NodeID("ma-1")!, jurisdiction: ma, engine: MemoryEngine(), nowMillis: 0)
        let first = manifest("k", sequence: 10), second = manifest("k", sequence: 20), stale = manifest("k", sequence: 5)
        let other = manifest("other", sequence: 1)
        let outcomes = node.apply([
            .commit(ma, manifest: first, completing: nil, inlineSegment: [1, 1, 1]),
            .commit(ma, manifest: second, completing: nil, inlineSegment: [2, 2, 2]),
            .commit(fr, manifest: other, completing: nil, inlineSegment: [3, 3, 3]),
            .commit(ma, manifest: stale, completing: nil, inlineSegment: [4, 4, 4]),
            .commit(ma, manifest: other, completing: nil, inlineSegment: [5, 5, 5]),
        ])
        XCTAssertEqual(try outcomes[0].get(), .committed)
        // The second change saw the first's manifest and replaced it, freeing its segment.
        XCTAssertEqual(try outcomes[1].get(), .committed)
        XCTAssertThrowsError(try outcomes[2].get()) {
            XCTAssertEqual($0 as? NodeError, .wrongJurisdiction(node: NodeID("ma-1")!, nodeJurisdiction: ma, requested: fr))
        }
        XCTAssertEqual(try outcomes[3].get(), .superseded)
        XCTAssertEqual(try outcomes[4].get(), .committed)
        XCTAssertEqual(try node.manifest(ma, bucket: "b", key: "k"), second)
        XCTAssertEqual(Array(try node.segment(ma, version: second.versionID, index: 0).readableBytesView), [2, 2, 2])
        XCTAssertEqual(Array(try node.segment(ma, version: other.versionID, index: 0).readableBytesView), [5, 5, 5])
        XCTAssertThrowsError(try node.segment(ma, version: first.versionID, index: 0))
        XCTAssertThrowsError(try node.segment(ma, version: stale.versionID, index: 0))
        XCTAssertEqual(try node.counts().objects, 2)
        XCTAssertEqual(try node.counts().segments, 2)
    }

    func testOverwritingAMultiSegmentObjectFreesEverySegment() throws {
        let node = try NodeStore(node: NodeID("ma-1")!, jurisdiction: ma, engine: MemoryEngine(), nowMillis: 0)
        var big = manifest("k", sequence: 1, size: 10)
        big.segmentSizeBytes = 4
        for index in 0..<3 {
            try node.putSegment(ma, bucket: "b", key: "k", version: big.versionID, index: UInt32(index), bytes: [1])
        }
        XCTAssertEqual(try node.commit(ma, manifest: big), .committed)
        XCTAssertEqual(try node.counts().segments, 3)
        XCTAssertEqual(try node.counts().uploads, 0)
        XCTAssertEqual(try node.commit(ma, manifest: manifest("k", sequence: 2, size: 0)), .committed)
        XCTAssertEqual(try node.counts().segments, 0)
        XCTAssertEqual(try node.counts().objects, 1)
    }

    func testUncommittedUploadsAreSweptAtOpen() throws {
        let engine = MemoryEngine()
        let node = try NodeStore(node: NodeID("ma-1")!, jurisdiction: ma, engine: engine, nowMillis: 0)
        let version = VersionID.random()
        try node.putSegment(ma, bucket: "b", key: "k", version: version, index: 0, bytes: [1])
        try node.putSegment(ma, bucket: "b", key: "k", version: version, index: 1, bytes: [2])
        XCTAssertEqual(try node.counts().uploads, 1)
        let reopened = try NodeStore(node: NodeID("ma-1")!, jurisdiction: ma, engine: engine, nowMillis: 0)
        XCTAssertEqual(try reopened.counts().uploads, 0)
        XCTAssertThrowsError(try reopened.segment(ma, version: version, index: 1))
    }

    /// Segments of 64 KiB and more are files; smaller ones (and inline ones) stay in the engine. An overwrite frees
    /// the old version's file once its commit is durable; a file whose key is gone (a crash between the two) and the
    /// file of an upload that never committed are removed when the node opens.
    func testLargeSegmentsAreFilesFreedWithTheirVersion() throws {
        let engine = MemoryEngine()
        let segments = directory.appendingPathComponent("segments").path
        let node = try NodeStore(node: NodeID("ma-1")!, jurisdiction: ma, engine: engine, nowMillis: 0,
                                 segmentDirectory: segments)
        let big = Array(repeating: UInt8(7), count: Limits.segmentSizeBytes + 16)
        var first = manifest("k", sequence: 1, size: Int64(2 * Limits.segmentSizeBytes + 10))
        first.segmentSizeBytes = UInt32(Limits.segmentSizeBytes)
        let version = first.versionID
        try node.putSegment(ma, bucket: "b", key: "k", version: version, index: 0, bytes: big)
        try node.putSegment(ma, bucket: "b", key: "k", version: version, index: 1, bytes: Array(big.reversed()))
        try node.putSegment(ma, bucket: "b", key: "k", version: version, index: 2, bytes: [1, 2, 3])
        let file = "\(segments)/\(Hex.encode([version.bytes[0]]))/\(version)"
        XCTAssertTrue(FileManager.default.fileExists(atPath: file))
        XCTAssertNil(try engine.get([0x73] + version.bytes + [0, 0, 0, 0]), "a large segment went to the engine")
        XCTAssertTrue(node.needsSegmentSync(.commit(ma, manifest: first, completing: nil, inlineSegment: nil)))
        XCTAssertEqual(try node.commit(ma, manifest: first), .committed)
        XCTAssertFalse(node.needsSegmentSync(.commit(ma, manifest: first, completing: nil, inlineSegment: nil)))
        XCTAssertEqual(try node.withSegment(ma, version: version, index: 0) { Array($0) }, big)
        XCTAssertEqual(try node.withSegment(ma, version: version, index: 1) { Array($0) }, Array(big.reversed()))
        XCTAssertEqual(try node.withSegment(ma, version: version, index: 2) { Array($0) }, [1, 2, 3])
        // From the page cache on the caller's thread, where the file system allows it.
        if case .done(let cached) = try node.withSegmentInMemory(ma, version: version, index: 1, { Array($0) }) {
            XCTAssertEqual(cached, Array(big.reversed()))
        }
        XCTAssertThrowsError(try node.withSegment(ma, version: version, index: 3) { $0.count }) {
            guard case NodeError.missingSegment = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(try node.counts().segments, 3)
        // A slot whose header does not check reads as absent, never as bytes.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: file))
        try handle.seek(toOffset: UInt64(3 * (Limits.segmentSizeBytes + Limits.segmentOverheadBytesMax + 8)))
        handle.write(Data([0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9]))
        try handle.close()
        XCTAssertThrowsError(try node.withSegment(ma, version: version, index: 3) { $0.count })

        XCTAssertEqual(try node.commit(ma, manifest: manifest("k", sequence: 2, size: 0)), .committed)
        XCTAssertFalse(FileManager.default.fileExists(atPath: file), "an overwritten version kept its file")
        XCTAssertEqual(try node.counts().segments, 0)

        // A crash after a version's key was deleted, before its file was: the file goes at the next open.
        let orphan = VersionID.random()
        var lost = manifest("orphan", sequence: 3, size: Int64(big.count - 16))
        lost.versionID = orphan
        lost.segmentSizeBytes = UInt32(Limits.segmentSizeBytes)
        try node.putSegment(ma, bucket: "b", key: "orphan", version: orphan, index: 0, bytes: big)
        XCTAssertEqual(try node.commit(ma, manifest: lost), .committed)
        var forget = WriteBatch()
        forget.delete([0x66] + orphan.bytes)
        try engine.write(forget, sync: true)
        // An upload that never committed: swept with its file.
        let abandoned = VersionID.random()
        try node.putSegment(ma, bucket: "b", key: "gone", version: abandoned, index: 0, bytes: big)
        let reopened = try NodeStore(node: NodeID("ma-1")!, jurisdiction: ma, engine: engine, nowMillis: 0,
                                     segmentDirectory: segments)
        for version in [orphan, abandoned] {
            XCTAssertFalse(FileManager.default.fileExists(
                atPath: "\(segments)/\(Hex.encode([version.bytes[0]]))/\(version)"))
            XCTAssertThrowsError(try reopened.withSegment(ma, version: version, index: 0) { $0.count })
        }
    }

    /// A database written before segment files (every segment in the engine) is still served once the node keeps
    /// files, and an overwrite still frees its segments.
    func testSegmentsWrittenBeforeSegmentFilesAreStillServed() throws {
        let engine = MemoryEngine()
        let old = try NodeStore(node: NodeID("ma-1")!, jurisdiction: ma, engine: engine, nowMillis: 0)
        let big = Array(repeating: UInt8(3), count: Limits.segmentSizeBytes + 16)
        var stored = manifest("k", sequence: 1, size: Int64(Limits.segmentSizeBytes))
        stored.segmentSizeBytes = UInt32(Limits.segmentSizeBytes)
        try old.putSegment(ma, bucket: "b", key: "k", version: stored.versionID, index: 0, bytes: big)
        XCTAssertEqual(try old.commit(ma, manifest: stored), .committed)
        let segments = directory.appendingPathComponent("segments").path
        let node = try NodeStore(node: NodeID("ma-1")!, jurisdiction: ma, engine: engine, nowMillis: 0,
                                 segmentDirectory: segments)
        XCTAssertEqual(try node.withSegment(ma, version: stored.versionID, index: 0) { Array($0) }, big)
        XCTAssertEqual(try node.counts().segments, 1)
        XCTAssertEqual(try node.commit(ma, manifest: manifest("k", sequence: 2, size: 0)), .committed)
        XCTAssertEqual(try node.counts().segments, 0)
    }

    func testListIsOrderedPrefixedAndBucketScoped() throws {
        let node = try NodeStore(node: NodeID("ma-1")!, jurisdiction: ma, engine: MemoryEngine(), nowMillis: 0)
        for key in ["b/2", "a/1", "b/1", "c", "b/10"] { _ = try node.commit(ma, manifest: manifest(key, sequence: 1, size: 0)) }
        var other = manifest("b/3", sequence: 1, size: 0)
        other.bucket = "bb"
        _ = try node.commit(ma, manifest: other)
        XCTAssertEqual(try node.list(ma, bucket: "b", prefix: Array("b/".utf8), from: [], limit: 10).map(\.key),
                       ["b/1", "b/10", "b/2"])
        XCTAssertEqual(try node.list(ma, bucket: "b", prefix: [], from: Array("b/10".utf8), limit: 2).map(\.key),
                       ["b/10", "b/2"])
        try node.purge(ma, bucket: "b")
        XCTAssertEqual(try node.list(ma, bucket: "b", prefix: [], from: [], limit: 10).count, 0)
        XCTAssertEqual(try node.list(ma, bucket: "bb", prefix: [], from: [], limit: 10).count, 1)
    }

    func testManifestEncodingRoundTripsAndRejectsCorruption() throws {
        var original = manifest("ключ/../\u{1}x", sequence: 42, size: 5_000_000)
        original.metadata.contentType = "text/plain"
        original.metadata.user = [("a", "1"), ("b", "two")]
        original.checksumAlgorithm = "CRC32"
        original.checksumValue = "AAAAAA=="
        let encoded = original.encoded()
        XCTAssertEqual(try ObjectManifest(decoding: encoded), original)
        XCTAssertEqual(original.segmentCount, 5)
        XCTAssertThrowsError(try ObjectManifest(decoding: Array(encoded.dropLast())))
        var badVersion = encoded
        badVersion[0] = 99
        XCTAssertThrowsError(try ObjectManifest(decoding: badVersion))
    }

    /// Format 4 carries the stored digest of the version and of each part; formats 3 (manifests) and 1 (part
    /// records), written before, still read, without digests.
    func testStoredDigestsRoundTripAndOlderFormatsStillRead() throws {
        var original = manifest("k", sequence: 7, size: 11)
        original.storedDigest = Array(repeating: 0xAB, count: 32)
        original.parts = [PartRef(number: 1, versionID: .random(), sizeBytes: 11, etag: "e", checksumValue: nil,
                                  storedDigest: Array(repeating: 0xCD, count: 32))]
        XCTAssertEqual(try ObjectManifest(decoding: original.encoded()), original)
        var wrongSize = original
        wrongSize.storedDigest = [1, 2, 3]
        XCTAssertThrowsError(try ObjectManifest(decoding: wrongSize.encoded()))
        // A format-4 manifest: no versioning flags nor object lock (11 bytes) at the end; a format-3 one, no digest
        // flag either.
        var older = manifest("k", sequence: 7, size: 11)
        var bytes = older.encoded()
        bytes[0] = 4
        bytes.removeLast(11)
        XCTAssertEqual(try ObjectManifest(decoding: bytes), older)
        bytes[0] = 3
        bytes.removeLast()
        XCTAssertEqual(try ObjectManifest(decoding: bytes), older)
        // Format 5 carries them.
        var versioned = manifest("k", sequence: 8, tombstone: true)
        (versioned.keepsHistory, versioned.hasVersionID, versioned.isDeleteMarker) = (true, true, true)
        versioned.lock = ObjectLock(mode: .governance, retainUntilMillis: 99, legalHold: true)
        XCTAssertEqual(try ObjectManifest(decoding: versioned.encoded()), versioned)
        var notTombstone = versioned
        notTombstone.isTombstone = false
        XCTAssertThrowsError(try ObjectManifest(decoding: notTombstone.encoded()), "a delete marker must be a tombstone")
        older.storedDigest = nil
        // A format-1 part record: no digest field in its part.
        let record = PartRecord(part: PartRef(number: 2, versionID: .random(), sizeBytes: 5, etag: "e",
                                              checksumValue: nil), sequence: 1, lastModifiedMillis: 2)
        var recordBytes = record.encoded()
        recordBytes[0] = 1
        recordBytes.removeLast(4)
        XCTAssertEqual(try PartRecord(decoding: recordBytes), record)
        XCTAssertEqual(try PartRecord(decoding: record.encoded()), record)
    }

    /// A node's tally of a bucket: its current versions in key order (tombstones are not), the sampled ones proven.
    func testBucketTallyCountsCurrentVersionsAndProvesSamples() throws {
        var manifests = (0..<2500).map { manifest(String(format: "k-%05d", $0), sequence: 1, size: 10) }
        for index in manifests.indices { manifests[index].storedDigest = Array(repeating: UInt8(index % 256), count: 32) }
        manifests[3].isTombstone = true
        manifests[3].storedDigest = nil
        var pages = stride(from: 0, to: manifests.count, by: 1000).map { Array(manifests[$0..<min($0 + 1000, manifests.count)]) }
        let tally = BucketTally(bucket: "b", sampled: ["k-00004", "k-02499", "k-00003", "absent"]) {
            pages.isEmpty ? nil : pages.removeFirst()
        }
        let live = manifests.filter { !$0.isTombstone }
        XCTAssertEqual(tally.objects, UInt64(live.count))
        var tree = MerkleLevels()
        for manifest in live {
            tree.append(leaf: Array(BucketLeaf.text(key: manifest.key, version: manifest.versionID,
                                                    storedDigest: manifest.storedDigest).utf8))
        }
        XCTAssertEqual(tally.root, tree.root(size: tree.size))
        XCTAssertEqual(tally.samples.map(\.key), ["k-00004", "k-02499"].map { Base64URL.encode(Array($0.utf8)) })
        for sample in tally.samples {
            XCTAssertTrue(sample.leaf.hasPrefix("key \(sample.key) version "))
            XCTAssertTrue(MerkleTree.verifyInclusion(index: sample.index, size: tally.objects,
                                                     leaf: MerkleTree.leafHash(Array(sample.leaf.utf8)),
                                                     proof: sample.proof.compactMap(Base64.decode), root: tally.root))
        }
    }

    func testLocalNodeOfflineAndOnline() async throws {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let path = directory.path
        let node = try LocalStorageNode(node: NodeID("ma-1")!, jurisdiction: ma, threadPool: pool, clock: { 0 },
                                        openEngine: { try RocksDBEngine(path: path) })
        let committed = manifest("k", sequence: 1, size: 0)
        _ = try await node.commit(ma, manifest: committed)
        node.goOffline()
        XCTAssertFalse(node.isLikelyAvailable)
        do {
            _ = try await node.manifest(ma, bucket: "b", key: "k")
            XCTFail("offline node answered")
        } catch {
            XCTAssertEqual(error as? NodeError, .unavailable(NodeID("ma-1")!))
        }
        try node.goOnline()
        let found = try await node.manifest(ma, bucket: "b", key: "k")
        XCTAssertEqual(found, committed)
        node.close()
        try await pool.shutdownGracefully()
    }
}
