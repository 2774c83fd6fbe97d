import SigV4
import XCTest

final class URIEncodingTests: XCTestCase {
    func testEncodesEverythingButUnreserved() {
        XCTAssertEqual(URIEncoding.encode("a b+c/d~e_f.g-h", keepSlash: true), "a%20b%2Bc/d~e_f.g-h")
        XCTAssertEqual(URIEncoding.encode("a/b", keepSlash: false), "a%2Fb")
        XCTAssertEqual(URIEncoding.encode("✓", keepSlash: false), "%E2%9C%93")
    }

    func testDecodeKeepsPlusAndMalformedEscapes() {
        XCTAssertEqual(URIEncoding.decodeString("a+b%20c%2"), "a+b c%2")
        XCTAssertEqual(URIEncoding.decodeString("%zz"), "%zz")
    }

    func testCanonicalQuerySortsAndReencodes() {
        XCTAssertEqual(Canonical.query(rawQuery: "b=2&a=%7e&uploads&A=x y"), "A=x%20y&a=~&b=2&uploads=")
        XCTAssertEqual(Canonical.query(rawQuery: "X-Amz-Signature=abc&a=1", excluding: "X-Amz-Signature"), "a=1")
    }

    func testCanonicalURIKeepsDoubleSlashesAndDotSegments() {
        XCTAssertEqual(Canonical.uri(rawPath: "/bucket//a/../b"), "/bucket//a/../b")
        XCTAssertEqual(Canonical.uri(rawPath: "/b/test$file"), "/b/test%24file")
    }

    func testHeaderValueTrimmedAndCollapsed() {
        XCTAssertEqual(Canonical.headerValue("  a   b  c "), "a b c")
    }
}
