import Envelope
import Foundation
import ObjectModel
@testable import ObjectService
import SigV4
import StorageNode
import XCTest

/// Writes into MA through gateways of other jurisdictions: allowed, but each gets its bucket key from MA's key
/// store under its own identity (recorded in MA's audit as a key released across the border), never the keys MA's
/// gateways use; a multipart upload is visible across the border only to the jurisdiction that started it.
final class CrossBorderWriteTests: XCTestCase {
    var harness: Harness!
    let ma = Jurisdiction("MA")!, fr = Jurisdiction("FR")!, us = Jurisdiction("US")!

    override func setUp() async throws {
        harness = try await Harness()
        _ = try await harness.service.createBucket(harness.principal("MA"), "inbox", location: "MA")
    }

    override func tearDown() async throws { try await harness.close() }

    var releases: [String] {
        get throws {
            try harness.auditRecords("MA", kind: "key").filter { $0["event"] == "release" }
                .map { "\($0["gateway"]!) \($0["operation"]!) grant=\($0["grant"]!)" }
        }
    }

    func header(_ key: String) async throws -> EnvelopeHeader {
        let located = try await harness.store.locate(ma, bucket: "inbox", key: key)
        let found = try XCTUnwrap(located)
        return try EnvelopeHeader(decoding: try XCTUnwrap(found.manifest.envelope), bucket: "inbox", key: key)
    }

    func put(_ key: String, _ bytes: [UInt8], from gateway: String) async throws {
        let writer = try await harness.service.putObject(harness.principal(gateway), "inbox", key, metadata: ObjectMetadata(),
                                                         condition: nil,
                                                         expectations: PayloadExpectations(sizeBytes: Int64(bytes.count)))
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
        try await put("home", bytes, from: "MA")
        try await put("from-fr-1", bytes, from: "FR")
        try await put("from-fr-2", bytes, from: "FR")
        let home = try await header("home"), first = try await header("from-fr-1"), second = try await header("from-fr-2")
        XCTAssertNotEqual(first.bucketKey.id, home.bucketKey.id, "FR's write did not get MA's gateways' bucket key")
        XCTAssertEqual(first.bucketKey.id, second.bucketKey.id, "FR's writes share FR's own bucket key")
        XCTAssertNil(first.bucketKey.issuedTo)
        XCTAssertEqual(try releases, ["FR PutObject grant="], "one release per bucket key, in MA's log")
        // MA's gateways read what FR wrote; FR reading it back is a cross-border read like any other: refused
        // without a grant, before the key store is asked for any key.
        let read = try await harness.get("MA", "inbox", "from-fr-2")
        XCTAssertEqual(read, bytes)
        await assertError(.sovereigntyRefused(bucket: "inbox", jurisdiction: ma, gateway: fr, reason: "no-grant")) {
            _ = try await self.harness.service.object(self.harness.principal("FR"), "inbox", "from-fr-1",
                                                      operation: .getObject)
        }
        // Even asked directly, MA's key store releases no key of an MA object to FR without a grant.
        let located = try await harness.store.locate(ma, bucket: "inbox", key: "from-fr-1")
        let found = try XCTUnwrap(located)
        do {
            _ = try await harness.store.opened(found, jurisdiction: ma, tenant: "acme", operation: "GetObject",
                                               gateway: fr)
            XCTFail("FR opened an MA object without a grant")
        } catch ObjectServiceError.keyReleaseRefused(let reason) {
            XCTAssertEqual(reason, "no-grant")
        }
        let decisions = try harness.auditRecords("MA", kind: "decision")
        XCTAssertEqual(decisions.map { [$0["gateway"], $0["operation"], $0["outcome"], $0["reason"], $0["accessKey"],
                                        $0["tenant"]] },
                       [["FR", "GetObject", "refused", "no-grant", "QKTEST", "acme"]])
    }

