import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
@testable import NodeHTTP
import ObjectModel
import StorageEngine
import StorageNode
import Synchronization
import XCTest

/// One suite for every implementation of the node protocol: the in-process node, and the same node served over
/// HTTP and reached through the network client.
class NodeClientConformanceTests: XCTestCase {
    let ma = Jurisdiction("MA")!
    var pool: NIOThreadPool!
    var local: LocalStorageNode!
    var directory: URL!

    override func setUp() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("qantara-conformance-\(UUID())")
        pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        let path = directory.path
        // Large segments as files, as `qantara serve` and `qantara node` keep them.
        local = try LocalStorageNode(node: NodeID("ma-1")!, jurisdiction: ma, threadPool: pool, clock: { 0 },
                                     segmentDirectory: path + "/segments",
                                     openEngine: { try RocksDBEngine(path: path) })
    }

    override func tearDown() async throws {
        local.close()
        try await pool.shutdownGracefully()
        try? FileManager.default.removeItem(at: directory)
    }

    /// The client under test; overridden by the network variant.
    func client() async throws -> any StorageNodeClient { local }

    func manifest(_ key: String, sequence: UInt64, size: Int64, version: VersionID = .random()) -> ObjectManifest {
        ObjectManifest(bucket: "bkt", key: key, versionID: version, sequence: sequence, sizeBytes: size, etag: "e",
                       lastModifiedMillis: 1)
    }

    func testSegmentsCommitAndNewestWins() async throws {
        let node = try await client()
        let first = manifest("k", sequence: 10, size: 3)
        try await node.putSegment(ma, bucket: "bkt", key: "k", version: first.versionID, index: 0, bytes: [1, 2, 3])
        let committed = try await node.commit(ma, manifest: first)
        XCTAssertEqual(committed, .committed)
        let fetched = try await node.manifest(ma, bucket: "bkt", key: "k")
        XCTAssertEqual(fetched, first)
        let segment = try await node.segment(ma, version: first.versionID, index: 0)
        XCTAssertEqual(Array(segment.readableBytesView), [1, 2, 3])
        let older = manifest("k", sequence: 5, size: 0)
        let outcome = try await node.commit(ma, manifest: older)
        XCTAssertEqual(outcome, .superseded)
        let missing = try await node.manifest(ma, bucket: "bkt", key: "absent")
        XCTAssertNil(missing)
    }

    func testConcurrentCommitsAllLandAndTheNewestWinsPerKey() async throws {
        let node = try await client()
        let keys = (0..<8).map { "key-\($0)" }
        // 8 writers per key, each with its own sequence: groups form while the disk syncs.
        let manifests = (0..<64).map { index in manifest(keys[index % 8], sequence: UInt64(index + 1), size: 3) }
        let ma = self.ma
        let outcomes = try await withThrowingTaskGroup(of: CommitOutcome.self) { group in
            for manifest in manifests {
                group.addTask {
                    try await node.commitSmall(ma, manifest: manifest, segment: [UInt8(manifest.sequence), 0, 0])
                }
            }
            return try await group.reduce(into: [CommitOutcome]()) { $0.append($1) }
        }
        XCTAssertEqual(outcomes.count, 64)
        XCTAssertTrue(outcomes.contains(.committed))
        for (index, key) in keys.enumerated() {
            let newest = manifests[56 + index]
            let stored = try await node.manifest(ma, bucket: "bkt", key: key)
            XCTAssertEqual(stored, newest, key)
            let segment = try await node.segment(ma, version: newest.versionID, index: 0)
            XCTAssertEqual(Array(segment.readableBytesView), [UInt8(newest.sequence), 0, 0])
        }
        let status = await node.status()
        XCTAssertEqual(status.objectCount, 8)
        XCTAssertEqual(status.segmentCount, 8, "every replaced or superseded version's segment is gone")
    }

    func testCommitsQueuedWhenTheNodeGoesOfflineEndCommittedOrUnavailable() async throws {
        let local = try XCTUnwrap(local)
        let manifests = (0..<32).map { manifest("k-\($0)", sequence: 1, size: 1) }
        let ma = self.ma
        let outcomes = await withTaskGroup(of: (ObjectManifest, Result<CommitOutcome, any Error>).self) { group in
            for manifest in manifests {
                group.addTask {
                    do { return (manifest, .success(try await local.commitSmall(ma, manifest: manifest, segment: [7]))) }
                    catch { return (manifest, .failure(error)) }
                }
            }
            local.goOffline()
            return await group.reduce(into: [(ObjectManifest, Result<CommitOutcome, any Error>)]()) { $0.append($1) }
        }
        XCTAssertEqual(outcomes.count, 32)
        try local.goOnline()
        for (manifest, outcome) in outcomes {
            switch outcome {
            case .success(let result):
                XCTAssertEqual(result, .committed)
                let stored = try await local.manifest(ma, bucket: "bkt", key: manifest.key)
                XCTAssertEqual(stored, manifest, "an acknowledged commit is durable")
            case .failure(let error):
                XCTAssertEqual(error as? NodeError, .unavailable(NodeID("ma-1")!))
            }
        }
    }

    func testSealedFieldsAreReplacedOnlyOnTheSameVersionAndCompactKeepsData() async throws {
        let node = try await client()
        var first = manifest("k", sequence: 10, size: 3)
        first.envelope = [1, 1]
        first.sealedMetadata = [7, 7]
        // An inline segment may carry an authentication tag beyond the object's size.
        _ = try await node.commitSmall(ma, manifest: first, segment: [1, 2, 3] + [UInt8](repeating: 0xEE, count: 16))
        let replaced = try await node.replaceSealed(ma, bucket: "bkt", key: "k", version: first.versionID, sequence: nil,
                                                    upload: false, field: .envelope, bytes: [2, 2])
        XCTAssertTrue(replaced)
        let stale = try await node.replaceSealed(ma, bucket: "bkt", key: "k", version: .random(), sequence: nil, upload: false,
                                                 field: .envelope, bytes: [3, 3])
        XCTAssertFalse(stale)
        let metadata = try await node.replaceSealed(ma, bucket: "bkt", key: "k", version: first.versionID, sequence: nil,
                                                    upload: false, field: .metadata, bytes: [8, 8])
        XCTAssertTrue(metadata)
        // A newer write wins: replacing a field of the version it superseded changes nothing, brings nothing back.
        let newer = manifest("k", sequence: 20, size: 3)
        _ = try await node.commitSmall(ma, manifest: newer, segment: [4, 5, 6])
        let late = try await node.replaceSealed(ma, bucket: "bkt", key: "k", version: first.versionID, sequence: nil, upload: false,
                                                field: .metadata, bytes: [9, 9])
        XCTAssertFalse(late)
        let current = try await node.manifest(ma, bucket: "bkt", key: "k")
        XCTAssertEqual(current?.versionID, newer.versionID)
        XCTAssertEqual(current?.sequence, 20)
        _ = try await node.commitSmall(ma, manifest: first, segment: [1, 2, 3] + [UInt8](repeating: 0xEE, count: 16))
        try await node.compact(ma)
        var fetched = try await node.manifest(ma, bucket: "bkt", key: "k")
        XCTAssertEqual(fetched?.versionID, newer.versionID)
        // Back to the first version, to check its fields and data survive compaction.
        var again = first
        again.sequence = 30
        again.envelope = [2, 2]
        again.sealedMetadata = [8, 8]
        _ = try await node.commitSmall(ma, manifest: again, segment: [1, 2, 3] + [UInt8](repeating: 0xEE, count: 16))
        try await node.compact(ma)
        fetched = try await node.manifest(ma, bucket: "bkt", key: "k")
        XCTAssertEqual(fetched?.envelope, [2, 2])
        XCTAssertEqual(fetched?.sealedMetadata, [8, 8])
        let segment = try await node.segment(ma, version: first.versionID, index: 0)
        XCTAssertEqual(segment.readableBytes, 19)
        let summed = try await node.readSegment(ma, version: first.versionID, index: 0) { raw in raw.reduce(0, { $0 + Int($1) }) }
        XCTAssertEqual(summed, 6 + 16 * 0xEE)
        do {
            _ = try await node.readSegment(ma, version: first.versionID, index: 1) { $0.count }
            XCTFail("a missing segment was read")
        } catch let error as NodeError {
            guard case .missingSegment = error else { return XCTFail("\(error)") }
        }
    }

    func testSmallObjectCommitsWithItsSegment() async throws {
        let node = try await client()
        let small = manifest("small", sequence: 7, size: 4)
        let outcome = try await node.commitSmall(ma, manifest: small, segment: [9, 8, 7, 6])
        XCTAssertEqual(outcome, .committed)
        let segment = try await node.segment(ma, version: small.versionID, index: 0)
        XCTAssertEqual(Array(segment.readableBytesView), [9, 8, 7, 6])
        let stale = manifest("small", sequence: 3, size: 2)
        let superseded = try await node.commitSmall(ma, manifest: stale, segment: [1, 1])
        XCTAssertEqual(superseded, .superseded)
        do {
            _ = try await node.segment(ma, version: stale.versionID, index: 0)
            XCTFail("a superseded small object left its segment")
        } catch {}
        let status = await node.status()
        XCTAssertEqual(status.segmentCount, 1)
    }

    /// The callback commit and the answer-at-once manifest read: the same outcomes as their async forms, `done`
    /// called exactly once; the in-process node answers at once, the network client never does.
    func testStartedCommitsAndImmediateManifestReads() async throws {
        let node = try await client()
        let ma = self.ma
        func started(_ manifest: ObjectManifest, inline: [UInt8]?, completing upload: VersionID? = nil) async
            -> Result<CommitOutcome, any Error>
        {
            await started(.commit(ma, manifest: manifest, completing: upload, inlineSegment: inline))
        }
        func started(_ change: NodeChange) async -> Result<CommitOutcome, any Error> {
            let calls = Mutex(0)
            let result = await withCheckedContinuation { continuation in
                node.startCommit(change) { outcome in
                    calls.withLock { $0 += 1 }
                    continuation.resume(returning: outcome)
                }
            }
            try? await Task.sleep(for: .milliseconds(20))
            XCTAssertEqual(calls.withLock { $0 }, 1)
            return result
        }
        let small = manifest("started", sequence: 9, size: 2)
        let committed = await started(small, inline: [4, 2])
        XCTAssertEqual(try committed.get(), .committed)
        let superseded = await started(manifest("started", sequence: 2, size: 1), inline: [1])
        XCTAssertEqual(try superseded.get(), .superseded)
        let segment = try await node.segment(ma, version: small.versionID, index: 0)
        XCTAssertEqual(Array(segment.readableBytesView), [4, 2])
        // A larger object: its segment first, then the commit of the manifest alone.
        let large = manifest("started-large", sequence: 1, size: 3)
        try await node.putSegment(ma, bucket: "bkt", key: "started-large", version: large.versionID, index: 0,
                                  bytes: [7, 7, 7])
        let committedLarge = await started(large, inline: nil)
        XCTAssertEqual(try committedLarge.get(), .committed)
        // A part record of a multipart upload.
        let upload = VersionID.random()
        try await node.createUpload(ma, template: manifest("started-parts", sequence: 1, size: 0, version: upload))
        let part = PartRef(number: 1, versionID: .random(), sizeBytes: 2, etag: "p1", checksumValue: nil)
        try await node.putSegment(ma, bucket: "bkt", key: "started-parts", version: part.versionID, index: 0,
                                  bytes: [5, 6])
        let partCommitted = await started(.commitPart(ma, upload: upload,
                                                      record: PartRecord(part: part, sequence: 1, lastModifiedMillis: 1)))
        XCTAssertEqual(try partCommitted.get(), .committed)
        let parts = try await node.parts(ma, upload: upload, from: 0, limit: 10)
        XCTAssertEqual(parts.map(\.part), [part])
        // A commit in a jurisdiction the node does not serve fails, through `done`.
        let wrong = await withCheckedContinuation { continuation in
            node.startCommit(.commit(Jurisdiction("FR")!, manifest: manifest("x", sequence: 1, size: 1), completing: nil,
                                     inlineSegment: [1])) { continuation.resume(returning: $0) }
        }
        XCTAssertThrowsError(try wrong.get())

        for (key, expected) in [("started", small), ("started-large", large)] {
            switch try node.manifestWithoutWaiting(ma, bucket: "bkt", key: key) {
            case .done(let found):
                XCTAssertTrue(node is LocalStorageNode)
                XCTAssertEqual(found, expected)
            case .needsIO:
                XCTAssertFalse(node is LocalStorageNode, "a node in this process holds a fresh key in memory")
            }
            let fetched = try await node.manifest(ma, bucket: "bkt", key: key)
            XCTAssertEqual(fetched, expected)
        }
        if case .done(let found) = try node.manifestWithoutWaiting(ma, bucket: "bkt", key: "absent") {
            XCTAssertNil(found)
        }
        // An offline node answers neither at once nor through `done` with anything but unavailable.
        local.goOffline()
        if case .done = try node.manifestWithoutWaiting(ma, bucket: "bkt", key: "started") {
            XCTFail("an offline node answered")
        }
        let offline = await started(manifest("late", sequence: 1, size: 1), inline: [1])
        XCTAssertThrowsError(try offline.get())
        if node is LocalStorageNode {
            XCTAssertThrowsError(try offline.get()) { XCTAssertEqual($0 as? NodeError, .unavailable(NodeID("ma-1")!)) }
        }
        try local.goOnline()
    }

    /// Segments of various sizes (a full segment with its tag, a blob-sized one, a few bytes) go up in one stream
    /// and come back in order, whole or as a sub-range.
    func testSegmentStreamsCarryAVersionBothWays() async throws {
        let node = try await client()
        let version = VersionID.random()
        let sizes = [Limits.segmentSizeBytes + 16, 3, 70_000, Limits.segmentSizeBytes + 16, 10]
        let segments = sizes.enumerated().map { index, size in
            (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
        }
        let upload = node.openSegmentUpload(ma, bucket: "bkt", key: "k", version: version)
        for (index, bytes) in segments.enumerated() { try await upload.write(index: UInt32(index), bytes: bytes) }
        try await upload.finish()
        let stored = try await node.segment(ma, version: version, index: 4)
        XCTAssertEqual(Array(stored.readableBytesView), segments[4])
        let whole = node.segmentReader(ma, version: version, indices: 0...4)
        for expected in segments {
            let read = try await whole.next { Array($0) }
            XCTAssertEqual(read, expected)
        }
        do {
            _ = try await whole.next { $0.count }
            XCTFail("a reader read past its last segment")
        } catch {}
        let middle = node.segmentReader(ma, version: version, indices: 1...3)
        for index in 1...3 {
            let count = try await middle.next { $0.count }
            XCTAssertEqual(count, sizes[index])
        }
    }

    /// A reader stops at the first segment the node lacks, with the node's typed error; an upload addressed to
    /// another jurisdiction fails with the node's refusal.
    func testSegmentStreamErrorsAreTyped() async throws {
        let node = try await client()
        let version = VersionID.random()
        let upload = node.openSegmentUpload(ma, bucket: "bkt", key: "k", version: version)
        try await upload.write(index: 0, bytes: [1, 2])
        try await upload.write(index: 1, bytes: [3])
        try await upload.finish()
        let reader = node.segmentReader(ma, version: version, indices: 0...3)
        let first = try await reader.next { Array($0) }
        let second = try await reader.next { Array($0) }
        XCTAssertEqual(first + second, [1, 2, 3])
        do {
            _ = try await reader.next { $0.count }
            XCTFail("a missing segment was streamed")
        } catch let error as NodeError {
            guard case .missingSegment(_, _, let index) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(index, 2)
        }
        do {
            _ = try await node.segmentReader(ma, version: version, indices: 5...6).next { $0.count }
            XCTFail("a missing first segment was streamed")
        } catch let error as NodeError {
            guard case .missingSegment = error else { return XCTFail("\(error)") }
        }
        let fr = Jurisdiction("FR")!
        let foreign = node.openSegmentUpload(fr, bucket: "bkt", key: "k", version: .random())
        do {
            try await foreign.write(index: 0, bytes: [1])
            try await foreign.finish()
            XCTFail("a segment stream of another jurisdiction was stored")
        } catch let error as NodeError {
            XCTAssertEqual(error, .wrongJurisdiction(node: NodeID("ma-1")!, nodeJurisdiction: ma, requested: fr))
        }
    }

    func testMissingSegmentAndWrongJurisdictionAreTyped() async throws {
        let node = try await client()
        do {
            _ = try await node.segment(ma, version: .random(), index: 3)
            XCTFail("missing segment returned")
        } catch let error as NodeError {
            guard case .missingSegment = error else { return XCTFail("\(error)") }
        }
        do {
            try await node.putSegment(Jurisdiction("FR")!, bucket: "bkt", key: "k", version: .random(), index: 0, bytes: [1])
            XCTFail("wrong jurisdiction accepted")
        } catch let error as NodeError {
            XCTAssertEqual(error, .wrongJurisdiction(node: NodeID("ma-1")!, nodeJurisdiction: ma,
                                                     requested: Jurisdiction("FR")!))
        }
    }

    func testListOrderAndPurge() async throws {
        let node = try await client()
        for key in ["b", "a/2", "a/1", "c\u{1}x", "ключ"] {
            _ = try await node.commit(ma, manifest: manifest(key, sequence: 1, size: 0))
        }
        let all = try await node.list(ma, bucket: "bkt", prefix: [], from: [], limit: 100)
        XCTAssertEqual(all.map(\.key), ["a/1", "a/2", "b", "c\u{1}x", "ключ"])
        let page = try await node.list(ma, bucket: "bkt", prefix: Array("a/".utf8), from: Array("a/2".utf8), limit: 10)
        XCTAssertEqual(page.map(\.key), ["a/2"])
        try await node.purge(ma, bucket: "bkt")
        let after = try await node.list(ma, bucket: "bkt", prefix: [], from: [], limit: 100)
        XCTAssertTrue(after.isEmpty)
    }

    func testMultipartRecordsAndAbort() async throws {
        let node = try await client()
        let upload = VersionID.random()
        var template = manifest("big", sequence: 1, size: 0, version: upload)
        template.metadata.contentType = "video/mp4"
        try await node.createUpload(ma, template: template)
        let fetched = try await node.upload(ma, bucket: "bkt", key: "big", upload: upload)
        XCTAssertEqual(fetched?.metadata.contentType, "video/mp4")
        let uploads = try await node.listUploads(ma, bucket: "bkt", prefix: [], from: [], limit: 10)
        XCTAssertEqual(uploads.map(\.versionID), [upload])
        // A page starts at a position (key, NUL, upload id): at this upload, and just past it.
        let position = Array("big".utf8) + [0] + upload.bytes
        let atIt = try await node.listUploads(ma, bucket: "bkt", prefix: [], from: position, limit: 10)
        XCTAssertEqual(atIt.map(\.versionID), [upload])
        let past = try await node.listUploads(ma, bucket: "bkt", prefix: [], from: position + [0], limit: 10)
        XCTAssertTrue(past.isEmpty)
        let outsidePrefix = try await node.listUploads(ma, bucket: "bkt", prefix: Array("z".utf8), from: [], limit: 10)
        XCTAssertTrue(outsidePrefix.isEmpty)
        let part = PartRef(number: 1, versionID: .random(), sizeBytes: 2, etag: "p1", checksumValue: nil)
        try await node.putSegment(ma, bucket: "bkt", key: "big", version: part.versionID, index: 0, bytes: [7, 8])
        let outcome = try await node.commitPart(ma, upload: upload, record: PartRecord(part: part, sequence: 1,
                                                                                     lastModifiedMillis: 1))
        XCTAssertEqual(outcome, .committed)
        let parts = try await node.parts(ma, upload: upload, from: 0, limit: 10)
        XCTAssertEqual(parts.map(\.part), [part])
        try await node.abortUpload(ma, bucket: "bkt", key: "big", upload: upload)
        let gone = try await node.upload(ma, bucket: "bkt", key: "big", upload: upload)
        XCTAssertNil(gone)
        do {
            _ = try await node.segment(ma, version: part.versionID, index: 0)
            XCTFail("aborted part's segment survived")
        } catch {}
        let status = await node.status()
        XCTAssertEqual(status.segmentCount, 0)
        let healthy = await node.ping()
        XCTAssertTrue(healthy)
    }
}

