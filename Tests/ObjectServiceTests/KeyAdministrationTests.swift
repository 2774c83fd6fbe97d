import Envelope
import Foundation
import Hashing
import KeyStore
import Logging
import ObjectModel
@testable import ObjectService
@testable import Envelope
import SigV4
import StorageNode
import XCTest

/// Key rotation, rewrap jobs (resumable, safe beside writes), retirement; and no key in the clear on disk.
final class KeyAdministrationTests: XCTestCase {
    var harness: Harness!
    let ma = Jurisdiction("MA")!

    override func setUp() async throws {
        harness = try await Harness()
        _ = try await harness.service.control.createTenant(harness.tenant)
        _ = try await harness.service.createBucket(harness.principal(), "bkt", location: "MA")
    }

    override func tearDown() async throws {
        for node in harness.nodes { node.close() }
        try await harness.pool.shutdownGracefully()
        try? FileManager.default.removeItem(at: harness.directory)
    }

    func versions(_ key: String) async throws -> UInt32 {
        let manifest = try await harness.store.locate(ma, bucket: "bkt", key: key)!.manifest
        return try EnvelopeHeader(decoding: manifest.envelope!, bucket: "bkt", key: key).bucketKey.tenantKeyVersion
    }

    func testRewrapResumesAfterACrashAndLeavesConcurrentWritesAlone() async throws {
        for index in 0..<20 { try await harness.put("MA", "bkt", "k\(index)", Array("v1-\(index)".utf8)) }
        _ = try await harness.administer(.rotateKey(tenant: "acme"))
        var refused = false
        do { _ = try await harness.administer(.retireKey(tenant: "acme")) } catch ObjectServiceError.preconditionFailed(let message) {
            refused = message.contains("20 stored data key")
        }
        XCTAssertTrue(refused, "retire must wait for the rewrap")
        let started = try await harness.administer(.rewrapKeys(tenant: "acme"))
        let job = try XCTUnwrap(started.job)
        XCTAssertEqual(job.total, 20)
        // Two pages of 5, then a "crash": progress is saved, the job is still running.
        await harness.service.runRewrap(job, logger: Logger(label: "test"), pageSize: 5, pageLimit: 2)
        let saved = try XCTUnwrap(try harness.service.control.job(job.id))
        XCTAssertEqual(saved.state, .running)
        XCTAssertEqual(saved.examined, 10)
        XCTAssertEqual(saved.after, "k17", "keys sort as strings: k0 k1 k10 k11 k12, k13 k14 k15 k16 k17")
        // Writes go on meanwhile: new versions of some keys (under the new tenant key version).
        try await harness.put("MA", "bkt", "k7", Array("v2-7".utf8))
        try await harness.put("MA", "bkt", "k19", Array("v2-19".utf8))
        // The restarted job resumes from its saved cursor and completes.
        await harness.service.runRewrap(saved, logger: Logger(label: "test"), pageSize: 5)
        let done = try XCTUnwrap(try harness.service.control.job(job.id))
        XCTAssertEqual(done.state, .done)
        XCTAssertEqual(done.examined, 20)
        for index in 0..<20 {
            let version = try await versions("k\(index)")
            XCTAssertEqual(version, 2, "k\(index)")
            let expected = index == 7 || index == 19 ? "v2-\(index)" : "v1-\(index)"
            let bytes = try await harness.get("MA", "bkt", "k\(index)")
            XCTAssertEqual(bytes, Array(expected.utf8))
        }
        let retired = try await harness.administer(.retireKey(tenant: "acme"))
        guard case .keys(let states)? = retired.outcome.result else { return XCTFail("no key versions: \(retired)") }
        XCTAssertEqual(states.map(\.state), [.retired, .current])
        let afterRetire = try await harness.get("MA", "bkt", "k3")
        XCTAssertEqual(afterRetire, Array("v1-3".utf8))
        // Every step is in MA's log: who asked, and what was done.
        let events = try harness.auditRecords("MA", kind: "key").filter { $0["phase"] == "done" }.map { $0["event"] }
        XCTAssertEqual(events, ["rotate", "rewrap", "retire"])
    }

    /// A write that took its key before a rotation and commits after the rewrap is still in flight when a retirement
    /// checks: the check waits for it, counts it, and refuses (rather than retiring the version it was written with).
    func testAnUnknownTenantHasNoKeysToListOrRotate() async throws {
        for action in [AuthorityAction.listKeys(tenant: "nosuch"), .rotateKey(tenant: "nosuch"),
                       .rewrapKeys(tenant: "nosuch")] {
            do {
                _ = try await harness.administer(action)
                XCTFail("\(action) ran for an unknown tenant")
            } catch ObjectServiceError.noSuchTenant(let name) {
                XCTAssertEqual(name, "nosuch")
            }
        }
        let keys = try await harness.keyStores[Jurisdiction("MA")!]!.keys(tenant: nil, metadata:
            RequestMetadata(requester: "test", jurisdiction: Jurisdiction("MA")!, operation: "t", requestID: "t"))
        XCTAssertFalse(keys.contains { $0.tenant == "nosuch" })
    }

