import ObjectModel
import XCTest

final class ObjectModelTests: XCTestCase {
    func testJurisdictionCodes() {
        XCTAssertEqual(Jurisdiction("ma")?.code, "MA")
        XCTAssertNil(Jurisdiction("MAR"))
        XCTAssertNil(Jurisdiction("M1"))
        XCTAssertNil(Jurisdiction(""))
    }

    func testBucketNameRules() {
        for valid in ["abc", "my-bucket.2", String(repeating: "a", count: 63), "1bucket"] {
            XCTAssertNil(BucketName.problem(valid), valid)
        }
        for invalid in ["ab", String(repeating: "a", count: 64), "Upper", "a_b", "-ab", "ab-", "a..b", "a.-b",
                        "192.168.1.1", "xn--abc", "abc-s3alias", "_qantara", "a b"] {
            XCTAssertNotNil(BucketName.problem(invalid), invalid)
        }
    }

    func testObjectKeyLimits() {
        XCTAssertNil(ObjectKey.problem("../x"))
        XCTAssertNil(ObjectKey.problem("a\u{1}b"))
        XCTAssertNil(ObjectKey.problem(String(repeating: "k", count: 1024)))
        XCTAssertNotNil(ObjectKey.problem(String(repeating: "k", count: 1025)))
        XCTAssertNotNil(ObjectKey.problem(""))
    }

    func testTimestamps() {
        XCTAssertEqual(Timestamps.parseAmzDate("20130524T000000Z"), 1_369_353_600)
        XCTAssertEqual(Timestamps.amzDate(1_369_353_600), "20130524T000000Z")
        XCTAssertEqual(Timestamps.httpDate(1_369_353_600), "Fri, 24 May 2013 00:00:00 GMT")
        XCTAssertEqual(Timestamps.parseHTTPDate("Fri, 24 May 2013 00:00:00 GMT"), 1_369_353_600)
        XCTAssertEqual(Timestamps.iso8601(millis: 1_369_353_600_123), "2013-05-24T00:00:00.123Z")
        XCTAssertEqual(Timestamps.parseISO8601("2013-05-24T00:00:00.123Z"), 1_369_353_600)
        XCTAssertNil(Timestamps.parseAmzDate("20131324T000000Z"))
        for seconds in stride(from: Int64(-86400 * 400), to: 86400 * 365 * 80, by: 86400 * 37 + 3671) {
            XCTAssertEqual(Timestamps.parseAmzDate(Timestamps.amzDate(seconds)), seconds)
        }
    }

    func testBinaryCodingRoundTripAndTruncation() throws {
        var writer = BinaryWriter()
        writer.write(UInt8(7))
        writer.write(UInt32(0xDEAD_BEEF))
        writer.write(Int64(-5))
        writer.writeString("héllo")
        writer.writeOptional(nil)
        writer.writeOptional("x")
        var reader = BinaryReader(writer.bytes)
        XCTAssertEqual(try reader.readUInt8(), 7)
        XCTAssertEqual(try reader.readUInt32(), 0xDEAD_BEEF)
        XCTAssertEqual(try reader.readInt64(), -5)
        XCTAssertEqual(try reader.readString(), "héllo")
        XCTAssertNil(try reader.readOptional())
        XCTAssertEqual(try reader.readOptional(), "x")
        XCTAssertTrue(reader.isAtEnd)
        var short = BinaryReader(Array(writer.bytes.prefix(8)))
        _ = try short.readUInt8()
        _ = try short.readUInt32()
        XCTAssertThrowsError(try short.readInt64())
    }

    func testObjectTagRules() {
        XCTAssertNil(ObjectTags.problem([]))
        XCTAssertNil(ObjectTags.problem([("project", "blue"), ("Ünïcode key", "v+-=._:/@ 1"), ("empty", "")]))
        XCTAssertNil(ObjectTags.problem((1...10).map { ("k\($0)", "v") }))
        XCTAssertNotNil(ObjectTags.problem((1...11).map { ("k\($0)", "v") }))
        XCTAssertNotNil(ObjectTags.problem([("", "v")]))
        XCTAssertNotNil(ObjectTags.problem([(String(repeating: "k", count: 129), "v")]))
        XCTAssertNil(ObjectTags.problem([(String(repeating: "k", count: 128), String(repeating: "v", count: 256))]))
        XCTAssertNotNil(ObjectTags.problem([("k", String(repeating: "v", count: 257))]))
        XCTAssertNotNil(ObjectTags.problem([("aws:created", "v")]))
        XCTAssertNotNil(ObjectTags.problem([("a", "1"), ("a", "2")]))
        XCTAssertNotNil(ObjectTags.problem([("semi;colon", "v")]))
        XCTAssertNotNil(ObjectTags.problem([("k", "new\nline")]))
        // Keys are bytes: the Kelvin sign and K are two keys, not duplicates.
        XCTAssertNil(ObjectTags.problem([("K", "1"), ("\u{212A}", "2")]))
    }

    func testMetadataTagsAreAnOptionalSectionOfTheSealedEncoding() throws {
        var metadata = ObjectMetadata()
        metadata.contentType = "text/plain"
        metadata.user = [("a", "1")]
        let untagged = metadata.encoded()
        metadata.tags = [("project", "blue"), ("owner", "")]
        let tagged = metadata.encoded()
        // Without tags the bytes are those written before tags existed; with them, a section follows.
        XCTAssertEqual(Array(tagged.prefix(untagged.count)), untagged)
        XCTAssertEqual(tagged[untagged.count], 1)
        let decoded = try ObjectMetadata(decoding: tagged)
        XCTAssertEqual(decoded, metadata)
        XCTAssertEqual(decoded.tags.map(\.0), ["project", "owner"])
        XCTAssertTrue(try ObjectMetadata(decoding: untagged).tags.isEmpty)
        XCTAssertThrowsError(try ObjectMetadata(decoding: untagged + [2, 0, 0, 0, 0]))
        XCTAssertThrowsError(try ObjectMetadata(decoding: Array(tagged.dropLast())))
    }

    func testHex() {
        XCTAssertEqual(Hex.encode([0x00, 0xAB, 0xFF]), "00abff")
        XCTAssertEqual(Hex.decode("00ABff"), [0x00, 0xAB, 0xFF])
        XCTAssertNil(Hex.decode("abc"))
        XCTAssertNil(Hex.decode("zz"))
    }
}
