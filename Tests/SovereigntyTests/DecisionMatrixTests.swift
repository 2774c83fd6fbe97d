import Hashing
import ObjectModel
@testable import Sovereignty
import XCTest

/// The rule, exhaustively: every operation × gateway jurisdiction × bucket jurisdiction × grant shape.
final class DecisionMatrixTests: XCTestCase {
    let ma = Jurisdiction("MA")!, fr = Jurisdiction("FR")!, us = Jurisdiction("US")!
    let now: Int64 = 1_800_000_000
    let authority = Ed25519.KeyPair.generate()
    let forger = Ed25519.KeyPair.generate()

    /// A grant shape and the refusal it must produce for a request it would otherwise cover (nil: it covers it).
    struct Shape {
        let name: String
        let expected: RefusalReason?
        let make: (inout Grant) -> Void
        var forged = false
        var revoked = false
        var used = GrantUsage()
    }

    var shapes: [Shape] {
        [
            Shape(name: "valid", expected: nil) { _ in },
            // Another tenant's grant is irrelevant: the refusal does not even tell that it exists.
            Shape(name: "other tenant", expected: .noGrant) { $0.tenant = "other" },
            Shape(name: "other bucket", expected: .wrongBucket) { $0.bucket = "other-bucket" },
            Shape(name: "forged", expected: .badSignature, make: { _ in }, forged: true),
            Shape(name: "revoked", expected: .revoked, make: { _ in }, revoked: true),
            Shape(name: "for US only", expected: .wrongRecipient) { $0.recipients = [Jurisdiction("US")!] },
            Shape(name: "HEAD only", expected: .wrongOperation) { $0.operations = [.headObject] },
            Shape(name: "other prefix", expected: .outsideKeyOrPrefix) { $0.prefix = "private/" },
            Shape(name: "not yet valid", expected: .notYetValid) { $0.notBefore = 1_800_000_100; $0.expires = 1_800_003_600 },
            Shape(name: "expired", expected: .expired) { $0.notBefore = 1_799_990_000; $0.expires = 1_800_000_000 },
            Shape(name: "used up", expected: .limitExceeded, make: { $0.maxRequests = 3 },
                  used: GrantUsage(bytes: 10, requests: 3)),
        ]
    }

    /// A grant by MA for FR on prefix `public/` of acme's bucket `data`, every read operation but CopySource.
    func baseGrant() -> Grant {
        Grant(id: "g-1", issuer: ma, recipients: [fr], tenant: "acme", bucket: "data", prefix: "public/",
              operations: ReadOperation.allCases.filter { $0 != .copySource } + [.copySource],
              purpose: .supportCase, legalBasis: "case 42", notBefore: now - 60, expires: now + 3600,
              issuedAt: now - 60)
    }

    func request(_ kind: SovereigntyRequest.Kind, gateway: Jurisdiction, key: String = "public/report.csv")
        -> SovereigntyRequest
    {
        switch kind {
        case .read(.listObjects), .read(.listMultipartUploads):
            return SovereigntyRequest(kind: kind, tenant: "acme", bucket: "data", prefix: "public/", gateway: gateway)
        default:
            return SovereigntyRequest(kind: kind, tenant: "acme", bucket: "data", key: key, gateway: gateway)
        }
    }

    func testEveryOperationJurisdictionAndGrantShape() throws {
        let authorities: Sovereignty.Authorities = ["MA-authority-v1": (ma, authority.publicKey),
                                                    "FR-authority-v1": (fr, forger.publicKey)]
        let kinds: [SovereigntyRequest.Kind] = ReadOperation.allCases.map { .read($0) } + [.write]
        var checked = 0
        for shape in shapes + [Shape(name: "none", expected: .noGrant) { _ in }] {
            var grant = baseGrant()
            shape.make(&grant)
            let signed = shape.forged ? try SignedGrant.sign(grant, kid: "MA-authority-v1", with: forger)
                                      : try SignedGrant.sign(grant, kid: "MA-authority-v1", with: authority)
            let grants = shape.name == "none" ? [] : [signed]
            for kind in kinds {
                for gateway in [ma, fr, us] {
                    for bucketJurisdiction in [ma, fr, us] {
                        let decision = Sovereignty.decide(
                            request(kind, gateway: gateway), bucketJurisdiction: bucketJurisdiction, grants: grants,
                            authorities: authorities, revoked: shape.revoked ? ["g-1"] : [],
                            usage: ["g-1": shape.used], nowSeconds: now)
                        let context = "\(shape.name), \(kind), gateway \(gateway), bucket in \(bucketJurisdiction)"
                        checked += 1
                        if gateway == bucketJurisdiction {
                            XCTAssertEqual(decision, .sameJurisdiction, context)
                        } else if kind == .write {
                            XCTAssertEqual(decision, .writeInto, context)
                        } else if bucketJurisdiction != ma {
                            // Only MA issued grants: nothing covers FR's or US's buckets.
                            XCTAssertEqual(decision, .refused(.noGrant, grantID: nil), context)
                        } else if gateway == us {
                            // The grant is for FR (the "for US only" shape aside).
                            if shape.name == "for US only" {
                                XCTAssertEqual(decision, .granted(grantID: "g-1"), context)
                            } else if let expected = shape.expected,
                                      RefusalReason.allCases.firstIndex(of: expected)! < RefusalReason.allCases.firstIndex(of: .wrongRecipient)! {
                                XCTAssertEqual(decision, .refused(expected, grantID: ["none", "other tenant"].contains(shape.name) ? nil : "g-1"), context)
                            } else {
                                XCTAssertEqual(decision, .refused(.wrongRecipient, grantID: "g-1"), context)
                            }
                        } else if shape.name == "HEAD only", kind == .read(.headObject) {
                            XCTAssertEqual(decision, .granted(grantID: "g-1"), context)
                        } else if let expected = shape.expected {
                            XCTAssertEqual(decision, .refused(expected, grantID: ["none", "other tenant"].contains(shape.name) ? nil : "g-1"), context)
                        } else {
                            XCTAssertEqual(decision, .granted(grantID: "g-1"), context)
                        }
                    }
                }
            }
        }
        XCTAssertEqual(checked, 12 * 8 * 9)
    }

