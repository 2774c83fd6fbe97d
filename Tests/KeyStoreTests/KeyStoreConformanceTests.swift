import XCTest
import Hashing
import ObjectModel
import Sovereignty
@testable import KeyStore
@testable import Envelope

let ma = Jurisdiction("MA")!
let fr = Jurisdiction("FR")!

func request(_ jurisdiction: Jurisdiction = ma, _ operation: String = "test") -> RequestMetadata {
    RequestMetadata(requester: "gateway-\(jurisdiction)", jurisdiction: jurisdiction, operation: operation,
                    requestID: "r1")
}

/// Runs `action` on `store` as MA's authority, signed by `credentials`, through a gateway of MA.
func act(_ store: KeyStore, _ action: AuthorityAction, by credentials: AdministratorCredentials) async throws
    -> AuthorityOutcome
{
    let (proof, body) = try AuthorityRequest(jurisdiction: store.jurisdiction, action: action)
        .signed(by: credentials, nowSeconds: store.now() / 1000)
    return try await store.administer(proof, body: body, metadata: lockChecked(store.jurisdiction))
}

/// Metadata of a gateway that checked object lock and found no tenant's data locked (what a gateway sends with a key
/// destruction or an approval).
func lockChecked(_ jurisdiction: Jurisdiction = ma, locked: [String] = []) -> RequestMetadata {
    var metadata = request(jurisdiction)
    metadata.lockedTenants = locked
    return metadata
}

/// Metadata of a gateway of MA that checked no stored data key needs a version below `version`.
func checked(_ version: UInt32) -> RequestMetadata {
    var metadata = request()
    metadata.checkedKey = CheckedKeyVersion(tenant: "acme", version: version)
    return metadata
}

func temporaryDirectory() -> String {
    let path = "/tmp/qantara-ks-\(UInt64.random(in: 0...UInt64.max))"
    mkdir(path, 0o700)
    return path
}

/// The behaviour every ``KeyStoreClient`` shares, whatever carries the calls: run here on the in-process store,
/// and by subclasses over the network.
class KeyStoreConformanceTests: XCTestCase {
    /// The administrators of the store `makeClient` made (its key ceremony's).
    var administrators: [AdministratorCredentials] = []

    /// A client of a fresh, unsealed key store of MA.
    func makeClient() async throws -> any KeyStoreClient {
        let store = KeyStore(jurisdiction: ma, path: temporaryDirectory() + "/keystore.sealed", cost: .minimum,
                             now: { 1_700_000_000_000 })
        try store.unseal(secret: Array("correct horse".utf8))
        administrators = try store.bootstrapAdministrators(count: 3)
        return store
    }

    /// Sends `action` to `client` as MA's authority, signed by administrator `admin`, through a gateway of
    /// `metadata`'s jurisdiction (MA's by default).
    func administer(_ client: any KeyStoreClient, _ action: AuthorityAction, admin: Int = 0,
                    jurisdiction: Jurisdiction = ma, metadata: RequestMetadata = request(),
                    signedAt: Int64 = 1_700_000_000) async throws -> AuthorityOutcome {
        let (proof, body) = try AuthorityRequest(jurisdiction: jurisdiction, action: action)
            .signed(by: administrators[admin], nowSeconds: signedAt)
        return try await client.administer(proof, body: body, metadata: metadata)
    }

    /// Runs an irreversible act: requested by administrator 0, approved by administrator 1.
    func approved(_ client: any KeyStoreClient, _ action: AuthorityAction) async throws -> AuthorityResult? {
        let requested = try await administer(client, action)
        let pending = try XCTUnwrap(requested.pending, "\(action) ran without approval")
        XCTAssertNil(requested.executed)
        let approval = try await administer(client, .approve(request: pending.id,
                                                             digest: AuthorityRequest.digest(pending.request)), admin: 1,
                                            metadata: lockChecked())
        XCTAssertEqual(approval.executed, action)
        return approval.result
    }