final class LocalNodeConformanceTests: NodeClientConformanceTests {}

final class HTTPNodeConformanceTests: NodeClientConformanceTests {
    var serverTask: Task<Void, Error>?
    var http: HTTPClient?
    var address = ""

    override func client() async throws -> any StorageNodeClient {
        let server = NodeServer(node: local, token: "secret-token", logger: Logger(label: "test"))
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(responder: server, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) })
        serverTask = Task { try await app.runService() }
        var port = 0
        for await value in stream { port = value; break }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        self.http = http
        address = "127.0.0.1:\(port)"
        return HTTPNodeClient(node: NodeID("ma-1")!, jurisdiction: ma, address: address, http: http,
                              token: "secret-token")
    }

    override func tearDown() async throws {
        try await http?.shutdown()
        serverTask?.cancel()
        _ = try? await serverTask?.value
        try await super.tearDown()
    }

    /// The node reads a segment stream one frame at a time: a frame declaring more than a segment is refused from
    /// its header, and a stream cut inside a frame is refused; the node keeps serving.
    func testSegmentStreamsAreBoundedAndCheckedByTheNode() async throws {
        let node = try await client()
        let version = VersionID.random()
        func put(_ body: ByteBuffer) async throws -> (Int, String) {
            var request = HTTPClientRequest(url: "http://\(address)/v1/segments?j=MA&bucket=\(Hex.encode(Array("bkt".utf8)))"
                + "&key=6b&version=\(version)")
            request.method = .PUT
            request.headers.add(name: "Authorization", value: "Bearer secret-token")
            request.body = .bytes(body)
            let response = try await http!.execute(request, timeout: .seconds(10))
            let text = String(buffer: try await response.body.collect(upTo: 4096))
            return (Int(response.status.code), text)
        }
        var oversized = ByteBuffer()
        NodeWire.writeFrameHeader(.segment, index: 0, length: NodeWire.segmentBytesMax + 1, into: &oversized)
        oversized.writeBytes([1, 2, 3])
        let (status, text) = try await put(oversized)
        XCTAssertEqual(status, 400)
        XCTAssertTrue(text.contains("more than"), text)
        var cut = NodeWire.frame(.segment, index: 0, payload: [5, 5])
        cut.writeBuffer(&oversized)
        cut.moveWriterIndex(to: cut.writerIndex - 20)
        let (cutStatus, cutText) = try await put(cut)
        XCTAssertEqual(cutStatus, 400)
        XCTAssertTrue(cutText.contains("inside a frame"), cutText)
        let (okStatus, okText) = try await put(NodeWire.frame(.segment, index: 0, payload: [9]))
        XCTAssertEqual(okStatus, 200)
        XCTAssertEqual(okText, "1")
        let stored = try await node.segment(ma, version: version, index: 0)
        XCTAssertEqual(Array(stored.readableBytesView), [9])
    }

    func testWrongTokenIsRefused() async throws {
        _ = try await client()
        let intruder = HTTPNodeClient(node: NodeID("ma-1")!, jurisdiction: ma, address: address,
                                      http: http!, token: "wrong")
        do {
            _ = try await intruder.manifest(ma, bucket: "bkt", key: "k")
            XCTFail("a wrong token was accepted")
        } catch {}
    }
}