    func testAnUnknownJurisdictionIsRefusedBeforeAnythingElse() async throws {
        // XX signs nothing (it has no administrators): the refusal comes from the topology, through any gateway.
        let body = Array(try JSONEncoder().encode(AuthorityRequest(jurisdiction: Jurisdiction("XX")!,
                                                                   action: .listKeys(tenant: nil))))
        var request = SignableRequest(method: "POST", rawPath: AdministratorProof.path, rawQuery: "",
                                      headers: [(name: "host", value: "gateway")])
        let signer = SigV4Signer(accessKeyID: "QAKEXAMPLE", secret: "secret")
        for (name, value) in signer.sign(request, payloadHash: Hex.encode(StreamingDigest.hash(.sha256, body)),
                                         nowSeconds: 0) {
            request.headers.append((name: name, value: value))
        }
        do {
            _ = try await harness.service.administer(request, body: body, gateway: Jurisdiction("MA")!,
                                                     requestID: "test")
            XCTFail("an unknown jurisdiction was administered")
        } catch let error as ObjectServiceError {
            XCTAssertEqual(ObjectServiceError.describe(error),
                           "XX is not a jurisdiction of this deployment (its jurisdictions: FR, MA, US)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: harness.directory.path + "/audit/XX"))
    }

    func testRetirementWaitsForWritesThatStartedBeforeIt() async throws {
        let principal = harness.principal()
        let early = try await harness.service.putObject(principal, "bkt", "late", metadata: ObjectMetadata(),
                                                        condition: nil, expectations: PayloadExpectations(sizeBytes: 4))
        _ = try await harness.administer(.rotateKey(tenant: "acme"))
        nonisolated(unsafe) let harness = harness!
        let retirement = Task { try await harness.administer(.retireKey(tenant: "acme")) }
        try await Task.sleep(for: .milliseconds(200))
        _ = try await harness.write(writer: early, Array("late".utf8))
        do {
            _ = try await retirement.value
            XCTFail("retired with a write under the old version in flight")
        } catch ObjectServiceError.preconditionFailed(let message) {
            XCTAssertTrue(message.contains("1 stored data key"), message)
        }
        let version = try await versions("late")
        XCTAssertEqual(version, 1)
        let bytes = try await harness.get("MA", "bkt", "late")
        XCTAssertEqual(bytes, Array("late".utf8))
    }

    /// A jurisdiction's authority acts only through its own gateways: its administrators' calls through a gateway
    /// of FR are refused before any key store is asked (and FR's key store would not know them either).
    func testAuthorityActsOnlyThroughItsOwnJurisdiction() async throws {
        do {
            _ = try await harness.administer(.rotateKey(tenant: "acme"), "MA", gateway: "FR")
            XCTFail("MA's authority acted through FR")
        } catch ObjectServiceError.accessDenied(let message) {
            XCTAssertTrue(message.contains("only through a gateway in MA"), message)
        }
        XCTAssertEqual(try harness.auditRecords("MA", kind: "key").count, 0)
    }

    func testNoDataKeyBucketKeyOrCanaryReachesDisk() async throws {
        let canary = Array("CANARY-\(UInt64.random(in: 0...UInt64.max))".utf8)
        var metadata = ObjectMetadata()
        metadata.user = [("note", String(decoding: canary, as: UTF8.self))]
        var keys = [[UInt8]]()
        for index in 0..<3 {
            let writer = try await harness.store.writer(ma, tenant: "acme", bucket: "bkt", key: "k\(index)", metadata: metadata,
                                                        expectations: PayloadExpectations(sizeBytes: Int64(canary.count * 1000)))
            _ = try await harness.write(writer: writer, Array((0..<1000).flatMap { _ in canary }))
            let found = try await harness.store.locate(ma, bucket: "bkt", key: "k\(index)")!
            let opened = try await harness.store.opened(found, jurisdiction: ma, tenant: "acme", operation: "test")
            let cipher = try XCTUnwrap(opened.cipher)
            keys.append(cipher.dataKey!.exportBytes())
            XCTAssertEqual(opened.manifest.metadata, metadata)
        }
        for entry in harness.store.crypto.writing.withLock({ Array($0.values) }) { keys.append(entry.key.exportBytes()) }
        XCTAssertEqual(keys.count, 4, "three data keys and one bucket key")
        for node in harness.nodes { try await node.compact(node.jurisdiction) }
        let files = FileManager.default.enumerator(atPath: harness.directory.path)!.compactMap { $0 as? String }
        var scanned = 0
        for file in files {
            let path = harness.directory.appendingPathComponent(file).path
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            scanned += 1
            let bytes = [UInt8](data)
            for needle in keys + [canary] {
                XCTAssertFalse(contains(bytes, needle), "\(file) holds a secret or the canary")
            }
        }
        XCTAssertGreaterThan(scanned, 20)
    }

    func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count, let first = needle.first else { return false }
        var index = 0
        while index <= haystack.count - needle.count {
            if haystack[index] == first, haystack[index..<(index + needle.count)].elementsEqual(needle) { return true }
            index += 1
        }
        return false
    }
}