    /// Issues a grant as MA's administrator; returns its id.
    func issue(_ client: any KeyStoreClient, _ grant: GrantRequest) async throws -> String {
        let outcome = try await administer(client, .issueGrant(grant))
        guard case .grant(let status)? = outcome.result else { throw XCTSkip("no grant issued: \(outcome)") }
        return status.id
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
        guard case .key(let rotated)? = try await administer(client, .rotateKey(tenant: "acme")).result else {
            return XCTFail("no key version")
        }
        XCTAssertEqual(rotated.version, 2)
        let fresh = try await client.generateDataKey(tenant: "acme", aad: [7], metadata: request())
        XCTAssertEqual(fresh.wrapped.tenantKeyVersion, 2, "new keys use the new version at once")
        let rewrapped = try await client.rewrap(tenant: "acme", wrapped: old.wrapped, aad: [7], metadata: request())
        XCTAssertEqual(rewrapped.tenantKeyVersion, 2)
        let rewrappedKey = try await client.decrypt(tenant: "acme", wrapped: rewrapped, aad: [7], metadata: request()).exportBytes()
        XCTAssertEqual(rewrappedKey, old.plaintext.exportBytes())
        // A retirement runs only below the version the gateway checked, and only while it is still current: a
        // rotation in between (or no check at all) refuses it, rather than retiring what the check saw in use.
        for checked in [nil, CheckedKeyVersion(tenant: "acme", version: 1), CheckedKeyVersion(tenant: "other", version: 2)] {
            var metadata = request()
            metadata.checkedKey = checked
            do {
                _ = try await administer(client, .retireKey(tenant: "acme"), metadata: metadata)
                XCTFail("retired below v2 with a check of \(String(describing: checked))")
            } catch let error as KeyStoreError {
                guard case .invalidRequest = error else { return XCTFail("\(error)") }
            }
        }
        // Reserved keys (the control plane's, which seals every access key's secret) are never retired or destroyed.
        for action in [AuthorityAction.retireKey(tenant: ".control"), .destroyKey(tenant: ".control")] {
            do {
                _ = try await administer(client, action, metadata: checked(2))
                XCTFail("\(action) was accepted")
            } catch let error as KeyStoreError {
                guard case .invalidRequest = error else { return XCTFail("\(error)") }
            }
        }
        guard case .keys(let retired)? = try await administer(client, .retireKey(tenant: "acme"),
                                                              metadata: checked(2)).result else {
            return XCTFail("no key versions")
        }
        XCTAssertEqual(retired.map(\.state), [.retired, .current])
        await assertKeyStoreError(try await client.decrypt(tenant: "acme", wrapped: old.wrapped, aad: [7], metadata: request()),
                                  .versionRetired(ma, tenant: "acme", version: 1, minimum: 2))
        // Root rotation re-wraps tenant keys: everything still opens. It needs a second administrator's approval.
        guard case .key(let root)? = try await approved(client, .rotateKey(tenant: nil)) else {
            return XCTFail("no root version")
        }
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
        _ = try await approved(client, .destroyKey(tenant: "acme"))
        await assertKeyStoreError(try await client.decrypt(tenant: "acme", wrapped: acme.wrapped, aad: [], metadata: request()),
                                  .tenantKeyDestroyed(ma, tenant: "acme"))
        await assertKeyStoreError(try await client.generateDataKey(tenant: "acme", aad: [], metadata: request()),
                                  .tenantKeyDestroyed(ma, tenant: "acme"))
        do {
            _ = try await administer(client, .rotateKey(tenant: "acme"))
            XCTFail("a destroyed key rotated")
        } catch let error as KeyStoreError {
            XCTAssertEqual(error, .tenantKeyDestroyed(ma, tenant: "acme"))
        }
        let otherKey = try await client.decrypt(tenant: "other", wrapped: other.wrapped, aad: [], metadata: request()).exportBytes()
        XCTAssertEqual(otherKey, other.plaintext.exportBytes())
        let states = try await client.keys(tenant: "acme", metadata: request()).map(\.state)
        XCTAssertEqual(states, [.destroyed])
    }

    /// An object of tenant acme in `bucket` of MA, written under a bucket key made with `context`: what a key store
    /// is handed to release its data key (as its envelope header holds it), and that data key.
    func storedObject(_ client: any KeyStoreClient, bucket: String, key: String, context: BucketKeyContext? = nil,
                      requester: RequestMetadata = request()) async throws -> (DataKeyRelease, SecretKey) {
        let context = context ?? BucketKeyContext(bucket: bucket, id: Array(repeating: 7, count: 16))
        let bucketKey = try await client.generateDataKey(tenant: "acme", aad: context.encoded(), metadata: requester)
        let version = VersionID.random()
        let binding = ObjectBinding(jurisdiction: ma, tenant: "acme", bucket: bucket, key: key, version: version)
        let cipher = ObjectCipher.create(binding: binding, algorithm: .aes256gcm, segmentSizeBytes: 1024,
                                         bucketKey: bucketKey.plaintext,
                                         reference: BucketKeyReference(tenantKeyVersion: bucketKey.wrapped.tenantKeyVersion,
                                                                       id: context.id, wrappedKey: bucketKey.wrapped.bytes,
                                                                       issuedTo: context.issuedTo))
        let opened = try ObjectCipher.open(cipher.header, bucketKey: bucketKey.plaintext)
        return (DataKeyRelease(tenant: "acme", bucketKey: bucketKey.wrapped, bucketKeyContext: context.encoded(),
                               wrappedDataKey: cipher.header.wrappedDataKey, bucket: bucket, key: key,
                               version: version.bytes, salt: cipher.header.salt), opened.dataKey!)
    }