/// The pieces segment streams are built of: the frame decoder and the one-slot handoff that bounds their memory.
final class SegmentStreamPartsTests: XCTestCase {
    func testFramesDecodeWhateverTheChunking() throws {
        var stream = ByteBuffer()
        let payloads: [[UInt8]] = [[], [1, 2, 3], Array(repeating: 7, count: 70_000), [4]]
        for (index, payload) in payloads.enumerated() {
            var frame = NodeWire.frame(.segment, index: UInt32(index), payload: payload)
            stream.writeBuffer(&frame)
        }
        var error = NodeWire.frame(.error, index: 9, payload: Array("missing-segment\u{0}gone".utf8))
        stream.writeBuffer(&error)
        for chunkSize in [1, 2, 8, 9, 10, 4096, stream.readableBytes] {
            var decoder = SegmentFrameDecoder()
            var frames = [String]()
            var input = stream
            while input.readableBytes > 0 {
                var chunk = input.readSlice(length: min(chunkSize, input.readableBytes))!
                while let frame = try decoder.next(&chunk) {
                    switch frame {
                    case .segment(let index, let bytes):
                        XCTAssertEqual(Array(bytes.readableBytesView), payloads[Int(index)])
                        frames.append("\(index)")
                    case .error(let kind, let message):
                        frames.append("\(kind):\(message)")
                    }
                }
            }
            XCTAssertTrue(decoder.isAtFrameBoundary)
            XCTAssertEqual(frames, ["0", "1", "2", "3", "missing-segment:gone"], "chunks of \(chunkSize)")
        }
        var decoder = SegmentFrameDecoder()
        var unknown = ByteBuffer(bytes: [9, 0, 0, 0, 0, 0, 0, 0, 1, 0])
        XCTAssertThrowsError(try decoder.next(&unknown))
    }

