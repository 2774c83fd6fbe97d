@testable import S3API
import XCTest

final class S3RequestTests: XCTestCase {
    func parse(_ method: String, _ path: String, _ query: String = "", host: String = "127.0.0.1:9000",
               headers: [(name: String, value: String)] = []) throws -> S3Request {
        try S3Request(method: method, rawPath: path, rawQuery: query, host: host, headers: headers, domains: ["localhost"])
    }

    func testPathStyleKeepsEncodedSlashesAndDoubleSlashes() throws {
        let request = try parse("GET", "/bucket/a%2Fb//c/../d%20e")
        XCTAssertEqual(request.bucket, "bucket")
        XCTAssertEqual(request.key, "a/b//c/../d e")
        XCTAssertEqual(request.operation, .getObject)
    }

    func testVirtualHostedStyle() throws {
        let request = try parse("PUT", "/dir/key", host: "photos.localhost:9000")
        XCTAssertEqual(request.bucket, "photos")
        XCTAssertEqual(request.key, "dir/key")
        XCTAssertEqual(request.operation, .putObject)
        XCTAssertEqual(try parse("GET", "/", host: "photos.localhost").operation, .listObjectsV1)
    }

    func testOperationClassification() throws {
        XCTAssertEqual(try parse("GET", "/").operation, .listBuckets)
        XCTAssertEqual(try parse("PUT", "/b").operation, .createBucket)
        XCTAssertEqual(try parse("GET", "/b", "list-type=2&prefix=a").operation, .listObjectsV2)
        XCTAssertEqual(try parse("GET", "/b", "location").operation, .getBucketLocation)
        XCTAssertEqual(try parse("HEAD", "/b/").operation, .headBucket)
        XCTAssertEqual(try parse("DELETE", "/b/k").operation, .deleteObject)
        guard case .notImplemented = try parse("GET", "/b", "tagging").operation else { return XCTFail() }
        let copy = [(name: "x-amz-copy-source", value: "a/b")]
        XCTAssertEqual(try parse("PUT", "/b/k", headers: copy).operation, .copyObject)
        XCTAssertEqual(try parse("PUT", "/b/k", "partNumber=1&uploadId=x", headers: copy).operation, .uploadPartCopy)
        XCTAssertEqual(try parse("PUT", "/b/k", "partNumber=1&uploadId=x").operation, .uploadPart)
        XCTAssertEqual(try parse("POST", "/b/k", "uploads").operation, .createMultipartUpload)
        XCTAssertEqual(try parse("POST", "/b/k", "uploadId=x").operation, .completeMultipartUpload)
        XCTAssertEqual(try parse("DELETE", "/b/k", "uploadId=x").operation, .abortMultipartUpload)
        XCTAssertEqual(try parse("GET", "/b/k", "uploadId=x").operation, .listParts)
        XCTAssertEqual(try parse("GET", "/b", "uploads").operation, .listMultipartUploads)
        XCTAssertEqual(try parse("GET", "/b", "versions").operation, .listObjectVersions)
        XCTAssertEqual(try parse("POST", "/b", "delete").operation, .deleteObjects)
        XCTAssertEqual(try parse("GET", "/b/k", "partNumber=2").operation, .getObject)
        XCTAssertEqual(try parse("PATCH", "/b/k").operation, .methodNotAllowed)
    }

    func testRangeParsing() {
        XCTAssertEqual(ByteRange.parse("bytes=0-9", size: 100), .range(0...9))
        XCTAssertEqual(ByteRange.parse("bytes=90-", size: 100), .range(90...99))
        XCTAssertEqual(ByteRange.parse("bytes=-10", size: 100), .range(90...99))
        XCTAssertEqual(ByteRange.parse("bytes=-500", size: 100), .range(0...99))
        XCTAssertEqual(ByteRange.parse("bytes=50-500", size: 100), .range(50...99))
        XCTAssertEqual(ByteRange.parse("bytes=100-", size: 100), .unsatisfiable)
        XCTAssertEqual(ByteRange.parse("bytes=0-0", size: 0), .unsatisfiable)
        XCTAssertEqual(ByteRange.parse("bytes=5-2", size: 100), .whole)
        XCTAssertEqual(ByteRange.parse("bytes=0-1,5-6", size: 100), .whole)
        XCTAssertEqual(ByteRange.parse("items=0-1", size: 100), .whole)
    }

    func testStoredContentEncodingDropsOnlyAwsChunked() {
        XCTAssertNil(ObjectHeaders.storedContentEncoding("aws-chunked"))
        XCTAssertEqual(ObjectHeaders.storedContentEncoding("aws-chunked,gzip"), "gzip")
        XCTAssertEqual(ObjectHeaders.storedContentEncoding("gzip, aws-chunked"), "gzip")
        XCTAssertEqual(ObjectHeaders.storedContentEncoding("aws-chunked, gzip,  br"), "gzip,  br")
        XCTAssertEqual(ObjectHeaders.storedContentEncoding("gzip,  br"), "gzip,  br")
        XCTAssertEqual(ObjectHeaders.storedContentEncoding("x-custom;q=1"), "x-custom;q=1")
    }

    func testCopySourceRange() throws {
        XCTAssertEqual(try CopyHandler.copySourceRange("bytes=0-9", size: 10), 0...9)
        XCTAssertEqual(try CopyHandler.copySourceRange("bytes=3-3", size: 10), 3...3)
        for (header, code) in [("bytes=0-10", "InvalidRange"), ("bytes=10-12", "InvalidRange"),
                               ("bytes=-5", "InvalidArgument"), ("bytes=5-", "InvalidArgument"),
                               ("bytes=5-4", "InvalidArgument"), ("0-4", "InvalidArgument")] {
            XCTAssertThrowsError(try CopyHandler.copySourceRange(header, size: 10)) {
                XCTAssertEqual(($0 as? S3Error)?.code, code, header)
                XCTAssertEqual(($0 as? S3Error)?.status.code, 400, header)
            }
        }
    }

    func testXMLParserAndWriter() throws {
        let document = """
        <?xml version="1.0" encoding="UTF-8"?>
        <CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><!-- c -->
          <LocationConstraint>F&amp;R<![CDATA[<x>]]>&#65;</LocationConstraint>
        </CreateBucketConfiguration>
        """
        let root = try XMLDocumentParser.parse(Array(document.utf8))
        XCTAssertEqual(root.name, "CreateBucketConfiguration")
        XCTAssertEqual(root.child("LocationConstraint")?.text, "F&R<x>A")
        for bad in ["<a>", "<a></b>", "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "<a>&unknown;</a>", "<a/><b/>"] {
            XCTAssertThrowsError(try XMLDocumentParser.parse(Array(bad.utf8)), bad)
        }
        XCTAssertEqual(XMLWriter.escape("a<&>\u{1}\"'"), "a&lt;&amp;&gt;&#x1;&quot;&apos;")
    }

    func testErrorMappingCarriesCodeAndStatus() {
        let error = S3Error(ObjectServiceErrorSample.noSuchBucket)
        XCTAssertEqual(error.code, "NoSuchBucket")
        XCTAssertEqual(error.status.code, 404)
    }
}

import ObjectService
enum ObjectServiceErrorSample {
    static let noSuchBucket = ObjectServiceError.noSuchBucket("b")
}
