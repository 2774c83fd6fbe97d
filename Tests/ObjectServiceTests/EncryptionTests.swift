import Envelope
import Foundation
import KeyStore
import ObjectModel
@testable import ObjectService
@testable import StorageNode
import SigV4
import StorageEngine
import XCTest

/// Tampering with stored bytes, edited directly in the nodes' RocksDB databases, is detected and reported as an
/// error, never returned as data; destroyed keys make objects fail clearly.
final class EncryptionTests: XCTestCase {
    var harness: Harness!
    let ma = Jurisdiction("MA")!

    override func setUp() async throws { harness = try await Harness() }

    override func tearDown() async throws {
        for node in harness.nodes { node.close() }
        try await harness.pool.shutdownGracefully()
        try? FileManager.default.removeItem(at: harness.directory)
    }

    /// Runs `edit` on the raw database of every node holding `key` (or only the first of them), offline.
    func editNodes(holding key: String, onlyFirst: Bool = false,
                   _ edit: (any KeyValueEngine, ObjectManifest) throws -> Void) async throws {
        let found = try await harness.store.locate(ma, bucket: "b", key: key)
        var replicas = try XCTUnwrap(found).replicas.map(\.nodeID.rawValue)
        if onlyFirst { replicas = [replicas[0]] }
        for id in replicas {
            let node = harness.node(id)
            node.goOffline()
            let engine = try RocksDBEngine(path: harness.directory.appendingPathComponent(id).path)
            let manifest = try ObjectManifest(decoding: try XCTUnwrap(engine.get(NodeKeys.manifest(bucket: "b", key: key))))
            try edit(engine, manifest)
            engine.close()
            try node.goOnline()
        }
    }

    func assertIntegrityError(_ key: String, file: StaticString = #filePath, line: UInt = #line) async {
        do {
            let bytes = try await harness.get("MA", "b", key)
            XCTFail("tampered object returned \(bytes?.count ?? -1) bytes", file: file, line: line)
        } catch let error as ObjectServiceError {
            guard case .integrity = error else { return XCTFail("\(error)", file: file, line: line) }
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
        }
    }