    func testHandoffHoldsOneElementAndWakesWaitersWhenClosed() async throws {
        let handoff = Handoff<Int>()
        // Nobody takes the element: the producer waits, then times out.
        do {
            try await handoff.send(1, timeout: .milliseconds(50))
            XCTFail("a send returned with nobody receiving")
        } catch is Handoff<Int>.TimedOut {}
        let open = Handoff<Int>()
        let producer = Task {
            for value in 0..<3 { try await open.send(value) }
            open.close()
        }
        var received = [Int]()
        while let value = try await open.receive(timeout: .seconds(5)) { received.append(value) }
        try await producer.value
        XCTAssertEqual(received, [0, 1, 2])
        // A close with an error wakes a waiting consumer with it, and every later send fails.
        let failing = Handoff<Int>()
        let consumer = Task { try await failing.receive() }
        try await Task.sleep(for: .milliseconds(20))
        failing.close(NodeError.unavailable(NodeID("ma-1")!))
        do {
            _ = try await consumer.value
            XCTFail("a closed handoff delivered")
        } catch let error as NodeError {
            XCTAssertEqual(error, .unavailable(NodeID("ma-1")!))
        }
        do {
            try await failing.send(4)
            XCTFail("a closed handoff accepted an element")
        } catch {}
    }
}