    /// Across a border the key store decides reads itself and releases one object's data key at most: under a grant
    /// naming the requester, for an operation that opens the object, a key (authenticated by the data key's own
    /// wrapping, never taken from the caller) inside the grant's scope; a bucket key never leaves for another
    /// jurisdiction, and a listing grant releases nothing.
    func testCrossBorderReadsAreDecidedHereAndReleaseOneObjectsKey() async throws {
        let client = try await makeClient()
        let (foreign, claimed) = foreignRequester(client)
        let (inside, insideKey) = try await storedObject(client, bucket: "data", key: "public/a.csv")
        let (outside, _) = try await storedObject(client, bucket: "data", key: "private/b.csv")
        let (otherBucket, _) = try await storedObject(client, bucket: "other", key: "public/a.csv")
        @Sendable func release(_ object: DataKeyRelease, grant: String?, operation: String = "GetObject") async throws
            -> SecretKey
        {
            var metadata = claimed
            metadata.grantID = grant
            metadata.operation = operation
            return try await foreign.releaseDataKey(object, metadata: metadata)
        }
        func refusal(_ reason: String) -> KeyStoreError {
            .grantRefused(store: ma, requester: "gateway-FR", requesterJurisdiction: fr, reason: reason)
        }
        @Sendable func decide(_ operation: ReadOperation, key: String? = nil, prefix: String? = nil,
                              counts: Bool = false) async throws -> CrossBorderVerdict {
            try await foreign.decideRead(CrossBorderRead(operation: operation, tenant: "acme", bucket: "data", key: key,
                                                         prefix: prefix, countsRequest: counts), metadata: claimed)
        }
        await assertKeyStoreError(try await release(inside, grant: nil), refusal("no-grant"))
        var refused = try await decide(.getObject, key: "public/a.csv")
        XCTAssertEqual(refused, CrossBorderVerdict(grantID: nil, refusal: .noGrant, limitsBytes: false))
        let now: Int64 = 1_700_000_000
        let grant = GrantRequest(recipients: [fr], tenant: "acme", bucket: "data", prefix: "public/",
                                 operations: [.getObject, .headObject, .listObjects], purpose: .supportCase,
                                 legalBasis: "ticket 7", notBefore: now - 10, expiresInSeconds: 3610)
        var tooLong = grant
        tooLong.expiresInSeconds = 365 * 86_400
        do {
            _ = try await administer(client, .issueGrant(tooLong))
            XCTFail("a grant beyond the maximum lifetime was issued")
        } catch let error as KeyStoreError {
            guard case .invalidRequest(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("maximum"), message)
        }
        guard case .grant(let issued)? = try await administer(client, .issueGrant(grant)).result else {
            return XCTFail("no grant")
        }
        let id = issued.id
        // The JWS verifies with the published authority key and names MA as issuer whatever the request said.
        let published = try await client.authorities()
        let authorities: Sovereignty.Authorities = Dictionary(uniqueKeysWithValues: published.map {
            ($0.kid, (jurisdiction: $0.jurisdiction, publicKey: Base64.decode($0.publicKey)!))
        })
        XCTAssertEqual(try SignedGrant(compact: issued.jws).verify(authorities: authorities).issuer, ma)
        let granted = try await decide(.getObject, key: "public/a.csv")
        XCTAssertEqual(granted, CrossBorderVerdict(grantID: id, refusal: nil, limitsBytes: false))
        let listing = try await decide(.listObjects, prefix: "public/2026/")
        XCTAssertNil(listing.refusal)
        let wholeBucket = try await decide(.listObjects, prefix: "")
        XCTAssertEqual(wholeBucket.refusal, .outsideKeyOrPrefix)
        let private_ = try await decide(.getObject, key: "private/b.csv")
        XCTAssertEqual(private_.refusal, .outsideKeyOrPrefix)
        let released = try await release(inside, grant: id)
        XCTAssertEqual(released.exportBytes(), insideKey.exportBytes(), "the object's data key, not its bucket key")
        // A HeadObject gets the metadata key alone: it opens the metadata, not a byte of the content.
        let headKey = try await release(inside, grant: id, operation: "HeadObject")
        XCTAssertNotEqual(headKey.exportBytes(), insideKey.exportBytes())
        XCTAssertEqual(headKey.exportBytes(),
                       ObjectCipher.metadataKey(dataKey: insideKey, salt: inside.salt!).exportBytes())
        var saltless = inside
        saltless.salt = nil
        let withoutSalt = saltless
        do {
            _ = try await release(withoutSalt, grant: id, operation: "HeadObject")
            XCTFail("a HeadObject release without the envelope's salt")
        } catch let error as KeyStoreError {
            guard case .invalidRequest = error else { return XCTFail("\(error)") }
        }
        await assertKeyStoreError(try await release(inside, grant: id, operation: "ListObjects"),
                                  refusal("wrong-operation, grant \(id)"))
        await assertKeyStoreError(try await release(outside, grant: id), refusal("outside-key-or-prefix, grant \(id)"))
        await assertKeyStoreError(try await release(otherBucket, grant: id), refusal("wrong-bucket, grant \(id)"))
        await assertKeyStoreError(try await release(inside, grant: "g-2"), refusal("no-grant, grant g-2"))
        // The key named in the request is bound by the data key's wrapping: renaming the object to fit the grant
        // does not open it.
        var renaming = outside
        renaming.key = "public/b.csv"
        let renamed = renaming
        await assertKeyStoreError(try await release(renamed, grant: id), .wrappedKeyRejected(ma, tenant: "acme"))
        // The bucket key itself never leaves for FR, grant or not.
        var metadata = claimed
        metadata.grantID = id
        metadata.operation = "GetObject"
        let asked = metadata
        await assertKeyStoreError(try await foreign.decrypt(tenant: "acme", wrapped: inside.bucketKey,
                                                           aad: inside.bucketKeyContext, metadata: asked),
                                  .wrongJurisdiction(store: ma, requester: "gateway-FR", requesterJurisdiction: fr))
        guard case .grant(let revoked)? = try await administer(client, .revokeGrant(id: id)).result else {
            return XCTFail("no grant")
        }
        XCTAssertNotNil(revoked.revokedMillis)
        await assertKeyStoreError(try await release(inside, grant: id), refusal("revoked, grant \(id)"))
        refused = try await decide(.getObject, key: "public/a.csv")
        XCTAssertEqual(refused.refusal, .revoked)
        // FR sees the grants naming it, and no other.
        var forUS = grant
        forUS.recipients = [Jurisdiction("US")!]
        let usID = try await issue(client, forUS)
        let seenByFR = try await foreign.grants(metadata: claimed)
        XCTAssertEqual(seenByFR.map(\.id), [id])
        let seenByMA = try await client.grants(metadata: request())
        XCTAssertEqual(seenByMA.map(\.id), [id, usID])
    }