    func data(_ count: Int, seed: UInt8) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ seed } }

    func testSegmentsAreCiphertextAndMetadataIsSealed() async throws {
        let canary = Array("CANARY-CANARY-CANARY".utf8)
        let plaintext = Array((0..<3000).flatMap { _ in canary })
        try await harness.put("MA", "b", "k", plaintext)
        let readBack = try await harness.get("MA", "b", "k")
        XCTAssertEqual(readBack, plaintext)
        try await editNodes(holding: "k") { engine, manifest in
            XCTAssertNotNil(manifest.envelope)
            let stored = try XCTUnwrap(engine.get(NodeKeys.segment(version: manifest.versionID, index: 0)))
            XCTAssertEqual(stored.count, plaintext.count + 16)
            XCTAssertNil(Hex.encode(stored).range(of: Hex.encode(canary)))
        }
    }

    func testFlippedBitOnOneReplicaIsReadFromTheOtherAndOnBothFails() async throws {
        let plaintext = data(2_500_000, seed: 1)
        try await harness.put("MA", "b", "k", plaintext)
        func flip(at offset: Int) -> (any KeyValueEngine, ObjectManifest) throws -> Void {
            return { engine, manifest in
                let key = NodeKeys.segment(version: manifest.versionID, index: 1)
                var bytes = try XCTUnwrap(engine.get(key))
                bytes[offset] ^= 0x01
                try engine.put(key, bytes, sync: true)
            }
        }
        try await editNodes(holding: "k", onlyFirst: true, flip(at: 12345))
        let readBack = try await harness.get("MA", "b", "k")
        XCTAssertEqual(readBack, plaintext)
        try await editNodes(holding: "k", flip(at: 54321))
        await assertIntegrityError("k")
    }

    func testReorderedDuplicatedTruncatedAndMovedSegmentsFail() async throws {
        let size = 3 * Limits.segmentSizeBytes + 17
        for key in ["reordered", "duplicated", "truncated", "moved", "resized"] {
            try await harness.put("MA", "b", key, data(size, seed: 2))
        }
        try await harness.put("MA", "b", "donor", data(size, seed: 3))
        try await editNodes(holding: "reordered") { engine, manifest in
            let first = NodeKeys.segment(version: manifest.versionID, index: 0)
            let second = NodeKeys.segment(version: manifest.versionID, index: 1)
            let a = try XCTUnwrap(engine.get(first)), b = try XCTUnwrap(engine.get(second))
            try engine.put(first, b, sync: true)
            try engine.put(second, a, sync: true)
        }
        await assertIntegrityError("reordered")
        try await editNodes(holding: "duplicated") { engine, manifest in
            let first = try XCTUnwrap(engine.get(NodeKeys.segment(version: manifest.versionID, index: 0)))
            try engine.put(NodeKeys.segment(version: manifest.versionID, index: 1), first, sync: true)
        }
        await assertIntegrityError("duplicated")
        // Cutting the object short in its manifest: the sealed metadata no longer matches.
        try await editNodes(holding: "truncated") { engine, manifest in
            var edited = manifest
            edited.sizeBytes = Int64(2 * Limits.segmentSizeBytes)
            try engine.put(NodeKeys.manifest(bucket: "b", key: "truncated"), edited.encoded(), sync: true)
        }
        await assertIntegrityError("truncated")
        // A segment from another object (same position, same size).
        let donor = try await harness.store.locate(ma, bucket: "b", key: "donor")!.manifest
        let donorSegment = try await harness.store.locate(ma, bucket: "b", key: "donor")!.replicas[0]
            .segment(ma, version: donor.versionID, index: 1)
        try await editNodes(holding: "moved") { engine, manifest in
            try engine.put(NodeKeys.segment(version: manifest.versionID, index: 1), Array(donorSegment.readableBytesView),
                           sync: true)
        }
        await assertIntegrityError("moved")
        // The last segment dropped and the size edited to match: the last-segment flag and metadata catch it.
        try await editNodes(holding: "resized") { engine, manifest in
            var batch = WriteBatch()
            batch.delete(NodeKeys.segment(version: manifest.versionID, index: 3))
            try engine.write(batch, sync: true)
        }
        do {
            _ = try await harness.get("MA", "b", "resized")
            XCTFail("a truncated object was returned")
        } catch {}
    }

    func testDataKeyMovedFromAnotherObjectFails() async throws {
        try await harness.put("MA", "b", "victim", data(1000, seed: 4))
        try await harness.put("MA", "b", "other", data(1000, seed: 5))
        let other = try await harness.store.locate(ma, bucket: "b", key: "other")!.manifest
        try await editNodes(holding: "victim") { engine, manifest in
            var edited = manifest
            edited.envelope = other.envelope
            try engine.put(NodeKeys.manifest(bucket: "b", key: "victim"), edited.encoded(), sync: true)
        }
        await assertIntegrityError("victim")
        // An object stored without encryption is refused while encryption is on (fail closed).
        try await editNodes(holding: "other") { engine, manifest in
            var edited = manifest
            edited.envelope = nil
            try engine.put(NodeKeys.manifest(bucket: "b", key: "other"), edited.encoded(), sync: true)
        }
        await assertIntegrityError("other")
    }

    func testRangedReadsDecryptOnlyCoveringSegments() async throws {
        let plaintext = data(5 * Limits.segmentSizeBytes + 100, seed: 6)
        try await harness.put("MA", "b", "k", plaintext)
        // Segment 0 destroyed on every replica: ranges that avoid it still read.
        try await editNodes(holding: "k") { engine, manifest in
            try engine.put(NodeKeys.segment(version: manifest.versionID, index: 0), [0, 1, 2], sync: true)
        }
        let found = try await harness.store.locate(ma, bucket: "b", key: "k")!
        let located = try await harness.store.opened(found, jurisdiction: ma, tenant: "acme", operation: "test")
        let start = Int64(Limits.segmentSizeBytes + 10), end = Int64(3 * Limits.segmentSizeBytes + 5)
        var out = [UInt8]()
        try await harness.store.read(located, jurisdiction: ma, range: start...end) { out += $0.readableBytesView }
        XCTAssertEqual(out, Array(plaintext[Int(start)...Int(end)]))
        // What a GET reads before it answers: up to the end of the first byte's segment, which must authenticate.
        let first = try await harness.store.readFirstSegment(located, jurisdiction: ma, of: start...end)
        XCTAssertEqual(Array(first.readableBytesView), Array(plaintext[Int(start)..<(2 * Limits.segmentSizeBytes)]))
        let inside = try await harness.store.readFirstSegment(located, jurisdiction: ma, of: (start + 1)...(start + 9))
        XCTAssertEqual(Array(inside.readableBytesView), Array(plaintext[Int(start + 1)...Int(start + 9)]))
        do {
            let bytes = try await harness.store.readFirstSegment(located, jurisdiction: ma, of: 5...end)
            XCTFail("a destroyed first segment returned \(bytes.readableBytes) bytes")
        } catch let error as ObjectServiceError {
            guard case .integrity = error else { return XCTFail("\(error)") }
        }
        await assertIntegrityError("k")
    }

    func testXChaChaJurisdictionRoundTrips() async throws {
        let plaintext = data(1_500_000, seed: 7)
        try await harness.put("FR", "b", "k", plaintext)
        let manifest = try await harness.store.locate(Jurisdiction("FR")!, bucket: "b", key: "k")!.manifest
        let header = try EnvelopeHeader(decoding: try XCTUnwrap(manifest.envelope), bucket: "b", key: "k")
        XCTAssertEqual(header.algorithm, .xchacha20poly1305)
        let readBack = try await harness.get("FR", "b", "k")
        XCTAssertEqual(readBack, plaintext)
    }

    func testDestroyedTenantKeyFailsClearlyAndSparesOthers() async throws {
        try await harness.put("MA", "b", "k", data(100, seed: 8))
        harness.tenant = "other"
        try await harness.put("MA", "c", "k", data(100, seed: 9))
        harness.tenant = "acme"
        // Requested by one administrator of MA, approved by another: then it runs, and the gateway's cache forgets.
        let requested = try await harness.administer(.destroyKey(tenant: "acme"))
        let pending = try XCTUnwrap(requested.outcome.pending)
        let readBefore = try await harness.get("MA", "b", "k")
        XCTAssertEqual(readBefore, data(100, seed: 8), "nothing is destroyed before the approval")
        _ = try await harness.administer(.approve(request: pending.id, digest: AuthorityRequest.digest(pending.request)), admin: 1)
        do {
            _ = try await harness.get("MA", "b", "k")
            XCTFail("a crypto-shredded object was returned")
        } catch let error as ObjectServiceError {
            guard case .keyUnavailable(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("destroyed"), message)
        }
        harness.tenant = "other"
        let readBack = try await harness.get("MA", "c", "k")
        XCTAssertEqual(readBack, data(100, seed: 9))
    }
}