    func testKeysAndListingsOutsideThePrefixAreRefused() throws {
        let signed = try SignedGrant.sign(baseGrant(), kid: "MA-authority-v1", with: authority)
        let authorities: Sovereignty.Authorities = ["MA-authority-v1": (ma, authority.publicKey)]
        func decide(_ request: SovereigntyRequest) -> SovereigntyDecision {
            Sovereignty.decide(request, bucketJurisdiction: ma, grants: [signed], authorities: authorities, revoked: [],
                               usage: [:], nowSeconds: now)
        }
        XCTAssertEqual(decide(request(.read(.getObject), gateway: fr, key: "private/x")),
                       .refused(.outsideKeyOrPrefix, grantID: "g-1"))
        // A listing of the whole bucket would reveal keys outside `public/`.
        XCTAssertEqual(decide(SovereigntyRequest(kind: .read(.listObjects), tenant: "acme", bucket: "data", gateway: fr)),
                       .refused(.outsideKeyOrPrefix, grantID: "g-1"))
        XCTAssertEqual(decide(SovereigntyRequest(kind: .read(.listObjects), tenant: "acme", bucket: "data",
                                                 prefix: "public/2026/", gateway: fr)), .granted(grantID: "g-1"))
        // A grant for one key covers that key only.
        var single = baseGrant()
        single.prefix = ""
        single.key = "public/report.csv"
        let signedSingle = try SignedGrant.sign(single, kid: "MA-authority-v1", with: authority)
        let decision = Sovereignty.decide(request(.read(.getObject), gateway: fr, key: "public/report.csv2"),
                                          bucketJurisdiction: ma, grants: [signedSingle], authorities: authorities,
                                          revoked: [], usage: [:], nowSeconds: now)
        XCTAssertEqual(decision, .refused(.outsideKeyOrPrefix, grantID: "g-1"))
    }

    /// The key store's release rule: a key issued to a jurisdiction goes back to it for its upload's operations
    /// only; everything else across a border needs a grant covering that object's key for an operation that opens
    /// it, over every requester × issued-to × operation × key.
    func testKeyReleaseOfOneObjectsKey() throws {
        let signed = try SignedGrant.sign(baseGrant(), kid: "MA-authority-v1", with: authority)
        let authorities: Sovereignty.Authorities = ["MA-authority-v1": (ma, authority.publicKey)]
        let operations = ["UploadPart", "CompleteMultipartUpload", "GetObject", "HeadObject", "PutObject", "ListParts",
                          "ListObjects", "CopySource"]
        for requester in [ma, fr, us] {
            for issuedTo in [nil, fr, us] as [Jurisdiction?] {
                for operation in operations {
                    for grantID in [nil, "g-1"] as [String?] {
                        for key in ["public/report.csv", "private/report.csv"] {
                            let decision = Sovereignty.decideKeyRelease(
                                grantID: grantID, tenant: "acme", bucket: "data", key: key, operation: operation,
                                requester: requester, issuer: ma, issuedTo: issuedTo, grants: [signed],
                                authorities: authorities, revoked: [], usage: [:], nowSeconds: now)
                            let context = "\(requester) issuedTo \(issuedTo?.code ?? "-") \(operation) \(grantID ?? "-") \(key)"
                            let opens = ReadOperation(rawValue: operation)?.releasesKey == true
                            if requester == ma {
                                XCTAssertEqual(decision, .sameJurisdiction, context)
                            } else if issuedTo == requester, ["UploadPart", "CompleteMultipartUpload"].contains(operation) {
                                XCTAssertEqual(decision, .writeInto, context)
                            } else if grantID == nil {
                                XCTAssertEqual(decision, .refused(.noGrant, grantID: nil), context)
                            } else if requester == fr, opens, key.hasPrefix("public/") {
                                XCTAssertEqual(decision, .granted(grantID: "g-1"), context)
                            } else if requester == fr, opens {
                                XCTAssertEqual(decision, .refused(.outsideKeyOrPrefix, grantID: "g-1"), context)
                            } else {
                                XCTAssertFalse(decision.isAllowed, context)
                            }
                        }
                    }
                }
            }
        }
        // A grant's request limit holds at release too.
        var limited = baseGrant()
        limited.maxRequests = 2
        let signedLimited = try SignedGrant.sign(limited, kid: "MA-authority-v1", with: authority)
        let used = Sovereignty.decideKeyRelease(
            grantID: "g-1", tenant: "acme", bucket: "data", key: "public/a", operation: "GetObject", requester: fr,
            issuer: ma, grants: [signedLimited], authorities: authorities, revoked: [],
            usage: ["g-1": GrantUsage(requests: 2)], nowSeconds: now)
        XCTAssertEqual(used, .refused(.limitExceeded, grantID: "g-1"))
    }

