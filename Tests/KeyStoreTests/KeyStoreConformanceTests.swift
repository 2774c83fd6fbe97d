import XCTest
import Envelope
import Hashing
import ObjectModel
import Sovereignty
@testable import KeyStore

let ma = Jurisdiction("MA")!
let fr = Jurisdiction("FR")!

func request(_ jurisdiction: Jurisdiction = ma, _ operation: String = "test") -> RequestMetadata {
    RequestMetadata(requester: "gateway-\(jurisdiction)", jurisdiction: jurisdiction, operation: operation,
                    requestID: "r1")
}

func temporaryDirectory() -> String {
    let path = "/tmp/qantara-ks-\(UInt64.random(in: 0...UInt64.max))"
    mkdir(path, 0o700)
    return path
}

/// The behaviour every ``KeyStoreClient`` shares, whatever carries the calls: run here on the in-process store,
/// and by subclasses over the network.
class KeyStoreConformanceTests: XCTestCase {
    /// A client of a fresh, unsealed key store of MA.
    func makeClient() async throws -> any KeyStoreClient {
        let store = KeyStore(jurisdiction: ma, path: temporaryDirectory() + "/keystore.sealed", cost: .minimum,
                             now: { 1_700_000_000_000 })
        try store.unseal(secret: Array("correct horse".utf8))
        return store
    }

    func testGeneratedKeyDecryptsOnlyWithItsBinding() async throws {
        let client = try await makeClient()
        let generated = try await client.generateDataKey(tenant: "acme", aad: [1, 2], metadata: request())
        XCTAssertEqual(generated.wrapped.tenantKeyVersion, 1)
        XCTAssertFalse(generated.wrapped.bytes.isEmpty)
        let opened = try await client.decrypt(tenant: "acme", wrapped: generated.wrapped, aad: [1, 2], metadata: request())
        XCTAssertEqual(opened.exportBytes(), generated.plaintext.exportBytes())
        await assertKeyStoreError(try await client.decrypt(tenant: "acme", wrapped: generated.wrapped, aad: [1, 3],
                                                          metadata: request()), .wrappedKeyRejected(ma, tenant: "acme"))
        _ = try await client.generateDataKey(tenant: "other", aad: [], metadata: request())
        await assertKeyStoreError(try await client.decrypt(tenant: "other", wrapped: generated.wrapped, aad: [1, 2],
                                                          metadata: request()), .wrappedKeyRejected(ma, tenant: "other"))
    }

    /// A client authenticated as a gateway of FR, and the metadata it sends (in process the metadata is the identity;
    /// over the network the token is, whatever the metadata claims).
    func foreignRequester(_ client: any KeyStoreClient) -> (any KeyStoreClient, RequestMetadata) { (client, request(fr)) }

    func testRequesterOfAnotherJurisdictionIsRefused() async throws {
        let client = try await makeClient()
        let generated = try await client.generateDataKey(tenant: "acme", aad: [], metadata: request())
        let refusal = KeyStoreError.wrongJurisdiction(store: ma, requester: "gateway-FR", requesterJurisdiction: fr)
        let (foreign, claimed) = foreignRequester(client)
        await assertKeyStoreError(try await foreign.decrypt(tenant: "acme", wrapped: generated.wrapped, aad: [],
                                                           metadata: claimed), refusal)
        await assertKeyStoreError(try await foreign.rewrap(tenant: "acme", wrapped: generated.wrapped, aad: [],
                                                          metadata: claimed), refusal)
        // Writes into MA are allowed from anywhere: a fresh key opens nothing already stored.
        let fresh = try await foreign.generateDataKey(tenant: "acme", aad: [], metadata: claimed)
        XCTAssertNotEqual(fresh.plaintext.exportBytes(), generated.plaintext.exportBytes())
        XCTAssertTrue(refusal.description.contains("sovereignty grant"))
    }

