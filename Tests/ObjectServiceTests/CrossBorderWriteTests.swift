import Envelope
import Foundation
import ObjectModel
@testable import ObjectService
import StorageNode
import Synchronization
import XCTest

/// Writes into MA through gateways of other jurisdictions: allowed, but each gets its bucket key from MA's key
/// store under its own identity (recorded in MA's audit as a key released across the border), never the keys MA's
/// gateways use; a multipart upload's key goes back only to the jurisdiction that started it.
final class CrossBorderWriteTests: XCTestCase {
    var harness: Harness!
    let ma = Jurisdiction("MA")!, fr = Jurisdiction("FR")!, us = Jurisdiction("US")!
    final class Events: Sendable { let list = Mutex<[[String: String]]>([]) }
    let events = Events()

    override func setUp() async throws {
        harness = try Harness()
        let events = self.events
        harness.store.crypto.recordKeyEvents { jurisdiction, fields in
            var fields = fields
            fields["log"] = jurisdiction.code
            events.list.withLock { $0.append(fields) }
        }
    }

    override func tearDown() async throws { try await harness.close() }

    var releases: [String] {
        events.list.withLock { $0 }.filter { $0["event"] == "release" }
            .map { "\($0["log"]!) \($0["gateway"]!) \($0["operation"]!) grant=\($0["grant"]!)" }
    }

    func header(_ key: String) async throws -> EnvelopeHeader {
        let located = try await harness.store.locate(ma, bucket: "b", key: key)
        let found = try XCTUnwrap(located)
        return try EnvelopeHeader(decoding: try XCTUnwrap(found.manifest.envelope), bucket: "b", key: key)
    }

    func put(_ key: String, _ bytes: [UInt8], from gateway: Jurisdiction) async throws {
        let writer = try await harness.store.writer(ma, tenant: "acme", bucket: "b", key: key, metadata: ObjectMetadata(),
                                                    expectations: PayloadExpectations(sizeBytes: Int64(bytes.count)),
                                                    gateway: gateway)
        _ = try await harness.write(writer: writer, bytes)
    }

    func assertError(_ expected: ObjectServiceError, _ body: () async throws -> Void, line: UInt = #line) async {
        do {
            try await body()
            XCTFail("expected \(expected)", line: line)
        } catch let error as ObjectServiceError {
            XCTAssertEqual(error, expected, line: line)
        } catch {
            XCTFail("unexpected \(error)", line: line)
        }
    }

    func testPutFromAnotherJurisdictionUsesItsOwnRecordedBucketKey() async throws {
        let bytes = randomBytes(70_000, seed: 3)
        try await harness.put("MA", "b", "home", bytes)
        try await put("from-fr-1", bytes, from: fr)
        try await put("from-fr-2", bytes, from: fr)
        let home = try await header("home"), first = try await header("from-fr-1"), second = try await header("from-fr-2")
        XCTAssertNotEqual(first.bucketKey.id, home.bucketKey.id, "FR's write did not get MA's gateways' bucket key")
        XCTAssertEqual(first.bucketKey.id, second.bucketKey.id, "FR's writes share FR's own bucket key")
        XCTAssertNil(first.bucketKey.issuedTo)
        XCTAssertEqual(releases, ["MA FR PutObject grant="], "one release per bucket key, in MA's log")
        // MA's gateways read what FR wrote; FR reading it back is a cross-border read like any other.
        let read = try await harness.get("MA", "b", "from-fr-2")
        XCTAssertEqual(read, bytes)
        let located = try await harness.store.locate(ma, bucket: "b", key: "from-fr-1")
        let found = try XCTUnwrap(located)
        do {
            _ = try await harness.store.opened(found, jurisdiction: ma, tenant: "acme", operation: "GetObject",
                                               gateway: fr)
            XCTFail("FR opened an MA object without a grant")
        } catch let error as ObjectServiceError {
            guard case .accessDenied(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("sovereignty grant"), message)
        }
    }

    func testMultipartUploadKeyGoesBackOnlyToTheJurisdictionThatStartedIt() async throws {
        let store = harness.store
        let upload = try await store.createUpload(ma, tenant: "acme", bucket: "b", key: "mp", metadata: ObjectMetadata(),
                                                  checksumAlgorithm: nil, gateway: fr)
        let template = try await store.upload(ma, bucket: "b", key: "mp", upload: upload)
        let header = try EnvelopeHeader(decoding: try XCTUnwrap(template.envelope), bucket: "b", key: "mp")
        XCTAssertEqual(header.bucketKey.issuedTo, fr)
        XCTAssertEqual(template.envelope?.first, EnvelopeHeader.issuedKeyFormatVersion)
        let first = randomBytes(5 << 20, seed: 1), second = randomBytes(1000, seed: 2)
        var completed = [CompletedPart]()
        for (number, bytes) in [(1, first), (2, second)] {
            let writer = try await store.partWriter(ma, tenant: "acme", template: template, number: number,
                                                    expectations: PayloadExpectations(sizeBytes: Int64(bytes.count)),
                                                    gateway: fr)
            completed.append(CompletedPart(number: number, etag: try await harness.write(writer: writer, bytes).etag))
        }
        // Neither a gateway of the US nor one of MA-only keys can send parts of FR's upload through the US.
        await assertError(.uploadStartedElsewhere(bucket: "b", jurisdiction: ma, startedIn: fr, gateway: us)) {
            _ = try await store.partWriter(ma, tenant: "acme", template: template, number: 3,
                                           expectations: PayloadExpectations(sizeBytes: 1), gateway: us)
        }
        await assertError(.uploadStartedElsewhere(bucket: "b", jurisdiction: ma, startedIn: fr, gateway: us)) {
            _ = try await store.completeUpload(ma, tenant: "acme", template: template, parts: completed, gateway: us)
        }
        _ = try await store.completeUpload(ma, tenant: "acme", template: template, parts: completed, gateway: fr)
        let read = try await harness.get("MA", "b", "mp")
        XCTAssertEqual(read, first + second)
        XCTAssertEqual(releases, ["MA FR CreateMultipartUpload grant=", "MA FR UploadPart grant=",
                                  "MA FR UploadPart grant=", "MA FR CompleteMultipartUpload grant="])
        // An upload started in MA takes no part from FR: its key is MA's gateways' own.
        let homeUpload = try await store.createUpload(ma, tenant: "acme", bucket: "b", key: "mp2",
                                                      metadata: ObjectMetadata(), checksumAlgorithm: nil)
        let homeTemplate = try await store.upload(ma, bucket: "b", key: "mp2", upload: homeUpload)
        await assertError(.uploadStartedElsewhere(bucket: "b", jurisdiction: ma, startedIn: ma, gateway: fr)) {
            _ = try await store.partWriter(ma, tenant: "acme", template: homeTemplate, number: 1,
                                           expectations: PayloadExpectations(sizeBytes: 1), gateway: fr)
        }
    }
}
