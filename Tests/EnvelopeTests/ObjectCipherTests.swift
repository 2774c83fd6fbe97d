import XCTest
import Hashing
import ObjectModel
@testable import Envelope

final class ObjectCipherTests: XCTestCase {
    let binding = ObjectBinding(jurisdiction: Jurisdiction("MA")!, tenant: "acme", bucket: "photos", key: "cat.jpg",
                                version: VersionID(bytes: Array(0..<16))!)

    func makeCipher(_ algorithm: AEADAlgorithm = .aes256gcm) -> (ObjectCipher, SecretKey) {
        let bucketKey = SecretKey.random()
        let reference = BucketKeyReference(tenantKeyVersion: 1, id: SecureRandom.bytes(16), wrappedKey: [9, 9, 9])
        return (ObjectCipher.create(binding: binding, algorithm: algorithm, segmentSizeBytes: 1 << 20,
                                    bucketKey: bucketKey, reference: reference), bucketKey)
    }

    func sealSegment(_ cipher: SegmentCipher, index: UInt32, last: Bool, _ plaintext: [UInt8]) -> [UInt8] {
        var buffer = plaintext + [UInt8](repeating: 0, count: 16)
        buffer.withUnsafeMutableBytes { cipher.seal(index: index, last: last, buffer: $0) }
        return buffer
    }

    func openSegment(_ cipher: SegmentCipher, index: UInt32, last: Bool, _ sealed: [UInt8]) throws -> [UInt8] {
        var buffer = sealed
        try buffer.withUnsafeMutableBytes { try cipher.open(index: index, last: last, buffer: $0) }
        return Array(buffer.dropLast(16))
    }

    func testHeaderRoundTripsAndReopens() throws {
        for algorithm in AEADAlgorithm.allCases {
            let (cipher, bucketKey) = makeCipher(algorithm)
            let decoded = try EnvelopeHeader(decoding: cipher.header.encoded(), bucket: "photos", key: "cat.jpg")
            XCTAssertEqual(decoded, cipher.header)
            let reopened = try ObjectCipher.open(decoded, bucketKey: bucketKey)
            let version = binding.version
            let sealed = sealSegment(cipher.segments(extent: version, part: 0), index: 0, last: true, Array("hello".utf8))
            XCTAssertEqual(try openSegment(reopened.segments(extent: version, part: 0), index: 0, last: true, sealed),
                           Array("hello".utf8))
        }
    }

    func testBucketKeyIssuedToAnotherJurisdictionIsVersionTwo() throws {
        let bucketKey = SecretKey.random()
        let fr = Jurisdiction("FR")!
        let reference = BucketKeyReference(tenantKeyVersion: 3, id: SecureRandom.bytes(16), wrappedKey: [9, 9],
                                           issuedTo: fr)
        let cipher = ObjectCipher.create(binding: binding, algorithm: .aes256gcm, segmentSizeBytes: 1 << 20,
                                         bucketKey: bucketKey, reference: reference)
        let bytes = cipher.header.encoded()
        XCTAssertEqual(bytes[0], 2)
        let decoded = try EnvelopeHeader(decoding: bytes, bucket: "photos", key: "cat.jpg")
        XCTAssertEqual(decoded.bucketKey.issuedTo, fr)
        XCTAssertNoThrow(try ObjectCipher.open(decoded, bucketKey: bucketKey))
        XCTAssertEqual(makeCipher().0.header.encoded()[0], 1, "a key of the bucket's own jurisdiction keeps version 1")
        // The context the key store authenticates names the jurisdiction; a plain context differs from it.
        let context = decoded.bucketKey.context(bucket: "photos")
        XCTAssertEqual(BucketKeyContext(decoding: context.encoded()), context)
        XCTAssertNotEqual(context.encoded(), BucketKeyContext(bucket: "photos", id: reference.id).encoded())
        XCTAssertNil(BucketKeyContext(decoding: context.encoded() + [0]))
        // A key "issued" to the bucket's own jurisdiction is malformed.
        var own = decoded
        own.bucketKey.issuedTo = binding.jurisdiction
        XCTAssertThrowsError(try EnvelopeHeader(decoding: own.encoded(), bucket: "photos", key: "cat.jpg"))
    }