    /// A key made for a multipart upload that a gateway of FR starts in MA is marked as issued to FR (in the
    /// authenticated context): only FR may have it made, and its data key goes back to FR for the upload's operations
    /// only.
    func testUploadKeyIssuedToARequesterGoesBackToItForItsUploadOnly() async throws {
        let client = try await makeClient()
        let (foreign, claimed) = foreignRequester(client)
        let id = Array(repeating: UInt8(5), count: 16)
        let issued = BucketKeyContext(bucket: "data", id: id, issuedTo: fr)
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
        await assertInvalid { try await client.generateDataKey(tenant: "acme", aad: issued.encoded(), metadata: request()) }
        let forUS = BucketKeyContext(bucket: "data", id: id, issuedTo: Jurisdiction("US")!).encoded()
        await assertInvalid { try await foreign.generateDataKey(tenant: "acme", aad: forUS, metadata: claimed) }
        let (upload, dataKey) = try await storedObject(foreign, bucket: "data", key: "big", context: issued,
                                                       requester: claimed)
        @Sendable func open(_ operation: String, _ object: DataKeyRelease = upload) async throws -> SecretKey {
            var metadata = claimed
            metadata.operation = operation
            return try await foreign.releaseDataKey(object, metadata: metadata)
        }
        for operation in ["UploadPart", "CompleteMultipartUpload"] {
            let opened = try await open(operation)
            XCTAssertEqual(opened.exportBytes(), dataKey.exportBytes(), operation)
        }
        // Reading back what it wrote needs a grant like any other read.
        await assertKeyStoreError(try await open("GetObject"),
                                  .grantRefused(store: ma, requester: "gateway-FR", requesterJurisdiction: fr,
                                                reason: "no-grant"))
        // The same wrapped key presented under a context that does not name FR does not open.
        var unmarking = upload
        unmarking.bucketKeyContext = BucketKeyContext(bucket: "data", id: id).encoded()
        let unmarked = unmarking
        await assertKeyStoreError(try await open("UploadPart", unmarked), .wrappedKeyRejected(ma, tenant: "acme"))
        // MA itself opens it (the bucket's own gateways read what FR wrote).
        let home = try await client.releaseDataKey(upload, metadata: request())
        XCTAssertEqual(home.exportBytes(), dataKey.exportBytes())
    }

    /// A grant's request and byte limits are counted by the key store for every gateway: a use that would exceed
    /// one is refused and changes nothing; a revoked grant is not used; only MA and the recipients may count.
    func testGrantUseIsCountedAgainstItsLimits() async throws {
        let client = try await makeClient()
        let (foreign, claimed) = foreignRequester(client)
        let now: Int64 = 1_700_000_000
        let grant = GrantRequest(recipients: [fr], tenant: "acme", bucket: "data", operations: [.getObject],
                                 purpose: .customerInitiated, legalBasis: "contract 9", notBefore: now - 10,
                                 expiresInSeconds: 3610, maxBytes: 100, maxRequests: 2)
        let g9 = try await issue(client, grant)
        func refusal(_ reason: String) -> KeyStoreError {
            .grantRefused(store: ma, requester: "gateway-FR", requesterJurisdiction: fr, reason: reason)
        }
        _ = try await foreign.useGrant(id: g9, requests: 1, bytes: 0, metadata: claimed)
        _ = try await foreign.useGrant(id: g9, requests: 1, bytes: 60, metadata: claimed)
        await assertKeyStoreError(try await foreign.useGrant(id: g9, requests: 1, bytes: 0, metadata: claimed),
                                  refusal("limit-exceeded, grant \(g9)"))
        await assertKeyStoreError(try await foreign.useGrant(id: g9, requests: 0, bytes: 41, metadata: claimed),
                                  refusal("limit-exceeded, grant \(g9)"))
        let status = try await foreign.useGrant(id: g9, requests: 0, bytes: 40, metadata: claimed)
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
        unlimited.maxBytes = nil
        unlimited.maxRequests = nil
        unlimited.recipients = [Jurisdiction("US")!]
        let g10 = try await issue(client, unlimited)
        await assertKeyStoreError(try await foreign.useGrant(id: g10, requests: 1, bytes: 0, metadata: claimed),
                                  .wrongJurisdiction(store: ma, requester: "gateway-FR", requesterJurisdiction: fr))
        _ = try await administer(client, .revokeGrant(id: g10))
        await assertKeyStoreError(try await client.useGrant(id: g10, requests: 1, bytes: 0, metadata: request()),
                                  .grantRefused(store: ma, requester: "gateway-MA", requesterJurisdiction: ma,
                                                reason: "revoked, grant \(g10)"))
        // Counting cannot overflow: an absurd use is refused, not a trap.
        for (requests, bytes) in [(Int64.max, Int64(0)), (0, .max), (-1, 0)] {
            do {
                _ = try await foreign.useGrant(id: g9, requests: requests, bytes: bytes, metadata: claimed)
                XCTFail("use of \(requests) requests, \(bytes) bytes accepted")
            } catch let error as KeyStoreError {
                guard case .invalidRequest = error else { return XCTFail("\(error)") }
            }
        }
    }