    func testRotateRewrapRetire() async throws {
        let client = try await makeClient()
        let old = try await client.generateDataKey(tenant: "acme", aad: [7], metadata: request())
        let rotated = try await client.rotate(tenant: "acme", metadata: request())
        XCTAssertEqual(rotated.version, 2)
        let fresh = try await client.generateDataKey(tenant: "acme", aad: [7], metadata: request())
        XCTAssertEqual(fresh.wrapped.tenantKeyVersion, 2, "new keys use the new version at once")
        let rewrapped = try await client.rewrap(tenant: "acme", wrapped: old.wrapped, aad: [7], metadata: request())
        XCTAssertEqual(rewrapped.tenantKeyVersion, 2)
        let rewrappedKey = try await client.decrypt(tenant: "acme", wrapped: rewrapped, aad: [7], metadata: request()).exportBytes()
        XCTAssertEqual(rewrappedKey, old.plaintext.exportBytes())
        let states = try await client.retire(tenant: "acme", metadata: request()).map(\.state)
        XCTAssertEqual(states, [.retired, .current])
        await assertKeyStoreError(try await client.decrypt(tenant: "acme", wrapped: old.wrapped, aad: [7], metadata: request()),
                                  .versionRetired(ma, tenant: "acme", version: 1, minimum: 2))
        // Root rotation re-wraps tenant keys: everything still opens.
        let root = try await client.rotate(tenant: nil, metadata: request())
        XCTAssertEqual(root.version, 2)
        let freshKey = try await client.decrypt(tenant: "acme", wrapped: fresh.wrapped, aad: [7], metadata: request()).exportBytes()
        XCTAssertEqual(freshKey, fresh.plaintext.exportBytes())
        let listed = try await client.keys(tenant: nil, metadata: request())
        XCTAssertEqual(listed.map { "\($0.tenant ?? "root") v\($0.version) \($0.state)" },
                       ["root v2 current", "acme v1 retired", "acme v2 current"])
    }

    func testDestroyCryptoShredsOneTenantOnly() async throws {
        let client = try await makeClient()
        let acme = try await client.generateDataKey(tenant: "acme", aad: [], metadata: request())
        let other = try await client.generateDataKey(tenant: "other", aad: [], metadata: request())
        try await client.destroy(tenant: "acme", metadata: request())
        await assertKeyStoreError(try await client.decrypt(tenant: "acme", wrapped: acme.wrapped, aad: [], metadata: request()),
                                  .tenantKeyDestroyed(ma, tenant: "acme"))
        await assertKeyStoreError(try await client.generateDataKey(tenant: "acme", aad: [], metadata: request()),
                                  .tenantKeyDestroyed(ma, tenant: "acme"))
        await assertKeyStoreError(try await client.rotate(tenant: "acme", metadata: request()),
                                  .tenantKeyDestroyed(ma, tenant: "acme"))
        let otherKey = try await client.decrypt(tenant: "other", wrapped: other.wrapped, aad: [], metadata: request()).exportBytes()
        XCTAssertEqual(otherKey, other.plaintext.exportBytes())
        let states = try await client.keys(tenant: "acme", metadata: request()).map(\.state)
        XCTAssertEqual(states, [.destroyed])
    }

