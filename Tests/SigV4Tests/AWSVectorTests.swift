import ObjectModel
import SigV4
import XCTest

/// AWS's published SigV4 examples: the generic test suite (service `service`) and the S3 documentation examples.
final class AWSVectorTests: XCTestCase {
    let suiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    let s3Secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// Signature of a suite request signed with host and x-amz-date.
    func suiteSignature(method: String, path: String, query: String) -> String {
        let request = SignableRequest(method: method, rawPath: path, rawQuery: query, headers: [
            (name: "host", value: "example.amazonaws.com"), (name: "x-amz-date", value: "20150830T123600Z"),
        ])
        let canonical = Canonical.request(request, signedHeaders: ["host", "x-amz-date"], payloadHash: emptyHash)
        let key = Canonical.signingKey(secret: suiteSecret, date: "20150830", region: "us-east-1", service: "service")
        return Canonical.signature(signingKey: key, stringToSign: Canonical.stringToSign(
            amzDate: "20150830T123600Z", scope: "20150830/us-east-1/service/aws4_request", canonicalRequest: canonical))
    }

    func testSigningKeyCacheDerivesTheSameKeysPerSecretAndScope() {
        let cache = SigningKeyCache(capacity: 2)
        let expected = Canonical.signingKey(secret: suiteSecret, date: "20150830", region: "us-east-1", service: "service")
        for _ in 0..<2 {
            XCTAssertEqual(cache.key(secret: suiteSecret, date: "20150830", region: "us-east-1", service: "service"),
                           expected)
        }
        XCTAssertNotEqual(cache.key(secret: "other", date: "20150830", region: "us-east-1", service: "service"), expected)
        XCTAssertNotEqual(cache.key(secret: suiteSecret, date: "20150831", region: "us-east-1", service: "service"),
                          expected)
        // Past its capacity the cache starts over and still answers right.
        XCTAssertEqual(cache.key(secret: suiteSecret, date: "20150830", region: "us-east-1", service: "service"), expected)
    }