    /// A request limit counts at the key store for reads that release no key (listings, whatever the caller says;
    /// conditional writes, which the caller names), and for every released key.
    func testRequestLimitsCountAtDecisionAndAtRelease() async throws {
        let client = try await makeClient()
        let (foreign, claimed) = foreignRequester(client)
        let now: Int64 = 1_700_000_000
        let grant = GrantRequest(recipients: [fr], tenant: "acme", bucket: "data",
                                 operations: [.getObject, .headObject, .listObjects],
                                 purpose: .customerInitiated, legalBasis: "contract 3", notBefore: now - 10,
                                 expiresInSeconds: 3610, maxBytes: 10, maxRequests: 4)
        let g3 = try await issue(client, grant)
        let list = CrossBorderRead(operation: .listObjects, tenant: "acme", bucket: "data", prefix: "",
                                   countsRequest: false)
        let first = try await foreign.decideRead(list, metadata: claimed)
        XCTAssertEqual(first, CrossBorderVerdict(grantID: g3, refusal: nil, limitsBytes: true, limitsRequests: true))
        let get = CrossBorderRead(operation: .getObject, tenant: "acme", bucket: "data", key: "k", countsRequest: false)
        _ = try await foreign.decideRead(get, metadata: claimed)  // not counted: the release will be
        let conditionalWrite = CrossBorderRead(operation: .headObject, tenant: "acme", bucket: "data", key: "k",
                                               countsRequest: true)
        _ = try await foreign.decideRead(conditionalWrite, metadata: claimed)
        let (object, _) = try await storedObject(client, bucket: "data", key: "k")
        var metadata = claimed
        metadata.grantID = g3
        metadata.operation = "GetObject"
        let asked = metadata
        _ = try await foreign.releaseDataKey(object, metadata: asked)
        _ = try await foreign.releaseDataKey(object, metadata: asked)
        let used = try await client.grants(metadata: request())
        XCTAssertEqual(used.first?.usedRequests, 4)
        await assertKeyStoreError(try await foreign.releaseDataKey(object, metadata: asked),
                                  .grantRefused(store: ma, requester: "gateway-FR", requesterJurisdiction: fr,
                                                reason: "limit-exceeded, grant \(g3)"))
        let exhausted = try await foreign.decideRead(list, metadata: claimed)
        XCTAssertEqual(exhausted.refusal, .limitExceeded)
    }

