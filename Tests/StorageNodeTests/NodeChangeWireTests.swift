import AsyncHTTPClient
import NIOCore
import NIOHTTP1
@testable import NodeHTTP
import ObjectModel
import StorageEngine
import StorageNode
import XCTest

/// Node changes on the wire (`POST /v1/change`): every kind survives the trip, and the node refuses a malformed one
/// with a 400 before anything is applied.
final class NodeChangeWireTests: XCTestCase {
    let ma = Jurisdiction("MA")!

    func manifest(_ key: String = "k") -> ObjectManifest {
        ObjectManifest(bucket: "bkt", key: key, versionID: .random(), sequence: 7, sizeBytes: 3, etag: "e",
                       lastModifiedMillis: 1)
    }

    var everyKind: [NodeChange] {
        let part = PartRecord(part: PartRef(number: 2, versionID: .random(), sizeBytes: 5, etag: "p", checksumValue: nil,
                                            storedDigest: [UInt8](repeating: 7, count: 32)), sequence: 3, lastModifiedMillis: 4)
        return [
            .commit(ma, manifest: manifest(), completing: nil, inlineSegment: [1, 2, 3, 4]),
            .commit(ma, manifest: manifest(), completing: .random(), inlineSegment: nil),
            .commit(ma, manifest: manifest(), completing: .random(), inlineSegment: nil, intent: true),
            .commit(ma, manifest: manifest(), completing: nil, inlineSegment: [5, 6, 7, 8], intent: true),
            .commit(ma, manifest: manifest(), completing: nil, inlineSegment: nil, index: true),
            .commit(ma, manifest: manifest(), completing: .random(), inlineSegment: nil, intent: true, index: true),
            .commitPart(ma, upload: .random(), record: part),
            .deleteVersion(ma, bucket: "bkt", key: "k", version: .random(), sequence: 9,
                           check: LockCheck(nowMillis: 12, bypassGovernance: true, relocating: true)),
            .index(ma, [.merge(manifest()), .replace(bucket: "bkt", key: "a", expected: VersionMark(manifest("a")),
                                                     with: nil)]),
            .replaceSealed(ma, bucket: "bkt", key: "k", version: .random(), sequence: nil, upload: true,
                           field: .metadata, bytes: [9, 9]),
            .replaceSealed(ma, bucket: "bkt", key: "k", version: .random(), sequence: 5, upload: false,
                           field: .envelope, bytes: []),
            .replaceLock(ma, bucket: "bkt", key: "k", version: .random(), sequence: 5, expected: ObjectLock(),
                         lock: ObjectLock(mode: .compliance, retainUntilMillis: 99, legalHold: true)),
            .createUpload(ma, template: manifest()),
            .clearIntents(ma, from: [], through: [1, 2, 3], keeping: [
                IndexIntent(written: manifest("k\u{0}x"), millis: 5).position,
                IndexIntent(deleted: "", bucket: "bkt", mark: VersionMark(manifest()), millis: 6).position]),
            .abortSegments(ma, version: .random()),
            .abortUpload(ma, bucket: "bkt", key: "k\u{0}", upload: .random()),
            .purge(ma, bucket: "bkt"),
            .repairSegments(ma, SegmentRepair(bucket: "bkt", key: "k", version: .random(), sequence: 3,
                                              extent: .random(), staged: .random(), indices: [7, 0])),
        ]
    }

    func testEveryKindOfChangeSurvivesTheTrip() throws {
        for change in everyKind {
            let bytes = NodeWire.encode(change)
            let decoded = try NodeWire.decodeChange(bytes, jurisdiction: ma)
            XCTAssertEqual(NodeWire.encode(decoded), bytes, "\(change)")
            XCTAssertEqual(NodeWire.jurisdiction(of: decoded), ma)
        }
        XCTAssertNoThrow(try NodeWire.decodeChange(repair(count: 1), jurisdiction: ma))
        XCTAssertNoThrow(try NodeWire.decodeChange(repair(count: Limits.repairSegmentsMax), jurisdiction: ma))
    }