    /// get-vanilla, get-vanilla-query-order-key-case, post-vanilla, get-utf8.
    func testSuiteVectors() {
        let vectors = [
            ("GET", "/", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            ("GET", "/", "Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
            ("POST", "/", "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
            ("GET", "/%E1%88%B4", "", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
        ]
        for (method, path, query, expected) in vectors {
            XCTAssertEqual(suiteSignature(method: method, path: path, query: query), expected, "\(method) \(path)?\(query)")
        }
    }

    func s3Request(method: String, path: String, query: String = "", extra: [(String, String)] = [],
                   payload: String, signed: [String], signature: String) -> SignableRequest {
        var headers: [(name: String, value: String)] = [
            (name: "host", value: "examplebucket.s3.amazonaws.com"),
            (name: "x-amz-date", value: "20130524T000000Z"),
            (name: "x-amz-content-sha256", value: payload),
        ]
        headers += extra.map { (name: $0.0, value: $0.1) }
        headers.append((name: "authorization", value: "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/"
            + "us-east-1/s3/aws4_request,SignedHeaders=\(signed.joined(separator: ";")),Signature=\(signature)"))
        return SignableRequest(method: method, rawPath: path, rawQuery: query, headers: headers)
    }

    let may24: Int64 = 1_369_353_600

    func verify(_ request: SignableRequest, now: Int64? = nil) throws -> VerifiedRequest {
        let parsed = try SigV4Verifier.parse(request)
        return try SigV4Verifier.verify(parsed, request: request, secret: s3Secret, nowSeconds: now ?? may24)
    }

    func testS3GetObjectExample() throws {
        let request = s3Request(method: "GET", path: "/test.txt", extra: [("range", "bytes=0-9")], payload: emptyHash,
                                signed: ["host", "range", "x-amz-content-sha256", "x-amz-date"],
                                signature: "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        let verified = try verify(request)
        XCTAssertEqual(verified.accessKeyID, "AKIAIOSFODNN7EXAMPLE")
        XCTAssertEqual(verified.payload, .sha256(Hex.decode(emptyHash)!))
    }

    func testS3PutObjectExampleWithDollarInKeyAndDateHeader() throws {
        let request = s3Request(
            method: "PUT", path: "/test$file.text",
            extra: [("date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
            payload: "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
            signed: ["date", "host", "x-amz-content-sha256", "x-amz-date", "x-amz-storage-class"],
            signature: "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
        XCTAssertNoThrow(try verify(request))
    }

    func testS3GetBucketLifecycleExample() throws {
        let request = s3Request(method: "GET", path: "/", query: "lifecycle", payload: emptyHash,
                                signed: ["host", "x-amz-content-sha256", "x-amz-date"],
                                signature: "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
        XCTAssertNoThrow(try verify(request))
    }

    func testS3ListObjectsExample() throws {
        let request = s3Request(method: "GET", path: "/", query: "max-keys=2&prefix=J", payload: emptyHash,
                                signed: ["host", "x-amz-content-sha256", "x-amz-date"],
                                signature: "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
        XCTAssertNoThrow(try verify(request))
    }

    func testWrongSignatureAndTamperedRequestAreRefused() {
        let good = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        let wrong = s3Request(method: "GET", path: "/test.txt", extra: [("range", "bytes=0-9")], payload: emptyHash,
                              signed: ["host", "range", "x-amz-content-sha256", "x-amz-date"],
                              signature: String(good.reversed()))
        XCTAssertThrowsError(try verify(wrong)) { XCTAssertEqual($0 as? SigV4Error, .signatureMismatch) }
        let tampered = s3Request(method: "GET", path: "/test.txt", extra: [("range", "bytes=0-99")], payload: emptyHash,
                                 signed: ["host", "range", "x-amz-content-sha256", "x-amz-date"], signature: good)
        XCTAssertThrowsError(try verify(tampered)) { XCTAssertEqual($0 as? SigV4Error, .signatureMismatch) }
    }

    func testClockSkewOverFifteenMinutesIsRefused() {
        let request = s3Request(method: "GET", path: "/test.txt", extra: [("range", "bytes=0-9")], payload: emptyHash,
                                signed: ["host", "range", "x-amz-content-sha256", "x-amz-date"],
                                signature: "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        XCTAssertNoThrow(try verify(request, now: may24 + 899))
        XCTAssertThrowsError(try verify(request, now: may24 + 901)) {
            XCTAssertEqual($0 as? SigV4Error, .requestTimeTooSkewed)
        }
        XCTAssertThrowsError(try verify(request, now: may24 - 901)) {
            XCTAssertEqual($0 as? SigV4Error, .requestTimeTooSkewed)
        }
    }

    func testS3PresignedGetExample() throws {
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3"
            + "%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            + "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        let request = SignableRequest(method: "GET", rawPath: "/test.txt", rawQuery: query,
                                      headers: [(name: "host", value: "examplebucket.s3.amazonaws.com")])
        XCTAssertEqual(try verify(request, now: may24 + 3600).payload, .unsigned)
        XCTAssertThrowsError(try verify(request, now: may24 + 86401)) { XCTAssertEqual($0 as? SigV4Error, .expired) }
    }

    func testSignerOutputVerifies() throws {
        let signer = SigV4Signer(accessKeyID: "AKID", secret: "secret", region: "ma-central-1")
        let base = SignableRequest(method: "PUT", rawPath: "/bucket/a%20b/%E2%9C%93", rawQuery: "x-id=PutObject",
                                   headers: [(name: "host", value: "127.0.0.1:9000"), (name: "content-type", value: "text/plain")])
        var request = base
        for (name, value) in signer.sign(base, payloadHash: "UNSIGNED-PAYLOAD", nowSeconds: may24) {
            request.headers.append((name: name, value: value))
        }
        let parsed = try SigV4Verifier.parse(request)
        XCTAssertEqual(try SigV4Verifier.verify(parsed, request: request, secret: "secret", nowSeconds: may24).payload,
                       .unsigned)
        XCTAssertThrowsError(try SigV4Verifier.verify(parsed, request: request, secret: "other", nowSeconds: may24))

        let query = signer.presignQuery(method: "GET", host: "127.0.0.1:9000", rawPath: "/bucket/key",
                                        expiresSeconds: 60, nowSeconds: may24)
        let presigned = SignableRequest(method: "GET", rawPath: "/bucket/key", rawQuery: query,
                                        headers: [(name: "host", value: "127.0.0.1:9000")])
        XCTAssertNoThrow(try SigV4Verifier.verify(try SigV4Verifier.parse(presigned), request: presigned,
                                                  secret: "secret", nowSeconds: may24 + 30))
    }

    func testRepeatedHeadersAreSignedOnceAndJoinedInOrder() throws {
        let signer = SigV4Signer(accessKeyID: "AKID", secret: "secret")
        let base = SignableRequest(method: "PUT", rawPath: "/bucket/key", rawQuery: "", headers: [
            (name: "x-amz-meta-b", value: "2"), (name: "Host", value: "h"), (name: "x-amz-meta-a", value: "first"),
            (name: "X-Amz-Meta-A", value: "second"),
        ])
        XCTAssertEqual(base.header("x-amz-meta-a"), "first,second")
        XCTAssertEqual(base.header("host"), "h")
        XCTAssertNil(base.header("x-amz-meta-c"))
        var request = base
        let added = signer.sign(base, payloadHash: "UNSIGNED-PAYLOAD", nowSeconds: may24)
        for (name, value) in added { request.headers.append((name: name, value: value)) }
        let authorization = try XCTUnwrap(added.first { $0.0 == "authorization" }?.1)
        XCTAssertTrue(authorization.contains(
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-meta-a;x-amz-meta-b,"), authorization)
        let parsed = try SigV4Verifier.parse(request)
        XCTAssertNoThrow(try SigV4Verifier.verify(parsed, request: request, secret: "secret", nowSeconds: may24))
        var reordered = request
        reordered.headers.swapAt(2, 3)  // the two x-amz-meta-a values: their order is signed
        XCTAssertThrowsError(try SigV4Verifier.verify(parsed, request: reordered, secret: "secret", nowSeconds: may24))
    }

    func testMalformedAuthorizationIsReported() {
        let request = SignableRequest(method: "GET", rawPath: "/", rawQuery: "", headers: [
            (name: "host", value: "h"), (name: "authorization", value: "AWS4-HMAC-SHA256 Credential=x"),
        ])
        XCTAssertThrowsError(try SigV4Verifier.parse(request)) {
            guard case .malformedAuthorization = $0 as? SigV4Error else { return XCTFail("\($0)") }
        }
        let anonymous = SignableRequest(method: "GET", rawPath: "/", rawQuery: "", headers: [(name: "host", value: "h")])
        XCTAssertThrowsError(try SigV4Verifier.parse(anonymous)) {
            XCTAssertEqual($0 as? SigV4Error, .missingAuthentication)
        }
    }
}