    /// The jurisdiction's authority is its administrators', checked here: a call must carry a valid signature of
    /// one of them over exactly its body, be fresh and new, name this jurisdiction, and come through its gateway.
    func testAuthorityCallsAreCheckedByTheKeyStoreItself() async throws {
        let client = try await makeClient()
        let (foreign, claimed) = foreignRequester(client)
        func refused(_ body: @Sendable () async throws -> AuthorityOutcome, _ expected: String,
                     line: UInt = #line) async {
            do {
                _ = try await body()
                XCTFail("accepted; expected a refusal mentioning \(expected)", line: line)
            } catch let error as KeyStoreError {
                guard case .notAuthority(_, let reason) = error else { return XCTFail("\(error)", line: line) }
                XCTAssertTrue(reason.contains(expected), reason, line: line)
            } catch {
                XCTFail("\(error)", line: line)
            }
        }
        let signedAt: Int64 = 1_700_000_000
        let listing = AuthorityRequest(jurisdiction: ma, action: .listKeys(tenant: nil))
        let (proof, body) = try listing.signed(by: administrators[0], nowSeconds: signedAt)
        // Through a gateway of FR: refused, whatever the signature.
        await refused({ try await foreign.administer(proof, body: body, metadata: claimed) }, "only through gateways of MA")
        // A body changed after signing (here: destroy instead of list) is not what was signed.
        let altered = Array(try JSONEncoder().encode(AuthorityRequest(jurisdiction: ma, action: .destroyKey(tenant: "acme"),
                                                                      nonce: listing.nonce)))
        await refused({ try await client.administer(proof, body: altered, metadata: request()) }, "does not cover")
        // A signature by a credential that is no administrator of MA (say, the deployment's root key).
        let stranger = AdministratorCredentials(jurisdiction: ma, name: "root", accessKeyId: "QKROOTROOTROOTROOTRO",
                                                secretAccessKey: "not-an-administrator-secret")
        let forged = try listing.signed(by: stranger, nowSeconds: signedAt)
        await refused({ try await client.administer(forged.proof, body: forged.body, metadata: request()) },
                      "not an administrator of MA")
        // An administrator's id with the wrong secret.
        var impostor = administrators[0]
        impostor.secretAccessKey = "guessed-secret-guessed-secret-guessed-se"
        let guessed = try listing.signed(by: impostor, nowSeconds: signedAt)
        await refused({ try await client.administer(guessed.proof, body: guessed.body, metadata: request()) },
                      "does not verify")
        // Stale: signed an hour before the store's clock; or before it started; or more than a minute ahead of it
        // (a call dated ahead could be replayed once the store restarts before its date).
        let stale = try listing.signed(by: administrators[0], nowSeconds: signedAt - 3600)
        await refused({ try await client.administer(stale.proof, body: stale.body, metadata: request()) }, "stale")
        let early = try listing.signed(by: administrators[0], nowSeconds: signedAt - 5)
        await refused({ try await client.administer(early.proof, body: early.body, metadata: request()) },
                      "signed before this key store started")
        let ahead = try listing.signed(by: administrators[0], nowSeconds: signedAt + 120)
        await refused({ try await client.administer(ahead.proof, body: ahead.body, metadata: request()) },
                      "ahead of this key store's clock")
        // Authentication alone (what a gateway asks before it checks or records anything) runs and remembers
        // nothing, and refuses what administer refuses.
        await refused({ _ = try await client.authenticateAdministrator(forged.proof, body: forged.body,
                                                                        metadata: request())
                        return try await client.administer(forged.proof, body: forged.body, metadata: request()) },
                      "not an administrator of MA")
        let who = try await client.authenticateAdministrator(proof, body: body, metadata: request())
        XCTAssertEqual(who.id, administrators[0].accessKeyId)
        // Addressed to FR's authority.
        let elsewhere = try AuthorityRequest(jurisdiction: fr, action: .listKeys(tenant: nil))
            .signed(by: administrators[0], nowSeconds: signedAt)
        await refused({ try await client.administer(elsewhere.proof, body: elsewhere.body, metadata: request()) },
                      "addressed to the authority of FR")
        // The genuine call runs once; presented again, it is a replay.
        let outcome = try await client.administer(proof, body: body, metadata: request())
        XCTAssertEqual(outcome.administrator.id, administrators[0].accessKeyId)
        XCTAssertEqual(outcome.executed, .listKeys(tenant: nil))
        await refused({ try await client.administer(proof, body: body, metadata: request()) }, "already presented")
    }

