import ObjectModel
import SigV4
import XCTest

/// The aws-chunked example of the S3 documentation (66,560 bytes of `a` in 64 KiB + 1 KiB + final chunk).
final class AwsChunkedDecoderTests: XCTestCase {
    let signatures = ["ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
                      "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
                      "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"]

    var context: ChunkSigningContext {
        ChunkSigningContext(
            signingKey: Canonical.signingKey(secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", date: "20130524",
                                             region: "us-east-1", service: "s3"),
            amzDate: "20130524T000000Z", scope: "20130524/us-east-1/s3/aws4_request",
            seedSignature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
    }

    func body(_ signatures: [String]) -> [UInt8] {
        var out = [UInt8]()
        out += Array("10000;chunk-signature=\(signatures[0])\r\n".utf8) + [UInt8](repeating: 0x61, count: 65536)
        out += Array("\r\n400;chunk-signature=\(signatures[1])\r\n".utf8) + [UInt8](repeating: 0x61, count: 1024)
        out += Array("\r\n0;chunk-signature=\(signatures[2])\r\n\r\n".utf8)
        return out
    }

    func decode(_ bytes: [UInt8], mode: PayloadMode, context: ChunkSigningContext?, pieceSize: Int) throws
        -> ([UInt8], AwsChunkedDecoder)
    {
        var decoder = AwsChunkedDecoder(mode: mode, context: context)
        var output = [UInt8]()
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + pieceSize)
            try bytes[offset..<end].withUnsafeBytes { raw in
                try decoder.feed(raw) { output += $0 }
            }
            offset = end
        }
        try decoder.finish()
        return (output, decoder)
    }

    func testDocumentedExampleDecodesWhateverTheBufferBoundaries() throws {
        let encoded = body(signatures)
        XCTAssertEqual(encoded.count, 66824)
        for pieceSize in [1, 7, 100, 4096, 65536, 100_000] {
            let (output, _) = try decode(encoded, mode: .streamingSigned(trailer: false), context: context,
                                         pieceSize: pieceSize)
            XCTAssertEqual(output, [UInt8](repeating: 0x61, count: 66560), "piece size \(pieceSize)")
        }
    }

    func testEachWrongChunkSignatureIsRefused() {
        for index in signatures.indices {
            var wrong = signatures
            wrong[index] = String(repeating: "0", count: 64)
            XCTAssertThrowsError(try decode(body(wrong), mode: .streamingSigned(trailer: false), context: context,
                                            pieceSize: 8192)) {
                XCTAssertEqual($0 as? SigV4Error, .chunkSignatureMismatch, "chunk \(index)")
            }
        }
    }

    func testTamperedDataIsRefused() {
        var encoded = body(signatures)
        encoded[200] = 0x62
        XCTAssertThrowsError(try decode(encoded, mode: .streamingSigned(trailer: false), context: context, pieceSize: 512))
    }

    func testTruncatedBodyIsIncomplete() {
        let encoded = Array(body(signatures).prefix(66000))
        XCTAssertThrowsError(try decode(encoded, mode: .streamingSigned(trailer: false), context: context,
                                        pieceSize: 1000)) {
            XCTAssertEqual($0 as? SigV4Error, .incompleteBody)
        }
    }

    func testUnsignedTrailerBodyCollectsChecksum() throws {
        let text = "5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"
        let (output, decoder) = try decode(Array(text.utf8), mode: .streamingUnsignedTrailer, context: nil, pieceSize: 3)
        XCTAssertEqual(String(decoding: output, as: UTF8.self), "hello world")
        XCTAssertEqual(decoder.trailers.first?.name, "x-amz-checksum-crc32")
        XCTAssertEqual(decoder.trailers.first?.value, "DUoRhQ==")
    }

    func testBytesAfterFinalChunkAreRefused() {
        let text = "5\r\nhello\r\n0\r\n\r\nextra"
        XCTAssertThrowsError(try decode(Array(text.utf8), mode: .streamingUnsignedTrailer, context: nil, pieceSize: 64))
    }

    func testInvalidChunkSizeIsRefused() {
        XCTAssertThrowsError(try decode(Array("zz\r\nhello\r\n".utf8), mode: .streamingUnsignedTrailer, context: nil,
                                        pieceSize: 64))
    }
}