    /// A delete across the border writes a tombstone whether or not the key existed: the same work either way, so
    /// its timing does not tell FR what MA holds. At home a missing key costs no write.
    func testDeleteAcrossTheBorderDoesTheSameWorkForMissingKeys() async throws {
        try await harness.service.deleteObject(harness.principal("MA"), "inbox", "never-was-home")
        let home = try await harness.store.newest(ma, bucket: "inbox", key: "never-was-home")
        XCTAssertNil(home)
        try await harness.service.deleteObject(harness.principal("FR"), "inbox", "never-was")
        let newest = try await harness.store.newest(ma, bucket: "inbox", key: "never-was")
        let tombstone = try XCTUnwrap(newest, "no tombstone for a cross-border delete of a missing key")
        XCTAssertTrue(tombstone.manifest.isTombstone)
        let listed = try await harness.service.listObjects(harness.principal("MA"), "inbox", ListRequest(maxKeys: 10))
        XCTAssertTrue(listed.objects.isEmpty)
    }

    func testMultipartUploadIsVisibleAcrossTheBorderOnlyToTheJurisdictionThatStartedIt() async throws {
        let service = harness.service
        let upload = try await service.createUpload(harness.principal("FR"), "inbox", "mp", metadata: ObjectMetadata(),
                                                    checksumAlgorithm: nil)
        let template = try await harness.store.upload(ma, bucket: "inbox", key: "mp",
                                                      upload: VersionID(bytes: Hex.decode(upload)!)!)
        let header = try EnvelopeHeader(decoding: try XCTUnwrap(template.envelope), bucket: "inbox", key: "mp")
        XCTAssertEqual(header.bucketKey.issuedTo, fr)
        XCTAssertEqual(template.envelope?.first, EnvelopeHeader.issuedKeyFormatVersion)
        let first = randomBytes(5 << 20, seed: 1), second = randomBytes(1000, seed: 2)
        var completed = [CompletedPart]()
        for (number, bytes) in [(1, first), (2, second)] {
            let writer = try await service.partWriter(harness.principal("FR"), "inbox", "mp", uploadID: upload,
                                                      partNumber: number,
                                                      expectations: PayloadExpectations(sizeBytes: Int64(bytes.count)))
            guard case .part(let record) = try await harness.write(writer: writer, bytes) else { return XCTFail() }
            completed.append(CompletedPart(number: number, etag: record.part.etag))
        }
        // Through the US the upload FR started answers exactly as a missing one: no part, no completion, no abort.
        let missing = VersionID.random().description
        for id in [upload, missing] {
            await assertError(.noSuchUpload(id)) {
                _ = try await service.partWriter(self.harness.principal("US"), "inbox", "mp", uploadID: id, partNumber: 3,
                                                 expectations: PayloadExpectations(sizeBytes: 1))
            }
            await assertError(.noSuchUpload(id)) {
                _ = try await service.completeUpload(self.harness.principal("US"), "inbox", "mp", uploadID: id,
                                                     parts: completed, condition: nil)
            }
            await assertError(.noSuchUpload(id)) {
                try await service.abortUpload(self.harness.principal("US"), "inbox", "mp", uploadID: id)
            }
        }
        // Even handed the template, MA's key store gives the US nothing of FR's upload.
        do {
            _ = try await harness.store.partWriter(ma, tenant: "acme", template: template, number: 3,
                                                   expectations: PayloadExpectations(sizeBytes: 1), gateway: us)
            XCTFail("the US got the key of FR's upload")
        } catch ObjectServiceError.noSuchUpload {}
        _ = try await service.completeUpload(harness.principal("FR"), "inbox", "mp", uploadID: upload, parts: completed,
                                             condition: nil)
        let read = try await harness.get("MA", "inbox", "mp")
        XCTAssertEqual(read, first + second)
        XCTAssertEqual(try releases, ["FR CreateMultipartUpload grant=", "FR UploadPart grant=",
                                      "FR UploadPart grant=", "FR CompleteMultipartUpload grant="])
        // An upload started in MA takes no part from FR: it answers as missing there too.
        let homeUpload = try await service.createUpload(harness.principal("MA"), "inbox", "mp2", metadata: ObjectMetadata(),
                                                        checksumAlgorithm: nil)
        await assertError(.noSuchUpload(homeUpload)) {
            _ = try await service.partWriter(self.harness.principal("FR"), "inbox", "mp2", uploadID: homeUpload,
                                             partNumber: 1, expectations: PayloadExpectations(sizeBytes: 1))
        }
    }
}