    /// Irreversible acts (destroying a key, rotating the root key, legal-process grants, adding administrators,
    /// changing the quorum) wait for a quorum of distinct administrators; nothing happens before it is reached, and
    /// an administrator cannot approve its own request.
    func testIrreversibleActsWaitForAQuorumOfDistinctAdministrators() async throws {
        let client = try await makeClient()
        let key = try await client.generateDataKey(tenant: "acme", aad: [1], metadata: request())
        let requested = try await administer(client, .destroyKey(tenant: "acme"))
        let pending = try XCTUnwrap(requested.pending)
        XCTAssertNil(requested.executed)
        XCTAssertEqual(pending.required, 2)
        XCTAssertEqual(pending.approvals, [administrators[0].accessKeyId])
        // Nothing destroyed yet.
        let stillThere = try await client.decrypt(tenant: "acme", wrapped: key.wrapped, aad: [1], metadata: request())
        XCTAssertEqual(stillThere.exportBytes(), key.plaintext.exportBytes())
        // An approval names the act it read by its digest: shown another act (say by a gateway relaying the list),
        // the approver's approval does not count for this one.
        let other = Array(try JSONEncoder().encode(AuthorityRequest(jurisdiction: ma, action: .destroyKey(tenant: "test"))))
        do {
            _ = try await administer(client, .approve(request: pending.id, digest: AuthorityRequest.digest(other)),
                                     admin: 1)
            XCTFail("an approval of another act counted")
        } catch let error as KeyStoreError {
            guard case .notAuthority(_, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("digest differs"), reason)
        }
        do {
            _ = try await administer(client, .approve(request: pending.id,
                                                      digest: AuthorityRequest.digest(pending.request)), admin: 0)
            XCTFail("an administrator approved its own request")
        } catch let error as KeyStoreError {
            guard case .notAuthority(_, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("already approved"), reason)
        }
        let listed = try await administer(client, .listPending, admin: 2)
        XCTAssertEqual(listed.result, .pending([pending]))
        // Object lock binds the destruction: a gateway that did not check, or found the tenant's data locked, gets
        // the approval refused, and the request still waits.
        for metadata in [request(), lockChecked(locked: ["acme"])] {
            do {
                _ = try await administer(client, .approve(request: pending.id,
                                                          digest: AuthorityRequest.digest(pending.request)),
                                         admin: 1, metadata: metadata)
                XCTFail("a key was destroyed past object lock (\(String(describing: metadata.lockedTenants)))")
            } catch let error as KeyStoreError {
                guard case .invalidRequest(let reason) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(reason.contains("object lock"), reason)
            }
        }
        let approval = try await administer(client, .approve(request: pending.id, digest: AuthorityRequest.digest(pending.request)), admin: 1,
                                            metadata: lockChecked())
        XCTAssertEqual(approval.executed, .destroyKey(tenant: "acme"))
        await assertKeyStoreError(try await client.decrypt(tenant: "acme", wrapped: key.wrapped, aad: [1],
                                                          metadata: request()), .tenantKeyDestroyed(ma, tenant: "acme"))
        // A legal-process grant waits; a support-case grant does not.
        let legal = GrantRequest(recipients: [fr], tenant: "acme", bucket: "data", operations: [.getObject],
                                 purpose: .legalProcess, legalBasis: "court order 12", expiresInSeconds: 3600)
        let legalOutcome = try await administer(client, .issueGrant(legal))
        XCTAssertNotNil(legalOutcome.pending)
        XCTAssertNil(legalOutcome.executed)
        var support = legal
        support.purpose = .supportCase
        let supportOutcome = try await administer(client, .issueGrant(support))
        XCTAssertNotNil(supportOutcome.executed)
        // A new administrator comes with the quorum's consent; its credentials are sealed to the enrolment key it
        // made itself: the approver who completes the quorum holds nothing it can sign with.
        let enrolmentKey = SealedBox.KeyPair.generate()
        let publicKey = Base64.encode(enrolmentKey.publicKey)
        for invalid in ["bm90IGEga2V5", Base64.encode([UInt8](repeating: 0, count: 32))] {
            do {
                _ = try await administer(client, .createAdministrator(name: "auditor", enrolmentKey: invalid))
                XCTFail("an administrator was requested without a usable enrolment key")
            } catch let error as KeyStoreError {
                guard case .invalidRequest = error else { return XCTFail("\(error)") }
            }
        }
        guard case .enrolment(let sealed)? = try await approved(
            client, .createAdministrator(name: "auditor", enrolmentKey: publicKey)) else {
            return XCTFail("no enrolment")
        }
        XCTAssertEqual(sealed.fingerprint, SealedBox.fingerprint(enrolmentKey.publicKey))
        XCTAssertFalse(try JSONEncoder().encode(sealed).isEmpty)
        XCTAssertThrowsError(try sealed.open(with: SealedBox.KeyPair.generate()), "opened with another key")
        let created = try sealed.open(with: enrolmentKey)
        XCTAssertEqual(created.jurisdiction, ma)
        XCTAssertTrue(created.accessKeyId.hasPrefix("QA"))
        XCTAssertEqual(created.accessKeyId, sealed.accessKeyId)
        let listedAdministrators = try await administer(client, .listAdministrators)
        guard case .administrators(let all)? = listedAdministrators.result else { return XCTFail("no administrators") }
        XCTAssertTrue(all.contains { $0.id == created.accessKeyId && $0.name == "auditor" })
        // The quorum cannot exceed the administrators, and changing it needs the current quorum.
        do {
            _ = try await administer(client, .setQuorum(9))
            XCTFail("a quorum above the administrators' number was requested")
        } catch let error as KeyStoreError {
            guard case .invalidRequest = error else { return XCTFail("\(error)") }
        }
        let quorum = try await approved(client, .setQuorum(3))
        XCTAssertEqual(quorum, .quorum(3))
        let three = try await administer(client, .rotateKey(tenant: nil))
        let waiting = try XCTUnwrap(three.pending)
        XCTAssertEqual(waiting.required, 3)
        let second = try await administer(client, .approve(request: waiting.id, digest: AuthorityRequest.digest(waiting.request)), admin: 1)
        XCTAssertNil(second.executed, "two of three is not a quorum of three")
        let third = try await administer(client, .approve(request: waiting.id, digest: AuthorityRequest.digest(waiting.request)), admin: 2)
        XCTAssertEqual(third.executed, .rotateKey(tenant: nil))
    }