    func testMalformedChangesAreRefused() {
        let valid = NodeWire.encode(everyKind[5])
        var oversized = manifest()
        oversized.segmentSizeBytes = 4
        let cases: [(String, [UInt8])] = [
            ("empty", []),
            ("unknown kind", [0x7F] + valid.dropFirst()),
            ("trailing bytes", valid + [0]),
            ("truncated", Array(valid.dropLast())),
            ("deletion flags", Array(valid.dropLast()) + [4]),
            ("inline segment longer than a segment", NodeWire.encode(.commit(
                ma, manifest: oversized, completing: nil,
                inlineSegment: [UInt8](repeating: 1, count: 4 + Limits.segmentOverheadBytesMax + 1)))),
        ]
        var huge = manifest()
        huge.sizeBytes = .max
        var replace = IndexEdit.encoded([.replace(bucket: "bkt", key: "k", expected: VersionMark(manifest()), with: nil)])
        replace[replace.count - 1] = 2
        let cases2: [(String, [UInt8])] = [
            ("inline segment completing an upload", NodeWire.encode(.commit(ma, manifest: manifest(), completing: .random(),
                                                                            inlineSegment: [1, 2, 3]))),
            ("an object larger than S3 allows", NodeWire.encode(.commit(ma, manifest: huge, completing: nil,
                                                                        inlineSegment: [1]))),
            ("an index edit's flag", [indexKind] + { var w = BinaryWriter(); w.writeField(replace); return w.bytes }()),
            ("commit flags", { var w = BinaryWriter(); w.write(UInt8(1)); w.writeField(manifest().encoded())
                               w.write(UInt8(8)); w.write(UInt8(0)); return w.bytes }()),
            ("too many intents kept", [clearKind] + { var w = BinaryWriter(); w.writeField([]); w.writeField([1])
                w.write(UInt32(Limits.listBatchPerNode + 1))
                for _ in 0...Limits.listBatchPerNode { w.writeField([1]) }
                return w.bytes }()),
            ("a repair of no segment", repair(count: 0)),
            ("a repair staged under the extent it repairs", NodeWire.encode(.repairSegments(ma, SegmentRepair(
                bucket: "bkt", key: "k", version: .random(), sequence: 1, extent: extentID, staged: extentID,
                indices: [0])))),
            ("a repair of too many segments", repair(count: Limits.repairSegmentsMax + 1)),
        ]
        for (name, bytes) in cases + cases2 {
            XCTAssertThrowsError(try NodeWire.decodeChange(bytes, jurisdiction: ma), name)
        }
    }

    /// The kind bytes of index edits, intent clearing and repairs (`Docs/formats.md`).
    let indexKind: UInt8 = 4, clearKind: UInt8 = 8, repairKind: UInt8 = 12

    let extentID = VersionID.random()

    /// A repair change naming `count` segments.
    func repair(count: Int) -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(repairKind)
        writer.writeString("bkt")
        writer.writeString("k")
        writer.writeRaw(VersionID.random().bytes)
        writer.write(UInt64(1))
        writer.writeRaw(VersionID.random().bytes)
        writer.writeRaw(VersionID.random().bytes)
        writer.write(UInt32(count))
        for index in 0..<count { writer.write(UInt32(index)) }
        return writer.bytes
    }

    /// The node itself refuses what the wire refuses: an inline segment completing an upload.
    func testANodeRefusesAnInlineSegmentThatCompletesAnUpload() throws {
        let store = try NodeStore(node: NodeID("ma-1")!, jurisdiction: ma, engine: MemoryEngine(), nowMillis: 0)
        XCTAssertThrowsError(try store.commit(ma, manifest: manifest(), completing: .random(), inlineSegment: [1, 2, 3]))
        XCTAssertNil(try store.manifest(ma, bucket: "bkt", key: "k"))
    }
}

extension HTTPNodeConformanceTests {
    /// The body of a repair as the previous gateways sent it (`POST /v1/repair`): each segment a framed record of its
    /// index (u32 BE), then its bytes.
    func legacyRepairBody(_ segments: [RepairSegment]) -> [UInt8] {
        NodeWire.frame(segments.map { segment in
            [UInt8(segment.index >> 24), UInt8((segment.index >> 16) & 0xFF), UInt8((segment.index >> 8) & 0xFF),
             UInt8(segment.index & 0xFF)] + segment.bytes
        })
    }

    /// One raw request to the node (`/v1/<endpoint>?<query>`): its status and text.
    func raw(_ method: NIOHTTP1.HTTPMethod, _ endpoint: String, _ query: String, _ body: [UInt8]) async throws
        -> (Int, String)
    {
        var request = HTTPClientRequest(url: "http://\(address)/v1/\(endpoint)?\(query)")
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer secret-token")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await http!.execute(request, timeout: .seconds(10))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 4096)))
    }

