import Hashing
import Hummingbird
import ObjectModel
import ObjectService
import SigV4

/// Small request bodies (XML documents) read whole, up to a limit, with the same checks as uploads: aws-chunked
/// decoding, signed SHA-256, Content-MD5 and additional checksums.
enum BodyCollector {
    static func collect(_ call: S3Call, limit: Int) async throws -> [UInt8] {
        var decoder = call.verified.payload.isChunked
            ? AwsChunkedDecoder(mode: call.verified.payload, context: call.verified.chunkContext) : nil
        var bytes = [UInt8]()
        for try await buffer in call.body {
            try buffer.withUnsafeReadableBytes { raw in
                if decoder != nil {
                    try decoder!.feed(raw) { bytes += $0 }
                } else {
                    bytes += raw
                }
            }
            guard bytes.count <= limit else {
                throw S3Error("MaxMessageLengthExceeded", "Your request was too big (limit \(limit) bytes).",
                              status: .badRequest)
            }
        }
        var trailers: [(name: String, value: String)] = []
        if var finished = decoder {
            try finished.finish()
            trailers = finished.trailers
        }
        let expectations = try PutHandler.expectations(call)
        if let size = expectations.sizeBytes, size != Int64(bytes.count) {
            throw ObjectServiceError.incompleteBody(expected: size, received: Int64(bytes.count))
        }
        if let md5 = expectations.contentMD5, !ConstantTime.equals(md5, StreamingDigest.hash(.md5, bytes)) {
            throw ObjectServiceError.badDigest
        }
        if let sha256 = expectations.sha256, !ConstantTime.equals(sha256, StreamingDigest.hash(.sha256, bytes)) {
            throw ObjectServiceError.contentSHA256Mismatch
        }
        if let algorithm = expectations.checksumAlgorithm,
           let expected = expectations.checksumValue ?? trailers.first(where: { $0.name == algorithm.headerName })?.value {
            var checksum = StreamingChecksum(algorithm)
            bytes.withUnsafeBytes { checksum.update($0) }
            guard checksum.finalizeBase64() == expected else {
                throw ObjectServiceError.checksumMismatch(algorithm: algorithm.rawValue)
            }
        }
        return bytes
    }
}