    /// The authority signs a checkpoint of a gateway's audit log only as a proven consistent extension of the last
    /// one it signed of that log: a log cut short, rewritten or forked never gets a new signature.
    func testCheckpointsAreSignedOnlyAsConsistentExtensionsOfTheLastOne() async throws {
        let client = try await makeClient()
        var tree = MerkleLevels()
        func grow(_ count: Int, _ label: String = "entry", into tree: inout MerkleLevels) {
            for _ in 0..<count { tree.append(leaf: Array("\(label) \(tree.size)".utf8)) }
        }
        func ask(_ oldSize: UInt64, _ tree: MerkleLevels, size: UInt64? = nil, proof: [[UInt8]]? = nil,
                 as requester: (any KeyStoreClient, RequestMetadata)? = nil) async throws -> String {
            let size = size ?? tree.size
            let (signer, metadata) = requester ?? (client, request())
            let path = proof ?? (oldSize <= size ? tree.consistencyProof(oldSize: oldSize, newSize: size) : [])
            return try await signer.signCheckpoint(
                CheckpointRequest(oldSize: oldSize, size: size, root: Base64.encode(tree.root(size: size)),
                                  proof: path.map { Base64.encode($0) }), metadata: metadata)
        }
        func assertRefused(_ call: @autoclosure () async throws -> String, _ reason: String,
                           line: UInt = #line) async {
            do {
                _ = try await call()
                XCTFail("signed", line: line)
            } catch let KeyStoreError.invalidRequest(message) {
                XCTAssertTrue(message.contains(reason), message, line: line)
            } catch { XCTFail("\(error)", line: line) }
        }

        let none = try await client.latestCheckpoint(metadata: request())
        XCTAssertNil(none)
        grow(5, into: &tree)
        let firstText = try await ask(0, tree)
        let first = try XCTUnwrap(SignedNote(firstText))
        let head = try XCTUnwrap(Checkpoint(body: first.text))
        XCTAssertEqual(head.origin, "qantara/MA/audit/MA/gateway-MA")
        XCTAssertEqual(head.size, 5)
        XCTAssertEqual(head.root, tree.root(size: 5))
        let keys = try await client.authorities().map { NoteKey(name: $0.kid, publicKey: Base64.decode($0.publicKey)!) }
        XCTAssertTrue(keys.contains { $0.verifies(first.signatures[0], of: first.text).valid })
        let latest = try await client.latestCheckpoint(metadata: request())
        XCTAssertEqual(latest, first.serialized)

        // Asking again for the same tree returns the checkpoint kept (nothing is written); an empty tree is refused.
        let again = try await ask(5, tree)
        XCTAssertEqual(again, first.serialized)
        await assertRefused(try await ask(0, MerkleLevels()), "an empty log has no checkpoint")

        grow(4, into: &tree)
        let secondText = try await ask(5, tree)
        let second = try XCTUnwrap(Checkpoint(body: try XCTUnwrap(SignedNote(secondText)).text))
        XCTAssertEqual(second.size, 9)

        // Cut: a shorter log than the one signed.
        await assertRefused(try await ask(9, tree, size: 7), "cut, rewritten or forked")
        // Rewritten: another history of 12 entries, with a proof valid for that history.
        var rewritten = MerkleLevels()
        grow(12, "forged", into: &rewritten)
        await assertRefused(try await ask(9, rewritten), "cut, rewritten or forked")
        // Forked: the same size, another root.
        await assertRefused(try await ask(9, rewritten, size: 9, proof: []), "cut, rewritten or forked")
        // A proof from a stale checkpoint, or a tampered proof, is refused.
        grow(3, into: &tree)
        await assertRefused(try await ask(5, tree), "prove consistency from it")
        var tampered = tree.consistencyProof(oldSize: 9, newSize: 12)
        tampered[0][0] ^= 1
        await assertRefused(try await ask(9, tree, proof: tampered), "cut, rewritten or forked")
        let afterRefusals = try await client.latestCheckpoint(metadata: request())
        XCTAssertEqual(afterRefusals.flatMap(SignedNote.init).flatMap { Checkpoint(body: $0.text) }?.size, 9)
        // The honest extension is still signed.
        let honest = try await ask(9, tree)
        XCTAssertEqual(SignedNote(honest).flatMap { Checkpoint(body: $0.text) }?.size, 12)

        // A gateway of FR keeps its own log of MA's events (the decisions it asked here): another origin, its own
        // history, which MA's log's does not constrain.
        let foreign = foreignRequester(client)
        var foreignTree = MerkleLevels()
        grow(2, "fr", into: &foreignTree)
        let foreignText = try await ask(0, foreignTree, as: foreign)
        let foreignNote = try XCTUnwrap(SignedNote(foreignText))
        XCTAssertEqual(Checkpoint(body: foreignNote.text)?.origin, "qantara/MA/audit/FR/gateway-FR")
        // MA's own gateways list every log of MA's events; a gateway of FR does not.
        let origins = try await client.checkpoints(metadata: request()).compactMap(SignedNote.init)
            .compactMap { Checkpoint(body: $0.text)?.origin }
        XCTAssertEqual(origins, ["qantara/MA/audit/FR/gateway-FR", "qantara/MA/audit/MA/gateway-MA"])
        do {
            _ = try await foreign.0.checkpoints(metadata: foreign.1)
            XCTFail("a gateway of FR listed MA's logs")
        } catch let error as KeyStoreError {
            guard case .wrongJurisdiction = error else { return XCTFail("\(error)") }
        }
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