    /// Raw requests: a malformed change is a 400 and changes nothing; a change addressed to another jurisdiction is
    /// refused by the node; a well-formed one is applied.
    func testChangesTravelThroughOneEndpoint() async throws {
        let node = try await client()
        func post(_ endpoint: String, _ query: String, _ body: [UInt8]) async throws -> (Int, String) {
            try await raw(.POST, endpoint, query, body)
        }
        let manifest = manifest("raw", sequence: 1, size: 3)
        let commit = NodeWire.encode(.commit(ma, manifest: manifest, completing: nil, inlineSegment: [1, 2, 3]))
        var (status, text) = try await post("change", "j=MA", commit + [0])
        XCTAssertEqual(status, 400, text)
        (status, text) = try await post("changes", "j=MA", commit)
        XCTAssertEqual(status, 404, text)
        (status, text) = try await post("change", "j=FR", commit)
        XCTAssertEqual(status, 409, text)
        let nothing = try await node.manifest(ma, bucket: "bkt", key: "raw")
        XCTAssertNil(nothing)
        (status, text) = try await post("change", "j=MA", commit)
        XCTAssertEqual(status, 200, text)
        XCTAssertEqual(text, "committed")
        let stored = try await node.manifest(ma, bucket: "bkt", key: "raw")
        XCTAssertEqual(stored?.versionID, manifest.versionID)
    }

    /// A gateway of the previous version still writes through the per-kind endpoints while nodes are upgraded first.
    func testThePreviousVersionsChangeEndpointsStillApply() async throws {
        let node = try await client()
        func send(_ method: NIOHTTP1.HTTPMethod, _ endpoint: String, _ query: String, _ body: [UInt8]) async throws
            -> (Int, String)
        {
            try await raw(method, endpoint, "j=MA&" + query, body)
        }
        let old = manifest("legacy", sequence: 1, size: 3)
        var (status, text) = try await send(.POST, "commit", "inline=1", NodeWire.frame([old.encoded(), [1, 2, 3]]))
        XCTAssertEqual(status, 200, text)
        XCTAssertEqual(text, "committed")
        (status, text) = try await send(.POST, "commit", "inline=1", NodeWire.frame([old.encoded(), []]))
        XCTAssertEqual(status, 400, "a segment shorter than the object: \(text)")
        let bucket = Hex.encode(Array("bkt".utf8)), key = Hex.encode(Array("legacy".utf8))
        (status, text) = try await send(.POST, "lock", "bucket=\(bucket)&key=\(key)&version=\(old.versionID)&sequence=1",
                                        NodeWire.frame([ObjectLock().encoded(), ObjectLock(legalHold: true).encoded()]))
        XCTAssertEqual(text, "replaced")
        (status, text) = try await send(.DELETE, "version",
                                        "bucket=\(bucket)&key=\(key)&version=\(old.versionID)&sequence=1&now=0", [])
        XCTAssertEqual(status, 403, "the hold set through the old endpoint protects the version: \(text)")
        let held = try await node.version(ma, bucket: "bkt", key: "legacy", selector: .id(old.versionID, sequence: 1))
        XCTAssertEqual(held?.lock.legalHold, true)

        // An upload, a part, a completing commit, an index edit and a sealed field, each through its old endpoint.
        let upload = VersionID.random()
        (status, text) = try await send(.POST, "upload", "",
                                        manifest("mp", sequence: 1, size: 0, version: upload).encoded())
        XCTAssertEqual(status, 204, text)
        let started = try await node.upload(ma, bucket: "bkt", key: "mp", upload: upload)
        XCTAssertNotNil(started)
        let part = PartRef(number: 1, versionID: .random(), sizeBytes: 2, etag: "p1", checksumValue: nil)
        try await node.putSegment(ma, bucket: "bkt", key: "mp", version: part.versionID, index: 0, bytes: [1, 2])
        (status, text) = try await send(.POST, "part", "upload=\(upload)",
                                        PartRecord(part: part, sequence: 1, lastModifiedMillis: 1).encoded())
        XCTAssertEqual(text, "committed")
        let parts = try await node.parts(ma, upload: upload, from: 0, limit: 10)
        XCTAssertEqual(parts.map(\.part), [part])
        var completed = manifest("mp", sequence: 2, size: 2)
        completed.envelope = [1]
        (status, text) = try await send(.POST, "commit", "upload=\(upload)", completed.encoded())
        XCTAssertEqual(text, "committed")
        let finished = try await node.upload(ma, bucket: "bkt", key: "mp", upload: upload)
        XCTAssertNil(finished, "the completing commit removed the upload")
        let current = try await node.manifest(ma, bucket: "bkt", key: "mp")
        XCTAssertEqual(current?.versionID, completed.versionID)
        (status, text) = try await send(.POST, "index", "", IndexEdit.encoded([.merge(completed)]))
        XCTAssertEqual(text, "committed")
        let entries = try await node.list(ma, bucket: "bkt", prefix: [], from: [], limit: 10, space: .index)
        XCTAssertEqual(entries, [completed.listingEntry])
        let mpKey = Hex.encode(Array("mp".utf8))
        (status, text) = try await send(.POST, "envelope",
                                        "bucket=\(bucket)&key=\(mpKey)&version=\(completed.versionID)&sequence=2",
                                        [9, 9])
        XCTAssertEqual(text, "replaced")
        let sealed = try await node.manifest(ma, bucket: "bkt", key: "mp")
        XCTAssertEqual(sealed?.envelope, [9, 9])
        // None of them records an index intent: an older gateway clears none.
        let intents = try await node.indexIntents(ma, from: [], olderThanMillis: 0, limit: 10)
        XCTAssertEqual(intents, IntentPage(intents: [], end: nil, more: false))
    }