    func testGrantsGateCrossBorderReleases() async throws {
        let client = try await makeClient()
        let aad = BucketKeyContext(bucket: "data", id: Array(repeating: 7, count: 16)).encoded()
        let bucketKey = try await client.generateDataKey(tenant: "acme", aad: aad, metadata: request())
        let (foreign, claimed) = foreignRequester(client)
        @Sendable func release(grant: String?, operation: String = "GetObject") async throws -> SecretKey {
            var metadata = claimed
            metadata.grantID = grant
            metadata.operation = operation
            return try await foreign.decrypt(tenant: "acme", wrapped: bucketKey.wrapped, aad: aad, metadata: metadata)
        }
        func refusal(_ reason: String) -> KeyStoreError {
            .grantRefused(store: ma, requester: "gateway-FR", requesterJurisdiction: fr, reason: reason)
        }
        await assertKeyStoreError(try await release(grant: nil),
                                  .wrongJurisdiction(store: ma, requester: "gateway-FR", requesterJurisdiction: fr))
        let now: Int64 = 1_700_000_000
        let grant = Grant(id: "g-1", issuer: fr, recipients: [fr], tenant: "acme", bucket: "data", prefix: "public/",
                          operations: [.getObject, .headObject], purpose: .supportCase, legalBasis: "ticket 7",
                          notBefore: now - 10, expires: now + 3600, issuedAt: now)
        // Only MA's own requesters may issue MA's grants.
        await assertKeyStoreError(try await foreign.issueGrant(grant, metadata: claimed),
                                  .wrongJurisdiction(store: ma, requester: "gateway-FR", requesterJurisdiction: fr))
        var tooLong = grant
        tooLong.expires = now + 365 * 86_400
        do {
            _ = try await client.issueGrant(tooLong, metadata: request())
            XCTFail("a grant beyond the maximum lifetime was issued")
        } catch let error as KeyStoreError {
            guard case .invalidRequest(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("maximum"), message)
        }
        let issued = try await client.issueGrant(grant, metadata: request())
        // The JWS verifies with the published authority key and names MA as issuer whatever the request said.
        let published = try await client.authorities()
        let authorities: Sovereignty.Authorities = Dictionary(uniqueKeysWithValues: published.map {
            ($0.kid, (jurisdiction: $0.jurisdiction, publicKey: Base64.decode($0.publicKey)!))
        })
        XCTAssertEqual(try SignedGrant(compact: issued.jws).verify(authorities: authorities).issuer, ma)
        let released = try await release(grant: "g-1")
        XCTAssertEqual(released.exportBytes(), bucketKey.plaintext.exportBytes())
        await assertKeyStoreError(try await release(grant: "g-1", operation: "ListObjects"),
                                  refusal("wrong-operation, grant g-1"))
        await assertKeyStoreError(try await release(grant: "g-2"), refusal("no-grant, grant g-2"))
        let otherBucket = BucketKeyContext(bucket: "other", id: Array(repeating: 7, count: 16)).encoded()
        let otherKey = try await client.generateDataKey(tenant: "acme", aad: otherBucket, metadata: request())
        var granted = claimed
        granted.grantID = "g-1"
        granted.operation = "GetObject"
        let metadata = granted
        await assertKeyStoreError(try await foreign.decrypt(tenant: "acme", wrapped: otherKey.wrapped, aad: otherBucket,
                                                           metadata: metadata), refusal("wrong-bucket, grant g-1"))
        let revoked = try await client.revokeGrant(id: "g-1", metadata: request())
        XCTAssertNotNil(revoked.revokedMillis)
        await assertKeyStoreError(try await release(grant: "g-1"), refusal("revoked, grant g-1"))
        let listed = try await foreign.grants(metadata: claimed)
        XCTAssertEqual(listed.map(\.id), ["g-1"])
    }

    /// A key made for a multipart upload that a gateway of FR starts in MA is marked as issued to FR (in the
    /// authenticated context): only FR may have it made, and it goes back to FR for the upload's operations only.
    func testUploadKeyIssuedToARequesterGoesBackToItForItsUploadOnly() async throws {
        let client = try await makeClient()
        let (foreign, claimed) = foreignRequester(client)
        let id = Array(repeating: UInt8(5), count: 16)
        let issued = BucketKeyContext(bucket: "data", id: id, issuedTo: fr).encoded()
        func assertInvalid(_ body: @Sendable () async throws -> GeneratedKey, line: UInt = #line) async {
            do {
                _ = try await body()
                XCTFail("a key issued to the wrong jurisdiction was made", line: line)
            } catch let error as KeyStoreError {
                guard case .invalidRequest(let message) = error else { return XCTFail("\(error)", line: line) }
                XCTAssertTrue(message.contains("issued to"), message, line: line)
            } catch {
                XCTFail("\(error)", line: line)
            }
        }
        // MA's own gateways cannot have a key made "for FR", nor FR one for the US.
        await assertInvalid { try await client.generateDataKey(tenant: "acme", aad: issued, metadata: request()) }
        let forUS = BucketKeyContext(bucket: "data", id: id, issuedTo: Jurisdiction("US")!).encoded()
        await assertInvalid { try await foreign.generateDataKey(tenant: "acme", aad: forUS, metadata: claimed) }
        let key = try await foreign.generateDataKey(tenant: "acme", aad: issued, metadata: claimed)
        @Sendable func open(_ operation: String, aad: [UInt8] = issued) async throws -> SecretKey {
            var metadata = claimed
            metadata.operation = operation
            return try await foreign.decrypt(tenant: "acme", wrapped: key.wrapped, aad: aad, metadata: metadata)
        }
        for operation in ["UploadPart", "CompleteMultipartUpload"] {
            let opened = try await open(operation)
            XCTAssertEqual(opened.exportBytes(), key.plaintext.exportBytes(), operation)
        }
        // Reading back what it wrote needs a grant like any other read.
        await assertKeyStoreError(try await open("GetObject"),
                                  .grantRefused(store: ma, requester: "gateway-FR", requesterJurisdiction: fr,
                                                reason: "no-grant"))
        // The same wrapped key presented under a context that does not name FR is refused before it is opened.
        await assertKeyStoreError(try await open("UploadPart", aad: BucketKeyContext(bucket: "data", id: id).encoded()),
                                  .wrongJurisdiction(store: ma, requester: "gateway-FR", requesterJurisdiction: fr))
        // MA itself opens it (the bucket's own gateways read what FR wrote).
        let home = try await client.decrypt(tenant: "acme", wrapped: key.wrapped, aad: issued, metadata: request())
        XCTAssertEqual(home.exportBytes(), key.plaintext.exportBytes())
    }

