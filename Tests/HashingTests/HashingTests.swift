import Foundation
import Hashing
import XCTest

final class HashingTests: XCTestCase {
    let check = Array("123456789".utf8)

    func testKnownDigests() {
        XCTAssertEqual(hex(StreamingDigest.hash(.md5, Array("".utf8))), "d41d8cd98f00b204e9800998ecf8427e")
        XCTAssertEqual(hex(StreamingDigest.hash(.sha256, Array("abc".utf8))),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hex(StreamingDigest.hash(.sha1, Array("abc".utf8))), "a9993e364706816aba3e25717850c26c9cd0d89d")
    }

    func testStreamingEqualsOneShot() {
        let data = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let digest = StreamingDigest(.sha256)
        for chunk in stride(from: 0, to: data.count, by: 333) {
            digest.update(Array(data[chunk..<min(data.count, chunk + 333)]))
        }
        XCTAssertEqual(digest.finalize(), StreamingDigest.hash(.sha256, data))
    }

    func testCRCCheckValues() {
        var crc32 = CRC32()
        check.withUnsafeBytes { crc32.update($0) }
        XCTAssertEqual(crc32.value, 0xCBF4_3926)
        var crc32c = CRC32C()
        check.withUnsafeBytes { crc32c.update($0) }
        XCTAssertEqual(crc32c.value, 0xE306_9283)
        // Incremental over odd splits equals one pass.
        let data = (0..<10_001).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        var whole = CRC32C(), parts = CRC32C()
        data.withUnsafeBytes { whole.update($0) }
        for start in stride(from: 0, to: data.count, by: 997) {
            Array(data[start..<min(data.count, start + 997)]).withUnsafeBytes { parts.update($0) }
        }
        XCTAssertEqual(whole.value, parts.value)
    }

    func testChecksumBase64AsS3ShowsIt() {
        var checksum = StreamingChecksum(.crc32)
        Array("hello world".utf8).withUnsafeBytes { checksum.update($0) }
        XCTAssertEqual(checksum.finalizeBase64(), "DUoRhQ==")
    }

    func testHMACRFC4231Case2() {
        let mac = HMACSHA256.authenticate(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        XCTAssertEqual(hex(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    func testHMACRFC4231Case6KeyLongerThanABlock() {
        let mac = HMACSHA256.authenticate(key: [UInt8](repeating: 0xAA, count: 131),
                                          message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))
        XCTAssertEqual(hex(mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    func testHMACOfEmptyKeyAndMessage() {
        XCTAssertEqual(hex(HMACSHA256.authenticate(key: [UInt8](), message: [UInt8]())),
                       "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    func testBase64() {
        for length in 0..<10 {
            let bytes = (0..<length).map { UInt8($0 * 41 & 0xFF) }
            XCTAssertEqual(Base64.decode(Base64.encode(bytes)), bytes)
        }
        XCTAssertEqual(Base64.encode(Array("hello".utf8)), "aGVsbG8=")
        XCTAssertNil(Base64.decode("aGVsbG8"))
        XCTAssertNil(Base64.decode("a=Vs"))
    }

    func testConstantTimeEquals() {
        XCTAssertTrue(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        XCTAssertFalse(ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        XCTAssertFalse(ConstantTime.equals([1, 2], [1, 2, 3]))
    }

    private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