    /// Keys, prefixes, tenants and buckets compare as bytes: canonically equivalent strings (`K`, U+004B, and the
    /// Kelvin sign, U+212A, which Swift's `String ==` calls equal) are different keys, and a grant for one does not
    /// cover the other.
    func testGrantScopeComparesBytesNotUnicodeEquivalence() throws {
        let kelvin = "\u{212A}.txt", latin = "K.txt"
        XCTAssertEqual(kelvin, latin, "Swift's String == treats them as equal: the reason to compare bytes")
        var single = baseGrant()
        single.prefix = ""
        single.key = latin
        let authorities: Sovereignty.Authorities = ["MA-authority-v1": (ma, authority.publicKey)]
        let signedSingle = try SignedGrant.sign(single, kid: "MA-authority-v1", with: authority)
        func decide(_ key: String, _ grant: SignedGrant) -> SovereigntyDecision {
            Sovereignty.decide(SovereigntyRequest(kind: .read(.getObject), tenant: "acme", bucket: "data", key: key,
                                                  gateway: fr),
                               bucketJurisdiction: ma, grants: [grant], authorities: authorities, revoked: [],
                               usage: [:], nowSeconds: now)
        }
        XCTAssertEqual(decide(latin, signedSingle), .granted(grantID: "g-1"))
        XCTAssertEqual(decide(kelvin, signedSingle), .refused(.outsideKeyOrPrefix, grantID: "g-1"))
        var prefixed = baseGrant()
        prefixed.prefix = "K"
        let signedPrefix = try SignedGrant.sign(prefixed, kid: "MA-authority-v1", with: authority)
        XCTAssertEqual(decide("Kdir/a", signedPrefix), .granted(grantID: "g-1"))
        XCTAssertEqual(decide("\u{212A}dir/a", signedPrefix), .refused(.outsideKeyOrPrefix, grantID: "g-1"))
        XCTAssertEqual(Sovereignty.decideKeyRelease(
            grantID: "g-1", tenant: "acme", bucket: "data", key: kelvin, operation: "GetObject", requester: fr,
            issuer: ma, grants: [signedSingle], authorities: authorities, revoked: [], usage: [:], nowSeconds: now),
            .refused(.outsideKeyOrPrefix, grantID: "g-1"))
    }

    func testSignedGrantRoundTripsAndRejectsTampering() throws {
        let signed = try SignedGrant.sign(baseGrant(), kid: "MA-authority-v1", with: authority)
        let authorities: Sovereignty.Authorities = ["MA-authority-v1": (ma, authority.publicKey)]
        XCTAssertEqual(try signed.verify(authorities: authorities), baseGrant())
        var parts = signed.compact.split(separator: ".").map(String.init)
        var payload = try XCTUnwrap(Base64URL.decode(parts[1]))
        payload[payload.count / 2] ^= 1
        parts[1] = Base64URL.encode(payload)
        XCTAssertThrowsError(try SignedGrant(compact: parts.joined(separator: ".")).verify(authorities: authorities))
        XCTAssertThrowsError(try signed.verify(authorities: [:])) { error in
            XCTAssertEqual(error as? SignedGrant.Invalid, .unknownKey("MA-authority-v1"))
        }
        // FR's authority cannot issue MA's grants.
        let frAuthority: Sovereignty.Authorities = ["MA-authority-v1": (fr, authority.publicKey)]
        XCTAssertThrowsError(try signed.verify(authorities: frAuthority))
        XCTAssertThrowsError(try SignedGrant(compact: "a.b").verify(authorities: authorities))
    }

    func testGrantProblems() {
        var grant = baseGrant()
        XCTAssertEqual(grant.problems(maximumLifetimeSeconds: 86_400), [])
        grant.expires = grant.notBefore + 90 * 86_400
        grant.recipients = [ma]
        grant.legalBasis = " "
        XCTAssertEqual(grant.problems(maximumLifetimeSeconds: 86_400).count, 3)
    }
}