    /// A grant's request and byte limits are counted by the key store for every gateway: a use that would exceed
    /// one is refused and changes nothing; a revoked grant is not used; only MA and the recipients may count.
    func testGrantUseIsCountedAgainstItsLimits() async throws {
        let client = try await makeClient()
        let (foreign, claimed) = foreignRequester(client)
        let now: Int64 = 1_700_000_000
        let grant = Grant(id: "g-9", issuer: ma, recipients: [fr], tenant: "acme", bucket: "data", prefix: "",
                          operations: [.getObject], purpose: .customerInitiated, legalBasis: "contract 9",
                          notBefore: now - 10, expires: now + 3600, issuedAt: now, maxBytes: 100, maxRequests: 2)
        _ = try await client.issueGrant(grant, metadata: request())
        func refusal(_ reason: String) -> KeyStoreError {
            .grantRefused(store: ma, requester: "gateway-FR", requesterJurisdiction: fr, reason: reason)
        }
        _ = try await foreign.useGrant(id: "g-9", requests: 1, bytes: 0, metadata: claimed)
        _ = try await foreign.useGrant(id: "g-9", requests: 1, bytes: 60, metadata: claimed)
        await assertKeyStoreError(try await foreign.useGrant(id: "g-9", requests: 1, bytes: 0, metadata: claimed),
                                  refusal("limit-exceeded, grant g-9"))
        await assertKeyStoreError(try await foreign.useGrant(id: "g-9", requests: 0, bytes: 41, metadata: claimed),
                                  refusal("limit-exceeded, grant g-9"))
        let status = try await foreign.useGrant(id: "g-9", requests: 0, bytes: 40, metadata: claimed)
        XCTAssertEqual([status.usedRequests, status.usedBytes], [2, 100])
        let listed = try await client.grants(metadata: request())
        XCTAssertEqual(listed.map { [$0.usedRequests, $0.usedBytes] }, [[2, 100]])
        do {
            _ = try await foreign.useGrant(id: "g-404", requests: 1, bytes: 0, metadata: claimed)
            XCTFail("an unknown grant was used")
        } catch let error as KeyStoreError {
            guard case .invalidRequest = error else { return XCTFail("\(error)") }
        }
        var unlimited = grant
        unlimited.id = "g-10"
        unlimited.maxBytes = nil
        unlimited.maxRequests = nil
        unlimited.recipients = [Jurisdiction("US")!]
        _ = try await client.issueGrant(unlimited, metadata: request())
        await assertKeyStoreError(try await foreign.useGrant(id: "g-10", requests: 1, bytes: 0, metadata: claimed),
                                  .wrongJurisdiction(store: ma, requester: "gateway-FR", requesterJurisdiction: fr))
        _ = try await client.revokeGrant(id: "g-10", metadata: request())
        await assertKeyStoreError(try await client.useGrant(id: "g-10", requests: 1, bytes: 0, metadata: request()),
                                  .grantRefused(store: ma, requester: "gateway-MA", requesterJurisdiction: ma,
                                                reason: "revoked, grant g-10"))
    }

    func testHealth() async throws {
        let health = try await makeClient().health()
        XCTAssertEqual(health.jurisdiction, ma)
        XCTAssertFalse(health.sealed)
    }
}

func assertKeyStoreError<T>(_ expression: @autoclosure @Sendable () async throws -> T, _ expected: KeyStoreError,
                            file: StaticString = #filePath, line: UInt = #line) async {
    do {
        _ = try await expression()
        XCTFail("expected \(expected)", file: file, line: line)
    } catch let error as KeyStoreError {
        XCTAssertEqual(error, expected, file: file, line: line)
    } catch {
        XCTFail("unexpected \(error)", file: file, line: line)
    }
}