    /// The previous version's drops and repair (`DELETE /v1/segment`, `/v1/upload`, `/v1/bucket`, `POST /v1/repair`)
    /// still apply, as the node changes that replaced them.
    func testThePreviousVersionsDropAndRepairEndpointsStillApply() async throws {
        let node = try await client()
        let abandoned = VersionID.random()
        try await node.putSegment(ma, bucket: "bkt", key: "k", version: abandoned, index: 0, bytes: [1])
        var (status, text) = try await raw(.DELETE, "segment", "j=MA&version=\(abandoned)", [])
        XCTAssertEqual(status, 204, text)
        let uploads = await node.status().uploadsInProgress
        XCTAssertEqual(uploads, 0)

        let upload = VersionID.random()
        try await node.createUpload(ma, template: manifest("mp", sequence: 1, size: 0, version: upload))
        let bucket = Hex.encode(Array("bkt".utf8))
        (status, text) = try await raw(.DELETE, "upload", "j=MA&bucket=\(bucket)&key=\(Hex.encode(Array("mp".utf8)))"
                                           + "&upload=\(upload)", [])
        XCTAssertEqual(status, 204, text)
        let gone = try await node.upload(ma, bucket: "bkt", key: "mp", upload: upload)
        XCTAssertNil(gone)

        let (object, segments) = try await storedObject(node)
        try await node.putSegment(ma, bucket: "bkt", key: "scrubbed", version: object.versionID, index: 1,
                                  bytes: [2, 2, 2, 2, 2, 9, 2, 2, 2, 2])
        let repair = "j=MA&bucket=\(bucket)&key=\(Hex.encode(Array("scrubbed".utf8)))&version=\(object.versionID)"
            + "&sequence=\(object.sequence)&extent=\(object.versionID)"
        (status, text) = try await raw(.POST, "repair", repair,
                                       legacyRepairBody([RepairSegment(index: 1, bytes: [7, 7, 7, 7, 7, 7, 7, 7, 7, 7])]))
        XCTAssertEqual(text, "refused")
        // A segment larger than any stored one is refused before it is staged (the node keeps serving).
        (status, text) = try await raw(.POST, "repair", repair, legacyRepairBody([RepairSegment(
            index: 1, bytes: [UInt8](repeating: 2, count: NodeWire.segmentBytesMax + 1))]))
        XCTAssertEqual(text, "refused")
        (status, text) = try await raw(.POST, "repair", repair,
                                       legacyRepairBody([RepairSegment(index: 1, bytes: segments[1])]))
        XCTAssertEqual(text, "repaired")
        let read = try await node.segment(ma, version: object.versionID, index: 1)
        XCTAssertEqual(Array(read.readableBytesView), segments[1])
        let staged = await node.status().uploadsInProgress
        XCTAssertEqual(staged, 0, "the repairs' staged segments are gone")

        (status, text) = try await raw(.DELETE, "bucket", "j=MA&bucket=\(bucket)", [])
        XCTAssertEqual(status, 204, text)
        let purged = try await node.manifest(ma, bucket: "bkt", key: "scrubbed")
        XCTAssertNil(purged)
    }
}