    func testMovedDataKeyOrEditedHeaderDoesNotOpen() throws {
        let (cipher, bucketKey) = makeCipher()
        // The same header presented as another key's: the data key's binding fails.
        let moved = try EnvelopeHeader(decoding: cipher.header.encoded(), bucket: "photos", key: "dog.jpg")
        XCTAssertThrowsError(try ObjectCipher.open(moved, bucketKey: bucketKey))
        var header = cipher.header
        header.segmentSizeBytes = 4096
        XCTAssertThrowsError(try ObjectCipher.open(header, bucketKey: bucketKey)) { error in
            XCTAssertEqual(error as? EnvelopeError,
                           .authenticationFailed("key commitment of cat.jpg does not match its data key"))
        }
        XCTAssertThrowsError(try ObjectCipher.open(cipher.header, bucketKey: SecretKey.random()))
        var truncated = cipher.header.encoded()
        truncated.removeLast()
        XCTAssertThrowsError(try EnvelopeHeader(decoding: truncated, bucket: "photos", key: "cat.jpg"))
    }

    func testSegmentsAreBoundToPositionPartExtentAndEnd() throws {
        let (cipher, _) = makeCipher()
        let extent = VersionID.random()
        let part = cipher.segments(extent: extent, part: 3)
        let sealed = sealSegment(part, index: 5, last: false, Array(repeating: 7, count: 100))
        XCTAssertEqual(try openSegment(part, index: 5, last: false, sealed), Array(repeating: 7, count: 100))
        XCTAssertThrowsError(try openSegment(part, index: 4, last: false, sealed), "moved segment")
        XCTAssertThrowsError(try openSegment(part, index: 5, last: true, sealed), "truncation: not the last segment")
        XCTAssertThrowsError(try openSegment(cipher.segments(extent: extent, part: 2), index: 5, last: false, sealed))
        XCTAssertThrowsError(try openSegment(cipher.segments(extent: .random(), part: 3), index: 5, last: false, sealed))
        XCTAssertThrowsError(try openSegment(makeCipher().0.segments(extent: extent, part: 3), index: 5, last: false,
                                             sealed), "segment from another object")
    }

    func testMetadataIsSealedAndBoundToItsAAD() throws {
        let (cipher, _) = makeCipher(.xchacha20poly1305)
        let sealed = cipher.sealMetadata(Array("content-type: secret".utf8), aad: [1])
        XCTAssertNil(Hex.encode(sealed).range(of: Hex.encode(Array("secret".utf8))))
        XCTAssertEqual(try cipher.openMetadata(sealed, aad: [1]), Array("content-type: secret".utf8))
        XCTAssertThrowsError(try cipher.openMetadata(sealed, aad: [2]))
        XCTAssertThrowsError(try makeCipher(.xchacha20poly1305).0.openMetadata(sealed, aad: [1]))
    }

    /// The test vector published in Docs/formats.md (checked independently with Python's hmac and cryptography).
    func testFormatVector() {
        var header = EnvelopeHeader(algorithm: .aes256gcm, segmentSizeBytes: 1 << 20, salt: Array(32..<64),
                                    binding: binding, bucketKey: BucketKeyReference(tenantKeyVersion: 1,
                                    id: Array(repeating: 0xAA, count: 16), wrappedKey: []),
                                    wrappedDataKey: [], commitment: [])
        let dataKey = SecretKey(copying: Array(0..<32))
        header.commitment = ObjectCipher.commitment(dataKey: dataKey, header: header)
        let cipher = ObjectCipher(header: header, dataKey: dataKey)
        let sealed = sealSegment(cipher.segments(extent: binding.version, part: 0), index: 0, last: true,
                                 Array("qantara".utf8))
        XCTAssertEqual(Hex.encode(header.commitment), "14dc78a248da89ec7a62e51a88541fb9646ba24a7d926ef7117be6af8cfd0961")
        XCTAssertEqual(Hex.encode(sealed), "a23676943c659d7c3ca34120aa637fd1a72fe285755c2f")
        XCTAssertEqual(Hex.encode(HKDF.derive(key: dataKey, salt: header.salt,
                                              info: Array("qantara/v1/segments".utf8) + binding.version.bytes).exportBytes()),
                       "b8c1c8066f15c075df7347f6cebcf62c5a311d2f731b3b89516e8adcaba0d9d2")
    }
}
